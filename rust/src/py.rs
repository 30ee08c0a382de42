//! The PyO3 layer: conversions, GIL release and error mapping only.
//!
//! Every entry point runs inside [`guard`], so a Rust panic becomes a Python `RuntimeError`
//! instead of PyO3's `PanicException` (a `BaseException` that `except Exception` misses).
//! Every heavy call releases the GIL with `py.detach`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyError, PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyTypeError,
    PyValueError,
};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString};
use rayon::prelude::*;

use crate::corpus::WordCounts;
use crate::encode::Tokenizer;
use crate::error::Error;
use crate::io;
use crate::normalize::{Lowercase, Normalizer};
use crate::text::{Text, Units};
use crate::threads::run_parallel;
use crate::train::{train, Stage, TrainConfig};
use crate::vocab::Model;

mod units;
use units::units;

/// The one place where core errors become Python exceptions.
impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.to_string();
        match e {
            Error::FileNotFound { path } => PyFileNotFoundError::new_err((
                2,
                "No such file or directory",
                path.to_string_lossy().into_owned(),
            )),
            Error::Io { .. } => PyOSError::new_err(msg),
            Error::UnknownId { .. } => PyKeyError::new_err(msg),
            Error::Cancelled => PyKeyboardInterrupt::new_err(msg),
            Error::InvalidUtf8 { .. }
            | Error::Corrupt { .. }
            | Error::InvalidArgument(_)
            | Error::VocabSizeTooSmall { .. }
            | Error::EmptyCorpus => PyValueError::new_err(msg),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Runs `f`, turning a panic into `RuntimeError`.
fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(PyRuntimeError::new_err(format!(
            "internal error in fastbpe (please report it): {}",
            panic_message(&*payload)
        )))
    })
}

/// Texts shorter than this (bytes) are encoded without releasing the GIL: releasing and
/// re-taking it costs more than the work, and re-taking can wait for a busy thread.
const SMALL_TEXT: usize = 2048;

/// Releases the GIL around `f`, guards it, and runs it on a rayon pool that is alive in
/// this process (see `threads.rs`: forked DataLoader workers).
fn heavy<T: Send>(py: Python<'_>, f: impl FnOnce() -> PyResult<T> + Send) -> PyResult<T> {
    guard(|| py.detach(|| guard(|| run_parallel(f))))
}

/// The code units of every text (see `py/units.rs`).
fn all_units<'a>(texts: &'a [Bound<'_, PyString>]) -> PyResult<Vec<Units<'a>>> {
    texts.iter().map(units).collect()
}

/// A trained BPE tokenizer (the native half of `fastbpe.Tokenizer`).
#[pyclass(frozen, module = "fastbpe._fastbpe", name = "Tokenizer")]
pub struct PyTokenizer {
    inner: Tokenizer,
    /// The Python int of every id, made at the first list of ids (see `id_list`).
    ints: PyOnceLock<Box<[Py<PyInt>]>>,
}

/// Vocabularies up to this size keep a Python int per id (32 bytes each: 8 MB at most).
const CACHED_INTS: usize = 1 << 18;

impl PyTokenizer {
    fn wrap(model: Model) -> Self {
        PyTokenizer {
            inner: Tokenizer::new(model),
            ints: PyOnceLock::new(),
        }
    }

    /// `ids` as a Python list, from one int object per id made once per tokenizer.
    ///
    /// Why (performance notes): a fresh int per id (ids are above Python's cache of small
    /// ints) was half of `encode` on a line of 1.8 KB (342 ids: 3.5 of 7.3 µs).
    fn id_list<'py>(&self, py: Python<'py>, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
        let n = self.inner.model().len();
        if n > CACHED_INTS {
            return PyList::new(py, ids);
        }
        let ints = self.ints.get_or_init(py, || {
            (0..n as u32).map(|i| PyInt::new(py, i).unbind()).collect()
        });
        PyList::new(py, ids.iter().map(|&id| ints[id as usize].bind(py)))
    }
}

