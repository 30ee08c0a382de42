"""Export a fastbpe tokenizer as a HuggingFace `tokenizer.json`.

The file reproduces docs/tokenizer.md with stock `tokenizers` components, so that
`tokenizers.Tokenizer.from_file` and `transformers.PreTrainedTokenizerFast(tokenizer_file=...)`
give the same ids as fastbpe on any text:

- normalizer: NFC (or NFKC), the optional Turkish replacements, Lowercase, NFD +
  StripAccents and recomposition, then U+0020 -> `▁` (section 1, `normalizer_json`);
- pre_tokenizer: `Split` with the section 2 pattern, behavior "isolated" (every piece of the
  text is a match of the pattern, because its last alternative matches any one character);
- model: BPE over our vocab and merges, `[UNK]` for unknown characters one by one
  (`fuse_unk: false`), byte fallback `<0xNN>` when enabled, and `ignore_merges: false`
  (a word that happens to be a vocabulary entry is still built by merges, as fastbpe does);
- added_tokens: the special tokens, matched in the raw text (`normalized: false`), leftmost
  then longest, as in section 5 step 1;
- decoder: `▁` -> space, byte tokens -> bytes, concatenation (section 6).

No dependency on the `tokenizers` package: this module only builds JSON.

The regex dialect is Oniguruma's (what `tokenizers` compiles `Split` patterns with). It reads
`\\p{White_Space}`, `\\p{Cc}`, `\\p{L}`, `\\p{M}`, `\\p{N}` and `(?!...)` as the doc means;
the doc's final `.` is written `[\\s\\S]` so that it also matches newlines whatever the
dialect's dot-all flag spelling. tests/test_hf_export.py checks every assigned code point.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SPACE_MARKER = "\u2581"
UNK_TOKEN = "[UNK]"

# docs/tokenizer.md section 2, in Oniguruma syntax. Alternatives in rule order; the lookahead
# makes a marker run stop one short when a word (rules 1-3) follows it.
PRETOKENIZER_PATTERN = (
    r"▁?[\p{L}\p{M}]+"
    r"|▁?\p{N}+"
    r"|▁?[^\p{White_Space}\p{Cc}\p{L}\p{M}\p{N}▁]+"
    r"|▁+(?![^\p{White_Space}\p{Cc}▁])"
    r"|[\s\S]"
)


def _vocab_dict(vocab: Mapping[str, int] | Sequence[str]) -> dict[str, int]:
    """{token: id} sorted by id, from either a mapping or an id-ordered token list."""
    if isinstance(vocab, Mapping):
        items = [(str(tok), int(i)) for tok, i in vocab.items()]
    else:
        items = []
        seen: set[str] = set()
        for i, tok in enumerate(vocab):
            if tok not in seen:  # a repeated string keeps its first id, like get_vocab()
                seen.add(tok)
                items.append((tok, i))
    items.sort(key=lambda item: item[1])
    return dict(items)


def normalizer_json(
    lowercase: str | None = None, strip_accents: bool = False, nfkc: bool = False
) -> dict[str, Any]:
    """The `normalizer` of docs/tokenizer.md section 1 as HuggingFace components.

    `tokenizers`' Lowercase maps each character on its own (`char::to_lowercase`), which is
    our "default" rule; "tr" puts Replace İ -> i and I -> ı before it. StripAccents removes
    the characters of general category M that NFD leaves, like our `strip_accents`.
    """
    if lowercase not in (None, "default", "tr"):
        raise ValueError(f"lowercase must be None, 'default' or 'tr', got {lowercase!r}")
    compose = {"type": "NFKC" if nfkc else "NFC"}
    steps: list[dict[str, Any]] = [compose]
    if lowercase == "tr":
        steps += [
            {"type": "Replace", "pattern": {"String": "\u0130"}, "content": "i"},
            {"type": "Replace", "pattern": {"String": "I"}, "content": "\u0131"},
        ]
    if lowercase:
        steps.append({"type": "Lowercase"})
    if strip_accents:
        steps += [{"type": "NFD"}, {"type": "StripAccents"}]
    if lowercase or strip_accents:
        steps.append(compose)
    steps.append({"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARKER})
    return {"type": "Sequence", "normalizers": steps}


def build_tokenizer_json(
    vocab: Mapping[str, int] | Sequence[str],
    merges: Iterable[tuple[str, str]],
    special_tokens: Sequence[str],
    unk_token: str | None = UNK_TOKEN,
    byte_fallback: bool = False,
    *,
    lowercase: str | None = None,
    strip_accents: bool = False,
    nfkc: bool = False,
) -> dict[str, Any]:
    """The `tokenizer.json` content as a dict (serialise it with `json.dumps`).

    `vocab` is {token: id} or the id-ordered token list; `merges` are (left, right) token
    strings in rank order; every special token must be in `vocab`. `lowercase` (None,
    "default", "tr"), `strip_accents` and `nfkc` are the tokenizer's normalisation.
    """
    vocab_map = _vocab_dict(vocab)
    merge_list = [[str(a), str(b)] for a, b in merges]
    for n, (a, b) in enumerate(merge_list):
        for tok in (a, b, a + b):
            if tok not in vocab_map:
                raise ValueError(
                    f"merge {n} ({a!r}, {b!r}): token {tok!r} is not in the vocabulary"
                )
    added = []
    for tok in special_tokens:
        if tok not in vocab_map:
            raise ValueError(f"special token {tok!r} is not in the vocabulary")
        added.append(
            {
                "id": vocab_map[tok],
                "content": tok,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
    if unk_token is not None and unk_token not in vocab_map:
        raise ValueError(f"unk_token {unk_token!r} is not in the vocabulary")
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer_json(lowercase, strip_accents, nfkc),
        "pre_tokenizer": {
            "type": "Split",
            "pattern": {"Regex": PRETOKENIZER_PATTERN},
            "behavior": "Isolated",
            "invert": False,
        },
        "post_processor": None,
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": SPACE_MARKER}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk_token,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": bool(byte_fallback),
            "ignore_merges": False,
            "vocab": vocab_map,
            "merges": merge_list,
        },
    }


def to_hf_tokenizer_json(tokenizer: Any, *, indent: int | None = None) -> str:
    """`tokenizer.json` text for a `fastbpe.Tokenizer` or a `ReferenceTokenizer`."""
    data = build_tokenizer_json(
        tokenizer.get_vocab(),
        tokenizer.merges,
        tokenizer.special_tokens,
        UNK_TOKEN,
        tokenizer.byte_fallback,
        lowercase=getattr(tokenizer, "lowercase", None),
        strip_accents=getattr(tokenizer, "strip_accents", False),
        nfkc=getattr(tokenizer, "nfkc", False),
    )
    return json.dumps(data, ensure_ascii=False, indent=indent)
