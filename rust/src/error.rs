//! The one error type of the core. `py.rs` maps each variant to a Python exception.

use std::path::PathBuf;

/// Everything that can go wrong in the core, for reasons a user can fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory that was named does not exist.
    #[error("{}: no such file or directory", path.display())]
    FileNotFound { path: PathBuf },

    /// Any other I/O failure while reading or writing `path`.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A training file is not UTF-8.
    #[error(
        "{}: not valid UTF-8 at byte offset {offset}; re-encode the file as UTF-8 \
         (e.g. `iconv -f latin1 -t utf-8`) or drop it from the corpus",
        path.display()
    )]
    InvalidUtf8 { path: PathBuf, offset: u64 },

    /// A saved tokenizer file is wrong; `line` is 1-based (0 when not about one line).
    #[error("{}{}: {message}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A bad argument (message says which and how to fix it).
    #[error("{0}")]
    InvalidArgument(String),

    /// `vocab_size` cannot even hold the specials, byte tokens and alphabet.
    #[error(
        "vocab_size={requested} is too small: the special tokens, byte tokens and alphabet \
         of this corpus already take {minimum} ids; pass vocab_size >= {minimum} \
         (or limit_alphabet=... to keep fewer characters)"
    )]
    VocabSizeTooSmall { requested: usize, minimum: usize },

    /// The corpus holds no text at all.
    #[error("the training corpus is empty: give at least one non-empty text or file")]
    EmptyCorpus,

    /// `decode` got an id that is not in the vocabulary.
    #[error("token id {id} is not in the vocabulary (ids are 0..{})", vocab_size.saturating_sub(1))]
    UnknownId { id: i64, vocab_size: usize },

    /// The progress callback asked to stop (in Python: it raised, e.g. KeyboardInterrupt).
    #[error("training was cancelled")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::FileNotFound { path }
        } else {
            Error::Io { path, source }
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
