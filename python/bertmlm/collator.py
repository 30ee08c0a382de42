"""MLMCollator: dynamic masked-language-model masking (BERT's 80/10/10), reproducible per seed.

For every batch it
1. selects each *eligible* position with probability `mlm_probability` (0.15); special tokens
   ([PAD], [CLS], [SEP], [MASK], [UNK], ...) and padding (attention_mask == 0) are never eligible;
2. replaces a selected token with [MASK] with probability `mask_replace_prob` (0.8), with a random
   non-special token with probability `random_replace_prob` (0.1), and leaves it unchanged
   otherwise (the remaining 0.1);
3. returns labels that hold the original id at the selected positions and -100 elsewhere (the
   value cross-entropy ignores).

The random numbers come from the collator's own `torch.Generator`, seeded once: masks differ
from batch to batch and epoch to epoch, yet a run with the same seed sees the same masks, and
`state_dict()` / `load_state_dict()` let a resumed run continue the exact sequence.

Whole-word masking (`whole_word=True`) selects words instead of tokens: every token of a selected
word is selected (the 80/10/10 choice is still made per token). Word boundaries follow the
tokenizer's pre-tokenizer (docs/tokenizer.md): a token *continues* the previous word when it does
not begin with the space marker `▁`, its first character is a letter, and the previous token ends
with a letter; every other token starts a new word. So "▁token" "izer" is one word, while
"▁BERT" "'" "s" is three (punctuation and digits are words of their own).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

IGNORE_INDEX = -100  # label value that the loss ignores
SPACE_MARKER = "\u2581"


class MLMCollator:
    """Stack examples into a batch and mask it for MLM.

    Args:
        vocab_size: number of token ids.
        special_ids: ids that are never selected nor drawn as random replacements.
        mask_id: the [MASK] id.
        pad_id: the [PAD] id (used when examples carry no attention_mask).
        mlm_probability: chance that an eligible token (or word) is selected.
        mask_replace_prob: chance that a selected token becomes [MASK].
        random_replace_prob: chance that a selected token becomes a random non-special token.
        whole_word: select whole words (needs `word_start`, see `from_tokenizer`).
        word_start: bool tensor [vocab_size]: True where a token starts a word (see above),
            plus `letter_end`: True where a token ends with a letter; built by `from_tokenizer`.
        seed: seed of the collator's generator.

    Example:
        >>> coll = MLMCollator.from_tokenizer(tok, seed=0)
        >>> batch = coll([{"input_ids": ids, "attention_mask": am}, ...])
        >>> batch["input_ids"], batch["labels"]
    """

    def __init__(
        self,
        vocab_size: int,
        special_ids: Iterable[int],
        mask_id: int,
        pad_id: int = 0,
        *,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        whole_word: bool = False,
        word_start: torch.Tensor | None = None,
        letter_end: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        if (
            mask_replace_prob < 0
            or random_replace_prob < 0
            or mask_replace_prob + random_replace_prob > 1
        ):
            raise ValueError(
                "mask_replace_prob and random_replace_prob must be >= 0 and sum to at most 1, "
                f"got {mask_replace_prob} and {random_replace_prob}"
            )
        special = sorted({int(i) for i in special_ids} | {int(mask_id), int(pad_id)})
        if any(not 0 <= i < vocab_size for i in special):
            raise ValueError(f"special ids {special} must lie in [0, vocab_size={vocab_size})")
        self.vocab_size = int(vocab_size)
        self.mask_id, self.pad_id = int(mask_id), int(pad_id)
        self.mlm_probability = float(mlm_probability)
        self.mask_replace_prob = float(mask_replace_prob)
        self.random_replace_prob = float(random_replace_prob)
        self.is_special = torch.zeros(vocab_size, dtype=torch.bool)
        self.is_special[special] = True
        # random replacements are drawn uniformly from these ids
        self.normal_ids = torch.nonzero(~self.is_special).flatten()
        if len(self.normal_ids) == 0 and random_replace_prob > 0:
            raise ValueError(
                "the vocabulary has no non-special token to draw random replacements from"
            )
        self.whole_word = bool(whole_word)
        if self.whole_word and (word_start is None or letter_end is None):
            raise ValueError(
                "whole_word=True needs word_start and letter_end tables; "
                "build the collator with MLMCollator.from_tokenizer"
            )
        self.word_start = word_start
        self.letter_end = letter_end
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, **kwargs: Any) -> MLMCollator:
        """Build from a fastbpe tokenizer: special ids, [MASK]/[PAD] ids and word-boundary tables."""
        vocab = tokenizer.get_vocab()
        specials = list(
            getattr(tokenizer, "special_tokens", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        )
        special_ids = [vocab[t] for t in specials if t in vocab]
        for name in ("[MASK]", "[PAD]"):
            if name not in vocab:
                raise ValueError(f"the tokenizer has no {name} token, which MLM needs")
        n = tokenizer.vocab_size
        word_start = torch.ones(n, dtype=torch.bool)
        letter_end = torch.zeros(n, dtype=torch.bool)
        special_set = set(special_ids)
        for token, i in vocab.items():
            if i in special_set or not token:
                continue
            word_start[i] = token[0] == SPACE_MARKER or not token[0].isalpha()
            letter_end[i] = token[-1].isalpha()
        return cls(
            n,
            special_ids,
            vocab["[MASK]"],
            vocab["[PAD]"],
            word_start=word_start,
            letter_end=letter_end,
            **kwargs,
        )

    # --------------------------------------------------------------------------------------------
    # generator state (for exact resume)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def with_seed(self, seed: int) -> MLMCollator:
        """The same collator drawing from its own generator seeded with `seed` (this one's
        stream is left untouched: evaluation masks must not shift the training masks)."""
        other = copy.copy(self)
        other.generator = torch.Generator().manual_seed(seed)
        return other

    # --------------------------------------------------------------------------------------------
    # collation

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Stack a list of examples (dicts with input_ids and optional attention_mask and
        token_type_ids, all the same length) and mask the batch."""
        return self.mask_batch(stack_examples(examples, self.pad_id))

    def mask_batch(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mask an already stacked batch; returns a new dict with input_ids, labels and the rest."""
        input_ids = batch["input_ids"]
        attention_mask = batch.get("attention_mask")
        if attention_mask is None:
            attention_mask = (input_ids != self.pad_id).long()
        input_ids, labels = self.mask_tokens(input_ids, attention_mask)
        out = dict(batch)
        out.update(input_ids=input_ids, labels=labels, attention_mask=attention_mask)
        if "token_type_ids" not in out:
            out["token_type_ids"] = torch.zeros_like(input_ids)
        return out

    def mask_tokens(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked input ids, labels) for a [batch, seq] LongTensor; the input is not modified."""
        ids = input_ids.long()
        eligible = ~self.is_special[ids]
        if attention_mask is not None:
            eligible &= attention_mask.bool()
        g = self.generator
        if self.whole_word:
            starts = self._word_starts(ids)
            word_index = (
                torch.cumsum(starts.long(), dim=1) - 1
            )  # [B, T]: index of each token's word
            word_draw = torch.rand(ids.shape, generator=g)  # one draw per word (<= T words per row)
            selected = torch.gather(word_draw, 1, word_index.clamp_min(0)) < self.mlm_probability
        else:
            selected = torch.rand(ids.shape, generator=g) < self.mlm_probability
        selected &= eligible

        labels = torch.full_like(ids, IGNORE_INDEX)
        labels[selected] = ids[selected]

        # one draw decides [MASK] / random / unchanged for each selected token
        action = torch.rand(ids.shape, generator=g)
        to_mask = selected & (action < self.mask_replace_prob)
        to_random = (
            selected
            & (action >= self.mask_replace_prob)
            & (action < self.mask_replace_prob + self.random_replace_prob)
        )
        out = ids.clone()
        out[to_mask] = self.mask_id
        n_random = int(to_random.sum())
        if n_random:
            picks = torch.randint(len(self.normal_ids), (n_random,), generator=g)
            out[to_random] = self.normal_ids[picks]
        return out, labels

    def _word_starts(self, ids: torch.Tensor) -> torch.Tensor:
        """[B, T] bool: True where a token starts a word (rule in the module docstring)."""
        assert self.word_start is not None and self.letter_end is not None
        starts = self.word_start[ids].clone()
        prev_letter_end = torch.zeros_like(starts)
        prev_letter_end[:, 1:] = self.letter_end[ids[:, :-1]]
        starts[:, 1:] |= ~prev_letter_end[:, 1:]
        starts[:, 0] = True
        return starts


def stack_examples(
    examples: Sequence[Mapping[str, Any]], pad_id: int = 0
) -> dict[str, torch.Tensor]:
    """Stack equal-length examples into [batch, seq] LongTensors (input_ids, attention_mask,
    token_type_ids; the last two are derived when absent)."""
    if not examples:
        raise ValueError("cannot collate an empty list of examples")
    input_ids = torch.stack([torch.as_tensor(e["input_ids"], dtype=torch.long) for e in examples])
    batch = {"input_ids": input_ids}
    if "attention_mask" in examples[0]:
        batch["attention_mask"] = torch.stack(
            [torch.as_tensor(e["attention_mask"], dtype=torch.long) for e in examples]
        )
    else:
        batch["attention_mask"] = (input_ids != pad_id).long()
    if "token_type_ids" in examples[0]:
        batch["token_type_ids"] = torch.stack(
            [torch.as_tensor(e["token_type_ids"], dtype=torch.long) for e in examples]
        )
    else:
        batch["token_type_ids"] = torch.zeros_like(input_ids)
    return batch
