"""The optional normalisation (docs/tokenizer.md section 1): `lowercase` (Unicode's rule or
"tr"), `strip_accents` and `nfkc`.

Known answers for each option; the Rust core against the reference (normalised text, merges,
vocabulary, ids) on real and random text; save/load and the tokenizer.json export keep every
option; the round-trip contract decode(encode(s)) == normalize(s) with byte fallback; special
tokens survive lowercasing; extension keeps the initial tokenizer's options; the CLI flags.
"""

from __future__ import annotations

import functools
import json
import pickle
import sys
import unicodedata

import pytest
from conftest import ASSIGNED_CHARS, Impl
from corpus_text import english_text, turkish_text
from fastbpe import reference
from fastbpe.hf_export import build_tokenizer_json, to_hf_tokenizer_json
from hypothesis import given
from hypothesis import strategies as st

# (lowercase, strip_accents, nfkc): each option alone, and all together
OPTIONS = [
    ("tr", False, False),
    ("default", False, False),
    (None, True, False),
    (None, False, True),
    ("tr", True, True),
]
OPTION_IDS = ["tr", "lowercase", "strip_accents", "nfkc", "all"]

TURKISH = "İSTANBUL ılık IŞIK"
SAMPLES = [
    TURKISH,
    "Iğdır'da İĞNE ile IŞIK; ODYSSEUS ΟΔΥΣΣΕΎΣ, ΣΟΦΟΣ Σ.",
    "Café naïve Ångström Zoë e\u0301 n\u0303 Ḱ \u1e9e ǅ ﬀ ﬁ ﬃ ½ ²",
    "full-width １２３ＡＢＣ，nbsp\u00a0x ideographic\u3000y ① ㍿ ™ ℌ",
    "देवनागरी हिन्दी, ไทย, العربية, עִבְרִית, 한국어 I\u0307 i\u0307",
    "The [MASK] is RED. [CLS]İ[SEP] [mask] [MASK]x",
]


def kw(options) -> dict:
    lowercase, strip_accents, nfkc = options
    return {"lowercase": lowercase, "strip_accents": strip_accents, "nfkc": nfkc}


def impls():
    return [Impl("reference"), Impl("rust")]


# ---- known answers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reference", "rust"])
def test_turkish_and_default_lowercase(name):
    impl = Impl(name)
    text = TURKISH * 3
    tr = impl.train([text], 200, min_frequency=1, lowercase="tr")
    assert tr.lowercase == "tr"
    assert tr.normalize(TURKISH) == "istanbul ılık ışık"
    assert tr.decode(tr.encode(TURKISH)) == "istanbul ılık ışık"
    default = impl.train([text], 200, min_frequency=1, lowercase=True)
    assert default.lowercase == "default"
    assert default.normalize(TURKISH) == "i\u0307stanbul ılık işik"
    assert default.decode(default.encode(TURKISH)) == "i\u0307stanbul ılık işik"
    # "I" + combining dot above is İ after NFC, so the Turkish rule makes it "i"
    assert tr.normalize("I\u0307I") == "iı"
    # one character at a time, as HuggingFace's Lowercase: no final-sigma rule
    assert default.normalize("ΟΔΟΣ") == "οδοσ"
    plain = impl.train([text], 200, min_frequency=1)
    assert plain.lowercase is None and not plain.strip_accents and not plain.nfkc
    assert plain.normalize(TURKISH + " e\u0301") == TURKISH + " é"


@pytest.mark.parametrize("name", ["reference", "rust"])
def test_strip_accents_and_nfkc(name):
    impl = Impl(name)
    strip = impl.train(["Café naïve"], 100, min_frequency=1, strip_accents=True)
    assert strip.normalize("Café naïve e\u0301 Ångström Şişli") == "Cafe naive e Angstrom Sisli"
    assert strip.normalize("हिन्दी") == "हनद"  # Mn and Mc marks go, as in HF StripAccents
    both = impl.train(["x"], 100, min_frequency=1, strip_accents=True, lowercase=True)
    assert both.normalize(TURKISH) == "istanbul ılık isik"  # lowercase first: İ -> i̇ -> i
    tr = impl.train(["x"], 100, min_frequency=1, strip_accents=True, lowercase="tr")
    assert tr.normalize(TURKISH) == "istanbul ılık ısık"
    nfkc = impl.train(["ﬁ １２"], 100, min_frequency=1, nfkc=True)
    assert nfkc.normalize("ﬁ １２３ ＡＢＣ ① x\u00a0y\u3000z") == "fi 123 ABC 1 x y z"
    assert nfkc.decode(nfkc.encode("ﬁ １２")) == "fi 12"
    plain = impl.train(["ﬁ"], 100, min_frequency=1)
    assert plain.normalize("ﬁ １") == "ﬁ １"


