//! A tiny parser for flat JSON objects `{"token": id, ...}` (vocab.json) that reports the
//! 1-based line of every problem, which serde_json's map deserialisation cannot do per entry.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Parses a flat JSON object `{"token": integer, ...}` into (token, id, 1-based line) in file
/// order, rejecting duplicate keys. Hand-written so that every error has a line number.
pub fn parse_flat_json(text: &str, path: &Path) -> Result<Vec<(String, i64, usize)>> {
    let mut p = JsonCursor {
        s: text.as_bytes(),
        i: 0,
        line: 1,
        path,
    };
    let mut out = Vec::new();
    let mut seen = rustc_hash::FxHashSet::default();
    p.skip_ws();
    p.expect(b'{')?;
    p.skip_ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.skip_ws();
            let line = p.line;
            let key = p.string()?;
            p.skip_ws();
            p.expect(b':')?;
            p.skip_ws();
            let id = p.integer()?;
            if !seen.insert(key.clone()) {
                return Err(p.err_at(line, format!("token {key:?} appears twice")));
            }
            out.push((key, id, line));
            p.skip_ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(p.err("expected ',' or '}' after an entry")),
            }
        }
    }
    p.skip_ws();
    if p.i < p.s.len() {
        return Err(p.err("unexpected text after the closing '}'"));
    }
    Ok(out)
}

struct JsonCursor<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
    path: &'a Path,
}

impl JsonCursor<'_> {
    fn err(&self, msg: impl Into<String>) -> Error {
        self.err_at(self.line, msg)
    }
    fn err_at(&self, line: usize, msg: impl Into<String>) -> Error {
        Error::corrupt(
            PathBuf::from(self.path),
            line,
            format!(
                "{}; expected a JSON object {{\"token\": id, ...}}",
                msg.into()
            ),
        )
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.next();
        }
    }
    fn expect(&mut self, c: u8) -> Result<()> {
        if self.next() == Some(c) {
            Ok(())
        } else {
            Err(self.err(format!("expected '{}'", c as char)))
        }
    }
    fn hex4(&mut self) -> Result<u32> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok());
        let v = h
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.next() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    let c = match self.next() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let mut v = self.hex4()?;
                            if (0xD800..0xDC00).contains(&v) && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                v = 0x10000
                                    + ((v - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            char::from_u32(v)
                                .ok_or_else(|| self.err("\\u escape is not a character"))?
                        }
                        _ => return Err(self.err("bad escape in string")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(b'\n') => return Err(self.err("newline inside a string")),
                Some(c) => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }
    fn integer(&mut self) -> Result<i64> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| self.err("expected an integer id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes() {
        let v = parse_flat_json(
            "{\"a\\n\": 0, \"\\u00e9\\ud83c\\udf89\": 1}",
            Path::new("v"),
        )
        .unwrap();
        assert_eq!(v[0].0, "a\n");
        assert_eq!(v[1].0, "é🎉");
        assert!(parse_flat_json("{\"a\": 0, \"a\": 1}", Path::new("v")).is_err());
        assert!(parse_flat_json("{}", Path::new("v")).unwrap().is_empty());
    }
}
