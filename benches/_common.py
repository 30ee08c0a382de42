"""Shared plumbing for bench_train.py and bench_encode.py.

Every measurement runs in a fresh subprocess (`--worker`), so that its peak RSS is its own:
the parent reaps it with `os.wait4`, which returns that one child's rusage (ru_maxrss, user
and system CPU time). The worker times only the call being measured and prints one JSON line.
Thread counts are set through the environment before the library is imported.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CACHE = Path(os.environ.get("FASTBPE_BENCH_CACHE", Path.home() / ".cache" / "fastbpe-bench"))
BENCH_CORPUS = Path.home() / ".cache" / "bench-corpus" / "bench_en.txt"


def default_corpus() -> Path:
    """The lead's ~90 MB English corpus when built (bash /work/shared/corpus/build.sh),
    else a ~20 MB text generated from Python's documentation (cached)."""
    if BENCH_CORPUS.exists():
        return BENCH_CORPUS
    path = CACHE / "fallback_en.txt"
    if not path.exists():
        from pydoc_data.topics import topics

        lines = [ln for k in sorted(topics) for ln in topics[k].splitlines() if ln.strip()]
        rng = random.Random(0)
        out, size = [], 0
        while size < 20_000_000:
            rng.shuffle(lines)
            chunk = "\n".join(lines) + "\n"
            out.append(chunk)
            size += len(chunk.encode())
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(out), encoding="utf-8")
        tmp.replace(path)
    return path


def slice_corpus(corpus: Path, megabytes: float) -> Path:
    """The first `megabytes` MB of the corpus, cut at a line end (cached)."""
    size = int(megabytes * 1_000_000)
    if size >= corpus.stat().st_size:
        return corpus
    path = CACHE / f"{corpus.stem}.{corpus.stat().st_size}.{size}.txt"
    if not path.exists():
        with open(corpus, "rb") as f:
            data = f.read(size)
        data = data[: data.rfind(b"\n") + 1] or data
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def thread_env(threads: int) -> dict[str, str]:
    """Environment that pins every library's thread pool to `threads`."""
    env = dict(os.environ)
    env.update(
        {
            "RAYON_NUM_THREADS": str(threads),  # fastbpe, gigatoken (rayon global pool)
            "RAYON_RS_NUM_CPUS": str(threads),  # HuggingFace tokenizers
            "TOKENIZERS_PARALLELISM": "true" if threads > 1 else "false",
            "OMP_NUM_THREADS": str(threads),
            # No library here calls BLAS, but numpy's OpenBLAS starts OMP_NUM_THREADS - 1
            # threads at import that spin for ~0.5 s: with 2 threads they took ~18% of a core
            # during the timed calls (perf), a handicap the 1-thread runs did not have.
            "OPENBLAS_NUM_THREADS": "1",
            "BENCH_THREADS": str(threads),  # read by workers for explicit num_threads arguments
        }
    )
    return env


def run_worker(script: str, args: list[str], threads: int, timeout: float = 1800) -> dict:
    """Run `script --worker ...` in a subprocess: its JSON result plus the child's own peak
    RSS and CPU time, from the rusage that os.wait4 returns for exactly that child."""
    import tempfile
    import threading

    cmd = [sys.executable, script, "--worker", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=thread_env(threads), text=True)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        start = time.monotonic()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result = None
    for line in stdout.splitlines()[::-1]:
        if line.startswith("{"):
            result = json.loads(line)
            break
    if proc.returncode != 0 or result is None:
        tail = (stderr or stdout).strip().splitlines()[-2:]
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    result["process_s"] = wall
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def emit(result: dict) -> None:
    """Print a worker's result line (the parent reads the last JSON line of stdout)."""
    print(json.dumps(result), flush=True)


def summarize(
    samples: dict,
    names: list[str],
    threads: list[int],
    value: str,
    higher_is_better: bool,
    base: str = "fastbpe",
) -> list[list[str]]:
    """Rows of a table: best of the repeats per (name, threads), ratio vs `base`.

    The ratio is always "how many times better fastbpe is": peer time / fastbpe time for
    seconds, fastbpe MB/s / peer MB/s for throughput. > 1 means fastbpe wins. With repeats,
    the note gives the median and the ratio of medians too (best runs on a noisy machine can
    mislead either way).
    """
    rows = []
    for t in threads:
        base_runs = [r for r in samples.get((base, t), []) if "error" not in r]
        base_best = pick(base_runs, value, higher_is_better)
        for name in names:
            runs = samples.get((name, t), [])
            ok = [r for r in runs if "error" not in r]
            if not ok:
                err = runs[0]["error"] if runs else "not run"
                rows.append([name, str(t), "-", "-", "-", "-", "-", err[:60]])
                continue
            best = pick(ok, value, higher_is_better)
            v = best[value]
            ratio = "-"
            if base_best is not None:
                b = base_best[value]
                ratio = f"{(b / v if higher_is_better else v / b):.2f}x"
            spread = ""
            if len(ok) > 1:
                median = statistics.median(r[value] for r in ok)
                spread = f"n={len(ok)} median {num(median)}"
                if len(base_runs) > 1:
                    b = statistics.median(r[value] for r in base_runs)
                    spread += f" ({(b / median if higher_is_better else median / b):.2f}x)"
            rows.append(
                [
                    name,
                    str(t),
                    num(best["seconds"]),
                    f"{best['mb_s']:.1f}",
                    f"{best['cpu_s']:.1f}",
                    f"{max(r['peak_rss_mb'] for r in ok):.0f}",
                    ratio,
                    (best.get("note", "") + " " + spread).strip(),
                ]
            )
    return rows


def num(x: float) -> str:
    """Two decimals, or three significant digits below 1 (a 15 ms run is not "0.02")."""
    return f"{x:.2f}" if x >= 1 else f"{x:.3g}"


def pick(runs: list[dict], value: str, higher_is_better: bool):
    if not runs:
        return None
    return (
        max(runs, key=lambda r: r[value]) if higher_is_better else min(runs, key=lambda r: r[value])
    )


def print_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (printed and returned, so that it can be pasted in README.md)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def machine_line() -> str:
    import platform

    return (
        f"{platform.machine()}, {os.cpu_count()} logical CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start"
    )
