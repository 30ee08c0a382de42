"""The README's tour, run as written: every command of its fenced blocks, in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block between the tour markers."""
    text = README.read_text(encoding="utf-8")
    tour = text.split("<!-- tour:start -->", 1)[1].split("<!-- tour:end -->", 1)[0]
    return re.findall(r"```(bash|python)\n(.*?)```", tour, flags=re.S)


def test_readme_has_both_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    assert "pip install . && python -m bertmlm.pretrain" in text
    assert 'pip install ".[test]" && python -m pytest' in text


def test_readme_tour_runs(tmp_path):
    blocks = tour_blocks()
    assert [lang for lang, _ in blocks] == ["bash", "python"]
    env = dict(
        os.environ,
        BERTMLM_CACHE=str(tmp_path / "cache"),
        MPLBACKEND="Agg",
        PYTHONWARNINGS="ignore",
        TOKENIZERS_PARALLELISM="false",
    )
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    for lang, code in blocks:
        if lang == "bash":
            cmd = ["bash", "-euo", "pipefail", "-c", code.replace("python ", f"{sys.executable} ")]
        else:
            cmd = [sys.executable, "-c", code]
        proc = subprocess.run(
            cmd,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"README {lang} block failed ({proc.returncode}):\n{code}\n"
                f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
            )
        out = proc.stdout + proc.stderr
        if lang == "bash":
            assert "▁split" in out  # the tokenizer's pieces were printed
            assert "[MASK]" in out and "held-out accuracy" in out
            assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
        else:
            assert "[MASK]" in proc.stdout  # decode gives the special token back
