"""A pure-Python BPE tokenizer: the readable reference for the Rust core.

This file implements docs/tokenizer.md step by step, with one small function per idea, so
that it can be read top to bottom and checked against the contract. The parity tests hold
the Rust `fastbpe.Tokenizer` to it: same merges, same vocabulary, same ids.

What it handles:
- NFC normalisation and the space marker `▁` (U+2581), with the optional NFKC, lowercasing
  (Unicode's or the Turkish rule) and accent stripping (`normalize`);
- the five-rule pre-tokenizer (`pretokenize`);
- training from a word-frequency table with pair counts that are updated incrementally
  (`get_stats`, `merge`, `train_merges`), the documented tie-break, `min_frequency`,
  `limit_alphabet`, byte fallback (`<0xNN>` tokens) and extension of an existing tokenizer;
- encoding by merge rank, special tokens written in the text, decoding;
- save/load in the same files as the Rust tokenizer (vocab.json, merges.txt, fastbpe.json).

Where docs/tokenizer.md leaves a choice open, this file (and the Rust core) does this:
- `limit_alphabet=N` keeps the N most frequent characters *that training adds*: characters
  already in the vocabulary (a one-character special token, the initial tokenizer's
  alphabet when extending) take no place in the N;
- special tokens written in the training corpus are not cut out: they count as plain text;
- when extending, the special tokens and byte fallback come from `initial`;
- a pair learned twice (possible only when merges reuse ids) keeps its first rank.

What it does not handle: speed (it is slow by design; the Rust core is the fast path),
parallel or batch encoding, streaming huge files (files are read whole), the HuggingFace
`tokenizer.json` export, and lone surrogates in str (they cannot be encoded as UTF-8).

Uses the standard library only.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

SPACE_MARKER = "\u2581"  # "▁", stands for U+0020 inside tokens
DEFAULT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
UNK_TOKEN = "[UNK]"
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
FORMAT = {"format": 1, "space_marker": SPACE_MARKER, "pre_tokenizer": "fastbpe-v1"}
LOWERCASE_RULES = (None, "default", "tr")  # `lowercase` values after check_lowercase

# The Unicode White_Space property (PropList.txt). Python has no accessor for it, and
# str.isspace() differs (it is true for U+001C..U+001F, which are not White_Space).
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# ----------------------------------------------------------------------------------------
# normalisation and pre-tokenization (docs/tokenizer.md sections 1 and 2)


def normalize(
    text: str, lowercase: str | None = None, strip_accents: bool = False, nfkc: bool = False
) -> str:
    """Section 1: NFC (NFKC), the optional steps, then every space U+0020 becomes `▁`.

    `lowercase` is None, "default" or "tr" (see `check_lowercase`).
    """
    form: Literal["NFC", "NFKC"] = "NFKC" if nfkc else "NFC"
    text = unicodedata.normalize(form, text)
    if lowercase == "tr":
        # Turkish dotted and dotless i; after NFC, "I" + U+0307 is already "İ"
        text = text.replace("\u0130", "i").replace("I", "\u0131")
    if lowercase:
        # one character at a time: Unicode's full mapping (İ -> "i̇") without the context
        # rules of str.lower() (a final Σ stays σ), as HuggingFace's Lowercase does
        text = "".join(ch.lower() for ch in text)
    if strip_accents:
        # every mark (Mn, Mc, Me) of the canonical decomposition, as HF's StripAccents
        text = "".join(
            ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch)[0] != "M"
        )
    if lowercase or strip_accents:
        text = unicodedata.normalize(form, text)  # recompose
    return text.replace(" ", SPACE_MARKER)


def check_lowercase(lowercase) -> str | None:
    """The lowercase rule: None or False -> None (off); True or "default" -> "default"
    (Unicode's mapping); "tr" -> "tr" (İ -> i and I -> ı first)."""
    if lowercase is None or lowercase is False:
        return None
    if lowercase is True:
        return "default"
    if lowercase in ("default", "tr"):
        return lowercase
    raise ValueError(f"lowercase must be None, True, 'default' or 'tr', got {lowercase!r}")


def char_class(ch: str) -> str:
    """One of 'marker', 'letter', 'digit', 'other', 'single' (the pre-tokenizer classes)."""
    if ch == SPACE_MARKER:  # checked first: U+2581 is a symbol (So) and would be 'other'
        return "marker"
    category = unicodedata.category(ch)
    if category[0] in "LM":
        return "letter"  # rule 1: letters and combining marks
    if category[0] == "N":
        return "digit"  # rule 2: numbers of any kind
    if ch in WHITE_SPACE or category == "Cc":
        return "single"  # rule 5: each one is a word of its own
    return "other"  # rule 3: punctuation, symbols, emoji, format characters (ZWJ)


WORD_CLASSES = ("letter", "digit", "other")  # the classes that rules 1-3 collect into runs


def pretokenize(text: str) -> list[str]:
    """Split normalised text into words, scanning left to right (section 2, rules 1-5)."""
    classes = [char_class(ch) for ch in text]
    words = []
    i, n = 0, len(text)
    while i < n:
        start = i
        cls = classes[i]
        if cls == "marker":
            if i + 1 < n and classes[i + 1] in WORD_CLASSES:
                # rules 1-3 with their optional leading marker: "▁word"
                i += 1
                cls = classes[i]
            else:
                # rule 4: a run of markers. If a word follows, the run stops one short so
                # that its last marker starts that word: "a▁▁▁b" -> "a", "▁▁", "▁b".
                j = i
                while j < n and classes[j] == "marker":
                    j += 1
                if j < n and classes[j] in WORD_CLASSES:
                    j -= 1  # the run is >= 2 long here, else the branch above applied
                words.append(text[i:j])
                i = j
                continue
        if cls in WORD_CLASSES:
            # rules 1-3: a maximal run of one class
            while i < n and classes[i] == cls:
                i += 1
            words.append(text[start:i])
        else:
            # rule 5: any other character (newline, tab, NBSP, controls) stands alone
            words.append(text[i])
            i += 1
    return words


def split_special(text: str, special_tokens: list[str]) -> list[tuple[str, bool]]:
    """Cut raw text at special tokens: [(piece, is_special), ...] (section 5, step 1).

    Leftmost match first; among matches at one position the longest, which is what a regex
    alternation gives when the alternatives are sorted longest first.
    """
    if not special_tokens or not text:
        return [(text, False)] if text else []
    alternatives = sorted(special_tokens, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(s) for s in alternatives))
    pieces, last = [], 0
    for m in pattern.finditer(text):
        if m.start() > last:
            pieces.append((text[last : m.start()], False))
        pieces.append((m.group(), True))
        last = m.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


