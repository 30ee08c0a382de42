//! The word -> ids cache of one thread and tokenizer (see `encode.rs` for how threads keep them).
//!
//! Why it is built this way (performance notes; 20 MB of English documents, 32k vocab):
//! - Words repeat (Zipf), so after a short warm-up almost every word is a cache hit, and the
//!   hit path is the encoder's inner loop. Words of up to 15 bytes (nearly all) are packed
//!   with their length into a `u128` key, so a lookup is one integer hash and compare (string
//!   keys cost a `memcmp` call per lookup: 18% of encoding).
//! - The ids of such a word sit in the entry itself when there are at most three of them
//!   (nearly always); longer id lists live in a side vector.
//! - Once the table outgrows the CPU caches, a lookup in the Zipf tail waits on memory; with
//!   `hashbrown` that wait (control bytes, then the entry: two cache lines) was half of the
//!   hit path. Here an entry is 32 bytes, two per 64-byte line, probed linearly line by line,
//!   so a lookup touches one line, and [`WordCache::prefetch`] lets the encoder request the
//!   lines of a whole chunk of words before it looks any of them up (`encode.rs`).
//! - A cache stops growing at a fixed size instead of evicting (eviction bookkeeping costs
//!   more than it saves for natural text). The size holds the distinct words of tens of
//!   megabytes of text (a 32k-entry cache was full after a few megabytes, and every later
//!   miss paid a full merge).

use rustc_hash::FxHashMap;

/// Entries (short and long words together) before a cache stops growing: at most 16 MB.
const CAPACITY: usize = 1 << 18;
/// Words longer than this (bytes) are not cached.
const MAX_WORD: usize = 64;
/// Lines of a new cache (32 KB).
const START_LINES: usize = 1 << 9;
/// The key of an empty slot; no word packs to it (a word is never empty).
const EMPTY: u128 = 0;

/// A packed short word and its ids: `[len, id, id, id]` or `[len, start in spill, 0, 0]`.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Entry {
    key: u128,
    val: [u32; 4],
}

/// Two entries on one cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([Entry; 2]);

/// One thread's cache.
pub struct WordCache {
    lines: Vec<Line>,
    /// 64 - log2(lines.len()): the hash's top bits pick the line.
    shift: u32,
    short_len: usize,
    long: FxHashMap<Box<str>, Box<[u32]>>,
    spill: Vec<u32>,
}

impl Default for WordCache {
    fn default() -> Self {
        WordCache {
            lines: new_lines(START_LINES),
            shift: 64 - START_LINES.trailing_zeros(),
            short_len: 0,
            long: FxHashMap::default(),
            spill: Vec::new(),
        }
    }
}

fn new_lines(n: usize) -> Vec<Line> {
    vec![Line::default(); n]
}

/// The cache key of `word`: its bytes and length packed into a `u128` when it has 1 to 15
/// bytes; `EMPTY` (0) for longer words, which are kept in a separate map.
#[inline]
pub fn key_of(word: &str) -> u128 {
    let b = word.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return EMPTY;
    }
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    buf[15] = b.len() as u8;
    u128::from_le_bytes(buf)
}

/// [`key_of`] the word `text[start..start + len]`, read straight from `text` with one
/// 16-byte load where `text` has the bytes (copying a word into a buffer and reading it back
/// as one integer stalled the load on the stores: a quarter of the hit path).
#[inline]
pub fn key_in(text: &[u8], start: usize, len: usize) -> u128 {
    if len == 0 || len > 15 {
        return EMPTY;
    }
    match text.get(start..start + 16) {
        Some(b) => {
            let raw = u128::from_le_bytes(b.try_into().expect("16 bytes"));
            (raw & ((1u128 << (8 * len)) - 1)) | ((len as u128) << 120)
        }
        None => key_of(std::str::from_utf8(&text[start..start + len]).unwrap_or_default()),
    }
}

