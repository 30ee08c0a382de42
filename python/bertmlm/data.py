"""Token shards on disk and the MLM sequences read from them.

Preparation (`prepare_shards`) streams documents through the tokenizer in batches
(`encode_batch_flat`, fastbpe's parallel flat encoding) and appends the ids to two flat files,
`train.tokens` and `val.tokens` (uint16 when the vocabulary has at most 65536 ids, else uint32),
each document followed by one [SEP]. `*.offsets.npy` keeps where every document starts, so
document boundaries survive. A document goes to the held-out split when it is one of an evenly
spaced fraction `val_fraction` of documents (systematic sampling: no randomness, and any corpus
of at least `1 / val_fraction` documents gets a non-empty held-out split).

Shards live in a directory named by a hash of the corpus bytes, the tokenizer's vocabulary and
merges, the document unit and the split fraction; a run with the same corpus and tokenizer reuses
them. The directory is built under a temporary name and renamed when complete, so an interrupted
preparation never leaves a half-written cache behind.

Sequences (`MLMDataset`), read through a read-only numpy memmap:
- packed (default): the split's token stream is cut into windows of `max_length - 2` tokens, each
  wrapped as `[CLS] window [SEP]`; only the last window is padded.
- line by line: one sequence per document, trimmed to `max_length - 2` tokens,
  `[CLS] doc [SEP]`, padded with [PAD] to `max_length`.
Each item is `input_ids`, `attention_mask` (1 for real tokens, 0 for padding) and
`token_type_ids` (all 0: one segment), as int64 tensors of length `max_length`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

SHARD_FORMAT = 2  # bump when the layout changes (it is part of the cache key)
ENCODE_BATCH_DOCS = 2048  # documents per encode_batch_flat call


# ------------------------------------------------------------------------------------------------
# cache keys


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of the tokenizer's vocabulary (token -> id) and merges."""
    h = hashlib.blake2b(digest_size=16)
    vocab = tokenizer.get_vocab()
    h.update(json.dumps(sorted(vocab.items(), key=lambda kv: kv[1]), ensure_ascii=False).encode())
    merges = getattr(tokenizer, "merges", None)
    if merges is not None:
        h.update(json.dumps([list(m) for m in merges], ensure_ascii=False).encode())
    return h.hexdigest()


def shard_key(corpus_fingerprint: str, tokenizer: Any, *, unit: str, val_fraction: float) -> str:
    parts = [
        f"format={SHARD_FORMAT}",
        f"corpus={corpus_fingerprint}",
        f"tokenizer={tokenizer_fingerprint(tokenizer)}",
        f"unit={unit}",
        f"val={val_fraction!r}",
    ]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=12).hexdigest()


# ------------------------------------------------------------------------------------------------
# preparation


@dataclass
class Split:
    """One split: its flat token stream (memmap) and document start offsets (len docs + 1).

    Pickling (DataLoader workers) sends the file name, not the tokens; the copy maps the file again.
    """

    tokens: np.ndarray
    offsets: np.ndarray
    path: Path | None = None  # the .tokens file behind `tokens` (None: in memory)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.path is not None:
            state["tokens"] = (str(self.tokens.dtype), len(self.tokens))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("path") is not None:
            dtype, n = state["tokens"]
            state["tokens"] = np.memmap(state["path"], dtype=dtype, mode="r", shape=(n,))
        self.__dict__.update(state)

    @property
    def num_documents(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)


@dataclass
class Shards:
    directory: Path
    train: Split
    val: Split
    meta: dict[str, Any]
    reused: bool = False


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def is_held_out(index: int, val_fraction: float) -> bool:
    """Systematic sampling: document `index` is held out when floor(i * f + 0.5) steps up."""
    if val_fraction <= 0:
        return False
    return int((index + 1) * val_fraction + 0.5) > int(index * val_fraction + 0.5)


def prepare_shards(
    documents: Iterable[str],
    tokenizer: Any,
    directory: str | os.PathLike,
    *,
    val_fraction: float = 0.05,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
) -> Shards:
    """Tokenize `documents` into `directory` (reused as-is when it already holds complete shards).

    `directory` should be named by `shard_key(...)` so that a different corpus or tokenizer gets
    different shards.
    """
    directory = Path(directory)
    if (directory / "meta.json").is_file():
        shards = load_shards(directory)
        shards.reused = True
        return shards
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    sep_id = tokenizer.token_to_id("[SEP]")
    if sep_id is None:
        raise ValueError("the tokenizer has no [SEP] token")
    dtype = token_dtype(tokenizer.vocab_size)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    counts = {"train": [0], "val": [0]}  # running document start offsets per split
    files = {name: open(tmp / f"{name}.tokens", "wb") for name in counts}
    n_docs = 0
    bar = tqdm(desc="tokenizing", unit=" docs", disable=not progress, leave=False)
    try:
        for batch in _batches(documents, ENCODE_BATCH_DOCS):
            ids, offsets = _encode_flat(tokenizer, batch)
            for j in range(len(batch)):
                doc = ids[offsets[j] : offsets[j + 1]]
                if len(doc) == 0:
                    continue
                name = "val" if is_held_out(n_docs, val_fraction) else "train"
                files[name].write(np.append(doc, sep_id).astype(dtype).tobytes())
                counts[name].append(counts[name][-1] + len(doc) + 1)
                n_docs += 1
            bar.update(len(batch))
    except BaseException:
        for f in files.values():
            f.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    for f in files.values():
        f.close()
    for name, offs in counts.items():
        np.save(tmp / f"{name}.offsets.npy", np.asarray(offs, dtype=np.int64))
    info = dict(
        meta or {},
        format=SHARD_FORMAT,
        dtype=dtype.name,
        vocab_size=tokenizer.vocab_size,
        val_fraction=val_fraction,
        documents=n_docs,
        train_tokens=counts["train"][-1],
        val_tokens=counts["val"][-1],
    )
    (tmp / "meta.json").write_text(json.dumps(info, indent=2) + "\n")
    try:
        os.replace(tmp, directory)
    except OSError:  # another process finished the same shards first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return load_shards(directory)


