//! The PyO3 layer: conversions, GIL release and error mapping only.

use pyo3::prelude::*;

#[pymodule]
pub fn _fastbpe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