def test_reference_normalize_function():
    n = reference.normalize
    assert n("A B") == "A▁B"
    assert n("İ I", lowercase="tr") == "i▁ı"
    assert n("x\u00a0y", nfkc=True) == "x▁y"  # the marker comes after NFKC
    assert n("\u2581A", lowercase="default") == "\u2581a"
    with pytest.raises(ValueError, match="lowercase"):
        reference.check_lowercase("de")


@pytest.mark.parametrize("name", ["reference", "rust"])
def test_special_tokens_survive_lowercase(name):
    tok = Impl(name).train(
        ["THE MASK IS RED"] * 3, 100, min_frequency=1, lowercase=True, strip_accents=True
    )
    ids = tok.encode("The [MASK] IS red")
    assert 4 in ids and tok.decode(ids) == "the [MASK] is red"
    assert tok.normalize("The [MASK]") == "the [MASK]"
    assert tok.normalize("The [MASK]", special_tokens=False) == "the [mask]"
    assert 4 not in tok.encode("[MASK]", special_tokens=False)


@pytest.mark.parametrize("name", ["reference", "rust"])
def test_bad_values(name):
    impl = Impl(name)
    with pytest.raises(ValueError, match="lowercase"):
        impl.train(["x"], 100, lowercase="de")
    with pytest.raises(TypeError, match="strip_accents"):
        impl.train(["x"], 100, strip_accents="yes")


# ---- Rust against the reference ------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    text = turkish_text(30_000) + english_text(30_000) + "\n".join(SAMPLES * 5)
    return text.splitlines(keepends=True)


@pytest.fixture(scope="module", params=OPTIONS, ids=OPTION_IDS)
def trained(request, corpus):
    """(options, reference tokenizer, rust tokenizer) with byte fallback."""
    options = kw(request.param)
    ref = Impl("reference").train(corpus, 900, byte_fallback=True, **options)
    rust = Impl("rust").train(corpus, 900, byte_fallback=True, **options)
    return options, ref, rust


def test_parity_real_text(trained):
    options, ref, rust = trained
    assert (rust.lowercase, rust.strip_accents, rust.nfkc) == tuple(options.values())
    assert rust.merges == ref.merges
    assert rust.get_vocab() == ref.get_vocab()
    probes = SAMPLES + [turkish_text(3000, seed=7), english_text(3000)[-3000:]]
    for text in probes:
        assert rust.normalize(text) == ref.normalize(text), text
        assert rust.encode(text) == ref.encode(text), text
        assert rust.decode(rust.encode(text)) == rust.normalize(text)
    assert rust.encode_batch(probes) == [ref.encode(t) for t in probes]


pieces = st.sampled_from(
    [
        " ",
        "  ",
        "\u2581",
        "\n",
        "\t",
        "\u00a0",
        "\u3000",
        "İ",
        "I",
        "ı",
        "i\u0307",
        "I\u0307",
        "e\u0301",
        "Σ",
        "ΣΑ",
        "ß",
        "ẞ",
        "ǅ",
        "ﬁ",
        "１",
        "①",
        "Å",
        "\u212b",
        "[MASK]",
        "[mask]",
        "[MA",
        "SK]",
        "Ş",
        "हि",
        "ों",
        "\u0488",
        "\u20dd",
    ]
)
texts = st.lists(st.one_of(ASSIGNED_CHARS, pieces), max_size=40).map("".join)


@given(text=texts)
def test_parity_random_text(trained, text):
    _, ref, rust = trained
    assert rust.normalize(text) == ref.normalize(text)
    assert rust.encode(text) == ref.encode(text)
    assert rust.encode(text, special_tokens=False) == ref.encode(text, special_tokens=False)


@given(text=texts)
def test_round_trip_contract(trained, text):
    # decode(encode(s)) == normalize(s) with the marker read as a space (byte fallback)
    _, ref, rust = trained
    for tok in (ref, rust):
        assert tok.decode(tok.encode(text)) == tok.normalize(text)
        want = reference.normalize(text, **trained[0]).replace("\u2581", " ")
        assert tok.decode(tok.encode(text, special_tokens=False)) == want


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_parity_every_code_point(options):
    # every assigned character alone, after "e" (marks) and after "I" (marks: the Turkish rule)
    chars = assigned_chars()
    marks = [c for c in chars if unicodedata.category(c)[0] == "M"]
    text = " ".join(chars) + "".join("e" + c for c in marks) + "".join("I" + c for c in marks)
    ref = Impl("reference").train(["x"], 100, min_frequency=1, **kw(options))
    rust = Impl("rust").train(["x"], 100, min_frequency=1, **kw(options))
    got = rust.normalize(text, special_tokens=False)
    want = ref.normalize(text, special_tokens=False)
    if got != want:  # name the first difference, not a 300,000-character diff
        i = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        pytest.fail(f"at {i}: rust {got[i - 5 : i + 5]!r} vs reference {want[i - 5 : i + 5]!r}")


