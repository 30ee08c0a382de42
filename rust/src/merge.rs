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

use crate::vocab::Model;

/// Words up to this many symbols are merged by scanning; longer ones with rank buckets.
const SCAN_MAX: usize = 48;

const DEAD: u32 = u32::MAX;

/// Applies the model's merges to `symbols` in place: lowest rank first, leftmost on ties.
pub fn merge_by_rank(symbols: &mut Vec<u32>, model: &Model) {
    if symbols.len() < 2 || model.merges().is_empty() {
        return;
    }
    if symbols.len() <= SCAN_MAX {
        merge_scan(symbols, model)
    } else {
        merge_buckets(symbols, model)
    }
}

fn merge_scan(s: &mut Vec<u32>, model: &Model) {
    // The rank and result of each adjacent pair, looked up once and then only next to a merge
    // (rescanning every pair after every merge cost a hash lookup per pair per merge).
    const NO: u32 = u32::MAX;
    let mut n = s.len();
    let (mut rank_buf, mut new_buf) = ([NO; SCAN_MAX], [0u32; SCAN_MAX]);
    let (mut rank_vec, mut new_vec);
    let (rank, new): (&mut [u32], &mut [u32]) = if n <= SCAN_MAX {
        (&mut rank_buf, &mut new_buf)
    } else {
        (rank_vec, new_vec) = (vec![NO; n], vec![0u32; n]); // only direct calls (tests)
        (&mut rank_vec, &mut new_vec)
    };
    let look = |a: u32, b: u32| model.rank((a, b)).unwrap_or((NO, 0));
    for i in 0..n - 1 {
        (rank[i], new[i]) = look(s[i], s[i + 1]);
    }
    loop {
        let (mut best, mut at) = (NO, 0);
        for (i, &r) in rank[..n - 1].iter().enumerate() {
            if r < best {
                (best, at) = (r, i); // strict: the leftmost among equal ranks
            }
        }
        if best == NO {
            break;
        }
        s[at] = new[at];
        s.copy_within(at + 2..n, at + 1);
        if at + 2 < n - 1 {
            rank.copy_within(at + 2..n - 1, at + 1);
            new.copy_within(at + 2..n - 1, at + 1);
        }
        n -= 1;
        if at > 0 {
            (rank[at - 1], new[at - 1]) = look(s[at - 1], s[at]);
        }
        if at + 1 < n {
            (rank[at], new[at]) = look(s[at], s[at + 1]);
        } else {
            rank[at] = NO;
        }
        if n < 2 {
            break;
        }
    }
    s.truncate(n);
}

fn merge_buckets(s: &mut Vec<u32>, model: &Model) {
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
        if let Some((rank, _)) = model.rank((s[i], s[i + 1])) {
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
            let Some((r, new)) = model.rank((left.sym, right.sym)) else {
                continue;
            };
            if r != rank {
                continue; // stale: the pair at i changed
            }
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
                if let Some((r2, _)) = model.rank((nodes[p as usize].sym, new)) {
                    push(&mut buckets, &mut order, r2, p);
                    lower |= r2 <= rank;
                }
            }
            if after < n {
                if let Some((r2, _)) = model.rank((new, nodes[after].sym)) {
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
    s.clear();
    s.extend(nodes.iter().map(|x| x.sym).filter(|&x| x != DEAD));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::WordCounts;
    use crate::train::{train, TrainConfig};

    fn model(texts: &[&str], vocab_size: usize) -> Model {
        let mut wc = WordCounts::new();
        wc.add_texts(texts);
        let cfg = TrainConfig {
            vocab_size,
            min_frequency: 1,
            ..Default::default()
        };
        train(&wc, &cfg, None, None).unwrap()
    }

    #[test]
    fn buckets_equal_scan() {
        let m = model(&["aaaa abab aab aaab baaa ab ba a b abba aabbaabb"], 40);
        let mut state = 12345u64;
        for len in [2usize, 3, 7, 49, 60, 200] {
            for _ in 0..50 {
                let s: Vec<u32> = (0..len)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        m.char_id(if state >> 63 == 0 { 'a' } else { 'b' }).unwrap()
                    })
                    .collect();
                let (mut x, mut y) = (s.clone(), s.clone());
                merge_scan(&mut x, &m);
                merge_buckets(&mut y, &m);
                assert_eq!(x, y);
            }
        }
    }

    #[test]
    fn buckets_equal_scan_with_reused_ids() {
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
                let (mut x, mut y) = (s.clone(), s.clone());
                merge_scan(&mut x, &m);
                merge_buckets(&mut y, &m);
                assert_eq!(x, y, "{s:?}");
            }
        }
    }
}
