"""Parity: the Rust `fastbpe.Tokenizer` and the pure-Python reference learn the same merges
and vocabulary and give the same ids, on real text and on random Unicode; and training is
deterministic (thread count, repeated runs, hash seeds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ASSIGNED_CHARS, SLOW_EXAMPLES
from corpus_text import english_text, parity_corpus, turkish_text
from fastbpe.reference import (
    BYTE_TOKENS,
    DEFAULT_SPECIAL_TOKENS,
    ReferenceTokenizer,
    count_words,
    new_alphabet,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# Text that the corpus does not cover: unseen scripts, emoji, controls, specials.
PROBES = [
    "Ünlü şarkıcı İzmir'de 3 konser verdi; bilet fiyatı 250₺.",
    "def f(x):\n\treturn x ** 2  # square\r\n",
    "東京タワー 🗼 and 👨‍👩‍👧 with [MASK] and [CLS]x[SEP]",
    "Ωμέγα, ψ, Привет мир, שלום, مرحبا, नमस्ते",
    "   leading and trailing   ",
    "",
]


def assert_same(ref: ReferenceTokenizer, tok, texts: list[str]) -> None:
    """Same merges, vocabulary and ids; the first difference is reported, not a wall of data."""
    ref_merges, rust_merges = ref.merges, tok.merges
    for rank, (a, b) in enumerate(zip(ref_merges, rust_merges)):
        assert a == b, f"merge {rank} differs: reference {a!r}, rust {b!r}"
    assert len(rust_merges) == len(ref_merges), "different number of merges"
    assert tok.vocab_size == ref.vocab_size
    assert tok.get_vocab() == ref.get_vocab()
    rust_ids = tok.encode_batch(texts)
    for i, text in enumerate(texts):
        want = ref.encode(text)
        assert list(rust_ids[i]) == want, f"ids differ for text {i}: {text[:80]!r}"
        assert tok.encode(text, special_tokens=False) == ref.encode(text, special_tokens=False)


# ---- real text: at least 200 KB of English and Turkish ---------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    lines = parity_corpus()
    assert sum(len(s.encode()) for s in lines) >= 200_000
    return lines


@pytest.fixture(scope="module")
def ref_default(corpus) -> ReferenceTokenizer:
    return ReferenceTokenizer.train(corpus, 3000)


def test_parity_real_text(rust, corpus, ref_default):
    tok = rust.train(corpus, 3000)
    assert tok.vocab_size == 3000
    assert_same(ref_default, tok, corpus + PROBES)


def test_parity_real_text_byte_fallback_limit_alphabet(rust, corpus):
    kwargs = dict(min_frequency=3, byte_fallback=True, limit_alphabet=70)
    ref = ReferenceTokenizer.train(corpus, 1500, **kwargs)
    assert_same(ref, rust.train(corpus, 1500, **kwargs), corpus[::7] + PROBES)


def test_parity_real_text_extension(rust, corpus):
    english = english_text(100_000).splitlines(keepends=True)
    turkish = turkish_text(40_000).splitlines(keepends=True)
    ref_base = ReferenceTokenizer.train(english, 1200)
    rust_base = rust.train(english, 1200)
    assert_same(ref_base, rust_base, PROBES)
    ref = ReferenceTokenizer.train(turkish, 2000, initial=ref_base)
    tok = rust.train(turkish, 2000, initial=rust_base)
    assert_same(ref, tok, turkish + english[::5] + PROBES)
    assert tok.merges[: len(rust_base.merges)] == rust_base.merges


def test_parity_real_text_files(rust, corpus, ref_default, tmp_path):
    # Training from files gives the same tokenizer as training from the same texts.
    half = len(corpus) // 2
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    paths[0].write_text("".join(corpus[:half]), encoding="utf-8")
    paths[1].write_text("".join(corpus[half:]), encoding="utf-8")
    assert_same(ref_default, rust.train(paths, 3000), PROBES)
    assert_same(ref_default, ReferenceTokenizer.train(paths, 3000), PROBES)


# ---- random Unicode corpora -------------------------------------------------------------


@st.composite
def corpora(draw) -> list[str]:
    """Texts over a few random assigned characters plus spaces, so that pairs repeat."""
    chars = draw(st.lists(ASSIGNED_CHARS, min_size=1, max_size=8, unique=True))
    pool = st.sampled_from(chars + [" ", " ", "a", "b", "\n"])
    texts = draw(st.lists(st.text(pool, max_size=40), min_size=1, max_size=12))
    if draw(st.booleans()):  # sometimes add fully random text as well
        texts.append(draw(st.text(ASSIGNED_CHARS, max_size=40)))
    return texts


def base_size(texts, byte_fallback, limit_alphabet, specials=DEFAULT_SPECIAL_TOKENS) -> int:
    """Specials + byte tokens + alphabet: the smallest vocab_size training accepts."""
    fixed = list(specials) + (BYTE_TOKENS if byte_fallback else [])
    return len(fixed) + len(new_alphabet(count_words(texts), set(fixed), limit_alphabet))


def check_random_parity(rust, texts, extra, min_frequency, byte_fallback, limit, probe):
    if not count_words(texts):  # an empty corpus must fail on both sides
        with pytest.raises(ValueError):
            ReferenceTokenizer.train(texts, 1000)
        with pytest.raises(ValueError):
            rust.train(texts, 1000)
        return
    kwargs = dict(min_frequency=min_frequency, byte_fallback=byte_fallback, limit_alphabet=limit)
    vocab_size = base_size(texts, byte_fallback, limit) + extra
    ref = ReferenceTokenizer.train(texts, vocab_size, **kwargs)
    assert_same(ref, rust.train(texts, vocab_size, **kwargs), texts + [probe, "".join(texts)])


random_parity_args = dict(
    texts=corpora(),
    extra=st.integers(0, 60),
    min_frequency=st.integers(1, 3),
    byte_fallback=st.booleans(),
    limit=st.none() | st.integers(0, 12),
    probe=st.text(ASSIGNED_CHARS, max_size=60),
)


@given(**random_parity_args)
def test_parity_random_unicode(rust, texts, extra, min_frequency, byte_fallback, limit, probe):
    check_random_parity(rust, texts, extra, min_frequency, byte_fallback, limit, probe)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES)
@given(**random_parity_args)
def test_parity_random_unicode_many(rust, texts, extra, min_frequency, byte_fallback, limit, probe):
    check_random_parity(rust, texts, extra, min_frequency, byte_fallback, limit, probe)


@st.composite
def corpora_with_specials(draw) -> tuple[list[str], list[str]]:
    """A corpus and special tokens that occur in it: single characters of the corpus (then
    the alphabet must not add them twice) and short strings cut out of the texts."""
    texts = draw(corpora())
    text = "".join(texts) or "x"
    pieces = st.integers(0, len(text) - 1).flatmap(
        lambda i: st.integers(1, 4).map(lambda n: text[i : i + n])
    )
    extra = draw(st.lists(pieces, max_size=4, unique=True))
    specials = draw(st.permutations(["[UNK]"] + [e for e in extra if e != "[UNK]"]))
    return texts, specials


@given(
    data=corpora_with_specials(),
    extra=st.integers(0, 40),
    byte_fallback=st.booleans(),
    probe=st.text(ASSIGNED_CHARS, max_size=30),
)
def test_parity_random_special_tokens(rust, data, extra, byte_fallback, probe):
    texts, specials = data
    if not count_words(texts):
        return
    kwargs = dict(min_frequency=1, byte_fallback=byte_fallback, special_tokens=specials)
    vocab_size = base_size(texts, byte_fallback, None, specials) + extra
    ref = ReferenceTokenizer.train(texts, vocab_size, **kwargs)
    tok = rust.train(texts, vocab_size, **kwargs)
    assert_same(ref, tok, texts + [probe, "".join(texts), "".join(specials)])
    assert tok.special_tokens == specials


@st.composite
def long_words(draw) -> list[str]:
    """Long words over two to four letters: the Rust encoder switches from a scan to a heap
    above 48 symbols, so these check that path against the reference."""
    letters = draw(st.lists(st.sampled_from("abcşİ"), min_size=2, max_size=4, unique=True))
    word = st.text(st.sampled_from(letters), min_size=40, max_size=300)
    return draw(st.lists(word, min_size=1, max_size=6))


@given(texts=long_words(), probes=long_words(), extra=st.integers(0, 120))
def test_parity_long_words(rust, texts, probes, extra):
    vocab_size = base_size(texts, False, None) + extra
    ref = ReferenceTokenizer.train(texts, vocab_size, min_frequency=1)
    tok = rust.train(texts, vocab_size, min_frequency=1)
    assert_same(ref, tok, texts + probes + [" ".join(probes)])


def check_extension_parity(rust, first, second, extra1, extra2, byte_fallback, limit):
    if not count_words(first) or not count_words(second):
        return
    size1 = base_size(first, byte_fallback, None) + extra1
    ref_base = ReferenceTokenizer.train(first, size1, min_frequency=1, byte_fallback=byte_fallback)
    rust_base = rust.train(first, size1, min_frequency=1, byte_fallback=byte_fallback)
    assert_same(ref_base, rust_base, first)
    fixed = set(ref_base.get_vocab())
    size2 = ref_base.vocab_size + len(new_alphabet(count_words(second), fixed, limit)) + extra2
    ref = ReferenceTokenizer.train(
        second, size2, min_frequency=1, initial=ref_base, limit_alphabet=limit
    )
    tok = rust.train(second, size2, min_frequency=1, initial=rust_base, limit_alphabet=limit)
    assert_same(ref, tok, first + second)
    # extension keeps every old id and all old merges, as a prefix
    old = rust_base.get_vocab()
    assert {t: tok.get_vocab()[t] for t in old} == old
    assert tok.merges[: len(rust_base.merges)] == rust_base.merges


extension_args = dict(
    first=corpora(),
    second=corpora(),
    extra1=st.integers(0, 20),
    extra2=st.integers(0, 30),
    byte_fallback=st.booleans(),
    limit=st.none() | st.integers(0, 5),
)


@given(**extension_args)
def test_parity_random_extension(rust, first, second, extra1, extra2, byte_fallback, limit):
    check_extension_parity(rust, first, second, extra1, extra2, byte_fallback, limit)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES)
@given(**extension_args)
def test_parity_random_extension_many(rust, first, second, extra1, extra2, byte_fallback, limit):
    check_extension_parity(rust, first, second, extra1, extra2, byte_fallback, limit)


@pytest.mark.slow
def test_parity_large_real_text(rust):
    lines = (english_text(2_000_000) + turkish_text(300_000)).splitlines(keepends=True)
    ref = ReferenceTokenizer.train(lines, 8000)
    assert_same(ref, rust.train(lines, 8000), lines[::3] + PROBES)


# ---- determinism -------------------------------------------------------------------------

TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    from corpus_text import parity_corpus
    if sys.argv[1] == "rust":
        from fastbpe import Tokenizer
        tok = Tokenizer.train(parity_corpus(), 3000, byte_fallback=True, show_progress=False)
    else:
        from fastbpe.reference import ReferenceTokenizer
        tok = ReferenceTokenizer.train(parity_corpus(), 3000, byte_fallback=True)
    tok.save(sys.argv[2])
""")


