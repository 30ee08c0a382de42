//! The word -> ids cache of a tokenizer, shared by every thread that encodes with it.
//!
//! Why it is built this way (performance notes; 20 MB of English documents, 32k vocab):
//! - Words repeat (Zipf), so after a short warm-up almost every word is a cache hit, and the
//!   hit path is the encoder's inner loop. Words of up to 15 bytes (nearly all) are packed
//!   with their length into a 16-byte key, so a lookup is one integer hash and compare
//!   (string keys cost a `memcmp` call per lookup: 18% of encoding).
//! - The ids of such a word sit in the entry itself when there are at most three of them
//!   (nearly always); longer id lists live in the table's spill, an append-only array.
//! - Words of 16 to 254 bytes (3% of Turkish words, agglutinative and two bytes a letter) are
//!   keyed by a 64-bit hash and their length, with their bytes in the spill beside their ids,
//!   compared on every hit. Reads take no lock at all: the spill and the long words were maps
//!   behind mutexes, a lock (and with two threads a contended cache line) per long word and
//!   per hit on a long id list.
//! - Once the table outgrows the CPU caches, a lookup in the Zipf tail waits on memory; with
//!   `hashbrown` that wait (control bytes, then the entry: two cache lines) was half of the
//!   hit path. Here an entry is 32 bytes, two per 64-byte line, probed linearly line by line,
//!   so a lookup touches one line, and [`View::prefetch`] lets the encoder request the lines
//!   of a whole chunk of words before it looks any of them up (`encode.rs`).
//! - One cache per tokenizer, shared: a miss costs a full merge (about 400 ns against 15 for
//!   a hit), and with a cache per thread each thread missed on every word again (31% more
//!   misses for 2 threads on 20 MB), and kept its own copy of the table. Entries are atomics:
//!   a slot is claimed by a compare-and-swap of its key's high half, filled, and published by
//!   storing that half (release), so a reader that sees the key sees the ids. The table only
//!   grows, under a write lock that readers give up after each chunk of words (`View`).
//! - The table's memory asks for 2 MB pages (`huge.rs`): with 4 KB pages the frequent words
//!   alone were spread over every page of an 8 MB table, more pages than the TLB holds, and a
//!   fresh process paid a page fault per 4 KB of it.
//! - A cache stops growing at a fixed size instead of evicting (eviction bookkeeping costs
//!   more than it saves for natural text). The size holds the distinct words of tens of
//!   megabytes of text (a 32k-entry cache was full after a few megabytes, and every later
//!   miss paid a full merge).

use std::hash::BuildHasher;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, TryLockError};

use crossbeam_utils::CachePadded;
use rustc_hash::FxBuildHasher;

use crate::huge::ZeroedSlice;

/// Entries (short and long words together) before a cache stops growing: at most 16 MB.
const CAPACITY: usize = 1 << 18;
/// Lines of the largest table (`reserve` of `CAPACITY` words).
const MAX_LINES: usize = 1 << 18;
/// Spill `u32`s per line of the table (id lists of more than 3 ids, long words' bytes).
const SPILL_PER_LINE: usize = 8;
/// In `val[0]`: the entry is a long word (its bytes follow its ids in the spill).
const LONG: u32 = 1 << 31;
/// Words longer than this (bytes) are not cached. Their length sits in the top byte of the
/// key, where 255 with all hash bits set would read as `CLAIMED`. (At 64, a line of 2 KB of
/// chemical names, words of ~80 bytes, was merged again at every call: 160 µs, not 2.)
const MAX_WORD: usize = 254;
/// Lines of a new cache (32 KB).
const START_LINES: usize = 1 << 9;
/// The key of no word: returned by [`key_of`] for words too long to cache.
const EMPTY: u128 = 0;
/// The high half of a free slot's key (a word's high half holds its length, never 0).
const FREE: u64 = 0;
/// The high half of a slot being written (no word is 255 bytes long).
const CLAIMED: u64 = u64::MAX;

