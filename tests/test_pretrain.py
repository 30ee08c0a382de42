"""python -m bertmlm.pretrain end to end on a small corpus: learning, outputs, exact resume, bad input."""

import csv
import json
import math
import random

import pytest
from bertmlm import pretrain
from bertmlm.trainer import LOG_FORMAT, Trainer
from tiny_run import pretrain_args

NOUNS = [
    "cat",
    "dog",
    "bird",
    "fish",
    "horse",
    "cow",
    "sheep",
    "goat",
    "mouse",
    "fox",
    "wolf",
    "bear",
    "lion",
    "tiger",
    "owl",
    "frog",
]
VERBS = ["sees", "likes", "chases", "finds", "follows", "hears", "meets", "helps"]
ADJS = ["red", "big", "small", "old", "young", "green", "quick", "slow", "happy", "sad"]


def write_corpus(path, docs=240, seed=0):
    """Sentences from a tiny grammar: learnable patterns ("the ADJ NOUN VERB the NOUN.")."""
    rng = random.Random(seed)
    paras = []
    for _ in range(docs):
        sents = [
            f"the {rng.choice(ADJS)} {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)}."
            for _ in range(rng.randint(2, 5))
        ]
        paras.append(" ".join(sents).capitalize())
    path.write_text("\n\n".join(paras) + "\n")
    return path


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTMLM_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


def args(corpus, out, *extra):
    return pretrain_args(
        corpus,
        out,
        *extra,
        vocab_size=120,
        max_length=32,
        batch_size=8,
        log_every=1,
        eval_every=0,
        checkpoint_every=0,
        no_progress=True,
        seed=3,
    )


def train_rows(out):
    with open(out / "metrics.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["kind"] == "train"]


def test_end_to_end_loss_falls(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    summary = pretrain.main(args(corpus, out, "--max-steps", "60", "--lr", "2e-3"))
    for name in (
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "model/config.json",
        "model/model.safetensors",
        "metrics.csv",
        "curves.png",
        "summary.json",
        "run_config.json",
        "checkpoints/latest",
    ):
        assert (out / name).exists(), name
    on_disk = json.loads((out / "summary.json").read_text())
    for key in ("val_loss", "val_acc", "unigram_acc", "steps", "tokens_seen", "seconds"):
        assert on_disk[key] is not None, key
    assert on_disk["steps"] == 60 and on_disk["tokens_seen"] > 0
    assert abs(summary["first_loss"] - math.log(summary["vocab_size"])) < 0.3
    losses = [float(r["loss"]) for r in train_rows(out)]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.5, losses
    assert 0 < summary["val_acc"] <= 1 and 0 < summary["unigram_acc"] <= 1
    # the specification's log line, exactly
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Epoch ")]
    assert lines and all(_matches_log_format(ln) for ln in lines), lines[:3]


def _matches_log_format(line):
    import re

    pattern = (
        r"Epoch \d+/\d+, Batch \d+/\d+, Loss: \d+\.\d{4}, Avg Loss: \d+\.\d{4}, "
        r"Batch Acc: \d\.\d{4}, Avg Acc: \d\.\d{4}, LR: \d\.\d{2}e[-+]\d{2}"
    )
    return re.fullmatch(pattern, line) is not None


def test_log_format_is_the_specifications():
    line = LOG_FORMAT.format(
        epoch=3,
        epochs=3,
        batch=750,
        batches=1191,
        loss=10.8566,
        avg_loss=14.3355,
        acc=0.0702,
        avg_acc=0.0670,
        lr=6.35e-06,
    )
    assert line == (
        "Epoch 3/3, Batch 750/1191, Loss: 10.8566, Avg Loss: 14.3355, Batch Acc: 0.0702, "
        "Avg Acc: 0.0670, LR: 6.35e-06"
    )


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, corpus, monkeypatch):
    common = [
        "--max-steps",
        "12",
        "--grad-accum",
        "2",
        "--epochs",
        "5",
        "--dropout",
        "0.1",
    ]  # RNG in use
    full = tmp_path / "full"
    pretrain.main(args(corpus, full, *common))

    def stop_at_5(self):
        if self.step == 5:
            self.stop_requested = True  # what Ctrl-C does

    part = tmp_path / "part"
    with monkeypatch.context() as m:
        m.setattr(Trainer, "after_step", stop_at_5)
        result = pretrain.main(args(corpus, part, *common))
    assert result["interrupted"] and result["steps"] == 5
    assert not (part / "summary.json").exists()
    resumed = pretrain.main(["--out", str(part), "--resume", "--no-progress"])
    assert resumed["steps"] == 12

    a, b = train_rows(full), train_rows(part)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["acc"] for r in a] == [r["acc"] for r in b]
    sa = json.loads((full / "summary.json").read_text())
    assert sa["val_loss"] == resumed["val_loss"] and sa["tokens_seen"] == resumed["tokens_seen"]


