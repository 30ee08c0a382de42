//! Training on arbitrary text never panics, and the trained tokenizer round-trips its own
//! corpus: decode(encode(s)) == NFC(s) with `▁` read as a space. The first input byte picks
//! the settings (byte fallback, min_frequency, vocab_size, limit_alphabet); the rest, cut at
//! newlines, is the corpus. The saved files then load back to the same tokenizer.
#![no_main]

use _fastbpe::corpus::WordCounts;
use _fastbpe::error::Error;
use _fastbpe::io;
use _fastbpe::normalize::nfc;
use _fastbpe::train::{train, TrainConfig};
use _fastbpe::Tokenizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let lines: Vec<&str> = text.split('\n').collect();
    let byte_fallback = knob & 1 == 1;
    let cfg = TrainConfig {
        vocab_size: [1, 5, 40, 262, 300, 400, 1000, 100_000][(knob >> 1 & 7) as usize],
        min_frequency: [1, 1, 2, 3][(knob >> 4 & 3) as usize],
        byte_fallback,
        limit_alphabet: if knob >> 6 == 3 {
            Some((knob & 7) as usize)
        } else {
            None
        },
        ..TrainConfig::default()
    };
    let mut counts = WordCounts::new();
    counts.add_texts(&lines);
    let model = match train(&counts, &cfg, None, None) {
        Ok(m) => m,
        Err(Error::EmptyCorpus | Error::VocabSizeTooSmall { .. }) => return,
        Err(e) => panic!("unexpected training error: {e}"),
    };
    assert!(model.len() <= cfg.vocab_size.max(model.len()));
    let tok = Tokenizer::new(model);
    // every corpus character is in the alphabet unless limit_alphabet dropped some
    if byte_fallback || cfg.limit_alphabet.is_none() {
        for line in &lines {
            let ids: Vec<i64> = tok.encode(line, false).iter().map(|&i| i as i64).collect();
            let got = tok.decode(&ids).expect("ids from encode decode");
            let want = nfc(line).replace('\u{2581}', " ");
            assert_eq!(String::from_utf8(got).expect("whole text is UTF-8"), want);
        }
    }
    // save -> load gives the same files
    let dir = std::env::temp_dir().join(format!("fastbpe-fuzz-train-{}", std::process::id()));
    io::save(tok.model(), &dir).expect("save to a temp dir");
    let back = io::load(&dir).expect("a saved tokenizer loads");
    assert_eq!(io::vocab_json(&back), io::vocab_json(tok.model()));
    assert_eq!(io::merges_txt(&back), io::merges_txt(tok.model()));
    assert_eq!(io::config_json(&back), io::config_json(tok.model()));
});
