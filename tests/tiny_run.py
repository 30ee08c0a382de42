"""A tiny pretraining run for the tests of failures and refusals: a corpus of 120 short
paragraphs and the arguments that train a 60-token tokenizer and a model on it, checkpointing
every step."""

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


def run_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--vocab-size",
        "60",
        "--max-length",
        "16",
        "--batch-size",
        "4",
        "--log-every",
        "1",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "1",
        "--no-progress",
        "--seed",
        "1",
        *extra,
    ]
