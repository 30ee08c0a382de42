"""python -m bertmlm.fill_mask on a tiny model trained here; its run dir and model dir both work."""

import json
import math
import random

import pytest
from bertmlm import fill_mask, pretrain

NOUNS = ["cat", "dog", "bird", "fish", "horse", "cow", "sheep", "goat"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run trained for a few seconds on "the ADJ NOUN is here." sentences."""
    tmp = tmp_path_factory.mktemp("fill")
    rng = random.Random(0)
    paras = [
        " ".join(
            f"the {rng.choice(['red', 'big', 'old'])} {rng.choice(NOUNS)} is here."
            for _ in range(4)
        )
        for _ in range(200)
    ]
    corpus = tmp / "corpus.txt"
    corpus.write_text("\n\n".join(paras) + "\n")
    out = tmp / "run"
    mp = pytest.MonkeyPatch()
    mp.setenv("BERTMLM_CACHE", str(tmp / "cache"))
    try:
        pretrain.main(
            [
                "--corpus",
                str(corpus),
                "--out",
                str(out),
                "--vocab-size",
                "80",
                "--max-length",
                "32",
                "--batch-size",
                "16",
                "--max-steps",
                "150",
                "--epochs",
                "30",
                "--lr",
                "3e-3",
                "--log-every",
                "1000",
                "--eval-every",
                "0",
                "--checkpoint-every",
                "0",
                "--no-progress",
            ]
        )
    finally:
        mp.undo()
    return out


def test_fill_mask_prints_top_k(run_dir, capsys):
    results = fill_mask.main(["--model", str(run_dir), "--top-k", "3", "the big cat [MASK] here."])
    printed = capsys.readouterr().out
    assert len(results) == 1 and len(results[0]) == 3
    scores = [r["score"] for r in results[0]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert not any(r["token"].startswith("[") for r in results[0]), "a special token was proposed"
    assert printed.startswith("[MASK]:") and results[0][0]["token_str"].strip() in printed
    # the model learned that "is" always follows the noun
    assert results[0][0]["token_str"] == " is", results[0]


def test_two_masks_and_model_dir(run_dir, capsys):
    results = fill_mask.main(["--model", str(run_dir / "model"), "[MASK] red cat is [MASK]."])
    assert len(results) == 2 and len(results[0]) == 5
    assert "[MASK] #2:" in capsys.readouterr().out
    total = sum(r["score"] for r in results[1])
    assert 0 < total <= 1 + 1e-6 and not math.isnan(total)


def test_loads_in_transformers(run_dir):
    transformers = pytest.importorskip("transformers")
    model = transformers.BertForMaskedLM.from_pretrained(run_dir / "model")
    assert (
        model.config.vocab_size
        == json.loads((run_dir / "model" / "config.json").read_text())["vocab_size"]
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "{run}", "no mask here"], "no [MASK]"),
        (["--model", "{run}/nowhere", "a [MASK]"], "not a directory"),
        (["--model", "{run}/tokenizer", "a [MASK]"], "no model"),
        (["--model", "{run}", "--top-k", "0", "a [MASK]"], "--top-k"),
    ],
)
def test_errors(run_dir, argv, message):
    with pytest.raises(SystemExit) as e:
        fill_mask.main([a.replace("{run}", str(run_dir)) for a in argv])
    assert message in str(e.value)
