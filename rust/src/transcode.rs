//! UTF-8 from Latin-1 and UCS-2 code units (see `text.rs`), 8 units a step with SSSE3, one
//! at a time elsewhere.
//!
//! Why (performance notes): on 6 MB of Turkish (UCS-2, a non-ASCII letter every ten or so)
//! a scalar loop took 1.1-1.3 ns a unit and `encoding_rs` 2.7 ns, against CPython's own
//! converter at ~1.2 ns: no gain from moving the conversion onto the encoding threads. A block
//! of 8 units below U+0800 (every Latin, Greek, Cyrillic, Hebrew or Arabic text) becomes 8-16
//! bytes with one shuffle, its pattern looked up by which units take two bytes.

/// `out` = the UTF-8 of `units`, or `false` at a surrogate (`out` then unspecified).
pub(crate) fn ucs2_to_utf8(units: &[u16], out: &mut Vec<u8>) -> bool {
    convert(units, 3, vector::ucs2(), out)
}

/// `out` = the UTF-8 of Latin-1 `bytes` (code points below 256).
pub(crate) fn latin1_to_utf8(bytes: &[u8], out: &mut Vec<u8>) {
    let whole = convert(bytes, 2, vector::latin1(), out);
    debug_assert!(whole, "no surrogates in Latin-1");
}

/// The vector loop over a text's leading blocks: (units read, bytes written at `dst`).
///
/// # Safety
/// The CPU has the loop's features, and `dst` is valid for `16` bytes more than the text's
/// UTF-8 can take.
type Blocks<T> = unsafe fn(&[T], *mut u8) -> (usize, usize);

/// `out` = the UTF-8 of `units` (at most `per_unit` bytes each): `blocks` for the leading
/// blocks where the CPU has it, then one unit at a time; `false` at a surrogate.
fn convert<T: Copy + Into<u16>>(
    units: &[T],
    per_unit: usize,
    blocks: Option<Blocks<T>>,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    // 16 bytes of slack: a vector store writes past its bytes
    out.reserve(units.len() * per_unit + 16);
    // SAFETY: `vector` hands out a loop only where the CPU has its features; `out` has room
    // for `per_unit` bytes a unit plus 16.
    let (read, written) = blocks.map_or((0, 0), |f| unsafe { f(units, out.as_mut_ptr()) });
    let rest = units[read..].iter().map(|&u| u.into());
    let Some(n) = scalar(rest, out.spare_capacity_mut(), written) else {
        return false;
    };
    // SAFETY: the first `n` bytes were written, all of them UTF-8 of whole characters.
    unsafe { out.set_len(n) };
    true
}

/// Writes the UTF-8 of `units` into `out` from byte `at` on; the end, or `None` at a surrogate.
fn scalar(
    units: impl Iterator<Item = u16>,
    out: &mut [std::mem::MaybeUninit<u8>],
    mut at: usize,
) -> Option<usize> {
    for u in units {
        let c = char::from_u32(u32::from(u))?;
        let mut b = [0; 3];
        for &x in c.encode_utf8(&mut b).as_bytes() {
            out[at].write(x);
            at += 1;
        }
    }
    Some(at)
}

/// Elsewhere than x86_64: no vector loops (the conversion is the scalar loop alone).
#[cfg(not(target_arch = "x86_64"))]
mod vector {
    use super::Blocks;

    pub(super) fn ucs2() -> Option<Blocks<u16>> {
        None
    }

