//! pair of ids -> (rank, result id), laid out for encoding's cache misses.
//!
//! Why not the model's `FxHashMap` (performance notes): a word missing from the word cache
//! is merged by rank, one pair lookup per symbol and two per merge, and the lookups of a
//! 32k vocabulary fall outside the L1/L2 caches. A `hashbrown` lookup reads a control-byte
//! group and then the entry, two cache lines; here a pair is 8 bytes in a bucket of 8 that
//! fills one cache line, so a lookup reads one line, and [`PairTable::prefetch`] lets the
//! merge request the lines of all of a word's pairs before it reads the first.
//! - A lookup compares all 8 slots of its home bucket without a branch, and is settled there
//!   (found, or the bucket has a free slot) unless the bucket overflowed, which few do at
//!   half full. Misses are most of a cold encoding's mispredicted branches: with one pair per
//!   home slot, 40% of the lookups that reached the table found another pair there and went
//!   on probing slot by slot, a mispredicted branch each (counted on the distinct words of
//!   20 MB of English). Buckets took a new word's merge from 244 to 198 ns, and a cold
//!   encoding of 20 MB of English 5% faster (medians of 40 alternated runs each way).
//! - A sparser table (an eighth full, 2 MB) mispredicted less but missed the L2 cache more:
//!   slower in a fresh process (perf: the merge took 1.0x the hit path's samples, against
//!   0.72x at half full).

use crate::huge::ZeroedSlice;
use crate::vocab::Model;

/// Bits of each id and of the rank in a slot: `left << 44 | right << 24 | rank`.
const ID_BITS: u32 = 20;
const RANK_BITS: u32 = 24;
const RANK_MASK: u64 = (1 << RANK_BITS) - 1;
/// A free slot (its rank field is all ones, which no merge has).
const EMPTY: u64 = u64::MAX;
/// Slots of a bucket: one cache line.
const WAYS: usize = 8;
/// No rank (ranks are below `1 << RANK_BITS`).
const NO_RANK: u32 = u32::MAX;

/// Slots (`!slot`, so that zeroed memory is free) filled from the first: a free last slot
/// means the bucket never overflowed.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket([u64; WAYS]);

impl Bucket {
    /// Its last slot is free: no pair was ever pushed past it, so a pair not found here is in
    /// no bucket.
    #[inline(always)]
    fn never_overflowed(&self) -> bool {
        !self.0[WAYS - 1] == EMPTY
    }
}

