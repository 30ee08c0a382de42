"""`python -m bertmlm.fill_mask --model DIR [--top-k K] "text with [MASK] in it"`

Prints, for every [MASK] in the text, the K most likely tokens with their probabilities. DIR is a
run directory (holding model/ and tokenizer/) or a model directory with the tokenizer beside it
(`DIR/../tokenizer`) or inside it.

A space written before [MASK] is folded into the mask, since the tokens it replaced in training
carry their leading space (`▁word`): "The [MASK] is red." asks for a token like `▁cat`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


class FillMaskError(Exception):
    pass


def find_dirs(path: str | Path) -> tuple[Path, Path]:
    """(model dir, tokenizer dir) for a run directory or a model directory."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FillMaskError(
            f"{path} is not a directory; pass a run directory or its model/ directory"
        )
    model_dir = path / "model" if (path / "model" / "config.json").is_file() else path
    if not (model_dir / "config.json").is_file():
        raise FillMaskError(f"no model in {path}: expected config.json here or in {path / 'model'}")
    for tok_dir in (model_dir / "tokenizer", model_dir.parent / "tokenizer", model_dir):
        if (tok_dir / "vocab.json").is_file():
            return model_dir, tok_dir
    raise FillMaskError(f"no tokenizer next to {model_dir} (looked for tokenizer/vocab.json)")


class FillMask:
    """Load a model and its tokenizer once, then predict masks in any number of texts."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        import torch  # noqa: F401
        from fastbpe import Tokenizer

        from .modeling import BertForMaskedLM

        model_dir, tok_dir = find_dirs(path)
        self.tokenizer = Tokenizer.load(tok_dir)
        self.model = BertForMaskedLM.from_pretrained(model_dir).to(device).eval()
        if self.model.config.vocab_size != self.tokenizer.vocab_size:
            raise FillMaskError(
                f"the model has vocab_size={self.model.config.vocab_size} but the "
                f"tokenizer in {tok_dir} has {self.tokenizer.vocab_size} tokens"
            )
        self.device = device
        ids: dict[str, int] = {}
        for t in ("[CLS]", "[SEP]", "[MASK]"):
            i = self.tokenizer.token_to_id(t)
            if i is None:
                raise FillMaskError(f"the tokenizer in {tok_dir} lacks [CLS], [SEP] or [MASK]")
            ids[t] = i
        self.cls_id, self.sep_id, self.mask_id = ids["[CLS]"], ids["[SEP]"], ids["[MASK]"]
        specials = getattr(self.tokenizer, "special_tokens", [])
        self.special_ids = [
            i for i in (self.tokenizer.token_to_id(t) for t in specials) if i is not None
        ]

    def __call__(self, text: str, top_k: int = 5) -> list[list[dict[str, Any]]]:
        """For each [MASK] in `text`, in order: [{"token", "token_str", "id", "score"}, ...]."""
        import torch

        # " [MASK]" -> "[MASK]": in training a mask replaced a whole "▁word" token, space included
        body = self.tokenizer.encode(text.replace(" [MASK]", "[MASK]"))
        limit = self.model.config.max_position_embeddings - 2
        if len(body) > limit:
            raise FillMaskError(
                f"the text is {len(body)} tokens long; the model takes at most {limit}"
            )
        ids = torch.tensor([[self.cls_id, *body, self.sep_id]], device=self.device)
        is_mask = torch.eq(ids[0], self.mask_id)
        positions = is_mask.nonzero().flatten().tolist()
        if not positions:
            raise FillMaskError(
                "the text has no [MASK] token; write [MASK] where a word should be guessed"
            )
        with torch.no_grad():
            logits = self.model(ids, attention_mask=torch.ones_like(ids)).prediction_scores[0]
        logits = logits.float()
        logits[:, self.special_ids] = float("-inf")  # never propose [PAD], [MASK], ...
        probs = logits.softmax(-1)
        k = min(top_k, probs.shape[-1] - len(self.special_ids))
        out = []
        for pos in positions:
            p, idx = probs[pos].topk(k)
            out.append(
                [
                    {
                        "id": int(i),
                        "token": self.tokenizer.id_to_token(int(i)),
                        "token_str": self.tokenizer.decode([int(i)]),
                        "score": float(s),
                    }
                    for s, i in zip(p, idx)
                ]
            )
        return out


def main(argv: list[str] | None = None) -> list[list[dict[str, Any]]]:
    p = argparse.ArgumentParser(
        prog="python -m bertmlm.fill_mask", description=__doc__.split("\n\n")[1]
    )
    p.add_argument("--model", required=True, metavar="DIR", help="run directory or model directory")
    p.add_argument(
        "--top-k", type=int, default=5, metavar="K", help="predictions per [MASK] (default 5)"
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("text", help='text with one or more [MASK], e.g. "The [MASK] is red."')
    args = p.parse_args(argv)
    if args.top_k < 1:
        raise SystemExit("error: --top-k must be at least 1")
    try:
        results = FillMask(args.model, args.device)(args.text, args.top_k)
    except (FillMaskError, OSError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    for n, preds in enumerate(results, 1):
        print(f"[MASK] #{n}:" if len(results) > 1 else "[MASK]:")
        for r in preds:
            print(
                f"  {r['score']:.4f}  {r['token_str']!r:20}  (token {r['token']!r}, id {r['id']})"
            )
    return results


if __name__ == "__main__":
    main()
