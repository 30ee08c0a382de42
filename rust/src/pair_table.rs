//! pair of ids -> (rank, result id), laid out for encoding's cache misses.
//!
//! Why not the model's `FxHashMap` (performance notes): a word missing from the word cache
//! is merged by rank, one pair lookup per symbol and two per merge, and the lookups of a
//! 32k vocabulary fall outside the L1/L2 caches. A `hashbrown` lookup reads a control-byte
//! group and then the entry, two cache lines; here an entry is 8 bytes in one flat array
//! probed linearly, one line per lookup, and [`PairTable::prefetch`] lets the merge request
//! the lines of all of a word's pairs before it reads the first.
//! - A pair is usually settled by its home slot (found there, or the slot is free), and that
//!   case is decided without a branch on the slot's contents; probing on is a cold path. The
//!   slot-by-slot loop mispredicted a branch on many lookups, and misses are most of a cold
//!   encoding's mispredicted branches (about 30 per new word, counted with
//!   `valgrind --tool=callgrind --branch-sim=yes`). A sparser table (an eighth full, 2 MB)
//!   mispredicted less but missed the L2 cache more: slower in a fresh process (perf: the merge
//!   took 1.0x the hit path's samples, against 0.72x at half full).

use crate::huge::ZeroedSlice;
use crate::vocab::Model;

/// Bits of each id and of the rank in a slot: `left << 44 | right << 24 | rank`.
const ID_BITS: u32 = 20;
const RANK_BITS: u32 = 24;
const RANK_MASK: u64 = (1 << RANK_BITS) - 1;
/// A free slot (its rank field is all ones, which no merge has).
const EMPTY: u64 = u64::MAX;

/// A read-only open-addressing copy of a model's merge ranks, 8 bytes a pair.
pub struct PairTable {
    /// `!slot`, so that zeroed memory is free slots.
    slots: ZeroedSlice<u64>,
    /// 64 - log2(slots.len()): the hash's top bits pick the slot.
    shift: u32,
    /// rank -> result id.
    result: Vec<u32>,
    /// The result id of rank 0 when every rank r gives `first + r` (a trained model: then the
    /// result needs no memory access).
    first: Option<u32>,
    /// The rank of each pair of ids below `GRID` (`u32::MAX` for none), 256 KB: a miss starts
    /// with pairs of characters, and most characters have small ids. In fresh processes
    /// (perf) the merge's share against the hit path fell 17% on English and Turkish; an
    /// earlier try, before the hash lookups were made branch-free, showed no gain.
    grid: Vec<u32>,
}

const GRID: usize = 256;

impl PairTable {
    /// The table of `model`, or `None` when its ids or ranks do not fit a slot (vocabularies of
    /// a million tokens and more keep the model's map).
    pub fn new(model: &Model) -> Option<Self> {
        let merges = model.merges();
        // ids below 2^20 - 1: no pair's key has all ones, the key bits of a free slot
        if model.len() >= (1 << ID_BITS) - 1 || merges.len() as u64 >= RANK_MASK {
            return None;
        }
        // at most half full: most pairs sit in their home slot
        let n = (merges.len() * 2).next_power_of_two().max(16);
        let result: Vec<u32> = merges.iter().map(|&(_, id)| id).collect();
        let first = result.first().copied().filter(|&f| {
            (0..result.len()).all(|r| u64::from(result[r]) == u64::from(f) + r as u64)
        });
        let mut t = PairTable {
            // SAFETY: zero is a valid u64
            slots: unsafe { ZeroedSlice::new(n) },
            shift: 64 - n.trailing_zeros(),
            result,
            first,
            grid: vec![u32::MAX; GRID * GRID],
        };
        for (&(a, b), &(rank, _)) in model.ranks() {
            let key = pair_key(a, b);
            let mut i = t.home(key);
            while !t.slots[i] != EMPTY {
                i = (i + 1) & (n - 1);
            }
            t.slots[i] = !((key << RANK_BITS) | u64::from(rank));
            if (a as usize) < GRID && (b as usize) < GRID {
                t.grid[a as usize * GRID + b as usize] = rank;
            }
        }
        Some(t)
    }

    pub fn is_empty(&self) -> bool {
        self.result.is_empty()
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
            let slot: *const u64 = &self.slots[self.home(pair_key(a, b))];
            // SAFETY: a prefetch has no effect on memory or results; `slot` is in bounds.
            unsafe { _mm_prefetch(slot as *const i8, _MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (a, b);
    }

    /// The id that the merge of rank `rank` produces.
    #[inline]
    pub fn result(&self, rank: u32) -> u32 {
        match self.first {
            Some(first) => first + rank,
            None => self.result[rank as usize],
        }
    }

    /// The rank of the merge of `(a, b)`, if there is one (ids of the model).
    #[inline(always)]
    pub fn get(&self, a: u32, b: u32) -> Option<u32> {
        if ((a | b) as usize) < GRID {
            let r = self.grid[a as usize * GRID + b as usize];
            return (r != u32::MAX).then_some(r);
        }
        let key = pair_key(a, b);
        let i = self.home(key);
        let s = !self.slots[i];
        let found = s >> RANK_BITS == key;
        if found | (s == EMPTY) {
            return found.then_some((s & RANK_MASK) as u32);
        }
        self.probe_on(key, i)
    }

    /// `get` past a home slot taken by another pair.
    #[cold]
    #[inline(never)]
    fn probe_on(&self, key: u64, home: usize) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = home;
        loop {
            i = (i + 1) & mask;
            let s = !self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s >> RANK_BITS == key {
                return Some((s & RANK_MASK) as u32);
            }
        }
    }
}

#[inline]
fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << ID_BITS) | u64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::train::train_texts;

    #[test]
    fn same_answers_as_the_map() {
        // 300 letters: merges between small ids (the grid) and large ones (the slots)
        let letters: Vec<char> = (0x100..0x100 + 300).filter_map(char::from_u32).collect();
        let mut text = String::from("the cat sat on the mat; the cats sat on the mats, a tomcat");
        for (k, c) in letters.iter().enumerate() {
            let d = letters[(k * 7 + 3) % letters.len()];
            for _ in 0..1 + k % 3 {
                text.extend([' ', *c, d, *c, 'a']);
            }
        }
        let model = train_texts(&[&text], 900);
        assert!(model.len() > GRID + 100, "{}", model.len());
        let t = PairTable::new(&model).unwrap();
        assert!(!t.is_empty());
        let n = model.len() as u32;
        let (mut small, mut large) = (0, 0);
        for a in 0..n {
            for b in 0..n {
                let expected = model.rank((a, b));
                assert_eq!(t.get(a, b), expected.map(|(r, _)| r), "({a}, {b})");
                if let Some((r, new)) = expected {
                    assert_eq!(t.result(r), new);
                    if ((a | b) as usize) < GRID {
                        small += 1;
                    } else {
                        large += 1;
                    }
                }
            }
        }
        assert!(small > 10 && large > 100, "{small} {large}");
        assert!(t.first.is_some()); // a trained model's results are consecutive
    }
}
