"""`fastbpe.Tokenizer`: the public face of the Rust BPE core.

A thin wrapper: it checks arguments (with messages that say how to fix them), resolves what
`train` was given (files or texts), draws progress bars, decodes the bytes the core returns,
and writes files atomically. The algorithm lives in Rust (`rust/src/`) and is specified in
`docs/tokenizer.md`.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

# numpy at import, not at first use: importing it starts OpenBLAS threads that spin for
# ~150 ms of CPU, and imported lazily (by the first encode_batch_flat) they ran during that
# call: 2-thread encoding of 20 MB dropped from ~1.2x gigatoken's speed to 0.98x.
import numpy as np

from fastbpe import _fastbpe

__all__ = ["Tokenizer"]

DEFAULT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class Tokenizer:
    """A byte-pair-encoding tokenizer: NFC + `▁` normalisation (optionally NFKC, lowercasing
    and accent stripping), a Unicode-aware pre-tokenizer, merges learned by `train` (see
    docs/tokenizer.md).

    Make one with `Tokenizer.train(...)` or `Tokenizer.load(directory)`.

    >>> tok = Tokenizer.train(["Mert Mert Mert"], 40, min_frequency=1, show_progress=False)
    >>> tok.decode(tok.encode("Mert"))
    'Mert'
    """

    __slots__ = ("_native", "__weakref__")

    def __init__(self, native: _fastbpe.Tokenizer) -> None:
        if not isinstance(native, _fastbpe.Tokenizer):
            raise TypeError(
                "Tokenizer is made by Tokenizer.train(...) or Tokenizer.load(directory), "
                f"not from a {type(native).__name__}"
            )
        self._native = native
        _LIVE.add(self)

    # ---- training ------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        files_or_texts: str | os.PathLike[str] | Iterable[str] | Iterable[os.PathLike[str]],
        vocab_size: int = 8000,
        *,
        min_frequency: int = 2,
        special_tokens: Sequence[str] | None = None,
        byte_fallback: bool = False,
        initial: Tokenizer | None = None,
        limit_alphabet: int | None = None,
        show_progress: bool = True,
        lowercase: bool | str | None = None,
        strip_accents: bool = False,
        nfkc: bool = False,
    ) -> Tokenizer:
        """Learns a tokenizer from files or texts.

        What `files_or_texts` may be:
        - a str or os.PathLike naming an existing file -> that file; naming a directory ->
          every `*.txt` file under it (recursively, sorted);
        - an iterable of os.PathLike -> those files (directories expanded as above);
        - a list or tuple of str that *all* name existing files -> those files;
        - any other iterable of str -> the texts themselves (each normalised on its own);
          it is consumed once, in batches, so a generator over a huge corpus is fine.
        Files are UTF-8, read in chunks in Rust (never whole), and counted in parallel.

        Args:
            files_or_texts: the corpus (see above).
            vocab_size: the size of the final vocabulary, special and byte tokens included.
            min_frequency: stop when the most frequent pair occurs fewer times than this.
            special_tokens: ids 0.. in this order; must contain "[UNK]". Default
                ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].
            byte_fallback: reserve the 256 byte tokens `<0x00>`..`<0xFF>` so that any text
                round-trips (unknown characters become their UTF-8 bytes, not "[UNK]").
            initial: a tokenizer to extend: its ids, merges, special tokens and byte fallback
                are kept; new characters and merges are appended up to `vocab_size`.
            limit_alphabet: keep only this many (most frequent) new characters.
            show_progress: draw progress bars (tqdm) for counting and merging.
            lowercase: None (default: keep case); True or "default": Unicode's lowercase
                mapping, character by character (İ -> "i̇"); "tr": Turkish, İ -> i and
                I -> ı first, then as "default".
            strip_accents: remove accents: NFD, drop every combining mark (categories Mn,
                Mc, Me), recompose.
            nfkc: NFKC instead of NFC ("ﬁ" -> "fi", "１" -> "1", NBSP -> space).
            The three options are stored with the tokenizer (save/load, tokenizer.json);
            special tokens in the text are matched before normalisation. When extending,
            `initial`'s normalisation is kept (setting a different one is a ValueError).

        >>> tok = Tokenizer.train(["low lower lowest"] * 10, 40, show_progress=False)
        >>> tok.decode(tok.encode("lowest lower"))
        'lowest lower'
        """
        _check_int("vocab_size", vocab_size, 1, _U64_MAX)
        _check_int("min_frequency", min_frequency, 1, _U64_MAX)
        if limit_alphabet is not None:
            _check_int("limit_alphabet", limit_alphabet, 0, _U64_MAX)
        _check_bool("byte_fallback", byte_fallback)
        _check_bool("show_progress", show_progress)
        _check_bool("strip_accents", strip_accents)
        _check_bool("nfkc", nfkc)
        lowercase = _check_lowercase(lowercase)
        specials = None if special_tokens is None else _check_specials(special_tokens)
        initial_native = None
        if initial is not None:
            if not isinstance(initial, Tokenizer):
                raise TypeError(
                    f"initial must be a fastbpe.Tokenizer, got {type(initial).__name__}"
                )
            if specials is not None and specials != initial.special_tokens:
                raise ValueError(
                    f"special_tokens {specials} differ from the initial tokenizer's "
                    f"{initial.special_tokens}; leave special_tokens unset when extending"
                )
            if byte_fallback and not initial.byte_fallback:
                raise ValueError(
                    "byte_fallback=True, but the initial tokenizer has no byte tokens and its "
                    "ids are kept; train a new tokenizer with byte_fallback=True instead"
                )
            for name, value in (
                ("lowercase", lowercase),
                ("strip_accents", strip_accents),
                ("nfkc", nfkc),
            ):
                if value and value != getattr(initial, name):
                    raise ValueError(
                        f"{name}={value!r} differs from the initial tokenizer's "
                        f"{getattr(initial, name)!r}; leave it unset when extending (the "
                        "initial tokenizer's normalisation is kept)"
                    )
            specials, byte_fallback = None, initial.byte_fallback
            lowercase, strip_accents, nfkc = initial.lowercase, initial.strip_accents, initial.nfkc
            initial_native = initial._native
        files, texts = _resolve_corpus(files_or_texts)
        kwargs: dict[str, Any] = dict(
            min_frequency=min_frequency,
            special_tokens=specials,
            byte_fallback=byte_fallback,
            initial=initial_native,
            limit_alphabet=limit_alphabet,
            lowercase=lowercase,
            strip_accents=bool(strip_accents),
            nfkc=bool(nfkc),
        )
        bars = _Progress(show_progress)
        try:
            if files is not None:
                native = _fastbpe.Tokenizer.train_files(
                    files, vocab_size, progress=bars if show_progress else None, **kwargs
                )
            else:
                assert texts is not None
                native = _fastbpe.Tokenizer.train_iterator(
                    bars.wrap_texts(texts),
                    vocab_size,
                    progress=bars if show_progress else None,
                    **kwargs,
                )
        finally:
            bars.close()
        return cls(native)

    # ---- encoding ------------------------------------------------------------------------

    def encode(self, text: str, *, special_tokens: bool = True) -> list[int]:
        """Encodes a string into token ids.

        Args:
            text: the text. Lone surrogates are replaced by U+FFFD.
            special_tokens: if True, special tokens written in the text (such as "[MASK]")
                become their single id; if False, they are encoded as plain text.

        >>> tok.encode("The [MASK] is red.")  # doctest: +SKIP
        [..., 4, ...]
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        _check_bool("special_tokens", special_tokens)
        try:
            return self._native.encode(text, special_tokens=special_tokens)
        except UnicodeEncodeError:  # only builds on the limited API (abi3) or PyPy raise it
            return self._native.encode(_fix_surrogates(text), special_tokens=special_tokens)

    def encode_batch(self, texts: Sequence[str], *, special_tokens: bool = True) -> list[list[int]]:
        """Encodes many strings in parallel (Rust threads, GIL released).

        >>> tok.encode_batch(["a b", "c"])  # doctest: +SKIP
        [[...], [...]]
        """
        _check_bool("special_tokens", special_tokens)
        return _encode_many(self._native.encode_batch, texts, special_tokens)

    def encode_batch_flat(
        self, texts: Sequence[str], *, special_tokens: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encodes many strings in parallel into two numpy arrays, with no per-token Python
        object: `ids` (uint32, all texts concatenated) and `offsets` (int64, length n + 1),
        so text i is `ids[offsets[i]:offsets[i + 1]]`.

        >>> ids, offsets = tok.encode_batch_flat(["a b", "c"])  # doctest: +SKIP
        """
        _check_bool("special_tokens", special_tokens)
        return _encode_many(self._native.encode_batch_flat, texts, special_tokens)

    def normalize(self, text: str, *, special_tokens: bool = True) -> str:
        """The normalised text, with spaces: what `decode(encode(text))` returns when every
        character is in the vocabulary (or with byte fallback).

        Special tokens written in the text are kept as written (with `special_tokens=True`);
        the rest is normalised (docs/tokenizer.md section 1) and `▁` becomes a space.

        >>> tok.normalize("İSTANBUL [MASK]")  # with lowercase="tr"  # doctest: +SKIP
        'istanbul [MASK]'
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        _check_bool("special_tokens", special_tokens)
        from fastbpe.reference import split_special

        text = _fix_surrogates(text)
        pieces = split_special(text, self.special_tokens) if special_tokens else [(text, False)]
        return "".join(
            piece if is_special else self._native.normalize(piece) for piece, is_special in pieces
        ).replace("\u2581", " ")

    # ---- decoding ------------------------------------------------------------------------

    def decode(self, ids: Sequence[int] | np.ndarray, *, errors: str = "replace") -> str:
        """Decodes token ids into a string (`▁` becomes a space, byte tokens bytes).

        Args:
            ids: token ids (a list, tuple or 1-D integer numpy array).
            errors: how to handle invalid UTF-8 (an id sequence cut inside a character), as
                in `bytes.decode`: "replace" (default, U+FFFD), "strict", "ignore", ...

        Raises KeyError for an id outside the vocabulary.

        >>> tok.decode(tok.encode("hello world"))  # doctest: +SKIP
        'hello world'
        """
        ids = _check_ids(ids)
        try:
            raw = self._native.decode(ids)
        except OverflowError:  # an id beyond 64 bits: the same KeyError as any unknown id
            raise self._unknown_id(ids) from None
        return raw.decode("utf-8", errors)

    def decode_batch(
        self, batch: Sequence[Sequence[int] | np.ndarray], *, errors: str = "replace"
    ) -> list[str]:
        """Decodes many id sequences in parallel; see `decode`."""
        if isinstance(batch, (str, bytes)) or not isinstance(batch, Iterable):
            raise TypeError(f"batch must be a list of id lists, got {type(batch).__name__}")
        lists = [_check_ids(ids) for ids in batch]
        try:
            raw = self._native.decode_batch(lists)
        except OverflowError:
            raise self._unknown_id(chain.from_iterable(lists)) from None
        return [b.decode("utf-8", errors) for b in raw]

    def _unknown_id(self, ids: Iterable[int]) -> KeyError:
        bad = next(i for i in ids if not 0 <= i < self.vocab_size)
        return KeyError(
            f"token id {bad} is not in the vocabulary (ids are 0..{self.vocab_size - 1})"
        )

    # ---- files ---------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Writes vocab.json, merges.txt, fastbpe.json and tokenizer.json (HuggingFace
        `tokenizers` format) into `directory` (created if needed), each through a temporary file and a rename, so a crash never leaves a
        half-written file.

        >>> tok.save("my_tokenizer")  # doctest: +SKIP
        """
        path = Path(_check_path("directory", directory))
        path.mkdir(parents=True, exist_ok=True)
        files = {
            "vocab.json": self._native.vocab_json(),
            "merges.txt": self._native.merges_txt(),
            "fastbpe.json": self._native.config_json(),
        }
        files.update(self._export_files())
        for name, text in files.items():
            _write_atomic(path / name, text)

    def _export_files(self) -> dict[str, str]:
        """Extra files `save` writes (name -> text): the HuggingFace tokenizer.json export."""
        from fastbpe.hf_export import to_hf_tokenizer_json

        return {"tokenizer.json": to_hf_tokenizer_json(self)}

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Tokenizer:
        """Loads a tokenizer written by `save`, checking the files against each other
        (errors name the file and line that is wrong).

        >>> tok = Tokenizer.load("my_tokenizer")  # doctest: +SKIP
        """
        return cls(_fastbpe.Tokenizer.load(_check_path("directory", directory)))

    def __reduce__(self) -> tuple[Any, tuple[str, str, str]]:
        # Pickle as the saved files (DataLoader workers started with "spawn" need this).
        return (
            _from_saved_text,
            (self._native.vocab_json(), self._native.merges_txt(), self._native.config_json()),
        )

    # ---- inspection ----------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of tokens (special, byte, alphabet and merged)."""
        return self._native.vocab_size

    def get_vocab(self) -> dict[str, int]:
        """token -> id, in id order."""
        return self._native.get_vocab()

    @property
    def merges(self) -> list[tuple[str, str]]:
        """The learned merges, (left, right), in rank order."""
        return self._native.merges

    def token_to_id(self, token: str) -> int | None:
        """The id of `token`, or None."""
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, got {type(token).__name__}")
        return self._native.token_to_id(token)

    def id_to_token(self, id: int) -> str | None:
        """The token with id `id`, or None."""
        _check_int("id", id, None)
        if not 0 <= id < self.vocab_size:
            return None
        return self._native.id_to_token(int(id))

    @property
    def special_tokens(self) -> list[str]:
        """The special tokens, in id order (ids 0..)."""
        return self._native.special_tokens

    @property
    def byte_fallback(self) -> bool:
        """Whether unknown characters become byte tokens (else "[UNK]")."""
        return self._native.byte_fallback

    @property
    def lowercase(self) -> str | None:
        """None (case kept), "default" (Unicode's lowercase mapping) or "tr" (Turkish)."""
        return self._native.lowercase

    @property
    def strip_accents(self) -> bool:
        """Whether accents (combining marks after NFD) are removed."""
        return self._native.strip_accents

    @property
    def nfkc(self) -> bool:
        """Whether the text is NFKC- (rather than NFC-) normalised."""
        return self._native.nfkc

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={self.special_tokens}, byte_fallback={self.byte_fallback})"
        )


