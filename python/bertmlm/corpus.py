"""Corpus discovery and streaming: text documents from files, or the built-in default corpus.

`--corpus PATH ...` accepts files, directories (searched recursively) and glob patterns. Readable
formats, chosen by file name:

- `.txt` (and `.txt.gz`): a *document* is a paragraph, a run of non-blank lines; its lines are
  joined with "\\n". With `unit="line"` (pretrain's `--line-by-line`) every non-blank line is a
  document of its own.
- `.jsonl` (and `.jsonl.gz`): one JSON object per line; its `text` field is the document
  (with `unit="line"`, each non-blank line of that text is one).
- `.gz` of anything else is read as `.txt`.

Files are read line by line, so a corpus is never held in memory whole; a paragraph longer than
`MAX_DOC_CHARS` is cut into several documents so that one unbroken file cannot either. Files must
be UTF-8: a file that is not raises CorpusError naming it and the byte offset of the first bad byte.

The default corpus (no `--corpus`) is English prose extracted at run time from documentation that
ships with Python and the installed dependencies: `pydoc_data.topics` (the language reference behind `help()`) and the
docstrings of the standard library's modules (a sorted list, `sys.stdlib_module_names`, plus their
submodules) and of numpy's, matplotlib's and torch's public modules. Lines that look like code (doctests, indented blocks,
symbol-heavy lines) are dropped and paragraphs are reflowed to one line each. The extraction runs
in a child process (so the hundreds of imports it needs never touch the training process), takes a
few seconds, is deterministic for one Python and set of dependency versions, and is cached as a `.txt` under
`cache_dir()` (`$BERTMLM_CACHE`, else `$XDG_CACHE_HOME/bertmlm`, else `~/.cache/bertmlm`). No
network access.
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

SUFFIXES = (".txt", ".jsonl", ".gz")
MAX_DOC_CHARS = 1 << 20  # a "paragraph" longer than this (1 MiB) is split into several documents
DEFAULT_CORPUS_VERSION = 1  # bump when the extraction or cleaning changes (it is in the cache name)


class CorpusError(ValueError):
    """A corpus that cannot be used; the message says what is wrong and how to fix it."""


# ------------------------------------------------------------------------------------------------
# discovery


def resolve_corpus(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files, directories (recursive) and globs into a sorted, de-duplicated list of files.

    Raises CorpusError for a path that matches nothing or a directory without readable files.
    """
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and _readable_name(f))
            if not found:
                raise CorpusError(f"corpus directory {p} holds no .txt, .jsonl or .gz files")
            files.extend(found)
        elif glob.has_magic(str(raw)):
            found = sorted(Path(f) for f in glob.glob(os.path.expanduser(str(raw)), recursive=True))
            found = [f for f in found if f.is_file()]
            if not found:
                raise CorpusError(f"corpus pattern {raw!r} matches no files")
            files.extend(found)
        else:
            raise CorpusError(f"corpus path {p} does not exist")
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    if not unique:
        raise CorpusError("no corpus files given")
    return unique


