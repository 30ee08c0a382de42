"""Training checkpoints: everything needed to continue a run exactly, written atomically.

(`checkpoint.py` is the model's transformers-style save/load; this file is the trainer's.)

A checkpoint is a directory `checkpoints/step-000500/` holding
- `model.safetensors`: the weights (safetensors; tied weights stored once);
- `optimizer.pt`, `scheduler.pt`, `rng.pt`: tensors and plain values written with `torch.save`
  and read back with `torch.load(weights_only=True)`, which refuses anything but tensors and
  primitive containers, so loading never runs code from the file;
- `state.json`: step, epoch, position in the epoch, running sums, elapsed time, and the run's
  config fingerprint (a resumed run must use the same settings).
It is written under a temporary name and renamed into place; `checkpoints/latest` names the
newest complete one. Only the newest `keep` checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

LATEST = "latest"


def capture_rng(collator_state: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """The RNG states of python, numpy, torch (CPU and CUDA) and the collator, as tensors/ints."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": gauss,
        },
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np.asarray(np_keys).astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if collator_state is not None:
        state["collator"] = collator_state
    return state


def restore_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    root: str | os.PathLike,
    step: int,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler_state: dict[str, Any],
    rng_state: dict[str, Any],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint `root/step-NNNNNN` atomically, point `root/latest` at it, prune old ones."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        save_model(model, str(tmp / "model.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler_state, tmp / "scheduler.pt")
        torch.save(rng_state, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(dict(state, step=step), indent=2) + "\n")
    except BaseException:  # e.g. a full disk: give the space back, keep the previous checkpoints
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # the same step saved again (e.g. the final save after a periodic one)
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_latest(root, final.name)
    done = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _write_latest(root: Path, name: str) -> None:
    tmp = root / f".{LATEST}.tmp"
    tmp.write_text(name + "\n")
    os.replace(tmp, root / LATEST)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `root`, or None."""
    root = Path(root)
    pointer = root / LATEST
    if pointer.is_file():
        path = root / pointer.read_text().strip()
        if (path / "state.json").is_file():
            return path
    done = sorted(p for p in root.glob("step-*") if (p / "state.json").is_file())
    return done[-1] if done else None


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(path) / "state.json").read_text())


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Load weights and optimizer state in place; returns (state, scheduler_state, rng_state)."""
    path = Path(path)
    try:
        missing, unexpected = load_model(
            model, str(path / "model.safetensors"), strict=False, device=str(device)
        )
    except RuntimeError as e:  # shape mismatch: torch lists every tensor, one line is enough
        raise ValueError(
            f"checkpoint {path} does not fit the model: {str(e).splitlines()[-1].strip()}"
        ) from None
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {path} does not fit the model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    optimizer.load_state_dict(_load_pt(path / "optimizer.pt", device))
    scheduler_state = _load_pt(path / "scheduler.pt", "cpu")
    rng_state = _load_pt(path / "rng.pt", "cpu")
    return read_state(path), scheduler_state, rng_state


def _load_pt(path: Path, device: torch.device | str) -> Any:
    """torch.load(weights_only=True); a refused or unreadable file is a ValueError naming it."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"refused to load {path}: it holds more than tensors and plain values, and "
            "unpickling it could run code"
        ) from None
    except (RuntimeError, EOFError) as e:
        raise ValueError(f"cannot load {path}: {str(e).strip().splitlines()[0]}") from None
