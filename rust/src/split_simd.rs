//! Word boundaries of 64 ASCII bytes at once, for the pre-tokenizer (`pretokenize.rs`).
//!
//! Why (performance notes): the byte-at-a-time scanner costs one or two mispredicted branches
//! per word, about 40 ns per word on English (the whole budget of a fast encoder). Here the
//! classes of 64 bytes become bit masks (SSE2 compares, part of the x86_64 baseline; a plain
//! loop elsewhere), and the boundaries follow from each byte's class and its neighbours':
//! about 8 ns per word. Letters of U+00C0..U+027F (two-byte UTF-8 with lead bytes 0xC3..0xC9:
//! the Latin letters of Turkish and most European languages, all of class Letter but × and ÷)
//! are classified here too, lead and continuation bytes as letters, and so are the quotes and
//! dashes of U+200B..U+203F (class Other); blocks holding any other non-ASCII byte are left
//! to the scalar scanner.
//!
//! The five rules of docs/tokenizer.md section 2, as a local test at byte `i` (`p` the class
//! of byte `i - 1`, `c` of byte `i`, `n` of byte `i + 1`): a word starts at `i` when
//! - `c != p`, or both are single characters (rule 5), except
//! - a word character (letter, digit, other) right after a marker: the marker belongs to it;
//! - and a marker after a marker starts a word when a word character follows it (a run of
//!   markers stops one short, rule 4).

/// Boundary information for one block: `bnd` bit k set = a word starts at byte k (k >= 1).
pub(crate) struct Block {
    pub bnd: u64,
    /// Whether the block held a non-ASCII byte (then `bnd` is meaningless).
    pub non_ascii: bool,
}

/// Bytes of `v` with `lo <= byte < lo + n` (unsigned), as a signed compare after flipping the
/// sign bit (SSE2 has no unsigned byte compare).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn below(v: std::arch::x86_64::__m128i, lo: u8, n: u8) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::*;
    let t = _mm_xor_si128(
        _mm_sub_epi8(v, _mm_set1_epi8(lo as i8)),
        _mm_set1_epi8(-128),
    );
    _mm_cmplt_epi8(t, _mm_set1_epi8((n ^ 0x80) as i8))
}

/// Classes of the 64 bytes at `b[..64]` as masks: (ASCII letter, digit, marker, single,
/// non-ASCII, Latin letter byte (lead 0xC3..0xC9 or continuation), × or ÷ second byte, 0xC3).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn class_masks(b: &[u8; 64]) -> [u64; 8] {
    use std::arch::x86_64::*;

    let mut m = [0u64; 8];
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are always available;
    // `b` is 64 bytes, so each unaligned 16-byte load at 16k (k < 4) is in bounds.
    unsafe {
        for k in 0..4 {
            let v = _mm_loadu_si128(b.as_ptr().add(16 * k) as *const __m128i);
            let sh = 16 * k;
            let bits = |x: __m128i| (_mm_movemask_epi8(x) as u16 as u64) << sh;
            m[0] |= bits(below(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', 26));
            m[1] |= bits(below(v, b'0', 10));
            m[2] |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)));
            m[3] |= bits(_mm_or_si128(
                below(v, 0, 0x20),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
            ));
            m[4] |= bits(v); // the sign bit: bytes >= 0x80
            m[5] |= bits(_mm_or_si128(below(v, 0x80, 0x40), below(v, 0xC3, 7)));
            m[6] |= bits(_mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0x97u8 as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0xB7u8 as i8)),
            ));
            m[7] |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(0xC3u8 as i8)));
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn class_masks(b: &[u8; 64]) -> [u64; 8] {
    let mut m = [0u64; 8];
    for (i, &x) in b.iter().enumerate() {
        m[0] |= (((x | 0x20).wrapping_sub(b'a') < 26) as u64) << i;
        m[1] |= ((x.wrapping_sub(b'0') < 10) as u64) << i;
        m[2] |= ((x == b' ') as u64) << i;
        m[3] |= ((x < 0x20 || x == 0x7f) as u64) << i;
        m[4] |= ((x >= 0x80) as u64) << i;
        m[5] |= ((x.wrapping_sub(0x80) < 0x40 || x.wrapping_sub(0xC3) < 7) as u64) << i;
        m[6] |= ((x == 0x97 || x == 0xB7) as u64) << i;
        m[7] |= ((x == 0xC3) as u64) << i;
    }
    m
}

/// Whether byte `x`, right after a block whose non-ASCII bytes are all Latin letter bytes,
/// starts or continues a word character; `None` if that needs the scalar scanner.
#[inline]
fn word_byte(x: u8) -> Option<bool> {
    match x {
        0..=0x7f => Some(x > b' ' && x != 0x7f),
        0x80..=0xBF | 0xC3..=0xC9 => Some(true), // a Latin letter, or × ÷ (class Other)
        _ => None,
    }
}

