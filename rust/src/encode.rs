//! Encoding and decoding (docs/tokenizer.md sections 5 and 6).
//!
//! Why it is built this way (performance notes):
//! - Text is split at special tokens, NFC-normalised (borrowed, no copy, when already NFC),
//!   and pre-tokenized by hand; spaces are never rewritten to `▁` in the text: the character
//!   lookup maps a space to the marker's id.
//! - Words repeat (Zipf), so each word's ids are cached in one cache per tokenizer that all
//!   threads share (`word_cache.rs`; a thread holds its read lock across chunks of words and
//!   texts, `Reader` below: a first version locked a sharded cache per word, which cost two
//!   atomic operations and a second hash per word).
//! - Merging by rank is in `merge.rs` (near-linear on pathological input).
//! - `encode_batch` is rayon-parallel over texts; the flat form concatenates without any
//!   per-token Python object (see `py.rs`).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::flat;
use crate::merge::merge_tail;
use crate::pair_table::PairTable;
use crate::pretokenize::{distinct_words, words};
use crate::text::Text;
use crate::vocab::Model;
use crate::word_cache::{key_in, View, WordCache};

/// Words split (and their cache lines prefetched) before the first of them is looked up.
const CHUNK: usize = 32;
/// Chunks encoded under one view of the word cache (about 10 KB of text).
const VIEW_CHUNKS: usize = 64;
/// Characters below this (one- and two-byte UTF-8: Latin, Greek, Cyrillic, Hebrew, Arabic...)
/// have their id in a table; others ask the model's map.
const CHAR_TABLE: usize = 0x800;
const NO_ID: u32 = u32::MAX;
/// Code units (characters, or UTF-8 bytes for `&str` texts) in a run of texts that
/// `encode_batch_flat` hands to a thread, on average over the batch (64 texts of 20 lines).
const RUN_UNITS: usize = 1 << 17;

/// A trained tokenizer: the model plus the lookups and cache encoding needs.
pub struct Tokenizer {
    model: Model,
    /// The model's merge ranks, laid out for lookups on cache misses (none for a vocabulary
    /// too large for its slots: the model's map then).
    pairs: Option<PairTable>,
    /// (special token, id), longest first, for leftmost-longest matching.
    specials: Vec<(String, u32)>,
    /// The bytes that start some special token, sorted.
    special_first: Vec<u8>,
    /// word -> ids, shared by the threads that encode.
    cache: WordCache,
    /// id of each character below `CHAR_TABLE` (`NO_ID` if absent; a space is the marker's).
    char_ids: Box<[u32]>,
}

impl Tokenizer {
    pub fn new(model: Model) -> Self {
        let mut specials: Vec<(String, u32)> = model
            .specials()
            .iter()
            .map(|s| {
                (
                    s.clone(),
                    model.id(s).expect("specials are in the vocabulary"),
                )
            })
            .collect();
        specials.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let mut special_first: Vec<u8> = specials.iter().map(|(s, _)| s.as_bytes()[0]).collect();
        special_first.sort_unstable();
        special_first.dedup();
        let char_ids = (0..CHAR_TABLE as u32)
            .map(|c| {
                char::from_u32(c)
                    .and_then(|c| model.char_id(c))
                    .unwrap_or(NO_ID)
            })
            .collect();
        Tokenizer {
            pairs: PairTable::new(&model),
            model,
            specials,
            special_first,
            cache: WordCache::default(),
            char_ids,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Whether another thread holds the word cache's lock (see [`WordCache::is_locked`]).
    pub fn cache_locked(&self) -> bool {
        self.cache.is_locked()
    }

    /// Ids of `text`; with `special_tokens`, special tokens written in it are single ids.
    pub fn encode(&self, text: &str, special_tokens: bool) -> Vec<u32> {
        self.reserve_cache(text.len());
        self.encode_reserved(text, special_tokens, &mut Reader::new(&self.cache))
    }

    /// `encode` once the cache is reserved (a batch reserves once for all its texts).
    fn encode_reserved(&self, text: &str, special_tokens: bool, r: &mut Reader) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        self.encode_with(text, special_tokens, &mut out, r);
        out
    }

    pub fn encode_into(&self, text: &str, special_tokens: bool, out: &mut Vec<u32>) {
        self.encode_with(text, special_tokens, out, &mut Reader::new(&self.cache));
    }

    /// [`Tokenizer::encode_into`] with the caller's hold on the word cache (kept across the
    /// texts of a batch).
    fn encode_with(&self, text: &str, special_tokens: bool, out: &mut Vec<u32>, r: &mut Reader) {
        if !special_tokens || self.specials.is_empty() {
            return self.encode_ordinary(text, out, r);
        }
        // One pass: at a byte that starts some special token, try them longest first
        // (leftmost, then longest). Linear in the text for a handful of specials.
        let bytes = text.as_bytes();
        let (mut pos, mut from) = (0, 0);
        while let Some(k) = self.next_special_start(&bytes[from..]) {
            let i = from + k;
            let rest = &bytes[i..];
            match self
                .specials
                .iter()
                .find(|(t, _)| rest.starts_with(t.as_bytes()))
            {
                Some((tok, id)) => {
                    // a special starts with a whole character, so `i` is a char boundary
                    self.encode_ordinary(&text[pos..i], out, r);
                    out.push(*id);
                    pos = i + tok.len();
                    from = pos;
                }
                None => from = i + 1,
            }
        }
        self.encode_ordinary(&text[pos..], out, r);
    }

    /// Where the first byte that starts some special token is in `b` (memchr's vector search
    /// for up to three distinct first bytes, the usual case).
    #[inline]
    fn next_special_start(&self, b: &[u8]) -> Option<usize> {
        match self.special_first[..] {
            [x] => memchr::memchr(x, b),
            [x, y] => memchr::memchr2(x, y, b),
            [x, y, z] => memchr::memchr3(x, y, z, b),
            ref set => b.iter().position(|c| set.binary_search(c).is_ok()),
        }
    }

    fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>, r: &mut Reader) {
        if text.is_empty() {
            return;
        }
        self.model
            .normalizer()
            .for_each_piece(text, |piece| self.encode_piece(piece, out, r));
    }

