//! Applying learned merges to one word's symbols (docs/tokenizer.md section 5, step 4):
//! repeatedly merge the adjacent pair with the lowest rank, the leftmost among equals.
//!
//! Why two paths (performance notes):
//! - Short words (the vast majority) use a plain scan for the lowest-rank
//!   pair, which beats any structure at that size. Long words use rank buckets over a linked
//!   list of symbols: a min-heap of the *ranks* present and, per rank, its positions, sorted
//!   once and merged left to right. A merge's new pairs have higher ranks (their token did not
//!   exist before), so each rank is visited once and a 100,000-character run without spaces
//!   stays near-linear (tiktoken's loop is quadratic). A first try, a min-heap of every
//!   (rank, position), was O(n log n) with cache misses on each pop: 13-20x slower for 10x
//!   longer input, near the 40x limit of the linearity test under load. Both paths give the
//!   same result: lowest rank first, leftmost on equal rank.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::pair_table::PairTable;
use crate::vocab::Model;

/// The merges of a model: the rank of a pair of ids, and the id a rank produces (the model's
/// map, or encoding's [`PairTable`]). Ranks are looked up for every pair, results only for
/// the merges made.
pub trait Ranks {
    fn rank(&self, a: u32, b: u32) -> Option<u32>;
    fn result(&self, rank: u32) -> u32;
    /// A hint that `rank(a, b)` is asked soon.
    #[inline]
    fn prefetch(&self, _a: u32, _b: u32) {}
    fn is_empty(&self) -> bool;
}

impl Ranks for Model {
    #[inline]
    fn rank(&self, a: u32, b: u32) -> Option<u32> {
        Model::rank(self, (a, b)).map(|(rank, _)| rank)
    }

    #[inline]
    fn result(&self, rank: u32) -> u32 {
        self.merges()[rank as usize].1
    }

    fn is_empty(&self) -> bool {
        self.merges().is_empty()
    }
}

impl Ranks for PairTable {
    #[inline(always)]
    fn rank(&self, a: u32, b: u32) -> Option<u32> {
        self.get(a, b)
    }

    #[inline]
    fn result(&self, rank: u32) -> u32 {
        PairTable::result(self, rank)
    }

    #[inline]
    fn prefetch(&self, a: u32, b: u32) {
        PairTable::prefetch(self, a, b)
    }

    fn is_empty(&self) -> bool {
        PairTable::is_empty(self)
    }
}

/// Words up to this many symbols are merged by scanning; longer ones with rank buckets.
const SCAN_MAX: usize = 48;

const DEAD: u32 = u32::MAX;

/// Applies the model's merges to `symbols` in place: lowest rank first, leftmost on ties.
pub fn merge_by_rank(symbols: &mut Vec<u32>, model: &Model) {
    merge_tail(symbols, 0, model);
}

/// [`merge_by_rank`] on `symbols[from..]` only (the encoder builds a word at the end of its
/// output, which saves a buffer per word).
pub fn merge_tail(symbols: &mut Vec<u32>, from: usize, model: &impl Ranks) {
    let s = &mut symbols[from..];
    if s.len() < 2 || model.is_empty() {
        return;
    }
    let n = if s.len() <= SCAN_MAX {
        merge_scan(s, model)
    } else {
        merge_buckets(s, model)
    };
    symbols.truncate(from + n);
}