def load_shards(directory: str | os.PathLike) -> Shards:
    directory = Path(directory)
    meta = json.loads((directory / "meta.json").read_text())
    dtype = np.dtype(meta["dtype"])
    splits = {}
    for name in ("train", "val"):
        offsets = np.load(directory / f"{name}.offsets.npy")
        path = directory / f"{name}.tokens"
        if offsets[-1] == 0:
            splits[name] = Split(
                np.zeros(0, dtype=dtype), offsets
            )  # np.memmap cannot map an empty file
        else:
            tokens = np.memmap(path, dtype=dtype, mode="r", shape=(int(offsets[-1]),))
            splits[name] = Split(tokens, offsets, path)
    return Shards(directory, splits["train"], splits["val"], meta)


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _encode_flat(tokenizer: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(ids, offsets) for a batch of texts; falls back to encode_batch for tokenizers without
    encode_batch_flat (the pure-Python reference)."""
    # corpus text is plain text: a "[MASK]" written in it must not become the mask id
    if hasattr(tokenizer, "encode_batch_flat"):
        ids, offsets = tokenizer.encode_batch_flat(texts, special_tokens=False)
        return np.asarray(ids), np.asarray(offsets, dtype=np.int64)
    seqs = tokenizer.encode_batch(texts, special_tokens=False)
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in seqs])
    flat = np.fromiter((i for s in seqs for i in s), dtype=np.uint32, count=int(offsets[-1]))
    return flat, offsets


def token_counts(split: Split, vocab_size: int, chunk: int = 1 << 24) -> np.ndarray:
    """How often each id occurs in the split (streamed over the memmap in chunks)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, split.num_tokens, chunk):
        counts += np.bincount(split.tokens[start : start + chunk], minlength=vocab_size)[
            :vocab_size
        ]
    return counts


# ------------------------------------------------------------------------------------------------
# sequences


class MLMDataset(torch.utils.data.Dataset):
    """Fixed-length `[CLS] ... [SEP]` sequences from one split (see the module docstring)."""

    def __init__(
        self,
        split: Split,
        max_length: int,
        *,
        cls_id: int,
        sep_id: int,
        pad_id: int,
        line_by_line: bool = False,
    ) -> None:
        if max_length < 3:
            raise ValueError(
                f"max_length must be at least 3 ([CLS], one token, [SEP]), got {max_length}"
            )
        self.split = split
        self.max_length = max_length
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        self.line_by_line = line_by_line
        self.body = max_length - 2  # tokens between [CLS] and [SEP]
        if line_by_line:
            self.length = split.num_documents
        else:
            self.length = -(-split.num_tokens // self.body)  # ceil

    def __len__(self) -> int:
        return self.length

    def window(self, index: int) -> np.ndarray:
        """The body tokens of sequence `index` (before [CLS]/[SEP] and padding)."""
        if not 0 <= index < self.length:
            raise IndexError(f"sequence {index} out of range [0, {self.length})")
        if self.line_by_line:
            start, end = (
                self.split.offsets[index],
                self.split.offsets[index + 1] - 1,
            )  # drop the [SEP]
            return self.split.tokens[start : min(end, start + self.body)]
        start = index * self.body
        return self.split.tokens[start : start + self.body]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        body = self.window(index)
        n = len(body) + 2
        ids = np.full(self.max_length, self.pad_id, dtype=np.int64)
        ids[0] = self.cls_id
        ids[1 : n - 1] = body
        ids[n - 1] = self.sep_id
        mask = np.zeros(self.max_length, dtype=np.int64)
        mask[:n] = 1
        return {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "token_type_ids": torch.zeros(self.max_length, dtype=torch.long),
        }

    def num_real_tokens(self) -> int:
        """Tokens in all sequences, [CLS]/[SEP] included, padding excluded."""
        if self.line_by_line:
            lengths = np.diff(self.split.offsets) - 1
            return int(np.minimum(lengths, self.body).sum() + 2 * self.length)
        return self.split.num_tokens + 2 * self.length
