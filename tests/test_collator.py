"""MLMCollator: selection rate, 80/10/10 split, special tokens, labels, reproducibility, whole words."""

import pytest
import torch
from bertmlm.collator import IGNORE_INDEX, MLMCollator, stack_examples

V = 1000
SPECIALS = [0, 1, 2, 3, 4]  # [PAD] [UNK] [CLS] [SEP] [MASK]
PAD, CLS, SEP, MASK = 0, 2, 3, 4


def make_batch(batch=64, seq=128, seed=0):
    """Rows like the packer makes: [CLS] tokens [SEP] [PAD]..., with some specials mid-row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (batch, seq), generator=g)
    lengths = torch.randint(seq // 2, seq + 1, (batch,), generator=g)
    mask = torch.arange(seq)[None, :] < lengths[:, None]
    ids[:, 0] = CLS
    ids[torch.arange(batch), lengths - 1] = SEP
    ids[:, 10] = 1  # an [UNK] in every row
    ids[~mask] = PAD
    return ids, mask.long()


def test_statistics_over_many_tokens():
    coll = MLMCollator(V, SPECIALS, MASK, PAD, seed=1)
    selected = masked = randomised = kept = eligible = 0
    for step in range(20):
        ids, am = make_batch(seed=step)
        out, labels = coll.mask_tokens(ids, am)
        special = ids < 5
        assert not (labels[special] != IGNORE_INDEX).any(), "a special or pad token was selected"
        assert (out[special] == ids[special]).all(), "a special or pad token was changed"
        sel = labels != IGNORE_INDEX
        # labels hold the original id where selected, and nothing changes where not selected
        assert torch.equal(labels[sel], ids[sel])
        assert torch.equal(out[~sel], ids[~sel])
        eligible += int((~special).sum())
        selected += int(sel.sum())
        masked += int((out[sel] == MASK).sum())
        changed = sel & (out != ids) & (out != MASK)
        assert (out[changed] >= 5).all(), "a random replacement was a special token"
        randomised += int(changed.sum())
        kept += int((sel & (out == ids)).sum())
    assert eligible > 100_000
    assert abs(selected / eligible - 0.15) < 0.02
    # a random replacement equal to the original (1/995 chance) counts as "kept": negligible
    assert abs(masked / selected - 0.8) < 0.03
    assert abs(randomised / selected - 0.1) < 0.03
    assert abs(kept / selected - 0.1) < 0.03


def test_configurable_probabilities():
    coll = MLMCollator(
        V,
        SPECIALS,
        MASK,
        PAD,
        mlm_probability=0.4,
        mask_replace_prob=0.5,
        random_replace_prob=0.5,
        seed=3,
    )
    ids, am = make_batch(batch=128, seed=9)
    out, labels = coll.mask_tokens(ids, am)
    sel = labels != IGNORE_INDEX
    eligible = ids >= 5
    assert abs(sel.sum() / eligible.sum() - 0.4) < 0.02
    assert abs((out[sel] == MASK).float().mean() - 0.5) < 0.03
    assert (out[sel] != ids[sel]).float().mean() > 0.99  # nothing left unchanged (up to chance)


def test_padding_never_selected_even_if_not_pad_id():
    """attention_mask == 0 positions are skipped even when they hold a normal token id."""
    coll = MLMCollator(V, SPECIALS, MASK, PAD, mlm_probability=0.9, seed=0)
    ids = torch.randint(5, V, (8, 32))
    am = torch.ones_like(ids)
    am[:, 16:] = 0
    _, labels = coll.mask_tokens(ids, am)
    assert (labels[:, 16:] == IGNORE_INDEX).all()
    assert (labels[:, :16] != IGNORE_INDEX).any()


def test_fresh_masks_yet_reproducible_and_resumable():
    ids, am = make_batch(seed=5)
    a = MLMCollator(V, SPECIALS, MASK, PAD, seed=42)
    b = MLMCollator(V, SPECIALS, MASK, PAD, seed=42)
    first_a, _ = a.mask_tokens(ids, am)
    state = a.state_dict()
    second_a, _ = a.mask_tokens(ids, am)
    assert not torch.equal(first_a, second_a), "the same batch got the same mask twice"
    assert torch.equal(b.mask_tokens(ids, am)[0], first_a), "same seed, different masks"
    c = MLMCollator(V, SPECIALS, MASK, PAD, seed=7)
    c.load_state_dict(state)
    assert torch.equal(c.mask_tokens(ids, am)[0], second_a), "restored state does not continue"


def test_with_seed_is_a_separate_stream():
    ids, am = make_batch(seed=5)
    a = MLMCollator(V, SPECIALS, MASK, PAD, mlm_probability=0.3, seed=42)
    fresh = MLMCollator(V, SPECIALS, MASK, PAD, mlm_probability=0.3, seed=9)
    other = a.with_seed(9)
    assert torch.equal(other.mask_tokens(ids, am)[0], fresh.mask_tokens(ids, am)[0])
    # drawing from the copy leaves the original's stream where it was
    again = MLMCollator(V, SPECIALS, MASK, PAD, mlm_probability=0.3, seed=42)
    assert torch.equal(a.mask_tokens(ids, am)[0], again.mask_tokens(ids, am)[0])


def test_call_stacks_examples_and_keeps_inputs():
    coll = MLMCollator(V, SPECIALS, MASK, PAD, seed=0)
    ex = [
        {
            "input_ids": torch.tensor([CLS, 7, 8, 9, SEP, PAD]),
            "attention_mask": torch.tensor([1, 1, 1, 1, 1, 0]),
        }
        for _ in range(3)
    ]
    before = ex[0]["input_ids"].clone()
    batch = coll(ex)
    assert set(batch) >= {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert batch["input_ids"].shape == (3, 6) and batch["labels"].dtype == torch.long
    assert torch.equal(batch["token_type_ids"], torch.zeros(3, 6, dtype=torch.long))
    assert torch.equal(ex[0]["input_ids"], before), "the collator modified its input"
    derived = stack_examples([{"input_ids": [CLS, 5, PAD]}])
    assert derived["attention_mask"].tolist() == [[1, 1, 0]]


class FakeTokenizer:
    """The bits of fastbpe.Tokenizer that MLMCollator.from_tokenizer reads."""

    special_tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    def __init__(self, tokens):
        self.vocab = {t: i for i, t in enumerate(self.special_tokens + tokens)}
        self.vocab_size = len(self.vocab)

    def get_vocab(self):
        return dict(self.vocab)


def test_whole_word_masking_selects_whole_words():
    tok = FakeTokenizer(["▁token", "izer", "s", "▁BERT", "'", "▁the", "▁42", "ing", "."])
    v = tok.vocab
    # words: [CLS] | ▁token izer s | ▁BERT | ' | s | ▁the | ▁42 | ing | . | [SEP]
    row = ["[CLS]", "▁token", "izer", "s", "▁BERT", "'", "s", "▁the", "▁42", "ing", ".", "[SEP]"]
    word_of = [None, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, None]
    ids = torch.tensor([[v[t] for t in row]] * 4000)
    coll = MLMCollator.from_tokenizer(tok, whole_word=True, seed=0)
    starts = coll._word_starts(ids[:1])[0].tolist()
    assert starts == [True, True, False, False, True, True, True, True, True, True, True, True]
    _, labels = coll.mask_tokens(ids, torch.ones_like(ids))
    sel = labels != IGNORE_INDEX
    assert not sel[:, 0].any() and not sel[:, -1].any()
    for i in range(1, 11):
        for j in range(1, 11):
            if word_of[i] == word_of[j]:
                assert torch.equal(sel[:, i], sel[:, j]), f"tokens {i} and {j} of one word split"
    assert abs(sel[:, 1].float().mean() - 0.15) < 0.03  # words are selected at the usual rate


def test_from_tokenizer_ids():
    tok = FakeTokenizer(["▁a", "b"])
    coll = MLMCollator.from_tokenizer(tok)
    assert coll.mask_id == 4 and coll.pad_id == 0
    assert coll.normal_ids.tolist() == [5, 6]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mlm_probability": 0.0}, "mlm_probability"),
        ({"mask_replace_prob": 0.9, "random_replace_prob": 0.2}, "sum to at most 1"),
        ({"whole_word": True}, "from_tokenizer"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLMCollator(V, SPECIALS, MASK, PAD, **kwargs)
