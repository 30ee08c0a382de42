//! The word-frequency table: texts and files -> {word: count}, counted in parallel.
//!
//! Files are read in chunks of about 4 MiB cut just after a newline (a newline is always a
//! word of its own and never composes under NFC, so a cut there changes no word), a batch of
//! chunks is counted in parallel, and the per-chunk tallies are folded into one. A file is never
//! held in memory whole; only a line longer than a chunk grows one. While counting, words are
//! keyed compactly ([`Tally`]); they become marker-form strings once, at the end.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::normalize::{to_marker, Normalizer};
use crate::pretokenize::{distinct_words, words};
use crate::train::{report, Progress, Stage};
use crate::word_cache::{key_in, pack};

mod short_counts;
use short_counts::ShortCounts;

/// Bytes per chunk of a training file (small in tests, so that they read many chunks).
const CHUNK: usize = if cfg!(test) { 16 << 10 } else { 4 << 20 };
/// Texts per rayon task when counting a batch of texts.
const TEXTS_PER_TASK: usize = 256;

/// word (normalised, with `▁`) -> number of occurrences in the corpus.
///
/// Why two forms (performance notes): words are kept as counted ([`Tally`], spaces not yet
/// `▁`, short words packed in a `u128`), and training reads that form (a space and `▁` are
/// the same symbol). Turning every word into a marker-form `String` in a string-keyed map
/// cost as much as a tenth of training on a few MB; that map is built only when `get`,
/// `iter` or `len` asks for it.
#[derive(Clone, Debug, Default)]
pub struct WordCounts {
    raw: Tally,
    /// The marker-form table, built on first use (reset by every addition).
    marked: OnceLock<FxHashMap<String, u64>>,
    /// How texts are normalised before they are split into words.
    norm: Normalizer,
}

