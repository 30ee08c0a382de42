"""The HuggingFace export gives the same ids as fastbpe (docs/tokenizer.md, section 7).

`tokenizers.Tokenizer.from_str(to_hf_tokenizer_json(tok))` and
`transformers.PreTrainedTokenizerFast` must encode exactly like `tok.encode` on real text
(English, Turkish, CJK, emoji, whitespace, special tokens in the text) and on random text of
assigned Unicode characters, with and without byte fallback. The pre-tokenizer pattern is
also checked on every assigned code point against the reference's hand-written splitter.

Hermetic: the tokenizers are trained in-process on Python's own documentation.
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata

import fastbpe
import pytest
from fastbpe import reference
from fastbpe.hf_export import build_tokenizer_json, to_hf_tokenizer_json
from fastbpe.reference import ReferenceTokenizer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

tokenizers = pytest.importorskip("tokenizers")

MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200"))
MARKER = "\u2581"

TURKISH = (
    "İstanbul'da ılık bir sabah: Iğdır'dan gelen öğrenciler şarkı söylüyor, "
    "ağaçların gölgesinde çay içiyorlardı. İĞNE, iğne; IŞIK, ışık; Şişli, Ümraniye.\n"
)
CJK = "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다。"
EMOJI = "ok 👍🏽 family 👨‍👩‍👧‍👦 flags 🇹🇷🇯🇵 heart ❤️ done."
MIXED = (
    "a\tb\t\tc\n\nd\r\ne  f   g    h \u00a0i\u3000j\u2028k\x0bl\x85m "
    "x\u200by e\u0301 n\u0303o \u2581\u2581 z   \n  \t "
)
SPECIALS = "The [MASK] is red.[SEP][CLS]x[UNK][PAD]y [MASK][MASK] [MA SK] [mask]"


def english() -> str:
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics))


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    text = english()[:120_000]
    return text.splitlines(keepends=True) + [TURKISH * 20, CJK * 10, EMOJI * 10, MIXED * 5]


def implementations():
    yield "reference"
    if hasattr(fastbpe, "Tokenizer"):
        yield "rust"


@pytest.fixture(
    scope="module",
    params=[(impl, bf) for impl in implementations() for bf in (False, True)],
    ids=lambda p: f"{p[0]}-{'byte_fallback' if p[1] else 'unk'}",
)
def pair(request, corpus):
    """(fastbpe tokenizer, the tokenizers.Tokenizer built from its export)."""
    impl, byte_fallback = request.param
    if impl == "reference":
        tok = ReferenceTokenizer.train(corpus, 1200, byte_fallback=byte_fallback)
    else:
        tok = fastbpe.Tokenizer.train(
            corpus, 1200, byte_fallback=byte_fallback, show_progress=False
        )
    return tok, tokenizers.Tokenizer.from_str(to_hf_tokenizer_json(tok))


def hf_ids(hf, text: str) -> list[int]:
    return hf.encode(text, add_special_tokens=False).ids


# ---- real text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["english", "turkish", "cjk", "emoji", "mixed", "specials", "unseen"]
)
def test_real_text(pair, name):
    tok, hf = pair
    text = {
        "english": english()[100_000:220_000],  # partly outside the training slice
        "turkish": TURKISH * 3 + TURKISH.upper() + TURKISH.lower(),
        "cjk": CJK,
        "emoji": EMOJI,
        "mixed": MIXED,
        "specials": SPECIALS,
        "unseen": "Ωμέγα Ελληνικά, עברית, العربية, देवनागरी, ไทย, ∀x∈ℝ, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \U0010fffd",
    }[name]
    for line in [text] + text.splitlines(keepends=True)[:200]:
        assert hf_ids(hf, line) == tok.encode(line), line


def test_decode_round_trip(pair):
    tok, hf = pair
    text = TURKISH + CJK + EMOJI + "a  b\tc\n"
    ids = tok.encode(text)
    assert hf.decode(ids, skip_special_tokens=False) == tok.decode(ids)


def test_transformers_fast_tokenizer(pair, tmp_path):
    transformers = pytest.importorskip("transformers")
    tok, hf = pair
    path = tmp_path / "tokenizer.json"
    path.write_text(to_hf_tokenizer_json(tok), encoding="utf-8")
    text = TURKISH + SPECIALS + MIXED + EMOJI + english()[:5000]
    want = tok.encode(text)
    for fast in (
        transformers.PreTrainedTokenizerFast(tokenizer_object=hf),
        transformers.PreTrainedTokenizerFast(tokenizer_file=str(path)),
    ):
        assert fast.encode(text, add_special_tokens=False) == want
        assert fast(text, add_special_tokens=False)["input_ids"] == want


# ---- random text -----------------------------------------------------------------------

# Assigned characters only (the doc: unassigned ones may classify differently between
# Unicode versions), mixed with the pieces where the rules interact.
assigned = st.characters(exclude_categories=("Cn", "Cs"))
pieces = st.sampled_from(
    [
        " ",
        "  ",
        MARKER,
        "\n",
        "\t",
        "\u00a0",
        "a",
        "e\u0301",
        "1",
        "!",
        "[MASK]",
        "[UNK]",
        "[CL",
        "S]",
        "İ",
        "ı",
        "ş",
        "ğ",
        "東",
        "👍",
        "\u200d",
        "the",
        " of",
        "▁the",
    ]
)
texts = st.lists(st.one_of(assigned, pieces, assigned), max_size=60).map("".join)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=texts)
def test_random_text(pair, text):
    tok, hf = pair
    assert hf_ids(hf, text) == tok.encode(text)


# ---- the pre-tokenizer and normalizer on every assigned code point ----------------------


def assigned_chars() -> list[str]:
    return [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) not in ("Cn", "Cs")
    ]


@pytest.fixture(scope="module")
def hf_empty():
    """An export with an empty model: only its normalizer and pre-tokenizer are used."""
    data = build_tokenizer_json(["[UNK]"], [], ["[UNK]"])
    return tokenizers.Tokenizer.from_str(json.dumps(data))


def test_pretokenizer_every_code_point(hf_empty):
    # Each character in the contexts that tell its class apart: after a letter, a digit,
    # punctuation, one and two markers, and doubled (a run, or two single words).
    parts = []
    for c in assigned_chars():
        parts.append(f"a{c}\n1{c}\n!{c}\n{MARKER}{c}\n{MARKER}{MARKER}{c}{c}\n")
    text = "".join(parts)
    got = [w for w, _ in hf_empty.pre_tokenizer.pre_tokenize_str(text)]
    want = reference.pretokenize(text)
    if got != want:  # name the first difference, not a 1.5-million-item diff
        i = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        pytest.fail(
            f"word {i}: tokenizers {got[i]!r} vs reference {want[i]!r}; "
            f"context {want[max(0, i - 3) : i + 3]!r}"
        )


def test_normalizer_every_code_point(hf_empty):
    chars = assigned_chars()
    text = " ".join(chars) + "".join("e" + c for c in chars if unicodedata.category(c) == "Mn")
    assert hf_empty.normalizer.normalize_str(text) == reference.normalize(text)


def test_rejects_inconsistent_input():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        build_tokenizer_json(["[UNK]", "a"], [("a", "a")], ["[UNK]"])
    with pytest.raises(ValueError, match="special token"):
        build_tokenizer_json(["[UNK]", "a"], [], ["[UNK]", "[MASK]"])


# ---- Tokenizer.save writes tokenizer.json; load reads the fastbpe files -----------------


@pytest.mark.skipif(not hasattr(fastbpe, "Tokenizer"), reason="Rust core not built")
def test_save_writes_tokenizer_json_that_hf_loads(corpus, tmp_path):
    tok = fastbpe.Tokenizer.train(corpus, 800, byte_fallback=True, show_progress=False)
    tok.save(tmp_path)
    text = TURKISH + SPECIALS + MIXED + EMOJI + "\u4e00\u9fff"
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text)
    assert json.loads((tmp_path / "tokenizer.json").read_text("utf-8")) == json.loads(
        to_hf_tokenizer_json(tok)
    )
    # tokenizer.json is derived output: load reads vocab.json, merges.txt and fastbpe.json,
    # so a directory without it (or with a foreign one) loads the same tokenizer.
    (tmp_path / "tokenizer.json").unlink()
    assert fastbpe.Tokenizer.load(tmp_path).encode(text) == tok.encode(text)
