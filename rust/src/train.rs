//! BPE training (docs/tokenizer.md section 4): alphabet, then the merge loop.
//!
//! Why it is built this way (performance notes):
//! - The corpus is reduced to a word-frequency table first (`corpus.rs`), so the merge loop
//!   works on unique words (a few hundred thousand for 100 MB of English), never on the text.
//! - The merge loop itself lives in `merge_loop.rs` (flat word arena, per-merge delta
//!   aggregation, prefetching); its initial pair counts and index are built in parallel.
//! - The loop keeps a max-heap of (count, pair) jobs with *lazy* refresh: a merge only changes
//!   the counts of pairs next to it, so instead of re-sorting, a popped job whose count is out
//!   of date is pushed back with its current count. A pair whose count grows gets a fresh job
//!   when it grows, so the heap top, once its count is current, is the true maximum.
//! - Only the words that contain the merged pair are touched (the pair -> word-index lists;
//!   indices may be stale or repeated, which costs a no-op merge, never a wrong count).
//!   There is never a full recount per merge.
//! - The loop itself is sequential: the tie-break and the id order make it inherently serial,
//!   and per-merge parallelism costs more in scheduling than it saves once the early, big
//!   merges are done. Counting (the part that sees every byte) is parallel.
//! - Ties: equal counts pick the smallest (left id, right id). Counts are exact sums, so the
//!   result does not depend on the thread count or on hash-map order.

use rustc_hash::FxHashMap;

use crate::corpus::WordCounts;
use crate::error::{Error, Result};
use crate::merge::merge_by_rank;
use crate::merge_loop::{learn_merges, Arena};
use crate::normalize::{Normalizer, SPACE_MARKER};
use crate::vocab::{Model, DEFAULT_SPECIALS};

/// Which part of training a progress report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Counting words: bytes (files) done of total.
    Count,
    /// Learning merges: merges done of the most that fit in `vocab_size`.
    Merge,
}

/// `(stage, done, total) -> keep going?`; returning false cancels training.
pub type Progress<'a> = Option<&'a dyn Fn(Stage, u64, u64) -> bool>;

pub(crate) fn report(progress: Progress, stage: Stage, done: u64, total: u64) -> Result<()> {
    match progress {
        Some(f) if !f(stage, done, total) => Err(Error::Cancelled),
        _ => Ok(()),
    }
}

/// Training settings (the Python wrapper checks types; the core checks values).
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub vocab_size: usize,
    pub min_frequency: u64,
    pub special_tokens: Vec<String>,
    pub byte_fallback: bool,
    pub limit_alphabet: Option<usize>,
    /// The normalisation the corpus was counted with (`WordCounts::with_normalizer`); when
    /// extending, the initial tokenizer's (the plain default also means "inherit").
    pub normalizer: Normalizer,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            vocab_size: 8000,
            min_frequency: 2,
            special_tokens: DEFAULT_SPECIALS.iter().map(|s| s.to_string()).collect(),
            byte_fallback: false,
            limit_alphabet: None,
            normalizer: Normalizer::default(),
        }
    }
}

/// Trains a tokenizer on a word table; `initial` is extended instead of starting afresh.
pub fn train(
    counts: &WordCounts,
    cfg: &TrainConfig,
    initial: Option<&Model>,
    progress: Progress,
) -> Result<Model> {
    if cfg.min_frequency < 1 {
        return Err(Error::InvalidArgument(format!(
            "min_frequency must be >= 1, got {}",
            cfg.min_frequency
        )));
    }
    if counts.is_empty() {
        return Err(Error::EmptyCorpus);
    }
    let mut model = match initial {
        Some(m) if !cfg.normalizer.is_plain() && cfg.normalizer != m.normalizer() => {
            return Err(Error::InvalidArgument(format!(
                "the normalisation {:?} differs from the initial tokenizer's {:?}; leave it \
                 unset when extending (the initial tokenizer's is kept)",
                cfg.normalizer,
                m.normalizer()
            )));
        }
        Some(m) => m.clone(),
        None => {
            let mut m = Model::new(&cfg.special_tokens, cfg.byte_fallback)?;
            m.set_normalizer(cfg.normalizer);
            m
        }
    };
    add_alphabet(&mut model, counts, cfg.limit_alphabet);
    if cfg.vocab_size < model.len() {
        return Err(Error::VocabSizeTooSmall {
            requested: cfg.vocab_size,
            minimum: model.len(),
        });
    }
    let arena = initial_words(&model, counts);
    arena.check_room()?;
    model.reserve((cfg.vocab_size - model.len()).min(arena.max_merges()));
    learn_merges(&mut model, arena, cfg, progress)?;
    Ok(model)
}