/// Merges a short word (at most `SCAN_MAX` symbols); returns its new length.
fn merge_scan(s: &mut [u32], model: &impl Ranks) -> usize {
    // The rank and result of the pair at each live position, looked up once and then only
    // next to a merge (rescanning every pair after every merge cost a hash lookup per pair per
    // merge). Merged-away positions stay in place, unlinked: shifting the arrays after each
    // merge cost three `memmove` calls per merge.
    const NO: u32 = u32::MAX;
    let n = s.len();
    let mut rank = [NO; SCAN_MAX];
    let (mut next, mut prev) = ([0u8; SCAN_MAX], [0u8; SCAN_MAX]);
    for i in 0..n {
        (next[i], prev[i]) = (i as u8 + 1, (i as u8).wrapping_sub(1));
    }
    let look = |a: u32, b: u32| model.rank(a, b).unwrap_or(NO);
    for i in 0..n - 1 {
        model.prefetch(s[i], s[i + 1]);
    }
    for i in 0..n - 1 {
        rank[i] = look(s[i], s[i + 1]);
    }
    let mut live = n;
    while live > 1 {
        let (mut best, mut at) = (NO, 0);
        for (i, &r) in rank[..n - 1].iter().enumerate() {
            if r < best {
                (best, at) = (r, i); // strict: the leftmost among equal ranks
            }
        }
        if best == NO {
            break;
        }
        // `at` takes the merged symbol; its right neighbour `j` is unlinked (position 0 is
        // never a right neighbour, so it stays live)
        let j = next[at] as usize;
        s[at] = model.result(best);
        rank[j] = NO;
        let after = next[j] as usize;
        next[at] = after as u8;
        if after < n {
            prev[after] = at as u8;
            rank[at] = look(s[at], s[after]);
        } else {
            rank[at] = NO;
        }
        if at > 0 {
            let p = prev[at] as usize;
            rank[p] = look(s[p], s[at]);
        }
        live -= 1;
    }
    let (mut k, mut i) = (0, 0);
    while i < n {
        s[k] = s[i];
        k += 1;
        i = next[i] as usize;
    }
    k
}

