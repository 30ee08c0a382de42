"""Security: nothing untrusted is unpickled, and a run writes only under its --out.

- A `pytorch_model.bin` (and a training checkpoint's `optimizer.pt`, `scheduler.pt`, `rng.pt`)
  whose unpickling would run code (`__reduce__` creating a marker file) is refused with a clear
  message by `BertForMaskedLM.from_pretrained`, by `--resume` and by fill_mask, and the marker
  is never created.
- A pretraining run with `--out DIR` writes nothing outside DIR except the documented token-shard
  cache (BERTMLM_CACHE) and libraries' own caches: nothing in the working directory, no file
  left in TMPDIR. Tokenizer files have
  fixed names, so token strings such as `../../x` never become paths.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from bertmlm import BertConfig, BertForMaskedLM, pretrain
from tiny_run import run_args, write_corpus

TINY = dict(
    vocab_size=40,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64,
)


class Evil:
    """Unpickling this calls open(marker, "w"): the file appearing means code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_files(marker: Path) -> dict[str, callable]:
    """Ways to write a malicious .bin/.pt: torch's zip format (object alone, or inside a state
    dict or under "state_dict"), and a bare legacy pickle."""

    def zipped(obj):
        return lambda path: torch.save(obj, path)

    def raw(path):
        path.write_bytes(pickle.dumps({"w": Evil(marker)}, protocol=2))

    return {
        "object": zipped(Evil(marker)),
        "in_state_dict": zipped({"bert.embeddings.word_embeddings.weight": Evil(marker)}),
        "nested": zipped({"state_dict": {"x": torch.zeros(1), "y": Evil(marker)}}),
        "raw_pickle": raw,
    }


@pytest.mark.parametrize("kind", ["object", "in_state_dict", "nested", "raw_pickle"])
def test_from_pretrained_refuses_malicious_bin(tmp_path, kind):
    marker = tmp_path / "pwned"
    BertConfig(**TINY).save(tmp_path)
    evil_files(marker)[kind](tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="refused to load") as e:
        BertForMaskedLM.from_pretrained(tmp_path)
    assert "pytorch_model.bin" in str(e.value)
    assert not marker.exists()


def test_sanity_the_payload_does_run_when_unpickled(tmp_path):
    # proves the tests above would notice: a plain unpickle creates the marker
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Evil(marker))).close()
    assert marker.exists()


def test_fill_mask_refuses_malicious_bin(tmp_path, capsys):
    from bertmlm import fill_mask

    marker = tmp_path / "pwned"
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    BertConfig(**TINY).save(model_dir)
    evil_files(marker)["object"](model_dir / "pytorch_model.bin")
    with pytest.raises(SystemExit) as e:
        fill_mask.main(["--model", str(model_dir), "a [MASK] b"])
    assert e.value.code not in (0, None)
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------
# training checkpoints


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTMLM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_resume_refuses_malicious_checkpoint_pickles(tmp_path, cache):
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "run"
    pretrain.main(run_args(corpus, out, "--max-steps", "2"))
    from bertmlm.train_checkpoint import latest_checkpoint

    ckpt = latest_checkpoint(out / "checkpoints")
    marker = tmp_path / "pwned"
    for name in ("optimizer.pt", "scheduler.pt", "rng.pt"):
        good = (ckpt / name).read_bytes()
        evil_files(marker)["object"](ckpt / name)
        with pytest.raises(SystemExit) as e:
            pretrain.main(["--out", str(out), "--resume", "--max-steps", "4", "--no-progress"])
        message = str(e.value)
        assert message.startswith("error: ") and "\n" not in message, message
        assert name in message, message
        assert not marker.exists()
        (ckpt / name).write_bytes(good)


# ------------------------------------------------------------------------------------------------
# outputs stay under --out


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of every file and directory under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def test_pretrain_writes_only_under_out(tmp_path):
    """A whole run in a child process with its own cwd, HOME, TMPDIR and cache: afterwards only
    --out and the token-shard cache have changed; cwd, HOME and TMPDIR are as they were."""
    for d in ("cwd", "home", "tmpdir", "cache", "outs"):
        (tmp_path / d).mkdir()
    corpus = write_corpus(tmp_path / "corpus.txt")
    out = tmp_path / "outs" / "x"
    before = snapshot(tmp_path)
    env = dict(
        os.environ,
        HOME=str(tmp_path / "home"),
        TMPDIR=str(tmp_path / "tmpdir"),
        BERTMLM_CACHE=str(tmp_path / "cache"),
        MPLCONFIGDIR=str(tmp_path / "home" / "mpl"),
        XDG_CACHE_HOME=str(tmp_path / "home" / ".cache"),
    )
    env.pop("PYTHONSTARTUP", None)
    r = subprocess.run(
        [sys.executable, "-m", "bertmlm.pretrain", *run_args(corpus, out, "--max-steps", "3")],
        cwd=tmp_path / "cwd",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    after = snapshot(tmp_path)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    # Besides --out and the shard cache, libraries' own caches may appear: matplotlib's font
    # list (in MPLCONFIGDIR, pointed into the fresh HOME) and the directory torch makes for its
    # compile cache in TMPDIR on import. Neither holds anything of the run.
    allowed = ("outs", "outs/x", "cache", "home/mpl", "tmpdir/torchinductor_root")
    outside = sorted(
        p
        for p in changed
        if p not in ("home", "tmpdir") and not any(p == a or p.startswith(a + "/") for a in allowed)
    )
    assert outside == [], outside
    assert (tmp_path / "outs" / "x" / "model" / "model.safetensors").is_file()
    assert not list((tmp_path / "cwd").iterdir())
    leftovers = [p for p in (tmp_path / "tmpdir").rglob("*") if p.is_file()]
    assert leftovers == [], leftovers


def test_token_strings_never_become_paths(tmp_path):
    from fastbpe import Tokenizer

    texts = ["../../escape ..\\..\\x /etc/passwd ~/.bashrc " * 5]
    specials = ["[UNK]", "../../special", "/abs/special", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer.train(texts, 80, min_frequency=1, special_tokens=specials, show_progress=False)
    target = tmp_path / "a" / "tok"
    before = snapshot(tmp_path)
    tok.save(target)
    after = snapshot(tmp_path)
    new = sorted(set(after) - set(before))
    assert new == [
        "a",
        "a/tok",
        "a/tok/fastbpe.json",
        "a/tok/merges.txt",
        "a/tok/tokenizer.json",
        "a/tok/vocab.json",
    ], new
    assert Tokenizer.load(target).get_vocab() == tok.get_vocab()
