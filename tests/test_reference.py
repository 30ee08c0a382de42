"""Known answers from docs/tokenizer.md, for the reference and for fastbpe.Tokenizer."""

from __future__ import annotations

import pytest
from fastbpe.reference import (
    encode_word,
    get_stats,
    merge,
    normalize,
    pretokenize,
    split_special,
)

SPECIALS = 5  # [PAD] [UNK] [CLS] [SEP] [MASK] take ids 0-4


def tokens(tok, ids):
    return [tok.id_to_token(i) for i in ids]


# ---- the small helpers ----------------------------------------------------------------


def test_get_stats_counts_overlapping_pairs():
    assert get_stats([[1, 1, 1]], [1]) == {(1, 1): 2}
    assert get_stats([[1, 2, 1, 2], [2, 1]], [3, 5]) == {(1, 2): 6, (2, 1): 8}
    assert get_stats([[7]], [9]) == {}


def test_merge_is_left_to_right_non_overlapping():
    assert merge([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge([1, 1, 1], (1, 1), 9) == [9, 1]
    assert merge([2, 1, 2, 1], (1, 2), 9) == [2, 9, 1]


def test_encode_word_lowest_rank_first_then_leftmost():
    ranks = {(1, 2): (0, 10), (2, 3): (1, 11), (10, 11): (2, 12)}
    assert encode_word([1, 2, 2, 3], ranks) == [12]  # 1 2 2 3 -> 10 2 3 -> 10 11 -> 12
    assert encode_word([1, 2, 3], ranks) == [10, 3]  # (1,2) outranks (2,3)
    assert encode_word([], ranks) == []


def test_split_special_leftmost_longest():
    specials = ["ab", "abc", "bcd", "[UNK]"]
    assert split_special("xabcd", specials) == [("x", False), ("abc", True), ("d", False)]
    assert split_special("bcdab", specials) == [("bcd", True), ("ab", True)]
    assert split_special("", specials) == []


# ---- training known answers, both implementations -------------------------------------


def test_wikipedia_aaabdaaabac(impl):
    # https://en.wikipedia.org/wiki/Byte_pair_encoding: aa -> Z, ab -> Y, ZY -> X.
    # After "aa", the pairs (aa, a) and (a, b) both count 2: the tie-break takes (a, b),
    # whose ids (5, 6) are smaller than (9, 5).
    tok = impl.train(["aaabdaaabac"], SPECIALS + 4 + 3, min_frequency=1)
    assert tok.merges == [("a", "a"), ("a", "b"), ("aa", "ab")]
    vocab = tok.get_vocab()
    assert [vocab[t] for t in ["a", "b", "c", "d", "aa", "ab", "aaab"]] == list(range(5, 12))
    assert tokens(tok, tok.encode("aaabdaaabac")) == ["aaab", "d", "aaab", "a", "c"]
    assert tok.decode(tok.encode("aaabdaaabac")) == "aaabdaaabac"


def test_mert_example(impl):
    # Spec: "M e r t -> Me rt -> Mert". Equal counts; the smallest ids win: (M, e) first,
    # then (r, t) beats (Me, r) because Me's id is new and therefore larger.
    corpus = ["Mert Mert Mert"]
    two = impl.train(corpus, SPECIALS + 5 + 2)
    assert two.merges == [("M", "e"), ("r", "t")]
    assert tokens(two, two.encode("Mert")) == ["Me", "rt"]
    three = impl.train(corpus, SPECIALS + 5 + 3)
    assert three.merges == [("M", "e"), ("r", "t"), ("Me", "rt")]
    assert tokens(three, three.encode("Mert")) == ["Mert"]
    assert tokens(three, three.encode("Mert ter")) == ["Mert", "▁", "t", "e", "r"]


def test_overlapping_aaaa(impl):
    tok = impl.train(["aaaa"], 100, min_frequency=1)
    assert tok.merges == [("a", "a"), ("aa", "aa")]  # (a, a) counted 3 times, merged twice
    assert tokens(tok, tok.encode("aaaa")) == ["aaaa"]
    assert tokens(tok, tok.encode("aaa")) == ["aa", "a"]
    assert tokens(tok, tok.encode("aaaaaaa")) == ["aaaa", "aa", "a"]
    tok3 = impl.train(["aaa"], 100, min_frequency=1)
    assert tok3.merges == [("a", "a"), ("aa", "a")]


def test_min_frequency_stops_training(impl):
    # words: ab, ▁ab (twice), ▁cd; (▁, c) and (c, d) occur once
    tok = impl.train(["ab ab ab cd"], 100, min_frequency=2)
    assert tok.merges == [("a", "b"), ("▁", "ab")]
    assert impl.train(["ab cd"], 100, min_frequency=2).merges == []


def test_id_layout_specials_bytes_alphabet(impl):
    tok = impl.train(["ba ab"], 300, min_frequency=5, byte_fallback=True)
    vocab = tok.get_vocab()
    assert [tok.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert tok.id_to_token(5) == "<0x00>" and tok.id_to_token(5 + 255) == "<0xFF>"
    assert vocab["<0x0A>"] == 5 + 10
    assert [tok.id_to_token(i) for i in range(261, 264)] == ["a", "b", "▁"]  # code point order
    assert tok.vocab_size == 264
    assert tok.token_to_id("nope") is None and tok.id_to_token(264) is None


def test_custom_special_tokens_and_single_char_special(impl):
    tok = impl.train(["x y"], 100, special_tokens=["[UNK]", "x"], min_frequency=5)
    # "x" is already a special token, so the alphabet does not add it again
    assert tok.get_vocab() == {"[UNK]": 0, "x": 1, "y": 2, "▁": 3}
    assert tok.encode("xy") == [1, 2]


def test_limit_alphabet_keeps_most_frequent_and_splits_words(impl):
    # frequencies: a 4, b 3, c 3, d 1 -> with limit 3: a b c (b before c: tie, lower code point)
    tok = impl.train(["abca abca db"], 100, min_frequency=1, limit_alphabet=3)
    vocab = tok.get_vocab()
    assert "d" not in vocab and "▁" not in vocab
    assert [tok.id_to_token(i) for i in range(5, 8)] == ["a", "b", "c"]
    assert all("d" not in a + b and "▁" not in a + b for a, b in tok.merges)
    assert tok.encode("d") == [1]  # [UNK]


def test_extension_keeps_ids_and_merges(impl):
    base = impl.train(["low lower lowest"], SPECIALS + 8 + 4, min_frequency=1)
    ext = impl.train(["newer wider lower"], base.vocab_size + 6, min_frequency=1, initial=base)
    assert ext.merges[: len(base.merges)] == base.merges
    old = base.get_vocab()
    assert {t: ext.get_vocab()[t] for t in old} == old
    new_chars = sorted(set("newer wider lower") - set(old) - {" "})
    assert [ext.id_to_token(i) for i in range(len(old), len(old) + len(new_chars))] == new_chars


# ---- pre-tokenizer cases ---------------------------------------------------------------

PRETOKENIZER_CASES = [
    ("a   b", ["a", "▁▁", "▁b"]),
    ("a  ", ["a", "▁▁"]),
    ("end   ", ["end", "▁▁▁"]),
    ("  x", ["▁", "▁x"]),
    (" ", ["▁"]),
    ("İstanbul'da ışık şeker ğ", ["İstanbul", "'", "da", "▁ışık", "▁şeker", "▁ğ"]),
    ("IĞDIR ıı İi", ["IĞDIR", "▁ıı", "▁İi"]),
    ("東京は2024年です。", ["東京は", "2024", "年です", "。"]),
    ("hi 👍🏽! ok", ["hi", "▁👍🏽!", "▁ok"]),
    ("👨\u200d👩\u200d👧 x", ["👨\u200d👩\u200d👧", "▁x"]),  # ZWJ (Cf) stays in the "other" run
    ("a\tb\nc\r\n", ["a", "\t", "b", "\n", "c", "\r", "\n"]),
    ("a \tb", ["a", "▁", "\t", "b"]),
    ("a  \n b", ["a", "▁▁", "\n", "▁b"]),
    ("abc123def 45", ["abc", "123", "def", "▁45"]),
    ("x² ½ 1.5", ["x", "²", "▁½", "▁1", ".", "5"]),
    ("don't, (x)", ["don", "'", "t", ",", "▁(", "x", ")"]),
    ("a\u00a0b\u3000c", ["a", "\u00a0", "b", "\u3000", "c"]),
    ("a\u200bb", ["a", "\u200b", "b"]),  # zero-width space is Cf, not White_Space
    ("a\x00\x1cb", ["a", "\x00", "\x1c", "b"]),
    ("e\u0301 q\u0301", ["é", "▁q\u0301"]),  # NFC composes é; q + mark stays one word
    ("a\u2581b", ["a", "▁b"]),  # a literal marker behaves like a space
    ("…— «x»", ["…—", "▁«", "x", "»"]),
]


@pytest.mark.parametrize("text,words", PRETOKENIZER_CASES)
def test_pretokenize_reference(text, words):
    assert pretokenize(normalize(text)) == words


@pytest.mark.parametrize("text,words", PRETOKENIZER_CASES)
def test_pretokenize_through_training(impl, text, words):
    # With no frequency floor and room to spare, training merges every word into one token,
    # so encoding the same text shows the words.
    tok = impl.train([text], 10_000, min_frequency=1)
    assert tokens(tok, tok.encode(text)) == words


# ---- special tokens --------------------------------------------------------------------


def test_special_tokens_in_text(impl):
    tok = impl.train(["The [MASK] is red. A B C"], 200, min_frequency=1)
    ids = tok.encode("The [MASK] is red.")
    assert 4 in ids and tok.id_to_token(4) == "[MASK]"
    assert tokens(tok, ids).count("[MASK]") == 1
    plain = tok.encode("The [MASK] is red.", special_tokens=False)
    assert 4 not in plain
    assert tok.decode(plain) == tok.decode(ids) == "The [MASK] is red."
    assert tok.encode("[CLS][SEP][PAD][UNK]") == [2, 3, 0, 1]


def test_special_tokens_leftmost_longest(impl):
    tok = impl.train(["abcd"], 100, min_frequency=5, special_tokens=["[UNK]", "ab", "abc", "bcd"])
    assert tokens(tok, tok.encode("abcd")) == ["abc", "d"]
    assert tokens(tok, tok.encode("xbcdab")) == ["[UNK]", "bcd", "ab"]  # "x" is unknown


def test_specials_cut_before_normalisation(impl):
    tok = impl.train(["[MASK] x"], 100, min_frequency=1)
    assert tokens(tok, tok.encode(" [MASK] ")) == ["▁", "[MASK]", "▁"]
