//! Rough timings of the core without Python:
//! `cargo run --release --manifest-path rust/Cargo.toml --example bench -- FILE [VOCAB_SIZE]`
//!
//! Prints counting, merging and encoding throughput (1 thread and all rayon threads).

use std::path::PathBuf;
use std::time::Instant;

use _fastbpe::{train, Tokenizer, TrainConfig, WordCounts};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: bench FILE [VOCAB_SIZE]"));
    let vocab_size: usize = args
        .next()
        .map_or(32_000, |s| s.parse().expect("VOCAB_SIZE"));
    let mb = std::fs::metadata(&path).expect("FILE").len() as f64 / 1e6;
    let threads = rayon::current_num_threads();

    let t = Instant::now();
    let mut counts = WordCounts::new();
    counts
        .add_files(std::slice::from_ref(&path), None)
        .expect("count");
    let count_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cfg = TrainConfig {
        vocab_size,
        ..TrainConfig::default()
    };
    let model = train(&counts, &cfg, None, None).expect("train");
    let merge_s = t.elapsed().as_secs_f64();
    println!(
        "train {mb:.1} MB, {threads} threads: count {count_s:.2} s ({:.0} MB/s, {} unique words), \
         alphabet+merges {merge_s:.2} s, vocab {}",
        mb / count_s,
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
        let t = Instant::now();
        let n: usize = if pool_threads == 1 {
            one.install(|| tok.encode_batch(&lines, true).iter().map(Vec::len).sum())
        } else {
            tok.encode_batch(&lines, true).iter().map(Vec::len).sum()
        };
        let s = t.elapsed().as_secs_f64();
        println!(
            "encode_batch {name}: {:.1} MB/s ({n} tokens, cold cache)",
            mb / s
        );
    }
    let t = Instant::now();
    let ids = tok.encode(&text, true);
    let s = t.elapsed().as_secs_f64();
    println!("encode (one call, warm cache): {:.1} MB/s", mb / s);
    let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
    let t = Instant::now();
    let bytes = tok.decode(&ids).expect("decode");
    let s = t.elapsed().as_secs_f64();
    println!("decode: {:.1} MB/s", bytes.len() as f64 / 1e6 / s);
}