# ---- files ---------------------------------------------------------------------------


def test_save_load_round_trip(trained, tmp_path):
    options, ref, rust = trained
    ref.save(tmp_path / "ref")
    rust.save(tmp_path / "rust")
    for name in ("vocab.json", "merges.txt", "fastbpe.json"):
        assert (tmp_path / "ref" / name).read_bytes() == (tmp_path / "rust" / name).read_bytes(), (
            name
        )
    config = json.loads((tmp_path / "rust" / "fastbpe.json").read_text(encoding="utf-8"))
    assert config["normalization"] == ("nfkc" if options["nfkc"] else "nfc")
    assert config.get("lowercase") == options["lowercase"]
    assert config.get("strip_accents", False) == options["strip_accents"]
    text = "\n".join(SAMPLES)
    for impl in impls():
        for source in ("ref", "rust"):
            back = impl.load(tmp_path / source)
            got = (back.lowercase, back.strip_accents, back.nfkc)
            assert got == tuple(options.values()), (impl, source)
            assert back.encode(text) == rust.encode(text)
    unpickled = pickle.loads(pickle.dumps(rust))
    assert (unpickled.lowercase, unpickled.strip_accents, unpickled.nfkc) == tuple(options.values())


@pytest.mark.parametrize("name", ["reference", "rust"])
def test_old_config_means_off(name, tmp_path):
    impl = Impl(name)
    impl.train(["Ab Ab"], 100, min_frequency=1).save(tmp_path)
    config = json.loads((tmp_path / "fastbpe.json").read_text(encoding="utf-8"))
    assert "lowercase" not in config and "strip_accents" not in config
    assert config["normalization"] == "nfc"
    back = impl.load(tmp_path)
    assert (back.lowercase, back.strip_accents, back.nfkc) == (None, False, False)
    config["lowercase"] = "de"
    (tmp_path / "fastbpe.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match="fastbpe.json"):
        impl.load(tmp_path)


# ---- extension -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reference", "rust"])
def test_extension_inherits(name):
    impl = Impl(name)
    base = impl.train([TURKISH * 3], 100, min_frequency=1, lowercase="tr", nfkc=True)
    more = impl.train(["IŞIK ＩŞIK"], 120, min_frequency=1, initial=base)
    assert (more.lowercase, more.strip_accents, more.nfkc) == ("tr", False, True)
    assert "I" not in more.get_vocab() and "Ｉ" not in more.get_vocab()
    same = impl.train(["IŞIK"], 120, min_frequency=1, initial=base, lowercase="tr")
    assert same.lowercase == "tr"
    with pytest.raises(ValueError, match="lowercase"):
        impl.train(["x"], 120, initial=base, lowercase=True)
    with pytest.raises(ValueError, match="strip_accents"):
        impl.train(["x"], 120, initial=base, strip_accents=True)
    plain = impl.train(["x y"], 100, min_frequency=1)
    with pytest.raises(ValueError, match="nfkc"):
        impl.train(["x"], 120, initial=plain, nfkc=True)


# ---- the HuggingFace export ----------------------------------------------------------


@pytest.fixture(scope="module")
def hf_pair(trained):
    tokenizers = pytest.importorskip("tokenizers")
    options, ref, rust = trained
    export = to_hf_tokenizer_json(rust)
    assert to_hf_tokenizer_json(ref) == export
    return options, rust, tokenizers.Tokenizer.from_str(export)


@functools.cache
def lagging(lowercase, strip_accents, nfkc) -> frozenset[str]:
    """Characters whose normalisation `tokenizers`' older Unicode tables (about Unicode 10)
    do differently: NFKC mappings and marks added since (docs/tokenizer.md section 1)."""
    tokenizers = pytest.importorskip("tokenizers")
    N = tokenizers.normalizers
    steps = ([N.NFKC()] if nfkc else []) + ([N.NFD(), N.StripAccents()] if strip_accents else [])
    if not steps:
        return frozenset()
    hf = N.Sequence(steps)
    form = "NFKC" if nfkc else "NFD"
    out = set()
    for c in assigned_chars():
        want = unicodedata.normalize(form, c)
        if strip_accents:
            want = "".join(
                x for x in unicodedata.normalize("NFD", want) if unicodedata.category(x)[0] != "M"
            )
        if hf.normalize_str(c) != want:
            out.add(c)
    return frozenset(out)


@functools.cache
def assigned_chars() -> list[str]:
    return [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) not in ("Cn", "Cs")
    ]


