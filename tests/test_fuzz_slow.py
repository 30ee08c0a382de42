"""A short cargo-fuzz session per target (slow; skipped without cargo-fuzz and nightly Rust).

The targets live in rust/fuzz (see docs/fuzzing.md). Each runs for FASTBPE_FUZZ_SECONDS
(default 20) from the committed seeds, with its corpus and any crash artifact in a temporary
directory, so the checkout is not touched (except the build in rust/fuzz/target).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUST = Path(__file__).resolve().parent.parent / "rust"
TARGETS = ["roundtrip", "normalized_roundtrip", "train_roundtrip", "load"]
SECONDS = int(os.environ.get("FASTBPE_FUZZ_SECONDS", "20"))


def _have_cargo_fuzz() -> str | None:
    if shutil.which("cargo") is None:
        return "cargo is not installed"
    for cmd, what in (
        (["cargo", "+nightly", "--version"], "a nightly toolchain"),
        (["cargo", "+nightly", "fuzz", "--version"], "cargo-fuzz"),
    ):
        try:
            r = subprocess.run(
                cmd, capture_output=True, text=True, timeout=60, cwd=RUST, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return f"{what} is not available"
        if r.returncode != 0:
            return f"{what} is not available ({(r.stderr or r.stdout).strip()[:200]})"
    return None


@pytest.fixture(scope="module")
def built():
    why = _have_cargo_fuzz()
    if why:
        pytest.skip(why)
    r = subprocess.run(
        ["cargo", "+nightly", "fuzz", "build"],
        cwd=RUST,  # every target
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-5000:]


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_finds_nothing(built, target, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cmd = [
        "cargo",
        "+nightly",
        "fuzz",
        "run",
        target,
        str(corpus),
        str(RUST / "fuzz" / "seeds" / target),
        "--",
        f"-max_total_time={SECONDS}",
        f"-artifact_prefix={tmp_path}/",
        "-print_final_stats=1",
    ]
    r = subprocess.run(
        cmd, cwd=RUST, capture_output=True, text=True, timeout=SECONDS + 600, check=False
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name != "corpus")
    assert r.returncode == 0 and not crashes, (
        f"fuzz target {target} failed (exit {r.returncode}); artifacts {crashes} in {tmp_path}; "
        f"reproduce with: cd rust && cargo +nightly fuzz run {target} {tmp_path}/<artifact>\n"
        + r.stderr[-5000:]
    )
    assert "Done" in r.stderr and "stat::number_of_executed_units" in r.stderr