/// A word's key and ids: `[n, id, id, id]`, `[n, start in spill, 0, 0]` for more than 3 ids,
/// `[n | LONG, start in spill, 0, 0]` for a long word (n ids, then its bytes).
#[derive(Default)]
struct Slot {
    hi: AtomicU64,
    lo: AtomicU64,
    val: [AtomicU32; 4],
}

/// Two slots on one cache line.
#[derive(Default)]
#[repr(C, align(64))]
struct Line([Slot; 2]);

struct Table {
    lines: ZeroedSlice<Line>,
    /// 64 - log2(lines.len()): the hash's top bits pick the line.
    shift: u32,
    /// On cache lines of their own, as `spill_len`: a thread bumping a counter must not evict
    /// the fields every lookup reads (`lines`, `shift`) from the other threads' caches.
    len: CachePadded<AtomicUsize>,
    /// Appended to (`spill_len` bumped first, then written, then the slot published), never
    /// moved while views exist: readers need no lock.
    spill: ZeroedSlice<AtomicU32>,
    /// Claimed so far; may run past `spill.len()` (then nothing more is spilled until growth).
    spill_len: CachePadded<AtomicUsize>,
}

impl Table {
    fn new(lines: usize) -> Self {
        Table {
            // SAFETY: a line of zero bytes is two free slots
            lines: unsafe { ZeroedSlice::new(lines) },
            shift: 64 - lines.trailing_zeros(),
            len: CachePadded::default(),
            // SAFETY: zero bytes are a zero `AtomicU32`
            spill: unsafe { ZeroedSlice::new(lines * SPILL_PER_LINE) },
            spill_len: CachePadded::default(),
        }
    }

    /// More than 3/4 of the slots taken: time to grow.
    fn crowded(&self, len: usize) -> bool {
        (len + 1) * 4 > self.lines.len() * 2 * 3
    }

    /// A spill request did not fit: time to grow too.
    fn spill_full(&self) -> bool {
        self.spill_len.load(Relaxed) > self.spill.len()
    }

    /// The `n` ids at `start` of the spill.
    fn spilled(&self, start: usize, n: usize) -> impl Iterator<Item = u32> + '_ {
        self.spill[start..start + n].iter().map(|v| v.load(Relaxed))
    }

    /// Whether the spill holds `word`'s bytes at `start` (4 to a `u32`, little-endian).
    fn holds_bytes(&self, start: usize, word: &[u8]) -> bool {
        let Some(stored) = self.spill.get(start..start + word.len().div_ceil(4)) else {
            return false;
        };
        word.chunks(4)
            .zip(stored)
            .all(|(c, v)| v.load(Relaxed).to_le_bytes()[..c.len()] == *c)
    }

    #[inline]
    fn home(&self, hi: u64, lo: u64) -> usize {
        let x = lo ^ hi.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (x.wrapping_mul(0xF135_7AEA_2E62_A9C5) >> self.shift) as usize
    }

    /// The slots where the key `(hi, lo)` may be, in probe order: each slot once, starting
    /// from its home line (the key is absent after the first free slot).
    #[inline]
    fn probe(&self, hi: u64, lo: u64) -> impl Iterator<Item = &Slot> {
        let mask = self.lines.len() - 1;
        let home = self.home(hi, lo);
        (0..self.lines.len()).flat_map(move |k| &self.lines[(home + k) & mask].0)
    }

    /// Writes an entry into the first free slot from its home (no other thread may write).
    fn place(&mut self, hi: u64, lo: u64, val: [u32; 4]) {
        let mask = self.lines.len() - 1;
        let mut i = self.home(hi, lo);
        loop {
            for s in &mut self.lines[i].0 {
                if *s.hi.get_mut() == FREE {
                    *s.hi.get_mut() = hi;
                    *s.lo.get_mut() = lo;
                    for (a, v) in s.val.iter_mut().zip(val) {
                        *a.get_mut() = v;
                    }
                    *self.len.get_mut() += 1;
                    return;
                }
            }
            i = (i + 1) & mask;
        }
    }
}

