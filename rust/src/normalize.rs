//! Normalisation (docs/tokenizer.md section 1): NFC (or NFKC), the optional lowercasing and
//! accent stripping ([`Normalizer`]), then every space becomes `▁`.
//!
//! Hot paths never build the `▁` string: the pre-tokenizer treats a literal space exactly like
//! `▁` (after NFC a space can only stand for `▁`), and words are turned into their marker form
//! only when they are stored ([`to_marker`]) or looked up character by character.

use std::borrow::Cow;

use unicode_general_category::{get_general_category, GeneralCategory as G};
use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// The space marker U+2581, as in SentencePiece and Llama.
pub const SPACE_MARKER: char = '\u{2581}';

/// `is_nfc_quick(text)`, with the per-character check asked only about the runs of characters
/// at or above U+0300 (UTF-8 lead bytes from 0xCC). Every character below (ASCII, Latin-1,
/// Latin Extended-A/B, IPA) is NFC-stable and a starter (combining class 0), so nothing is
/// ordered or composed across one and each run can be checked alone. Most European text,
/// Turkish included, has no such character or a few per line (dashes, curly quotes): checking
/// whole texts character by character cost 9% of encoding Turkish, 12% while the quick check
/// still ran on any text with one dash.
fn nfc_quick(text: &str) -> IsNormalized {
    let mut result = IsNormalized::Yes;
    let mut from = 0;
    while let Some(k) = first_at_least_0xcc(&text.as_bytes()[from..]) {
        // a lead byte (continuation bytes are below 0xC0), so a character boundary
        let start = from + k;
        let run = text[start..]
            .char_indices()
            .find(|&(_, c)| c < '\u{300}')
            .map_or(text.len() - start, |(j, _)| j);
        match is_nfc_quick(text[start..start + run].chars()) {
            IsNormalized::No => return IsNormalized::No,
            IsNormalized::Maybe => result = IsNormalized::Maybe,
            IsNormalized::Yes => {}
        }
        from = start + run;
    }
    result
}

/// The index of the first byte of at least 0xCC.
#[inline]
fn first_at_least_0xcc(b: &[u8]) -> Option<usize> {
    // the maximum of each 32-byte block vectorises; an early exit per byte does not
    let block = b
        .chunks(32)
        .position(|c| c.iter().fold(0u8, |m, &x| m.max(x)) >= 0xCC)?;
    let at = block * 32;
    b[at..].iter().position(|&x| x >= 0xCC).map(|k| at + k)
}

/// NFC of `text`, borrowed when it already is NFC (always true for ASCII).
pub fn nfc(text: &str) -> Cow<'_, str> {
    if nfc_quick(text) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    }
}

/// Calls `f` with the NFC form of `text`, piece by piece: only the lines that are not NFC
/// already are normalised (a newline never composes with its neighbours and is always a word
/// of its own, so cutting after it changes neither NFC nor the words).
pub fn for_each_nfc_piece(text: &str, mut f: impl FnMut(&str)) {
    if nfc_quick(text) == IsNormalized::Yes {
        return f(text);
    }
    for line in text.split_inclusive('\n') {
        f(&nfc(line));
    }
}

/// A space or the marker itself: both are the marker after normalisation.
#[inline]
pub fn is_marker(c: char) -> bool {
    c == ' ' || c == SPACE_MARKER
}

/// `word` with its spaces replaced by `▁` (the stored form of a word).
pub fn to_marker(word: &str) -> Cow<'_, str> {
    if word.contains(' ') {
        Cow::Owned(word.replace(' ', "\u{2581}"))
    } else {
        Cow::Borrowed(word)
    }
}

/// The full default normalisation of section 1 (NFC, then spaces to `▁`).
pub fn normalize(text: &str) -> String {
    to_marker(&nfc(text)).into_owned()
}

/// The lowercasing rule (docs/tokenizer.md section 1, step 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lowercase {
    #[default]
    Off,
    /// Each character's full Unicode lowercase mapping (`char::to_lowercase`, no context:
    /// a final capital sigma becomes σ, as in HuggingFace's `Lowercase`).
    Unicode,
    /// Turkish and Azerbaijani: İ -> i and I -> ı first, then as `Unicode`.
    Turkish,
}

impl Lowercase {
    /// The name used in `fastbpe.json` and in Python (`None` when off).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Lowercase::Off => None,
            Lowercase::Unicode => Some("default"),
            Lowercase::Turkish => Some("tr"),
        }
    }

    pub fn from_name(name: Option<&str>) -> Option<Self> {
        match name {
            None => Some(Lowercase::Off),
            Some("default") => Some(Lowercase::Unicode),
            Some("tr") => Some(Lowercase::Turkish),
            Some(_) => None,
        }
    }
}

