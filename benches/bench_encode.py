"""Encoding benchmark: fastbpe against HF tokenizers, tiktoken, gigatoken and sentencepiece.

    python benches/bench_encode.py [--corpus PATH] [--vocab-size 32000] [--encode-mb 20]
        [--doc-lines 20] [--repeat 3] [--threads 1 2] [--libs ...] [--one-call-per-doc]
        [--steady PARTS]

The text is the first `--encode-mb` MB of the corpus, cut into documents of `--doc-lines`
lines (`--doc-lines 1`: one document per line). Each library encodes the whole batch of
documents in one call, after a warm-up on the first 50 documents; each run is a subprocess
(peak RSS includes the loaded vocabulary). With `--one-call-per-doc`, each library's
single-text call in a Python loop instead (`encode` of fastbpe and gigatoken, tiktoken's
`encode_ordinary`, HF `encode(...).ids`, sentencepiece `encode`): lists of ints, except
gigatoken's numpy array. With `--steady PARTS`, a tokenizer in use for a while: the
documents are dealt into PARTS batches, the first warms it up, the others are timed (new
documents to a warm tokenizer: no first-call costs, few new words), and the median batch is
reported. "vs fastbpe" = fastbpe MB/s / peer MB/s (> 1:
fastbpe is faster). Vocabularies (prepared once, cached under ~/.cache/fastbpe-bench):

- fastbpe: trained by fastbpe on the whole corpus at `--vocab-size`, `encode_batch_flat`.
- hf: the same vocabulary through fastbpe's `tokenizer.json` export (ids checked identical),
  `tokenizers.Tokenizer.encode_batch_fast` (no offsets; `encode_batch` where it is missing).
- tiktoken: the same vocabulary as `mergeable_ranks` (token bytes with `▁` -> space, ranked
  bytes < partial UTF-8 sequences < alphabet < merges in learned order) and the same split
  pattern with a plain space; tiktoken ranks concatenations, not pairs, and does no NFC, so a
  few ids can differ: the agreement is printed. `encode_ordinary_batch(num_threads=N)`.
- gigatoken: cannot load this vocabulary (it needs byte-level BPE or a SentencePiece-style
  normalizer), so its own byte-level BPE trained by `gigatoken.train_bpe` on the same corpus
  at the same size; `Tokenizer.encode_batch`.
- sentencepiece: a BPE model of the same size trained on the first 20 MB (training on all
  of it is slow; the encoding speed hardly depends on it); `encode(num_threads=N)`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CACHE,
    SPECIALS,
    default_corpus,
    emit,
    machine_line,
    print_table,
    run_worker,
    slice_corpus,
    summarize,
)

LIBS = ["fastbpe", "gigatoken", "tiktoken", "hf", "sentencepiece"]
MARKER = "\u2581"
# docs/tokenizer.md section 2 for raw text: a plain space where fastbpe has the marker.
TIKTOKEN_PATTERN = (
    r" ?[\p{L}\p{M}]+| ?\p{N}+| ?[^\p{White_Space}\p{Cc}\p{L}\p{M}\p{N}]+"
    r"| +(?![^\p{White_Space}\p{Cc}])|(?s:.)"
)


def load_docs(corpus: Path, megabytes: float, doc_lines: int) -> list[str]:
    text = slice_corpus(corpus, megabytes).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    return ["".join(lines[i : i + doc_lines]) for i in range(0, len(lines), doc_lines)]


# ---- vocabularies (prepared in the parent, cached) -------------------------------------------


def prepare(corpus: Path, vocab_size: int) -> Path:
    key = f"{corpus.stem}.{corpus.stat().st_size}.{vocab_size}"
    root = CACHE / "encode" / key
    fb = root / "fastbpe"
    if not (fb / "tokenizer.json").exists():
        from fastbpe import Tokenizer
        from fastbpe.hf_export import to_hf_tokenizer_json

        t0 = time.perf_counter()
        tok = Tokenizer.train([corpus], vocab_size, special_tokens=SPECIALS, show_progress=False)
        tok.save(fb)
        (fb / "tokenizer.json").write_text(to_hf_tokenizer_json(tok), encoding="utf-8")
        print(f"  prepared fastbpe vocabulary in {time.perf_counter() - t0:.1f} s", flush=True)
    gt = root / "gigatoken.json"
    if not gt.exists():
        import gigatoken

        vocab, merges = gigatoken.train_bpe(str(corpus), vocab_size, SPECIALS)
        gt.write_text(byte_level_json(vocab, merges), encoding="utf-8")
    sp = root / "spm.model"
    if not sp.exists():
        import sentencepiece as spm

        spm.SentencePieceTrainer.train(
            input=str(slice_corpus(corpus, 20)),
            model_prefix=str(root / "spm"),
            model_type="bpe",
            vocab_size=vocab_size,
            character_coverage=1.0,
            input_sentence_size=0,
            max_sentence_length=1 << 16,
            minloglevel=2,
            num_threads=os.cpu_count() or 1,
            user_defined_symbols=[s for s in SPECIALS if s != "[UNK]"],
            unk_piece="[UNK]",
            bos_id=-1,
            eos_id=-1,
        )
    return root


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-ins for bytes, used by byte-level tokenizer.json files."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


def byte_level_json(vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]]) -> str:
    b2u = bytes_to_unicode()

    def enc(bs: bytes) -> str:
        return "".join(b2u[b] for b in bs)

    model_vocab, added = {}, []
    for i, tok in sorted(vocab.items()):
        if tok.decode("utf-8", "replace") in SPECIALS and i >= 256:
            added.append(
                {
                    "id": i,
                    "content": tok.decode(),
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "special": True,
                }
            )
            model_vocab[tok.decode()] = i
        else:
            model_vocab[enc(tok)] = i
    data = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": model_vocab,
            "merges": [[enc(a), enc(b)] for a, b in merges],
        },
    }
    return json.dumps(data, ensure_ascii=False)


def tiktoken_encoding(fastbpe_dir: Path):
    """A tiktoken Encoding over fastbpe's vocabulary; returns (encoding, rank -> fastbpe id)."""
    import tiktoken

    vocab = json.loads((fastbpe_dir / "vocab.json").read_text(encoding="utf-8"))
    lines = (fastbpe_dir / "merges.txt").read_text(encoding="utf-8").split("\n")[1:]
    merges = [ln.split(" ") for ln in lines if ln]

    def raw(s: str) -> bytes:
        return s.replace(MARKER, " ").encode()

    ranks = {bytes([b]): b for b in range(256)}
    alphabet = [
        t
        for t, i in sorted(vocab.items(), key=lambda kv: kv[1])
        if len(t) == 1 and t not in SPECIALS
    ]
    for ch in alphabet:  # partial UTF-8 sequences, so that every character can be formed
        bs = raw(ch)
        for k in range(2, len(bs) + 1):
            ranks.setdefault(bs[:k], len(ranks))
    for a, b in merges:
        ranks.setdefault(raw(a + b), len(ranks))
    to_id = {}
    for tok, i in vocab.items():
        r = ranks.get(raw(tok))
        if r is not None and tok not in SPECIALS:
            to_id[r] = i
    enc = tiktoken.Encoding(
        "fastbpe", pat_str=TIKTOKEN_PATTERN, mergeable_ranks=ranks, special_tokens={}
    )
    return enc, to_id