impl WordCounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// A table whose texts are normalised with `norm` (not plain NFC).
    pub fn with_normalizer(norm: Normalizer) -> Self {
        WordCounts {
            norm,
            ..Self::default()
        }
    }

    /// The number of distinct words.
    pub fn len(&self) -> usize {
        self.marked().len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.short.is_empty() && self.raw.long.is_empty()
    }

    pub fn get(&self, word: &str) -> Option<u64> {
        self.marked().get(word).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.marked().iter().map(|(w, &c)| (w.as_str(), c))
    }

    /// The number of entries `for_each_raw` visits (at least `len()`).
    pub(crate) fn raw_len(&self) -> usize {
        self.raw.short.len() + self.raw.long.len()
    }

    /// Calls `f` with every word as counted and its count; a space in a word stands for `▁`
    /// (and one word may come twice, once written with spaces and once with `▁`).
    pub(crate) fn for_each_raw(&self, mut f: impl FnMut(&str, u64)) {
        for (k, c) in self.raw.short.iter() {
            let buf = k.to_le_bytes();
            // SAFETY: the key holds the bytes of a `&str` (`Tally::add_n`), whole.
            f(
                unsafe { std::str::from_utf8_unchecked(&buf[..buf[15] as usize]) },
                c,
            );
        }
        for (w, &c) in &self.raw.long {
            f(w, c);
        }
    }

    fn marked(&self) -> &FxHashMap<String, u64> {
        self.marked.get_or_init(|| {
            let mut map = FxHashMap::default();
            map.reserve(self.raw.short.len() + self.raw.long.len());
            self.for_each_raw(|w, c| *map.entry(to_marker(w).into_owned()).or_insert(0) += c);
            map
        })
    }

    /// Adds one word occurrence count (the word must already be normalised).
    pub fn add_word(&mut self, word: &str, count: u64) {
        self.raw.add_n(word, count);
        self.marked = OnceLock::new();
    }

    /// Folds a counting tally into the table.
    fn absorb(&mut self, tally: Tally) {
        self.raw = std::mem::take(&mut self.raw).merge(tally);
        self.marked = OnceLock::new();
    }

    /// Counts the words of each text (each text is normalised on its own).
    pub fn add_texts<S: AsRef<str> + Sync>(&mut self, texts: &[S]) {
        let norm = self.norm;
        let tally = texts
            .par_chunks(TEXTS_PER_TASK)
            .map(|group| {
                let mut local = Tally::default();
                for t in group {
                    count_text(t.as_ref(), norm, &mut local);
                }
                local
            })
            .reduce(Tally::default, Tally::merge);
        self.absorb(tally);
    }

    /// Counts the words of UTF-8 files, in chunks, reporting bytes done of bytes total.
    pub fn add_files(&mut self, paths: &[PathBuf], progress: Progress) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut total = 0u64;
        for p in paths {
            let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
            if meta.is_dir() {
                return Err(Error::InvalidArgument(format!(
                    "{} is a directory; pass the files in it",
                    p.display()
                )));
            }
            total += meta.len();
        }
        report(progress, Stage::Count, 0, total)?;
        let per_batch = 2 * rayon::current_num_threads().max(1);
        let mut done = 0u64;
        let mut readers = paths.iter().map(|p| ChunkReader::open(p));
        let mut current: Option<ChunkReader> = None;
        let mut tally = Tally::default();
        // Buffers and count tables of counted chunks, for the next batch. Fresh memory costs a
        // page fault per 4 KB (~3 us in a VM); a new buffer and table for every chunk were half
        // the page faults of training on 88 MB.
        let mut spare_bufs: Vec<Vec<u8>> = Vec::new();
        let mut spare_tallies: Vec<Tally> = Vec::new();
        loop {
            // A batch of chunks, possibly from several files.
            let mut batch: Vec<(&Path, u64, Vec<u8>)> = Vec::with_capacity(per_batch);
            while batch.len() < per_batch {
                if current.is_none() {
                    match readers.next() {
                        Some(r) => current = Some(r?),
                        None => break,
                    }
                }
                let reader = current.as_mut().expect("set above");
                match reader.next_chunk(&mut spare_bufs)? {
                    Some((offset, bytes)) => batch.push((reader.path, offset, bytes)),
                    None => current = None,
                }
            }
            if batch.is_empty() {
                drop((spare_bufs, spare_tallies)); // before the total grows
                self.absorb(tally);
                return Ok(());
            }
            let bytes: u64 = batch.iter().map(|(_, _, b)| b.len() as u64).sum();
            let norm = self.norm;
            let spares: Vec<Option<Tally>> = batch.iter().map(|_| spare_tallies.pop()).collect();
            let tables: Vec<Result<Tally>> = batch
                .par_iter()
                .zip(spares)
                .map(|((path, offset, bytes), spare)| {
                    let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
                        path: path.to_path_buf(),
                        offset: offset + e.valid_up_to() as u64,
                    })?;
                    // a spare too small for this chunk (after a small file) would grow step by step
                    let words = distinct_words(text.len());
                    let mut local = match spare {
                        Some(t) if t.short.room() >= words => t,
                        _ => Tally::with_capacity(words),
                    };
                    count_text(text, norm, &mut local);
                    Ok(local)
                })
                .collect();
            for t in tables {
                let emptied = tally.fold(t?);
                if emptied.short.room() > 0 {
                    spare_tallies.push(emptied);
                }
            }
            spare_bufs.extend(batch.into_iter().map(|(_, _, b)| b));
            done += bytes;
            report(progress, Stage::Count, done, total)?;
        }
    }
}

/// Words a short-word lookup runs behind the pre-tokenizer.
const LAG: usize = 8;

