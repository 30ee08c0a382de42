//! Encoding throughput of a saved tokenizer on a file cut into documents, without Python:
//! `cargo run --release --manifest-path rust/Cargo.toml --example encode_docs -- DIR FILE [DOC_LINES] [REPEAT] [cold]`
//!
//! Mirrors `benches/bench_encode.py`'s fastbpe worker (a warm-up on 50 documents, then one
//! `encode_batch_flat` over all of them), so that perf can look at the core alone. Run with
//! RAYON_NUM_THREADS=1 for one thread. Later repeats reuse the (then warm) word cache, or with
//! `cold` start from a new tokenizer each time (for profiling the cache misses).

use std::path::PathBuf;
use std::time::Instant;

use _fastbpe::{io, Tokenizer};

/// Minor page faults of this process so far (/proc/self/stat field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    after
        .split_whitespace()
        .nth(7)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds this process has used (all threads): steadier than wall time on a busy machine.
#[cfg(not(target_os = "linux"))]
fn cpu_s() -> f64 {
    f64::NAN
}

/// CPU seconds this process has used (all threads): steadier than wall time on a busy machine.
#[cfg(target_os = "linux")]
fn cpu_s() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: encode_docs DIR FILE [DOC_LINES] [REPEAT]";
    let dir = PathBuf::from(args.next().expect(usage));
    let file = PathBuf::from(args.next().expect(usage));
    let doc_lines: usize = args.next().map_or(20, |s| s.parse().expect(usage));
    let repeat: usize = args.next().map_or(1, |s| s.parse().expect(usage));
    let cold = args.next().is_some_and(|s| s == "cold");
    let text = std::fs::read_to_string(&file).expect("a UTF-8 file");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let docs: Vec<String> = lines.chunks(doc_lines).map(|c| c.concat()).collect();
    let model = io::load(&dir).expect("a saved tokenizer");
    let mut tok = Tokenizer::new(model.clone());
    let mb = text.len() as f64 / 1e6;
    for r in 0..repeat {
        if cold && r > 0 {
            tok = Tokenizer::new(model.clone());
        }
        tok.encode_batch_flat(&docs[..docs.len().min(50)], true);
        let (t, faults, cpu) = (Instant::now(), minor_faults(), cpu_s());
        let (ids, _) = tok.encode_batch_flat(&docs, true);
        let s = t.elapsed().as_secs_f64();
        let cpu = cpu_s() - cpu;
        println!(
            "run {r}: {mb:.1} MB in {s:.3} s = {:.1} MB/s, {:.1} MB/CPU-s, {} ids, {} page faults, {} threads",
            mb / s,
            mb / cpu,
            ids.len(),
            minor_faults() - faults,
            rayon::current_num_threads()
        );
    }
}
