"""Property tests with many examples (all `slow`): a tokenizer trained on a *random* corpus
round-trips, encodes a batch as it encodes texts one by one, saves and loads to the same
thing, and agrees with the pure-Python reference.

The default suite's property tests (test_roundtrip, test_parity, test_tokenizer_api) draw few
examples and mostly use a fixed tokenizer; these draw HYPOTHESIS_SLOW_EXAMPLES (default 300)
corpora and settings each, plus tiktoken's "catastrophically repetitive" inputs. Run them with
`pytest -m slow tests/test_properties_slow.py`.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from conftest import ASSIGNED_CHARS, SLOW_EXAMPLES, rust_tokenizer_class
from fastbpe.reference import SPACE_MARKER, ReferenceTokenizer, count_words
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

many = settings(
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

# Characters: a small alphabet (so that merges, long merge chains and ties happen), the tricky
# ones (spaces, markers, newlines, combining marks, ZWJ, controls, Turkish dotted/dotless i),
# and anything assigned.
SMALL = st.sampled_from(
    list("aab ")
    + [
        "ab",
        "ba ",
        " ",
        "\u2581",
        "\n",
        "\t",
        "\u0301",
        "e\u0301",
        "\u00e9",
        "İ",
        "ı",
        "👍",
        "\U0001f3fd",
        "\u200d",
        "\x00",
        "[MASK]",
        "[UNK]",
        "12",
        ".",
    ]
)
CHUNKS = st.one_of(SMALL, SMALL, ASSIGNED_CHARS)
TEXT = st.lists(CHUNKS, max_size=40).map("".join)
CORPUS = st.lists(TEXT, min_size=1, max_size=12)
SETTINGS = st.fixed_dictionaries(
    {
        "extra": st.integers(0, 80),
        "min_frequency": st.integers(1, 3),
        "byte_fallback": st.booleans(),
        "limit_alphabet": st.none() | st.integers(0, 10),
    }
)

# tiktoken's "catastrophically repetitive" inputs and friends
REPETITIVE = [
    "a" * 10_000,
    " " * 10_000,
    "\u2581" * 5000 + "a",
    "ab" * 5000,
    "\n" * 10_000,
    "e\u0301" * 3000,
    "👍🏽" * 2000,
    "[MASK]" * 2000,
    "a " * 5000,
]


def nfc_text(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace(SPACE_MARKER, " ")


def train_both(texts, s):
    """(rust, reference) trained with the same settings; None if the corpus has no word."""
    cls = rust_tokenizer_class()
    kwargs = dict(
        min_frequency=s["min_frequency"],
        byte_fallback=s["byte_fallback"],
        limit_alphabet=s["limit_alphabet"],
    )
    if not count_words(texts):
        with pytest.raises(ValueError):
            cls.train(texts, 1000, show_progress=False, **kwargs)
        return None
    # vocab_size = what the specials, bytes and alphabet need, plus `extra` merges at most
    size = (
        5
        + 256 * s["byte_fallback"]
        + len(
            {c for t in texts for c in unicodedata.normalize("NFC", t).replace(" ", SPACE_MARKER)}
        )
    )
    size += s["extra"]
    ref = ReferenceTokenizer.train(texts, size, **kwargs)
    tok = cls.train(texts, size, show_progress=False, **kwargs)
    return tok, ref


@many
@given(texts=CORPUS, s=SETTINGS, probe=TEXT)
@example(
    texts=REPETITIVE,
    s={"extra": 50, "min_frequency": 1, "byte_fallback": True, "limit_alphabet": None},
    probe="a" * 10_000,
)
def test_trained_on_random_corpus_round_trips(texts, s, probe):
    both = train_both(texts, s)
    if both is None:
        return
    tok, _ = both
    vocab = tok.get_vocab()
    for text in [*texts, probe, "".join(texts)]:
        for special in (False, True):
            ids = tok.encode(text, special_tokens=special)
            assert all(0 <= i < tok.vocab_size for i in ids)
            if (
                s["byte_fallback"]
                or s["limit_alphabet"] is None
                and all(
                    c in vocab
                    for c in unicodedata.normalize("NFC", text).replace(" ", SPACE_MARKER)
                )
            ):
                assert tok.decode(ids) == nfc_text(text)


@many
@given(texts=CORPUS, s=SETTINGS, batch=st.lists(TEXT, max_size=20))
def test_batch_equals_sequential_on_random_tokenizers(texts, s, batch):
    both = train_both(texts, s)
    if both is None:
        return
    tok, _ = both
    seq = [tok.encode(t) for t in batch]
    assert tok.encode_batch(batch) == seq
    ids, offsets = tok.encode_batch_flat(batch)
    assert ids.dtype == np.uint32 and offsets.dtype == np.int64 and len(offsets) == len(batch) + 1
    assert [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(batch))] == seq
    assert tok.decode_batch(seq) == [tok.decode(x) for x in seq]


@many
@given(texts=CORPUS, s=SETTINGS, probe=TEXT)
def test_save_load_random_tokenizers(tmp_path_factory, texts, s, probe):
    both = train_both(texts, s)
    if both is None:
        return
    tok, _ = both
    cls = type(tok)
    first, second = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    tok.save(first)
    back = cls.load(first)
    assert back.get_vocab() == tok.get_vocab()
    assert back.merges == tok.merges
    assert back.special_tokens == tok.special_tokens and back.byte_fallback == tok.byte_fallback
    for text in [*texts, probe]:
        assert back.encode(text) == tok.encode(text)
    back.save(second)
    for name in ("vocab.json", "merges.txt", "fastbpe.json", "tokenizer.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@many
@given(texts=CORPUS, s=SETTINGS, probe=TEXT)
def test_reference_parity_on_random_corpora(texts, s, probe):
    both = train_both(texts, s)
    if both is None:
        return
    tok, ref = both
    assert tok.merges == ref.merges
    assert tok.get_vocab() == ref.get_vocab()
    for text in [*texts, probe, "".join(texts)]:
        assert tok.encode(text) == ref.encode(text)
        assert tok.encode(text, special_tokens=False) == ref.encode(text, special_tokens=False)
        ids = tok.encode(text)
        assert tok.decode(ids) == ref.decode(ids)


@pytest.mark.parametrize("text", REPETITIVE, ids=lambda t: repr(t[:8]) + f"x{len(t)}")
def test_catastrophically_repetitive_text(text):
    cls = rust_tokenizer_class()
    tok = cls.train(
        [text, text[: len(text) // 3]],
        400,
        min_frequency=1,
        byte_fallback=True,
        show_progress=False,
    )
    ref = ReferenceTokenizer.train(
        [text, text[: len(text) // 3]], 400, min_frequency=1, byte_fallback=True
    )
    assert tok.merges == ref.merges
    ids = tok.encode(text)
    assert ids == ref.encode(text)
    assert tok.decode(ids) == nfc_text(text)
