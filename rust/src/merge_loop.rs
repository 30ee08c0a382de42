//! The merge loop (docs/tokenizer.md section 4) over a flat word arena.
//!
//! Why it is built this way (performance notes; profiled on 90 MB of English, 32k merges):
//! - The time goes into visiting the words that hold the merged pair. With one `Vec` per
//!   word every visit is a pointer chase to a cold allocation; here all words live in one
//!   arena (`syms`, with `start`/`len` per word), and the word indices of a pair are visited
//!   in ascending order, so the memory is walked forward and the prefetcher keeps up.
//! - The pair-count changes of one merge are summed per neighbouring symbol in two dense
//!   arrays (`Side`: `(x, a)` loses what `(x, new)` gains, `(b, y)` what `(new, y)` gains) and
//!   applied to the pair table once per distinct neighbour, instead of a hash-map entry per
//!   occurrence.
//! - Pairs that grow all contain the new token, so their word lists are built fresh during
//!   the merge (already ascending and without repeats) and appended to the index's pool.
//! - Counts and word lists share one table, the lists one pool (`Index`): no allocation per
//!   pair. On 1-5 MB (the pure-Python reference comparison) these three cut training ~1.5x.
//! - A max-queue of jobs with lazy refresh, as before (`queue.rs`: buckets by count below a
//!   heap): every pair with a positive count has a job whose count is at least the current
//!   one; a popped job whose count is out of date is pushed back with the current count.
//!   Ties: smallest (left id, right id).

use std::ops::Range;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::train::{report, Progress, Stage, TrainConfig};
use crate::vocab::{Model, Pair};

mod pair_map;
mod queue;
use pair_map::{PairMap, Slot};
use queue::Queue;

/// Most symbols one arena holds (word starts are `u32`; word indices, at most as many, too).
const MAX_SYMBOLS: usize = u32::MAX as usize;

/// All words' symbols back to back; word `i` is `syms[start..start + len]` of `words[i]`.
/// (Start, length and count side by side: a visit misses one line, not three arrays.)
pub(crate) struct Arena {
    syms: Vec<u32>,
    words: Vec<WordRef>,
    /// At most this many symbols (`MAX_SYMBOLS`, less in tests).
    limit: usize,
    /// A word was refused: it would have gone past `limit`.
    full: bool,
}

/// 16 bytes, not 24 as with a `usize` start: the merge loop reads one for every word it
/// visits (training 88 MB / 32k, fresh processes: 525 -> 495 ms best, 576 -> 517 medians).
struct WordRef {
    count: u64,
    start: u32,
    len: u32,
}

impl Arena {
    pub(crate) fn with_capacity(words: usize) -> Self {
        let mut a = Arena {
            syms: Vec::with_capacity(words * 8),
            words: Vec::with_capacity(words),
            limit: MAX_SYMBOLS,
            full: false,
        };
        crate::huge::advise_capacity(&mut a.syms);
        crate::huge::advise_capacity(&mut a.words);
        a
    }

    /// The most merges these words allow (each merge shortens some word by one symbol):
    /// what sizes the tables, never `vocab_size`, which may be absurd (10^9).
    pub(crate) fn max_merges(&self) -> usize {
        self.syms.len() - self.words.len()
    }

    /// Appends a word that occurs `count` times, unless it would pass the limit (then the
    /// arena is full and keeps what it had, refusing every later word too).
    pub(crate) fn push(&mut self, symbols: &[u32], count: u64) {
        if self.full || self.syms.len() + symbols.len() > self.limit {
            self.full = true;
            return;
        }
        self.words.push(WordRef {
            start: self.syms.len() as u32,
            count,
            len: symbols.len() as u32,
        });
        self.syms.extend_from_slice(symbols);
    }

    /// An error if a word was refused for want of room.
    pub(crate) fn check_room(&self) -> Result<()> {
        if !self.full {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "the corpus has more than {} characters in its distinct words, more than one \
             training run can index; train on a part of it",
            self.limit
        )))
    }

    #[inline]
    fn word(&self, i: usize) -> &[u32] {
        let w = &self.words[i];
        let start = w.start as usize;
        &self.syms[start..start + w.len as usize]
    }
}

/// Pair -> slot number, while the initial index is built.
trait SlotOf {
    fn slot(&mut self, p: Pair) -> &mut u32;
}

struct DenseSlots {
    table: Vec<u32>,
    ids: usize,
}

