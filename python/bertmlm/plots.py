"""curves.png: training and held-out loss and accuracy against optimizer steps (matplotlib, Agg)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any


def plot_curves(
    metrics_csv: str | os.PathLike, out_png: str | os.PathLike, unigram_acc: float | None = None
) -> Path | None:
    """Draw metrics.csv (see pretrain.MetricsFile) into two panels; None when it has no rows."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only, never a window
    import matplotlib.pyplot as plt

    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    series: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for r in rows:
        steps, losses, accs = series.setdefault(r["kind"], ([], [], []))
        steps.append(int(r["step"]))
        losses.append(float(r["loss"]))
        accs.append(float(r["acc"]))
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    styles: dict[str, dict[str, Any]] = {
        "train": dict(label="train", alpha=0.8),
        "val": dict(label="held-out", marker="o"),
    }
    for kind, (steps, losses, accs) in sorted(series.items()):
        ax_loss.plot(steps, losses, **styles.get(kind, {"label": kind}))
        ax_acc.plot(steps, accs, **styles.get(kind, {"label": kind}))
    if unigram_acc is not None:
        ax_acc.axhline(unigram_acc, color="gray", linestyle="--", label="unigram baseline")
    ax_loss.set(xlabel="optimizer step", ylabel="MLM loss", title="Loss")
    ax_acc.set(xlabel="optimizer step", ylabel="accuracy on masked tokens", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    tmp = out_png.with_name(f".{out_png.stem}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png
