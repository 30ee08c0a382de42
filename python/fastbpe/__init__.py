"""fastbpe: fast, deterministic BPE tokenizer training and encoding."""

from fastbpe._fastbpe import __version__

__all__ = ["__version__"]