# ----------------------------------------------------------------------------------------
# training helpers (section 4)


def get_stats(words: list[list[int]], counts: list[int]) -> dict[tuple[int, int], int]:
    """Pair -> count over the word table; overlapping positions count separately."""
    stats: dict[tuple[int, int], int] = {}
    for word, count in zip(words, counts):
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + count
    return stats


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids`, left to right, non-overlapping."""
    out = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2  # "a a a" -> "aa a": the middle "a" is consumed by the first match
        else:
            out.append(ids[i])
            i += 1
    return out


def encode_word(ids: list[int], ranks: dict[tuple[int, int], tuple[int, int]]) -> list[int]:
    """Apply merges by rank: the lowest-ranked adjacent pair first, its leftmost occurrence.

    `ranks` maps (left, right) -> (rank, merged id). One occurrence per step is the literal
    rule; it differs from "all occurrences at once" only when a merge reuses an existing id.
    """
    ids = list(ids)
    while len(ids) >= 2:
        best = None  # (rank, position, merged id)
        for pos, pair in enumerate(zip(ids, ids[1:])):
            hit = ranks.get(pair)
            if hit is not None and (best is None or hit[0] < best[0]):
                best = (hit[0], pos, hit[1])  # strict '<' keeps the leftmost on equal rank
        if best is None:
            break
        _, pos, new_id = best
        ids[pos : pos + 2] = [new_id]
    return ids


def count_words(texts: Iterable[str], **normalization) -> dict[str, int]:
    """The word-frequency table: normalise and pre-tokenize every text."""
    table: dict[str, int] = {}
    for text in texts:
        for word in pretokenize(normalize(text, **normalization)):
            table[word] = table.get(word, 0) + 1
    return table


def new_alphabet(table: dict[str, int], known: set[str], limit: int | None) -> list[str]:
    """The corpus characters not in `known`, in code point order.

    With `limit`, only the `limit` most frequent of them: the limit counts the characters
    this training adds, so a character that is already a token (a one-character special
    token, or anything in the initial tokenizer when extending) takes no place in it.
    """
    freq: dict[str, int] = {}
    for word, count in table.items():
        for ch in word:
            freq[ch] = freq.get(ch, 0) + count
    chars = [ch for ch in freq if ch not in known]
    if limit is not None:
        # most frequent first, ties: lower code point first; then back to code point order
        chars = sorted(chars, key=lambda ch: (-freq[ch], ord(ch)))[:limit]
    return sorted(chars)


def known_runs(word: str, ids: dict[str, int]) -> list[list[int]]:
    """A word's character ids, cut at characters that have no id (they are dropped)."""
    runs: list[list[int]] = [[]]
    for ch in word:
        i = ids.get(ch)
        if i is None:
            runs.append([])
        else:
            runs[-1].append(i)
    return runs


def pop_best(heap: list, stats: dict[tuple[int, int], int]) -> tuple[tuple[int, int] | None, int]:
    """Pop the pair with the highest count, ties: smallest (left id, right id).

    The heap holds (-count, pair) entries and is refreshed lazily: an entry whose count no
    longer matches `stats` is stale (a newer entry was pushed when the count changed).
    """
    while heap:
        neg_count, pair = heapq.heappop(heap)
        if stats.get(pair) == -neg_count:
            return pair, -neg_count
    return None, 0


def train_merges(
    words: list[list[int]], counts: list[int], vocab: list[str], vocab_size: int, min_frequency: int
) -> list[tuple[int, int]]:
    """The merge loop. Mutates `words` and `vocab`; returns the learned pairs in order."""
    token_ids = {tok: i for i, tok in enumerate(vocab)}
    stats = get_stats(words, counts)
    where: dict[tuple[int, int], set[int]] = {}  # pair -> indices of words that may hold it
    for w, word in enumerate(words):
        for adjacent in zip(word, word[1:]):
            where.setdefault(adjacent, set()).add(w)
    heap = [(-count, pair) for pair, count in stats.items()]
    heapq.heapify(heap)
    learned = []
    while len(vocab) < vocab_size:
        pair, count = pop_best(heap, stats)
        if pair is None or count < min_frequency:
            break
        token = vocab[pair[0]] + vocab[pair[1]]
        new_id = token_ids.get(token)
        if new_id is None:  # a string can arise from two pairs: then reuse its id
            new_id = len(vocab)
            vocab.append(token)
            token_ids[token] = new_id
        learned.append(pair)
        # Rewrite only the words that hold the pair, and update the counts by their delta.
        changed = set()
        for w in where.pop(pair, ()):
            old = words[w]
            new = merge(old, pair, new_id)
            if len(new) == len(old):
                continue  # the index is a superset: this word no longer holds the pair
            for p in zip(old, old[1:]):
                stats[p] -= counts[w]
                changed.add(p)
            for p in zip(new, new[1:]):
                stats[p] = stats.get(p, 0) + counts[w]
                where.setdefault(p, set()).add(w)
                changed.add(p)
            words[w] = new
        for p in changed:
            if stats[p] <= 0:
                del stats[p]
            else:
                heapq.heappush(heap, (-stats[p], p))
    return learned


def read_texts(files_or_texts: Iterable[str | os.PathLike]) -> Iterable[str]:
    """Yield texts: a str is a text, an os.PathLike is a UTF-8 file (read whole)."""
    if isinstance(files_or_texts, (str, bytes)):
        raise TypeError(
            "texts must be an iterable of str or paths, not a single "
            f"{type(files_or_texts).__name__}; wrap it in a list"
        )
    for item in files_or_texts:
        if isinstance(item, str):
            yield item
        elif isinstance(item, os.PathLike):
            data = Path(item).read_bytes()
            try:
                yield data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{os.fspath(item)}: invalid UTF-8 at byte offset {e.start}; "
                    "convert the file to UTF-8"
                ) from None
        else:
            raise TypeError(f"texts must contain str or paths, got {type(item).__name__}")


def check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


# ----------------------------------------------------------------------------------------
# the tokenizer


class ReferenceTokenizer:
    """A trained BPE tokenizer: vocabulary (id -> token) plus ranked merges."""

    def __init__(
        self,
        vocab: list[str],
        merges: list[tuple[int, int]],
        special_tokens: list[str],
        byte_fallback: bool,
        *,
        lowercase: str | None = None,
        strip_accents: bool = False,
        nfkc: bool = False,
    ):
        self._vocab = vocab  # id -> token string
        self._ids: dict[str, int] = {}  # token string -> id
        for i, tok in enumerate(vocab):
            self._ids.setdefault(tok, i)
        self._merges = merges  # (left id, right id) in rank order
        self._ranks: dict[
            tuple[int, int], tuple[int, int]
        ] = {}  # (l, r) -> (rank, merged id); first rank wins
        for rank, (a, b) in enumerate(merges):
            self._ranks.setdefault((a, b), (rank, self._ids[vocab[a] + vocab[b]]))
        self._special_tokens = list(special_tokens)
        self._byte_fallback = byte_fallback
        self._unk_id = self._ids[UNK_TOKEN]
        self._cache: dict[str, list[int]] = {}  # word -> ids
        # the options of section 1, as keyword arguments of `normalize`
        self._normalization: dict[str, Any] = {
            "lowercase": check_lowercase(lowercase),
            "strip_accents": bool(strip_accents),
            "nfkc": bool(nfkc),
        }

    # ---- training ---------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        texts,
        vocab_size: int = 8000,
        *,
        min_frequency: int = 2,
        special_tokens: list[str] | None = None,
        byte_fallback: bool = False,
        initial: ReferenceTokenizer | None = None,
        limit_alphabet: int | None = None,
        lowercase: bool | str | None = None,
        strip_accents: bool = False,
        nfkc: bool = False,
    ) -> ReferenceTokenizer:
        """Learn a tokenizer from texts (str) or UTF-8 files (paths). See docs/tokenizer.md.

        When extending, the normalisation is the initial tokenizer's; an option set to
        something else than its default and the initial tokenizer's value is an error.
        """
        check_int("vocab_size", vocab_size, 1)
        check_int("min_frequency", min_frequency, 1)
        if limit_alphabet is not None:
            check_int("limit_alphabet", limit_alphabet, 0)
        if not isinstance(byte_fallback, bool):
            raise TypeError(f"byte_fallback must be a bool, got {type(byte_fallback).__name__}")
        for name, value in (("strip_accents", strip_accents), ("nfkc", nfkc)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
        normalization: dict[str, Any] = {
            "lowercase": check_lowercase(lowercase),
            "strip_accents": strip_accents,
            "nfkc": nfkc,
        }
        if initial is not None:
            if not isinstance(initial, ReferenceTokenizer):
                raise TypeError("initial must be a ReferenceTokenizer")
            if special_tokens is not None and list(special_tokens) != initial._special_tokens:
                raise ValueError(
                    "special_tokens differ from the initial tokenizer's; "
                    "leave special_tokens unset when extending"
                )
            special_tokens, byte_fallback = initial._special_tokens, initial._byte_fallback
            for name, value in normalization.items():
                if value and value != initial._normalization[name]:
                    raise ValueError(
                        f"{name}={value!r} differs from the initial tokenizer's "
                        f"{initial._normalization[name]!r}; leave it unset when "
                        "extending"
                    )
            normalization = dict(initial._normalization)
        special_tokens = check_special_tokens(special_tokens)
        if byte_fallback and set(special_tokens) & set(BYTE_TOKENS):
            raise ValueError(
                "a special token collides with a byte-fallback token <0xNN>; rename it"
            )

        table = count_words(read_texts(texts), **normalization)
        if not table:
            raise ValueError("empty corpus: the texts contain no words; pass non-empty text")

        if initial is None:
            vocab = list(special_tokens) + (BYTE_TOKENS if byte_fallback else [])
            merges: list[tuple[int, int]] = []
        else:
            vocab, merges = list(initial._vocab), list(initial._merges)
        vocab.extend(new_alphabet(table, set(vocab), limit_alphabet))  # section 3.3
        if vocab_size < len(vocab):
            raise ValueError(
                f"vocab_size {vocab_size} is below the {len(vocab)} tokens that the special "
                "tokens, byte tokens and alphabet already need; raise vocab_size to at least "
                f"{len(vocab)} (or set limit_alphabet)"
            )

        # Each word becomes its symbol ids. A character outside the vocabulary (excluded by
        # limit_alphabet) splits the word: the pieces on either side never pair.
        base = ReferenceTokenizer(vocab, merges, special_tokens, byte_fallback, **normalization)
        words, counts = [], []
        for word, count in table.items():
            for run in known_runs(word, base._ids):
                if len(run) >= 2:  # a single symbol has no pair
                    words.append(encode_word(run, base._ranks))  # initial merges first
                    counts.append(count)
        merges += train_merges(words, counts, vocab, vocab_size, min_frequency)
        return cls(vocab, merges, special_tokens, byte_fallback, **normalization)

    # ---- encoding ---------------------------------------------------------------------

    def encode(self, text: str, *, special_tokens: bool = True) -> list[int]:
        """Text -> ids. With special_tokens=True, special tokens in the text are one id."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        pieces = split_special(text, self._special_tokens) if special_tokens else [(text, False)]
        ids: list[int] = []
        for piece, is_special in pieces:
            if is_special:
                ids.append(self._ids[piece])
                continue
            for word in pretokenize(normalize(piece, **self._normalization)):
                if word not in self._cache:
                    self._cache[word] = self._encode_word(word)
                ids.extend(self._cache[word])
        return ids

    def _encode_word(self, word: str) -> list[int]:
        # Unknown characters become [UNK] or byte tokens and cut the word: merges apply to
        # the known pieces on either side, never across (section 5, step 3).
        out: list[int] = []
        piece: list[int] = []
        for ch in word:
            i = self._ids.get(ch)
            if i is not None:
                piece.append(i)
                continue
            out += encode_word(piece, self._ranks)
            piece = []
            if self._byte_fallback:
                out += [self._ids[BYTE_TOKENS[b]] for b in ch.encode("utf-8")]
            else:
                out.append(self._unk_id)
        return out + encode_word(piece, self._ranks)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def normalize(self, text: str, *, special_tokens: bool = True) -> str:
        """The text as decode(encode(text)) gives it back when every character is known:
        special tokens as written, the rest normalised (section 1) with `▁` as a space."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        pieces = split_special(text, self._special_tokens) if special_tokens else [(text, False)]
        return "".join(
            piece if is_special else normalize(piece, **self._normalization)
            for piece, is_special in pieces
        ).replace(SPACE_MARKER, " ")

    # ---- decoding ---------------------------------------------------------------------

    def decode(self, ids: Iterable[int], *, errors: str = "replace") -> str:
        """Ids -> text. Byte tokens are joined back into bytes; `▁` becomes a space."""
        first_byte = len(self._special_tokens)
        out = bytearray()
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"ids must be ints, got {type(i).__name__}")
            if not 0 <= i < len(self._vocab):
                raise KeyError(f"unknown token id {i} (vocabulary size {len(self._vocab)})")
            if self._byte_fallback and first_byte <= i < first_byte + 256:
                out.append(i - first_byte)
            else:
                out += self._vocab[i].encode("utf-8")
        # Replace the marker after decoding: it may itself come from byte tokens.
        return out.decode("utf-8", errors=errors).replace(SPACE_MARKER, " ")

    # ---- inspection -------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    @property
    def merges(self) -> list[tuple[str, str]]:
        return [(self._vocab[a], self._vocab[b]) for a, b in self._merges]

    @property
    def special_tokens(self) -> list[str]:
        return list(self._special_tokens)

    @property
    def byte_fallback(self) -> bool:
        return self._byte_fallback

    @property
    def lowercase(self) -> str | None:
        """None (off), "default" (Unicode's lowercase mapping) or "tr" (Turkish)."""
        return self._normalization["lowercase"]

    @property
    def strip_accents(self) -> bool:
        return self._normalization["strip_accents"]

    @property
    def nfkc(self) -> bool:
        return self._normalization["nfkc"]

    def get_vocab(self) -> dict[str, int]:
        return dict(self._ids)

    def token_to_id(self, token: str) -> int | None:
        return self._ids.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self._vocab[i] if 0 <= i < len(self._vocab) else None

    def __repr__(self) -> str:
        return (
            f"ReferenceTokenizer(vocab_size={self.vocab_size}, merges={len(self._merges)}, "
            f"byte_fallback={self._byte_fallback})"
        )

    # ---- files (section 7) ------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> None:
        """Write vocab.json, merges.txt and fastbpe.json into `directory`."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        vocab = {tok: i for i, tok in enumerate(self._vocab)}  # dicts keep id order
        (d / "vocab.json").write_text(
            json.dumps(vocab, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in self.merges]
        (d / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = config_dict(self._special_tokens, self._byte_fallback, **self._normalization)
        (d / "fastbpe.json").write_text(
            json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ReferenceTokenizer:
        """Read and cross-check the files that `save` writes; errors name file and line."""
        d = Path(directory)
        config = read_json(d / "fastbpe.json")
        specials, byte_fallback = check_config(config, d / "fastbpe.json")
        raw = read_json(d / "vocab.json")
        vocab = check_vocab(raw, d / "vocab.json", specials, byte_fallback)
        merges = read_merges(d / "merges.txt", vocab)
        first = len(specials) + (len(BYTE_TOKENS) if byte_fallback else 0)
        check_produced(raw, vocab, merges, first, d / "vocab.json")
        normalization = check_normalization(config, d / "fastbpe.json")
        return cls(vocab, merges, specials, byte_fallback, **normalization)


# ----------------------------------------------------------------------------------------
# validation helpers for train() and load()


def check_special_tokens(special_tokens) -> list[str]:
    if special_tokens is None:
        return list(DEFAULT_SPECIAL_TOKENS)
    if isinstance(special_tokens, str) or not all(isinstance(s, str) for s in special_tokens):
        raise TypeError("special_tokens must be a list of str")
    special_tokens = list(special_tokens)
    if any(not s for s in special_tokens):
        raise ValueError("special tokens must be non-empty strings")
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError("special_tokens contains duplicates")
    if UNK_TOKEN not in special_tokens:
        raise ValueError(f"special_tokens must contain {UNK_TOKEN!r}")
    return special_tokens


def read_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; save a tokenizer there first") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: invalid UTF-8 at byte offset {e.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None


def config_dict(
    special_tokens: list[str],
    byte_fallback: bool,
    lowercase: str | None,
    strip_accents: bool,
    nfkc: bool,
) -> dict:
    """fastbpe.json, keys in file order. The optional normalisation is written only when set
    (a missing key means off), so files of the default configuration stay as they were."""
    config: dict[str, Any] = {"format": 1, "normalization": "nfkc" if nfkc else "nfc"}
    if lowercase:
        config["lowercase"] = lowercase
    if strip_accents:
        config["strip_accents"] = True
    return {
        **config,
        "space_marker": SPACE_MARKER,
        "pre_tokenizer": "fastbpe-v1",
        "special_tokens": special_tokens,
        "unk_token": UNK_TOKEN,
        "byte_fallback": byte_fallback,
    }


def check_normalization(config: dict, path: Path) -> dict:
    """The keyword arguments of `normalize` that fastbpe.json declares."""
    if config.get("normalization") not in ("nfc", "nfkc"):
        raise ValueError(
            f"{path}: 'normalization' is {config.get('normalization')!r}, expected 'nfc' or 'nfkc'"
        )
    if config.get("lowercase") not in LOWERCASE_RULES:
        raise ValueError(
            f"{path}: 'lowercase' is {config.get('lowercase')!r}, expected "
            "'default' or 'tr' (or no key)"
        )
    if type(config.get("strip_accents", False)) is not bool:
        raise ValueError(f"{path}: 'strip_accents' must be true or false")
    return {
        "lowercase": config.get("lowercase"),
        "strip_accents": config.get("strip_accents", False),
        "nfkc": config["normalization"] == "nfkc",
    }


def check_config(config, path: Path) -> tuple[list[str], bool]:
    if not isinstance(config, dict):
        raise ValueError(f"{path}:1: expected a JSON object")
    for key, value in FORMAT.items():
        if config.get(key) != value:
            raise ValueError(f"{path}: {key!r} is {config.get(key)!r}, expected {value!r}")
    check_normalization(config, path)
    if config.get("unk_token") != UNK_TOKEN:
        raise ValueError(f"{path}: 'unk_token' must be {UNK_TOKEN!r}")
    if not isinstance(config.get("byte_fallback"), bool):
        raise ValueError(f"{path}: 'byte_fallback' must be true or false")
    try:
        specials = check_special_tokens(config.get("special_tokens"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: 'special_tokens': {e}") from None
    return specials, config["byte_fallback"]


def check_vocab(raw, path: Path, specials: list[str], byte_fallback: bool) -> list[str]:
    """{token: id} -> the id-ordered token list, after checking ids and the fixed prefix."""
    if not isinstance(raw, dict):
        raise ValueError(f"{path}:1: expected a JSON object {{token: id}}")
    vocab: list[str | None] = [None] * len(raw)
    for line, (tok, i) in enumerate(raw.items(), start=2):  # the layout `save` writes
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(raw):
            raise ValueError(f"{path}:{line}: id {i!r} of {tok!r} is not in 0..{len(raw) - 1}")
        if vocab[i] is not None:
            raise ValueError(f"{path}:{line}: id {i} is used twice")
        vocab[i] = tok
    expected = specials + (BYTE_TOKENS if byte_fallback else [])
    for i, tok in enumerate(expected):
        if i >= len(vocab) or vocab[i] != tok:
            raise ValueError(f"{path}:{i + 2}: id {i} must be {tok!r} (from fastbpe.json)")
    return vocab  # type: ignore[return-value]


def read_merges(path: Path, vocab: list[str]) -> list[tuple[int, int]]:
    ids = {tok: i for i, tok in enumerate(vocab)}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; save a tokenizer there first") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: invalid UTF-8 at byte offset {e.start}") from None
    merges = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")  # tolerate CRLF files (no token holds a "\r")
        if (lineno == 1 and line.startswith("#version")) or line == "":
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{path}:{lineno}: expected 'left right', got {line!r}")
        for tok in parts + [parts[0] + parts[1]]:
            if tok not in ids:
                raise ValueError(f"{path}:{lineno}: token {tok!r} is not in vocab.json")
        merges.append((ids[parts[0]], ids[parts[1]]))
    return merges


def check_produced(
    raw: dict, vocab: list[str], merges: list[tuple[int, int]], first: int, path: Path
) -> None:
    """Every token from id `first` on (after the specials and byte tokens) is one character
    or the result of a merge, as training makes them. One that no merge produces means
    merges.txt lost lines (at its end, each remaining line still checks) or is another's."""
    produced = {vocab[a] + vocab[b] for a, b in merges}
    for i in range(first, len(vocab)):
        tok = vocab[i]
        if len(tok) > 1 and tok not in produced:
            line = list(raw).index(tok) + 2  # the layout `save` writes: one entry per line
            raise ValueError(
                f"{path}:{line}: token {tok!r} (id {i}) is not produced by any merge in "
                "merges.txt (merges.txt truncated?); besides special and byte tokens, a token "
                "is one character or the result of a merge"
            )