/// The bytes of the punctuation U+200B..U+203F but for its spaces (`E2 80 8B`..`E2 80 BF`
/// without `A8`, `A9`, `AF`: curly quotes, dashes, ellipsis, all of class Other), each
/// character whole in the block. Looked for only in blocks with non-Latin bytes: ’ alone is
/// in 7% of the 64-byte blocks of the Turkish corpus, which went to the scalar scanner.
#[inline]
fn punctuation(b: &[u8; 64]) -> u64 {
    let [lead, second, third] = punctuation_masks(b);
    let starts = lead & (second >> 1) & (third >> 2);
    starts | (starts << 1) | (starts << 2)
}

/// Masks of `E2`, of `80`, and of the third bytes `punctuation` accepts.
#[cfg(target_arch = "x86_64")]
#[inline]
fn punctuation_masks(b: &[u8; 64]) -> [u64; 3] {
    use std::arch::x86_64::*;
    let mut m = [0u64; 3];
    // SAFETY: SSE2 is part of the x86_64 baseline; each 16-byte load at 16k (k < 4) is in
    // bounds of the 64 bytes.
    unsafe {
        for k in 0..4 {
            let v = _mm_loadu_si128(b.as_ptr().add(16 * k) as *const __m128i);
            let bits = |x: __m128i| (_mm_movemask_epi8(x) as u16 as u64) << (16 * k);
            m[0] |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(0xE2u8 as i8)));
            m[1] |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x80u8 as i8)));
            let spaces = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0xA8u8 as i8)),
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0xA9u8 as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(0xAFu8 as i8)),
                ),
            );
            m[2] |= bits(_mm_andnot_si128(spaces, below(v, 0x8B, 0xC0 - 0x8B)));
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
use punctuation_masks_scalar as punctuation_masks;

/// [`punctuation_masks`] a byte at a time: their definition (and the whole of it off x86_64).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn punctuation_masks_scalar(b: &[u8; 64]) -> [u64; 3] {
    let mut m = [0u64; 3];
    for (i, &x) in b.iter().enumerate() {
        m[0] |= u64::from(x == 0xE2) << i;
        m[1] |= u64::from(x == 0x80) << i;
        m[2] |= u64::from(matches!(x, 0x8B..=0xA7 | 0xAA..=0xAE | 0xB0..=0xBF)) << i;
    }
    m
}

/// Word starts in `b[..64]`, given that a word starts at byte 0; `after` is the byte after
/// the block, if any (only an ASCII word character there can add a boundary at bit 63).
#[inline]
pub(crate) fn block(b: &[u8; 64], after: Option<u8>) -> Block {
    let [ascii_l, d, m, s, na, mut latin, times_div, c3] = class_masks(b);
    let fallback = Block {
        bnd: 0,
        non_ascii: true,
    };
    if na & !latin != 0 {
        // General Punctuation's quotes and dashes are class Other (their continuation bytes
        // are no Latin letter bytes); any other non-Latin byte: the scalar scanner
        let p = punctuation(b);
        latin &= !p;
        if na & !(latin | p) != 0 {
            return fallback;
        }
    }
    // × (C3 97) or ÷ (C3 B7): the scalar scanner
    let split_times_div = b[63] == 0xC3 && matches!(after, Some(0x97 | 0xB7));
    if times_div & (c3 << 1) != 0 || split_times_div {
        return fallback;
    }
    let after_word = match after.map(word_byte) {
        None => false,
        Some(Some(w)) => w,
        Some(None) => return fallback,
    };
    let l = ascii_l | latin;
    let o = !(l | d | m | s);
    let word = l | d | o;
    let same = (l & (l << 1)) | (d & (d << 1)) | (o & (o << 1)) | (m & (m << 1));
    let next_word = (word >> 1) | ((after_word as u64) << 63);
    let prev_marker = m << 1;
    let bnd = (!same & !(word & prev_marker)) | (m & prev_marker & next_word);
    Block {
        bnd: bnd & !1,
        non_ascii: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_masks_agree_with_their_definition_for_every_byte() {
        // (the splitter itself is compared with the scalar scanner in pretokenize.rs)
        for first in (0..=255u8).step_by(64) {
            let b: [u8; 64] = std::array::from_fn(|i| first.wrapping_add(i as u8));
            assert_eq!(
                punctuation_masks(&b),
                punctuation_masks_scalar(&b),
                "{first}"
            );
        }
        let mut b = [b'a'; 64];
        b[10..13].copy_from_slice("’".as_bytes());
        b[61..64].copy_from_slice("—".as_bytes());
        assert_eq!(punctuation(&b), 0b111 << 10 | 0b111 << 61);
        b[20..23].copy_from_slice("\u{2028}".as_bytes()); // a line separator: Single, not here
        assert_eq!(punctuation(&b), 0b111 << 10 | 0b111 << 61);
    }
}
