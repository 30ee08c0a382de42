//! Pair statistics over the word-frequency table, counted in parallel.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::vocab::Pair;
use crate::word::Word;

/// Words per rayon task: large enough that merging the per-task maps stays cheap.
const WORDS_PER_TASK: usize = 4096;

/// For every adjacent pair, the sum of the counts of the words it occurs in, once per
/// position (`"aaa"` gives `(a, a)` twice its word's count).
pub fn get_stats(words: &[Word], counts: &[u64]) -> FxHashMap<Pair, u64> {
    words
        .par_chunks(WORDS_PER_TASK)
        .zip(counts.par_chunks(WORDS_PER_TASK))
        .fold(FxHashMap::default, |mut acc, (ws, cs)| {
            for (w, &c) in ws.iter().zip(cs) {
                for p in w.pairs() {
                    *acc.entry(p).or_insert(0) += c;
                }
            }
            acc
        })
        .reduce(FxHashMap::default, merge_counts)
}

/// Pair counts plus, for each pair, the (ascending) indices of the words that contain it.
pub fn index_pairs(
    words: &[Word],
    counts: &[u64],
) -> (FxHashMap<Pair, u64>, FxHashMap<Pair, Vec<u32>>) {
    let per_task: Vec<_> = words
        .par_chunks(WORDS_PER_TASK)
        .enumerate()
        .map(|(t, ws)| {
            let base = t * WORDS_PER_TASK;
            let mut cnt: FxHashMap<Pair, u64> = FxHashMap::default();
            let mut at: FxHashMap<Pair, Vec<u32>> = FxHashMap::default();
            for (j, w) in ws.iter().enumerate() {
                let i = (base + j) as u32;
                for p in w.pairs() {
                    *cnt.entry(p).or_insert(0) += counts[i as usize];
                    let v = at.entry(p).or_default();
                    if v.last() != Some(&i) {
                        v.push(i);
                    }
                }
            }
            (cnt, at)
        })
        .collect();
    // Merged in task order, so every index list stays sorted.
    let mut counts_all: FxHashMap<Pair, u64> = FxHashMap::default();
    let mut where_all: FxHashMap<Pair, Vec<u32>> = FxHashMap::default();
    for (cnt, at) in per_task {
        counts_all = merge_counts(counts_all, cnt);
        for (p, v) in at {
            where_all.entry(p).or_default().extend(v);
        }
    }
    (counts_all, where_all)
}

fn merge_counts(a: FxHashMap<Pair, u64>, b: FxHashMap<Pair, u64>) -> FxHashMap<Pair, u64> {
    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (p, c) in small {
        *big.entry(p).or_insert(0) += c;
    }
    big
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_weighted_and_overlapping() {
        let words = vec![
            Word::new(vec![1, 1, 1]),
            Word::new(vec![1, 2]),
            Word::new(vec![]),
        ];
        let stats = get_stats(&words, &[3, 5, 7]);
        assert_eq!(stats[&(1, 1)], 6);
        assert_eq!(stats[&(1, 2)], 5);
        assert_eq!(stats.len(), 2);
        let (c, at) = index_pairs(&words, &[3, 5, 7]);
        assert_eq!(c, stats);
        assert_eq!(at[&(1, 1)], [0]);
        assert_eq!(at[&(1, 2)], [1]);
    }

    #[test]
    fn many_words_parallel() {
        let words: Vec<Word> = (0..10_000u32).map(|i| Word::new(vec![i % 3, 7])).collect();
        let counts = vec![2u64; 10_000];
        let stats = get_stats(&words, &counts);
        assert_eq!(stats[&(0, 7)], 2 * 3334);
        let (_, at) = index_pairs(&words, &counts);
        assert!(at[&(1, 7)].windows(2).all(|w| w[0] < w[1]));
    }
}
