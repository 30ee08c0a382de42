"""The `fastbpe` command line: `train`, `encode`, `decode`, `info` (docs/cli.md).

    python -m fastbpe train corpus.txt --vocab-size 8000 -o tok/
    python -m fastbpe encode -t tok/ "Merhaba dünya"
    python -m fastbpe decode -t tok/ 812 95 4031
    python -m fastbpe info -t tok/

Exit codes: 0 success, 1 runtime failure (an unreadable input, a corrupt tokenizer
directory, an unknown id), 2 usage error (argparse: a bad option or number, a missing
argument). Runtime failures print one line, `fastbpe: error: ...`, to stderr, never a
traceback. Outputs (`encode -o`) are written to a temporary file and renamed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from fastbpe.tokenizer import Tokenizer

PROG = "fastbpe"
SAMPLE_TEXT = 'Merhaba dünya! Tokenizers split words like "unbelievable" into pieces.'
BATCH_LINES = 4096  # inputs per encode batch: bounded memory, still enough for parallelism
STDIN_CHUNK = 1 << 20  # bytes of stdin per training text (cut after a newline)


class CLIError(Exception):
    """A runtime failure with a message for the user (exit code 1)."""


# ----------------------------------------------------------------------------------------
# argument types: a bad value is a usage error (exit 2) with argparse's message


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {n}")
        return n

    parse.__name__ = "integer"
    return parse


def _ids_argument(value: str) -> list[int]:
    """One command-line argument of `decode`: ids separated by spaces or commas."""
    try:
        return _parse_ids(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parse_ids(text: str) -> list[int]:
    """'12 7,9' or a JSON array '[12, 7, 9]' or encode --json's '{"ids": [...]}' -> ids."""
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"invalid JSON: {e.msg}") from None
        items = data.get("ids") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError('expected a JSON array of ids or an object with "ids"')
    else:
        items = text.replace(",", " ").split()
    ids = []
    for item in items:
        try:
            i = int(item) if not isinstance(item, (bool, float)) else None
        except ValueError:
            i = None
        if i is None or i < 0:
            raise ValueError(f"{item!r} is not a token id (a non-negative integer)")
        ids.append(i)
    return ids


# ----------------------------------------------------------------------------------------
# reading inputs


def _stdin_bytes() -> IO[bytes]:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    import io  # a text-only stdin (some embedding hosts): re-encode it

    return io.BytesIO(sys.stdin.read().encode("utf-8"))