/// Training arguments as they come from Python.
struct TrainArgs<'a> {
    cfg: TrainConfig,
    initial: Option<&'a Model>,
    progress: Option<Py<PyAny>>,
}

/// The normalisation options as they come from Python (`lowercase`: None, "default", "tr").
fn normalizer(lowercase: Option<&str>, strip_accents: bool, nfkc: bool) -> PyResult<Normalizer> {
    let lowercase = Lowercase::from_name(lowercase).ok_or_else(|| {
        PyValueError::new_err(format!(
            "lowercase must be None, \"default\" or \"tr\", got {lowercase:?}"
        ))
    })?;
    Ok(Normalizer {
        lowercase,
        strip_accents,
        nfkc,
    })
}

#[allow(clippy::too_many_arguments)]
fn train_args<'a>(
    vocab_size: usize,
    min_frequency: u64,
    special_tokens: Option<Vec<String>>,
    byte_fallback: bool,
    initial: Option<&'a Bound<'_, PyTokenizer>>,
    limit_alphabet: Option<usize>,
    progress: Option<Py<PyAny>>,
    norm: Normalizer,
) -> TrainArgs<'a> {
    let initial = initial.map(|t| t.get().inner.model());
    let mut cfg = TrainConfig {
        vocab_size,
        min_frequency,
        byte_fallback,
        limit_alphabet,
        normalizer: norm,
        ..TrainConfig::default()
    };
    if let Some(s) = special_tokens {
        cfg.special_tokens = s;
    }
    if let (Some(m), true) = (initial, norm.is_plain()) {
        cfg.normalizer = m.normalizer(); // extension inherits the normalisation
    }
    TrainArgs {
        cfg,
        initial,
        progress,
    }
}

/// Counts (via `count`) and trains without the GIL, reporting to the Python callback
/// `progress(stage: str, done: int, total: int)`; an exception in it stops training.
fn run_training(
    py: Python<'_>,
    counts: &mut WordCounts,
    args: TrainArgs<'_>,
    files: &[PathBuf],
) -> PyResult<Model> {
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let cb = args.progress.as_ref();
    // Without a callback, still look for Ctrl-C now and then (KeyboardInterrupt).
    let report = |stage: Stage, done: u64, total: u64| -> bool {
        Python::attach(|py| {
            let name = match stage {
                Stage::Count => "count",
                Stage::Merge => "merge",
            };
            let outcome = match cb {
                Some(cb) => cb.call1(py, (name, done, total)).map(drop),
                None => py.check_signals(),
            };
            match outcome {
                Ok(()) => true,
                Err(e) => {
                    *raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    false
                }
            }
        })
    };
    let (cfg, initial) = (&args.cfg, args.initial);
    let result = heavy(py, || {
        let progress: Option<&dyn Fn(Stage, u64, u64) -> bool> = Some(&report);
        counts.add_files(files, progress)?;
        Ok(train(counts, cfg, initial, progress)?)
    });
    match (
        result,
        raised.into_inner().unwrap_or_else(|p| p.into_inner()),
    ) {
        (Err(_), Some(e)) => Err(e),
        (r, _) => r,
    }
}

