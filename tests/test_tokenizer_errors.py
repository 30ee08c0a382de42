"""Every bad input from issue 2 gets a clear Python exception: type and message asserted.

Most checks run on both implementations; messages must name the problem (and the file and
line for saved tokenizers)."""

from __future__ import annotations

import json
import re

import pytest

CORPUS = ["the cat sat on the mat", "the dog ate the cat food"]


@pytest.fixture
def saved(impl, tmp_path):
    """A tokenizer saved in tmp_path/tok (with byte fallback off) and its files' text."""
    tok = impl.train(CORPUS, 60, min_frequency=1)
    d = tmp_path / "tok"
    tok.save(d)
    return d


def names_line(message: str, filename: str, line: int) -> bool:
    """The message names the file and the 1-based line ("x.txt:3:" or "x.txt ... line 3")."""
    return filename in message and bool(
        re.search(rf"{re.escape(filename)}:{line}\b|line {line}\b", message)
    )


# ---- training ---------------------------------------------------------------------------


@pytest.mark.parametrize("texts", [[], [""], ["", ""]])
def test_empty_corpus(impl, texts):
    with pytest.raises(ValueError, match="(?i)empty"):
        impl.train(texts, 100)


def test_empty_file(impl, tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="(?i)empty"):
        impl.train([path], 100)


def test_vocab_size_below_alphabet_and_specials(impl):
    # 5 specials + 9 characters (t h e ▁ c a s o n) = 14
    with pytest.raises(ValueError, match="vocab_size") as info:
        impl.train(["the cat sat on"], 13)
    assert "14" in str(info.value)
    assert impl.train(["the cat sat on"], 14).vocab_size == 14


def test_vocab_size_counts_byte_tokens(impl):
    with pytest.raises(ValueError, match="263"):
        impl.train(["ab"], 262, byte_fallback=True)
    assert impl.train(["ab"], 263, byte_fallback=True).vocab_size == 263


def test_non_utf8_file_names_file_and_offset(impl, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("fine text\n", encoding="utf-8")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9 ".encode("utf-8") + b"na\xefve\n")  # 0xEF at byte offset 8
    with pytest.raises(ValueError) as info:
        impl.train([good, bad], 100)
    message = str(info.value)
    assert "latin1.txt" in message
    assert re.search(r"\b8\b", message), message


def test_missing_training_file(impl, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        impl.train([tmp_path / "nope.txt"], 100)


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        (dict(vocab_size="100"), TypeError),
        (dict(vocab_size=100.0), TypeError),
        (dict(vocab_size=100, min_frequency="2"), TypeError),
        (dict(vocab_size=100, min_frequency=0), ValueError),
        (dict(vocab_size=100, special_tokens=["[PAD]", "[MASK]"]), ValueError),  # no [UNK]
        (dict(vocab_size=100, special_tokens=["[UNK]", "[UNK]"]), ValueError),
        (dict(vocab_size=100, special_tokens=["[UNK]", ""]), ValueError),
        (dict(vocab_size=100, special_tokens="[UNK]"), TypeError),
        (dict(vocab_size=100, limit_alphabet="3"), TypeError),
        (dict(vocab_size=100, initial="not a tokenizer"), TypeError),
    ],
)
def test_bad_training_arguments(impl, kwargs, exc):
    with pytest.raises(exc):
        impl.train(CORPUS, **kwargs)


@pytest.mark.parametrize("texts", [[1, 2], [b"bytes"], "a bare string", None, 42])
def test_bad_training_texts(impl, texts):
    with pytest.raises(TypeError):
        impl.train(texts, 100)


# ---- encode / decode ----------------------------------------------------------------------


@pytest.fixture
def tok(impl):
    return impl.train(CORPUS, 60, min_frequency=1)


@pytest.mark.parametrize("bad", [None, 123, b"bytes", ["a", "b"]])
def test_encode_wrong_type(tok, bad):
    with pytest.raises(TypeError):
        tok.encode(bad)


def test_decode_unknown_id_is_keyerror_naming_the_id(tok):
    with pytest.raises(KeyError, match="60"):
        tok.decode([5, 60])
    with pytest.raises(KeyError, match="123456"):
        tok.decode([123456])
    with pytest.raises((KeyError, OverflowError, ValueError)):
        tok.decode([-1])


@pytest.mark.parametrize("bad", [["a"], [1.5], [None], "abc", 5])
def test_decode_wrong_type(tok, bad):
    with pytest.raises(TypeError):
        tok.decode(bad)


# ---- loading: corrupt or mismatched files ------------------------------------------------------


def rewrite(path, transform):
    path.write_text(transform(path.read_text(encoding="utf-8")), encoding="utf-8")


def test_load_missing_directory(impl, tmp_path):
    with pytest.raises(FileNotFoundError):
        impl.load(tmp_path / "absent")


@pytest.mark.parametrize("name", ["vocab.json", "merges.txt", "fastbpe.json"])
def test_load_missing_file(impl, saved, name):
    (saved / name).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(name)):
        impl.load(saved)