/// A tokenizer's cache.
pub struct WordCache {
    table: RwLock<Table>,
}

impl Default for WordCache {
    fn default() -> Self {
        WordCache {
            table: RwLock::new(Table::new(START_LINES)),
        }
    }
}

/// Lookups and inserts while the table cannot be replaced; give it up between chunks of words
/// so that a thread can grow the table.
pub struct View<'a> {
    table: RwLockReadGuard<'a, Table>,
    /// Entries this view added and not yet counted in the table's `len` (counted in batches:
    /// a shared counter bumped on every insert was a cache line bounced between threads).
    added: usize,
    /// Whether an insert found the table too full: call [`WordCache::grow`] after the view.
    pub wants_grow: bool,
}

/// Inserts a view counts before it adds them to the table's `len`.
const COUNT_BATCH: usize = 64;

impl Drop for View<'_> {
    fn drop(&mut self) {
        // most views add nothing (warm cache): no write to a line other threads read
        if self.added > 0 {
            self.table.len.fetch_add(self.added, Relaxed);
        }
    }
}

/// The cache key of `word`: its bytes and length packed into a `u128` when it has 1 to 15
/// bytes; [`long_key`] up to `MAX_WORD` bytes; `EMPTY` (0) for longer words, never cached.
#[inline]
pub fn key_of(word: &str) -> u128 {
    let b = word.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return long_key(b);
    }
    pack(b)
}

/// The key of a word of 16 to `MAX_WORD` bytes (else `EMPTY`): its length in the top byte (no
/// short key has a length above 15) and a 64-bit hash of its bytes. A hit compares the bytes
/// too, so equal hashes never give another word's ids (the later word is just not cached).
#[cold]
#[inline(never)]
fn long_key(b: &[u8]) -> u128 {
    if b.len() < 16 || b.len() > MAX_WORD {
        return EMPTY;
    }
    let h = FxBuildHasher.hash_one(b);
    let hi = (b.len() as u64) << 56 | h >> 8;
    (u128::from(hi) << 64) | u128::from(h)
}

/// The bytes of a word shorter than 16 bytes, little-endian, with its length in byte 15: the
/// short-word key of this cache and of the word counter (`corpus.rs`). Two overlapping loads
/// instead of a `memcpy` call per word (a tenth of counting).
#[inline(always)]
pub(crate) fn pack(b: &[u8]) -> u128 {
    let n = b.len();
    let v = if n >= 8 {
        let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(b[n - 8..].try_into().expect("8 bytes"));
        // bytes 8..n are the top n - 8 bytes of `hi`
        let hi = if n == 8 { 0 } else { hi >> (8 * (16 - n)) };
        u128::from(lo) | (u128::from(hi) << 64)
    } else if n >= 4 {
        let lo = u64::from(u32::from_le_bytes(b[..4].try_into().expect("4 bytes")));
        let hi = u64::from(u32::from_le_bytes(b[n - 4..].try_into().expect("4 bytes")));
        u128::from(lo | ((hi >> (8 * (8 - n))) << 32))
    } else {
        b.iter()
            .rev()
            .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
    };
    v | ((n as u128) << 120)
}

/// [`key_of`] the word `text[start..start + len]`, read straight from `text` with one
/// 16-byte load where `text` has the bytes (copying a word into a buffer and reading it back
/// as one integer stalled the load on the stores: a quarter of the hit path).
#[inline]
pub fn key_in(text: &[u8], start: usize, len: usize) -> u128 {
    if len == 0 || len > 15 {
        return long_key(&text[start..start + len]);
    }
    match text.get(start..start + 16) {
        Some(b) => {
            // the masks from a table: a variable 128-bit shift cost a dozen instructions a word
            let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) & KEY_MASK[len].0;
            let hi = u64::from_le_bytes(b[8..].try_into().expect("8 bytes")) & KEY_MASK[len].1;
            u128::from(lo) | (u128::from(hi | (len as u64) << 56) << 64)
        }
        None => pack(&text[start..start + len]),
    }
}

