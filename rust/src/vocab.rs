//! The vocabulary and merge table of a tokenizer (docs/tokenizer.md section 3).
//!
//! Ids are dense (`0..len`). A one-character token is that character's id, whatever kind of
//! token it is (so a one-character special token is not added twice to the alphabet).

use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::error::{Error, Result};
use crate::normalize::{is_marker, Normalizer, SPACE_MARKER};

/// A pair of adjacent token ids.
pub type Pair = (u32, u32);

/// The default special tokens, ids 0-4.
pub const DEFAULT_SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
/// The special token that every vocabulary must hold.
pub const UNK: &str = "[UNK]";

const NONE: u32 = u32::MAX;

/// The string of the byte token for `b`: `<0x41>`.
pub fn byte_token(b: u8) -> String {
    format!("<0x{b:02X}>")
}

/// Tokens, ids, merges and the lookups encoding needs.
#[derive(Clone, Debug)]
pub struct Model {
    tokens: Vec<String>,
    ids: TokenIds,
    specials: Vec<String>,
    unk_id: u32,
    byte_fallback: bool,
    /// `byte_ids[b]` is the id of `<0xNN>` (only with byte fallback).
    byte_ids: Vec<u32>,
    /// Merges in rank order: the pair and the id of its result.
    merges: Vec<(Pair, u32)>,
    /// pair -> (rank, result id); the first rank wins if a pair was learned twice.
    ranks: FxHashMap<Pair, (u32, u32)>,
    /// id of each ASCII character (NONE if absent); others in `char_ids`.
    ascii_ids: [u32; 128],
    char_ids: FxHashMap<char, u32>,
    marker_id: u32,
    /// The optional normalisation (docs/tokenizer.md section 1); plain NFC by default.
    normalizer: Normalizer,
}

/// Token -> id by a 64-bit hash of the token, so that each token's string is kept once (in
/// `Model::tokens`), not a second time as a map key.
///
/// Why (performance notes, training 8000 tokens on 1 MB, a fresh process): a
/// `HashMap<String, u32>` cost a second allocation per token (~190 instructions) and its
/// 32-byte entries plus the copies were ~0.5 MB of first-touched pages (~3 us per 4 KB).
#[derive(Clone, Debug, Default)]
struct TokenIds {
    by_hash: FxHashMap<u64, u32>,
    /// Tokens whose hash an earlier, different token holds in `by_hash` (rare).
    twins: FxHashMap<String, u32>,
}

impl TokenIds {
    #[inline]
    fn get(&self, tokens: &[String], token: &str) -> Option<u32> {
        let id = *self.by_hash.get(&FxBuildHasher.hash_one(token))?;
        if tokens[id as usize] == token {
            Some(id)
        } else {
            self.twins.get(token).copied()
        }
    }

    /// Adds `token`, which must be absent.
    fn insert(&mut self, token: &str, id: u32) {
        match self.by_hash.entry(FxBuildHasher.hash_one(token)) {
            Entry::Vacant(e) => {
                e.insert(id);
            }
            Entry::Occupied(_) => {
                self.twins.insert(token.to_owned(), id);
            }
        }
    }
}

impl Model {
    /// A vocabulary with only the special tokens and, with `byte_fallback`, the 256 byte tokens.
    pub fn new(specials: &[String], byte_fallback: bool) -> Result<Self> {
        check_specials(specials)?;
        let mut m = Model {
            tokens: Vec::new(),
            ids: TokenIds::default(),
            specials: specials.to_vec(),
            unk_id: NONE,
            byte_fallback,
            byte_ids: Vec::new(),
            merges: Vec::new(),
            ranks: FxHashMap::default(),
            ascii_ids: [NONE; 128],
            char_ids: FxHashMap::default(),
            marker_id: NONE,
            normalizer: Normalizer::default(),
        };
        for s in specials {
            m.add_token(s.clone());
        }
        m.unk_id = m.id(UNK).expect("the specials are checked to hold [UNK]");
        if byte_fallback {
            for b in 0..=255u8 {
                let t = byte_token(b);
                if m.id(&t).is_some() {
                    return Err(Error::InvalidArgument(format!(
                        "special token {t:?} collides with a byte-fallback token; rename it"
                    )));
                }
                let id = m.add_token(t);
                m.byte_ids.push(id);
            }
        }
        Ok(m)
    }

    /// Adds `token` unless present; returns its id either way.
    /// Room for `additional` more tokens and merges (training knows how many it will add).
    pub fn reserve(&mut self, additional: usize) {
        self.tokens.reserve(additional);
        self.ids.by_hash.reserve(additional);
        self.merges.reserve(additional);
        self.ranks.reserve(additional);
    }