impl SlotOf for DenseSlots {
    #[inline]
    fn slot(&mut self, (a, b): Pair) -> &mut u32 {
        &mut self.table[a as usize * self.ids + b as usize]
    }
}

impl SlotOf for FxHashMap<Pair, u32> {
    #[inline]
    fn slot(&mut self, p: Pair) -> &mut u32 {
        self.entry(p).or_insert(u32::MAX)
    }
}

/// Largest symbol count for the flat initial pair table (4 MiB of `u32`).
const DENSE_IDS: usize = 1024;

/// Pair counts and, per pair, the ascending indices of the words that hold it (possibly
/// stale: a listed word may have lost the pair since).
///
/// Why one pool (performance notes, 1-5 MB corpora): with a `Vec` per pair, allocating,
/// growing and freeing tens of thousands of small lists was a fifth of training, and a count
/// map beside a list map cost two lookups per changed pair. Here lists are appended to one
/// pool and never freed one by one; when more of the pool is dead than alive it is compacted.
struct Index {
    map: PairMap,
    pool: Vec<u32>,
    dead: usize,
}

impl Index {
    /// Two passes over the words: count (and size each list), then fill the lists. While no
    /// merge exists the symbols are characters, few enough (below [`DENSE_IDS`]) that a pair
    /// can find its slot in a flat `ids x ids` table instead of a hash map.
    ///
    /// `grow`: how many more pairs the merges are expected to add (the table is sized once).
    fn new(arena: &Arena, grow: usize) -> Self {
        let ids = arena.syms.iter().max().map_or(0, |&m| m as usize + 1);
        if ids <= DENSE_IDS {
            let table = vec![u32::MAX; ids * ids];
            Self::build(arena, DenseSlots { table, ids }, grow)
        } else {
            Self::build(arena, FxHashMap::<Pair, u32>::default(), grow)
        }
    }

    /// `slot_of.slot(pair)` is where the pair's slot number is kept (`u32::MAX`: none yet).
    fn build(arena: &Arena, mut slot_of: impl SlotOf, grow: usize) -> Self {
        let mut slots: Vec<(Pair, Slot)> = Vec::new();
        // pass 1: counts; `off` holds the last word seen + 1 meanwhile
        for (i, wr) in arena.words.iter().enumerate() {
            let c = wr.count as i64;
            for p in arena.word(i).windows(2) {
                let p = (p[0], p[1]);
                let k = slot_of.slot(p);
                if *k == u32::MAX {
                    *k = slots.len() as u32;
                    slots.push((
                        p,
                        Slot {
                            count: 0,
                            off: 0,
                            len: 0,
                        },
                    ));
                }
                let e = &mut slots[*k as usize].1;
                e.count += c;
                if e.off != i + 1 {
                    e.off = i + 1;
                    e.len += 1;
                }
            }
        }
        let mut total = 0;
        for (_, e) in &mut slots {
            e.off = total;
            total += e.len as usize;
            e.len = 0;
        }
        // pass 2: word lists, ascending
        // room for the lists the merges add (growing by doubling copies the pool)
        let mut pool = Vec::with_capacity(4 * total);
        crate::huge::advise_capacity(&mut pool);
        pool.resize(total, 0u32);
        for i in 0..arena.words.len() {
            for p in arena.word(i).windows(2) {
                let e = &mut slots[*slot_of.slot((p[0], p[1])) as usize].1;
                let end = e.off + e.len as usize;
                if e.len == 0 || pool[end - 1] != i as u32 {
                    pool[end] = i as u32;
                    e.len += 1;
                }
            }
        }
        let mut map = PairMap::with_capacity(slots.len() + grow);
        for (p, s) in slots {
            *map.get_or_insert(p, s).0 = s;
        }
        Index { map, pool, dead: 0 }
    }

    fn count(&self, p: &Pair) -> i64 {
        self.map.get(*p).map_or(0, |s| s.count)
    }

    /// Removes `p`; returns where its word list lies in the pool, sorted and without repeats
    /// (the list is dead to the index now, so it is sorted in place instead of copied out: the
    /// copy was 4% of training on 1 MB). The pool is unchanged until the next `add`.
    fn take(&mut self, p: &Pair) -> Range<usize> {
        let Some(s) = self.map.remove(*p) else {
            return 0..0;
        };
        self.dead += s.len as usize;
        let list = &mut self.pool[s.off..s.off + s.len as usize];
        // Lists are ascending; one that got a second list appended may not be.
        if list.windows(2).all(|w| w[0] < w[1]) {
            return s.off..s.off + list.len();
        }
        list.sort_unstable();
        let mut kept = 0;
        for i in 0..list.len() {
            if kept == 0 || list[kept - 1] != list[i] {
                list[kept] = list[i];
                kept += 1;
            }
        }
        s.off..s.off + kept
    }

