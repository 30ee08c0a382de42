//! fastbpe: byte-pair-encoding training and encoding.
//!
//! The core modules hold no Python types; `py` is the only PyO3 layer.

mod py;

pub use py::_fastbpe;
