"""`python -m bertmlm.pretrain`: corpus -> tokenizer -> token shards -> BERT MLM -> a run directory.

With no arguments it trains a tokenizer and a tiny BERT on the built-in corpus (Python's and its
dependencies' documentation, see corpus.py) for at most 12 minutes and reports held-out accuracy
next to the unigram baseline. A run directory holds

    tokenizer/     the fastbpe tokenizer (vocab.json, merges.txt, tokenizer.json, ...)
    model/         config.json + model.safetensors, loadable by transformers.BertForMaskedLM
    checkpoints/   the trainer's checkpoints (see train_checkpoint.py); --resume continues the newest
    run_config.json, metrics.csv, curves.png, summary.json

Bad input (missing or empty corpus, a corpus smaller than one batch, a tokenizer that does not
fit the model, an unwritable output directory, resuming with other settings) ends with a one-line
message and nothing overwritten.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .rundir import MetricsFile, PretrainError, new_run_dir, resolve_out_dir, write_json

# settings that must match when resuming (stop conditions, logging and the device may change)
RESUME_MUST_MATCH = (
    "corpus",
    "tokenizer",
    "vocab_size",
    "model",
    "dropout",
    "max_length",
    "batch_size",
    "grad_accum",
    "lr",
    "warmup_steps",
    "weight_decay",
    "mlm_probability",
    "whole_word",
    "seed",
    "line_by_line",
    "val_fraction",
)
DEFAULT_MAX_MINUTES = 12.0  # for the built-in corpus only
DEFAULT_BUILTIN_EPOCHS = 10  # for the built-in corpus only: the time budget usually ends it first


@dataclass
class PretrainConfig:
    corpus: list[str] = field(default_factory=list)  # files, directories, globs; empty: built-in
    out: str | None = None  # run directory; default: a new folder under ./runs/
    tokenizer: str | None = None  # load this tokenizer directory instead of training one
    vocab_size: int | None = None  # default: sized for the corpus (see default_vocab_size)
    model: str = "tiny"  # preset name or a config.json path
    dropout: float | None = None  # None: 0 for the tiny preset, the preset's 0.1 for the others
    max_length: int = 128  # tokens per sequence, [CLS] and [SEP] included
    batch_size: int = 16  # small batches: more updates per second on a CPU
    epochs: int = 3
    max_steps: int | None = None
    max_minutes: float | None = None  # default: 12 with the built-in corpus, else no limit
    lr: float = 2e-3  # peak learning rate (tuned for the tiny preset; lower it for base)
    warmup_steps: int | None = None  # default: min(100, 10% of the steps)
    log_every: int = 50  # batches between log lines
    resume: bool = False
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.05
    line_by_line: bool = False
    checkpoint_every: int = 500  # optimizer steps between checkpoints (0: only at the end)
    eval_every: int = 200  # optimizer steps between evaluations (0: only at the end)
    grad_accum: int = 1
    weight_decay: float = 0.01
    mlm_probability: float = 0.15
    whole_word: bool = False
    num_workers: int = 0
    progress: bool = True
    compile: bool = (
        False  # torch.compile the model (falls back to eager, with a message, if it fails)
    )


def build_parser(suppress: bool = False) -> argparse.ArgumentParser:
    """The CLI; with suppress=True every default is argparse.SUPPRESS (to see what was given)."""
    d = PretrainConfig()
    p = argparse.ArgumentParser(
        prog="python -m bertmlm.pretrain",
        description=__doc__.split("\n")[0],
        argument_default=argparse.SUPPRESS if suppress else None,
    )

    def add(flag: str, **kw: Any) -> None:
        name = flag.lstrip("-").replace("-", "_")
        if not suppress and "action" not in kw:
            kw["default"] = getattr(d, name)
        elif suppress:
            kw.pop("default", None)
        p.add_argument(flag, dest=name, **kw)

    add(
        "--corpus",
        nargs="+",
        metavar="PATH",
        help=".txt/.jsonl/.gz files, directories or globs (default: the built-in documentation corpus)",
    )
    add("--out", metavar="DIR", help="run directory (default: a new folder under ./runs/)")
    add("--tokenizer", metavar="DIR", help="use this saved tokenizer instead of training one")
    add(
        "--vocab-size",
        type=int,
        metavar="N",
        help="vocabulary size when training a tokenizer "
        "(default: sized for the corpus, 4096 for the built-in one)",
    )
    add("--model", metavar="tiny|small|base|CONFIG.json", help="model size (default tiny)")
    add(
        "--dropout",
        type=float,
        metavar="P",
        help="hidden and attention dropout of a preset model "
        "(default 0 for tiny: a short run underfits and dropout only slows it; 0.1 for small/base)",
    )
    add("--max-length", type=int, metavar="N", help="tokens per sequence (default 128)")
    add("--batch-size", type=int, metavar="N", help="sequences per batch (default 16)")
    add(
        "--epochs",
        type=int,
        metavar="N",
        help=f"passes over the training data (default 3; {DEFAULT_BUILTIN_EPOCHS} with the built-in corpus)",
    )
    add("--max-steps", type=int, metavar="N", help="stop after N optimizer steps")
    add(
        "--max-minutes",
        type=float,
        metavar="M",
        help=f"stop after M minutes of training (default {DEFAULT_MAX_MINUTES:g} with the built-in corpus)",
    )
    add(
        "--lr",
        type=float,
        metavar="X",
        help="peak learning rate (default 2e-3; use ~1e-4 for base)",
    )
    add(
        "--warmup-steps", type=int, metavar="N", help="linear warmup steps (default min(100, 10%%))"
    )
    add("--log-every", type=int, metavar="N", help="batches between log lines (default 50)")
    add(
        "--resume",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="continue the newest checkpoint in --out",
    )
    add("--seed", type=int, metavar="N", help="random seed (default 0)")
    add("--device", choices=["auto", "cpu", "cuda"], help="default: cuda when available")
    add(
        "--val-fraction", type=float, metavar="F", help="share of documents held out (default 0.05)"
    )
    add(
        "--line-by-line",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="one sequence per line instead of packed windows",
    )
    add("--checkpoint-every", type=int, metavar="N", help="steps between checkpoints (default 500)")
    add("--eval-every", type=int, metavar="N", help="steps between evaluations (default 200)")
    add("--grad-accum", type=int, metavar="N", help="batches per optimizer step (default 1)")
    add("--weight-decay", type=float, metavar="X", help="AdamW weight decay (default 0.01)")
    add("--mlm-probability", type=float, metavar="P", help="share of tokens masked (default 0.15)")
    add(
        "--whole-word",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="mask whole words",
    )
    add("--num-workers", type=int, metavar="N", help="DataLoader worker processes (default 0)")
    add(
        "--compile",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="torch.compile the model (first step slower; falls back to eager if compiling fails)",
    )
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=argparse.SUPPRESS if suppress else True,
        help="no progress bars",
    )
    return p


def parse_args(argv: list[str] | None) -> tuple[PretrainConfig, set[str]]:
    """(config, the names of the options given explicitly)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ns = build_parser().parse_args(argv)
    given = set(vars(build_parser(suppress=True).parse_args(argv)))
    cfg = PretrainConfig(**{k: v for k, v in vars(ns).items() if v is not None or k in given})
    return cfg, given


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the CLI; returns the summary. Bad input raises SystemExit with a one-line message."""
    from .corpus import CorpusError
    from .distributed import PeerFailed
    from .trainer import TrainingDiverged

    cfg, given = parse_args(argv)
    try:
        env = _init_distributed(cfg)
        from .distributed import barrier, shutdown

        try:
            summary = run(cfg, given, env)
            barrier(env)  # leave together: a rank that tears down gloo early can abort a peer
            return summary
        finally:
            shutdown()
    except (PretrainError, CorpusError, TrainingDiverged, PeerFailed) as e:
        raise SystemExit(f"error: {e}") from None
    except OSError as e:  # a full disk or a vanished directory mid-run: one line, not a traceback
        raise SystemExit(f"error: {e}") from None


def _init_distributed(cfg: PretrainConfig) -> Any:
    """Join torchrun's process group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA)."""
    from .distributed import SINGLE, env_from_os, init

    if not env_from_os().enabled:
        return SINGLE
    return init(pick_device(cfg.device).type)