/// The optional normalisation of a tokenizer (all off by default: plain NFC).
///
/// In order (docs/tokenizer.md section 1): NFC, or NFKC with `nfkc`; the lowercase rule;
/// with `strip_accents`, NFD and every mark (general category M: Mn, Mc, Me) removed; then,
/// if lowercasing or stripping ran, NFC (NFKC) again. The space marker comes after all this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Normalizer {
    pub lowercase: Lowercase,
    pub strip_accents: bool,
    pub nfkc: bool,
}

impl Normalizer {
    /// Plain NFC: the default, with its zero-copy fast paths.
    pub fn is_plain(&self) -> bool {
        *self == Normalizer::default()
    }

    /// `text` normalised (everything but the space marker).
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_plain() {
            return nfc(text);
        }
        if text.is_ascii() && self.lowercase != Lowercase::Turkish {
            // NFC, NFKC and accent stripping leave ASCII alone
            return match self.lowercase {
                Lowercase::Off => Cow::Borrowed(text),
                _ if !text.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Borrowed(text),
                _ => Cow::Owned(text.to_ascii_lowercase()),
            };
        }
        // Each step borrows when it changes nothing (quick checks), so text that is already
        // normalised costs a scan per step, not a copy.
        let mut s = self.compose(Cow::Borrowed(text));
        if self.lowercase != Lowercase::Off {
            if let Some(lower) = self.lowercased(&s) {
                s = Cow::Owned(lower);
            }
        }
        if self.strip_accents && !s.is_ascii() {
            s = Cow::Owned(s.nfd().filter(|&c| !is_mark(c)).collect());
        }
        if self.lowercase != Lowercase::Off || self.strip_accents {
            s = self.compose(s);
        }
        s
    }

    /// NFC (NFKC with `nfkc`) of `s`, borrowed when the quick check says it already is.
    fn compose<'a>(&self, s: Cow<'a, str>) -> Cow<'a, str> {
        let done = s.is_ascii()
            || IsNormalized::Yes
                == if self.nfkc {
                    is_nfkc_quick(s.chars())
                } else {
                    is_nfc_quick(s.chars())
                };
        match (done, self.nfkc) {
            (true, _) => s,
            (false, true) => Cow::Owned(s.nfkc().collect()),
            (false, false) => Cow::Owned(s.nfc().collect()),
        }
    }

    /// `s` lowercased by the rule, or None when no character changes.
    fn lowercased(&self, s: &str) -> Option<String> {
        let turkish = self.lowercase == Lowercase::Turkish;
        let unchanged = |c: char| {
            if c.is_ascii() {
                !c.is_ascii_uppercase()
            } else if turkish && c == '\u{130}' {
                false
            } else {
                let mut lower = c.to_lowercase();
                lower.len() == 1 && lower.next() == Some(c)
            }
        };
        let start = s.char_indices().find(|&(_, c)| !unchanged(c))?.0;
        let mut out = String::with_capacity(s.len() + 8);
        out.push_str(&s[..start]);
        for c in s[start..].chars() {
            match (turkish, c) {
                (true, '\u{130}') => out.push('i'),
                (true, 'I') => out.push('\u{131}'),
                _ => out.extend(c.to_lowercase()),
            }
        }
        Some(out)
    }

    /// Calls `f` with the normalised text, piece by piece (lines; see [`for_each_nfc_piece`]:
    /// no step looks across a newline).
    pub fn for_each_piece(&self, text: &str, mut f: impl FnMut(&str)) {
        if self.is_plain() {
            return for_each_nfc_piece(text, f);
        }
        for line in text.split_inclusive('\n') {
            f(&self.apply(line));
        }
    }

    /// The full normalisation of section 1, with the space marker.
    pub fn normalize(&self, text: &str) -> String {
        to_marker(&self.apply(text)).into_owned()
    }
}

