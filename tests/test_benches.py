"""The benchmark scripts refuse options they cannot honour, with a message (they run outside
the test suite otherwise: benches/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH_ENCODE = Path(__file__).resolve().parent.parent / "benches" / "bench_encode.py"


@pytest.mark.parametrize("parts", ["1", "-3"])
def test_steady_needs_two_parts(parts):
    run = subprocess.run(
        [sys.executable, str(BENCH_ENCODE), "--steady", parts],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert (
        f"--steady needs at least 2 parts (one to warm up, one to time), got {parts}" in run.stderr
    )