/// Counts the words of one raw text into `local` (keys are spans of the NFC text).
///
/// Why the lag (performance notes): the table outgrows the L2 cache, and a rare word's
/// lookup is a cache miss (a quarter of counting on 5 MB of English). Each short word's
/// entry is prefetched when the word is found and looked up `LAG` words later, so the misses
/// overlap with pre-tokenizing instead of following one another.
fn count_text(text: &str, norm: Normalizer, local: &mut Tally) {
    let mut ring = [0u128; LAG];
    let mut n = 0usize;
    norm.for_each_piece(text, |piece| {
        let bytes = piece.as_bytes();
        for w in words(piece) {
            let b = w.as_bytes();
            if b.len() < 16 && !b.is_empty() {
                // one 16-byte load and a mask where the text has the bytes (`pack` branches on
                // the length)
                let start = w.as_ptr() as usize - bytes.as_ptr() as usize;
                let key = key_in(bytes, start, b.len());
                local.short.prefetch(key);
                let old = std::mem::replace(&mut ring[n % LAG], key);
                if n >= LAG {
                    local.short.add(old, 1);
                }
                n += 1;
            } else {
                local.add(w);
            }
        }
    });
    for &key in &ring[..n.min(LAG)] {
        local.short.add(key, 1);
    }
}

/// The word table while counting, keyed by the raw (NFC, spaces not yet `▁`) word.
///
/// Why two maps (performance notes): most words are at most 15 bytes long; such a word is
/// packed with its length into a `u128`, so a lookup is one integer hash and compare, with no
/// `memcmp` call and no allocation per new word (string keys cost 20% of counting in memcmp
/// alone). Longer words (and the empty word, whose packed form is zero) go to a string map.
/// Keys become marker-form strings once, at the end.
#[derive(Clone, Debug, Default)]
struct Tally {
    short: ShortCounts,
    long: FxHashMap<Box<str>, u64>,
}

impl Tally {
    #[inline]
    fn add(&mut self, w: &str) {
        self.add_n(w, 1);
    }

    #[inline]
    fn add_n(&mut self, w: &str, n: u64) {
        let b = w.as_bytes();
        if b.len() < 16 && !b.is_empty() {
            self.short.add(pack(b), n);
        } else if let Some(c) = self.long.get_mut(w) {
            *c += n;
        } else {
            self.long.insert(w.into(), n);
        }
    }

    fn with_capacity(words: usize) -> Self {
        Tally {
            short: ShortCounts::with_capacity(words),
            long: FxHashMap::default(),
        }
    }

    /// The sum of two tallies (the smaller folded into the larger).
    fn merge(mut self, other: Tally) -> Tally {
        self.fold(other);
        self
    }

    /// Adds `other` to `self` (the smaller folded into the larger, which `self` becomes) and
    /// returns the smaller one emptied, its table kept for reuse.
    fn fold(&mut self, mut other: Tally) -> Tally {
        if self.short.len() < other.short.len() {
            std::mem::swap(self, &mut other);
        }
        other.short.drain(|k, c| self.short.add(k, c));
        for (w, c) in other.long.drain() {
            *self.long.entry(w).or_insert(0) += c;
        }
        other
    }
}

/// Reads a file in chunks that end just after a newline (or at the end of the file).
struct ChunkReader<'a> {
    path: &'a Path,
    file: File,
    carry: Vec<u8>,
    offset: u64,
    /// Bytes the file had left to read when last asked (its length at open, less reads).
    left: u64,
    eof: bool,
}

