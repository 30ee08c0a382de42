"""fastbpe: fast, deterministic BPE tokenizer training and encoding (Rust core).

>>> from fastbpe import Tokenizer
>>> tok = Tokenizer.train(["Mert Mert Mert"], 40, min_frequency=1, show_progress=False)
>>> tok.decode(tok.encode("Mert"))
'Mert'
"""

from importlib.metadata import PackageNotFoundError, version

from fastbpe._fastbpe import __version__
from fastbpe.tokenizer import Tokenizer

__all__ = ["Tokenizer", "__version__"]


def _check_native_version() -> None:
    # A stale extension (an old `pip install -e .` / `maturin develop`) must not run silently.
    try:
        package = version("fastbpe")
    except PackageNotFoundError:  # running from a source tree without metadata
        return
    if package != __version__:
        raise ImportError(
            f"fastbpe's native module is version {__version__} but the package is {package}; "
            "rebuild it with `pip install -e .` (or `maturin develop`)"
        )


_check_native_version()
