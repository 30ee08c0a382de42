"""Peak memory of tokenizer training against corpus size: training must stream the corpus.

    python benches/bench_memory.py [--corpus PATH] [--sizes-mb 100 300 1000]
        [--vocab-size 32000] [--threads N] [--tmp DIR] [--json OUT.json]

For each size, a corpus of that many bytes is made by repeating the lines of the shared
benchmark corpus (~/.cache/bench-corpus/bench_en.txt, ~90 MB), each repetition shuffled with
its own seed, into a temporary file (deleted afterwards). A fresh subprocess trains a fastbpe
tokenizer on the file (`Tokenizer.train(path, ...)`, so the Rust core reads it in chunks), and
the parent reaps it with `os.wait4` to get that child's own peak RSS (ru_maxrss). A first
child that only imports fastbpe gives the interpreter's baseline.

What it shows: peak RSS minus the baseline stays far below the corpus size and grows with the
number of *distinct* words, not with bytes. Repeating one corpus keeps the distinct words of
~90 MB of text, so this measures the streaming (file never held whole), not how the word table
grows on a corpus with ever new words.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_CORPUS = Path.home() / ".cache" / "bench-corpus" / "bench_en.txt"

WORKER = """
import json, sys, time
t0 = time.perf_counter()
from fastbpe import Tokenizer
if sys.argv[1] == "-":
    print(json.dumps({"seconds": 0.0}))
    raise SystemExit
tok = Tokenizer.train(sys.argv[1], int(sys.argv[2]), show_progress=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "vocab_size": tok.vocab_size,
                  "merges": len(tok.merges)}))
"""


def build_corpus(source: Path, size: int, path: Path) -> int:
    """Writes about `size` bytes (whole lines) of shuffled repetitions of `source` to `path`."""
    lines = source.read_bytes().splitlines(keepends=True)
    written, seed = 0, 0
    with open(path, "wb", buffering=1 << 20) as f:
        while written < size:
            random.Random(seed).shuffle(lines)
            for ln in lines:
                f.write(ln)
                written += len(ln)
                if written >= size:
                    break
            seed += 1
    return written


def run_child(args: list[str], threads: int | None) -> dict:
    """Runs the worker; returns its JSON plus its own peak RSS in MiB (os.wait4)."""
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE, env=env, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({proc.returncode}): {args}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=BENCH_CORPUS)
    p.add_argument("--sizes-mb", type=float, nargs="+", default=[100, 300, 1000])
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--threads", type=int, default=None, help="RAYON_NUM_THREADS (default: all)")
    p.add_argument("--tmp", type=Path, default=None, help="where the corpus files are made")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = p.parse_args(argv)
    if not a.corpus.is_file():
        raise SystemExit(
            f"no corpus at {a.corpus} (build it with bash /work/shared/corpus/build.sh "
            "or pass --corpus)"
        )
    base = run_child(["-"], a.threads)
    print(
        f"baseline (python + import fastbpe): peak RSS {base['peak_rss_mib']:.0f} MiB", flush=True
    )
    print(
        f"{'corpus MB':>10} {'peak RSS MiB':>13} {'minus base':>11} {'RSS/corpus':>11} "
        f"{'seconds':>8} {'MB/s':>7} {'merges':>7}",
        flush=True,
    )
    rows = []
    for mb in a.sizes_mb:
        with tempfile.TemporaryDirectory(dir=a.tmp) as d:
            path = Path(d) / "corpus.txt"
            t0 = time.perf_counter()
            size = build_corpus(a.corpus, int(mb * 1e6), path)
            made = time.perf_counter() - t0
            r = run_child([str(path), str(a.vocab_size)], a.threads)
        r.update(
            corpus_bytes=size,
            build_seconds=round(made, 1),
            rss_minus_base_mib=r["peak_rss_mib"] - base["peak_rss_mib"],
        )
        rows.append(r)
        print(
            f"{size / 1e6:>10.0f} {r['peak_rss_mib']:>13.0f} {r['rss_minus_base_mib']:>11.0f} "
            f"{r['peak_rss_mib'] * 1048576 / size:>11.3f} {r['seconds']:>8.1f} "
            f"{size / 1e6 / r['seconds']:>7.1f} {r['merges']:>7}",
            flush=True,
        )
    if a.json:
        a.json.write_text(
            json.dumps(
                {"baseline": base, "runs": rows, "vocab_size": a.vocab_size, "threads": a.threads},
                indent=2,
            )
            + "\n"
        )
    return rows


if __name__ == "__main__":
    main()
