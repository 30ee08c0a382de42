"""DDP through torchrun: 2 CPU processes (gloo) train like one process with the same global batch.

Each run is a real `torchrun --standalone --nproc_per_node 2 -m bertmlm.pretrain ...` launch on a
tiny corpus and a tiny model (dropout 0). The global batch of the 2-rank run (2 x 4) equals the
single process's 8, masks are drawn from the same collator stream, and each rank's loss is
weighted by its share of the global masked tokens, so the two runs differ only by floating-point
summation order: losses and weights agree to ~1e-5. The resumed 2-rank run (from the mid-run
checkpoint, every rank loading it) ends on the same weights again.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys

import pytest
import torch
from bertmlm import pretrain
from safetensors.torch import load_file
from tiny_run import pretrain_args

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)

WORDS = ["cat", "dog", "bird", "fish", "red", "big", "small", "sees", "likes", "chases", "the", "a"]
STEPS = 8


def write_corpus(path, docs=120, seed=0):
    rng = random.Random(seed)
    paras = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) + "." for _ in range(docs)
    ]
    path.write_text("\n\n".join(paras) + "\n")
    return path


def common(corpus, out):
    return pretrain_args(
        corpus,
        out,
        vocab_size=100,
        max_length=32,
        log_every=1,
        eval_every=0,
        checkpoint_every=4,
        no_progress=True,
        seed=5,
        dropout=0,
        max_steps=STEPS,
        lr="3e-3",
        device="cpu",
    )


def torchrun(argv, env, cwd):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "bertmlm.pretrain",
        *argv,
    ]
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def train_losses(out):
    with open(out / "metrics.csv", newline="") as f:
        return [
            (int(r["step"]), float(r["loss"]), int(r["tokens_seen"]))
            for r in csv.DictReader(f)
            if r["kind"] == "train"
        ]


def weights(out):
    return load_file(str(out / "model" / "model.safetensors"))


def assert_same_weights(a, b, atol):
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    print(f"max |weight difference| = {worst:.2e}")
    assert worst < atol, worst


def test_two_gloo_ranks_match_one_process_and_resume(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BERTMLM_CACHE", str(cache))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    corpus = write_corpus(tmp_path / "corpus.txt")
    env = dict(os.environ, BERTMLM_CACHE=str(cache), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)

    single = tmp_path / "single"
    s = pretrain.main([*common(corpus, single), "--batch-size", "8"])
    assert s["steps"] == STEPS

    ddp = tmp_path / "ddp"
    torchrun([*common(corpus, ddp), "--batch-size", "4"], env, tmp_path)
    d = json.loads((ddp / "summary.json").read_text())
    assert d["steps"] == STEPS and d["world_size"] == 2 and d["global_batch_size"] == 8
    # the same tokenizer (trained by rank 0, then read by rank 1) and the same tokens seen
    assert (ddp / "tokenizer" / "vocab.json").read_text() == (
        single / "tokenizer" / "vocab.json"
    ).read_text()
    assert d["tokens_seen"] == s["tokens_seen"]
    ls, ld = train_losses(single), train_losses(ddp)
    assert [r[0] for r in ls] == [r[0] for r in ld] and [r[2] for r in ls] == [r[2] for r in ld]
    for (step, a, _), (_, b, _) in zip(ls, ld):
        assert abs(a - b) < 1e-4, (step, a, b)
    print(
        f"max |loss difference| = {max(abs(x[1] - y[1]) for x, y in zip(ls, ld)):.2e} (metrics.csv: 6 digits)"
    )
    assert_same_weights(weights(single), weights(ddp), 1e-4)
    assert abs(s["val_loss"] - d["val_loss"]) < 1e-4
    # only rank 0 wrote: one metrics row per step, no stray files from rank 1
    assert len(ld) == len(ls)

    # resume: drop the final checkpoint, continue the 2-rank run from step 4 (both ranks load it)
    resumed = tmp_path / "resumed"
    shutil.copytree(ddp, resumed)
    shutil.rmtree(resumed / "checkpoints" / f"step-{STEPS:06d}")
    (resumed / "checkpoints" / "latest").write_text("step-000004\n")
    for name in ("summary.json", "model/model.safetensors"):
        (resumed / name).unlink()
    proc = torchrun(["--out", str(resumed), "--resume", "--no-progress"], env, tmp_path)
    assert "Resumed from" in proc.stdout + proc.stderr
    r = json.loads((resumed / "summary.json").read_text())
    assert r["steps"] == STEPS and r["tokens_seen"] == d["tokens_seen"]
    assert_same_weights(weights(ddp), weights(resumed), 1e-5)
    lr_ = train_losses(resumed)
    assert [x[0] for x in lr_] == [x[0] for x in ld]
    assert [x[1] for x in lr_] == pytest.approx([x[1] for x in ld], abs=1e-5)


def test_env_parsing_and_rank_rows():
    from bertmlm.distributed import DistEnv, env_from_os, rank_rows

    assert not env_from_os({}).enabled
    assert env_from_os({"WORLD_SIZE": "1", "RANK": "0"}).world_size == 1
    e = env_from_os({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (e.rank, e.world_size, e.local_rank, e.is_main) == (2, 4, 0, False)
    with pytest.raises(ValueError):
        env_from_os({"WORLD_SIZE": "2", "RANK": "2"})
    rows = [rank_rows(10, DistEnv(r, 3)) for r in range(3)]
    assert [list(range(10))[s] for s in rows] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


def test_line_by_line_two_ranks_match_one_process(tmp_path, monkeypatch):
    """Padded sequences (one per line, grouped by length, padding columns cut per rank) give the
    same run on 2 ranks as on one process."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BERTMLM_CACHE", str(cache))
    rng = random.Random(1)
    corpus = tmp_path / "lines.txt"
    corpus.write_text(
        "\n".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 25))) for _ in range(150)
        )
        + "\n"
    )
    env = dict(os.environ, BERTMLM_CACHE=str(cache), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    extra = ["--line-by-line", "--max-steps", "6", "--checkpoint-every", "0"]
    single = tmp_path / "single"
    s = pretrain.main([*common(corpus, single), *extra, "--batch-size", "6"])
    ddp = tmp_path / "ddp"
    torchrun([*common(corpus, ddp), *extra, "--batch-size", "3"], env, tmp_path)
    d = json.loads((ddp / "summary.json").read_text())
    assert d["steps"] == s["steps"] == 6 and d["tokens_seen"] == s["tokens_seen"]
    for (_, a, _), (_, b, _) in zip(train_losses(single), train_losses(ddp)):
        assert abs(a - b) < 1e-4
    assert_same_weights(weights(single), weights(ddp), 1e-4)


@pytest.mark.parametrize("world", ["1", "2"])
def test_a_finished_rank_leaves_without_teardown_and_keeps_its_output(world):
    # under torchrun (WORLD_SIZE > 1) a finished rank exits at once with status 0, its printed
    # output flushed first; a single process goes on to the interpreter's own exit
    code = (
        "import sys; from bertmlm.pretrain import _leave_distributed_run\n"
        "print('summary', end=''); sys.stderr.write('log')\n"
        "_leave_distributed_run()\n"
        "print(' and teardown')\n"
    )
    env = {**os.environ, "WORLD_SIZE": world, "RANK": "0"}
    env.pop("PYTHONUNBUFFERED", None)  # block-buffered stdout, as torchrun's pipes give
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("summary" if world == "2" else "summary and teardown\n")
    assert proc.stderr == "log"