/// The (low, high) halves of the mask that keeps the first `len` bytes of 16, by `len`.
const KEY_MASK: [(u64, u64); 16] = {
    let mut m = [(0, 0); 16];
    let mut len = 0;
    while len < 16 {
        m[len] = if len < 8 {
            ((1 << (8 * len)) - 1, 0)
        } else {
            (u64::MAX, (1 << (8 * (len - 8))) - 1)
        };
        len += 1;
    }
    m
};

impl WordCache {
    pub fn view(&self) -> View<'_> {
        View {
            table: self.table.read().unwrap_or_else(PoisonError::into_inner),
            added: 0,
            wants_grow: false,
        }
    }

    /// Doubles the table if it is still more than 3/4 full (waits for the views to end).
    #[cold]
    pub fn grow(&self) {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let len = *table.len.get_mut();
        if !(table.crowded(len) || table.spill_full()) || table.lines.len() >= MAX_LINES {
            return; // another thread grew it (or it is as large as it gets)
        }
        let lines = table.lines.len() * 2;
        rehash(&mut table, lines);
    }

    /// Makes room for about `words` entries (up to the cache's capacity) in one step.
    pub fn reserve(&self, words: usize) {
        let lines = (words.min(CAPACITY) * 2 / 3 + 1).next_power_of_two();
        if self.table.read().map_or(true, |t| t.lines.len() < lines) {
            let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
            if table.lines.len() < lines {
                rehash(&mut table, lines);
            }
        }
    }

    /// Whether a thread holds the table's lock now. In a forked child (one thread) that is a
    /// thread of the parent that was encoding at the fork, which the child does not have: the
    /// lock never frees, and the first `grow` or `reserve` would wait forever.
    pub fn is_locked(&self) -> bool {
        matches!(self.table.try_write(), Err(TryLockError::WouldBlock))
    }

    #[cfg(test)]
    fn lines(&self) -> usize {
        self.table.read().unwrap().lines.len()
    }
}

/// Replaces `table` by one of `lines` lines holding the same entries.
fn rehash(table: &mut Table, lines: usize) {
    let mut new = Table::new(lines);
    // the spill is copied as it is, so that the entries' offsets into it stay right
    let used = (*table.spill_len.get_mut()).min(table.spill.len());
    for (d, s) in new.spill.iter_mut().zip(&mut table.spill[..used]) {
        *d.get_mut() = *s.get_mut();
    }
    *new.spill_len.get_mut() = used;
    for line in table.lines.iter_mut() {
        for s in &mut line.0 {
            let hi = *s.hi.get_mut();
            if hi != FREE && hi != CLAIMED {
                let val = s.val.each_mut().map(|a| *a.get_mut());
                new.place(hi, *s.lo.get_mut(), val);
            }
        }
    }
    *table = new;
}

#[inline]
fn halves(key: u128) -> (u64, u64) {
    ((key >> 64) as u64, key as u64)
}

