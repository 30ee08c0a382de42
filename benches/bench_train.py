"""Training benchmark: fastbpe against HuggingFace tokenizers, gigatoken and sentencepiece.

    python benches/bench_train.py [--corpus PATH] [--vocab-size 32000] [--repeat 1]
        [--threads 1 2] [--libs ...] [--ref-mb 1 5] [--json OUT.json]

Same corpus file and vocabulary size for every library, at each thread count. Runs are
alternated (every library once per round, rounds repeated), each in its own subprocess;
the table shows the best run, its peak RSS, and "vs fastbpe" = peer time / fastbpe time
(> 1: fastbpe is faster). Peers:

- hf-whitespace: tokenizers BPE + BpeTrainer, NFC + `Whitespace` pre-tokenizer (the usual
  fast HF setup; drops whitespace, so it counts fewer, simpler words than fastbpe).
- hf-split: tokenizers with exactly fastbpe's pipeline (NFC, ` ` -> `▁`, the docs/tokenizer.md
  Split regex from fastbpe.hf_export): the same words, so the same work.
- gigatoken: `gigatoken.train_bpe` (byte-level BPE with its GPT-2 style pre-tokenizer).
- sentencepiece: `SentencePieceTrainer` with model_type=bpe (keeps all sentences).

Then the Rust trainer against the pure-Python reference on the first `--ref-mb` MB (one or
more sizes; one thread; same file, same vocabulary size, each run in its own subprocess, timed
around `Tokenizer.train` / `ReferenceTokenizer.train` only), with a check on every slice that
both learn the same merges and vocabulary. The table has each first call; a line below it
gives fastbpe's later calls in the same processes (warm, as `timeit` would measure), which
on a 1 MB slice no longer pay the first touches of new memory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    SPECIALS,
    default_corpus,
    emit,
    machine_line,
    print_table,
    run_worker,
    slice_corpus,
    summarize,
)

LIBS = ["fastbpe", "gigatoken", "hf-whitespace", "hf-split", "sentencepiece"]
# More fastbpe trainings after the first in each Rust-vs-reference run (a few ms each).
AGAIN = 5


# ---- workers (run in a subprocess; thread env already set) ---------------------------------


def train_fastbpe(corpus: Path, vocab_size: int) -> tuple[float, int]:
    from fastbpe import Tokenizer

    t0 = time.perf_counter()
    tok = Tokenizer.train([corpus], vocab_size, special_tokens=SPECIALS, show_progress=False)
    return time.perf_counter() - t0, tok.vocab_size


def train_fastbpe_again(corpus: Path, vocab_size: int, calls: int) -> list[float]:
    """Seconds of `calls` more trainings in this process, after the first (timeit's way:
    memory the allocator already has, warm caches)."""
    return [train_fastbpe(corpus, vocab_size)[0] for _ in range(calls)]


def train_reference(corpus: Path, vocab_size: int) -> tuple[float, int]:
    from fastbpe.reference import ReferenceTokenizer

    t0 = time.perf_counter()
    tok = ReferenceTokenizer.train([corpus], vocab_size, special_tokens=SPECIALS)
    return time.perf_counter() - t0, tok.vocab_size


def train_hf(corpus: Path, vocab_size: int, split: bool) -> tuple[float, int]:
    from fastbpe.hf_export import PRETOKENIZER_PATTERN
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    if split:
        tok.normalizer = normalizers.Sequence(
            [normalizers.NFC(), normalizers.Replace(" ", "\u2581")]
        )
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(PRETOKENIZER_PATTERN), "isolated")
    else:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS, show_progress=False
    )
    t0 = time.perf_counter()
    tok.train([str(corpus)], trainer)
    return time.perf_counter() - t0, tok.get_vocab_size()


def train_gigatoken(corpus: Path, vocab_size: int) -> tuple[float, int]:
    import gigatoken

    t0 = time.perf_counter()
    vocab, _merges = gigatoken.train_bpe(str(corpus), vocab_size, SPECIALS)
    return time.perf_counter() - t0, len(vocab)


def train_sentencepiece(corpus: Path, vocab_size: int) -> tuple[float, int]:
    import sentencepiece as spm

    threads = int(os.environ["BENCH_THREADS"])
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=f"{d}/spm",
            model_type="bpe",
            vocab_size=vocab_size,
            num_threads=threads,
            character_coverage=1.0,
            input_sentence_size=0,
            max_sentence_length=1 << 16,
            minloglevel=2,
            user_defined_symbols=[s for s in SPECIALS if s != "[UNK]"],
            unk_piece="[UNK]",
            bos_id=-1,
            eos_id=-1,
        )
        seconds = time.perf_counter() - t0
        sp = spm.SentencePieceProcessor(model_file=f"{d}/spm.model")
        return seconds, sp.get_piece_size()


def worker(args) -> None:
    corpus = Path(args.corpus)
    lib = args.lib
    if lib == "fastbpe":
        seconds, size = train_fastbpe(corpus, args.vocab_size)
    elif lib == "reference":
        seconds, size = train_reference(corpus, args.vocab_size)
    elif lib.startswith("hf-"):
        seconds, size = train_hf(corpus, args.vocab_size, split=lib == "hf-split")
    elif lib == "gigatoken":
        seconds, size = train_gigatoken(corpus, args.vocab_size)
    elif lib == "sentencepiece":
        seconds, size = train_sentencepiece(corpus, args.vocab_size)
    else:
        raise SystemExit(f"unknown library {lib!r}")
    mb = corpus.stat().st_size / 1e6
    result = {"seconds": seconds, "mb_s": mb / seconds, "vocab": size, "note": f"vocab {size}"}
    if lib == "fastbpe" and args.again:
        result["again"] = train_fastbpe_again(corpus, args.vocab_size, args.again)
    emit(result)


def merges_equal(corpus: Path, vocab_size: int) -> str:
    """Train both implementations in-process on the slice and compare (not timed)."""
    from fastbpe import Tokenizer
    from fastbpe.reference import ReferenceTokenizer

    a = Tokenizer.train([corpus], vocab_size, special_tokens=SPECIALS, show_progress=False)
    b = ReferenceTokenizer.train([corpus], vocab_size, special_tokens=SPECIALS)
    same = a.merges == b.merges and a.get_vocab() == b.get_vocab()
    return "identical merges and vocab" if same else "MERGES DIFFER"


# ---- driver ----------------------------------------------------------------------------------


def reference_table(corpus: Path, ref_mb: float, args, header: list[str]) -> Path:
    """fastbpe against the pure-Python reference on the first `ref_mb` MB, one thread;
    returns the slice."""
    small = slice_corpus(corpus, ref_mb)
    ref: dict = {}
    for _ in range(args.repeat):
        for lib in ("fastbpe", "reference"):
            ref.setdefault(lib, []).append(
                run_worker(
                    __file__,
                    [
                        "--lib",
                        lib,
                        "--corpus",
                        str(small),
                        "--vocab-size",
                        str(args.ref_vocab_size),
                        "--again",
                        str(AGAIN),
                    ],
                    1,
                    args.timeout,
                )
            )
    rows = summarize(
        {(k, 1): v for k, v in ref.items()},
        ["fastbpe", "reference"],
        [1],
        "seconds",
        higher_is_better=False,
    )
    print_table(
        f"Rust vs pure-Python reference: vocab {args.ref_vocab_size} on the first "
        f"{small.stat().st_size / 1e6:.1f} MB, 1 thread",
        header,
        rows,
    )
    # The table times each library's first call in a fresh process. On a small slice that
    # includes one-off costs (first touches of new memory, cold caches) that a second call
    # in the same process no longer pays: shown apart, not mixed into the table.
    again = [t for r in ref.get("fastbpe", []) for t in r.get("again", [])]
    refs = [r["seconds"] for r in ref.get("reference", []) if "error" not in r]
    if again and refs:
        best, median = min(again), statistics.median(again)
        print(
            f"fastbpe, {AGAIN} more calls in each of those processes: best {best * 1e3:.1f} ms, "
            f"median {median * 1e3:.1f} ms -> {min(refs) / best:.0f}x the reference's best "
            f"({statistics.median(refs) / median:.0f}x medians)\n",
            flush=True,
        )
    return small


def parity(small: Path, vocab_size: int) -> None:
    try:
        print(f"parity on {small.name}:", merges_equal(small, vocab_size))
    except (ImportError, ValueError, OSError, RuntimeError) as e:  # report, keep the table
        print("parity check failed to run:", e)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=None)
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--repeat", type=int, default=1, help="rounds of alternated runs")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--libs", nargs="+", default=LIBS, choices=LIBS)
    p.add_argument(
        "--ref-mb",
        type=float,
        nargs="+",
        default=[1.0],
        help="slice size(s) for the Rust-vs-reference ratio (0 to skip)",
    )
    p.add_argument("--ref-vocab-size", type=int, default=4000)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--json", type=Path, default=None, help="also write all samples here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--lib", help=argparse.SUPPRESS)
    p.add_argument("--again", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    corpus = (args.corpus or default_corpus()).expanduser().resolve()
    mb = corpus.stat().st_size / 1e6
    print(
        f"# bench_train: {corpus} ({mb:.1f} MB), vocab {args.vocab_size}, threads "
        f"{args.threads}, {args.repeat} round(s); {machine_line()}",
        flush=True,
    )
    samples: dict = {}
    for rnd in range(args.repeat):
        for threads in args.threads:
            order = args.libs if rnd % 2 == 0 else args.libs[::-1]  # alternate the order too
            for lib in order:
                r = run_worker(
                    __file__,
                    ["--lib", lib, "--corpus", str(corpus), "--vocab-size", str(args.vocab_size)],
                    threads,
                    args.timeout,
                )
                samples.setdefault((lib, threads), []).append(r)
                shown = r.get("error") or (
                    f"{r['seconds']:.2f} s, {r['peak_rss_mb']:.0f} MB, cpu {r['cpu_s']:.1f} s"
                )
                print(f"  round {rnd + 1} threads {threads} {lib:14s} {shown}", flush=True)
    header = ["library", "threads", "seconds", "MB/s", "cpu s", "peak RSS MB", "vs fastbpe", "note"]
    rows = summarize(samples, args.libs, args.threads, "seconds", higher_is_better=False)
    print_table(f"Training {args.vocab_size} on {corpus.name} ({mb:.0f} MB)", header, rows)
    for t in args.threads[1:]:
        one = [r for r in samples.get(("fastbpe", args.threads[0]), []) if "error" not in r]
        many = [r for r in samples.get(("fastbpe", t), []) if "error" not in r]
        if one and many:
            speedup = min(r["seconds"] for r in one) / min(r["seconds"] for r in many)
            print(f"fastbpe {t} threads vs {args.threads[0]}: {speedup:.2f}x")

    sizes = [mb for mb in args.ref_mb if mb > 0] if "fastbpe" in args.libs else []
    slices = [reference_table(corpus, mb, args, header) for mb in sizes]
    # In-process, after all timed runs: a big reference run here would inflate the peak RSS
    # that later children report (a forked child's ru_maxrss counts the parent's pages).
    for small in slices:
        parity(small, args.ref_vocab_size)
    if args.json:
        import json

        args.json.write_text(
            json.dumps({f"{k[0]}@{k[1]}": v for k, v in samples.items()}, indent=1)
        )


if __name__ == "__main__":
    main()