def _readable_name(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def _open_text(path: Path) -> io.TextIOBase:
    # Strict UTF-8: replacing a bad byte with U+FFFD would silently train on corrupted text
    # (and put U+FFFD in the vocabulary); iter_documents turns the error into a CorpusError.
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")


def _not_utf8(path: Path) -> CorpusError:
    """The error for a file that is not UTF-8, naming the first bad byte's offset (in the
    decompressed stream for .gz), as fastbpe's trainer does. Text mode's decode error only
    knows its position inside one read chunk, so the file is scanned again, in binary."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = 0  # bytes given to the decoder so far
    offset = None
    with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as f:
        while offset is None:
            chunk = f.read(1 << 22)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                # e.object is the few bytes the decoder held back, then this chunk
                offset = fed - (len(e.object) - len(chunk)) + e.start
            if not chunk:
                break
            fed += len(chunk)
    where = f"byte offset {offset}" if offset is not None else "some byte"
    if path.name.endswith(".gz"):
        where += " of its decompressed text"
    return CorpusError(
        f"{path}: not valid UTF-8 at {where}; re-encode the file as UTF-8 "
        "(e.g. `iconv -f latin1 -t utf-8`) or drop it from the corpus"
    )


def _is_jsonl(path: Path) -> bool:
    name = path.name.removesuffix(".gz")
    return name.endswith(".jsonl")


# ------------------------------------------------------------------------------------------------
# streaming


def iter_documents(files: Iterable[Path], *, unit: str = "paragraph") -> Iterator[str]:
    """Yield the documents of `files` in order (see the module docstring); never empty strings."""
    if unit not in ("paragraph", "line"):
        raise ValueError(f"unit must be 'paragraph' or 'line', got {unit!r}")
    for path in files:
        try:
            if _is_jsonl(path):
                yield from _jsonl_documents(path, unit)
            else:
                yield from _text_documents(path, unit)
        except UnicodeDecodeError:
            raise _not_utf8(path) from None


def _text_documents(path: Path, unit: str) -> Iterator[str]:
    with _open_text(path) as f:
        if unit == "line":
            for line in f:
                line = line.rstrip("\r\n")
                if line.strip():
                    yield line
            return
        para: list[str] = []
        size = 0
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip():
                if para:
                    yield "\n".join(para)
                para, size = [], 0
                continue
            para.append(line)
            size += len(line) + 1
            if size >= MAX_DOC_CHARS:  # one unbroken file must not become one huge document
                yield "\n".join(para)
                para, size = [], 0
        if para:
            yield "\n".join(para)


def _jsonl_documents(path: Path, unit: str) -> Iterator[str]:
    with _open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            text = obj.get("text") if isinstance(obj, dict) else None
            if not isinstance(text, str):
                raise CorpusError(
                    f"{path}:{lineno}: expected a JSON object with a string 'text' field"
                )
            if unit == "line":
                yield from (t for t in text.splitlines() if t.strip())
            elif text.strip():
                yield text


def corpus_fingerprint(files: Iterable[Path]) -> str:
    """A hash of the names' order and the bytes of every file (streamed; a few seconds per GB)."""
    h = hashlib.blake2b(digest_size=16)
    for path in files:
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        h.update(b"\0\0")
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------
# the default corpus


def cache_dir() -> Path:
    """Where bertmlm caches the default corpus and token shards."""
    if os.environ.get("BERTMLM_CACHE"):
        return Path(os.environ["BERTMLM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bertmlm"


def default_corpus(cache: Path | None = None) -> Path:
    """Path of the default corpus file, extracting it (in a child process) on first use."""
    cache = cache or cache_dir()
    path = cache / f"default-corpus-v{DEFAULT_CORPUS_VERSION}-{_sources_key()}.txt"
    if path.is_file() and path.stat().st_size > 0:
        return path
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CorpusError(
            f"cannot create the cache directory {cache} ({e.strerror}); "
            "set BERTMLM_CACHE to a writable directory"
        ) from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "-m", "bertmlm.corpus", "--build-default", str(tmp)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CorpusError(f"building the default corpus failed: {tail[0]}")
    os.replace(tmp, path)
    return path


_DEPENDENCIES = ("numpy", "matplotlib", "torch")  # installed dependencies whose docstrings we use


def _sources_key() -> str:
    """Python's version plus a short hash of the dependencies' versions (their docs are the corpus)."""
    from importlib import metadata

    versions = []
    for dist in _DEPENDENCIES:
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=none")
    digest = hashlib.blake2b(",".join(versions).encode(), digest_size=4).hexdigest()
    return f"py{'.'.join(map(str, sys.version_info[:3]))}-{digest}"


# modules never imported: they open windows or browsers, print on import, or are test suites
_SKIP_MODULES = {
    "antigravity",
    "this",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "test",
    "lib2to3",
    "ensurepip",
    "pydoc_data",
    "xxlimited",
    "xxlimited_35",
}
_SKIP_SUBMODULES = {"test", "tests", "testing", "conftest", "setup"}


def _build_default(out: Path) -> None:
    """Extract, clean and write the default corpus (run in a child process)."""
    import importlib
    import inspect
    import pkgutil
    import warnings

    warnings.simplefilter("ignore")
    seen: set[str] = set()
    paragraphs: list[str] = []

    def add(text: str | None) -> None:
        for para in clean_docstring(text or ""):
            if para not in seen:
                seen.add(para)
                paragraphs.append(para)

    from pydoc_data.topics import topics

    for key in sorted(topics):
        add(topics[key])

    def modules(name: str, depth: int) -> list[str]:
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                mod = importlib.import_module(name)
        except BaseException:  # any import failure (missing C library, SystemExit...) skips it
            return []
        names = [name]
        if depth > 0 and hasattr(mod, "__path__"):
            subs = sorted(i.name for i in pkgutil.iter_modules(mod.__path__))
            for sub in subs:
                if not sub.startswith("_") and sub not in _SKIP_SUBMODULES:
                    names += modules(f"{name}.{sub}", depth - 1)
        return names

    roots = sorted(
        m for m in sys.stdlib_module_names if not m.startswith("_") and m not in _SKIP_MODULES
    )
    names = [n for root in roots + list(_DEPENDENCIES) for n in modules(root, 2)]
    for name in names:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        add(inspect.getdoc(mod))
        for attr, obj in sorted(vars(mod).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            add(_doc(obj))
            if inspect.isclass(obj):
                for _, member in sorted(vars(obj).items()):
                    add(_doc(member))
    text = "\n\n".join(paragraphs) + "\n"
    out.write_text(text, encoding="utf-8")


def _doc(obj: object) -> str | None:
    try:
        doc = getattr(obj, "__doc__", None)
    except Exception:
        return None
    return doc if isinstance(doc, str) else None


_CODE_CHARS = re.compile(r"[{}\[\]()<>=*`|\\#@$%^~;]")
_HEADER = re.compile(r"^\s*([-=~^*+#]{3,}|\.\.\s|:[a-zA-Z ]+:)")
_SIGNATURE = re.compile(r"^\s*(\d+\.\s*)?[\w.]+\(|->|::| at 0x")  # signatures, object reprs


def clean_docstring(text: str) -> list[str]:
    """Split documentation text into paragraphs of prose, each reflowed to one line.

    A paragraph (lines between blank lines, after dedenting) is dropped when any line is a
    doctest (`>>>`, `...`), a reST directive, field or underline, a signature or an object repr; when it is indented (a code
    block, a table or a quote) and does not end like a sentence; or when it has fewer than 6
    words, under 75% letters among its non-space characters, or more than 6% code characters
    (brackets, `=`, backquotes...; identifiers' underscores do not count).
    """
    import inspect

    out = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines = [ln.rstrip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        if any(
            ln.lstrip().startswith((">>>", "...")) or _HEADER.match(ln) or _SIGNATURE.search(ln)
            for ln in lines
        ):
            continue
        para = " ".join(" ".join(ln.split()) for ln in lines)
        indented = lines[0].startswith((" ", "\t"))
        if indented and not para.endswith((".", ".)", '."')):
            continue
        words = para.split()
        if len(words) < 6:
            continue
        chars = para.replace(" ", "")
        letters = sum(c.isalpha() for c in chars)
        if letters < 0.75 * len(chars) or len(_CODE_CHARS.findall(para)) > 0.06 * len(chars):
            continue
        out.append(para)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--build-default":
        _build_default(Path(sys.argv[2]))
    else:
        print("usage: python -m bertmlm.corpus --build-default OUT.txt", file=sys.stderr)
        sys.exit(2)
