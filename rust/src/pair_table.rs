//! pair of ids -> (rank, result id), laid out for encoding's cache misses.
//!
//! Why not the model's `FxHashMap` (performance notes): a word missing from the word cache
//! is merged by rank, one pair lookup per symbol and two per merge, and the lookups of a
//! 32k vocabulary fall outside the L1/L2 caches. A `hashbrown` lookup reads a control-byte
//! group and then the entry, two cache lines; here an entry is 16 bytes in one flat array
//! probed linearly, one line per lookup, and [`PairTable::prefetch`] lets the merge request
//! the lines of all of a word's pairs before it reads the first.

use rustc_hash::FxHashMap;

use crate::vocab::Pair;

const EMPTY: u64 = u64::MAX;

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    /// `left << 32 | right`; `EMPTY` for a free slot (no pair of real ids packs to it).
    key: u64,
    rank: u32,
    new: u32,
}

/// A read-only open-addressing copy of a model's merge ranks.
pub struct PairTable {
    slots: Vec<Slot>,
    /// 64 - log2(slots.len()): the hash's top bits pick the slot.
    shift: u32,
}

#[inline]
fn pack(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

impl PairTable {
    pub fn new(ranks: &FxHashMap<Pair, (u32, u32)>) -> Self {
        // at most half full: short probes
        let n = (ranks.len() * 2).next_power_of_two().max(16);
        let mut t = PairTable {
            slots: vec![
                Slot {
                    key: EMPTY,
                    rank: 0,
                    new: 0
                };
                n
            ],
            shift: 64 - n.trailing_zeros(),
        };
        let mask = n - 1;
        for (&(a, b), &(rank, new)) in ranks {
            let key = pack(a, b);
            let mut i = t.home(key);
            while t.slots[i].key != EMPTY {
                i = (i + 1) & mask;
            }
            t.slots[i] = Slot { key, rank, new };
        }
        t
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.key == EMPTY)
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Asks the CPU to fetch the line where the pair would be (a hint; no effect on results).
    #[inline]
    pub fn prefetch(&self, a: u32, b: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let slot: *const Slot = &self.slots[self.home(pack(a, b))];
            // SAFETY: a prefetch has no effect on memory or results; `slot` is in bounds.
            unsafe { _mm_prefetch(slot as *const i8, _MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (a, b);
    }

    /// The rank and result id of the merge of `(a, b)`, if there is one.
    #[inline]
    pub fn get(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        let key = pack(a, b);
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let s = self.slots[i];
            if s.key == EMPTY {
                return None;
            }
            if s.key == key {
                return Some((s.rank, s.new));
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_answers_as_the_map() {
        let mut ranks: FxHashMap<Pair, (u32, u32)> = FxHashMap::default();
        let mut state = 99u64;
        for r in 0..5000u32 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            ranks
                .entry(((state >> 40) as u32 % 300, (state >> 20) as u32 % 300))
                .or_insert((r, 1000 + r));
        }
        let t = PairTable::new(&ranks);
        for a in 0..300 {
            for b in 0..300 {
                assert_eq!(t.get(a, b), ranks.get(&(a, b)).copied(), "({a}, {b})");
            }
        }
        assert_eq!(t.get(u32::MAX - 1, u32::MAX), None);
        assert!(PairTable::new(&FxHashMap::default()).is_empty());
    }
}