    pub(super) fn latin1() -> Option<Blocks<u8>> {
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod vector {
    use std::arch::x86_64::*;

    use super::Blocks;

    /// [`ucs2_blocks`] where the CPU has SSSE3.
    pub(super) fn ucs2() -> Option<Blocks<u16>> {
        std::arch::is_x86_feature_detected!("ssse3").then_some(ucs2_blocks as Blocks<u16>)
    }

    /// [`latin1_blocks`] where the CPU has SSSE3.
    pub(super) fn latin1() -> Option<Blocks<u8>> {
        std::arch::is_x86_feature_detected!("ssse3").then_some(latin1_blocks as Blocks<u8>)
    }

    /// For each set of two-byte lanes (bit k: lane k): the shuffle that keeps lane k's low
    /// byte, and its high byte too when the lane takes two (0x80: a zero byte).
    static COMPACT: [[u8; 16]; 256] = compact_table();

    const fn compact_table() -> [[u8; 16]; 256] {
        let mut t = [[0x80u8; 16]; 256];
        let mut m = 0;
        while m < 256 {
            let (mut k, mut o) = (0, 0);
            while k < 8 {
                t[m][o] = 2 * k as u8;
                o += 1;
                if m >> k & 1 == 1 {
                    t[m][o] = 2 * k as u8 + 1;
                    o += 1;
                }
                k += 1;
            }
            m += 1;
        }
        t
    }

    /// The 16-bit lanes of `v` below 0x80 (all ones there).
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn ascii_lanes(v: __m128i) -> __m128i {
        _mm_cmpeq_epi16(
            _mm_and_si128(v, _mm_set1_epi16(0xFF80u16 as i16)),
            _mm_setzero_si128(),
        )
    }

    /// 8 units, all below U+0800, as UTF-8 at `dst` (16 bytes written); returns the length.
    /// `ascii` = `ascii_lanes(v)`.
    #[inline]
    #[target_feature(enable = "ssse3")]
    unsafe fn two_byte_block(v: __m128i, ascii: __m128i, dst: *mut u8) -> usize {
        // lead byte 110xxxxx in the low byte, continuation 10xxxxxx in the high byte
        let lead = _mm_or_si128(_mm_srli_epi16(v, 6), _mm_set1_epi16(0xC0));
        let cont = _mm_or_si128(_mm_and_si128(v, _mm_set1_epi16(0x3F)), _mm_set1_epi16(0x80));
        let two = _mm_or_si128(lead, _mm_slli_epi16(cont, 8));
        let lanes = _mm_or_si128(_mm_and_si128(ascii, v), _mm_andnot_si128(ascii, two));
        let wide = !_mm_movemask_epi8(_mm_packs_epi16(ascii, ascii)) as usize & 0xFF;
        let shuffle = _mm_loadu_si128(COMPACT[wide].as_ptr() as *const __m128i);
        _mm_storeu_si128(dst as *mut __m128i, _mm_shuffle_epi8(lanes, shuffle));
        8 + wide.count_ones() as usize
    }

    /// The leading blocks of 8 units that are all below U+0800, as UTF-8 at `dst`; returns the
    /// units read and bytes written (the caller goes on from there, one unit at a time).
    ///
    /// # Safety
    /// SSSE3; `dst` valid for `3 * units.len() + 16` bytes.
    #[target_feature(enable = "ssse3")]
    unsafe fn ucs2_blocks(units: &[u16], dst: *mut u8) -> (usize, usize) {
        let (mut i, mut o) = (0, 0);
        while i + 8 <= units.len() {
            let v = _mm_loadu_si128(units.as_ptr().add(i) as *const __m128i);
            let ascii = ascii_lanes(v);
            if _mm_movemask_epi8(ascii) == 0xFFFF {
                _mm_storel_epi64(dst.add(o) as *mut __m128i, _mm_packus_epi16(v, v));
                o += 8;
            } else if _mm_movemask_epi8(_mm_cmpeq_epi16(
                _mm_and_si128(v, _mm_set1_epi16(0xF800u16 as i16)),
                _mm_setzero_si128(),
            )) == 0xFFFF
            {
                o += two_byte_block(v, ascii, dst.add(o));
            } else {
                // a unit from U+0800 (three bytes, or a surrogate): these 8 one at a time
                let (mut b, block_start) = ([0; 3], o);
                for &u in &units[i..i + 8] {
                    let Some(c) = char::from_u32(u32::from(u)) else {
                        // the caller's scalar loop goes over this block again and reports it
                        return (i, block_start);
                    };
                    for &x in c.encode_utf8(&mut b).as_bytes() {
                        *dst.add(o) = x;
                        o += 1;
                    }
                }
            }
            i += 8;
        }
        (i, o)
    }

    /// [`ucs2_blocks`] for Latin-1 bytes, 16 a step.
    ///
    /// # Safety
    /// SSSE3; `dst` valid for `2 * bytes.len() + 16` bytes.
    #[target_feature(enable = "ssse3")]
    unsafe fn latin1_blocks(bytes: &[u8], dst: *mut u8) -> (usize, usize) {
        let (mut i, mut o) = (0, 0);
        let zero = _mm_setzero_si128();
        while i + 16 <= bytes.len() {
            let v = _mm_loadu_si128(bytes.as_ptr().add(i) as *const __m128i);
            if _mm_movemask_epi8(v) == 0 {
                _mm_storeu_si128(dst.add(o) as *mut __m128i, v);
                o += 16;
            } else {
                let (lo, hi) = (_mm_unpacklo_epi8(v, zero), _mm_unpackhi_epi8(v, zero));
                o += two_byte_block(lo, ascii_lanes(lo), dst.add(o));
                o += two_byte_block(hi, ascii_lanes(hi), dst.add(o));
            }
            i += 16;
        }
        (i, o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bmp_character_in_every_position() {
        // each character below U+10000 (surrogates aside) at each offset of a block, among
        // ASCII, two-byte and three-byte neighbours: the vector paths and the scalar tail
        let fill = ['a', 'ş', '€', 'z', 'ı', 'q', '\u{7ff}', '\u{80}', 'b'];
        let mut out = Vec::new();
        for c in (0..0x1_0000).filter_map(char::from_u32) {
            for pos in [0, 3, 7, 8, 12, 17] {
                let mut s: String = fill.iter().cycle().skip(c as usize % 9).take(19).collect();
                let at = s.char_indices().nth(pos).unwrap().0;
                s.insert(at, c);
                let units: Vec<u16> = s.encode_utf16().collect();
                assert!(ucs2_to_utf8(&units, &mut out), "{c:?}");
                assert_eq!(out, s.as_bytes(), "{c:?} at {pos}");
            }
        }
    }

    #[test]
    fn the_scalar_loop_alone_is_the_whole_conversion_off_x86() {
        let s = "çalışkan öğrenci, naïve café € 日本 and plain ASCII words";
        let units: Vec<u16> = s.encode_utf16().collect();
        let mut out = vec![std::mem::MaybeUninit::new(0u8); units.len() * 3];
        let n = scalar(units.iter().copied(), &mut out, 0).unwrap();
        // SAFETY: `scalar` wrote the first `n` bytes
        let bytes: Vec<u8> = out[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        assert_eq!(bytes, s.as_bytes());
        assert_eq!(scalar([0x61, 0xDC00].into_iter(), &mut out, 0), None);
    }

    #[test]
    fn latin1_blocks_and_tail() {
        let mut out = Vec::new();
        for n in [0, 1, 15, 16, 17, 40] {
            for start in [0u8, 0x70, 0xF0] {
                let bytes: Vec<u8> = (0..n).map(|k| start.wrapping_add((k * 7) as u8)).collect();
                latin1_to_utf8(&bytes, &mut out);
                let expected: String = bytes.iter().map(|&b| char::from(b)).collect();
                assert_eq!(out, expected.as_bytes(), "{bytes:x?}");
            }
        }
    }

    #[test]
    fn a_surrogate_anywhere_is_reported() {
        // among one-byte and three-byte units: a surrogate after three-byte units of its block
        // once went back to the block's start with their bytes counted, past the reserve
        for fill in [u16::from(b'x'), 0x20AC] {
            for n in [1, 8, 9, 16, 20] {
                for at in 0..n {
                    let mut units = vec![fill; n];
                    units[at] = 0xDC00;
                    let mut out = Vec::new(); // exactly the reserve: no slack to hide behind
                    assert!(!ucs2_to_utf8(&units, &mut out), "{fill:x} {n} {at}");
                }
            }
        }
    }
}