# ---- workers -----------------------------------------------------------------------------------


def make_encoder(lib: str, root: Path, threads: int, one_call_per_doc: bool = False):
    """A function docs -> (anything), ready and warm-up-able: the library's batch call, or
    with `one_call_per_doc` its single-text call in a Python loop."""
    batch, one = make_calls(lib, root, threads)
    if one_call_per_doc:
        return lambda docs: [one(d) for d in docs]
    return batch


def make_calls(lib: str, root: Path, threads: int):
    """(batch call, single-text call) of a library, each the fastest it documents."""
    if lib == "fastbpe":
        from fastbpe import Tokenizer

        tok = Tokenizer.load(root / "fastbpe")
        return tok.encode_batch_flat, tok.encode
    if lib == "hf":
        import tokenizers

        tok = tokenizers.Tokenizer.from_file(str(root / "fastbpe" / "tokenizer.json"))
        one = lambda d: tok.encode(d, add_special_tokens=False).ids  # noqa: E731
        if hasattr(tok, "encode_batch_fast"):
            return lambda docs: tok.encode_batch_fast(docs, add_special_tokens=False), one
        return lambda docs: tok.encode_batch(docs, add_special_tokens=False), one
    if lib == "tiktoken":
        enc, _ = tiktoken_encoding(root / "fastbpe")
        batch = lambda docs: enc.encode_ordinary_batch(docs, num_threads=threads)  # noqa: E731
        return batch, enc.encode_ordinary
    if lib == "gigatoken":
        import gigatoken

        tok = gigatoken.Tokenizer.from_json((root / "gigatoken.json").read_text("utf-8"))
        return tok.encode_batch, tok.encode
    if lib == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(root / "spm.model"))
        one = lambda d: sp.encode(d, out_type=int)  # noqa: E731
        return lambda docs: sp.encode(docs, out_type=int, num_threads=threads), one
    raise SystemExit(f"unknown library {lib!r}")


