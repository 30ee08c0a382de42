//! One word of the training table: its symbols, merged in place, reporting pair deltas.

use crate::vocab::Pair;

/// A word as a sequence of token ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word {
    pub symbols: Vec<u32>,
}

impl Word {
    pub fn new(symbols: Vec<u32>) -> Self {
        Word { symbols }
    }

    /// Adjacent pairs, left to right (overlapping positions count separately).
    pub fn pairs(&self) -> impl Iterator<Item = Pair> + '_ {
        self.symbols.windows(2).map(|w| (w[0], w[1]))
    }

    /// Replaces every occurrence of `(a, b)` by `new`, left to right and non-overlapping
    /// (`a a a a` -> `aa aa`, `a a a` -> `aa a`), and appends to `deltas` the change of each
    /// affected pair's occurrence count in this word (`-1` removed, `+1` added). Deltas of one
    /// pair may cancel out; the caller sums them.
    pub fn merge(&mut self, a: u32, b: u32, new: u32, deltas: &mut Vec<(Pair, i32)>) {
        let s = &mut self.symbols;
        let n = s.len();
        let (mut r, mut w) = (0, 0); // read and write positions, w <= r
        while r < n {
            if r + 1 < n && s[r] == a && s[r + 1] == b {
                if w > 0 {
                    // s[w - 1] is already final: a plain symbol or an earlier `new`
                    let prev = s[w - 1];
                    deltas.push(((prev, a), -1));
                    deltas.push(((prev, new), 1));
                }
                deltas.push(((a, b), -1));
                if r + 2 < n {
                    let next = s[r + 2];
                    deltas.push(((b, next), -1));
                    deltas.push(((new, next), 1));
                }
                s[w] = new;
                r += 2;
            } else {
                s[w] = s[r];
                r += 1;
            }
            w += 1;
        }
        s.truncate(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    /// Merges and checks that the deltas turn the old pair counts into the new ones.
    fn merged(symbols: &[u32], a: u32, b: u32, new: u32) -> Vec<u32> {
        let mut w = Word::new(symbols.to_vec());
        let mut counts: FxHashMap<Pair, i32> = FxHashMap::default();
        for p in w.pairs() {
            *counts.entry(p).or_default() += 1;
        }
        let mut deltas = vec![];
        w.merge(a, b, new, &mut deltas);
        for (p, d) in deltas {
            *counts.entry(p).or_default() += d;
        }
        counts.retain(|_, c| *c != 0);
        let mut expect: FxHashMap<Pair, i32> = FxHashMap::default();
        for p in w.pairs() {
            *expect.entry(p).or_default() += 1;
        }
        assert_eq!(counts, expect, "deltas wrong for {symbols:?}");
        w.symbols
    }

    #[test]
    fn empty_and_one_symbol() {
        assert_eq!(merged(&[], 1, 2, 9), Vec::<u32>::new());
        assert_eq!(merged(&[1], 1, 2, 9), [1]);
    }

    #[test]
    fn overlapping() {
        assert_eq!(merged(&[1, 1, 1, 1], 1, 1, 9), [9, 9]);
        assert_eq!(merged(&[1, 1, 1], 1, 1, 9), [9, 1]);
        assert_eq!(merged(&[2, 1, 1, 1, 1, 1, 2], 1, 1, 9), [2, 9, 9, 1, 2]);
    }

    #[test]
    fn alternating_and_chained() {
        assert_eq!(merged(&[1, 2, 1, 2], 1, 2, 9), [9, 9]);
        assert_eq!(merged(&[3, 1, 2, 4, 1, 2], 1, 2, 9), [3, 9, 4, 9]);
        let once = merged(&[1, 2, 3, 1, 2, 3], 1, 2, 9);
        assert_eq!(merged(&once, 9, 3, 10), [10, 10]);
        assert_eq!(merged(&[1, 3, 2], 1, 2, 9), [1, 3, 2]);
    }
}
