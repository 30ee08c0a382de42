//! Text handed to encoding either as UTF-8 or as fixed-width code units, converted to UTF-8
//! by the thread that encodes it.
//!
//! Why (performance notes): a caller whose strings are stored as Latin-1, UCS-2 or UCS-4
//! (Python's `str`) would otherwise convert every text to UTF-8 before a batch, on one thread
//! (Python's converter runs under its lock): 7 ms of a 6 MB Turkish batch that takes ~30 ms
//! on two threads. Here each worker converts its own texts into one reused buffer.

use crate::transcode;

/// One text: UTF-8, or code units of one width. Surrogates in code units (which UTF-8
/// cannot hold) are read as UTF-16 with replacement, as Python's
/// `s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")`: a high surrogate
/// followed by a low one is the character they encode, any other surrogate U+FFFD.
#[derive(Clone, Copy, Debug)]
pub enum Units<'a> {
    Utf8(&'a str),
    /// Code points below 256, one byte each (pure ASCII is valid UTF-8 as it stands).
    Latin1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

/// Something a batch can encode: a `&str`-like text, or [`Units`].
pub trait Text {
    /// The text as UTF-8, borrowed when it is UTF-8 already, else converted into `buf`.
    fn utf8<'a>(&'a self, buf: &'a mut String) -> &'a str;
    /// Its length in code units (bytes for UTF-8): a size estimate.
    fn len_units(&self) -> usize;
}

impl<T: AsRef<str> + ?Sized> Text for T {
    #[inline]
    fn utf8<'a>(&'a self, _buf: &'a mut String) -> &'a str {
        self.as_ref()
    }

    fn len_units(&self) -> usize {
        self.as_ref().len()
    }
}

impl Text for Units<'_> {
    fn len_units(&self) -> usize {
        match *self {
            Units::Utf8(s) => s.len(),
            Units::Latin1(b) => b.len(),
            Units::Ucs2(u) => u.len(),
            Units::Ucs4(u) => u.len(),
        }
    }

    fn utf8<'a>(&'a self, buf: &'a mut String) -> &'a str {
        match *self {
            Units::Utf8(s) => s,
            // ASCII, the usual case, is used in place
            // SAFETY: ASCII bytes are valid UTF-8.
            Units::Latin1(b) if b.is_ascii() => unsafe { std::str::from_utf8_unchecked(b) },
            Units::Latin1(b) => {
                fill(buf, |out| {
                    transcode::latin1_to_utf8(b, out);
                    true
                });
                buf
            }
            Units::Ucs2(u) => {
                if !fill(buf, |out| transcode::ucs2_to_utf8(u, out)) {
                    // surrogates (rare): read as UTF-16 with replacement
                    let chars = char::decode_utf16(u.iter().copied());
                    buf.extend(chars.map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
                }
                buf
            }
            Units::Ucs4(u) => {
                buf.clear();
                buf.extend(Ucs4Chars(u));
                buf
            }
        }
    }
}

/// The characters of UCS-4 code units (surrogates as in [`Units`]).
struct Ucs4Chars<'a>(&'a [u32]);

impl Iterator for Ucs4Chars<'_> {
    type Item = char;

    #[inline]
    fn next(&mut self) -> Option<char> {
        let (&c, rest) = self.0.split_first()?;
        self.0 = rest;
        if let Some(ch) = char::from_u32(c) {
            return Some(ch);
        }
        if let (0xD800..=0xDBFF, Some(&low @ 0xDC00..=0xDFFF)) = (c, rest.first()) {
            self.0 = &rest[1..];
            let joined = 0x1_0000 + ((c - 0xD800) << 10) + (low - 0xDC00);
            return char::from_u32(joined);
        }
        Some(char::REPLACEMENT_CHARACTER)
    }
}

/// `buf` = the UTF-8 that `write` puts in its bytes; if `write` says no, `buf` is empty.
fn fill(buf: &mut String, write: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
    let mut bytes = std::mem::take(buf).into_bytes();
    let ok = write(&mut bytes);
    if !ok {
        bytes.clear();
    }
    // SAFETY: `write` leaves the UTF-8 of whole characters when it says yes (transcode.rs).
    *buf = unsafe { String::from_utf8_unchecked(bytes) };
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(u: Units<'_>) -> String {
        let mut buf = String::from("stale contents");
        u.utf8(&mut buf).to_string()
    }

    #[test]
    fn every_width_gives_the_same_text() {
        for s in [
            "",
            "plain ascii",
            "çalışkan öğrenci",
            "naïve café",
            "日本語 and 🎉 mixed",
        ] {
            let chars: Vec<char> = s.chars().collect();
            assert_eq!(utf8(Units::Utf8(s)), s);
            assert_eq!(
                utf8(Units::Ucs4(
                    &chars.iter().map(|&c| c as u32).collect::<Vec<_>>()
                )),
                s
            );
            if chars.iter().all(|&c| (c as u32) < 0x1_0000) {
                let ucs2: Vec<u16> = chars.iter().map(|&c| c as u16).collect();
                assert_eq!(utf8(Units::Ucs2(&ucs2)), s);
            }
            if chars.iter().all(|&c| (c as u32) < 0x100) {
                let latin1: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
                assert_eq!(utf8(Units::Latin1(&latin1)), s);
            }
        }
    }

    #[test]
    fn ascii_is_borrowed_and_the_buffer_reused() {
        let mut buf = String::with_capacity(64);
        let text = b"no copy";
        let units = Units::Latin1(text);
        assert_eq!(units.utf8(&mut buf).as_ptr(), text.as_ptr());
        let wide: Vec<u16> = "ğ".encode_utf16().collect();
        assert_eq!(Units::Ucs2(&wide).utf8(&mut buf), "ğ");
        assert_eq!(Units::Latin1(&[0xE9]).utf8(&mut buf), "é");
    }

    #[test]
    fn surrogates_read_as_utf16_with_replacement() {
        // what Python's encode("utf-16", "surrogatepass").decode("utf-16", "replace") gives
        let cases: [(&[u32], &str); 5] = [
            (&[0x61, 0xD800, 0x62], "a\u{FFFD}b"),
            (&[0xDFFF], "\u{FFFD}"),
            (&[0xD83C, 0xDF89, 0x21], "🎉!"),
            (&[0xD83C, 0xD83C, 0xDF89], "\u{FFFD}🎉"),
            (&[0xDF89, 0xD83C], "\u{FFFD}\u{FFFD}"),
        ];
        for (units, expected) in cases {
            assert_eq!(utf8(Units::Ucs4(units)), expected, "{units:x?}");
            let ucs2: Vec<u16> = units.iter().map(|&u| u as u16).collect();
            assert_eq!(utf8(Units::Ucs2(&ucs2)), expected, "{units:x?}");
        }
        assert_eq!(utf8(Units::Ucs4(&[0x11_0000, 0x1F389])), "\u{FFFD}🎉");
    }
}
