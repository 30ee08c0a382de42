//! The merge loop's job queue: (count, pair) jobs, popped by the largest count, then the
//! smallest pair.
//!
//! Why not one `BinaryHeap` (performance notes, 1 MB of English, vocab 8000): its ~20k jobs
//! outgrow the L1 cache, and every pop walked ~15 levels of dependent, unpredictable
//! compares: a sixth of the merge loop. Most jobs have small counts, and those go into one
//! bucket per count instead (a push is a `Vec` push). Buckets are opened from the top down:
//! the jobs of the open count sit in a small heap ordered by pair, larger counts in a heap
//! of their own (few: the early merges). The order is exactly the single heap's.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::vocab::Pair;

/// A heap job: a pair and the count it had when pushed, packed so that one `u128` compare
/// orders jobs: the count in the high half, the complement of `left << 32 | right` in the low
/// half (max count first; on equal counts the smaller pair is "greater", popped first). The
/// struct with a two-field `Ord` spent ~7% of the loop in heap compares on 1 MB.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Job(u128);

impl Job {
    #[inline]
    fn new(count: u64, p: Pair) -> Self {
        Job(u128::from(count) << 64 | u128::from(!pack(p)))
    }
}

#[inline]
fn pack((a, b): Pair) -> u64 {
    u64::from(a) << 32 | u64::from(b)
}

#[inline]
fn unpack(p: u64) -> Pair {
    ((p >> 32) as u32, p as u32)
}

/// Counts below this have buckets.
const BUCKETS: u64 = 4096;

pub(super) struct Queue {
    /// Jobs whose count is above `level` (pushed while it was below their count).
    big: BinaryHeap<Job>,
    /// The open count: its jobs, smallest pair first.
    level: u64,
    open: BinaryHeap<Reverse<u64>>,
    /// `buckets[c]`: packed pairs of the jobs with count `c < level`, in no order.
    buckets: Vec<Vec<u64>>,
}

impl Queue {
    pub(super) fn new() -> Self {
        Queue {
            big: BinaryHeap::new(),
            level: BUCKETS,
            open: BinaryHeap::new(),
            buckets: Vec::new(),
        }
    }

    #[inline]
    pub(super) fn push(&mut self, count: u64, p: Pair) {
        if count > self.level || count >= BUCKETS {
            self.big.push(Job::new(count, p));
        } else if count == self.level {
            self.open.push(Reverse(pack(p)));
        } else {
            let c = count as usize;
            if c >= self.buckets.len() {
                self.buckets.resize_with(c + 1, Vec::new);
            }
            self.buckets[c].push(pack(p));
        }
    }

    /// The job with the largest count, smallest pair first; `None` when empty.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(u64, Pair)> {
        if let Some(Job(j)) = self.big.pop() {
            return Some(((j >> 64) as u64, unpack(!(j as u64))));
        }
        loop {
            if let Some(Reverse(p)) = self.open.pop() {
                return Some((self.level, unpack(p)));
            }
            // open the next lower bucket that holds jobs
            let next = self.buckets[..(self.level as usize).min(self.buckets.len())]
                .iter()
                .rposition(|b| !b.is_empty())?;
            self.level = next as u64;
            let jobs = std::mem::take(&mut self.buckets[next]);
            self.open = jobs.into_iter().map(Reverse).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_the_order_of_one_heap() {
        // pushes interleaved with pops, counts around the bucket limit and equal counts
        let mut q = Queue::new();
        let mut heap: BinaryHeap<Job> = BinaryHeap::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..30_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed % 3 == 0 {
                let want = heap
                    .pop()
                    .map(|Job(j)| ((j >> 64) as u64, unpack(!(j as u64))));
                assert_eq!(q.pop(), want, "step {step}");
            } else {
                let count = (seed >> 20) % (BUCKETS + 50);
                let p = ((seed >> 40) as u32 % 5, (seed >> 50) as u32 % 7);
                q.push(count, p);
                heap.push(Job::new(count, p));
            }
        }
        while let Some(Job(j)) = heap.pop() {
            assert_eq!(q.pop(), Some(((j >> 64) as u64, unpack(!(j as u64)))));
        }
        assert_eq!(q.pop(), None);
    }
}