def test_vocab_json_invalid_json(impl, saved):
    rewrite(saved / "vocab.json", lambda s: s.replace('"[SEP]": 3,', '"[SEP]" 3,'))
    with pytest.raises(ValueError) as info:
        impl.load(saved)
    assert names_line(str(info.value), "vocab.json", 5), str(info.value)


def test_vocab_json_id_out_of_range(impl, saved):
    rewrite(saved / "vocab.json", lambda s: s.replace(": 7,", ": 700,"))
    with pytest.raises(ValueError) as info:
        impl.load(saved)
    assert names_line(str(info.value), "vocab.json", 9), str(info.value)


def test_vocab_json_duplicate_id(impl, saved):
    rewrite(saved / "vocab.json", lambda s: s.replace(": 7,", ": 6,"))
    with pytest.raises(ValueError, match="vocab.json"):
        impl.load(saved)


def test_vocab_json_specials_mismatch_config(impl, saved):
    rewrite(saved / "vocab.json", lambda s: s.replace('"[CLS]"', '"[XXX]"'))
    with pytest.raises(ValueError) as info:
        impl.load(saved)
    assert names_line(str(info.value), "vocab.json", 4), str(info.value)


def test_vocab_json_not_utf8(impl, saved):
    (saved / "vocab.json").write_bytes(b'{"\xff": 0}')
    with pytest.raises(ValueError, match="vocab.json"):
        impl.load(saved)


def test_merges_txt_bad_line(impl, saved):
    lines = (saved / "merges.txt").read_text(encoding="utf-8").split("\n")
    lines[2] = "a b c"
    (saved / "merges.txt").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError) as info:
        impl.load(saved)
    assert names_line(str(info.value), "merges.txt", 3), str(info.value)


def test_merges_txt_unknown_token(impl, saved):
    lines = (saved / "merges.txt").read_text(encoding="utf-8").split("\n")
    lines[3] = "zz qq"
    (saved / "merges.txt").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError) as info:
        impl.load(saved)
    assert names_line(str(info.value), "merges.txt", 4), str(info.value)
    assert "zz" in str(info.value)


def test_merges_txt_result_not_in_vocab(impl, saved):
    # both tokens exist, but their concatenation is not a token
    vocab = json.loads((saved / "vocab.json").read_text(encoding="utf-8"))
    assert "tt" not in vocab
    rewrite(saved / "merges.txt", lambda s: s + "t t\n")
    last = len((saved / "merges.txt").read_text(encoding="utf-8").splitlines())
    with pytest.raises(ValueError) as info:
        impl.load(saved)
    assert names_line(str(info.value), "merges.txt", last), str(info.value)


def test_merges_from_another_tokenizer(impl, saved, tmp_path):
    other = impl.train(["zebra quagga zebra quagga"], 40, min_frequency=1)
    other.save(tmp_path / "other")
    (saved / "merges.txt").write_bytes((tmp_path / "other" / "merges.txt").read_bytes())
    with pytest.raises(ValueError, match="merges.txt"):
        impl.load(saved)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: {**c, "format": 2},
        lambda c: {**c, "normalization": "nfd"},
        lambda c: {**c, "pre_tokenizer": "gpt2"},
        lambda c: {**c, "space_marker": " "},
        lambda c: {**c, "special_tokens": ["[PAD]", "[MASK]"]},
        lambda c: {k: v for k, v in c.items() if k != "byte_fallback"},
    ],
)
def test_fastbpe_json_bad_config(impl, saved, change):
    path = saved / "fastbpe.json"
    path.write_text(
        json.dumps(change(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8"
    )
    with pytest.raises(ValueError, match="fastbpe.json"):
        impl.load(saved)


def test_fastbpe_json_invalid_json(impl, saved):
    rewrite(saved / "fastbpe.json", lambda s: s.replace('"nfc",', '"nfc"'))
    with pytest.raises(ValueError) as info:
        impl.load(saved)
    # the missing comma ends line 3; the parser notices at the next key, on line 4
    assert names_line(str(info.value), "fastbpe.json", 4), str(info.value)


def test_byte_fallback_mismatch(impl, saved):
    # the config claims byte fallback, the vocabulary has no byte tokens
    rewrite(
        saved / "fastbpe.json",
        lambda s: s.replace('"byte_fallback": false', '"byte_fallback": true'),
    )
    with pytest.raises(ValueError, match="vocab.json|fastbpe.json"):
        impl.load(saved)


def test_non_utf8_after_the_first_chunk(rust, tmp_path):
    # The Rust reader works in chunks of a few MiB; the offset is still from the file start.
    line = b"a line of plain text\n"
    head = line * (5_000_000 // len(line))
    bad = tmp_path / "big.txt"
    bad.write_bytes(head + b"ok \xc3\x28 tail\n")
    with pytest.raises(ValueError) as info:
        rust.train([bad], 100)
    assert "big.txt" in str(info.value)
    assert str(len(head) + 3) in str(info.value), str(info.value)
