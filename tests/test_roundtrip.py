"""Round trip: decode(encode(s)) == NFC(s) with `▁` as a space (byte fallback: any s);
without byte fallback, each unknown character is one [UNK] (id 1)."""

from __future__ import annotations

import unicodedata

import pytest
from conftest import ASSIGNED_CHARS, SLOW_EXAMPLES, Impl
from corpus_text import TURKISH_SAMPLE
from fastbpe.reference import SPACE_MARKER, normalize
from hypothesis import example, given, settings
from hypothesis import strategies as st

TRAIN_TEXT = [TURKISH_SAMPLE, "The quick brown fox jumps over the lazy dog. 0123456789 (x) [y]\n"]

# Any text a user may pass: assigned characters (controls, emoji, all scripts), with extra
# weight on spaces, markers, newlines and combining marks, which are the tricky ones.
TRICKY = [
    " ",
    " ",
    "\u2581",
    "\n",
    "\t",
    "\r",
    "\u0301",
    "İ",
    "ı",
    "ş",
    "ğ",
    "👍",
    "\U0001f3fd",
    "\u200d",
    "\x00",
]
TEXTS = st.text(st.one_of(ASSIGNED_CHARS, st.sampled_from(TRICKY)), max_size=80)

EXAMPLES = [
    "",
    " ",
    "İstanbul'da ışıl ışıl bir gün; ŞĞÜÇÖ şğüçö",
    "emoji 👨‍👩‍👧‍👦 🇹🇷 👍🏽!",
    "controls \x00\x01\x1b[0m\x7f\x85 end",
    "tabs\tand\nnewlines\r\n  \u00a0\u3000",
    "e\u0301 and \u212b (Angstrom) become NFC",
    "a literal \u2581 marker",
    "漢字とかな、한국어",
    "[MASK] [UNK]x[CLS]",
]


@pytest.fixture(scope="module", params=["reference", "rust"])
def trained(request):
    """(tokenizer with byte fallback, tokenizer without), trained once per implementation."""
    impl = Impl(request.param)
    return (
        impl.train(TRAIN_TEXT, 600, byte_fallback=True),
        impl.train(TRAIN_TEXT, 400, byte_fallback=False),
    )


def expected(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace(SPACE_MARKER, " ")


def expected_with_unk(tok, text: str) -> str:
    """What decode(encode(text)) gives without byte fallback: unknown characters -> [UNK]."""
    vocab = tok.get_vocab()
    return "".join(ch if ch in vocab else "[UNK]" for ch in normalize(text)).replace(
        SPACE_MARKER, " "
    )


def check_roundtrip(trained, text: str) -> None:
    with_bytes, without = trained
    assert with_bytes.decode(with_bytes.encode(text)) == expected(text)
    assert with_bytes.decode(with_bytes.encode(text, special_tokens=False)) == expected(text)
    ids = without.encode(text, special_tokens=False)
    assert without.decode(ids) == expected_with_unk(without, text)
    vocab = without.get_vocab()
    assert ids.count(1) == sum(ch not in vocab for ch in normalize(text))


@pytest.mark.parametrize("text", EXAMPLES)
def test_roundtrip_examples(trained, text):
    check_roundtrip(trained, text)


@given(text=TEXTS)
def test_roundtrip_property(trained, text):
    check_roundtrip(trained, text)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES)
@given(text=TEXTS)
@example(text="\U0010fffd\U000e0001")
def test_roundtrip_property_many(trained, text):
    check_roundtrip(trained, text)


def test_unknown_character_is_unk_id_1(trained):
    _, without = trained
    assert without.encode("\u0416") == [1]  # Cyrillic Zhe is not in the training text
    assert without.decode([1]) == "[UNK]"


def test_byte_fallback_tokens(trained):
    with_bytes, _ = trained
    ids = with_bytes.encode("\u0416")  # U+0416 is D0 96 in UTF-8
    assert [with_bytes.id_to_token(i) for i in ids] == ["<0xD0>", "<0x96>"]
    assert with_bytes.decode(ids[:1]) == "\ufffd"  # half a character: replaced
    assert with_bytes.decode(ids) == "\u0416"


def test_space_marker_missing_from_vocab_still_roundtrips(impl):
    # The corpus has no space, so `▁` is not in the vocabulary: a space falls back to bytes.
    tok = impl.train(["abcabc"], 300, byte_fallback=True, min_frequency=1)
    assert "\u2581" not in tok.get_vocab()
    assert tok.decode(tok.encode("ab ab\u2581")) == "ab ab "