def train_in_subprocess(impl: str, out: Path, **env) -> dict[str, bytes]:
    tests_dir = str(Path(__file__).parent)
    subprocess.run(
        [sys.executable, "-c", TRAIN_SCRIPT, impl, str(out), tests_dir],
        env={**os.environ, **env},
        check=True,
        timeout=300,
    )
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_rust_training_is_deterministic_across_threads(rust, tmp_path):
    one = train_in_subprocess("rust", tmp_path / "t1", RAYON_NUM_THREADS="1")
    two = train_in_subprocess("rust", tmp_path / "t2", RAYON_NUM_THREADS="2")
    again = train_in_subprocess("rust", tmp_path / "t2b", RAYON_NUM_THREADS="2")
    assert {"vocab.json", "merges.txt", "fastbpe.json"} <= set(one)
    assert one == two == again


def test_reference_training_is_deterministic_across_hash_seeds(tmp_path):
    a = train_in_subprocess("reference", tmp_path / "a", PYTHONHASHSEED="1")
    b = train_in_subprocess("reference", tmp_path / "b", PYTHONHASHSEED="2")
    assert a == b


def test_repeated_training_in_process_is_identical(impl, corpus):
    texts = corpus[::4]
    first, second = impl.train(texts, 800), impl.train(texts, 800)
    assert first.merges == second.merges and first.get_vocab() == second.get_vocab()