def _decode_utf8(data: bytes, location: str, offset: int = 0) -> str:
    """UTF-8 -> str; an error names the location and the byte (data starts at `offset`)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CLIError(
            f"{location}: invalid UTF-8 at byte {offset + e.start}; convert the input to UTF-8"
        ) from None


def _stdin_texts() -> Iterator[str]:
    """Stdin in chunks of about STDIN_CHUNK bytes, each cut just after a newline.

    A newline is always a word of its own (docs/tokenizer.md section 2) and never composes
    under NFC, so the cuts change no word: training on stdin equals training on the file.
    """
    stream = _stdin_bytes()
    done, buf = 0, bytearray()  # bytes already yielded, the unfinished line(s)
    while block := stream.read(STDIN_CHUNK):
        cut = block.rfind(b"\n") + 1
        if not cut:
            buf += block  # a line longer than a chunk grows the buffer
            continue
        buf += block[:cut]
        yield _decode_utf8(bytes(buf), "<stdin>", done)
        done, buf = done + len(buf), bytearray(block[cut:])
    if buf:
        yield _decode_utf8(bytes(buf), "<stdin>", done)


def _corpus_files(inputs: Sequence[str]) -> list[Path]:
    """Training inputs as paths; the library expands a directory to its *.txt files."""
    for name in inputs:
        if not os.path.exists(name):
            raise CLIError(f"{name}: no such file or directory")
    return [Path(name) for name in inputs]


def _lines(name: str, stream: IO[bytes]) -> Iterator[str]:
    """The lines of a UTF-8 stream without their line ending (\\n or \\r\\n)."""
    for lineno, raw in enumerate(stream, start=1):
        line = _decode_utf8(raw, f"{name}:{lineno}")  # the byte within the line
        if line.endswith("\n"):
            line = line[:-2] if line.endswith("\r\n") else line[:-1]
        yield line


def _inputs(files: Sequence[str], *, whole: bool) -> Iterator[str]:
    """Texts from files ('-' is stdin): one per line, or one per file with `whole`."""
    for name in files:
        if name == "-":
            if whole:
                yield "".join(_stdin_texts())
            else:
                yield from _lines("<stdin>", _stdin_bytes())
            continue
        with open(name, "rb") as f:
            if whole:
                yield _decode_utf8(f.read(), name)
            else:
                yield from _lines(name, f)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _load(directory: str) -> Any:
    path = Path(directory)
    if not path.exists():
        raise CLIError(
            f"{directory}: no such tokenizer directory "
            f"(create one with `{PROG} train FILE -o {directory}`)"
        )
    if not path.is_dir():
        raise CLIError(
            f"{directory}: not a directory; pass the folder that `{PROG} train -o` wrote"
        )
    return Tokenizer.load(path)


def _show(token: str | None) -> str:
    """A token for display: `▁` stays visible, control and space characters are escaped."""
    if token is None:
        return "<?>"
    return "".join(
        ch if ch.isprintable() and ch != " " else ch.encode("unicode_escape").decode("ascii")
        for ch in token
    )


def _option_names(message: str) -> str:
    """'vocab_size=60 ... limit_alphabet=...' -> '--vocab-size 60 ... --limit-alphabet ...'."""
    names = "vocab_size|min_frequency|limit_alphabet|special_tokens|lowercase|strip_accents|nfkc"
    return re.sub(
        rf"\b({names})(=?)",
        lambda m: "--" + m[1].replace("_", "-") + (" " if m[2] else ""),
        message,
    )


def _note(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def _atomic_save_npy(path: Path, array: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _offsets_path(npy: Path) -> Path:
    """out.npy -> out.offsets.npy (the layout bertmlm's token shards use)."""
    return npy.with_name(npy.name[: -len(".npy")] + ".offsets.npy")


# ----------------------------------------------------------------------------------------
# the commands


def cmd_train(args: argparse.Namespace) -> int:
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise CLIError(f"{args.output}: exists and is not a directory; -o names a directory")
    inputs: Iterable[str] | list[Path]
    if "-" in args.inputs:
        if args.inputs != ["-"]:
            args.parser.error("'-' (stdin) cannot be combined with files")
        if sys.stdin is None or sys.stdin.isatty():
            args.parser.error(
                "'-' reads the corpus from stdin, but stdin is a terminal; "
                "pipe text in or name files"
            )
        inputs = _stdin_texts()
    else:
        inputs = _corpus_files(args.inputs)
    options: dict[str, Any] = {
        "min_frequency": args.min_frequency,
        "limit_alphabet": args.limit_alphabet,
        "show_progress": not args.quiet,
        "lowercase": args.lowercase,
        "strip_accents": args.strip_accents,
        "nfkc": args.nfkc,
    }
    if args.special_tokens is not None:
        options["special_tokens"] = [s for s in args.special_tokens.split(",") if s]
    if args.extend:
        initial = _load(args.extend)
        if args.byte_fallback and not initial.byte_fallback:
            raise CLIError(
                f"--byte-fallback: the tokenizer in {args.extend} has no byte "
                "fallback, and extending keeps its setting; train a new one instead"
            )
        options["initial"] = initial
        options["byte_fallback"] = initial.byte_fallback
    else:
        options["byte_fallback"] = args.byte_fallback
    start = time.perf_counter()
    try:
        tok = Tokenizer.train(inputs, args.vocab_size, **options)
    except ValueError as e:  # the library names its arguments; name our options instead
        raise CLIError(_option_names(str(e))) from None
    tok.save(args.output)
    _note(
        args,
        f"trained {tok.vocab_size} tokens ({len(tok.merges)} merges) in "
        f"{time.perf_counter() - start:.1f} s; saved to {args.output}",
    )
    if tok.vocab_size < args.vocab_size:
        _note(
            args,
            f"note: fewer than --vocab-size {args.vocab_size} tokens: no pair is left that "
            f"occurs --min-frequency {args.min_frequency} times; add text or lower --min-frequency",
        )
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    if args.text and args.file:
        args.parser.error("give TEXT arguments or --file, not both")
    if args.output is not None and not args.output.endswith(".npy"):
        args.parser.error(f"-o/--output must end in .npy, got {args.output!r}")
    files = args.file or ([] if args.text else ["-"])
    if "-" in files and (sys.stdin is None or sys.stdin.isatty()):
        args.parser.error("no input: give TEXT arguments or --file, or pipe text to stdin")
    if args.output is not None and not Path(args.output).resolve().parent.is_dir():
        raise CLIError(f"{Path(args.output).parent}: no such directory for -o")
    tok = _load(args.tokenizer)
    texts = iter(args.text) if args.text else _inputs(files, whole=args.whole_files)
    special = not args.no_special_tokens
    if args.output is None:
        for batch in _batches(texts, BATCH_LINES):
            ids, offsets = tok.encode_batch_flat(batch, special_tokens=special)
            ids = ids.tolist()
            out = []
            for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
                seq = ids[a:b]
                if args.json:
                    tokens = [tok.id_to_token(i) for i in seq]
                    out.append(json.dumps({"ids": seq, "tokens": tokens}, ensure_ascii=False))
                elif args.tokens:
                    out.append(" ".join(_show(tok.id_to_token(i)) for i in seq))
                else:
                    out.append(" ".join(map(str, seq)))
            sys.stdout.write("\n".join(out) + "\n")
        return 0

    chunks, lengths = [], []
    for batch in _batches(texts, BATCH_LINES):
        ids, offsets = tok.encode_batch_flat(batch, special_tokens=special)
        chunks.append(np.asarray(ids, dtype=np.uint32))
        lengths.append(np.diff(np.asarray(offsets, dtype=np.int64)))
    flat = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint32)
    offsets = np.zeros(sum(len(x) for x in lengths) + 1, dtype=np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    path = Path(args.output)
    _atomic_save_npy(path, flat)
    _atomic_save_npy(_offsets_path(path), offsets)
    _note(
        args,
        f"wrote {len(flat)} tokens of {len(offsets) - 1} inputs to {path} "
        f"(offsets: {_offsets_path(path)})",
    )
    return 0


def _load_npy(path: Path, mmap_mode: Literal["r"] | None = None) -> Any:
    try:
        return np.load(path, allow_pickle=False, mmap_mode=mmap_mode)
    except ValueError:  # not a .npy file, or one holding Python objects
        raise CLIError(f"{path}: not a .npy token file (as `{PROG} encode -o` writes)") from None


def _npy_sequences(name: str) -> Iterator[list[int]]:
    """The documents of a token file from `encode -o`: ids cut at the offsets beside it."""
    path = Path(name)
    ids = _load_npy(path, mmap_mode="r")
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise CLIError(
            f"{name}: expected a 1-D integer array, got {ids.dtype} of shape {ids.shape}"
        )
    offsets_path = _offsets_path(path)
    if offsets_path.exists():
        offsets = _load_npy(offsets_path)
        if (
            offsets.ndim != 1
            or len(offsets) == 0
            or offsets[0] != 0
            or offsets[-1] != len(ids)
            or np.any(np.diff(offsets) < 0)
        ):
            raise CLIError(
                f"{offsets_path}: not the offsets of {name} (expected 0 ... "
                f"{len(ids)}, non-decreasing)"
            )
    else:
        offsets = np.array([0, len(ids)])
    for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
        yield ids[a:b].tolist()


def _text_sequences(files: Sequence[str]) -> Iterator[list[int]]:
    for name in files:
        stream = _stdin_bytes() if name == "-" else open(name, "rb")  # noqa: SIM115
        label = "<stdin>" if name == "-" else name
        try:
            for lineno, line in enumerate(_lines(label, stream), start=1):
                try:
                    yield _parse_ids(line)
                except ValueError as e:
                    raise CLIError(f"{label}:{lineno}: {e}") from None
        finally:
            if name != "-":
                stream.close()


def cmd_decode(args: argparse.Namespace) -> int:
    sources = sum(bool(x) for x in (args.ids, args.file, args.npy))
    if sources > 1:
        args.parser.error("give ids as arguments, --file or --npy, not several")
    files = args.file or ["-"]
    if not args.ids and not args.npy and "-" in files and (sys.stdin is None or sys.stdin.isatty()):
        args.parser.error("no input: give ids as arguments, --file or --npy, or pipe ids to stdin")
    tok = _load(args.tokenizer)
    if args.ids:
        sequences: Iterable[list[int]] = [[i for group in args.ids for i in group]]
    elif args.npy:
        sequences = _npy_sequences(args.npy)
    else:
        sequences = _text_sequences(files)
    skip = {tok.token_to_id(s) for s in tok.special_tokens} if args.skip_special_tokens else set()
    for batch in _batches(sequences, BATCH_LINES):
        if skip:
            batch = [[i for i in seq if i not in skip] for seq in batch]
        texts = tok.decode_batch(batch)
        sys.stdout.write("".join(t + "\n" for t in texts))
    return 0


def _normalization(tok: Tokenizer) -> dict[str, Any]:
    return {"lowercase": tok.lowercase, "strip_accents": tok.strip_accents, "nfkc": tok.nfkc}


def _describe_normalization(tok: Tokenizer) -> str:
    """'NFC', 'NFKC, lowercase (tr), strip accents', ..."""
    parts = ["NFKC" if tok.nfkc else "NFC"]
    if tok.lowercase:
        parts.append(f"lowercase ({tok.lowercase})")
    if tok.strip_accents:
        parts.append("strip accents")
    return ", ".join(parts)


def cmd_info(args: argparse.Namespace) -> int:
    tok = _load(args.tokenizer)
    text = SAMPLE_TEXT if args.text is None else args.text
    ids = tok.encode(text)
    tokens = [tok.id_to_token(i) for i in ids]
    specials = {s: tok.token_to_id(s) for s in tok.special_tokens}
    if args.json:
        print(
            json.dumps(
                {
                    "tokenizer": args.tokenizer,
                    "vocab_size": tok.vocab_size,
                    "merges": len(tok.merges),
                    "special_tokens": specials,
                    "byte_fallback": tok.byte_fallback,
                    "normalization": _normalization(tok),
                    "sample": {"text": text, "ids": ids, "tokens": tokens},
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    rows = [
        ("tokenizer", args.tokenizer),
        ("vocab size", str(tok.vocab_size)),
        ("merges", str(len(tok.merges))),
        ("special tokens", " ".join(f"{s}={i}" for s, i in specials.items())),
        ("byte fallback", "yes" if tok.byte_fallback else "no"),
        ("normalization", _describe_normalization(tok)),
        ("sample text", text),
        (f"tokens ({len(ids)})", " ".join(_show(t) for t in tokens)),
        ("ids", " ".join(map(str, ids))),
    ]
    width = max(len(name) for name, _ in rows) + 1
    for name, value in rows:
        print(f"{name + ':':<{width}} {value}")
    return 0


# ----------------------------------------------------------------------------------------
# the parser


def _subparser(
    sub: Any,
    name: str,
    help: str,
    description: str,
    epilog: str,
    func: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=func, parser=p)
    return p


def _tokenizer_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-t",
        "--tokenizer",
        required=True,
        metavar="DIR",
        help="tokenizer directory (written by `fastbpe train -o DIR`)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a BPE tokenizer and turn text into token ids and back.",
        epilog="""examples:
  fastbpe train corpus.txt --vocab-size 8000 -o tok/
  fastbpe encode -t tok/ "Merhaba dünya"
  fastbpe decode -t tok/ 812 95 4031
  fastbpe info -t tok/

Run `fastbpe COMMAND --help` for the options of a command. Exit codes: 0 ok,
1 runtime failure, 2 usage error. Reference: docs/cli.md.""",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _subparser(
        sub,
        "train",
        "learn a tokenizer from text files or stdin",
        "Learn a BPE tokenizer from UTF-8 text and save it to a directory\n"
        "(vocab.json, merges.txt, fastbpe.json, tokenizer.json).",
        """examples:
  fastbpe train corpus.txt --vocab-size 8000 -o tok/
  fastbpe train data/ --vocab-size 32000 --byte-fallback -o tok/     # *.txt under data/
  zcat corpus.txt.gz | fastbpe train - --vocab-size 8000 -o tok/      # from stdin
  fastbpe train more.txt --extend tok/ --vocab-size 12000 -o tok2/   # keep tok/'s ids
  fastbpe train tr.txt -o tok/ --lowercase tr --strip-accents       # Turkish casing

A directory stands for every *.txt file under it (recursively, in sorted order).
The result does not depend on how the text is split into files.""",
        cmd_train,
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="text file or directory; '-' reads stdin"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="directory to save the tokenizer in (created if missing)",
    )
    p.add_argument(
        "--vocab-size",
        type=_int_at_least(1),
        default=8000,
        metavar="N",
        help="final vocabulary size, special and byte tokens included (default: %(default)s)",
    )
    p.add_argument(
        "--min-frequency",
        type=_int_at_least(1),
        default=2,
        metavar="N",
        help="stop when the best pair occurs fewer than N times (default: %(default)s)",
    )
    p.add_argument(
        "--byte-fallback",
        action="store_true",
        help="add the 256 byte tokens <0x00>..<0xFF>, so any text encodes without [UNK]",
    )
    p.add_argument(
        "--special-tokens",
        metavar="LIST",
        help="comma-separated special tokens, ids in this order; must contain "
        "[UNK] (default: [PAD],[UNK],[CLS],[SEP],[MASK])",
    )
    p.add_argument(
        "--limit-alphabet",
        type=_int_at_least(0),
        metavar="N",
        help="keep only the N most frequent new characters in the alphabet",
    )
    p.add_argument(
        "--lowercase",
        nargs="?",
        const="default",
        choices=["default", "tr"],
        help="lowercase the text: Unicode's mapping, or with 'tr' the Turkish rule "
        "(İ -> i, I -> ı); put it after the inputs or write --lowercase=tr",
    )
    p.add_argument(
        "--strip-accents",
        action="store_true",
        help="remove accents (combining marks after NFD): café -> cafe",
    )
    p.add_argument(
        "--nfkc",
        action="store_true",
        help="NFKC instead of NFC normalisation: ﬁ -> fi, full-width １ -> 1",
    )
    p.add_argument(
        "--extend",
        metavar="DIR",
        help="start from this tokenizer: its ids and merges are kept, new "
        "characters and merges are added up to --vocab-size",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary line")

    p = _subparser(
        sub,
        "encode",
        "turn text into token ids",
        "Encode text to token ids: one output line per input, ids separated by\n"
        "spaces. Inputs are the TEXT arguments, else the lines of --file, else the\n"
        "lines of stdin.",
        """examples:
  fastbpe encode -t tok/ "Merhaba dünya" "second input"
  fastbpe encode -t tok/ --json "The [MASK] is red."
  fastbpe encode -t tok/ --tokens "The [MASK] is red."   # token strings, not ids
  fastbpe encode -t tok/ --file a.txt b.txt > ids.txt
  cat a.txt | fastbpe encode -t tok/
  fastbpe encode -t tok/ --file a.txt -o a.npy     # writes a.npy and a.offsets.npy

With -o OUT.npy the ids of all inputs go into OUT.npy, one flat uint32 array, and
OUT.offsets.npy (int64, inputs + 1 entries) holds where each input starts: the ids
of input k are ids[offsets[k]:offsets[k + 1]].""",
        cmd_encode,
    )
    _tokenizer_option(p)
    p.add_argument("text", nargs="*", metavar="TEXT", help="text to encode (one input each)")
    p.add_argument(
        "-f",
        "--file",
        nargs="+",
        metavar="PATH",
        help="UTF-8 files to encode, one input per line ('-' is stdin)",
    )
    p.add_argument(
        "--whole-files",
        action="store_true",
        help="each file (or all of stdin) is one input instead of each line",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object per input: {"ids": [...], "tokens": [...]}',
    )
    mode.add_argument(
        "--tokens",
        action="store_true",
        help="print the tokens instead of the ids (`▁` is a space; \\n etc. are escaped)",
    )
    mode.add_argument(
        "-o",
        "--output",
        metavar="OUT.npy",
        help="write OUT.npy (uint32 ids) and OUT.offsets.npy instead of printing",
    )
    p.add_argument(
        "--no-special-tokens",
        action="store_true",
        help="treat special tokens written in the text, like [MASK], as plain text",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line for -o")

    p = _subparser(
        sub,
        "decode",
        "turn token ids back into text",
        "Decode token ids to text. The ID arguments form one sequence; otherwise\n"
        "each line of --file or stdin is one sequence (ids separated by spaces or\n"
        "commas, or the JSON that `encode --json` prints), or each input of a\n"
        "token file from `encode -o`. One output line per sequence.",
        """examples:
  fastbpe decode -t tok/ 812 95 4031
  fastbpe encode -t tok/ "Merhaba dünya" | fastbpe decode -t tok/
  fastbpe decode -t tok/ --npy a.npy            # uses a.offsets.npy when present
  fastbpe decode -t tok/ --skip-special-tokens 2 812 95 3""",
        cmd_decode,
    )
    _tokenizer_option(p)
    p.add_argument(
        "ids",
        nargs="*",
        type=_ids_argument,
        metavar="ID",
        help="token ids (spaces or commas between them)",
    )
    p.add_argument(
        "-f",
        "--file",
        nargs="+",
        metavar="PATH",
        help="text files of ids, one sequence per line ('-' is stdin)",
    )
    p.add_argument("--npy", metavar="PATH", help="a token file written by `encode -o`")
    p.add_argument(
        "--skip-special-tokens",
        action="store_true",
        help="leave out special tokens such as [CLS] and [PAD]",
    )

    p = _subparser(
        sub,
        "info",
        "show a tokenizer's size, special tokens and a sample",
        "Show the vocabulary size, number of merges, special tokens with their\n"
        "ids, byte fallback, and how a sample sentence is tokenised.",
        """examples:
  fastbpe info -t tok/
  fastbpe info -t tok/ --text "Kitaplarımızdan biri"
  fastbpe info -t tok/ --json""",
        cmd_info,
    )
    _tokenizer_option(p)
    p.add_argument("--text", help="the sample sentence to tokenise (default: a built-in one)")
    p.add_argument("--json", action="store_true", help="print the information as JSON")
    return parser


def _version() -> str:
    try:
        from fastbpe import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover - only without the native module
        return "unknown"


def _message(e: BaseException) -> str:
    """One line for the user from a library exception."""
    if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        text = e.args[0]  # str(KeyError) would wrap the message in quotes
    elif isinstance(e, OSError) and e.strerror and e.filename is not None:
        text = f"{os.fsdecode(e.filename)}: {e.strerror}"
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split("\n"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 runtime failure, 2 usage)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    try:
        return int(args.func(args))
    except SystemExit as e:  # args.parser.error() after parsing
        return e.code if isinstance(e.code, int) else 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining
        # again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except (CLIError, KeyError, ValueError, OSError) as e:  # UnicodeDecodeError is a ValueError
        print(f"{PROG}: error: {_message(e)}", file=sys.stderr)
        return 1