impl View<'_> {
    /// The line where the entry of `key` starts looking (valid while this view lasts).
    #[inline]
    pub fn home(&self, key: u128) -> usize {
        let (hi, lo) = halves(key);
        self.table.home(hi, lo)
    }

    /// Asks the CPU to fetch the line where `key` would be (a hint; no effect on results) and
    /// returns that line's index for [`View::get_at`].
    #[inline]
    pub fn prefetch(&self, key: u128) -> usize {
        let home = self.home(key);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let line: *const Line = &self.table.lines[home];
            // SAFETY: a prefetch has no effect on memory or results; `line` is in bounds.
            unsafe { _mm_prefetch(line as *const i8, _MM_HINT_T0) };
        }
        home
    }

    /// Appends the cached ids of `word` (whose key is `key`) to `out`; false if not cached.
    #[inline]
    pub fn get(&self, word: &str, key: u128, out: &mut Vec<u32>) -> bool {
        self.get_at(self.home(key), word, key, out)
    }

    /// [`View::get`] given the key's home line (from [`View::prefetch`] on this view): the
    /// hash is computed once per word.
    ///
    /// The usual hit (a short word in its home line, at most 3 ids) takes no loop: both slots
    /// of the line are compared, and the ids are copied with three unconditional stores before
    /// the length is set. Everything else is [`View::get_slow`].
    #[inline(always)]
    pub fn get_at(&self, home: usize, word: &str, key: u128, out: &mut Vec<u32>) -> bool {
        let (hi, lo) = halves(key);
        let [a, b] = &self.table.lines[home].0;
        let (a_hi, b_hi) = (a.hi.load(Acquire), b.hi.load(Acquire));
        let hit_a = a_hi == hi && a.lo.load(Relaxed) == lo;
        let hit_b = b_hi == hi && b.lo.load(Relaxed) == lo;
        let s = if hit_a { a } else { b };
        let n = s.val[0].load(Relaxed) as usize;
        if key != EMPTY && (hit_a || hit_b) && n <= 3 {
            let ids = [1, 2, 3].map(|k| s.val[k].load(Relaxed));
            out.reserve(3);
            let len = out.len();
            out.spare_capacity_mut()[..3]
                .iter_mut()
                .zip(ids)
                .for_each(|(d, v)| {
                    d.write(v);
                });
            // SAFETY: `len + n <= len + 3` slots are initialised (written just above).
            unsafe { out.set_len(len + n) };
            return true;
        }
        if !(hit_a | hit_b) & ((a_hi == FREE) | (b_hi == FREE)) {
            // a miss (most of them): an entry sits in the first free slot from its home and
            // is never removed, so none lies beyond a free slot of its home line
            return false;
        }
        self.get_slow(word, key, out)
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&self, word: &str, key: u128, out: &mut Vec<u32>) -> bool {
        if key == EMPTY {
            return false;
        }
        let t = &*self.table;
        let (hi, lo) = halves(key);
        for s in t.probe(hi, lo) {
            let h = s.hi.load(Acquire);
            if h == hi && s.lo.load(Relaxed) == lo {
                let v = s.val[0].load(Relaxed);
                let n = (v & !LONG) as usize;
                if v & LONG == 0 && n <= 3 {
                    out.extend(s.val[1..=n].iter().map(|v| v.load(Relaxed)));
                    return true;
                }
                let start = s.val[1].load(Relaxed) as usize;
                if v & LONG != 0 && !t.holds_bytes(start + n, word.as_bytes()) {
                    continue; // another long word with the same hash
                }
                out.extend(t.spilled(start, n));
                return true;
            }
            if h == FREE {
                return false;
            }
        }
        false
    }

    /// Remembers the ids of `word` (unless the cache is full or the word too long).
    pub fn insert(&mut self, word: &str, key: u128, ids: &[u32]) {
        if key == EMPTY {
            return; // longer than `MAX_WORD`
        }
        let t = &*self.table;
        // each view may run ahead of `len` by one batch: the table stays below 3/4 + a few
        let len = t.len.load(Relaxed) + self.added;
        if len >= CAPACITY {
            return;
        }
        // at most 3/4 full, so every probe meets a free slot
        if t.crowded(len) {
            self.wants_grow = true;
            return;
        }
        let long = (key >> 120) as usize > 15;
        let mut val = [ids.len() as u32, 0, 0, 0];
        if ids.len() <= 3 && !long {
            val[1..1 + ids.len()].copy_from_slice(ids);
        } else {
            let need = ids.len() + if long { word.len().div_ceil(4) } else { 0 };
            // A full spill takes no more claims: at the largest size it stays full, and a
            // counter bumped by every later miss would wrap around a 32-bit `usize` after
            // ~2^32 slots and hand out ranges that published entries still use. It runs past
            // the end by at most one claim per thread.
            let claimed = (!t.spill_full()).then(|| t.spill_len.fetch_add(need, Relaxed));
            let claimed = claimed.and_then(|start| {
                let end = start.checked_add(need)?;
                (end <= t.spill.len()).then_some((start, end))
            });
            let Some((start, end)) = claimed else {
                // not cached this time; at the largest size the spill stays full (short
                // words with up to 3 ids are still cached in the slots)
                self.wants_grow = t.lines.len() < MAX_LINES;
                return;
            };
            let spill = &t.spill[start..end];
            for (d, &id) in spill.iter().zip(ids) {
                d.store(id, Relaxed);
            }
            for (d, c) in spill[ids.len()..].iter().zip(word.as_bytes().chunks(4)) {
                let mut buf = [0u8; 4];
                buf[..c.len()].copy_from_slice(c);
                d.store(u32::from_le_bytes(buf), Relaxed);
            }
            val[1] = start as u32;
            if long {
                val[0] |= LONG;
            }
        }
        let (hi, lo) = halves(key);
        for s in t.probe(hi, lo) {
            let h = s.hi.load(Acquire);
            if h == hi && s.lo.load(Relaxed) == lo {
                return; // another thread cached it meanwhile (or a long word's hash twin)
            }
            if h == FREE
                && s.hi
                    .compare_exchange(FREE, CLAIMED, Acquire, Relaxed)
                    .is_ok()
            {
                s.lo.store(lo, Relaxed);
                for (a, v) in s.val.iter().zip(val) {
                    a.store(v, Relaxed);
                }
                s.hi.store(hi, Release); // publishes lo, val and the spill with it
                self.added += 1;
                if self.added == COUNT_BATCH {
                    t.len.fetch_add(COUNT_BATCH, Relaxed);
                    self.added = 0;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(c: &WordCache, w: &str) -> Option<Vec<u32>> {
        let mut out = vec![42];
        c.view()
            .get(w, key_of(w), &mut out)
            .then(|| out[1..].to_vec())
    }

    fn insert(c: &WordCache, w: &str, ids: &[u32]) {
        let mut view = c.view();
        view.insert(w, key_of(w), ids);
        let grow = view.wants_grow;
        drop(view);
        if grow {
            c.grow();
            c.view().insert(w, key_of(w), ids);
        }
    }

    #[test]
    fn get_returns_what_insert_stored() {
        let c = WordCache::default();
        let words = [
            "a",
            " the",
            "▁ışık",
            "exactly15bytes!",
            "sixteen-bytes-xx",
            &"x".repeat(64),
            "\0",
        ];
        let ids: [&[u32]; 5] = [&[], &[7], &[1, 2, 3], &[4, 5, 6, 7], &[9; 20]];
        for (k, w) in words.iter().enumerate() {
            insert(&c, w, ids[k % ids.len()]);
        }
        for (k, w) in words.iter().enumerate() {
            assert_eq!(get(&c, w).as_deref(), Some(ids[k % ids.len()]), "{w:?}");
        }
        assert_eq!(get(&c, "unseen"), None);
        assert_eq!(get(&c, "a "), None); // the length is part of the key
        insert(&c, &"y".repeat(200), &[1, 2, 3, 4, 5]); // long words are cached up to 254 bytes
        assert_eq!(get(&c, &"y".repeat(200)), Some(vec![1, 2, 3, 4, 5]));
        insert(&c, &"y".repeat(255), &[1]); // longer ones are not
        assert_eq!(get(&c, &"y".repeat(255)), None);
    }

    #[test]
    fn a_long_word_never_gets_the_ids_of_its_hash_twin() {
        let c = WordCache::default();
        let (a, b) = ("▁yapabileceklerimizden", "▁yapabileceklerimizdeN");
        insert(&c, a, &[1, 2]);
        let mut out = Vec::new();
        // `b` asked under `a`'s key: the stored bytes differ, so no hit
        assert!(!c.view().get(b, key_of(a), &mut out));
        c.view().insert(b, key_of(a), &[3]); // and it does not replace `a`
        assert_eq!(get(&c, a), Some(vec![1, 2]));
        assert_eq!(get(&c, b), None);
        assert_ne!(key_of(a), key_of(b));
        assert_eq!(key_of(&"z".repeat(MAX_WORD + 1)), EMPTY);
    }

    #[test]
    fn spill_grows_with_the_table_and_keeps_every_list() {
        // long words and long id lists only: the spill, not the slots, forces growth
        let c = WordCache::default();
        let words: Vec<String> = (0..5_000u32).map(|i| format!("{i:0>40}")).collect();
        let ids = |i: u32| -> Vec<u32> { (0..4 + i % 9).map(|k| i * 16 + k).collect() };
        for (i, w) in words.iter().enumerate() {
            insert(&c, w, &ids(i as u32));
        }
        // 5,000 entries fit 4,096 lines by the slots; the spill (~18 u32s an entry) needs more
        assert!(c.lines() >= 8_192, "{}", c.lines());
        for (i, w) in words.iter().enumerate() {
            assert_eq!(get(&c, w), Some(ids(i as u32)), "{w}");
        }
    }

    #[test]
    fn a_full_spill_at_the_largest_size_still_caches_short_words() {
        let c = WordCache::default();
        c.reserve(usize::MAX);
        assert_eq!(c.lines(), MAX_LINES);
        // 64-byte words with one id take 17 spill slots each: the spill fills first
        let mut view = c.view();
        let mut k = 0u32;
        while !view.wants_grow && view.table.spill_len.load(Relaxed) <= view.table.spill.len() {
            let w = format!("{k:0>64}");
            view.insert(&w, key_of(&w), &[k]);
            k += 1;
        }
        // no growth asked for at the largest size (each ask would take the write lock)
        assert!(!view.wants_grow);
        let w = format!("{:0>64}", k + 1);
        view.insert(&w, key_of(&w), &[1]);
        assert!(!view.wants_grow);
        drop(view);
        assert_eq!(get(&c, &format!("{:0>64}", k + 1)), None);
        assert_eq!(get(&c, &format!("{:0>64}", 7)), Some(vec![7]));
        insert(&c, "short", &[1, 2]);
        assert_eq!(get(&c, "short"), Some(vec![1, 2]));
        // later misses claim nothing more: the claim counter stays where the spill filled
        let view = c.view();
        let full = view.table.spill_len.load(Relaxed);
        drop(view);
        for k in 0..1000u32 {
            insert(&c, &format!("{:x>64}", k), &[k]);
            insert(&c, &format!("many{k}"), &[1, 2, 3, 4, 5]);
        }
        assert_eq!(c.view().table.spill_len.load(Relaxed), full);
    }

    #[test]
    fn is_locked_while_a_view_is_held() {
        let c = WordCache::default();
        assert!(!c.is_locked());
        let view = c.view();
        assert!(c.is_locked());
        drop(view);
        assert!(!c.is_locked());
    }

    #[test]
    fn a_claim_past_the_end_never_gets_a_used_range() {
        // Where the counter would stand after ~2^32 failed claims on a 32-bit `usize`: a
        // claim that wraps must be refused, not given the start of the spill again.
        let c = WordCache::default();
        insert(&c, "abc", &[1, 2, 3, 4, 5]);
        let mut view = c.view();
        // 8 ids and 10 u32s of bytes: this claim would bring the counter round to 0
        view.table.spill_len.store(usize::MAX - 17, Relaxed);
        let long = "y".repeat(40);
        view.insert(&long, key_of(&long), &[8; 8]);
        view.insert("xyz", key_of("xyz"), &[7, 7, 7, 7]);
        drop(view);
        assert_eq!(get(&c, "abc"), Some(vec![1, 2, 3, 4, 5]));
        assert_eq!(get(&c, "xyz"), None);
        assert_eq!(get(&c, &long), None);
    }

    #[test]
    fn pack_matches_bytes() {
        let s = b"abcdefghijklmnop";
        for n in 0..16 {
            let mut buf = [0u8; 16];
            buf[..n].copy_from_slice(&s[..n]);
            buf[15] = n as u8;
            assert_eq!(pack(&s[..n]), u128::from_le_bytes(buf), "{n}");
        }
    }

    #[test]
    fn key_in_equals_key_of() {
        let text = "▁the▁quick▁brown▁fox,▁jumps▁over▁exactly15bytes!▁and▁sixteen-bytes-xx▁ışık";
        let b = text.as_bytes();
        for start in (0..b.len()).filter(|&i| text.is_char_boundary(i)) {
            for end in (start..=b.len()).filter(|&i| text.is_char_boundary(i)) {
                assert_eq!(
                    key_in(b, start, end - start),
                    key_of(&text[start..end]),
                    "{:?}",
                    &text[start..end]
                );
            }
        }
    }

    #[test]
    fn grows_and_keeps_every_word() {
        let c = WordCache::default();
        let words: Vec<String> = (0..20_000u32).map(|i| format!("w{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            insert(&c, w, &[i as u32, 1]);
        }
        assert!(c.lines() > START_LINES);
        for (i, w) in words.iter().enumerate() {
            assert_eq!(get(&c, w), Some(vec![i as u32, 1]), "{w}");
        }
        assert_eq!(get(&c, "w20000"), None);
    }

    #[test]
    fn reserve_grows_once_and_keeps_every_word() {
        let c = WordCache::default();
        for i in 0..1000u32 {
            insert(&c, &format!("w{i}"), &[i]);
        }
        let before = c.lines();
        c.reserve(100_000);
        assert!(c.lines() * 2 * 3 / 4 >= 100_000, "{}", c.lines());
        assert!(c.lines() > before);
        let after = c.lines();
        c.reserve(10); // never shrinks
        c.reserve(usize::MAX); // capped at the capacity
        assert!(c.lines() * 2 * 3 / 4 >= CAPACITY && c.lines() <= 2 * CAPACITY);
        assert!(c.lines() >= after);
        for i in 0..1000u32 {
            assert_eq!(get(&c, &format!("w{i}")), Some(vec![i]));
        }
    }

    #[test]
    fn threads_share_one_cache() {
        // 4 threads insert overlapping words (with growth) and read each other's
        let c = WordCache::default();
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                let c = &c;
                scope.spawn(move || {
                    for i in 0..20_000u32 {
                        // every third word long (hashed, bytes in the spill)
                        let n = (i * 7 + t * 5_000) % 30_000;
                        let w = if n % 3 == 0 {
                            format!("{n:0>24}")
                        } else {
                            format!("w{n}")
                        };
                        match get(c, &w) {
                            Some(ids) => assert_eq!(ids, [w.len() as u32, 1, 2, 3, 4][..ids.len()]),
                            None => {
                                insert(c, &w, &[w.len() as u32, 1, 2, 3, 4][..1 + (i % 5) as usize])
                            }
                        }
                    }
                });
            }
        });
        let found = (0..30_000)
            .filter(|n| {
                let w = if n % 3 == 0 {
                    format!("{n:0>24}")
                } else {
                    format!("w{n}")
                };
                get(&c, &w).is_some()
            })
            .count();
        assert!(found > 25_000, "{found}");
    }
}
