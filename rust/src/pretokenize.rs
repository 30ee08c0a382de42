//! The pre-tokenizer (docs/tokenizer.md section 2): normalised text -> words, by hand.
//!
//! Equivalent to the regex
//! `▁?[\p{L}\p{M}]+|▁?\p{N}+|▁?[^\p{White_Space}\p{Cc}\p{L}\p{M}\p{N}▁]+|▁+(?![^\p{White_Space}\p{Cc}▁])|.`
//! Every character falls in one [`Class`]; a word is one of the five rules of the contract.
//! A literal space is treated as the marker `▁` (see `normalize.rs`), so callers may run this on
//! NFC text whose spaces are not replaced yet; the spans are then the same words.

use std::sync::OnceLock;

use unicode_general_category::{get_general_category, GeneralCategory as G};

use crate::normalize::SPACE_MARKER;
use crate::split_simd;

/// The character classes that drive the five rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// L* and M*: rule 1.
    Letter,
    /// N*: rule 2.
    Digit,
    /// Anything not White_Space, Cc, L, M, N or `▁`: rule 3.
    Other,
    /// `▁` (or a space): optional prefix of rules 1-3, runs of rule 4.
    Marker,
    /// White_Space other than the marker, and Cc: always a word of its own (rule 5).
    Single,
}

const fn ascii_class(b: u8) -> Class {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
        b'0'..=b'9' => Class::Digit,
        b' ' => Class::Marker,
        0..=0x1f | 0x7f => Class::Single,
        _ => Class::Other,
    }
}

static ASCII: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = ascii_class(i as u8);
        i += 1;
    }
    t
};

/// Characters below this have their class in a table (Latin-1, Latin Extended-A/B, IPA: most
/// European text, Turkish included; the category lookup cost a fifth of splitting Turkish).
const TABLE_END: usize = 0x300;

fn class_table() -> &'static [Class; TABLE_END] {
    static TABLE: OnceLock<[Class; TABLE_END]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [Class::Other; TABLE_END];
        for (i, k) in t.iter_mut().enumerate() {
            *k = char::from_u32(i as u32).map_or(Class::Other, class_by_category);
        }
        t
    })
}

/// The class of one character.
#[inline]
pub fn class_of(c: char) -> Class {
    if c.is_ascii() {
        return ASCII[c as usize];
    }
    if (c as usize) < TABLE_END {
        return class_table()[c as usize];
    }
    class_by_category(c)
}

/// The class of one character from its Unicode properties.
fn class_by_category(c: char) -> Class {
    if c.is_ascii() {
        return ASCII[c as usize];
    }
    if c == SPACE_MARKER {
        return Class::Marker;
    }
    // `char::is_whitespace` is exactly the Unicode White_Space property.
    if c.is_whitespace() {
        return Class::Single;
    }
    match get_general_category(c) {
        G::UppercaseLetter
        | G::LowercaseLetter
        | G::TitlecaseLetter
        | G::ModifierLetter
        | G::OtherLetter
        | G::NonspacingMark
        | G::SpacingMark
        | G::EnclosingMark => Class::Letter,
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => Class::Digit,
        G::Control => Class::Single,
        _ => Class::Other,
    }
}

/// The first character of `s` and its class (`s` must not be empty).
#[inline]
fn first(s: &str) -> (char, Class) {
    let b = s.as_bytes()[0];
    if b < 0x80 {
        (b as char, ASCII[b as usize])
    } else {
        let c = s.chars().next().unwrap_or(SPACE_MARKER);
        (c, class_of(c))
    }
}

/// Byte length of the longest prefix of `s` whose characters are all of class `class`.
#[inline]
fn run_len(s: &str, class: Class) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if ASCII[b as usize] != class {
                break;
            }
            i += 1;
        } else {
            let (c, k) = first(&s[i..]);
            if k != class {
                break;
            }
            i += c.len_utf8();
        }
    }
    i
}

