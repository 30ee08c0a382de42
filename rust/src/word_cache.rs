//! The word -> ids cache of one thread and tokenizer (see `encode.rs` for how threads keep them).
//!
//! Why it is built this way (performance notes; 20 MB of English documents, 32k vocab):
//! - Words repeat (Zipf), so after a short warm-up almost every word is a cache hit, and the
//!   hit path is the encoder's inner loop. With string keys a lookup cost a `memcmp` call (18%
//!   of encoding); here words of up to 15 bytes (nearly all) are packed with their length
//!   into a `u128` key, so a lookup is one integer hash and compare.
//! - The ids of such a word are packed into a `u128` value too when there are at most three
//!   of them (nearly always); longer id lists live in a side vector.
//! - A cache stops growing at a fixed size instead of evicting (eviction bookkeeping costs
//!   more than it saves for natural text). The size is large enough for the distinct words of
//!   tens of megabytes of text (a 32k-entry cache was full after a few megabytes, and every
//!   later miss paid a full merge).

use rustc_hash::FxHashMap;

/// Entries per cache (short and long words together) before it stops growing.
const CAPACITY: usize = 1 << 18;
/// Words longer than this (bytes) are not cached.
const MAX_WORD: usize = 64;

/// One thread's cache.
#[derive(Default)]
pub struct WordCache {
    /// packed word (<= 15 bytes) -> [len, id, id, id] or [len, start in `spill`, 0, 0]
    short: FxHashMap<u128, [u32; 4]>,
    long: FxHashMap<Box<str>, Box<[u32]>>,
    spill: Vec<u32>,
}

#[inline]
fn pack(b: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    buf[15] = b.len() as u8;
    u128::from_le_bytes(buf)
}

impl WordCache {
    /// Appends the cached ids of `word` to `out`; false if `word` is not cached.
    #[inline]
    pub fn get(&self, word: &str, out: &mut Vec<u32>) -> bool {
        let b = word.as_bytes();
        if b.len() < 16 {
            let Some(v) = self.short.get(&pack(b)) else {
                return false;
            };
            let n = v[0] as usize;
            if n <= 3 {
                out.extend_from_slice(&v[1..1 + n]);
            } else {
                let s = v[1] as usize;
                out.extend_from_slice(&self.spill[s..s + n]);
            }
            true
        } else if let Some(ids) = self.long.get(word) {
            out.extend_from_slice(ids);
            true
        } else {
            false
        }
    }

    /// Remembers the ids of `word` (unless the cache is full or the word too long).
    pub fn insert(&mut self, word: &str, ids: &[u32]) {
        let b = word.as_bytes();
        if self.short.len() + self.long.len() >= CAPACITY || b.len() > MAX_WORD {
            return;
        }
        if b.len() < 16 {
            let mut v = [ids.len() as u32, 0, 0, 0];
            if ids.len() <= 3 {
                v[1..1 + ids.len()].copy_from_slice(ids);
            } else {
                v[1] = self.spill.len() as u32;
                self.spill.extend_from_slice(ids);
            }
            self.short.insert(pack(b), v);
        } else {
            self.long.insert(word.into(), ids.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_returns_what_insert_stored() {
        let mut c = WordCache::default();
        let words = [
            "",
            "a",
            " the",
            "▁ışık",
            "exactly15bytes!",
            "sixteen-bytes-xx",
            &"x".repeat(64),
        ];
        let ids: [&[u32]; 5] = [&[], &[7], &[1, 2, 3], &[4, 5, 6, 7], &[9; 20]];
        for (k, w) in words.iter().enumerate() {
            c.insert(w, ids[k % ids.len()]);
        }
        for (k, w) in words.iter().enumerate() {
            let mut out = vec![42];
            assert!(c.get(w, &mut out), "{w:?}");
            assert_eq!(out[1..], *ids[k % ids.len()], "{w:?}");
        }
        let mut out = vec![];
        assert!(!c.get("unseen", &mut out) && out.is_empty());
        assert!(!c.get("a ", &mut out)); // the length is part of the key
        c.insert(&"y".repeat(65), &[1]); // too long to cache
        assert!(!c.get(&"y".repeat(65), &mut out));
    }
}