    /// Encodes normalised text a chunk of words at a time: splitting a chunk requests the
    /// cache lines of its words, so the lookups that follow find them arriving instead of each
    /// waiting on memory in turn (the tail of a Zipf vocabulary does not stay in the caches).
    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>, r: &mut Reader) {
        let (mut words, bytes) = (words(piece), piece.as_bytes());
        // not initialised: a one-line text would clear 1.5 KB for a handful of words
        let mut chunk = [const { MaybeUninit::<(&str, u128, usize)>::uninit() }; CHUNK];
        // the view a local for the piece (through the `Reader` it cost a load per word)
        let mut view = r.take();
        loop {
            let mut n = 0;
            while n < CHUNK {
                let Some(w) = words.next() else { break };
                let start = w.as_ptr() as usize - bytes.as_ptr() as usize;
                let key = key_in(bytes, start, w.len());
                chunk[n].write((w, key, view.prefetch(key)));
                n += 1;
            }
            // SAFETY: the first `n <= CHUNK` entries were written just above
            for &(w, key, home) in unsafe { written(&chunk, n) } {
                if !view.get_at(home, w, key, out) {
                    self.encode_word(w, key, &mut view, out);
                }
            }
            view = r.chunk_done(view);
            if n < CHUNK {
                return r.keep(view);
            }
        }
    }

    /// A word not in the cache: its characters' ids, merged by rank, then cached. The ids are
    /// built and merged in place at the end of `out`.
    fn encode_word(&self, word: &str, key: u128, cache: &mut View<'_>, out: &mut Vec<u32>) {
        let start = out.len();
        let mut run = start; // where the current run of known characters starts
        for c in word.chars() {
            let id = match self.char_ids.get(c as usize) {
                Some(&id) => (id != NO_ID).then_some(id),
                None => self.model.char_id(c),
            };
            match id {
                Some(id) => out.push(id),
                None => {
                    self.merge_tail(out, run);
                    self.model.push_unknown(c, out);
                    run = out.len();
                }
            }
        }
        self.merge_tail(out, run);
        cache.insert(word, key, &out[start..]);
    }

    fn merge_tail(&self, out: &mut Vec<u32>, from: usize) {
        match &self.pairs {
            Some(pairs) => merge_tail(out, from, pairs),
            None => merge_tail(out, from, &self.model),
        }
    }

    /// Makes room in the word cache for the distinct words of `bytes` of text, for large
    /// inputs (below, the lock it takes costs more than growing).
    fn reserve_cache(&self, bytes: usize) {
        if bytes >= 1 << 16 {
            self.cache.reserve(distinct_words(bytes));
        }
    }

    /// `encode` over many texts, in parallel.
    pub fn encode_batch<S: Text + Sync>(&self, texts: &[S], special_tokens: bool) -> Vec<Vec<u32>> {
        self.reserve_cache(texts.iter().map(|t| t.len_units()).sum());
        texts
            .par_iter()
            .map_init(
                || (Reader::new(&self.cache), String::new()),
                |(r, buf), t| self.encode_reserved(t.utf8(buf), special_tokens, r),
            )
            .collect()
    }

    /// All ids concatenated, and offsets (`n + 1` of them) so text i is `ids[off[i]..off[i+1]]`.
    ///
    /// With several threads, runs of consecutive texts are encoded in parallel and placed into
    /// the result in order (`flat.rs`); with one, texts are encoded straight into the result
    /// (in a fresh process the page faults on new memory cost a third of a big batch, so the
    /// result is the only large new memory either way).
    pub fn encode_batch_flat<S: Text + Sync>(
        &self,
        texts: &[S],
        special_tokens: bool,
    ) -> (Vec<u32>, Vec<i64>) {
        let units: usize = texts.iter().map(|t| t.len_units()).sum();
        self.reserve_cache(units);
        // room for the ids of most text (a fifth to a quarter of its characters in English and
        // Turkish); more grows the result
        let estimate = units / 3 + 1;
        let encode_run = |run: &[S], ids: &mut Vec<u32>, ends: &mut Vec<usize>| {
            let (mut r, mut buf) = (Reader::new(&self.cache), String::new());
            for t in run {
                self.encode_with(t.utf8(&mut buf), special_tokens, ids, &mut r);
                ends.push(ids.len());
            }
        };
        let threads = rayon::current_num_threads();
        let (ids, ends) = if threads > 1 {
            // enough runs per thread to balance uneven texts, and small enough that a run's
            // recycled buffer is still in the L2 cache when it is copied into the result (64
            // texts of 20 lines, typically ~140 KB of ids: 2 threads, 20 MB, 18 alternated fresh
            // runs, median 241 -> 254 MB/s against runs of 256 texts); as many units in a run of
            // short texts (runs of 64 one-line texts cost their locks, view and buffer per 7 KB)
            let per_text = units / texts.len().max(1) + 1;
            let run = texts
                .len()
                .div_ceil(16 * threads)
                .min(RUN_UNITS / per_text)
                .max(1);
            let runs: Vec<&[S]> = texts.chunks(run).collect();
            flat::concat_in_order(&runs, estimate, threads, |run, ids, ends| {
                encode_run(run, ids, ends)
            })
        } else {
            let (mut ids, mut ends) = (Vec::with_capacity(estimate), Vec::new());
            crate::huge::advise_capacity(&mut ids);
            encode_run(texts, &mut ids, &mut ends);
            (ids, ends)
        };
        let offsets = std::iter::once(0)
            .chain(ends.into_iter().map(|e| e as i64))
            .collect();
        (ids, offsets)
    }

    /// The UTF-8 bytes of `ids` (byte tokens become raw bytes, `▁` a space). An id outside
    /// the vocabulary is an error.
    pub fn decode(&self, ids: &[i64]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        let mut saw_byte = false;
        let n = self.model.len();
        for &id in ids {
            if id < 0 || id as u64 >= n as u64 {
                return Err(Error::UnknownId { id, vocab_size: n });
            }
            let id = id as u32;
            if let Some(b) = self.model.byte_of(id) {
                out.push(b);
                saw_byte = true;
                continue;
            }
            let tok = self.model.token(id).unwrap_or_default();
            for (k, part) in tok.split('\u{2581}').enumerate() {
                if k > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(part.as_bytes());
            }
        }
        if saw_byte {
            // a marker spelled with byte tokens is a space too
            out = replace_marker_bytes(&out);
        }
        Ok(out)
    }
}