def test_hf_export_real_text(hf_pair):
    _, rust, hf = hf_pair
    for text in SAMPLES + [turkish_text(3000, seed=3), english_text(2000)]:
        assert hf.encode(text, add_special_tokens=False).ids == rust.encode(text), text
    ids = rust.encode(TURKISH + " ﬁ Café")
    assert hf.decode(ids, skip_special_tokens=False) == rust.decode(ids)


@given(text=texts)
def test_hf_export_random_text(hf_pair, text):
    options, rust, hf = hf_pair
    skip = lagging(*options.values())
    text = "".join(c for c in text if c not in skip)
    assert hf.encode(text, add_special_tokens=False).ids == rust.encode(text)


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_hf_normalizer_every_code_point(options):
    tokenizers = pytest.importorskip("tokenizers")
    options = kw(options)
    data = build_tokenizer_json(["[UNK]"], [], ["[UNK]"], **options)
    hf = tokenizers.Tokenizer.from_str(json.dumps(data))
    skip = lagging(*options.values())
    chars = [c for c in assigned_chars() if c not in skip]
    text = " ".join(chars) + "".join("e" + c for c in chars if unicodedata.category(c) == "Mn")
    assert hf.normalizer.normalize_str(text) == reference.normalize(text, **options)
    # the skipped characters are only new ones (not, say, every accented letter)
    assert len(skip) < 400 and "é" not in skip and "ﬁ" not in skip


def test_hf_normalizer_json_steps():
    data = build_tokenizer_json(
        ["[UNK]"], [], ["[UNK]"], lowercase="tr", strip_accents=True, nfkc=True
    )
    steps = [s["type"] for s in data["normalizer"]["normalizers"]]
    assert steps == [
        "NFKC",
        "Replace",
        "Replace",
        "Lowercase",
        "NFD",
        "StripAccents",
        "NFKC",
        "Replace",
    ]
    plain = build_tokenizer_json(["[UNK]"], [], ["[UNK]"])["normalizer"]["normalizers"]
    assert [s["type"] for s in plain] == ["NFC", "Replace"]


# ---- the command line ------------------------------------------------------------------


def test_cli_options(tmp_path, capsys):
    from fastbpe import cli

    corpus = tmp_path / "tr.txt"
    corpus.write_text(turkish_text(5000) + "\nﬁ １２ Café\n", encoding="utf-8")
    tok = tmp_path / "tok"
    argv = [str(corpus), "-o", str(tok), "--vocab-size", "300", "-q"]
    assert cli.main(["train", *argv, "--lowercase", "tr", "--strip-accents", "--nfkc"]) == 0
    assert cli.main(["info", "-t", str(tok), "--text", "İSTANBUL ﬁ"]) == 0
    out = capsys.readouterr().out
    assert "normalization:  NFKC, lowercase (tr), strip accents" in out
    assert cli.main(["info", "-t", str(tok), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["normalization"] == {"lowercase": "tr", "strip_accents": True, "nfkc": True}
    assert cli.main(["encode", "-t", str(tok), "--tokens", "İSTANBUL"]) == 0
    assert "istanbul" in capsys.readouterr().out.replace(" ", "")
    # extending keeps the options; a different one is an error naming the option
    more = [str(corpus), "--extend", str(tok), "--vocab-size", "320", "-q"]
    assert cli.main(["train", *more, "-o", str(tmp_path / "tok2")]) == 0
    assert cli.main(["info", "-t", str(tmp_path / "tok2"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["normalization"]["lowercase"] == "tr"
    code = cli.main(["train", *more, "-o", str(tmp_path / "tok3"), "--lowercase=default"])
    err = capsys.readouterr().err
    assert code == 1 and "--lowercase" in err, err
    assert cli.main(["train", *argv, "--lowercase"]) == 0  # bare flag, last: Unicode's rule
    assert cli.main(["info", "-t", str(tok)]) == 0
    assert "normalization:  NFC, lowercase (default)" in capsys.readouterr().out


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_parity_training_from_files(options, tmp_path):
    # files are counted in chunks in Rust (train_files), whole in the reference
    path = tmp_path / "corpus.txt"
    path.write_text(turkish_text(8000, seed=5) + "\n".join(SAMPLES), encoding="utf-8")
    rust = Impl("rust").train(path, 500, byte_fallback=True, **kw(options))
    ref = Impl("reference").train([path], 500, byte_fallback=True, **kw(options))
    assert rust.merges == ref.merges and rust.get_vocab() == ref.get_vocab()
    assert (rust.lowercase, rust.strip_accents, rust.nfkc) == tuple(options)
