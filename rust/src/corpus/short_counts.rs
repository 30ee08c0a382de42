//! Counts of short words, keyed by their packed bytes (`word_cache::pack`): open addressing
//! with the key and the count side by side.
//!
//! Why not `FxHashMap<u128, u64>` (performance notes, counting English, 1 thread): the table
//! outgrows the L2 cache (tens of thousands of words), so a lookup is bound by cache misses,
//! and a `HashMap` pays two: its control bytes, then the bucket. Here one probe reads one
//! 24-byte entry. Tables of 2 MB and more are zeroed memory mapped for huge pages
//! ([`ZeroedSlice`]), so a fresh process faults them in by the 2 MB page.

use crate::huge::ZeroedSlice;

/// `key == [0, 0]` marks an empty entry (a packed word is never zero: its length is in it).
#[derive(Clone, Copy)]
struct Entry {
    key: [u64; 2],
    count: u64,
}

pub(super) struct ShortCounts {
    table: ZeroedSlice<Entry>,
    /// `64 - log2(table.len())`: a key's home is the top bits of its hash.
    shift: u32,
    len: usize,
}

impl Default for ShortCounts {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

#[inline]
fn split(key: u128) -> [u64; 2] {
    [key as u64, (key >> 64) as u64]
}

/// The key `split` gave.
#[inline]
fn join([lo, hi]: [u64; 2]) -> u128 {
    u128::from(lo) | u128::from(hi) << 64
}

impl ShortCounts {
    /// Room for `words` keys before the table grows.
    pub(super) fn with_capacity(words: usize) -> Self {
        // at most 7/8 full, as `HashMap`: 1 MB of English (26k words) then fits 32k entries
        // (768 KB); at most 3/4 doubled it, and was no faster
        Self::with_slots(match words {
            0 => 0,
            _ => (words * 8 / 7 + 1).next_power_of_two().max(16),
        })
    }

    /// `n` entries (0 or a power of two).
    fn with_slots(n: usize) -> Self {
        ShortCounts {
            // SAFETY: all-zero bytes are an empty `Entry` (integers only)
            table: unsafe { ZeroedSlice::new(n) },
            shift: 64 - n.max(1).trailing_zeros(),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn home(&self, [lo, hi]: [u64; 2]) -> usize {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let h = (lo.wrapping_mul(K).rotate_left(26) ^ hi).wrapping_mul(K);
        (h >> self.shift) as usize
    }

    /// Asks the cache for the entry where a lookup of `key` starts (a hint; see `count_text`).
    #[inline]
    pub(super) fn prefetch(&self, key: u128) {
        #[cfg(target_arch = "x86_64")]
        if !self.table.is_empty() {
            let e = &self.table[self.home(split(key))];
            // SAFETY: a prefetch is a hint; it never faults.
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    (e as *const Entry).cast(),
                    std::arch::x86_64::_MM_HINT_T0,
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// Adds `n` to the count of `key` (a nonzero packed word).
    #[inline]
    pub(super) fn add(&mut self, key: u128, n: u64) {
        debug_assert!(key != 0);
        if (self.len + 1) * 8 > self.table.len() * 7 {
            self.grow();
        }
        let key = split(key);
        let mask = self.table.len() - 1;
        let mut i = self.home(key);
        loop {
            let e = &mut self.table[i];
            if e.key == key {
                e.count += n;
                return;
            }
            if e.key == [0, 0] {
                *e = Entry { key, count: n };
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Twice the entries (at least 16), everything re-placed.
    #[cold]
    fn grow(&mut self) {
        let mut bigger = ShortCounts::with_slots((self.table.len() * 2).max(16));
        for (k, c) in self.iter() {
            bigger.add(k, c);
        }
        *self = bigger;
    }

    /// How many keys the table holds before it grows (`with_capacity`'s argument, or more).
    pub(super) fn room(&self) -> usize {
        self.table.len() * 7 / 8
    }

    /// Calls `f` with every key and its count, in table order, emptying the table as it goes
    /// (its memory is kept).
    pub(super) fn drain(&mut self, mut f: impl FnMut(u128, u64)) {
        if self.len == 0 {
            return;
        }
        for e in self.table.iter_mut() {
            if e.key != [0, 0] {
                f(join(e.key), e.count);
                e.key = [0, 0];
            }
        }
        self.len = 0;
    }

    /// Every key and its count, in table order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u128, u64)> + '_ {
        self.table
            .iter()
            .filter(|e| e.key != [0, 0])
            .map(|e| (join(e.key), e.count))
    }
}

impl Clone for ShortCounts {
    fn clone(&self) -> Self {
        let mut copy = ShortCounts::with_capacity(self.len);
        for (k, c) in self.iter() {
            copy.add(k, c);
        }
        copy
    }
}

impl std::fmt::Debug for ShortCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShortCounts({} words)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    #[test]
    fn matches_a_hash_map_and_grows() {
        let mut t = ShortCounts::default();
        let mut want: FxHashMap<u128, u64> = FxHashMap::default();
        for i in 0..50_000u128 {
            let key = (i % 7919 + 1) << (i % 3 * 40) | 1 << 120;
            t.add(key, (i % 5) as u64 + 1);
            *want.entry(key).or_insert(0) += (i % 5) as u64 + 1;
        }
        assert_eq!(t.len(), want.len());
        let got: FxHashMap<u128, u64> = t.iter().collect();
        assert_eq!(got, want);
        let copy = t.clone();
        assert_eq!(copy.iter().collect::<FxHashMap<_, _>>(), want);
        assert!(ShortCounts::default().is_empty());
    }
}
