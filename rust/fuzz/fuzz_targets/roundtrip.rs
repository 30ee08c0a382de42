//! decode(encode(s)) == NFC(s) with `▁` read as a space, for any s (byte fallback on), with
//! special tokens recognised or not; and decode never fails on ids that encode produced.
//!
//! The tokenizer is trained once per process on a small mixed-script corpus; the input is
//! the text to encode (invalid UTF-8 is replaced, as Python would never pass it).
#![no_main]

use std::sync::OnceLock;

use _fastbpe::corpus::WordCounts;
use _fastbpe::normalize::nfc;
use _fastbpe::train::{train, TrainConfig};
use _fastbpe::Tokenizer;
use libfuzzer_sys::fuzz_target;

const CORPUS: &str = "The quick brown fox jumps over the lazy dog.  Mert Mert Mert!\n\
    Hello, world... 12345 67890 3.14159 [MASK] [CLS] \t tabs\tand\r\nnewlines\n\
    Çok güzel bir gün; İstanbul'da ılık hava. Ünlü ŞİŞLİ öğrenci.\n\
    Привет, мир! Как дела? Ёлка ёжик.\n\
    日本語のテキスト、東京都。中文文本测试。한국어 텍스트입니다.\n\
    e\u{301}te\u{301} cafe\u{301} na\u{ef}ve \u{1F600}\u{1F44D}\u{1F3FD} \u{1F469}\u{200D}\u{1F4BB}\n\
    aaaa aaa aa a ▁▁ ▁a a▁ \u{a0}\u{3000}\u{2028}\u{0}\u{7f}\u{ad}\n";

fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let mut counts = WordCounts::new();
        let lines: Vec<&str> = CORPUS.lines().collect();
        for _ in 0..3 {
            counts.add_texts(&lines);
        }
        let cfg = TrainConfig {
            vocab_size: 600,
            min_frequency: 1,
            byte_fallback: true,
            ..TrainConfig::default()
        };
        Tokenizer::new(train(&counts, &cfg, None, None).expect("training the fixture works"))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tok = tokenizer();
    let expected = nfc(&text).replace('\u{2581}', " ");
    for special in [false, true] {
        let ids = tok.encode(&text, special);
        let wide: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let bytes = tok.decode(&wide).expect("ids from encode decode");
        let got = String::from_utf8(bytes).expect("decode of a whole text is UTF-8");
        // The default specials begin with '[' and end with ']', which never compose or
        // reorder under NFC, so cutting at them first gives the same NFC as the whole text.
        assert_eq!(got, expected, "special_tokens={special}");
        // batch == sequential
        let batch = tok.encode_batch(&[text.as_ref(), text.as_ref()], special);
        assert_eq!(batch[0], ids);
        assert_eq!(batch[1], ids);
    }
});