    pub fn add_token(&mut self, token: String) -> u32 {
        if let Some(id) = self.id(&token) {
            return id;
        }
        let id = self.tokens.len() as u32;
        let mut chars = token.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            if c.is_ascii() {
                self.ascii_ids[c as usize] = id;
            } else {
                self.char_ids.insert(c, id);
            }
            if c == SPACE_MARKER {
                self.marker_id = id;
            }
        }
        self.ids.insert(&token, id);
        self.tokens.push(token);
        id
    }

    /// Records the merge `pair` (the next rank) and returns the id of `left + right`.
    pub fn add_merge(&mut self, pair: Pair) -> u32 {
        let (l, r) = (&self.tokens[pair.0 as usize], &self.tokens[pair.1 as usize]);
        let mut joined = String::with_capacity(l.len() + r.len());
        joined.push_str(l);
        joined.push_str(r);
        let id = self.add_token(joined);
        let rank = self.merges.len() as u32;
        self.merges.push((pair, id));
        self.ranks.entry(pair).or_insert((rank, id));
        id
    }

    /// The id of character `c` (a space is the marker), if in the vocabulary.
    #[inline]
    pub fn char_id(&self, c: char) -> Option<u32> {
        let id = if c.is_ascii() {
            if c == ' ' {
                self.marker_id
            } else {
                self.ascii_ids[c as usize]
            }
        } else {
            *self.char_ids.get(&c).unwrap_or(&NONE)
        };
        (id != NONE).then_some(id)
    }

    /// Appends the ids for a character missing from the vocabulary: its UTF-8 bytes as byte
    /// tokens with byte fallback, else `[UNK]`.
    #[inline]
    pub fn push_unknown(&self, c: char, out: &mut Vec<u32>) {
        if self.byte_fallback {
            let c = if is_marker(c) { SPACE_MARKER } else { c };
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push(self.byte_ids[b as usize]);
            }
        } else {
            out.push(self.unk_id);
        }
    }

    /// (rank, result id) of a learned merge.
    #[inline]
    pub fn rank(&self, pair: Pair) -> Option<(u32, u32)> {
        self.ranks.get(&pair).copied()
    }

    pub fn ranks(&self) -> &FxHashMap<Pair, (u32, u32)> {
        &self.ranks
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(&self.tokens, token)
    }

    pub fn merges(&self) -> &[(Pair, u32)] {
        &self.merges
    }

    pub fn specials(&self) -> &[String] {
        &self.specials
    }

    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    pub fn byte_fallback(&self) -> bool {
        self.byte_fallback
    }

    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    pub fn set_normalizer(&mut self, normalizer: Normalizer) {
        self.normalizer = normalizer;
    }

    /// The byte a token id stands for, if it is a byte-fallback token.
    pub fn byte_of(&self, id: u32) -> Option<u8> {
        let first = *self.byte_ids.first()?;
        // byte tokens are consecutive ids, checked on load
        (id >= first && id < first + 256).then(|| (id - first) as u8)
    }
}

/// The special-token list must be non-empty strings, unique, and hold `[UNK]`.
pub fn check_specials(specials: &[String]) -> Result<()> {
    let mut seen = rustc_hash::FxHashSet::default();
    for s in specials {
        if s.is_empty() {
            return Err(Error::InvalidArgument(
                "special_tokens may not contain an empty string".into(),
            ));
        }
        if !seen.insert(s.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "special_tokens lists {s:?} twice; give each special token once"
            )));
        }
    }
    if !seen.contains(UNK) {
        return Err(Error::InvalidArgument(format!(
            "special_tokens must contain {UNK:?} (unknown characters map to it); got {specials:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specials() -> Vec<String> {
        DEFAULT_SPECIALS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn token_ids_keep_a_token_whose_hash_is_taken() {
        let tokens = vec!["a".to_string(), "b".to_string()];
        let mut ids = TokenIds::default();
        ids.insert("a", 0);
        // as if "b" hashed like "a": its hash already names token 0
        ids.by_hash.insert(FxBuildHasher.hash_one("b"), 0);
        ids.insert("b", 1);
        assert_eq!(ids.get(&tokens, "a"), Some(0));
        assert_eq!(ids.get(&tokens, "b"), Some(1));
        assert_eq!(ids.get(&tokens, "c"), None);
    }

    #[test]
    fn layout() {
        let mut m = Model::new(&specials(), true).unwrap();
        assert_eq!(m.len(), 5 + 256);
        assert_eq!(m.unk_id(), 1);
        assert_eq!(m.token(5), Some("<0x00>"));
        assert_eq!(m.token(260), Some("<0xFF>"));
        assert_eq!(m.byte_of(5 + 0x41), Some(0x41));
        assert_eq!(m.byte_of(4), None);
        let a = m.add_token("a".into());
        let b = m.add_token("b".into());
        assert_eq!(m.add_token("a".into()), a);
        let ab = m.add_merge((a, b));
        assert_eq!(m.token(ab), Some("ab"));
        assert_eq!(m.rank((a, b)), Some((0, ab)));
        assert_eq!(m.char_id('a'), Some(a));
        assert_eq!(m.char_id('z'), None);
    }

    #[test]
    fn unknown_chars() {
        let m = Model::new(&specials(), false).unwrap();
        let mut out = vec![];
        m.push_unknown('ş', &mut out);
        assert_eq!(out, [1]);
        let m = Model::new(&specials(), true).unwrap();
        out.clear();
        m.push_unknown('ş', &mut out);
        assert_eq!(out, [5 + 0xC5, 5 + 0x9F]);
    }

    #[test]
    fn bad_specials() {
        assert!(Model::new(&["[PAD]".into()], false).is_err());
        assert!(Model::new(&["[UNK]".into(), "[UNK]".into()], false).is_err());
        assert!(Model::new(&["[UNK]".into(), "".into()], false).is_err());
        assert!(Model::new(&["[UNK]".into(), "<0x41>".into()], true).is_err());
        // a one-character special is that character's id
        let m = Model::new(&["[UNK]".into(), "x".into()], false).unwrap();
        assert_eq!(m.char_id('x'), Some(1));
    }
}
