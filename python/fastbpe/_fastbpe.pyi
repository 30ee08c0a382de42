"""The native (Rust) half of fastbpe. Use `fastbpe.Tokenizer`, which wraps it."""

from collections.abc import Callable, Iterable, Sequence
from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["__version__", "Tokenizer", "_panic_for_test"]

__version__: str

@final
class Tokenizer:
    """A trained BPE tokenizer (immutable, thread-safe)."""

    @staticmethod
    def train_files(
        files: Sequence[str],
        vocab_size: int,
        *,
        min_frequency: int = 2,
        special_tokens: Sequence[str] | None = None,
        byte_fallback: bool = False,
        initial: Tokenizer | None = None,
        limit_alphabet: int | None = None,
        progress: Callable[[str, int, int], object] | None = None,
        lowercase: str | None = None,
        strip_accents: bool = False,
        nfkc: bool = False,
    ) -> Tokenizer:
        """Trains on UTF-8 files, read in chunks and counted in parallel.

        `progress(stage, done, total)` is called now and then with stage "count" (bytes)
        or "merge" (merges); an exception raised in it stops training and propagates.
        `lowercase` is None, "default" or "tr"; with `initial`, the all-off normalisation
        means "the initial tokenizer's", and any other that differs is a ValueError.
        """

    @staticmethod
    def train_iterator(
        texts: Iterable[str],
        vocab_size: int,
        *,
        min_frequency: int = 2,
        special_tokens: Sequence[str] | None = None,
        byte_fallback: bool = False,
        initial: Tokenizer | None = None,
        limit_alphabet: int | None = None,
        progress: Callable[[str, int, int], object] | None = None,
        batch_size: int = 8192,
        lowercase: str | None = None,
        strip_accents: bool = False,
        nfkc: bool = False,
    ) -> Tokenizer:
        """Trains on an iterable of str, pulled `batch_size` at a time under the GIL and
        counted in parallel without it."""

    @staticmethod
    def load(directory: str) -> Tokenizer:
        """Loads vocab.json, merges.txt and fastbpe.json from `directory`, validated."""

    def encode(self, text: str, *, special_tokens: bool = True) -> list[int]: ...
    def encode_batch(
        self, texts: Sequence[str], *, special_tokens: bool = True
    ) -> list[list[int]]: ...
    def encode_batch_flat(
        self, texts: Sequence[str], *, special_tokens: bool = True
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """(ids, offsets): ids of all texts concatenated; text i is ids[offsets[i]:offsets[i+1]]."""

    def decode(self, ids: Sequence[int]) -> bytes:
        """UTF-8 bytes of the ids; KeyError for an id outside the vocabulary."""

    def decode_batch(self, batch: Sequence[Sequence[int]]) -> list[bytes]: ...
    @property
    def vocab_size(self) -> int: ...
    def get_vocab(self) -> dict[str, int]: ...
    @property
    def merges(self) -> list[tuple[str, str]]: ...
    def token_to_id(self, token: str) -> int | None: ...
    def id_to_token(self, id: int) -> str | None: ...
    @property
    def special_tokens(self) -> list[str]: ...
    @property
    def byte_fallback(self) -> bool: ...
    @property
    def lowercase(self) -> str | None:
        """None, "default" or "tr"."""

    @property
    def strip_accents(self) -> bool: ...
    @property
    def nfkc(self) -> bool: ...
    def normalize(self, text: str) -> str:
        """`text` normalised (docs/tokenizer.md section 1), without the space marker and
        without cutting out special tokens."""

    def vocab_json(self) -> str:
        """The contents of vocab.json."""

    def merges_txt(self) -> str:
        """The contents of merges.txt."""

    def config_json(self) -> str:
        """The contents of fastbpe.json."""
    def _cache_locked(self) -> bool:
        """Whether another thread holds the word cache's lock (after a fork: a thread of the
        parent that was encoding)."""
    def _fresh(self) -> Tokenizer:
        """The same tokenizer with an empty word cache."""

def _panic_for_test() -> None:
    """Panics inside Rust on purpose; must surface as RuntimeError."""
