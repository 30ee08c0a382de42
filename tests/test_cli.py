"""The `fastbpe` command line (python/fastbpe/cli.py, docs/cli.md).

Most tests run `main([...])` in-process and read stdout/stderr with capsys; two run
`python -m fastbpe` for real to prove the entry point. Every error path asserts the exit
code and the one-line `fastbpe: error: ...` message (no traceback).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus_text import TURKISH_SAMPLE, turkish_text
from fastbpe import cli

try:
    from fastbpe import Tokenizer
except ImportError as e:  # pragma: no cover - the native build is missing or stale
    pytest.skip(f"fastbpe.Tokenizer does not import: {e}", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]


def _stdin(monkeypatch, data: str | bytes) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(code: int, err: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err
    if expected_code == 1:
        assert err.startswith("fastbpe: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "tr.txt"
    path.write_text(turkish_text(20000), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tok_dir(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tok"
    assert cli.main(["train", str(corpus), "--vocab-size", "400", "-o", str(out), "-q"]) == 0
    return out


# ---- help and usage -------------------------------------------------------------------


def test_no_arguments_prints_help_and_exits_2(capsys):
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert "usage: fastbpe" in err and "examples:" in err


@pytest.mark.parametrize("command", ["train", "encode", "decode", "info"])
def test_each_command_has_help_with_examples(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"usage: fastbpe {command}" in out and f"fastbpe {command} " in out
    assert "examples:" in out


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("fastbpe ")


# ---- train ----------------------------------------------------------------------------


def test_train_from_file_writes_a_loadable_tokenizer(capsys, corpus, tmp_path):
    code, _, err = run(
        capsys, "train", corpus, "--vocab-size", "300", "--min-frequency", "3", "-o", tmp_path / "t"
    )
    assert code == 0, err
    assert "trained 300 tokens" in err  # the summary line (progress bars also go to stderr)
    assert {"vocab.json", "merges.txt", "fastbpe.json"} <= {
        p.name for p in (tmp_path / "t").iterdir()
    }
    tok = Tokenizer.load(tmp_path / "t")
    assert tok.vocab_size == 300 and tok.special_tokens[:2] == ["[PAD]", "[UNK]"]


def test_train_quiet_prints_nothing(capsys, corpus, tmp_path):
    code, out, err = run(capsys, "train", corpus, "--vocab-size", "200", "-q", "-o", tmp_path)
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("chunk", [7, 1000])  # 7: most lines are longer than a chunk
def test_train_from_stdin_equals_train_from_file(capsys, monkeypatch, corpus, tmp_path, chunk):
    assert run(capsys, "train", corpus, "--vocab-size", "350", "-q", "-o", tmp_path / "f")[0] == 0
    monkeypatch.setattr(cli, "STDIN_CHUNK", chunk)  # many texts, each cut after a newline
    _stdin(monkeypatch, corpus.read_bytes())
    assert run(capsys, "train", "-", "--vocab-size", "350", "-q", "-o", tmp_path / "s")[0] == 0
    for name in ("vocab.json", "merges.txt", "fastbpe.json"):
        assert (tmp_path / "f" / name).read_bytes() == (tmp_path / "s" / name).read_bytes()


def test_train_options_reach_the_tokenizer(capsys, corpus, tmp_path):
    code, _, err = run(
        capsys,
        "train",
        corpus,
        "--vocab-size",
        "600",
        "--byte-fallback",
        "-q",
        "--special-tokens",
        "[UNK],<s>,</s>",
        "--limit-alphabet",
        "20",
        "-o",
        tmp_path,
    )
    assert code == 0, err
    tok = Tokenizer.load(tmp_path)
    assert tok.byte_fallback and tok.special_tokens == ["[UNK]", "<s>", "</s>"]
    assert tok.token_to_id("<0x00>") == 3 and tok.token_to_id("<0x41>") == 3 + 0x41


def test_train_says_when_it_stops_before_vocab_size(capsys, tmp_path):
    src = tmp_path / "tiny.txt"
    src.write_text("abc abd\n", encoding="utf-8")
    code, _, err = run(capsys, "train", src, "--vocab-size", "500", "-o", tmp_path / "t")
    assert code == 0 and "note: fewer than --vocab-size 500 tokens" in err


def test_extend_keeps_old_ids_and_merges(capsys, corpus, tok_dir, tmp_path):
    more = tmp_path / "more.txt"
    more.write_text(
        "Kediler ve köpekler bahçede oynuyor. " * 20 + "\n" + TURKISH_SAMPLE, encoding="utf-8"
    )
    code, _, err = run(
        capsys,
        "train",
        more,
        "--extend",
        tok_dir,
        "--vocab-size",
        "450",
        "-q",
        "-o",
        tmp_path / "ext",
    )
    assert code == 0, err
    old, new = Tokenizer.load(tok_dir), Tokenizer.load(tmp_path / "ext")
    assert new.vocab_size == 450
    assert all(new.get_vocab()[t] == i for t, i in old.get_vocab().items())
    assert new.merges[: len(old.merges)] == old.merges


# ---- encode and decode ----------------------------------------------------------------


def test_encode_decode_round_trip_through_stdin(capsys, monkeypatch, tok_dir):
    texts = ["Merhaba dünya", "İstanbul'da  iki   boşluk", ""]
    code, out, _ = run(capsys, "encode", "-t", tok_dir, *texts)
    assert code == 0
    lines = out.split("\n")
    assert len(lines) == 4 and lines[2] == "" and lines[3] == ""  # one line per input
    assert all(tok.isdigit() for tok in lines[0].split())
    _stdin(monkeypatch, out)
    code, decoded, _ = run(capsys, "decode", "-t", tok_dir)
    assert code == 0 and decoded == "".join(t + "\n" for t in texts)


def test_encode_file_lines_and_decode_arguments(capsys, tok_dir, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes("Kitap okumak\r\ngüzeldir.\n\nSon satır".encode())
    code, out, _ = run(capsys, "encode", "-t", tok_dir, "--file", src)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4 and lines[2] == ""
    code, text, _ = run(capsys, "decode", "-t", tok_dir, *lines[0].split())
    assert (code, text) == (0, "Kitap okumak\n")
    code, text, _ = run(capsys, "decode", "-t", tok_dir, lines[1].replace(" ", ","))
    assert (code, text) == (0, "güzeldir.\n")


def test_encode_json_and_special_tokens(capsys, monkeypatch, tok_dir):
    code, out, _ = run(capsys, "encode", "-t", tok_dir, "--json", "Bu [MASK] kırmızı.")
    record = json.loads(out)
    k = record["ids"].index(4)  # [MASK] written in the text is one id
    assert record["tokens"][k] == "[MASK]"
    assert len(record["ids"]) == len(record["tokens"])
    code, out, _ = run(capsys, "encode", "-t", tok_dir, "--no-special-tokens", "[MASK]")
    assert 4 not in map(int, out.split())
    _stdin(monkeypatch, json.dumps(record) + "\n")
    code, text, _ = run(capsys, "decode", "-t", tok_dir, "--skip-special-tokens")
    assert (code, text) == (0, "Bu  kırmızı.\n")  # the spaces around [MASK] stay


def test_encode_to_npy_and_decode_it(capsys, monkeypatch, tok_dir, tmp_path):
    texts = ["Merhaba dünya", "", "Öğrenciler kütüphanede çalışıyor."]
    _stdin(monkeypatch, "\n".join(texts) + "\n")
    code, out, err = run(capsys, "encode", "-t", tok_dir, "-o", tmp_path / "ids.npy")
    assert code == 0 and out == "" and "ids.offsets.npy" in err
    ids, offsets = np.load(tmp_path / "ids.npy"), np.load(tmp_path / "ids.offsets.npy")
    assert ids.dtype == np.uint32 and offsets.dtype == np.int64
    assert len(offsets) == 4 and offsets[0] == 0 and offsets[-1] == len(ids)
    code, printed, _ = run(capsys, "encode", "-t", tok_dir, *texts)
    rows = [list(map(int, line.split())) for line in printed.split("\n")[:-1]]
    assert [ids[a:b].tolist() for a, b in itertools.pairwise(offsets)] == rows
    code, text, _ = run(capsys, "decode", "-t", tok_dir, "--npy", tmp_path / "ids.npy")
    assert (code, text) == (0, "".join(t + "\n" for t in texts))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.npy", "ids.offsets.npy"]


def test_encode_whole_files(capsys, tok_dir, tmp_path):
    (tmp_path / "a.txt").write_text("bir\niki\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("üç", encoding="utf-8")
    code, out, _ = run(
        capsys,
        "encode",
        "-t",
        tok_dir,
        "--whole-files",
        "--json",
        "--file",
        tmp_path / "a.txt",
        tmp_path / "b.txt",
    )
    assert code == 0 and len(out.splitlines()) == 2
    assert "\n" in json.loads(out.splitlines()[0])["tokens"]
    code, out, _ = run(
        capsys, "encode", "-t", tok_dir, "--whole-files", "--tokens", "--file", tmp_path / "a.txt"
    )
    assert code == 0 and out.count("\n") == 1 and " \\n " in out  # a newline token, escaped


# ---- info -----------------------------------------------------------------------------


def test_info(capsys, tok_dir):
    code, out, _ = run(capsys, "info", "-t", tok_dir, "--text", "Merhaba dünya")
    assert code == 0
    assert "vocab size:     400" in out
    assert "[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4" in out
    assert "byte fallback:  no" in out and "sample text:    Merhaba dünya" in out
    assert "▁d" in out  # tokens are shown with the space marker
    code, out, _ = run(capsys, "info", "-t", tok_dir, "--json")
    data = json.loads(out)
    assert data["vocab_size"] == 400 and data["special_tokens"]["[MASK]"] == 4
    assert data["merges"] > 0 and len(data["sample"]["ids"]) == len(data["sample"]["tokens"])


# ---- errors ---------------------------------------------------------------------------


def test_missing_input_file(capsys, tmp_path):
    code, _, err = run(capsys, "train", tmp_path / "nope.txt", "-o", tmp_path / "t")
    assert_error(code, err, 1, "nope.txt: no such file")
    code, _, err = run(capsys, "encode", "-t", tmp_path, "--file", tmp_path / "nope.txt")
    assert code == 1  # the tokenizer is checked first: also a runtime failure


def test_encode_missing_file_with_a_good_tokenizer(capsys, tok_dir, tmp_path):
    code, _, err = run(capsys, "encode", "-t", tok_dir, "--file", tmp_path / "nope.txt")
    assert_error(code, err, 1, "nope.txt: No such file or directory")


def test_invalid_utf8_input(capsys, tok_dir, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nnot \xff fine\n")
    code, _, err = run(capsys, "encode", "-t", tok_dir, "--file", bad)
    assert_error(code, err, 1, "bad.txt:2: invalid UTF-8")


def test_missing_and_corrupt_tokenizer_dir(capsys, tok_dir, tmp_path):
    code, _, err = run(capsys, "info", "-t", tmp_path / "absent")
    assert_error(code, err, 1, "no such tokenizer directory")
    broken = tmp_path / "broken"
    broken.mkdir()
    for p in tok_dir.iterdir():
        (broken / p.name).write_bytes(p.read_bytes())
    (broken / "merges.txt").write_text("#version: 0.2\nnot_a_token at_all\n", encoding="utf-8")
    code, _, err = run(capsys, "encode", "-t", broken, "x")
    assert_error(code, err, 1, "merges.txt")
    (broken / "vocab.json").write_text("{ not json", encoding="utf-8")
    code, _, err = run(capsys, "decode", "-t", broken, "1")
    assert_error(code, err, 1, "vocab.json")


def test_bad_output_paths_and_token_files(capsys, corpus, tok_dir, tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code, _, err = run(capsys, "train", corpus, "-q", "-o", tmp_path / "file")
    assert_error(code, err, 1, "exists and is not a directory")
    code, _, err = run(capsys, "encode", "-t", tok_dir, "x", "-o", tmp_path / "no" / "a.npy")
    assert_error(code, err, 1, "no such directory for -o")
    code, _, err = run(capsys, "decode", "-t", tok_dir, "--npy", corpus)
    assert_error(code, err, 1, "not a .npy token file")
    np.save(tmp_path / "f.npy", np.zeros(3))
    code, _, err = run(capsys, "decode", "-t", tok_dir, "--npy", tmp_path / "f.npy")
    assert_error(code, err, 1, "expected a 1-D integer array")
    np.save(tmp_path / "i.npy", np.arange(5, dtype=np.uint32))
    np.save(tmp_path / "i.offsets.npy", np.array([0, 9]))
    code, _, err = run(capsys, "decode", "-t", tok_dir, "--npy", tmp_path / "i.npy")
    assert_error(code, err, 1, "i.offsets.npy: not the offsets of")


def test_invalid_utf8_training_file(capsys, tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\n")
    code, _, err = run(capsys, "train", tmp_path / "bad.txt", "-q", "-o", tmp_path / "t")
    assert_error(code, err, 1, "bad.txt", "UTF-8")


def test_unknown_id_in_decode(capsys, monkeypatch, tok_dir):
    code, _, err = run(capsys, "decode", "-t", tok_dir, "5", "99999")
    assert_error(code, err, 1, "99999")
    _stdin(monkeypatch, "5 6\n7 oops\n")
    code, _, err = run(capsys, "decode", "-t", tok_dir)
    assert_error(code, err, 1, "<stdin>:2: 'oops' is not a token id")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "c.txt", "-o", "t", "--vocab-size", "abc"], "expected an integer, got 'abc'"),
        (["train", "c.txt", "-o", "t", "--vocab-size", "0"], "must be >= 1"),
        (["train", "c.txt", "-o", "t", "--min-frequency", "1.5"], "--min-frequency"),
        (["train", "c.txt"], "-o/--output"),
        (["decode", "-t", "tok", "12", "x3"], "'x3' is not a token id"),
        (["decode", "-t", "tok", "-1"], "is not a token id"),
        (["encode", "x"], "-t/--tokenizer"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert_error(code, err, 2, fragment)


def test_usage_errors_found_after_parsing(capsys, monkeypatch, tok_dir, corpus, tmp_path):
    _stdin(monkeypatch, "text\n")
    code, _, err = run(capsys, "train", "-", corpus, "-o", tmp_path)
    assert_error(code, err, 2, "cannot be combined")
    code, _, err = run(capsys, "encode", "-t", tok_dir, "-o", tmp_path / "ids.bin", "x")
    assert_error(code, err, 2, "must end in .npy")
    code, _, err = run(capsys, "decode", "-t", tok_dir, "1", "--npy", tmp_path / "a.npy")
    assert_error(code, err, 2, "not several")


def test_library_value_errors_are_one_line(capsys, monkeypatch, corpus, tok_dir, tmp_path):
    code, _, err = run(capsys, "train", corpus, "--vocab-size", "10", "-q", "-o", tmp_path)
    assert_error(code, err, 1, "--vocab-size 10 is too small")  # option names, not kwargs
    code, _, err = run(
        capsys, "train", corpus, "--special-tokens", "[PAD],[CLS]", "-q", "-o", tmp_path
    )
    assert_error(code, err, 1, "[UNK]")
    code, _, err = run(
        capsys, "train", corpus, "--extend", tok_dir, "--byte-fallback", "-q", "-o", tmp_path
    )
    assert_error(code, err, 1, "byte fallback")
    monkeypatch.setattr(cli, "STDIN_CHUNK", 2)
    _stdin(monkeypatch, b"ok\nfine\nand \xc3(\n")
    code, _, err = run(capsys, "train", "-", "-q", "-o", tmp_path)
    assert_error(code, err, 1, "<stdin>: invalid UTF-8 at byte 12")


# ---- the real entry points ------------------------------------------------------------


def _python_m(*argv, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "fastbpe", *map(str, argv)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        **kwargs,
    )


def test_python_m_fastbpe(corpus, tmp_path):
    r = _python_m()
    assert r.returncode == 2 and "usage: fastbpe" in r.stderr
    r = _python_m("train", corpus, "--vocab-size", "300", "-o", tmp_path / "t")
    assert r.returncode == 0, r.stderr
    r = _python_m("encode", "-t", tmp_path / "t", input="Merhaba dünya\n")
    assert r.returncode == 0 and r.stdout.count("\n") == 1
    r2 = _python_m("decode", "-t", tmp_path / "t", input=r.stdout)
    assert (r2.returncode, r2.stdout) == (0, "Merhaba dünya\n")
    r = _python_m("info", "-t", tmp_path / "missing")
    assert r.returncode == 1 and r.stderr.startswith("fastbpe: error:")
    assert "Traceback" not in r.stderr


def test_console_script_is_declared():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fastbpe"] == "fastbpe.cli:main"


# ---- docs/cli.md: every `console` block is run and its output compared -------------------

DOC = ROOT / "docs" / "cli.md"
# `fastbpe ARGS` with no shell syntax (optionally `; echo "exit code $?"`) runs in-process
IN_PROCESS = re.compile(r'(fastbpe [^|<>;&$`]*?)(; echo "exit code \$\?")?')


def doc_transcript() -> list[tuple[str, list[str]]]:
    """[(command, expected output lines)] from the ```console blocks, in order."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


def output_matches(expected: list[str], actual: str) -> bool:
    """Line by line; a line `...` matches any number of lines, `...` in a line any text."""
    parts = []
    for line in expected:
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*".join(map(re.escape, line.split("..."))) + r"\n")
    return re.fullmatch("".join(parts), actual) is not None


def test_docs_cli_md_commands_run(capsys, monkeypatch, tmp_path):
    steps = doc_transcript()
    assert len(steps) > 20
    shims = tmp_path / "bin"
    shims.mkdir()
    for name, line in [("fastbpe", "-m fastbpe"), ("python", "")]:
        shim = shims / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {line} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = {
        **os.environ,
        "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
        "PYTHONIOENCODING": "utf-8",
    }
    for command, expected in steps:
        m = IN_PROCESS.fullmatch(command)
        if m:
            code = cli.main(shlex.split(m[1])[1:])
            out, err = capsys.readouterr()
            actual = out + err + (f"exit code {code}\n" if m[2] else "")
        else:
            actual = subprocess.run(
                ["bash", "-c", command],
                cwd=work,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                timeout=60,
                check=False,
            ).stdout
        assert output_matches(expected, actual), (
            f"docs/cli.md: $ {command}\n--- expected\n"
            + "\n".join(expected)
            + f"\n--- got\n{actual}"
        )
