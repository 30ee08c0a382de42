"""Corpus streaming, token shards (dtype, split, cache) and packed / line-by-line sequences."""

import gzip
import json

import numpy as np
import pytest
import torch
from bertmlm.corpus import CorpusError, clean_docstring, iter_documents, resolve_corpus
from bertmlm.data import MLMDataset, is_held_out, prepare_shards, shard_key, token_counts

CLS, SEP, PAD = 2, 3, 0


class CharTokenizer:
    """A stand-in for fastbpe.Tokenizer: one id per character, specials 0-4."""

    special_tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    def __init__(self, alphabet="abcdefghijklmnopqrstuvwxyz .\n", extra=0):
        self.vocab = {t: i for i, t in enumerate(self.special_tokens + list(alphabet))}
        for k in range(extra):  # to make a vocabulary too large for uint16
            self.vocab[f"<x{k}>"] = len(self.vocab)
        self.vocab_size = len(self.vocab)
        self.calls = 0

    def get_vocab(self):
        return dict(self.vocab)

    def token_to_id(self, t):
        return self.vocab.get(t)

    def encode(self, text):
        return [self.vocab.get(c, 1) for c in text]

    def encode_batch_flat(self, texts, *, special_tokens=True):
        assert special_tokens is False, "corpus text must be encoded as plain text"
        self.calls += 1
        seqs = [self.encode(t) for t in texts]
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(s) for s in seqs])
        return np.array([i for s in seqs for i in s], dtype=np.uint32), offsets


def test_iter_documents_formats(tmp_path):
    (tmp_path / "a.txt").write_text("first para\nline two\n\n\nsecond para\n")
    with gzip.open(tmp_path / "b.txt.gz", "wt") as f:
        f.write("zipped doc\n")
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"text": "json one"}) + "\n\n" + json.dumps({"text": "json two\nmore"}) + "\n"
    )
    (tmp_path / "ignored.csv").write_text("x,y\n")
    files = resolve_corpus([tmp_path])
    assert [f.name for f in files] == ["a.txt", "b.txt.gz", "c.jsonl"]
    assert list(iter_documents(files)) == [
        "first para\nline two",
        "second para",
        "zipped doc",
        "json one",
        "json two\nmore",
    ]
    assert list(iter_documents(files, unit="line")) == [
        "first para",
        "line two",
        "second para",
        "zipped doc",
        "json one",
        "json two",
        "more",
    ]
    assert resolve_corpus([str(tmp_path / "*.jsonl")]) == [tmp_path / "c.jsonl"]


def test_corpus_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        resolve_corpus([tmp_path / "nope.txt"])
    with pytest.raises(CorpusError, match="matches no files"):
        resolve_corpus([str(tmp_path / "*.txt")])
    (tmp_path / "d").mkdir()
    with pytest.raises(CorpusError, match="holds no"):
        resolve_corpus([tmp_path / "d"])
    (tmp_path / "bad.jsonl").write_text('{"title": "x"}\n')
    with pytest.raises(CorpusError, match="bad.jsonl:1"):
        list(iter_documents([tmp_path / "bad.jsonl"]))


def test_non_utf8_corpus_file_names_the_file_and_byte_offset(tmp_path):
    # A stray byte must stop pretraining with one line (as fastbpe's trainer does), not be
    # replaced by U+FFFD and trained on. The offset counts from the start of the file even
    # past the first read chunk and with a character split across chunks (4 MiB).
    chunk = 1 << 22
    cases = {
        "early.txt": b"fine\n\ncaf\xe9\n",
        "cut.txt": b"ends inside a character \xc3",
        "late.txt": b"x" * (chunk - 1) + "\u00e9".encode() + b"\n\n ok \xff\n",
        "bad.jsonl": json.dumps({"text": "ok"}).encode() + b'\n{"text": "\x80"}\n',
    }
    want = {"early.txt": 9, "cut.txt": 24, "late.txt": chunk + 1 + 6, "bad.jsonl": 25}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with gzip.open(tmp_path / "z.txt.gz", "wb") as f:
        f.write(b"zipped\n\xfe\n")
    want["z.txt.gz"] = 7
    for name, offset in want.items():
        for unit in ("paragraph", "line"):
            with pytest.raises(CorpusError) as e:
                list(iter_documents([tmp_path / name], unit=unit))
            message = str(e.value)
            assert message.startswith(f"{tmp_path / name}: not valid UTF-8 at byte offset {offset}")
            assert "re-encode" in message and "\n" not in message
    assert "of its decompressed text" in message


def test_clean_docstring_keeps_prose_drops_code():
    doc = """Return the thing that this function computes for you.

    >>> f(1)
    2

        for x in range(10):
            print(x)

    Parameters
    ----------
    x : int

    This paragraph is real prose, written over
    two lines, and it is kept.
    """
    assert clean_docstring(doc) == [
        "Return the thing that this function computes for you.",
        "This paragraph is real prose, written over two lines, and it is kept.",
    ]


def test_held_out_is_an_even_fraction():
    picks = [i for i in range(1000) if is_held_out(i, 0.05)]
    assert len(picks) == 50 and picks[0] == 9
    assert not any(is_held_out(i, 0.0) for i in range(100))