#[inline]
fn starts_word(k: Class) -> bool {
    matches!(k, Class::Letter | Class::Digit | Class::Other)
}

/// Byte length of the word that starts `s` (`s` must not be empty).
#[inline]
pub fn word_len(s: &str) -> usize {
    let (c0, k0) = first(s);
    let n0 = c0.len_utf8();
    match k0 {
        Class::Letter | Class::Digit | Class::Other => run_len(s, k0),
        Class::Single => n0,
        Class::Marker => {
            let rest = &s[n0..];
            if rest.is_empty() {
                return n0;
            }
            let (_, k1) = first(rest);
            if starts_word(k1) {
                // rules 1-3 with their optional marker
                return n0 + run_len(rest, k1);
            }
            // rule 4: a run of markers, one short if a word starts right after it
            let mut end = n0; // end of the run so far
            let mut last = 0; // start of the run's last marker
            while end < s.len() {
                let (c, k) = first(&s[end..]);
                if k != Class::Marker {
                    if starts_word(k) {
                        return last;
                    }
                    break;
                }
                last = end;
                end += c.len_utf8();
            }
            end
        }
    }
}

/// Iterator over the words of a normalised text, as sub-slices.
///
/// ASCII stretches go 64 bytes at a time through `split_simd` (boundaries as a bit mask; a
/// text's last bytes padded to a block); the words of a block that holds non-ASCII text and
/// a word longer than a block come from the scalar [`word_len`]. Both give the same words
/// (tested).
pub struct Words<'a> {
    text: &'a str,
    /// Start of the next word.
    start: usize,
    /// Pending word starts from the current block, as offsets from `base`.
    bnd: u64,
    base: usize,
    /// Scalar scanning up to here (a block with non-ASCII bytes).
    scalar_until: usize,
}

impl<'a> Words<'a> {
    #[inline]
    fn scalar(&mut self) -> &'a str {
        let k = word_len(&self.text[self.start..]);
        let w = &self.text[self.start..self.start + k];
        self.start += k;
        w
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.bnd != 0 {
            let end = self.base + self.bnd.trailing_zeros() as usize;
            self.bnd &= self.bnd - 1;
            debug_assert!(
                self.text.is_char_boundary(self.start) && self.text.is_char_boundary(end)
            );
            // SAFETY: block boundaries fall between characters (`split_simd` marks them only
            // before ASCII bytes and the lead bytes of two- and three-byte characters: the
            // bytes of one character share a class; its tests compare it with the scalar
            // splitter), and `start <= end <= len`. The checked slice's
            // boundary tests were a tenth of the splitter's instructions.
            let w = unsafe { self.text.get_unchecked(self.start..end) };
            self.start = end;
            return Some(w);
        }
        let b = self.text.as_bytes();
        let n = b.len();
        if self.start >= n {
            return None;
        }
        if self.start < self.scalar_until {
            return Some(self.scalar());
        }
        let rest = n - self.start;
        let found = if rest >= 64 {
            let blk: &[u8; 64] = b[self.start..self.start + 64].try_into().expect("64 bytes");
            split_simd::block(blk, b.get(self.start + 64).copied())
        } else {
            // The text's last bytes, padded with spaces: a boundary's test looks one byte
            // ahead, and a space there is what the end is (no word character follows); the
            // end itself ends the last word. Scanned one byte at a time, this tail (the last
            // word of most 20-line documents and all of the shortest) took 7% of encoding.
            let mut blk = [b' '; 64];
            blk[..rest].copy_from_slice(&b[self.start..]);
            let mut tail = split_simd::block(&blk, None);
            tail.bnd = (tail.bnd & ((1 << rest) - 1)) | (1 << rest);
            tail
        };
        if found.non_ascii {
            self.scalar_until = self.start + 64;
            return Some(self.scalar());
        }
        if found.bnd == 0 {
            return Some(self.scalar()); // one word longer than the block
        }
        // Every boundary but the last ends a complete word; the word from the last one on
        // may run past the block and is found again from a new block.
        self.base = self.start;
        self.bnd = found.bnd;
        self.next()
    }
}

