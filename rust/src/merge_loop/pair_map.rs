//! The merge loop's pair table: pair -> [`Slot`] (count and word list), open addressing.
//!
//! Why not `FxHashMap` (performance notes, 1 MB of English, vocab 8000, a fresh process):
//! the table grows from ~2k pairs to ~30k, every changed pair costs a lookup, and a reserved
//! `HashMap` was a malloc'd block of several MB whose first touches were ~800 page faults
//! (~1.5 ms of a ~30 ms training) plus a rehash. Here the table is zeroed memory mapped for
//! huge pages ([`ZeroedSlice`]), sized once from the expected number of pairs; a lookup is
//! one multiply and a short linear probe over 32-byte entries (no control-byte groups), and
//! a removal shifts the probe run back (no tombstones, so lookups stay short as pairs come
//! and go).

use crate::huge::ZeroedSlice;
use crate::vocab::Pair;

/// A pair's count and its word list, `pool[off..off + len]` of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slot {
    pub count: i64,
    pub off: usize,
    pub len: u32,
}

/// `key` is the packed pair plus one; 0 marks an empty entry (all-zero memory is empty).
#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    slot: Slot,
}

pub(super) struct PairMap {
    table: ZeroedSlice<Entry>,
    /// `64 - log2(table.len())`: the home of a key is the top bits of its hash.
    shift: u32,
    len: usize,
}

#[inline]
fn key((a, b): Pair) -> u64 {
    // ids are below u32::MAX, so (u32::MAX, u32::MAX) never occurs and +1 never wraps
    (u64::from(a) << 32 | u64::from(b)) + 1
}

#[inline]
fn pair(key: u64) -> Pair {
    let k = key - 1;
    ((k >> 32) as u32, k as u32)
}

impl PairMap {
    /// A table for about `expected` pairs (it doubles if more come).
    pub(super) fn with_capacity(expected: usize) -> Self {
        // at most 3/4 full (short probes); on English 1.5x the expected pairs sized the table
        // of 5 MB at 4 MB, where 2x (8 MB) was no faster
        let n = (expected.max(8) * 3 / 2).next_power_of_two();
        PairMap {
            // SAFETY: all-zero bytes are an empty `Entry` (integers only)
            table: unsafe { ZeroedSlice::new(n) },
            shift: 64 - n.trailing_zeros(),
            len: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The index of `key`'s entry, or of the empty entry that ends its probe run.
    #[inline]
    fn find(&self, key: u64) -> usize {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let k = self.table[i].key;
            if k == key || k == 0 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the cache for the entry where a lookup of `p` starts (a hint).
    #[inline]
    pub(super) fn prefetch(&self, p: Pair) {
        #[cfg(target_arch = "x86_64")]
        {
            let e: *const Entry = &self.table[self.home(key(p))];
            // SAFETY: a prefetch is a hint; it never faults.
            unsafe { std::arch::x86_64::_mm_prefetch(e.cast(), std::arch::x86_64::_MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    #[inline]
    pub(super) fn get(&self, p: Pair) -> Option<&Slot> {
        let e = &self.table[self.find(key(p))];
        (e.key != 0).then_some(&e.slot)
    }

    /// The slot of `p`, inserting `new` first if `p` is absent (`true` then).
    /// Always inlined: as a call (four call sites) its prologue, epilogue and returned pair
    /// were ~17 instructions of ~55 per lookup.
    #[inline(always)]
    pub(super) fn get_or_insert(&mut self, p: Pair, new: Slot) -> (&mut Slot, bool) {
        let k = key(p);
        let mut i = self.find(k);
        let inserted = self.table[i].key == 0;
        if inserted {
            if (self.len + 1) * 4 > self.table.len() * 3 {
                self.grow();
                i = self.find(k);
            }
            self.table[i] = Entry { key: k, slot: new };
            self.len += 1;
        }
        (&mut self.table[i].slot, inserted)
    }

    /// Removes `p` if `doomed` says so of its slot; returns the slot removed.
    #[inline]
    pub(super) fn remove_if(
        &mut self,
        p: Pair,
        doomed: impl FnOnce(&Slot) -> bool,
    ) -> Option<Slot> {
        let i = self.find(key(p));
        let e = self.table[i];
        if e.key == 0 || !doomed(&e.slot) {
            return None;
        }
        self.remove_at(i);
        Some(e.slot)
    }

    pub(super) fn remove(&mut self, p: Pair) -> Option<Slot> {
        self.remove_if(p, |_| true)
    }

    /// Empties entry `i` and moves later entries of the probe run back into the gap, so
    /// that every entry stays reachable from its home without tombstones.
    fn remove_at(&mut self, mut i: usize) {
        let mask = self.mask();
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let k = self.table[j].key;
            if k == 0 {
                break;
            }
            // entry j may move to i unless its home lies cyclically in (i, j]
            let h = self.home(k);
            if (j.wrapping_sub(h) & mask) >= (j.wrapping_sub(i) & mask) {
                self.table[i] = self.table[j];
                i = j;
            }
        }
        self.table[i].key = 0;
        self.len -= 1;
    }

    /// Twice the entries, everything re-placed.
    fn grow(&mut self) {
        let mut bigger = PairMap::with_capacity(self.table.len());
        for e in self.table.iter().filter(|e| e.key != 0) {
            let i = bigger.find(e.key);
            bigger.table[i] = *e;
        }
        bigger.len = self.len;
        *self = bigger;
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (Pair, &Slot)> {
        self.table
            .iter()
            .filter(|e| e.key != 0)
            .map(|e| (pair(e.key), &e.slot))
    }

    pub(super) fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.table
            .iter_mut()
            .filter(|e| e.key != 0)
            .map(|e| &mut e.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    fn slot(count: i64) -> Slot {
        Slot {
            count,
            off: 0,
            len: 0,
        }
    }

    #[test]
    fn matches_a_hash_map_under_inserts_and_removals() {
        // a tiny table: it grows, and removals shift long probe runs
        let mut m = PairMap::with_capacity(1);
        let mut want: FxHashMap<Pair, i64> = FxHashMap::default();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let p = ((seed % 37) as u32, (seed >> 8) as u32 % 41);
            if seed % 3 == 0 {
                let got = m.remove(p).map(|s| s.count);
                assert_eq!(got, want.remove(&p), "step {step}");
            } else {
                let (s, new) = m.get_or_insert(p, slot(0));
                assert_eq!(new, !want.contains_key(&p));
                s.count += 1;
                *want.entry(p).or_insert(0) += 1;
            }
            assert_eq!(m.len(), want.len());
        }
        for (p, &c) in &want {
            assert_eq!(m.get(*p).map(|s| s.count), Some(c));
        }
        let mut seen: Vec<(Pair, i64)> = m.iter().map(|(p, s)| (p, s.count)).collect();
        seen.sort_unstable();
        let mut expect: Vec<(Pair, i64)> = want.into_iter().collect();
        expect.sort_unstable();
        assert_eq!(seen, expect);
        let (p, c) = *expect.first().expect("some pairs are left");
        assert!(m.remove_if(p, |s| s.count != c).is_none());
        assert_eq!(m.remove_if(p, |s| s.count == c).map(|s| s.count), Some(c));
        assert!(m.get(p).is_none());
    }
}