def worker(args) -> None:
    threads = int(os.environ["BENCH_THREADS"])
    docs = load_docs(Path(args.corpus), args.encode_mb, args.doc_lines)
    nbytes = sum(len(d.encode()) for d in docs)
    if args.lib == "parity":
        return emit(parity(Path(args.root), docs[:300]))
    encode = make_encoder(args.lib, Path(args.root), threads, args.one_call_per_doc)
    if args.steady:
        return emit(steady(encode, docs, args.steady))
    encode(docs[:50])  # warm-up: caches, thread pool, lazy initialisation
    t0 = time.perf_counter()
    encode(docs)
    seconds = time.perf_counter() - t0
    emit({"seconds": seconds, "mb_s": nbytes / 1e6 / seconds})


def steady(encode, docs: list[str], parts: int) -> dict:
    """A tokenizer in use for a while: the documents dealt into `parts` disjoint batches; the
    first warms the tokenizer up, and the others (new documents, mostly known words) are
    timed one after another. The result is the median batch."""
    batches = [docs[k::parts] for k in range(parts)]
    encode(batches[0])
    rates, seconds = [], []
    for batch in batches[1:]:
        nbytes = sum(len(d.encode()) for d in batch)
        t0 = time.perf_counter()
        encode(batch)
        seconds.append(time.perf_counter() - t0)
        rates.append(nbytes / 1e6 / seconds[-1])
    k = sorted(range(len(rates)), key=rates.__getitem__)[len(rates) // 2]
    return {
        "seconds": seconds[k],
        "mb_s": rates[k],
        "note": f"batches {min(rates):.0f}-{max(rates):.0f} MB/s",
    }


def parity(root: Path, docs: list[str]) -> dict:
    """fastbpe ids vs the HF export (must be equal) and vs tiktoken over the same ranks."""
    import tokenizers
    from fastbpe import Tokenizer

    tok = Tokenizer.load(root / "fastbpe")
    ours = [tok.encode(d) for d in docs]
    hf = tokenizers.Tokenizer.from_file(str(root / "fastbpe" / "tokenizer.json"))
    hf_same = sum(e.ids == o for e, o in zip(hf.encode_batch(docs, add_special_tokens=False), ours))
    enc, to_id = tiktoken_encoding(root / "fastbpe")
    tt = [[to_id.get(r, -1) for r in enc.encode_ordinary(d.replace(MARKER, " "))] for d in docs]
    tt_same = sum(a == o for a, o in zip(tt, ours))
    return {"docs": len(docs), "hf_identical": hf_same, "tiktoken_identical": tt_same}


# ---- driver ------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=None)
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--encode-mb", type=float, default=20.0)
    p.add_argument("--doc-lines", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--libs", nargs="+", default=LIBS, choices=LIBS)
    p.add_argument(
        "--one-call-per-doc",
        action="store_true",
        help="time each library's single-text call in a Python loop instead of its batch call "
        "(use --threads 1: the single-text calls run on the calling thread)",
    )
    p.add_argument(
        "--steady",
        type=int,
        default=0,
        metavar="PARTS",
        help="a tokenizer in use: deal the documents into PARTS batches, warm up on the first, "
        "time the others (new documents to a warm tokenizer), report the median batch",
    )
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--lib", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.steady == 1 or args.steady < 0:
        p.error(f"--steady needs at least 2 parts (one to warm up, one to time), got {args.steady}")
    if args.worker:
        return worker(args)

    corpus = (args.corpus or default_corpus()).expanduser().resolve()
    root = prepare(corpus, args.vocab_size)
    common = [
        "--corpus",
        str(corpus),
        "--root",
        str(root),
        "--encode-mb",
        str(args.encode_mb),
        "--doc-lines",
        str(args.doc_lines),
        *(["--one-call-per-doc"] if args.one_call_per_doc else []),
        *(["--steady", str(args.steady)] if args.steady else []),
    ]
    # Not load_docs here: the parent's peak RSS would be inherited by every worker's
    # ru_maxrss across fork+exec. The slice file holds exactly the documents' bytes.
    data = slice_corpus(corpus, args.encode_mb).read_bytes()
    mb, ndocs = len(data) / 1e6, -(-data.count(b"\n") // args.doc_lines)
    del data
    print(
        f"# bench_encode: {mb:.1f} MB of {corpus} in {ndocs} documents of "
        f"{args.doc_lines} lines, vocab {args.vocab_size}, threads {args.threads}, "
        f"{args.repeat} round(s); {machine_line()}",
        flush=True,
    )
    samples: dict = {}
    for rnd in range(args.repeat):
        for threads in args.threads:
            order = args.libs if rnd % 2 == 0 else args.libs[::-1]
            for lib in order:
                r = run_worker(__file__, ["--lib", lib, *common], threads, args.timeout)
                samples.setdefault((lib, threads), []).append(r)
                shown = r.get("error") or (
                    f"{r['mb_s']:.1f} MB/s, {r['peak_rss_mb']:.0f} MB, cpu {r['cpu_s']:.1f} s"
                )
                print(f"  round {rnd + 1} threads {threads} {lib:14s} {shown}", flush=True)
    header = ["library", "threads", "seconds", "MB/s", "cpu s", "peak RSS MB", "vs fastbpe", "note"]
    rows = summarize(samples, args.libs, args.threads, "mb_s", higher_is_better=True)
    how = ", one call per document" if args.one_call_per_doc else ""
    if args.steady:
        how += f", steady: median of {args.steady - 1} batches after a warm-up batch"
    print_table(
        f"Encoding {mb:.0f} MB ({args.doc_lines}-line documents{how}), vocab {args.vocab_size}",
        header,
        rows,
    )
    for lib in args.libs:
        runs = {
            t: [r["mb_s"] for r in samples.get((lib, t), []) if "error" not in r]
            for t in args.threads
        }
        if len(runs) > 1 and all(runs.values()):
            t0, *rest = args.threads
            # best runs, and medians (steadier on a noisy machine)
            print(
                f"{lib}: "
                + ", ".join(
                    f"{t} threads {max(runs[t]) / max(runs[t0]):.2f}x of {t0} "
                    f"(medians {statistics.median(runs[t]) / statistics.median(runs[t0]):.2f}x)"
                    for t in rest
                )
            )
    if "fastbpe" in args.libs:
        r = run_worker(__file__, ["--lib", "parity", *common], 1, args.timeout)
        print(
            f"ids on the first {r.get('docs')} documents: HF export identical in "
            f"{r.get('hf_identical')}, tiktoken (same ranks) identical in "
            f"{r.get('tiktoken_identical')}"
            if "error" not in r
            else r["error"]
        )


if __name__ == "__main__":
    main()