# ------------------------------------------------------------------------------------------------
# bad input: one clear line, nothing overwritten


def expect_error(argv, *fragments):
    with pytest.raises(SystemExit) as e:
        pretrain.main(argv)
    message = str(e.value)
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_corpus(tmp_path):
    expect_error(args(tmp_path / "nope.txt", tmp_path / "run"), "does not exist")


def test_empty_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n\n")
    expect_error(args(empty, tmp_path / "run"), "contains no text")


def test_corpus_smaller_than_one_batch(tmp_path):
    small = write_corpus(tmp_path / "small.txt", docs=3)
    expect_error(args(small, tmp_path / "run"), "fewer than one batch of 8")
    assert not (tmp_path / "run").exists(), "a failed fresh run left its directory behind"


def test_tokenizer_model_vocab_mismatch(tmp_path, corpus):
    run = tmp_path / "run"
    pretrain.main(args(corpus, run, "--max-steps", "1"))
    config = json.loads((run / "model" / "config.json").read_text())
    config["vocab_size"] += 7
    (tmp_path / "config.json").write_text(json.dumps(config))
    expect_error(
        args(
            corpus,
            tmp_path / "run2",
            "--tokenizer",
            str(run / "tokenizer"),
            "--model",
            str(tmp_path / "config.json"),
        ),
        "vocab_size=",
        "tokens",
    )


def test_unwritable_output_dir(tmp_path, corpus):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    expect_error(args(corpus, blocker / "run"), "cannot write to output directory")


def test_existing_run_is_not_overwritten(tmp_path, corpus):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("precious")
    expect_error(args(corpus, run), "already exists", "--resume")
    assert (run / "summary.json").read_text() == "precious"


def test_resume_with_other_settings(tmp_path, corpus):
    run = tmp_path / "run"
    pretrain.main(args(corpus, run, "--max-steps", "2"))
    before = (run / "summary.json").read_bytes()
    expect_error(
        ["--out", str(run), "--resume", "--lr", "0.5", "--no-progress"],
        "--lr 0.5",
        "other settings",
    )
    expect_error(["--out", str(tmp_path / "none"), "--resume"], "nothing to resume")
    assert (run / "summary.json").read_bytes() == before


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, corpus, monkeypatch):
    from bertmlm.modeling import BertForMaskedLM
    from bertmlm.train_checkpoint import latest_checkpoint

    original = BertForMaskedLM.forward
    calls = {"train": 0}

    def forward(self, *a, **kw):
        out = original(self, *a, **kw)
        if self.training:
            calls["train"] += 1
            if calls["train"] > 4:
                out = out._replace(loss=out.loss * float("nan"))
        return out

    monkeypatch.setattr(BertForMaskedLM, "forward", forward)
    run = tmp_path / "run"
    expect_error(
        args(corpus, run, "--max-steps", "10", "--checkpoint-every", "2"),
        "loss became nan at step 5",
        "step-000004",
        "--lr",
    )
    assert latest_checkpoint(run / "checkpoints").name == "step-000004"
    assert (
        not (run / "summary.json").exists() and not (run / "model" / "model.safetensors").exists()
    )
