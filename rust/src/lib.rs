//! fastbpe: byte-pair-encoding training and encoding.
//!
//! One idea per module; the core modules hold no Python types and `py` is the only PyO3
//! layer. The algorithm is specified in `docs/tokenizer.md`.

pub mod corpus;
pub mod encode;
pub mod error;
mod flat;
mod huge;
pub mod io;
pub mod json;
pub mod merge;
mod merge_loop;
pub mod normalize;
pub mod pair_table;
pub mod pretokenize;
mod split_simd;
pub mod stats;
pub mod text;
pub mod threads;
pub mod train;
mod transcode;
pub mod vocab;
pub mod word;
pub mod word_cache;

mod py;

pub use corpus::WordCounts;
pub use encode::Tokenizer;
pub use error::{Error, Result};
pub use py::_fastbpe;
pub use stats::get_stats;
pub use text::{Text, Units};
pub use train::{train, Progress, Stage, TrainConfig};
pub use vocab::Model;