/// Merges a long word; returns its new length.
fn merge_buckets(s: &mut [u32], model: &impl Ranks) -> usize {
    // One 12-byte node per symbol (symbol and both links side by side) and u32 positions keep
    // the working set small: cache misses dominate long runs.
    #[derive(Clone, Copy)]
    struct Node {
        sym: u32,
        next: u32, // n = end
        prev: u32, // NONE = start
    }
    const NONE: u32 = u32::MAX;
    let n = s.len();
    let mut nodes: Vec<Node> = (0..n)
        .map(|i| Node {
            sym: s[i],
            next: i as u32 + 1,
            prev: (i as u32).wrapping_sub(1),
        })
        .collect();
    // rank -> left positions of pairs with that rank (may be stale); a min-heap of the ranks
    let mut buckets: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    let mut order: BinaryHeap<Reverse<u32>> = BinaryHeap::new();
    fn push(
        buckets: &mut FxHashMap<u32, Vec<u32>>,
        order: &mut BinaryHeap<Reverse<u32>>,
        rank: u32,
        i: u32,
    ) {
        let b = buckets.entry(rank).or_default();
        if b.is_empty() {
            order.push(Reverse(rank));
        }
        b.push(i);
    }
    for i in 0..n - 1 {
        if let Some(rank) = model.rank(s[i], s[i + 1]) {
            push(&mut buckets, &mut order, rank, i as u32);
        }
    }
    while let Some(Reverse(rank)) = order.pop() {
        let Some(mut pos) = buckets.remove(&rank) else {
            continue;
        };
        pos.sort_unstable();
        let mut k = 0;
        while k < pos.len() {
            let i = pos[k] as usize;
            k += 1;
            let left = nodes[i];
            let j = left.next as usize;
            if left.sym == DEAD || j >= n {
                continue;
            }
            let right = nodes[j];
            if model.rank(left.sym, right.sym) != Some(rank) {
                continue; // stale: the pair at i changed
            }
            let new = model.result(rank);
            nodes[i].sym = new;
            nodes[i].next = right.next;
            nodes[j].sym = DEAD;
            let after = right.next as usize;
            if after < n {
                nodes[after].prev = i as u32;
            }
            let mut lower = false; // a new pair that must go before the rest of this rank
            let p = left.prev;
            if p != NONE {
                if let Some(r2) = model.rank(nodes[p as usize].sym, new) {
                    push(&mut buckets, &mut order, r2, p);
                    lower |= r2 <= rank;
                }
            }
            if after < n {
                if let Some(r2) = model.rank(new, nodes[after].sym) {
                    push(&mut buckets, &mut order, r2, i as u32);
                    lower |= r2 <= rank;
                }
            }
            if lower {
                // only with reused ids: finish the lower rank first, then come back
                for &rest in &pos[k..] {
                    push(&mut buckets, &mut order, rank, rest);
                }
                break;
            }
        }
    }
    let mut k = 0;
    for x in nodes.iter().map(|x| x.sym).filter(|&x| x != DEAD) {
        s[k] = x;
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::train_texts;

    /// The plain, obviously right loop: lowest rank first, leftmost on ties; checked against
    /// the scan too where the scan applies.
    fn plain(s: &[u32], m: &Model) -> Vec<u32> {
        let mut v = s.to_vec();
        loop {
            let best = (0..v.len().saturating_sub(1))
                .filter_map(|i| m.rank((v[i], v[i + 1])).map(|(r, new)| (r, i, new)))
                .min();
            let Some((_, i, new)) = best else { break };
            v[i] = new;
            v.remove(i + 1);
        }
        if s.len() <= SCAN_MAX {
            let mut w = s.to_vec();
            let k = merge_scan(&mut w, m);
            assert_eq!(w[..k], v[..], "scan vs the plain loop on {s:?}");
        }
        v
    }

    fn buckets(s: &[u32], m: &Model) -> Vec<u32> {
        let mut w = s.to_vec();
        let k = merge_buckets(&mut w, m);
        w.truncate(k);
        w
    }

    #[test]
    fn buckets_and_scan_equal_the_plain_loop() {
        let m = train_texts(&["aaaa abab aab aaab baaa ab ba a b abba aabbaabb"], 40);
        let mut state = 12345u64;
        for len in [2usize, 3, 7, 49, 60, 200] {
            for _ in 0..50 {
                let s: Vec<u32> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        m.char_id(if state >> 63 == 0 { 'a' } else { 'b' }).unwrap()
                    })
                    .collect();
                assert_eq!(plain(&s, &m), buckets(&s, &m));
            }
        }
    }

    /// A model's ranks, counting the lookups (the merge's unit of work).
    struct Counted<'a>(&'a Model, std::cell::Cell<u64>);

    impl Ranks for Counted<'_> {
        fn rank(&self, a: u32, b: u32) -> Option<u32> {
            self.1.set(self.1.get() + 1);
            Ranks::rank(self.0, a, b)
        }
        fn result(&self, rank: u32) -> u32 {
            Ranks::result(self.0, rank)
        }
        fn is_empty(&self) -> bool {
            Ranks::is_empty(self.0)
        }
    }

    #[test]
    fn long_runs_take_linear_work() {
        // Runs of one unit without spaces are the worst case of a merge loop that rescans
        // after each merge (tiktoken's is quadratic there). Counted in rank lookups, not in
        // time: 10x the input must take about 10x the lookups (quadratic would be ~100x).
        for unit in ["a", "ab", "aab"] {
            let m = train_texts(&[&unit.repeat(4096), &unit.repeat(3)], 60);
            assert!(m.merges().len() >= 10, "{unit}: too few merges to test");
            let ids: Vec<u32> = unit.chars().map(|c| m.char_id(c).unwrap()).collect();
            let lookups = |n: usize| {
                let mut s: Vec<u32> = ids.iter().copied().cycle().take(n).collect();
                let counted = Counted(&m, std::cell::Cell::new(0));
                merge_tail(&mut s, 0, &counted);
                let mut want: Vec<u32> = ids.iter().copied().cycle().take(n).collect();
                merge_by_rank(&mut want, &m);
                assert_eq!(s, want);
                counted.1.get()
            };
            let (small, large) = (lookups(10_000), lookups(100_000));
            assert!(
                large <= 12 * small,
                "{unit}: {small} -> {large} lookups for 10x input"
            );
            assert!(
                large <= 5 * 100_000,
                "{unit}: {large} lookups for 100k symbols"
            );
        }
    }

    #[test]
    fn equal_with_reused_ids() {
        // (a, bc) gives "abc" again: pairs with the reused id can rank below the current one
        let mut m = Model::new(&["[UNK]".to_string()], false).unwrap();
        let (a, b, c) = (
            m.add_token("a".into()),
            m.add_token("b".into()),
            m.add_token("c".into()),
        );
        let ab = m.add_merge((a, b));
        let abc = m.add_merge((ab, c));
        let abca = m.add_merge((abc, a));
        let bc = m.add_merge((b, c));
        m.add_merge((a, bc));
        m.add_merge((abca, bc));
        m.add_merge((c, c));
        let mut state = 7u64;
        for len in [49usize, 80, 300] {
            for _ in 0..300 {
                let s: Vec<u32> = (0..len)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        [a, b, c][(state >> 33) as usize % 3]
                    })
                    .collect();
                assert_eq!(plain(&s, &m), buckets(&s, &m), "{s:?}");
            }
        }
    }
}