impl WordCache {
    #[inline]
    fn home(&self, key: u128) -> usize {
        let x = (key as u64) ^ ((key >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (x.wrapping_mul(0xF135_7AEA_2E62_A9C5) >> self.shift) as usize
    }

    /// Asks the CPU to fetch the line where `key` would be (a hint; no effect on results).
    #[inline]
    pub fn prefetch(&self, key: u128) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let line: *const Line = &self.lines[self.home(key)];
            // SAFETY: a prefetch has no effect on memory or results; `line` is in bounds.
            unsafe { _mm_prefetch(line as *const i8, _MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// Appends the cached ids of `word` (whose key is `key`) to `out`; false if not cached.
    #[inline]
    pub fn get(&self, word: &str, key: u128, out: &mut Vec<u32>) -> bool {
        if key == EMPTY {
            return match self.long.get(word) {
                Some(ids) => {
                    out.extend_from_slice(ids);
                    true
                }
                None => false,
            };
        }
        let mask = self.lines.len() - 1;
        let mut i = self.home(key);
        loop {
            for e in &self.lines[i].0 {
                if e.key == key {
                    let n = e.val[0] as usize;
                    if n <= 3 {
                        // a fixed-size copy, then the length: no memcpy call
                        let len = out.len();
                        out.extend_from_slice(&e.val[1..4]);
                        out.truncate(len + n);
                    } else {
                        let s = e.val[1] as usize;
                        out.extend_from_slice(&self.spill[s..s + n]);
                    }
                    return true;
                }
                if e.key == EMPTY {
                    return false;
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Remembers the ids of `word` (unless the cache is full or the word too long); `word`
    /// must not be cached yet.
    pub fn insert(&mut self, word: &str, key: u128, ids: &[u32]) {
        if self.short_len + self.long.len() >= CAPACITY || word.len() > MAX_WORD {
            return;
        }
        if key == EMPTY {
            self.long.insert(word.into(), ids.into());
            return;
        }
        let mut val = [ids.len() as u32, 0, 0, 0];
        if ids.len() <= 3 {
            val[1..1 + ids.len()].copy_from_slice(ids);
        } else {
            val[1] = self.spill.len() as u32;
            self.spill.extend_from_slice(ids);
        }
        // at most 3/4 full, so every probe meets an empty slot
        if (self.short_len + 1) * 4 > self.lines.len() * 2 * 3 {
            self.grow();
        }
        self.place(Entry { key, val });
        self.short_len += 1;
    }

    fn place(&mut self, entry: Entry) {
        let mask = self.lines.len() - 1;
        let mut i = self.home(entry.key);
        loop {
            if let Some(e) = self.lines[i].0.iter_mut().find(|e| e.key == EMPTY) {
                *e = entry;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[cold]
    fn grow(&mut self) {
        let n = self.lines.len() * 2;
        let old = std::mem::replace(&mut self.lines, new_lines(n));
        self.shift = 64 - n.trailing_zeros();
        for e in old.iter().flat_map(|l| l.0) {
            if e.key != EMPTY {
                self.place(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(c: &WordCache, w: &str) -> Option<Vec<u32>> {
        let mut out = vec![42];
        c.get(w, key_of(w), &mut out).then(|| out[1..].to_vec())
    }

    #[test]
    fn get_returns_what_insert_stored() {
        let mut c = WordCache::default();
        let words = [
            "a",
            " the",
            "▁ışık",
            "exactly15bytes!",
            "sixteen-bytes-xx",
            &"x".repeat(64),
        ];
        let ids: [&[u32]; 5] = [&[], &[7], &[1, 2, 3], &[4, 5, 6, 7], &[9; 20]];
        for (k, w) in words.iter().enumerate() {
            c.insert(w, key_of(w), ids[k % ids.len()]);
        }
        for (k, w) in words.iter().enumerate() {
            assert_eq!(get(&c, w).as_deref(), Some(ids[k % ids.len()]), "{w:?}");
        }
        assert_eq!(get(&c, "unseen"), None);
        assert_eq!(get(&c, "a "), None); // the length is part of the key
        c.insert(&"y".repeat(65), EMPTY, &[1]); // too long to cache
        assert_eq!(get(&c, &"y".repeat(65)), None);
    }

    #[test]
    fn key_in_equals_key_of() {
        let text = "▁the▁quick▁brown▁fox,▁jumps▁over▁exactly15bytes!▁and▁sixteen-bytes-xx▁ışık";
        let b = text.as_bytes();
        for start in (0..b.len()).filter(|&i| text.is_char_boundary(i)) {
            for end in (start..=b.len()).filter(|&i| text.is_char_boundary(i)) {
                assert_eq!(
                    key_in(b, start, end - start),
                    key_of(&text[start..end]),
                    "{:?}",
                    &text[start..end]
                );
            }
        }
    }

    #[test]
    fn grows_and_keeps_every_word() {
        let mut c = WordCache::default();
        let words: Vec<String> = (0..20_000u32).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            c.insert(w, key_of(w), &[i as u32, 1]);
        }
        assert!(c.lines.len() > START_LINES);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(get(&c, w), Some(vec![i as u32, 1]), "{w}");
        }
        assert_eq!(get(&c, "w20000"), None);
    }
}