def run(
    cfg: PretrainConfig, given: set[str] | frozenset[str] = frozenset(), env: Any = None
) -> dict[str, Any]:
    """The pipeline; a fresh run directory that this call created is removed again when the input
    turns out to be bad (so the same --out works after the fix). `env`: the torchrun process group
    (distributed.DistEnv); None for one process."""
    from .corpus import CorpusError
    from .distributed import SINGLE

    env = env or SINGLE
    if cfg.out is None and not cfg.resume:
        cfg.out = str(new_run_dir())
        if env.enabled:  # every rank writes (rank 0) or reads the same directory: rank 0 names it
            import torch.distributed as dist

            box = [cfg.out]
            dist.broadcast_object_list(box, src=0)
            cfg.out = box[0]
    planned = Path(cfg.out).expanduser() if cfg.out else None
    fresh = planned is not None and not cfg.resume and not planned.exists()
    try:
        return _run(cfg, given, env)
    except (PretrainError, CorpusError):
        if (
            fresh
            and env.is_main
            and planned is not None
            and planned.is_dir()
            and not (planned / "checkpoints").exists()
        ):
            shutil.rmtree(planned, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------------
# the pipeline


def _run(cfg: PretrainConfig, given: set[str] | frozenset[str], env: Any) -> dict[str, Any]:
    import torch

    from . import data as data_mod
    from .collator import MLMCollator
    from .corpus import corpus_fingerprint, default_corpus, iter_documents, resolve_corpus
    from .distributed import main_first
    from .modeling import BertForMaskedLM
    from .trainer import Trainer, TrainSettings

    t_start = time.perf_counter()
    with main_first(env):  # rank 0 checks and creates the directory; the others then use it
        out = (
            resolve_out_dir(cfg.out, cfg.resume) if env.is_main else Path(str(cfg.out)).expanduser()
        )
    checkpoint = None
    if cfg.resume:
        cfg, checkpoint = resume_config(cfg, given, out)
    check_settings(cfg)
    say = _printer(cfg) if env.is_main else (lambda msg: None)

    # corpus
    builtin = not cfg.corpus
    if builtin:
        files = [default_corpus()]
        say(f"Built-in corpus: {files[0]}")
        if cfg.max_minutes is None and "max_minutes" not in given:
            cfg.max_minutes = DEFAULT_MAX_MINUTES
        if "epochs" not in given and not cfg.resume:
            cfg.epochs = DEFAULT_BUILTIN_EPOCHS
    else:
        files = resolve_corpus(cfg.corpus)
    unit = "line" if cfg.line_by_line else "paragraph"
    if next(iter_documents(files, unit=unit), None) is None:
        raise PretrainError(f"the corpus ({', '.join(map(str, files[:3]))}) contains no text")
    corpus_bytes = sum(f.stat().st_size for f in files)

    # tokenizer
    tok_dir = out / "tokenizer"
    if cfg.resume:
        tokenizer = load_tokenizer(tok_dir)
    elif cfg.tokenizer:
        tokenizer = load_tokenizer(Path(cfg.tokenizer))
        if env.is_main:
            tokenizer.save(tok_dir)
    else:
        cfg.vocab_size = cfg.vocab_size or default_vocab_size(corpus_bytes)
        with main_first(env):  # rank 0 trains and saves; the other ranks load what it saved
            if env.is_main:
                from fastbpe import Tokenizer

                say(
                    f"Training a {cfg.vocab_size}-token BPE tokenizer on {_size(corpus_bytes)} of text ..."
                )
                tokenizer = Tokenizer.train(
                    iter_documents(files, unit=unit),
                    vocab_size=cfg.vocab_size,
                    min_frequency=2,
                    show_progress=cfg.progress,
                )
                tokenizer.save(tok_dir)
            else:
                tokenizer = load_tokenizer(tok_dir)
    ids = {t: tokenizer.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")}
    if None in ids.values():
        missing = [t for t, i in ids.items() if i is None]
        raise PretrainError(f"the tokenizer has no {', '.join(missing)} token(s), which MLM needs")
    V = tokenizer.vocab_size

    # model config
    model_cfg = model_config(cfg, V, ids["[PAD]"], out if cfg.resume else None)
    if cfg.max_length > model_cfg.max_position_embeddings:
        raise PretrainError(
            f"--max-length {cfg.max_length} exceeds the model's max_position_embeddings "
            f"({model_cfg.max_position_embeddings}); lower --max-length"
        )
    if not cfg.resume and env.is_main:
        write_json(out / "run_config.json", dataclasses.asdict(cfg))

    # token shards
    key = data_mod.shard_key(
        corpus_fingerprint(files), tokenizer, unit=unit, val_fraction=cfg.val_fraction
    )
    from .corpus import cache_dir

    with main_first(env):  # rank 0 tokenizes into the cache; the other ranks map the same files
        shards = data_mod.prepare_shards(
            iter_documents(files, unit=unit),
            tokenizer,
            cache_dir() / "shards" / key,
            val_fraction=cfg.val_fraction,
            progress=cfg.progress and env.is_main,
        )
    say(
        f"Token shards {'reused' if shards.reused else 'written'}: {shards.directory} "
        f"({shards.train.num_tokens:,} train / {shards.val.num_tokens:,} held-out tokens, "
        f"{shards.meta['documents']:,} documents)"
    )
    kw = dict(
        cls_id=ids["[CLS]"], sep_id=ids["[SEP]"], pad_id=ids["[PAD]"], line_by_line=cfg.line_by_line
    )
    train_set = data_mod.MLMDataset(shards.train, cfg.max_length, **kw)
    val_set = (
        data_mod.MLMDataset(shards.val, cfg.max_length, **kw) if shards.val.num_tokens else None
    )
    if len(train_set) < cfg.batch_size:
        raise PretrainError(
            f"the corpus gives {len(train_set)} training sequence(s) of up to {cfg.max_length} tokens, "
            f"fewer than one batch of {cfg.batch_size}; add text or lower --batch-size/--max-length"
        )
    counts = data_mod.token_counts(shards.train, V)
    counts[[i for i in set(ids.values()) | {tokenizer.token_to_id("[UNK]") or 0}]] = 0
    unigram_id = int(counts.argmax())

    # model, trainer
    device = pick_device(cfg.device)
    if device.type == "cuda" and env.enabled:
        device = torch.device("cuda", env.local_rank)
    if device.type == "cpu":  # ranks on one machine share its cores
        torch.set_num_threads(
            max(1, cpu_threads() // int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
        )
    torch.manual_seed(cfg.seed)
    model = BertForMaskedLM(model_cfg)
    collator = MLMCollator.from_tokenizer(
        tokenizer, mlm_probability=cfg.mlm_probability, whole_word=cfg.whole_word, seed=cfg.seed
    )
    settings = TrainSettings(
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        max_minutes=cfg.max_minutes,
        batch_size=cfg.batch_size,
        grad_accum=cfg.grad_accum,
        lr=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        log_every=cfg.log_every,
        eval_every=cfg.eval_every or None,
        checkpoint_every=cfg.checkpoint_every or None,
        seed=cfg.seed,
        num_workers=cfg.num_workers,
    )
    metrics = MetricsFile(out / "metrics.csv") if env.is_main else None  # only rank 0 writes
    fingerprint = {k: getattr(cfg, k) for k in RESUME_MUST_MATCH}
    trainer = Trainer(
        model,
        train_set,
        val_set,
        collator,
        settings,
        out_dir=out,
        device=device,
        unigram_id=unigram_id,
        fingerprint=fingerprint,
        on_metrics=metrics.write if metrics else None,
        progress=cfg.progress and env.is_main,
        dist_env=env,
        compile=cfg.compile,
    )
    if checkpoint is not None:
        try:
            trainer.resume(checkpoint)
        except ValueError as e:  # refused, corrupt, or of another model (train_checkpoint.py)
            raise PretrainError(f"cannot resume: {e}") from None
        if metrics:
            metrics.truncate_after(trainer.step)
        say(
            f"Resumed from {checkpoint} at step {trainer.step} (epoch {trainer.epoch + 1}, "
            f"batch {trainer.batch_in_epoch})"
        )
    if env.is_main:
        model_cfg.save(out / "model")  # config first: a crashed run still documents its model
    say(
        f"Model: {model_cfg.num_hidden_layers} layers x {model_cfg.hidden_size}, "
        f"{model.num_parameters():,} parameters, vocab {V}, on {device}"
        f"{f' ({torch.get_num_threads()} threads)' if device.type == 'cpu' else ''}; "
        f"{len(train_set):,} train sequences, {trainer.batches_per_epoch} batches/epoch"
        + (
            f"; {env.world_size} ranks x batch {cfg.batch_size} = global batch "
            f"{env.world_size * cfg.batch_size}"
            if env.enabled
            else ""
        )
        + (f", budget {cfg.max_minutes:g} min" if cfg.max_minutes else "")
    )
    result = trainer.train()
    if not env.is_main:  # rank 0 writes the outputs; the others are done
        return {"interrupted": result["interrupted"], "steps": trainer.step, "rank": env.rank}

    from .plots import plot_curves

    ev = result.get("eval") or {}
    plot_curves(out / "metrics.csv", out / "curves.png", ev.get("unigram_acc"))
    if result["interrupted"]:
        say(
            f"Stopped at step {trainer.step}; checkpoint {trainer.last_checkpoint}. "
            f"Continue with: python -m bertmlm.pretrain --out {out} --resume"
        )
        return {
            "interrupted": True,
            "steps": trainer.step,
            "checkpoint": str(trainer.last_checkpoint),
        }
    model.save_pretrained(out / "model")
    summary = {
        "val_loss": ev.get("val_loss"),
        "val_perplexity": ev.get("val_perplexity"),
        "val_acc": ev.get("val_acc"),
        "unigram_acc": ev.get("unigram_acc"),
        "val_mask_acc": ev.get("val_mask_acc"),
        "val_masked_tokens": ev.get("val_masked_tokens"),
        "steps": trainer.step,
        "epochs_completed": trainer.epoch,
        "tokens_seen": trainer.tokens_seen,
        "seconds": round(time.perf_counter() - t_start, 1),
        "train_seconds": round(trainer.elapsed, 1),
        "stop_reason": result["stop_reason"],
        "first_loss": trainer.first_loss,
        "ln_vocab": math.log(V),
        "vocab_size": V,
        "parameters": model.num_parameters(),
        "device": str(device),
        "world_size": env.world_size,
        "global_batch_size": env.world_size * cfg.batch_size,
        "compile": trainer.compile_report,
        "train_tokens": shards.train.num_tokens,
        "val_tokens": shards.val.num_tokens,
        "unigram_token": tokenizer.id_to_token(unigram_id),
    }
    write_json(out / "summary.json", summary)
    if ev:
        ratio = ev["val_acc"] / ev["unigram_acc"] if ev["unigram_acc"] else float("inf")
        say(
            f"Done in {summary['seconds']:.0f}s: held-out accuracy {ev['val_acc']:.4f} vs unigram "
            f"baseline {ev['unigram_acc']:.4f} ({ratio:.1f}x), loss {ev['val_loss']:.4f} "
            f"(perplexity {ev['val_perplexity']:.1f}). Output: {out}"
        )
    return summary


# ------------------------------------------------------------------------------------------------
# helpers


def default_vocab_size(corpus_bytes: int) -> int:
    """A power of two near corpus_bytes / 700, within [1024, 32768] (4096 for ~3 MB).

    Small on purpose: on a few MB a small vocabulary gives every token many training examples,
    and a short CPU run learns context sooner."""
    target = max(corpus_bytes / 700, 1)
    return int(min(32768, max(1024, 2 ** round(math.log2(target)))))


def resume_config(
    cfg: PretrainConfig, given: set[str] | frozenset[str], out: Path
) -> tuple[PretrainConfig, Path]:
    """The stored config with the options given now applied; refuses changed training settings."""
    from .train_checkpoint import latest_checkpoint

    stored = PretrainConfig(**json.loads((out / "run_config.json").read_text()))
    changed = [k for k in RESUME_MUST_MATCH if k in given and getattr(cfg, k) != getattr(stored, k)]
    if changed:
        desc = ", ".join(
            f"--{k.replace('_', '-')} {getattr(cfg, k)!r} (checkpoint: {getattr(stored, k)!r})"
            for k in changed
        )
        raise PretrainError(
            f"cannot resume {out} with other settings: {desc}; drop those options "
            "or start a new run with another --out"
        )
    checkpoint = latest_checkpoint(out / "checkpoints")
    if checkpoint is None:
        raise PretrainError(
            f"nothing to resume: {out / 'checkpoints'} holds no complete checkpoint (the "
            f"run stopped before its first one); delete {out} and start again"
        )
    from .train_checkpoint import read_state

    stored_fp = read_state(checkpoint).get("fingerprint", {})
    diff = [k for k in RESUME_MUST_MATCH if k in stored_fp and stored_fp[k] != getattr(stored, k)]
    if diff:
        raise PretrainError(
            f"checkpoint {checkpoint} was written with other settings ({', '.join(diff)}) "
            f"than {out / 'run_config.json'}; start a new run"
        )
    for k in given:
        if k not in RESUME_MUST_MATCH:
            setattr(stored, k, getattr(cfg, k))
    stored.resume = True
    return stored, checkpoint


def check_settings(cfg: PretrainConfig) -> None:
    positive = ["max_length", "batch_size", "epochs", "log_every", "grad_accum"]
    for name in positive:
        if getattr(cfg, name) < 1:
            raise PretrainError(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(cfg, name)}"
            )
    if cfg.max_length < 8:
        raise PretrainError(f"--max-length must be at least 8, got {cfg.max_length}")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        raise PretrainError(f"--max-steps must be at least 1, got {cfg.max_steps}")
    if cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise PretrainError(f"--max-minutes must be positive, got {cfg.max_minutes}")
    if not 0 < cfg.lr < 1:
        raise PretrainError(f"--lr must be in (0, 1), got {cfg.lr}")
    if not 0 <= cfg.val_fraction < 1:
        raise PretrainError(f"--val-fraction must be in [0, 1), got {cfg.val_fraction}")
    if not 0 < cfg.mlm_probability < 1:
        raise PretrainError(f"--mlm-probability must be in (0, 1), got {cfg.mlm_probability}")
    if cfg.dropout is not None and not 0 <= cfg.dropout < 1:
        raise PretrainError(f"--dropout must be in [0, 1), got {cfg.dropout}")
    if cfg.vocab_size is not None and cfg.vocab_size < 16:
        raise PretrainError(f"--vocab-size must be at least 16, got {cfg.vocab_size}")


def load_tokenizer(directory: Path) -> Any:
    from fastbpe import Tokenizer

    if not directory.is_dir():
        raise PretrainError(f"tokenizer directory {directory} does not exist")
    try:
        return Tokenizer.load(directory)
    except (OSError, ValueError) as e:
        raise PretrainError(f"cannot load the tokenizer in {directory}: {e}") from None


def model_config(cfg: PretrainConfig, vocab_size: int, pad_id: int, resume_dir: Path | None) -> Any:
    from .config import PRESETS, BertConfig

    if resume_dir is not None and (resume_dir / "model" / "config.json").is_file():
        mc = BertConfig.load(resume_dir / "model")
    elif cfg.model in PRESETS:
        dropout = cfg.dropout if cfg.dropout is not None else (0.0 if cfg.model == "tiny" else 0.1)
        mc = BertConfig.preset(
            cfg.model,
            vocab_size=vocab_size,
            pad_token_id=pad_id,
            max_position_embeddings=max(512, cfg.max_length),
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
        )
    else:
        path = Path(cfg.model)
        if not path.exists():
            raise PretrainError(
                f"--model {cfg.model!r} is neither a preset ({', '.join(PRESETS)}) "
                "nor an existing config.json"
            )
        try:
            mc = BertConfig.load(path)
        except (OSError, ValueError) as e:
            raise PretrainError(f"cannot read the model config {path}: {e}") from None
    if mc.vocab_size != vocab_size:
        raise PretrainError(
            f"the tokenizer has {vocab_size} tokens but the model config has "
            f"vocab_size={mc.vocab_size}; use a matching tokenizer or set vocab_size "
            f"to {vocab_size} in the config"
        )
    return mc


def cpu_threads() -> int:
    """Intra-op threads for CPU training: every core on an idle machine, one on a busy one.

    PyTorch's thread pool spins while it waits for its threads; on cores that other processes
    already keep busy, two threads ran 5-20x slower than one in our measurements.
    """
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def pick_device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PretrainError(
            "--device cuda was asked for but no CUDA device is available; use --device cpu"
        )
    return torch.device(name)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _printer(cfg: PretrainConfig):
    def say(msg: str) -> None:
        if msg:
            print(msg, file=sys.stderr if cfg.progress else sys.stdout, flush=True)

    return say


def _leave_distributed_run() -> None:
    """A torchrun rank whose run finished (process group destroyed, every file written and
    closed, output flushed) leaves without the interpreter's teardown. Why: once in about 30
    two-rank test runs, a rank that had finished aborted in C++ teardown at exit ("terminate
    called without an active exception", SIGABRT), and torchrun then reported the finished run
    as failed. Errors never get here: they leave through SystemExit with their message."""
    from .distributed import env_from_os

    if env_from_os().enabled:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
    _leave_distributed_run()
