"""Tiny pretraining runs for the tests: `pretrain_args` spells a `bertmlm.pretrain` command
line from keyword options, and `write_corpus` / `run_args` are the run of the tests of failures
and refusals (120 short paragraphs, a 60-token tokenizer, a checkpoint every step)."""

from __future__ import annotations

import random
from pathlib import Path

NOUNS = ["cat", "dog", "bird", "fish", "horse", "cow", "sheep", "goat"]


def write_corpus(path: Path) -> Path:
    rng = random.Random(0)
    paras = [
        " ".join(f"the {rng.choice(NOUNS)} sees the {rng.choice(NOUNS)}." for _ in range(4))
        for _ in range(120)
    ]
    path.write_text("\n\n".join(paras) + "\n")
    return path


def pretrain_args(corpus: Path, out: Path, *extra: str, **options: object) -> list[str]:
    """`--corpus CORPUS --out OUT`, then `--name value` for each option (`max_steps=3` gives
    `--max-steps 3`; True gives the bare flag), then `extra` (last, so it can override)."""
    args = ["--corpus", str(corpus), "--out", str(out)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    return [*args, *extra]


def run_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return pretrain_args(
        corpus,
        out,
        *extra,
        vocab_size=60,
        max_length=16,
        batch_size=4,
        log_every=1,
        eval_every=0,
        checkpoint_every=1,
        no_progress=True,
        seed=1,
    )