/// A read-only open-addressing copy of a model's merge ranks, 8 bytes a pair.
pub struct PairTable {
    buckets: ZeroedSlice<Bucket>,
    /// 64 - log2(buckets.len()): the hash's top bits pick the bucket.
    shift: u32,
    /// rank -> result id.
    result: Vec<u32>,
    /// The result id of rank 0 when every rank r gives `first + r` (a trained model: then the
    /// result needs no memory access).
    first: Option<u32>,
    /// The rank of each pair of ids below `GRID` (`NO_RANK` for none), 256 KB: a miss starts
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
        // at most half full: 4 pairs a bucket on average, and few buckets of more than 8
        Some(Self::with_buckets(
            model,
            (merges.len() * 2).next_power_of_two() / WAYS,
        ))
    }

    /// The table of `model` in `n` buckets (a power of two with more slots than merges: a
    /// lookup of an absent pair stops at a bucket whose last slot is free, so one must be).
    fn with_buckets(model: &Model, n: usize) -> Self {
        let merges = model.merges();
        let n = n.max(2); // one bucket would shift the hash by 64
        assert!(n.is_power_of_two() && n * WAYS > merges.len());
        let result: Vec<u32> = merges.iter().map(|&(_, id)| id).collect();
        let first = result.first().copied().filter(|&f| {
            (0..result.len()).all(|r| u64::from(result[r]) == u64::from(f) + r as u64)
        });
        let mut t = PairTable {
            // SAFETY: zero bytes are a bucket of free slots
            buckets: unsafe { ZeroedSlice::new(n) },
            shift: 64 - n.trailing_zeros(),
            result,
            first,
            grid: vec![NO_RANK; GRID * GRID],
        };
        for (&(a, b), &(rank, _)) in model.ranks() {
            let key = pair_key(a, b);
            let mut i = t.home(key);
            loop {
                if let Some(slot) = t.buckets[i].0.iter_mut().find(|s| !**s == EMPTY) {
                    *slot = !((key << RANK_BITS) | u64::from(rank));
                    break;
                }
                i = (i + 1) & (n - 1);
            }
            if (a as usize) < GRID && (b as usize) < GRID {
                t.grid[a as usize * GRID + b as usize] = rank;
            }
        }
        t
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
            let line: *const Bucket = &self.buckets[self.home(pair_key(a, b))];
            // SAFETY: a prefetch has no effect on memory or results; `line` is in bounds.
            unsafe { _mm_prefetch(line as *const i8, _MM_HINT_T0) };
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
            return (r != NO_RANK).then_some(r);
        }
        let key = pair_key(a, b);
        let i = self.home(key);
        let bucket = &self.buckets[i];
        let rank = find(bucket, key);
        if (rank != NO_RANK) | bucket.never_overflowed() {
            return (rank != NO_RANK).then_some(rank);
        }
        self.probe_on(key, i)
    }

    /// `get` past a full home bucket.
    #[cold]
    #[inline(never)]
    fn probe_on(&self, key: u64, home: usize) -> Option<u32> {
        let mask = self.buckets.len() - 1;
        let mut i = home;
        loop {
            i = (i + 1) & mask;
            let bucket = &self.buckets[i];
            let rank = find(bucket, key);
            if rank != NO_RANK {
                return Some(rank);
            }
            if bucket.never_overflowed() {
                return None;
            }
        }
    }
}

/// The rank stored with `key` in `bucket`, or `NO_RANK`: every slot compared, no branch.
#[inline(always)]
fn find(bucket: &Bucket, key: u64) -> u32 {
    bucket.0.iter().fold(NO_RANK, |found, &s| {
        let s = !s;
        if s >> RANK_BITS == key {
            (s & RANK_MASK) as u32
        } else {
            found
        }
    })
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
        assert_same_answers(&t, &model);
        assert!(t.first.is_some()); // a trained model's results are consecutive
    }

    #[test]
    fn crowded_buckets_still_answer_every_pair() {
        // 1000 merges of pseudo-random pairs in 128 buckets (98% full): many pairs only fit
        // past their home bucket, some past the last one (found again from the first)
        let mut model = Model::new(&["[UNK]".to_string()], false).unwrap();
        for c in 'a'..='z' {
            model.add_token(c.into());
        }
        let mut state = 99u64;
        while model.merges().len() < 1000 {
            let mut pick = || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 33) as u32 % model.len() as u32
            };
            let pair = (pick(), pick());
            if pair.0 != 0 && pair.1 != 0 && model.rank(pair).is_none() {
                model.add_merge(pair);
            }
        }
        assert!(model.len() > GRID);
        let t = PairTable::with_buckets(&model, 128);
        let moved = |key: u64| find(&t.buckets[t.home(key)], key) == NO_RANK;
        let past: Vec<u64> = model
            .ranks()
            .keys()
            .map(|&(a, b)| pair_key(a, b))
            .filter(|&k| moved(k))
            .collect();
        assert!(past.len() >= 100, "{} pairs past their home", past.len());
        assert!(
            past.iter()
                .any(|&k| t.home(k) > 64 && t.buckets[..8].iter().any(|b| find(b, k) != NO_RANK)),
            "no pair wrapped around"
        );
        assert_same_answers(&t, &model);
    }

    /// Every pair of ids of `model` gets the model's rank and result from `t`.
    fn assert_same_answers(t: &PairTable, model: &Model) {
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
    }
}