/// A thread's hold on the word cache while it encodes: one read view kept across chunks of
/// words and across the texts of a batch, given up every `VIEW_CHUNKS` chunks and to grow
/// the table.
///
/// Why (performance notes): the lock's counter is a cache line that every thread writes, and
/// a view taken per text made that two contended atomic operations per text: with one-line
/// documents (20 MB, 330k texts) on two threads, 4% slower than one view per thread
/// (alternated runs; no difference with 20-line documents).
struct Reader<'a> {
    cache: &'a WordCache,
    view: Option<View<'a>>,
    chunks: usize,
}

impl<'a> Reader<'a> {
    fn new(cache: &'a WordCache) -> Self {
        Reader {
            cache,
            view: None,
            chunks: 0,
        }
    }

    /// The view held, or a new one.
    #[inline]
    fn take(&mut self) -> View<'a> {
        self.view.take().unwrap_or_else(|| self.cache.view())
    }

    /// Holds `view` for the next piece of text.
    #[inline]
    fn keep(&mut self, view: View<'a>) {
        self.view = Some(view);
    }

    /// After each chunk of words (a text's last one too, however short): `view`, or a new
    /// one when it was time to give it up.
    #[inline]
    fn chunk_done(&mut self, view: View<'a>) -> View<'a> {
        self.chunks += 1;
        if !view.wants_grow && self.chunks % VIEW_CHUNKS != 0 {
            return view;
        }
        let grow = view.wants_grow;
        drop(view); // the read lock is released here, before any growth
        if grow {
            self.cache.grow();
        }
        self.cache.view()
    }
}