#[pymethods]
impl PyTokenizer {
    /// Trains on UTF-8 files, read in chunks and counted in parallel.
    #[staticmethod]
    #[pyo3(signature = (files, vocab_size, *, min_frequency=2, special_tokens=None,
        byte_fallback=false, initial=None, limit_alphabet=None, progress=None, lowercase=None,
        strip_accents=false, nfkc=false))]
    #[allow(clippy::too_many_arguments)]
    fn train_files(
        py: Python<'_>,
        files: Vec<PathBuf>,
        vocab_size: usize,
        min_frequency: u64,
        special_tokens: Option<Vec<String>>,
        byte_fallback: bool,
        initial: Option<&Bound<'_, PyTokenizer>>,
        limit_alphabet: Option<usize>,
        progress: Option<Py<PyAny>>,
        lowercase: Option<&str>,
        strip_accents: bool,
        nfkc: bool,
    ) -> PyResult<Self> {
        guard(|| {
            let args = train_args(
                vocab_size,
                min_frequency,
                special_tokens,
                byte_fallback,
                initial,
                limit_alphabet,
                progress,
                normalizer(lowercase, strip_accents, nfkc)?,
            );
            let mut counts = WordCounts::with_normalizer(args.cfg.normalizer);
            Ok(Self::wrap(run_training(py, &mut counts, args, &files)?))
        })
    }

    /// Trains on an iterable of str, pulled in batches of `batch_size` under the GIL and
    /// counted in parallel without it.
    #[staticmethod]
    #[pyo3(signature = (texts, vocab_size, *, min_frequency=2, special_tokens=None,
        byte_fallback=false, initial=None, limit_alphabet=None, progress=None, batch_size=8192,
        lowercase=None, strip_accents=false, nfkc=false))]
    #[allow(clippy::too_many_arguments)]
    fn train_iterator(
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        vocab_size: usize,
        min_frequency: u64,
        special_tokens: Option<Vec<String>>,
        byte_fallback: bool,
        initial: Option<&Bound<'_, PyTokenizer>>,
        limit_alphabet: Option<usize>,
        progress: Option<Py<PyAny>>,
        batch_size: usize,
        lowercase: Option<&str>,
        strip_accents: bool,
        nfkc: bool,
    ) -> PyResult<Self> {
        guard(|| {
            let args = train_args(
                vocab_size,
                min_frequency,
                special_tokens,
                byte_fallback,
                initial,
                limit_alphabet,
                progress,
                normalizer(lowercase, strip_accents, nfkc)?,
            );
            let mut counts = WordCounts::with_normalizer(args.cfg.normalizer);
            let mut batch: Vec<PyBackedStr> = Vec::with_capacity(batch_size.max(1));
            for (index, item) in texts.try_iter()?.enumerate() {
                let item = item?;
                let s = item.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "texts must be str; item {index} is {}",
                        item.get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    ))
                })?;
                batch.push(s.clone().try_into()?);
                if batch.len() >= batch_size.max(1) {
                    let b = std::mem::take(&mut batch);
                    let c = &mut counts;
                    heavy(py, move || {
                        c.add_texts(&b);
                        Ok(())
                    })?;
                }
            }
            let c = &mut counts;
            heavy(py, move || {
                c.add_texts(&batch);
                Ok(())
            })?;
            Ok(Self::wrap(run_training(py, &mut counts, args, &[])?))
        })
    }

    /// Loads `vocab.json`, `merges.txt` and `fastbpe.json` from a directory, validating them.
    #[staticmethod]
    fn load(py: Python<'_>, directory: PathBuf) -> PyResult<Self> {
        heavy(py, || Ok(Self::wrap(io::load(&directory)?)))
    }

    #[pyo3(signature = (text, *, special_tokens=true))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: Bound<'py, PyString>,
        special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let text = units(&text)?;
        let encode = || {
            let mut buf = String::new();
            Ok(self.inner.encode(text.utf8(&mut buf), special_tokens))
        };
        let ids = if text.len_units() < SMALL_TEXT {
            // not worth a GIL round trip (which can wait a whole switch interval)
            guard(encode)?
        } else {
            heavy(py, encode)?
        };
        self.id_list(py, &ids)
    }

    #[pyo3(signature = (texts, *, special_tokens=true))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let texts = all_units(&texts)?;
        let batch = heavy(py, || Ok(self.inner.encode_batch(&texts, special_tokens)))?;
        let lists = batch
            .iter()
            .map(|ids| self.id_list(py, ids))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }

    #[pyo3(signature = (texts, *, special_tokens=true))]
    #[allow(clippy::type_complexity)]
    fn encode_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        special_tokens: bool,
    ) -> PyResult<(Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>)> {
        let texts = all_units(&texts)?;
        let (ids, offsets) = heavy(py, || {
            Ok(self.inner.encode_batch_flat(&texts, special_tokens))
        })?;
        Ok((ids.into_pyarray(py), offsets.into_pyarray(py)))
    }

    /// The UTF-8 bytes of `ids` (the wrapper decodes them).
    fn decode<'py>(&self, py: Python<'py>, ids: Vec<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = if ids.len() < SMALL_TEXT / 4 {
            guard(|| Ok(self.inner.decode(&ids)?))?
        } else {
            heavy(py, || Ok(self.inner.decode(&ids)?))?
        };
        Ok(PyBytes::new(py, &bytes))
    }

    fn decode_batch<'py>(
        &self,
        py: Python<'py>,
        batch: Vec<Vec<i64>>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let out = heavy(py, || {
            let r: Result<Vec<Vec<u8>>, Error> =
                batch.par_iter().map(|ids| self.inner.decode(ids)).collect();
            Ok(r?)
        })?;
        Ok(out.iter().map(|b| PyBytes::new(py, b)).collect())
    }

    /// Whether another thread holds the word cache's lock: in a forked child, a thread of
    /// the parent that was encoding at the fork (the wrapper then swaps in `_fresh()`).
    fn _cache_locked(&self) -> bool {
        self.inner.cache_locked()
    }

    /// The same tokenizer with an empty word cache.
    fn _fresh(&self) -> Self {
        Self::wrap(self.inner.model().clone())
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.model().len()
    }

    fn get_vocab<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let d = PyDict::new(py);
            for (id, tok) in self.inner.model().tokens().iter().enumerate() {
                d.set_item(tok, id)?;
            }
            Ok(d)
        })
    }

    #[getter]
    fn merges(&self) -> Vec<(String, String)> {
        let m = self.inner.model();
        m.merges()
            .iter()
            .map(|&((a, b), _)| {
                (
                    m.tokens()[a as usize].clone(),
                    m.tokens()[b as usize].clone(),
                )
            })
            .collect()
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.model().id(token)
    }

    fn id_to_token(&self, id: i64) -> Option<String> {
        u32::try_from(id)
            .ok()
            .and_then(|i| self.inner.model().token(i))
            .map(String::from)
    }

    #[getter]
    fn special_tokens(&self) -> Vec<String> {
        self.inner.model().specials().to_vec()
    }

    #[getter]
    fn byte_fallback(&self) -> bool {
        self.inner.model().byte_fallback()
    }

    /// None, "default" or "tr".
    #[getter]
    fn lowercase(&self) -> Option<&'static str> {
        self.inner.model().normalizer().lowercase.name()
    }

    #[getter]
    fn strip_accents(&self) -> bool {
        self.inner.model().normalizer().strip_accents
    }

    #[getter]
    fn nfkc(&self) -> bool {
        self.inner.model().normalizer().nfkc
    }

    /// `text` normalised (docs/tokenizer.md section 1), without the space marker and
    /// without cutting out special tokens.
    fn normalize(&self, py: Python<'_>, text: PyBackedStr) -> PyResult<String> {
        let norm = self.inner.model().normalizer();
        heavy(py, || Ok(norm.apply(&text).into_owned()))
    }

    /// Contents of `vocab.json`.
    fn vocab_json(&self) -> String {
        io::vocab_json(self.inner.model())
    }

    /// Contents of `merges.txt`.
    fn merges_txt(&self) -> String {
        io::merges_txt(self.inner.model())
    }

    /// Contents of `fastbpe.json`.
    fn config_json(&self) -> String {
        io::config_json(self.inner.model())
    }
}

/// Panics on purpose (in a rayon worker, without the GIL), so a test can check that a panic
/// reaches Python as `RuntimeError`.
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    heavy(py, || {
        (0..4).into_par_iter().for_each(|i| {
            if i == 3 {
                panic!("deliberate panic for the test suite");
            }
        });
        Ok(())
    })
}

#[pymodule]
pub fn _fastbpe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyTokenizer>()?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    Ok(())
}