/// About how many distinct words `bytes` of text hold: English documents have ~26k in 1 MB,
/// ~72k in 5 MB and ~158k in 20 MB, about `26k * MB^0.62` (Heaps' law). Tables of words are
/// sized from it once (the training counter's, encoding's word cache): growing them step by
/// step rehashed every entry at each doubling and touched twice the memory; a text with more
/// distinct words still grows them.
pub(crate) fn distinct_words(bytes: usize) -> usize {
    (26_000.0 * (bytes as f64 / 1e6).powf(0.62)) as usize
}

/// The words of `text` (normalised, or NFC with spaces not yet replaced).
pub fn words(text: &str) -> Words<'_> {
    Words {
        text,
        start: 0,
        bnd: 0,
        base: 0,
        scalar_until: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    fn split(text: &str) -> Vec<String> {
        words(&normalize(text)).map(String::from).collect()
    }

    #[test]
    fn class_table_agrees_with_the_categories() {
        for c in (0u32..0x400).filter_map(char::from_u32) {
            assert_eq!(class_of(c), class_by_category(c), "{c:?}");
        }
        assert_eq!(class_of('ş'), Class::Letter);
        assert_eq!(class_of('\u{a0}'), Class::Single); // NBSP is White_Space
        assert_eq!(class_of('²'), Class::Digit);
        assert_eq!(class_of('§'), Class::Other);
    }

    #[test]
    fn empty_and_single() {
        assert!(split("").is_empty());
        assert_eq!(split("a"), ["a"]);
        assert_eq!(split(" "), ["▁"]);
        assert_eq!(split("\n"), ["\n"]);
    }

    #[test]
    fn spaces() {
        assert_eq!(split("a   b"), ["a", "▁▁", "▁b"]);
        assert_eq!(split("a  "), ["a", "▁▁"]);
        assert_eq!(split("  a"), ["▁", "▁a"]);
        assert_eq!(split("hello, world!"), ["hello", ",", "▁world", "!"]);
        assert_eq!(split("a \nb"), ["a", "▁", "\n", "b"]);
        assert_eq!(split("a  \t b"), ["a", "▁▁", "\t", "▁b"]);
    }

    #[test]
    fn newlines_tabs_controls() {
        assert_eq!(
            split("a\n\nb\tc\r\n"),
            ["a", "\n", "\n", "b", "\t", "c", "\r", "\n"]
        );
        assert_eq!(
            split("x\u{0}y\u{a0}z\u{3000}"),
            ["x", "\u{0}", "y", "\u{a0}", "z", "\u{3000}"]
        );
    }

    #[test]
    fn digits_and_letters_split() {
        assert_eq!(split("abc123def 42x"), ["abc", "123", "def", "▁42", "x"]);
        assert_eq!(split("3.14"), ["3", ".", "14"]);
        assert_eq!(split("½Ⅻ"), ["½Ⅻ"]);
    }

    #[test]
    fn turkish() {
        assert_eq!(
            split("İstanbul'da ışık, Şişli ğ"),
            ["İstanbul", "'", "da", "▁ışık", ",", "▁Şişli", "▁ğ"]
        );
        // combining dot above composes (NFC) and stays inside the word
        assert_eq!(split("I\u{307}zmir"), ["İzmir"]);
        assert_eq!(split("i\u{307}"), ["i\u{307}"]);
    }

    #[test]
    fn cjk_and_emoji() {
        assert_eq!(split("日本語のテキスト。"), ["日本語のテキスト", "。"]);
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(
            split(&format!("hi {family}!")),
            ["hi", &format!("▁{family}!")]
        );
        assert_eq!(split("a🎉🎉 b"), ["a", "🎉🎉", "▁b"]);
    }

    #[test]
    fn marker_before_non_word() {
        assert_eq!(split("a ▁b"), ["a", "▁", "▁b"]);
        assert_eq!(split("▁"), ["▁"]);
        assert_eq!(split(" \u{301}"), ["▁\u{301}"]);
    }

    #[test]
    fn raw_spaces_equal_markers() {
        let raw = "x  y\t z ";
        let a: Vec<_> = words(raw).map(|w| w.replace(' ', "▁")).collect();
        assert_eq!(a, split(raw));
    }

    /// The words by the scalar scanner alone.
    fn scalar_words(text: &str) -> Vec<&str> {
        let mut out = vec![];
        let mut rest = text;
        while !rest.is_empty() {
            let (w, r) = rest.split_at(word_len(rest));
            out.push(w);
            rest = r;
        }
        out
    }

    #[test]
    fn latin_letters_and_signs_across_block_ends() {
        // a two-byte character cut by the end of a 64-byte block: × and ÷ are not letters
        for (k, c) in [
            (63, "×"),
            (63, "÷"),
            (63, "ş"),
            (62, "×"),
            (64, "×"),
            (63, "—"),
        ] {
            // `!` before the cut: × and ÷ join its word, a letter starts a new one
            let text = format!("{}!{c}{}", "a ".repeat(k / 2), "b".repeat(70));
            let got: Vec<&str> = words(&text).collect();
            assert_eq!(got, scalar_words(&text), "{text:?}");
            let text = format!("{}{c}{}", "a".repeat(k), "b".repeat(70));
            let got: Vec<&str> = words(&text).collect();
            assert_eq!(got, scalar_words(&text), "{text:?}");
        }
    }

    #[test]
    fn blocks_equal_scalar() {
        // Mostly ASCII, long enough for many 64-byte blocks, with every class and the
        // pieces where the rules interact (marker runs, singles, DEL, non-ASCII, ▁).
        let pieces = [
            "a",
            "Z",
            "q",
            "7",
            "0",
            "!",
            "~",
            "/",
            " ",
            " ",
            "  ",
            "   ",
            "\n",
            "\t",
            "\r",
            "\u{7f}",
            "\u{0}",
            "é",
            "▁",
            "ı",
            "ş",
            "İ",
            "ğ",
            "Ö",
            "ɏ",
            "ɿ",
            "ʀ",
            "×",
            "÷",
            "ª",
            "²",
            "©",
            "—",
            "’",
            "“",
            "…",
            "\u{2009}",
            "\u{2028}",
            "\u{200b}",
            "\u{202f}",
            "\u{2040}",
            " ışık",
            "çöğüş",
            "😀",
            "\u{a0}",
            "\u{301}",
            "word",
            " the",
            "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
        ];
        let mut seed = 0x2545f4914f6cdd1du64;
        for round in 0..6000 {
            let len = (round % 97) * 7;
            let mut text = String::new();
            while text.len() < len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // other non-ASCII pieces only in some texts, so most blocks take a fast path
                // (ASCII, Latin letters below U+0280 but × and ÷, General Punctuation's
                // quotes and dashes)
                let k = (seed % pieces.len() as u64) as usize;
                let latin = |c: char| ('\u{c0}'..'\u{280}').contains(&c) && !"×÷".contains(c);
                let quote = |c: char| {
                    ('\u{200b}'..='\u{203f}').contains(&c)
                        && !"\u{2028}\u{2029}\u{202f}".contains(c)
                };
                let fast = |c: char| c.is_ascii() || latin(c) || quote(c);
                if round % 3 != 0 && !pieces[k].chars().all(fast) {
                    continue;
                }
                text.push_str(pieces[k]);
            }
            let got: Vec<&str> = words(&text).collect();
            assert_eq!(got, scalar_words(&text), "{text:?}");
        }
    }
}