impl<'a> ChunkReader<'a> {
    fn open(path: &'a Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let left = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(ChunkReader {
            path,
            file,
            carry: Vec::new(),
            offset: 0,
            left,
            eof: false,
        })
    }

    /// The next chunk and its byte offset in the file, read into a buffer from `spare` (or
    /// a new one); `None` at the end, the buffer given back.
    fn next_chunk(&mut self, spare: &mut Vec<Vec<u8>>) -> Result<Option<(u64, Vec<u8>)>> {
        let mut buf = spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut target = CHUNK.max(buf.len() + 1);
        loop {
            if !self.eof && buf.len() < target {
                let want = (target - buf.len()) as u64;
                // Room up front (growing by doubling copied the chunk several times), but no
                // more than the file holds.
                let room = buf.capacity();
                buf.reserve(want.min(self.left + 1) as usize);
                if buf.capacity() != room {
                    crate::huge::advise_capacity(&mut buf);
                }
                let got = (&mut self.file)
                    .take(want)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io(self.path, e))? as u64;
                self.left = self.left.saturating_sub(got);
                self.eof = got < want;
            }
            let start = self.offset;
            if self.eof {
                if buf.is_empty() {
                    spare.push(buf);
                    return Ok(None);
                }
                self.offset += buf.len() as u64;
                return Ok(Some((start, buf)));
            }
            if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
                self.carry.extend_from_slice(&buf[i + 1..]);
                buf.truncate(i + 1);
                self.offset += buf.len() as u64;
                return Ok(Some((start, buf)));
            }
            target += CHUNK; // a line longer than a chunk: read on
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        let mut wc = WordCounts::new();
        wc.add_texts(&["a b a", "b\n", ""]);
        assert_eq!(wc.get("a"), Some(1));
        assert_eq!(wc.get("▁a"), Some(1));
        assert_eq!(wc.get("▁b"), Some(1));
        assert_eq!(wc.get("b"), Some(1));
        assert_eq!(wc.get("\n"), Some(1));
        assert_eq!(wc.len(), 5);
        let mut empty = WordCounts::new();
        empty.add_texts::<&str>(&[]);
        assert!(empty.is_empty());
    }

    #[test]
    fn files_match_texts_and_report_bad_utf8() {
        let dir = std::env::temp_dir().join(format!("fastbpe-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = "héllo wörld, ışık 123\n";
        let text: String = line.repeat(300_000); // many chunks
        let good = dir.join("good.txt");
        std::fs::write(&good, &text).unwrap();
        let mut from_file = WordCounts::new();
        from_file
            .add_files(std::slice::from_ref(&good), None)
            .unwrap();
        let mut from_text = WordCounts::new();
        from_text.add_texts(&[text.as_str()]);
        assert_eq!(from_file.marked(), from_text.marked());
        assert_eq!(from_file.get("▁ışık"), Some(300_000));

        let bad = dir.join("bad.txt");
        let mut bytes = b"ok\nfine ".to_vec();
        bytes.push(0xff);
        std::fs::write(&bad, &bytes).unwrap();
        let err = WordCounts::new()
            .add_files(&[good, bad.clone()], None)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidUtf8 { offset: 8, .. }), "{err}");
        assert!(err.to_string().contains("bad.txt"));
        let missing = WordCounts::new()
            .add_files(&[dir.join("nope.txt")], None)
            .unwrap_err();
        assert!(matches!(missing, Error::FileNotFound { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Later batches count in the buffers and tables of earlier ones: nothing of an earlier
    /// chunk may be left in them (words of one file only, a line longer than a chunk after a
    /// short file, files that end without a newline).
    #[test]
    fn reused_buffers_and_tables_carry_nothing_over() {
        let dir = std::env::temp_dir().join(format!("fastbpe-reuse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let per_file = |f: usize| -> String {
            let mut t = String::new();
            for i in 0..6_000 {
                t.push_str(&format!("w{f}x{} common ", i % (700 + 300 * f)));
                if i % 5 == 0 {
                    // 16 bytes and more: the long-word map, emptied for reuse too
                    let (a, b) = ((b'a' + f as u8) as char, (b'a' + (i % 20) as u8) as char);
                    t.push_str(&format!("incomprehensibilities{a}{b} "));
                }
                if i % 9 == 0 {
                    t.push('\n');
                }
            }
            t
        };
        let mut texts: Vec<String> = (0..6).map(per_file).collect();
        texts.insert(2, "short\n".into());
        texts.insert(3, format!("{}\n", "long line ".repeat(5 * CHUNK / 10)));
        texts.push("no newline at the end".into());
        let paths: Vec<PathBuf> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = dir.join(format!("{i}.txt"));
                std::fs::write(&p, t).unwrap();
                p
            })
            .collect();
        assert!(texts.iter().map(String::len).sum::<usize>() > 16 * CHUNK);
        let mut from_files = WordCounts::new();
        from_files.add_files(&paths, None).unwrap();
        let mut from_texts = WordCounts::new();
        from_texts.add_texts(&texts);
        assert_eq!(from_files.marked(), from_texts.marked());
        assert_eq!(from_files.get("▁common"), Some(36_000));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
