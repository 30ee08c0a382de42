//! With the optional normalisations (lowercase default/tr, strip_accents, nfkc, in all 12
//! combinations), decode(encode(s)) is the normalised s with `▁` read as a space (byte
//! fallback on, special tokens off), and normalising is idempotent, so that re-encoding
//! decoded text gives the same ids. The first byte picks the normaliser; the rest is the text.
#![no_main]

use std::sync::OnceLock;

use _fastbpe::corpus::WordCounts;
use _fastbpe::normalize::{Lowercase, Normalizer};
use _fastbpe::train::{train, TrainConfig};
use _fastbpe::Tokenizer;
use libfuzzer_sys::fuzz_target;

const CORPUS: &[&str] = &[
    "The Quick Brown Fox, İSTANBUL'DA IŞIK; Çok Güzel. ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ Straße ẞ",
    "café CAFÉ e\u{301} ﬁne Ｆｕｌｌ ① ㎏ Å Å \u{1F600} [MASK] 123",
];

fn normalizer(k: u8) -> Normalizer {
    Normalizer {
        lowercase: [Lowercase::Off, Lowercase::Unicode, Lowercase::Turkish][(k % 3) as usize],
        strip_accents: (k / 3) % 2 == 1,
        nfkc: (k / 6) % 2 == 1,
    }
}

fn tokenizer(k: u8) -> &'static Tokenizer {
    static TOKS: [OnceLock<Tokenizer>; 12] = [const { OnceLock::new() }; 12];
    TOKS[k as usize].get_or_init(|| {
        let norm = normalizer(k);
        let mut counts = WordCounts::with_normalizer(norm);
        counts.add_texts(CORPUS);
        let cfg = TrainConfig {
            vocab_size: 400,
            min_frequency: 1,
            byte_fallback: true,
            normalizer: norm,
            ..TrainConfig::default()
        };
        Tokenizer::new(train(&counts, &cfg, None, None).expect("training the fixture works"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let k = knob % 12;
    let (norm, tok) = (normalizer(k), tokenizer(k));
    assert_eq!(tok.model().normalizer(), norm);
    let text = String::from_utf8_lossy(rest);
    let once = norm.apply(&text).into_owned();
    assert_eq!(
        norm.apply(&once),
        once,
        "normalising is not idempotent for {norm:?}"
    );
    let ids = tok.encode(&text, false);
    let wide: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    let got = String::from_utf8(tok.decode(&wide).expect("ids from encode decode")).unwrap();
    assert_eq!(got, once.replace('\u{2581}', " "), "{norm:?}");
    assert_eq!(
        tok.encode(&got, false),
        ids,
        "re-encoding decoded text, {norm:?}"
    );
    let n = tok.model().len() as u32;
    assert!(tok.encode(&text, true).iter().all(|&i| i < n));
});