    /// Adds `d` to the count of `p` and appends `words` to its list; returns the new count.
    fn add(&mut self, p: Pair, d: i64, words: &[u32]) -> i64 {
        let pool = &mut self.pool;
        let new = Slot {
            count: d,
            off: pool.len(),
            len: words.len() as u32,
        };
        let (s, inserted) = self.map.get_or_insert(p, new);
        if !inserted {
            let end = s.off + s.len as usize;
            if end != pool.len() {
                // move the list to the end of the pool, where it can grow
                pool.extend_from_within(s.off..end);
                self.dead += s.len as usize;
                s.off = pool.len() - s.len as usize;
            }
            s.len += words.len() as u32;
            s.count += d;
        }
        pool.extend_from_slice(words);
        s.count
    }

    fn remove_if_empty(&mut self, p: &Pair) {
        if let Some(s) = self.map.remove_if(*p, |s| s.count <= 0) {
            self.dead += s.len as usize;
        }
    }

    /// Copies the live lists into a fresh pool once more than half the pool is dead.
    fn maybe_compact(&mut self) {
        if self.dead < (1 << 20) || self.dead * 2 < self.pool.len() {
            return;
        }
        let mut pool = Vec::with_capacity(self.pool.len() - self.dead);
        for s in self.map.slots_mut() {
            let off = pool.len();
            pool.extend_from_slice(&self.pool[s.off..s.off + s.len as usize]);
            s.off = off;
        }
        self.pool = pool;
        self.dead = 0;
    }
}

