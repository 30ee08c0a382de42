//! Loading a tokenizer from arbitrary bytes returns Ok or Err, never panics; whatever loads
//! is usable (encode, decode, save and load again give the same files).
//!
//! Input: `fastbpe.json`, `vocab.json` and `merges.txt`, separated by the line `#--8<--`
//! (missing parts are written empty). Seeds in `seeds/load` are real saved tokenizers.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use _fastbpe::io;
use _fastbpe::Tokenizer;
use libfuzzer_sys::fuzz_target;

const SEP: &[u8] = b"\n#--8<--\n";

fn dirs() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        // /dev/shm when there is one: a file system write per input is the cost of this target
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("fastbpe-fuzz-load-{}", std::process::id()));
        std::fs::create_dir_all(d.join("in")).expect("temp dir");
        (d.join("in"), d.join("out"))
    })
}

fn split(data: &[u8]) -> [&[u8]; 3] {
    let mut parts: [&[u8]; 3] = [b"", b"", b""];
    let mut rest = data;
    for (i, part) in parts.iter_mut().enumerate() {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(at) if i < 2 => {
                *part = &rest[..at];
                rest = &rest[at + SEP.len()..];
            }
            _ => {
                *part = rest;
                break;
            }
        }
    }
    parts
}

fuzz_target!(|data: &[u8]| {
    let (input, output) = dirs();
    let [config, vocab, merges] = split(data);
    std::fs::write(input.join(io::CONFIG_FILE), config).unwrap();
    std::fs::write(input.join(io::VOCAB_FILE), vocab).unwrap();
    std::fs::write(input.join(io::MERGES_FILE), merges).unwrap();
    let Ok(model) = io::load(input) else { return };
    let tok = Tokenizer::new(model);
    let n = tok.model().len() as i64;
    let ids = tok.encode("Hello [MASK] world, \u{e9}\u{301}\u{1F600}\n\t12", true);
    assert!(
        ids.iter().all(|&i| (i as i64) < n),
        "encode gave an id outside the vocabulary"
    );
    let all: Vec<i64> = (0..n.min(5000)).collect();
    tok.decode(&all).expect("every id below vocab_size decodes");
    assert!(tok.decode(&[n]).is_err());
    io::save(tok.model(), output).expect("save");
    let back = io::load(output).expect("what was saved loads");
    assert_eq!(io::vocab_json(&back), io::vocab_json(tok.model()));
    assert_eq!(io::merges_txt(&back), io::merges_txt(tok.model()));
    assert_eq!(io::config_json(&back), io::config_json(tok.model()));
});