# ---- character classes: every assigned code point ---------------------------------------------


def code_point_lines(step: int) -> list[str]:
    """For each assigned character c, contexts that reveal its pre-tokenizer class: glued
    to letters, to digits, to punctuation, and after a space."""
    import unicodedata

    chars = [
        chr(c)
        for c in range(0, 0x110000, step)
        if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")
    ]
    return [f"x{c}x 1{c}1 !{c}! a {c}\n" for c in chars]


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(13, id="sample"),
        pytest.param(1, id="all", marks=pytest.mark.slow),
    ],
)
def test_parity_code_points(rust, step):
    # With no frequency floor and an unbounded vocabulary, every word becomes one token, so
    # equal vocabularies mean equal words for every character.
    lines = code_point_lines(step)
    ref = ReferenceTokenizer.train(lines, 10**7, min_frequency=1)
    tok = rust.train(lines, 10**7, min_frequency=1)
    assert_same(ref, tok, lines[::50])


def test_parity_reused_id_from_files(impl, tmp_path):
    # Hand-written files where two merges spell the same token ("ab"+"c" and "a"+"bc"), so
    # the literal rule (one occurrence at a time, lowest rank first) differs from merging all
    # occurrences of a pair at once: a b c a b c -> a bc a bc -> abc a bc -> abca bc.
    tokens = DEFAULT_SPECIAL_TOKENS + ["a", "b", "c", "bc", "ab", "abc", "abca"]
    (tmp_path / "vocab.json").write_text(
        json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8"
    )
    (tmp_path / "merges.txt").write_text(
        "#version: 0.2\nb c\na b\nab c\nabc a\na bc\n", encoding="utf-8"
    )
    ReferenceTokenizer.train(["x"], 6, min_frequency=1).save(tmp_path / "cfg")
    (tmp_path / "fastbpe.json").write_bytes((tmp_path / "cfg" / "fastbpe.json").read_bytes())
    tok = impl.load(tmp_path)
    assert [tok.id_to_token(i) for i in tok.encode("abcabc")] == ["abca", "bc"]
    ref = ReferenceTokenizer.load(tmp_path)
    for text in ["abcabc", "abc" * 40, "ab" * 30 + "c" * 30, "abca " * 20]:
        assert tok.encode(text) == ref.encode(text), text


@pytest.fixture(scope="module")
def decode_pair():
    """A byte-fallback tokenizer from each side, trained on the same small text."""
    texts = ["ab ab abc  ▁x ş İ 1 2", "abc abc"]
    ref = ReferenceTokenizer.train(texts, 300, min_frequency=1, byte_fallback=True)
    from conftest import rust_tokenizer_class

    tok = rust_tokenizer_class().train(
        texts, 300, min_frequency=1, byte_fallback=True, show_progress=False
    )
    return ref, tok


@given(
    ids=st.lists(
        st.integers(0, 10**6) | st.sampled_from([5 + 0xE2, 5 + 0x96, 5 + 0x81]), max_size=30
    )
)
def test_parity_decode_any_ids(decode_pair, ids):
    # Any id sequence, including byte tokens that spell `▁` (E2 96 81) or cut characters.
    ref, tok = decode_pair
    ids = [i % ref.vocab_size for i in ids]
    assert tok.decode(ids) == ref.decode(ids)
    assert tok.decode(ids, errors="ignore") == ref.decode(ids, errors="ignore")
