"""Crash safety (slow): SIGKILL `python -m bertmlm.pretrain` at random moments, including in the
middle of a checkpoint write, resume each time with --resume, and check that

- after every kill the checkpoint a resume would load is complete and intact (its weights,
  optimizer, scheduler and RNG files all load, and its state.json names its step), and the
  resumed run says it loaded exactly that one;
- the run finally completes, and its per-step losses and accuracies, its final weights and its
  summary equal those of one uninterrupted run (CPU, same seed).

Every run is pinned to one CPU (so PyTorch uses one thread and sums in the same order).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from bertmlm.train_checkpoint import latest_checkpoint
from safetensors.torch import load_file
from tiny_run import pretrain_args

pytestmark = pytest.mark.slow

STEPS = 40
NOUNS = ["cat", "dog", "bird", "fish", "horse", "cow", "sheep", "goat", "mouse", "fox"]
VERBS = ["sees", "likes", "chases", "finds"]


def write_corpus(path: Path) -> Path:
    rng = random.Random(0)
    paras = [
        " ".join(
            f"the {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)}."
            for _ in range(rng.randint(2, 5))
        )
        for _ in range(200)
    ]
    path.write_text("\n\n".join(paras) + "\n")
    return path


# The child pins itself to one CPU, then runs `python -m bertmlm.pretrain` (no preexec_fn: the
# test process has threads).
PINNED = (
    "import os, runpy\n"
    "if hasattr(os, 'sched_setaffinity'):\n"
    "    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
    "runpy.run_module('bertmlm.pretrain', run_name='__main__', alter_sys=True)\n"
)


class Runner:
    def __init__(self, tmp_path: Path):
        self.corpus = write_corpus(tmp_path / "corpus.txt")
        self.env = dict(os.environ, BERTMLM_CACHE=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")

    def start(self, out: Path, resume: bool) -> subprocess.Popen:
        if resume:
            args = ["--out", str(out), "--resume", "--no-progress"]
        else:
            args = pretrain_args(
                self.corpus,
                out,
                vocab_size=80,
                max_length=16,
                batch_size=4,
                log_every=1,
                eval_every=0,
                checkpoint_every=1,
                max_steps=STEPS,
                epochs=100,
                device="cpu",
                seed=5,
                no_progress=True,
            )
        return subprocess.Popen(
            [sys.executable, "-c", PINNED, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def check_intact(ckpt: Path) -> int:
    """Loads every file of a checkpoint the way resuming does; returns its step."""
    load_file(ckpt / "model.safetensors")
    for name in ("optimizer.pt", "scheduler.pt", "rng.pt"):
        torch.load(ckpt / name, weights_only=True)
    state = json.loads((ckpt / "state.json").read_text())
    assert ckpt.name == f"step-{state['step']:06d}", (ckpt, state["step"])
    return state["step"]


def wait_for(proc: subprocess.Popen, cond, timeout: float = 300) -> bool:
    """Polls `cond` every millisecond until it holds (True) or the process exits (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    raise AssertionError("timed out waiting for the trainer")


def writing_checkpoint(root: Path, after_step: int):
    """True while a checkpoint later than `after_step` is being written (its temp dir exists)."""

    def cond() -> bool:
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return False
        return any(
            m and int(m.group(1)) > after_step
            for m in (re.fullmatch(r"\.step-(\d+)\.tmp", n) for n in names)
        )

    return cond


def train_rows(out: Path) -> list[tuple[str, str, str]]:
    with open(out / "metrics.csv", newline="") as f:
        return [(r["step"], r["loss"], r["acc"]) for r in csv.DictReader(f) if r["kind"] == "train"]


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path):
    runner = Runner(tmp_path)
    full = tmp_path / "full"
    finish(runner.start(full, resume=False))

    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")))
    out = tmp_path / "crashy"
    ckpts = out / "checkpoints"
    # first run: killed once its first checkpoint is complete and a later one is being written
    proc = runner.start(out, resume=False)
    modes = [
        "checkpoint-write",
        "random",
        "checkpoint-write",
        "random",
        "latest-pointer",
        "random",
        "checkpoint-write",
        "after-last-step",
    ]
    kills, during_write, resumed_from, log = 0, 0, [], []
    last_step = 1  # the first kill comes after checkpoint 1 is complete

    def step_reached(n: int):
        def cond() -> bool:
            ckpt = latest_checkpoint(ckpts)
            return ckpt is not None and int(ckpt.name[5:]) >= n

        return cond

    for mode in modes:
        if mode == "checkpoint-write":
            fired = wait_for(proc, writing_checkpoint(ckpts, last_step))
        elif mode == "latest-pointer":
            # the pointer's temp file lives for microseconds: best effort, else a few steps on
            on = step_reached(last_step + 4)
            fired = wait_for(proc, lambda on=on: (ckpts / ".latest.tmp").exists() or on())
        elif mode == "after-last-step":
            # max_steps reached: killed in the final save, evaluation or export
            fired = wait_for(proc, step_reached(STEPS))
        else:
            # a random moment within a random later step
            target = rng.randint(last_step + 1, last_step + max(1, (STEPS - last_step) // 3))
            fired = wait_for(proc, step_reached(target))
            if fired:
                deadline = time.monotonic() + rng.uniform(0.0, 0.05)
                while time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.001)
                fired = proc.poll() is None
        if not fired:  # it finished first
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        log.append((mode, sorted(os.listdir(ckpts))))
        during_write += any(n.endswith(".tmp") for n in os.listdir(ckpts))
        # what a resume would load: complete and intact
        ckpt = latest_checkpoint(ckpts)
        assert ckpt is not None, f"no complete checkpoint after kill {kills} ({mode})"
        last_step = check_intact(ckpt)
        proc = runner.start(out, resume=True)
        # the resumed run names the checkpoint it loaded; it must be the one checked above
        line = proc.stdout.readline()
        while line and not line.startswith("Resumed from"):
            line = proc.stdout.readline()
        assert line, "the resumed run ended without resuming"
        assert line.startswith(f"Resumed from {ckpt} at step {last_step} "), line
        resumed_from.append(last_step)
    finish(proc)

    assert kills >= 6, f"only {kills} kills landed: the run finished too early: {log}"
    assert during_write >= 1, "no kill landed during a checkpoint write"
    assert resumed_from == sorted(resumed_from), resumed_from
    # the continued run equals the uninterrupted one
    got, want = train_rows(out), train_rows(full)
    assert got == want, (
        resumed_from,
        [r for r in got if r not in want],
        [r for r in want if r not in got],
        len(got),
        len(want),
    )
    a, b = (
        load_file(full / "model" / "model.safetensors"),
        load_file(out / "model" / "model.safetensors"),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (full, out))
    for key in ("steps", "tokens_seen", "val_loss", "val_acc", "first_loss"):
        assert sa[key] == sb[key], key
    assert sb["steps"] == STEPS
    print(
        f"{kills} kills ({during_write} during a checkpoint write), resumed at steps {resumed_from}"
    )
