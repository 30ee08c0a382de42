"""--compile: a torch.compile that fails on this machine leaves the run eager, with one message."""

import torch
from bertmlm import pretrain
from tiny_run import pretrain_args


def test_compile_failure_falls_back_to_eager(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BERTMLM_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "\n\n".join(f"the cat {i % 7} sees the dog {i % 5}." for i in range(200)) + "\n"
    )

    def broken_compile(model, *args, **kwargs):
        def run(*a, **k):
            raise RuntimeError("no C++ compiler found (simulated)")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    argv = pretrain_args(
        corpus,
        tmp_path / "run",
        vocab_size=60,
        max_length=16,
        batch_size=4,
        max_steps=3,
        eval_every=0,
        checkpoint_every=0,
        no_progress=True,
        device="cpu",
        compile=True,
    )
    summary = pretrain.main(argv)
    assert summary["steps"] == 3
    assert summary["compile"]["ok"] is False and "simulated" in summary["compile"]["error"]
    out = capsys.readouterr()
    assert "torch.compile failed on this machine" in out.out + out.err
    # the same run without --compile: the fallback changed nothing else
    plain = pretrain.main([*argv[:-1], "--out", str(tmp_path / "plain")])
    assert plain["val_loss"] == summary["val_loss"] and plain["compile"] is None
