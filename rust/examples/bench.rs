//! Rough timings of the core without Python:
//! `cargo run --release --manifest-path rust/Cargo.toml --example bench -- FILE [VOCAB_SIZE]`
//!
//! Prints counting, merging and encoding throughput (1 thread and all rayon threads), by wall
//! clock and by CPU time of the process (a fairer figure on a shared, loaded machine; run with
//! RAYON_NUM_THREADS=1 for per-thread figures).

use std::path::PathBuf;
use std::time::Instant;

use _fastbpe::{train, Tokenizer, TrainConfig, WordCounts};

/// CPU seconds (user + system) used by this process so far, from /proc/self/stat.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // fields 14 and 15 of the file (utime, stime) are 12 and 13 after the command name
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Runs `f`, returning its result, wall seconds and CPU seconds.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (t, c) = (Instant::now(), cpu_s());
    let r = f();
    (r, t.elapsed().as_secs_f64(), (cpu_s() - c).max(0.01))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: bench FILE [VOCAB_SIZE]"));
    let vocab_size: usize = args
        .next()
        .map_or(32_000, |s| s.parse().expect("VOCAB_SIZE"));
    let mb = std::fs::metadata(&path).expect("FILE").len() as f64 / 1e6;
    let threads = rayon::current_num_threads();

    let (counts, count_s, count_cpu) = timed(|| {
        let mut counts = WordCounts::new();
        counts
            .add_files(std::slice::from_ref(&path), None)
            .expect("count");
        counts
    });
    let cfg = TrainConfig {
        vocab_size,
        ..TrainConfig::default()
    };
    let (model, merge_s, merge_cpu) = timed(|| train(&counts, &cfg, None, None).expect("train"));
    println!(
        "train {mb:.1} MB, {threads} threads: count {count_s:.2} s wall / {count_cpu:.2} s CPU \
         ({} unique words), alphabet+merges {merge_s:.2} s wall / {merge_cpu:.2} s CPU, vocab {}",
        counts.len(),
        model.len()
    );

    let text = std::fs::read_to_string(&path).expect("UTF-8 file");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let tok = Tokenizer::new(model);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for (name, pool_threads) in [("1 thread", 1), ("all threads", threads)] {
        let tok = Tokenizer::new(tok.model().clone()); // cold cache
        let (n, s, c) = timed(|| -> usize {
            if pool_threads == 1 {
                one.install(|| tok.encode_batch(&lines, true).iter().map(Vec::len).sum())
            } else {
                tok.encode_batch(&lines, true).iter().map(Vec::len).sum()
            }
        });
        println!(
            "encode_batch {name}: {:.1} MB/s wall, {:.1} MB per CPU-second ({n} tokens, cold cache)",
            mb / s,
            mb / c
        );
    }
    let (ids, s, c) = timed(|| tok.encode(&text, true));
    println!(
        "encode (one call, warm cache): {:.1} MB/s wall, {:.1} MB per CPU-second",
        mb / s,
        mb / c
    );
    let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
    let (bytes, s, c) = timed(|| tok.decode(&ids).expect("decode"));
    let out_mb = bytes.len() as f64 / 1e6;
    println!(
        "decode: {:.1} MB/s wall, {:.1} MB per CPU-second",
        out_mb / s,
        out_mb / c
    );
}
