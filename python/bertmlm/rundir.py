"""The run directory: its name, the checks before anything is written, and metrics.csv."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any


class PretrainError(Exception):
    """A problem with the user's input; main() prints it as one line and exits with status 1."""


def new_run_dir() -> Path:
    """A new folder name under ./runs/: the start time, with a suffix if that exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, n = Path("runs") / stamp, 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stamp}-{n}"
    return out


def resolve_out_dir(out: str | os.PathLike | None, resume: bool) -> Path:
    """Create (or, with --resume, find) the run directory and check it is writable."""
    if out is None:
        raise PretrainError("--resume needs --out DIR (the run directory to continue)")
    out = Path(out).expanduser()
    if resume:
        if not (out / "run_config.json").is_file():
            raise PretrainError(f"nothing to resume: {out} holds no run (no run_config.json)")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PretrainError(
            f"output directory {out} already exists and is not empty; choose another "
            "--out, or add --resume to continue the run in it"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise PretrainError(
            f"cannot write to output directory {out} ({e.strerror or e}); choose a writable --out"
        ) from None
    return out


class MetricsFile:
    """metrics.csv: one row per log line (kind=train) and per evaluation (kind=val)."""

    COLUMNS = ["kind", "step", "epoch", "batch", "tokens_seen", "seconds", "lr", "loss", "acc"]

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(self.COLUMNS)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(c)) for c in self.COLUMNS])

    def truncate_after(self, step: int) -> None:
        """Drop rows that a run resumed at `step` logs again: train rows are logged before their
        step's update (step < resumed step kept), evaluations after it (step <= kept)."""
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [
            r
            for r in rows
            if int(r["step"]) < step or (r["kind"] == "val" and int(r["step"]) == step)
        ]
        tmp = self.path.with_name(".metrics.csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, self.COLUMNS)
            w.writeheader()
            w.writerows(keep)
        os.replace(tmp, self.path)


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)