/// Learns merges until `cfg.vocab_size`, the best pair falls below `min_frequency`, or no
/// pair is left. `arena` holds the initial symbol sequences and their frequencies.
pub(crate) fn learn_merges(
    model: &mut Model,
    mut arena: Arena,
    cfg: &TrainConfig,
    progress: Progress,
) -> Result<()> {
    // at most the merges the words allow: a progress total of 10^9 for `vocab_size=10**9`
    // on a small corpus would never be reached
    let total = (cfg.vocab_size.saturating_sub(model.len())).min(arena.max_merges()) as u64;
    // Each merge adds up to ten pairs on English, and the pairs alive at the end are about
    // as many as the words (30k on 1 MB, 72k on 5 MB); growing the table step by step
    // rehashed and copied them (~10% of the loop on 1 MB).
    let grow = (total as usize * 10).min(arena.words.len());
    let mut index = Index::new(&arena, grow);
    let mut queue = Queue::new();
    for (pair, s) in index.map.iter() {
        if s.count as u64 >= cfg.min_frequency {
            queue.push(s.count as u64, pair);
        }
    }
    let step = (total / 100).max(1);
    let mut done = 0u64;
    let ids = cfg
        .vocab_size
        .min(model.len() + arena.max_merges())
        .max(model.len());
    let (mut left, mut right) = (Side::new(ids), Side::new(ids));
    let mut emptied: Vec<Pair> = Vec::new();
    report(progress, Stage::Merge, 0, total)?;
    while model.len() < cfg.vocab_size {
        let Some((count, pair)) = queue.pop() else {
            break;
        };
        let current = index.count(&pair).max(0) as u64;
        if current != count {
            // Out of date. A lower count is re-queued; a higher one already has its own job.
            if current > 0 && current < count {
                queue.push(current, pair);
            }
            continue;
        }
        if current < cfg.min_frequency || current == 0 {
            break;
        }
        let (a, b) = pair;
        let new = model.add_merge(pair);
        let taken = index.take(&pair);
        let at = &index.pool[taken];
        for (k, &i) in at.iter().enumerate() {
            if let Some(&j) = at.get(k + 16) {
                prefetch(arena.words.as_ptr().wrapping_add(j as usize));
            }
            if let Some(&j) = at.get(k + 8) {
                prefetch(
                    arena
                        .syms
                        .as_ptr()
                        .wrapping_add(arena.words[j as usize].start as usize),
                );
            }
            let word = i;
            let wr = &mut arena.words[i as usize];
            let c = wr.count as i64;
            let s0 = wr.start as usize;
            let n = wr.len as usize;
            let s = &mut arena.syms[s0..s0 + n];
            // Symbols before the first match stay as they are: they are not copied onto
            // themselves (performance notes: the rewrite was a sixth of training on 1 MB).
            let Some(first) = s.windows(2).position(|p| p[0] == a && p[1] == b) else {
                continue; // the word lost the pair since it was listed
            };
            let (mut r, mut w) = (first, first); // read and write positions, w <= r
            while r < n {
                if r + 1 < n && s[r] == a && s[r + 1] == b {
                    if w > 0 {
                        // s[w - 1] is already final: a plain symbol or an earlier `new`
                        left.add(s[w - 1], c, word);
                    }
                    if r + 2 < n {
                        right.add(s[r + 2], c, word);
                    }
                    s[w] = new;
                    r += 2;
                } else {
                    s[w] = s[r];
                    r += 1;
                }
                w += 1;
            }
            wr.len = w as u32;
        }
        // The table entries of every pair about to change, asked for at once: their cache
        // misses overlap instead of following one another (performance notes: the table is
        // a few MB, and these lookups were a fifth of the loop on 1 MB).
        for &x in &left.touched {
            index.map.prefetch((x, a));
            index.map.prefetch((x, new));
        }
        for &y in &right.touched {
            index.map.prefetch((b, y));
            index.map.prefetch((new, y));
        }
        // Decrements first, increments second: a pair can be in both (`(new, a)`), and a
        // pushed job must carry the pair's final count; emptied pairs go once all is applied.
        for &x in &left.touched {
            decrement(&mut index, (x, a), left.by[x as usize].amount, &mut emptied);
        }
        for &y in &right.touched {
            decrement(
                &mut index,
                (b, y),
                right.by[y as usize].amount,
                &mut emptied,
            );
        }
        for (side, is_left) in [(&mut left, true), (&mut right, false)] {
            for &x in &side.touched {
                let p = if is_left { (x, new) } else { (new, x) };
                let nb = &mut side.by[x as usize];
                // ascending and without repeats; `(new, new)` may get two lists (sorted when used)
                let c = index.add(p, nb.amount, &nb.words);
                nb.amount = 0;
                nb.words.clear();
                // below `min_frequency` a pair can never be picked; it is pushed if it grows
                if c > 0 && c as u64 >= cfg.min_frequency {
                    queue.push(c as u64, p);
                }
            }
            side.touched.clear();
        }
        for p in emptied.drain(..) {
            index.remove_if_empty(&p);
        }
        index.maybe_compact();
        done += 1;
        if done % step == 0 {
            report(progress, Stage::Merge, done, total)?;
        }
    }
    report(progress, Stage::Merge, total, total)?;
    Ok(())
}

/// One side of the merges of one pair `(a, b)` -> `new`, keyed by the neighbouring symbol:
/// for a left neighbour `x`, `(x, a)` loses and `(x, new)` gains `by[x].amount`; for a right
/// neighbour `y`, `(b, y)` loses and `(new, y)` gains it. A dense array indexed by symbol id
/// instead of a hash map per occurrence (performance notes: one merge visits tens of words on
/// average, a few thousand in the early merges; a hash-map entry per occurrence was most of
/// the loop's time). Amount and words side by side: one cache miss per neighbour, not two.
struct Side {
    by: Vec<Neighbour>,
    /// Neighbours seen in this merge, in first-seen order.
    touched: Vec<u32>,
}

#[derive(Clone, Default)]
struct Neighbour {
    amount: i64,
    /// Words (ascending, once each) where the new pair now occurs.
    words: Vec<u32>,
}

impl Side {
    fn new(ids: usize) -> Self {
        Side {
            by: vec![Neighbour::default(); ids + 1],
            touched: Vec::new(),
        }
    }

    #[inline(always)]
    fn add(&mut self, x: u32, c: i64, word: u32) {
        let k = x as usize;
        if k >= self.by.len() {
            self.by.resize(k + 1, Neighbour::default());
        }
        let nb = &mut self.by[k];
        if nb.words.is_empty() {
            self.touched.push(x);
        }
        nb.amount += c;
        push_once(&mut nb.words, word);
    }
}