/// The first `n` entries of `c`, borrowed from it (so that none is written while they are read).
///
/// # Safety
/// `n <= c.len()`, and the first `n` entries are initialised.
unsafe fn written<T>(c: &[MaybeUninit<T>], n: usize) -> &[T] {
    debug_assert!(n <= c.len());
    // SAFETY: `MaybeUninit<T>` has `T`'s layout; the caller vouches for the first `n`
    std::slice::from_raw_parts(c.as_ptr().cast(), n)
}

fn replace_marker_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with("\u{2581}".as_bytes()) {
            out.push(b' ');
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::WordCounts;
    use crate::train::{train, TrainConfig};

    fn tok(texts: &[&str], vocab_size: usize, byte_fallback: bool) -> Tokenizer {
        let mut wc = WordCounts::new();
        wc.add_texts(texts);
        let cfg = TrainConfig {
            vocab_size: vocab_size + if byte_fallback { 256 } else { 0 },
            min_frequency: 1,
            byte_fallback,
            ..Default::default()
        };
        Tokenizer::new(train(&wc, &cfg, None, None).unwrap())
    }

    fn strs(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&i| t.model().token(i).unwrap().to_string())
            .collect()
    }

    fn roundtrip(t: &Tokenizer, s: &str) -> String {
        let ids: Vec<i64> = t.encode(s, true).into_iter().map(i64::from).collect();
        String::from_utf8(t.decode(&ids).unwrap()).unwrap()
    }

    #[test]
    fn empty_and_mert() {
        let t = tok(&["Mert Mert Mert"], 40, false);
        assert!(t.encode("", true).is_empty());
        assert_eq!(strs(&t, &t.encode("Mert Mert", true)), ["Mert", "▁Mert"]);
        assert_eq!(roundtrip(&t, "Mert Mert"), "Mert Mert");
    }

    #[test]
    fn unknown_and_byte_fallback() {
        let t = tok(&["ab ab"], 20, false);
        assert_eq!(strs(&t, &t.encode("abz", true)), ["ab", "[UNK]"]);
        let t = tok(&["ab ab"], 20, true);
        let s = "abş ab\t🎉 ▁x";
        assert_eq!(strs(&t, &t.encode("abş", true)), ["ab", "<0xC5>", "<0x9F>"]);
        assert_eq!(roundtrip(&t, s), s.replace('▁', " "));
        assert!(t.decode(&[99_999]).is_err());
        assert!(t.decode(&[-1]).is_err());
    }

    #[test]
    fn special_tokens_leftmost_longest() {
        let mut wc = WordCounts::new();
        wc.add_texts(&["a b"]);
        let cfg = TrainConfig {
            vocab_size: 30,
            min_frequency: 1,
            special_tokens: vec!["[UNK]".into(), "<s>".into(), "<s><s>".into()],
            ..Default::default()
        };
        let t = Tokenizer::new(train(&wc, &cfg, None, None).unwrap());
        assert_eq!(
            strs(&t, &t.encode("a<s><s>b<s>", true)),
            ["a", "<s><s>", "b", "<s>"]
        );
        assert!(!t.encode("<s>", false).contains(&1));
        assert_eq!(strs(&t, &t.encode("[UNK]", true)), ["[UNK]"]);
    }

    #[test]
    fn long_run_round_trips() {
        // (linear work on such runs: merge.rs, `long_runs_take_linear_work`)
        let t = tok(&["aaaaaaaaaaaaaaaa"], 30, false);
        let long = "a".repeat(100_000);
        let ids = t.encode(&long, true);
        assert_eq!(roundtrip(&t, &long), long);
        assert!(ids.len() < 100_000 / 8);
    }

    #[test]
    fn batch_and_flat() {
        let t = tok(&["the cat sat on the mat"], 40, false);
        let texts = ["the cat", "", "on the mat", "sat"];
        let nested = t.encode_batch(&texts, true);
        for (s, v) in texts.iter().zip(&nested) {
            assert_eq!(&t.encode(s, true), v);
        }
        let (ids, off) = t.encode_batch_flat(&texts, true);
        assert_eq!(off.len(), 5);
        assert_eq!(ids, nested.concat());
        assert_eq!(&ids[off[2] as usize..off[3] as usize], &nested[2][..]);
        // the one-thread path and the parallel one (many runs) give the same
        let many: Vec<String> = (0..2000).map(|i| format!("the cat {i} sat")).collect();
        let parallel = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = parallel.install(|| t.encode_batch_flat(&many, true));
        let b = one.install(|| t.encode_batch_flat(&many, true));
        assert_eq!(a, b);
        assert_eq!(a.1.len(), many.len() + 1);
        assert_eq!(a.0, t.encode_batch(&many, true).concat());
        // runs cut by size: 20000 short texts (runs of 417, not 64), 100 long ones (runs of
        // 2, not 3), one long text among short ones, only empty texts
        let short: Vec<String> = (0..20000).map(|i| format!("sat {i}")).collect();
        let long: Vec<String> = (0..100)
            .map(|i| format!("{i} {}", "the cat sat on the mat ".repeat(2200)))
            .collect();
        let mut mixed: Vec<String> = (0..300).map(|i| format!("the mat {i}")).collect();
        mixed.insert(150, "the cat sat on the mat ".repeat(10_000));
        let empty = vec![String::new(); 5000];
        for batch in [&short, &long, &mixed, &empty] {
            let a = parallel.install(|| t.encode_batch_flat(batch, true));
            assert_eq!(a, one.install(|| t.encode_batch_flat(batch, true)));
            assert_eq!(a.0, t.encode_batch(batch, true).concat());
            assert_eq!(a.1.len(), batch.len() + 1);
        }
    }

    #[test]
    fn code_unit_texts_encode_as_their_utf8() {
        // Python hands batches over as Latin-1, UCS-2 or UCS-4 code units (`text.rs`); with
        // byte fallback a unit can take three ids (far past the flat batch's estimate)
        use crate::text::Units;
        for fallback in [false, true] {
            let t = tok(&["çalış ab çalış café ab"], 40, fallback);
            let texts: Vec<String> = (0..600)
                .map(|i| format!("çalış 日本 {i} café 🎉 ab"))
                .collect();
            let ucs4: Vec<Vec<u32>> = texts
                .iter()
                .map(|s| s.chars().map(|c| c as u32).collect())
                .collect();
            let ucs2: Vec<Vec<u16>> = texts
                .iter()
                .map(|s| s.replace('🎉', "").encode_utf16().collect())
                .collect();
            let latin1: Vec<Vec<u8>> = (0..600)
                .map(|i| format!("café ab {i}").chars().map(|c| c as u8).collect())
                .collect();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            let check = |units: Vec<Units<'_>>, expected: Vec<String>| {
                let nested: Vec<Vec<u32>> = expected.iter().map(|s| t.encode(s, true)).collect();
                assert_eq!(t.encode_batch(&units, true), nested);
                let (ids, off) = pool.install(|| t.encode_batch_flat(&units, true));
                assert_eq!(ids, nested.concat());
                assert_eq!(off.len(), units.len() + 1);
            };
            check(ucs4.iter().map(|u| Units::Ucs4(u)).collect(), texts.clone());
            let no_emoji = texts.iter().map(|s| s.replace('🎉', "")).collect();
            check(ucs2.iter().map(|u| Units::Ucs2(u)).collect(), no_emoji);
            let cafe = (0..600).map(|i| format!("café ab {i}")).collect();
            check(latin1.iter().map(|u| Units::Latin1(u)).collect(), cafe);
        }
    }

    #[test]
    fn flat_batch_when_ids_outnumber_bytes() {
        // NFKC turns U+FDFA (3 bytes) into 18 characters, unknown here: with byte fallback,
        // 36 ids, far past the flat batch's estimate; it must still give the nested result
        let t = tok(&["ab ab"], 20, true);
        let mut model = t.model().clone();
        model.set_normalizer(crate::normalize::Normalizer {
            nfkc: true,
            ..Default::default()
        });
        let t = Tokenizer::new(model);
        let texts: Vec<String> = (0..500).map(|i| format!("\u{fdfa}{i}")).collect();
        let nested = t.encode_batch(&texts, true);
        assert!(nested[0].len() > 3 * texts[0].len());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (ids, off) = pool.install(|| t.encode_batch_flat(&texts, true));
        assert_eq!(ids, nested.concat());
        assert_eq!(off.len(), texts.len() + 1);
    }
}
