//! Normalisation (docs/tokenizer.md section 1): NFC, then every space becomes `▁`.
//!
//! Hot paths never build the `▁` string: the pre-tokenizer treats a literal space exactly like
//! `▁` (after NFC a space can only stand for `▁`), and words are turned into their marker form
//! only when they are stored ([`to_marker`]) or looked up character by character.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// The space marker U+2581, as in SentencePiece and Llama.
pub const SPACE_MARKER: char = '\u{2581}';

/// NFC of `text`, borrowed when it already is NFC (always true for ASCII).
pub fn nfc(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    }
}

/// Calls `f` with the NFC form of `text`, piece by piece: only the lines that are not NFC
/// already are normalised (a newline never composes with its neighbours and is always a word
/// of its own, so cutting after it changes neither NFC nor the words).
pub fn for_each_nfc_piece(text: &str, mut f: impl FnMut(&str)) {
    if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
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

/// The full normalisation of section 1 (NFC, then spaces to `▁`).
pub fn normalize(text: &str) -> String {
    to_marker(&nfc(text)).into_owned()
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

    #[test]
    fn marker_kept() {
        assert_eq!(normalize("▁x y"), "▁x▁y");
        assert!(is_marker(' ') && is_marker('▁') && !is_marker('\t'));
    }
}