# ---- helpers -------------------------------------------------------------------------------


_U64_MAX = 2**64 - 1  # the Rust core's counts and sizes are 64-bit


# Every Tokenizer, for the fork hook below (weak: the set keeps none alive).
_LIVE: weakref.WeakSet[Tokenizer] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A fork taken while another thread was encoding (a background thread, say, when a
    DataLoader starts its workers) copies the word cache's lock as that thread held it, and
    the child does not have that thread: the first batch that grows the cache would wait
    forever. Such a tokenizer gets an empty cache in the child; the others keep their warm
    one (the child's copy of it)."""
    for tok in list(_LIVE):
        if tok._native._cache_locked():
            tok._native = tok._native._fresh()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_int(name: str, value: Any, minimum: int | None, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")


def _check_lowercase(value: Any) -> str | None:
    """None/False -> None; True/"default" -> "default"; "tr" -> "tr"."""
    if value is None or value is False:
        return None
    if value is True:
        return "default"
    if not isinstance(value, str):
        raise TypeError(
            f"lowercase must be None, True, 'default' or 'tr', got {type(value).__name__}"
        )
    if value not in ("default", "tr"):
        raise ValueError(
            f"lowercase must be None, True, 'default' or 'tr' (Turkish), got {value!r}"
        )
    return value


def _check_path(name: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__}")
    return os.fspath(value)


def _check_specials(special_tokens: Any) -> list[str]:
    if isinstance(special_tokens, (str, bytes)) or not isinstance(special_tokens, Iterable):
        raise TypeError(
            "special_tokens must be a list of str, such as ['[PAD]', '[UNK]'], got "
            f"{type(special_tokens).__name__}"
        )
    specials = list(special_tokens)
    for s in specials:
        if not isinstance(s, str):
            raise TypeError(f"special_tokens must contain str, got {type(s).__name__}")
    return specials


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise TypeError(
            f"texts must be a list of str, got {type(texts).__name__}"
            + ("; wrap a single text in a list" if isinstance(texts, str) else "")
        )
    texts = texts if isinstance(texts, list) else list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts must contain str; item {i} is {type(t).__name__}")
    return texts


def _encode_many(encode: Any, texts: Any, special_tokens: bool) -> Any:
    """`encode(texts)` by the native batch function. A list goes straight in: the native side
    checks each item as it reads it (a Python pass over the list first cost 1 ms per 10k
    texts, run alone before the threads start); other iterables, and a list it refuses, go
    through `_check_texts` for the documented error."""
    if type(texts) is not list:
        texts = _check_texts(texts)
    try:
        return encode(texts, special_tokens=special_tokens)
    except UnicodeEncodeError:  # lone surrogates, in builds on the limited API (abi3) or PyPy
        return encode([_fix_surrogates(t) for t in texts], special_tokens=special_tokens)
    except TypeError:
        _check_texts(texts)  # the documented message for an item that is not a str
        raise


def _check_ids(ids: Any) -> list[int]:
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(
                f"ids must be a 1-D integer array, got {ids.dtype} with shape {ids.shape}"
            )
        return ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"ids must be a list of int, got {type(ids).__name__}")
    ids = ids if isinstance(ids, list) else list(ids)
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"ids must contain int, got {type(i).__name__}")
    return ids


