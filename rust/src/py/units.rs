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
    // SAFETY: `p` is a live `str`, ready once its length is known (3.10 and 3.11 have strings
    // that are not), so its data holds `len` code units of its kind's width (ASCII bytes when
    // flagged ASCII); the slices borrow `s`, which keeps it alive, and a `str`'s contents are
    // immutable.
    unsafe {
        let len = ffi::PyUnicode_GetLength(p);
        if len < 0 {
            return Err(PyErr::fetch(s.py())); // a legacy string that could not be made ready
        }
        let (len, data) = (len as usize, ffi::PyUnicode_DATA(p));
        Ok(match ffi::PyUnicode_KIND(p) {
            ffi::PyUnicode_1BYTE_KIND => {
                let bytes = std::slice::from_raw_parts(data as *const u8, len);
                // Python knows when it is ASCII (the flag is not in pyo3's 3.14 API: there
                // `Units` checks the bytes)
                #[cfg(not(Py_3_14))]
                if ffi::PyUnicode_IS_ASCII(p) != 0 {
                    return Ok(Units::Utf8(std::str::from_utf8_unchecked(bytes)));
                }
                Units::Latin1(bytes)
            }
            ffi::PyUnicode_2BYTE_KIND => Units::Ucs2(std::slice::from_raw_parts(data as _, len)),
            ffi::PyUnicode_4BYTE_KIND => Units::Ucs4(std::slice::from_raw_parts(data as _, len)),
            // none: `PyUnicode_GetLength` made a legacy (3.10, 3.11) string ready
            _ => Units::Utf8(s.to_str()?),
        })
    }
}

/// The limited API (an abi3 build), PyPy and GraalPy hide a string's storage: its UTF-8.
#[cfg(any(Py_LIMITED_API, PyPy, GraalPy))]
pub(super) fn units<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Units<'a>> {
    Ok(Units::Utf8(s.to_str()?))
}