/// Appends the corpus characters the vocabulary lacks (most frequent `limit` of them), in
/// code-point order.
///
/// One sequential pass, ASCII counted in an array (performance notes: a parallel fold over
/// per-task hash maps cost more than the pass itself below a few hundred thousand words).
fn add_alphabet(model: &mut Model, counts: &WordCounts, limit: Option<usize>) {
    let mut ascii = [0u64; 128];
    let mut other: FxHashMap<char, u64> = FxHashMap::default();
    counts.for_each_raw(|w, c| {
        for ch in w.chars() {
            if ch.is_ascii() {
                ascii[ch as usize] += c;
            } else {
                *other.entry(ch).or_insert(0) += c;
            }
        }
    });
    // a space in a counted word is the marker
    if ascii[b' ' as usize] > 0 {
        *other.entry(SPACE_MARKER).or_insert(0) += std::mem::take(&mut ascii[b' ' as usize]);
    }
    let ascii = (0u8..128).map(|b| (b as char, ascii[b as usize]));
    let mut chars: Vec<(char, u64)> = ascii
        .filter(|&(_, c)| c > 0)
        .chain(other)
        .filter(|&(ch, _)| model.char_id(ch).is_none())
        .collect();
    if let Some(n) = limit {
        chars.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        chars.truncate(n);
    }
    chars.sort_unstable_by_key(|&(ch, _)| ch);
    for (ch, _) in chars {
        model.add_token(ch.to_string());
    }
}

/// Each word as symbols, written straight into the merge loop's arena: characters outside
/// the vocabulary split it (its pieces become separate entries with the same count), and the
/// model's merges are applied (extension).
fn initial_words(model: &Model, counts: &WordCounts) -> Arena {
    let mut arena = Arena::with_capacity(counts.raw_len());
    let merges = !model.merges().is_empty();
    let mut cur: Vec<u32> = Vec::new();
    let mut emit = |cur: &mut Vec<u32>, c: u64| {
        if merges {
            merge_by_rank(cur, model);
        }
        arena.push(cur, c);
        cur.clear();
    };
    // `char_id(' ')` is the marker's id
    counts.for_each_raw(|w, c| {
        for ch in w.chars() {
            match model.char_id(ch) {
                Some(id) => cur.push(id),
                None if !cur.is_empty() => emit(&mut cur, c),
                None => {}
            }
        }
        if !cur.is_empty() {
            emit(&mut cur, c);
        }
    });
    arena
}

