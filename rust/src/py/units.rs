//! A Python `str` as [`Units`]: its own storage (PEP 393: Latin-1, UCS-2 or UCS-4 code
//! units), read in place.
//!
//! Why (performance notes): `PyUnicode_AsUTF8AndSize` (what `PyBackedStr` calls) converts a
//! non-ASCII string to UTF-8 under the GIL, one string after another, and keeps the copy on
//! the string for as long as it lives (the caller's memory grows by the UTF-8 size of every
//! non-ASCII text ever encoded). Reading the code units lets the encoding threads convert
//! their own texts, with the GIL released, into a buffer they reuse.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::text::Units;

/// The code units of `s`, borrowed for as long as `s` is (a `str` never changes while a
/// reference to it is held, so the threads may read them without the GIL).
#[cfg(not(any(Py_LIMITED_API, PyPy, GraalPy)))]
pub(super) fn units<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Units<'a>> {
    use pyo3::ffi;
    let p = s.as_ptr();
    // SAFETY: `p` is a live `str` (a kind of 1, 2 or 4 means a ready string, whose data
    // pointer holds `len` code units of that width, ASCII bytes when flagged ASCII); the
    // slices borrow `s`, which keeps it alive, and a `str`'s contents are immutable.
    unsafe {
        let len = ffi::PyUnicode_GetLength(p);
        if len >= 0 {
            let len = len as usize;
            match ffi::PyUnicode_KIND(p) {
                ffi::PyUnicode_1BYTE_KIND => {
                    let bytes =
                        std::slice::from_raw_parts(ffi::PyUnicode_DATA(p) as *const u8, len);
                    // Python knows when it is ASCII (the flag is not in pyo3's 3.14 API: there
                    // `Units` checks the bytes)
                    #[cfg(not(Py_3_14))]
                    if ffi::PyUnicode_IS_ASCII(p) != 0 {
                        return Ok(Units::Utf8(std::str::from_utf8_unchecked(bytes)));
                    }
                    return Ok(Units::Latin1(bytes));
                }
                ffi::PyUnicode_2BYTE_KIND => {
                    let data = ffi::PyUnicode_DATA(p) as *const u16;
                    return Ok(Units::Ucs2(std::slice::from_raw_parts(data, len)));
                }
                ffi::PyUnicode_4BYTE_KIND => {
                    let data = ffi::PyUnicode_DATA(p) as *const u32;
                    return Ok(Units::Ucs4(std::slice::from_raw_parts(data, len)));
                }
                _ => {} // a legacy string not made ready (3.10, 3.11): Python's own UTF-8
            }
        }
    }
    Ok(Units::Utf8(s.to_str()?))
}

/// The limited API (an abi3 build), PyPy and GraalPy hide a string's storage: its UTF-8.
#[cfg(any(Py_LIMITED_API, PyPy, GraalPy))]
pub(super) fn units<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Units<'a>> {
    Ok(Units::Utf8(s.to_str()?))
}