/// General category M (Mn, Mc, Me): what HuggingFace's `StripAccents` removes.
fn is_mark(c: char) -> bool {
    !c.is_ascii()
        && matches!(
            get_general_category(c),
            G::NonspacingMark | G::SpacingMark | G::EnclosingMark
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_ascii() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("a b  c"), "a▁b▁▁c");
        assert!(matches!(nfc("plain ascii"), Cow::Borrowed(_)));
    }

    #[test]
    fn below_combining_marks_is_nfc() {
        // every character below U+0300 is NFC-stable and a starter: what `nfc_quick` rests on
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        assert!(is_nfc_quick(all.chars()) == IsNormalized::Yes);
        assert!(all
            .chars()
            .all(|c| unicode_normalization::char::canonical_combining_class(c) == 0));
        assert_eq!(nfc_quick(&all), IsNormalized::Yes);
        assert_eq!(nfc("e\u{301}"), "é");
    }

    #[test]
    fn quick_check_by_runs_agrees_with_the_whole_text_check() {
        // every string of up to 4 of these: low letters, marks of classes 230 and 220 (in and
        // out of order), a mark whose NFC is another (U+0340: No), a composing mark (Maybe),
        // dashes and quotes, the Angstrom sign (No), the marker, Hangul jamo (Maybe)
        let alphabet = [
            'a', 'é', 'ı', 'Ş', '\u{301}', '\u{316}', '\u{340}', '\u{2013}', '\u{2019}',
            '\u{212B}', '\u{2581}', '\u{1161}',
        ];
        let mut seen = [0usize; 3];
        let mut word = Vec::new();
        for n in 0..=4u32 {
            for code in 0..alphabet.len().pow(n) {
                word.clear();
                let mut x = code;
                for _ in 0..n {
                    word.push(alphabet[x % alphabet.len()]);
                    x /= alphabet.len();
                }
                let text: String = word.iter().collect();
                let expected = is_nfc_quick(text.chars());
                assert_eq!(nfc_quick(&text), expected, "{text:?}");
                seen[expected as usize] += 1;
            }
        }
        assert!(seen.iter().all(|&k| k > 100), "{seen:?}"); // Yes, No and Maybe all checked
        let long = format!("{}\u{2013}{}e\u{301}", "ş".repeat(40), "a".repeat(70));
        assert_eq!(nfc_quick(&long), is_nfc_quick(long.chars()));
    }

    #[test]
    fn composes_to_nfc() {
        // e + combining acute -> é ; I + combining dot above -> İ
        assert_eq!(normalize("e\u{301} I\u{307}"), "é▁İ");
        assert_eq!(normalize("ışğ"), "ışğ");
    }

    #[test]
    fn piecewise_nfc_equals_whole() {
        let text = "plain\ne\u{301}x\nmore =\u{338} text\n\u{301}start";
        let mut pieces = String::new();
        for_each_nfc_piece(text, |p| pieces.push_str(p));
        assert_eq!(pieces, nfc(text));
        assert_eq!(pieces, "plain\néx\nmore ≠ text\n\u{301}start");
    }

    fn norm(lowercase: Lowercase, strip_accents: bool, nfkc: bool) -> Normalizer {
        Normalizer {
            lowercase,
            strip_accents,
            nfkc,
        }
    }

    #[test]
    fn turkish_and_default_lowercase() {
        let text = "İSTANBUL ılık IŞIK";
        let tr = norm(Lowercase::Turkish, false, false);
        assert_eq!(tr.apply(text), "istanbul ılık ışık");
        let uni = norm(Lowercase::Unicode, false, false);
        assert_eq!(uni.apply(text), "i\u{307}stanbul ılık işik");
        // I + combining dot above composes to İ first (NFC), so it becomes i, not ı̇
        assert_eq!(tr.apply("I\u{307}I"), "iı");
        // no final-sigma context rule
        assert_eq!(uni.apply("ΟΔΟΣ"), "οδοσ");
        assert_eq!(uni.apply("ABC def"), "abc def");
        assert!(matches!(uni.apply("abc def"), Cow::Borrowed(_)));
        assert_eq!(uni.normalize("A B"), "a▁b");
    }

    #[test]
    fn strip_accents_and_nfkc() {
        let strip = norm(Lowercase::Off, true, false);
        assert_eq!(
            strip.apply("Café naïve e\u{301} Ångström"),
            "Cafe naive e Angstrom"
        );
        assert_eq!(strip.apply("İ"), "I");
        // lowercasing runs first: the dot of İ goes with the accent
        assert_eq!(norm(Lowercase::Unicode, true, false).apply("İ"), "i");
        assert_eq!(norm(Lowercase::Turkish, true, false).apply("İI"), "iı");
        let k = norm(Lowercase::Off, false, true);
        assert_eq!(k.apply("ﬁ １２ ①\u{a0}x"), "fi 12 1 x");
        assert_eq!(k.normalize("a\u{3000}b"), "a▁b");
        assert_eq!(norm(Lowercase::Off, false, false).apply("ﬁ"), "ﬁ");
    }

    #[test]
    fn pieces_equal_whole() {
        let text = "ΑΒ\nİ\u{301}x\n\u{301}start ﬁ\n";
        for n in [
            norm(Lowercase::Turkish, true, true),
            norm(Lowercase::Unicode, false, false),
            norm(Lowercase::Off, true, false),
        ] {
            let mut pieces = String::new();
            n.for_each_piece(text, |p| pieces.push_str(p));
            assert_eq!(pieces, n.apply(text));
        }
    }

    #[test]
    fn lowercase_names() {
        for l in [Lowercase::Off, Lowercase::Unicode, Lowercase::Turkish] {
            assert_eq!(Lowercase::from_name(l.name()), Some(l));
        }
        assert_eq!(Lowercase::from_name(Some("de")), None);
    }

    #[test]
    fn marker_kept() {
        assert_eq!(normalize("▁x y"), "▁x▁y");
        assert!(is_marker(' ') && is_marker('▁') && !is_marker('\t'));
    }
}