#[inline]
fn decrement(index: &mut Index, p: Pair, d: i64, emptied: &mut Vec<Pair>) {
    // A pair made by this very merge (`(new, a)` in `a a a a`) may not exist yet: it goes
    // negative here and the increment brings it back.
    let off = index.pool.len();
    let (e, _) = index.map.get_or_insert(
        p,
        Slot {
            count: 0,
            off,
            len: 0,
        },
    );
    e.count -= d;
    if e.count <= 0 {
        emptied.push(p);
    }
}

#[inline]
fn push_once(v: &mut Vec<u32>, i: u32) {
    if v.last() != Some(&i) {
        v.push(i);
    }
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        // SAFETY: a prefetch is a hint; it never faults, whatever the address.
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::Arena;
    use crate::corpus::WordCounts;
    use crate::train::{train, TrainConfig};
    use crate::vocab::Pair;
    use rustc_hash::FxHashMap;

    /// The merge loop by the book: recount every pair after every merge.
    fn naive(words: &[Vec<u32>], counts: &[u64], mut next_id: u32, n: usize) -> Vec<Pair> {
        let mut words = words.to_vec();
        let mut out = vec![];
        for _ in 0..n {
            let mut stats: FxHashMap<Pair, u64> = FxHashMap::default();
            for (w, &c) in words.iter().zip(counts) {
                for p in w.windows(2) {
                    *stats.entry((p[0], p[1])).or_insert(0) += c;
                }
            }
            let Some((&best, _)) = stats.iter().max_by(|x, y| {
                x.1.cmp(y.1).then_with(|| y.0.cmp(x.0)) // ties: smallest pair wins
            }) else {
                break;
            };
            out.push(best);
            for w in &mut words {
                let mut r = vec![];
                let mut i = 0;
                while i < w.len() {
                    if i + 1 < w.len() && (w[i], w[i + 1]) == best {
                        r.push(next_id);
                        i += 2;
                    } else {
                        r.push(w[i]);
                        i += 1;
                    }
                }
                *w = r;
            }
            next_id += 1;
        }
        out
    }

    #[test]
    fn matches_recounting_on_random_words() {
        // Small alphabets give long repeats, overlaps (aaaa) and many equal counts.
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..20 {
            let alphabet = 2 + round % 4;
            let text: String = (0..3000)
                .map(|_| match rand(alphabet + 1) {
                    0 => '\n',
                    k => (b'a' + k as u8 - 1) as char,
                })
                .collect();
            let mut wc = WordCounts::new();
            wc.add_texts(&[text.as_str()]);
            let cfg = TrainConfig {
                vocab_size: 60,
                min_frequency: 1,
                special_tokens: vec!["[UNK]".into()],
                ..Default::default()
            };
            let model = train(&wc, &cfg, None, None).unwrap();
            // The same words as symbol ids (the alphabet is a, b, ... after [UNK] and \n).
            let (mut words, mut counts) = (vec![], vec![]);
            for (w, c) in wc.iter() {
                words.push(w.chars().map(|ch| model.char_id(ch).unwrap()).collect());
                counts.push(c);
            }
            let first = model.merges().first().map_or(model.len() as u32, |m| m.1);
            let learned: Vec<Pair> = model.merges().iter().map(|m| m.0).collect();
            // Ids are only fresh while no merged string repeats; compare up to the first reuse.
            let fresh = model
                .merges()
                .iter()
                .enumerate()
                .take_while(|(k, m)| m.1 == first + *k as u32)
                .count();
            assert_eq!(
                learned[..fresh],
                naive(&words, &counts, first, learned.len())[..fresh],
                "round {round}"
            );
        }
    }

    /// Words are kept up to the symbol limit (`u32` starts); the word that would pass it is
    /// refused and the arena says so, keeping the words before it intact.
    #[test]
    fn arena_refuses_the_word_past_its_limit() {
        let mut a = Arena::with_capacity(4);
        a.limit = 7;
        a.push(&[1, 2, 3], 5);
        a.push(&[4, 5, 6, 7], 2);
        assert!(a.check_room().is_ok());
        a.push(&[8, 9], 1);
        a.push(&[8], 1); // would fit, but the arena is full
        let err = a.check_room().unwrap_err().to_string();
        assert_eq!(
            err,
            "the corpus has more than 7 characters in its distinct words, more than one \
             training run can index; train on a part of it"
        );
        assert_eq!((a.word(0), a.word(1)), (&[1, 2, 3][..], &[4, 5, 6, 7][..]));
        assert_eq!(a.words.len(), 2);
        assert_eq!(a.max_merges(), 5);
    }
}