def docs(n=60):
    return [f"doc {i} ".replace("0", "a") + "abc " * (i % 7 + 1) for i in range(n)]


def test_prepare_shards_split_dtype_and_cache(tmp_path):
    tok = CharTokenizer()
    d = tmp_path / shard_key("corpus", tok, unit="paragraph", val_fraction=0.1)
    shards = prepare_shards(docs(), tok, d, val_fraction=0.1, progress=False)
    assert not shards.reused and shards.train.tokens.dtype == np.uint16
    assert shards.train.num_documents == 54 and shards.val.num_documents == 6
    # each document is followed by [SEP] and the offsets point at document starts
    t, o = shards.train.tokens, shards.train.offsets
    assert all(t[o[i + 1] - 1] == SEP for i in range(54))
    assert list(t[o[0] : o[1] - 1]) == tok.encode(docs()[0])
    assert list(shards.val.tokens[: shards.val.offsets[1] - 1]) == tok.encode(
        docs()[4]
    )  # 0.1 -> docs 4, 14, ...
    calls = tok.calls
    again = prepare_shards(docs(), tok, d, val_fraction=0.1, progress=False)
    assert again.reused and tok.calls == calls, "unchanged corpus and tokenizer were re-tokenized"
    assert np.array_equal(np.asarray(again.train.tokens), np.asarray(t))
    # another tokenizer or corpus -> another key
    assert shard_key("corpus", CharTokenizer("xyz"), unit="paragraph", val_fraction=0.1) != d.name
    assert shard_key("corpus2", tok, unit="paragraph", val_fraction=0.1) != d.name
    counts = token_counts(shards.train, tok.vocab_size)
    assert counts.sum() == shards.train.num_tokens and counts[SEP] == 54


def test_large_vocab_uses_uint32(tmp_path):
    tok = CharTokenizer(extra=70_000)
    shards = prepare_shards(docs(10), tok, tmp_path / "s", val_fraction=0.0, progress=False)
    assert shards.train.tokens.dtype == np.uint32 and shards.val.num_tokens == 0


def test_packed_windows_cover_the_stream(tmp_path):
    tok = CharTokenizer()
    shards = prepare_shards(docs(), tok, tmp_path / "s", val_fraction=0.0, progress=False)
    ds = MLMDataset(shards.train, 16, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    assert len(ds) == -(-shards.train.num_tokens // 14)
    bodies = []
    for i in range(len(ds)):
        item = ds[i]
        ids, am = item["input_ids"], item["attention_mask"]
        assert ids.dtype == torch.long and ids.shape == (16,)
        n = int(am.sum())
        assert (
            ids[0] == CLS and ids[n - 1] == SEP and (ids[n:] == PAD).all() and (am[:n] == 1).all()
        )
        assert (item["token_type_ids"] == 0).all()
        bodies.extend(ids[1 : n - 1].tolist())
        if i < len(ds) - 1:
            assert n == 16, "only the last packed window may be padded"
    assert bodies == list(shards.train.tokens)
    assert ds.num_real_tokens() == sum(int(ds[i]["attention_mask"].sum()) for i in range(len(ds)))


def test_line_by_line_trims_and_pads(tmp_path):
    tok = CharTokenizer()
    texts = ["ab", "abcdefghijklmnopqrstuvwxyz"]
    shards = prepare_shards(texts, tok, tmp_path / "s", val_fraction=0.0, progress=False)
    ds = MLMDataset(shards.train, 8, cls_id=CLS, sep_id=SEP, pad_id=PAD, line_by_line=True)
    assert len(ds) == 2
    short, long = ds[0], ds[1]
    assert short["input_ids"].tolist() == [CLS, *tok.encode("ab"), SEP, PAD, PAD, PAD, PAD]
    assert short["attention_mask"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert long["input_ids"].tolist() == [CLS, *tok.encode("abcdef"), SEP]
    assert long["attention_mask"].tolist() == [1] * 8
    assert ds.num_real_tokens() == 4 + 8
    with pytest.raises(IndexError):
        ds[2]


def test_split_pickles_by_file_name(tmp_path):
    import pickle

    shards = prepare_shards(
        docs(), CharTokenizer(), tmp_path / "s", val_fraction=0.0, progress=False
    )
    ds = MLMDataset(shards.train, 16, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    blob = pickle.dumps(ds)
    assert len(blob) < 2000 < shards.train.num_tokens * 2, "the tokens were pickled"
    copy = pickle.loads(blob)
    assert torch.equal(copy[3]["input_ids"], ds[3]["input_ids"])


@pytest.mark.slow
def test_default_corpus_is_big_english_and_deterministic(tmp_path):
    from bertmlm.corpus import default_corpus

    path = default_corpus(tmp_path / "a")
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) >= 2_000_000
    assert ">>>" not in text and " at 0x" not in text
    words = text.split()
    assert sum(w.strip(".,;:()").isalpha() for w in words) > 0.8 * len(words)
    assert default_corpus(tmp_path / "b").read_bytes() == path.read_bytes()
    assert default_corpus(tmp_path / "a") == path  # cached
