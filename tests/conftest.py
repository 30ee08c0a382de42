"""Shared fixtures for the tokenizer tests.

- Hypothesis: the example count comes from HYPOTHESIS_MAX_EXAMPLES (small by default, so the
  default suite stays fast on two cores); slow-marked tests ask for more.
- `Impl`: a test that takes it runs once for the pure-Python reference and once for the
  Rust-backed `fastbpe.Tokenizer` (skipped while that is not importable).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "20"))
SLOW_EXAMPLES = int(os.environ.get("HYPOTHESIS_SLOW_EXAMPLES", "300"))

settings.register_profile(
    "fastbpe",
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("fastbpe")


def pytest_configure(config):
    # When a hypothesis test fails, its report imports a formatter that imports the
    # deprecated mypy_extensions.TypedDict; with filterwarnings=error that turned the failure
    # into an INTERNALERROR that hides the counterexample.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


# Characters assigned in Python's Unicode database (category != Cn), no surrogates: the
# Rust crates may know a newer Unicode version, which classifies unassigned ones differently.
ASSIGNED_CHARS = st.characters(exclude_categories=("Cn", "Cs"))


def rust_tokenizer_class():
    """fastbpe.Tokenizer, or skip the test while the Rust wrapper has not landed."""
    try:
        import fastbpe
    except ImportError as e:  # pragma: no cover - depends on the build
        pytest.skip(f"fastbpe does not import: {e}")
    cls = getattr(fastbpe, "Tokenizer", None)
    if cls is None:
        pytest.skip("fastbpe.Tokenizer is not available yet")
    return cls


class Impl:
    """One implementation under test, with a uniform `train`."""

    def __init__(self, name: str):
        self.name = name
        if name == "reference":
            from fastbpe.reference import ReferenceTokenizer

            self.cls = ReferenceTokenizer
        else:
            self.cls = rust_tokenizer_class()

    def train(self, texts, vocab_size, **kwargs):
        if self.name == "rust":
            kwargs.setdefault("show_progress", False)
        return self.cls.train(texts, vocab_size, **kwargs)

    def load(self, directory):
        return self.cls.load(directory)

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(params=["reference", "rust"])
def impl(request) -> Impl:
    return Impl(request.param)


@pytest.fixture
def rust() -> Impl:
    return Impl("rust")


@pytest.fixture
def ref() -> Impl:
    return Impl("reference")