def _fix_surrogates(text: str) -> str:
    # lone surrogates cannot be UTF-8; replace them with U+FFFD (as tiktoken does)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _expand(path: Path) -> list[str]:
    """A file -> [it]; a directory -> its *.txt files, recursively, sorted."""
    if path.is_dir():
        found = sorted(str(p) for p in path.rglob("*.txt") if p.is_file())
        if not found:
            raise ValueError(f"directory {path} contains no *.txt files to train on")
        return found
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return [str(path)]


def _resolve_corpus(x: Any) -> tuple[list[str] | None, Iterable[str] | None]:
    """(files, None) or (None, texts), by the rule in `Tokenizer.train`'s docstring."""
    if isinstance(x, os.PathLike):
        return _expand(Path(x)), None
    if isinstance(x, str):
        if os.path.exists(x):
            return _expand(Path(x)), None
        if "\n" not in x and (os.sep in x or x.endswith(".txt")):
            raise FileNotFoundError(2, "No such file or directory", x)
        raise TypeError(
            "files_or_texts is a str that names no existing file or directory; "
            "to train on the text itself, pass a list: [text]"
        )
    if isinstance(x, (bytes, bytearray)) or not isinstance(x, Iterable):
        raise TypeError(
            "files_or_texts must be a path, an iterable of paths or an iterable of str, "
            f"got {type(x).__name__}"
        )
    if isinstance(x, (list, tuple)):
        if x and all(isinstance(i, os.PathLike) for i in x):
            return [f for i in x for f in _expand(Path(i))], None
        if x and all(isinstance(i, str) for i in x) and all(os.path.isfile(i) for i in x):
            return [str(i) for i in x], None
        if any(isinstance(i, os.PathLike) for i in x):
            raise TypeError(
                "files_or_texts mixes paths and other items; pass only paths or only str"
            )
        for i, item in enumerate(x):
            if not isinstance(item, str):
                raise TypeError(
                    "files_or_texts must hold str (texts or file names) or os.PathLike; "
                    f"item {i} is {type(item).__name__}"
                )
        return None, x
    # another iterable: peek at the first item to decide
    it = iter(x)
    try:
        first = next(it)
    except StopIteration:
        return None, []
    if isinstance(first, os.PathLike):
        rest = list(it)
        if not all(isinstance(i, os.PathLike) for i in rest):
            raise TypeError(
                "files_or_texts mixes paths and other items; pass only paths or only str"
            )
        return [f for i in [first, *rest] for f in _expand(Path(i))], None
    return None, chain([first], it)


def _from_saved_text(vocab_json: str, merges_txt: str, config_json: str) -> Tokenizer:
    """Unpickles a Tokenizer: its three files, written to a temporary directory and loaded
    (so the same validation applies)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fastbpe-") as tmp:
        for name, text in (
            ("vocab.json", vocab_json),
            ("merges.txt", merges_txt),
            ("fastbpe.json", config_json),
        ):
            with open(Path(tmp) / name, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        return Tokenizer.load(tmp)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class _Progress:
    """tqdm bars for the core's progress reports: `(stage, done, total)`."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            from tqdm import tqdm

            self.close()  # one bar at a time: the previous stage is over

            if stage == "count":
                bar = tqdm(total=total, desc="Counting words", unit="B", unit_scale=True)
            else:
                bar = tqdm(total=total, desc="Learning merges", unit=" merges")
            self.bars[stage] = bar
        if done > bar.n:
            bar.update(done - bar.n)

    def wrap_texts(self, texts: Iterable[str]) -> Iterable[str]:
        if not self.enabled:
            return texts
        from tqdm import tqdm

        total = len(texts) if isinstance(texts, Sequence) else None
        bar = tqdm(texts, total=total, desc="Counting words", unit=" texts")
        self.bars["texts"] = bar
        return bar

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