/// A model trained on `texts` with `min_frequency` 1 (for tests across the crate).
#[cfg(test)]
pub(crate) fn train_texts(texts: &[&str], vocab_size: usize) -> Model {
    let mut wc = WordCounts::new();
    wc.add_texts(texts);
    let cfg = TrainConfig {
        vocab_size,
        min_frequency: 1,
        ..Default::default()
    };
    train(&wc, &cfg, None, None).expect("trains")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train_texts(texts: &[&str], cfg: &TrainConfig) -> Result<Model> {
        let mut wc = WordCounts::new();
        wc.add_texts(texts);
        train(&wc, cfg, None, None)
    }

    fn cfg(vocab_size: usize, min_frequency: u64) -> TrainConfig {
        TrainConfig {
            vocab_size,
            min_frequency,
            special_tokens: vec!["[UNK]".into()],
            ..Default::default()
        }
    }

    fn merges(m: &Model) -> Vec<(String, String)> {
        m.merges()
            .iter()
            .map(|&((a, b), _)| (m.token(a).unwrap().into(), m.token(b).unwrap().into()))
            .collect()
    }

    fn s(a: &str, b: &str) -> (String, String) {
        (a.into(), b.into())
    }

    #[test]
    fn wikipedia_aaabdaaabac() {
        // ids: [UNK]=0 a=1 b=2 c=3 d=4. Counts: aa 4, ab 2, bd 1, da 1, ba 1, ac 1.
        // 1) (a,a) -> aa=5: aa a b d aa a b a c -> (aa,a) 2, (a,b) 2: tie, (1,2) < (5,1)
        // 2) (a,b) -> ab=6: aa ab d aa ab a c   -> (aa,ab) 2
        // 3) (aa,ab) -> aaab=7
        let m = train_texts(&["aaabdaaabac"], &cfg(8, 1)).unwrap();
        assert_eq!(merges(&m), [s("a", "a"), s("a", "b"), s("aa", "ab")]);
        assert_eq!(m.token(7), Some("aaab"));
    }

    #[test]
    fn counts_beyond_32_bits() {
        // HF tokenizers kept pair counts in i32: past 2^31 they wrapped and the wrong pair
        // won. Here (x,y) = 2^32 + 2 from two words, (p,q) = 2^32 + 1, (xy,z) = 2^31 + 1;
        // wrapped to 32 bits the small pair (a,b) = 1000 would beat them all.
        let big = (1u64 << 31) + 1;
        let mut wc = WordCounts::new();
        wc.add_word("xy", big);
        wc.add_word("xyz", big);
        wc.add_word("pq", (1 << 32) + 1);
        wc.add_word("ab", 1000);
        let mut c = cfg(30, 1);
        let m = train(&wc, &c, None, None).unwrap();
        assert_eq!(
            merges(&m),
            [s("x", "y"), s("p", "q"), s("xy", "z"), s("a", "b")]
        );
        // min_frequency past 32 bits keeps only the pairs that reach it
        c.min_frequency = (1 << 32) + 2;
        let m = train(&wc, &c, None, None).unwrap();
        assert_eq!(merges(&m), [s("x", "y")]);
    }

    #[test]
    fn overlapping_aaaa_and_min_frequency() {
        let m = train_texts(&["aaaa"], &cfg(10, 1)).unwrap();
        // (a,a)=3 -> aa aa -> (aa,aa)=1 -> aaaa
        assert_eq!(merges(&m), [s("a", "a"), s("aa", "aa")]);
        let m = train_texts(&["aaaa"], &cfg(10, 2)).unwrap();
        assert_eq!(merges(&m), [s("a", "a")]);
    }

    #[test]
    fn chained_mert() {
        let m = train_texts(&["Mert Mert Mert"], &cfg(100, 2)).unwrap();
        let toks: Vec<&str> = m.tokens().iter().map(String::as_str).collect();
        assert!(toks.contains(&"▁Mert"), "{toks:?}");
    }

    #[test]
    fn errors() {
        let empty = WordCounts::new();
        assert!(matches!(
            train(&empty, &cfg(10, 1), None, None),
            Err(Error::EmptyCorpus)
        ));
        let e = train_texts(&["abc"], &cfg(3, 1)).unwrap_err();
        assert!(matches!(
            e,
            Error::VocabSizeTooSmall {
                requested: 3,
                minimum: 4
            }
        ));
        assert!(train_texts(&["abc"], &cfg(10, 0)).is_err());
    }

    #[test]
    fn one_symbol_and_limit_alphabet() {
        let m = train_texts(&["a"], &cfg(10, 1)).unwrap();
        assert_eq!(m.len(), 2);
        let mut c = cfg(10, 1);
        c.limit_alphabet = Some(2);
        // a: 3, b: 3, z: 1 -> keep a, b; "abzab" splits at z
        let m = train_texts(&["abzab", "a b"], &c).unwrap();
        assert_eq!(m.char_id('z'), None);
        assert_eq!(merges(&m)[0], s("a", "b"));
    }

    #[test]
    fn extension_keeps_ids_and_merges() {
        let base = train_texts(&["low lower lowest"], &cfg(14, 1)).unwrap();
        let mut wc = WordCounts::new();
        wc.add_texts(&["newer newest low"]);
        let ext = train(&wc, &cfg(40, 1), Some(&base), None).unwrap();
        assert_eq!(&ext.tokens()[..base.len()], base.tokens());
        assert_eq!(&ext.merges()[..base.merges().len()], base.merges());
        assert!(ext.len() > base.len());
    }

    #[test]
    fn same_on_one_and_many_threads() {
        let text: String = (0..4000)
            .map(|i| format!("w{} x{} ", i % 97, i % 13))
            .collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| train_texts(&[text.as_str(), "tail"], &cfg(200, 1)).unwrap())
        };
        let (one, four) = (run(1), run(4));
        assert_eq!(one.tokens(), four.tokens());
        assert_eq!(one.merges(), four.merges());
    }
}
