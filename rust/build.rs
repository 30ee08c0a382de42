//! Tells rustc which Python the extension is built for (`cfg(Py_LIMITED_API)`, `cfg(PyPy)`...),
//! so that `py/units.rs` reads `str` storage only where CPython's full API is there.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
