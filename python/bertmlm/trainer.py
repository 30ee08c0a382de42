"""The MLM training loop: AdamW, warmup + linear decay, accumulation, clipping, logging, evaluation.

One optimizer *step* is `grad_accum` batches. The run stops at the first of: `epochs` passes over
the training sequences, `max_steps` steps, `max_minutes` of wall time. With a time budget the
learning-rate schedule is planned to end with it: after a few steps the trainer measures seconds
per step and shortens the planned number of steps to what fits (re-planned at every log line, so
a machine that slows down still ends near a decayed learning rate).

Every `log_every` batches (and after the very first batch, whose loss should be close to
ln(vocab size) for a freshly initialised model) it prints the specification's line with `tqdm.write`, above a progress bar:

    Epoch 3/3, Batch 750/1191, Loss: 10.8566, Avg Loss: 14.3355, Batch Acc: 0.0702, Avg Acc: 0.0670, LR: 6.35e-06

Loss and Batch Acc are this batch's; Avg Loss (mean over batches) and Avg Acc (over masked
tokens) run from the start of the epoch. Accuracy is the share of masked positions whose
argmax prediction is the original token.

Evaluation (every `eval_every` steps and at the end) runs the held-out split with masks from a
fixed seed, so successive evaluations are comparable, and reports loss, perplexity, accuracy and
the unigram baseline: the accuracy of always answering the most frequent training token. It also
reports the accuracy at positions whose input was [MASK] only: the 10% of selected tokens left
unchanged can be copied from the input, so a model that learned no context at all still scores
about 0.1 + 0.8 x unigram overall; at [MASK] inputs it scores the unigram baseline.

Data parallel (torchrun, `dist_env` with world_size W > 1, see docs/distributed.md): every rank
shuffles the same way, masks the whole global batch (W x batch_size sequences) with the shared
collator stream and trains on its own rows of it through DistributedDataParallel, weighting its
loss by its share of the global batch's masked tokens; metrics are all-reduced, stop decisions
agreed, and only rank 0 prints, records metrics and writes checkpoints.

GPU: bf16 autocast, masked batches pinned and copied with non_blocking=True, no attention-mask tensor
when a batch has no padding (SDPA may then use its flash kernels), padding columns past a
batch's longest sequence cut off. `compile=True` wraps the model in torch.compile; if compiling
fails the run says so once and continues eagerly.

A non-finite loss stops the run (`TrainingDiverged`) before the optimizer step, so the last
checkpoint on disk stays the last good state. SIGINT (Ctrl-C) finishes the current step, writes a
checkpoint and stops (`result["interrupted"]`); a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from . import distributed as ddp
from . import train_checkpoint as ckpt
from .collator import MLMCollator, stack_examples

LOG_FORMAT = (
    "Epoch {epoch}/{epochs}, Batch {batch}/{batches}, Loss: {loss:.4f}, Avg Loss: {avg_loss:.4f}, "
    "Batch Acc: {acc:.4f}, Avg Acc: {avg_acc:.4f}, LR: {lr:.2e}"
)
CALIBRATION_STEPS = 10  # steps timed before a time budget plans the schedule
MAX_EVAL_BATCHES = 200


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainSettings:
    epochs: int = 3
    max_steps: int | None = None
    max_minutes: float | None = None
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    warmup_steps: int | None = None  # None: min(100, 10% of the planned steps)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    log_every: int = 50
    eval_every: int | None = 200
    checkpoint_every: int | None = 500
    seed: int = 0
    num_workers: int = 0


class LinearSchedule:
    """Linear warmup from 0 to the peak over `warmup` steps, then linear decay to 0 at `total`."""

    def __init__(self, peak_lr: float, warmup: int, total: int) -> None:
        self.peak_lr, self.warmup, self.total = peak_lr, warmup, max(total, 1)

    def lr(self, step: int) -> float:
        """Learning rate for optimizer step `step` (0-based)."""
        if step < self.warmup:
            return self.peak_lr * (step + 1) / (self.warmup + 1)
        span = max(self.total - self.warmup, 1)
        return self.peak_lr * max(0.0, (self.total - step) / span)

    def state_dict(self) -> dict[str, Any]:
        return {"peak_lr": self.peak_lr, "warmup": self.warmup, "total": self.total}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.peak_lr, self.warmup, self.total = state["peak_lr"], state["warmup"], state["total"]


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, min_size: int = 1
) -> list[list[int]]:
    """The shuffled batches of epoch `epoch` (0-based): a pure function of (seed, epoch).
    A last batch smaller than `min_size` (the number of data-parallel ranks) is dropped."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if batches and len(batches[-1]) < min_size:
        batches.pop()
    return batches


GROUP_BATCHES = 50  # length grouping sorts within runs of this many batches


def length_grouped_batches(
    lengths: list[int] | torch.Tensor, batch_size: int, seed: int, epoch: int, min_size: int = 1
) -> list[list[int]]:
    """Like epoch_batches, but sequences of similar length share a batch (line-by-line data):
    the shuffled order is cut into runs of GROUP_BATCHES batches, each run is sorted by length
    (longest first) and cut into batches, and the batches are shuffled again. Padding columns
    past a batch's longest sequence are then cut off (see _trim_padding), so little compute
    goes to [PAD]. A pure function of (seed, epoch), the same on every rank."""
    lengths = torch.as_tensor(lengths)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(lengths), generator=g)
    run = batch_size * GROUP_BATCHES
    batches: list[list[int]] = []
    for i in range(0, len(order), run):
        idx = order[i : i + run]
        chunk = idx[torch.argsort(lengths[idx], descending=True, stable=True)].tolist()
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    small = [b for b in batches if len(b) < batch_size]  # at most one per run: keep them last
    full = [b for b in batches if len(b) == batch_size]
    full = [full[i] for i in torch.randperm(len(full), generator=g).tolist()]
    batches = full + [b for b in small if len(b) >= min_size]
    return batches


class Trainer:
    def __init__(
        self,
        model: Any,
        train_set: Any,
        val_set: Any | None,
        collator: MLMCollator,
        settings: TrainSettings,
        *,
        out_dir: Path,
        device: torch.device,
        unigram_id: int,
        fingerprint: dict[str, Any],
        on_metrics: Callable[[dict[str, Any]], None] | None = None,
        progress: bool = True,
        dist_env: ddp.DistEnv = ddp.SINGLE,
        compile: bool = False,
    ) -> None:
        self.model, self.train_set, self.val_set = model.to(device), train_set, val_set
        self.env = dist_env
        self.collator, self.s, self.device = collator, settings, device
        self.out_dir, self.unigram_id, self.fingerprint = out_dir, unigram_id, fingerprint
        self.on_metrics = on_metrics or (lambda row: None)
        self.progress = progress
        # fused AdamW: one kernel per step for all tensors (CUDA and CPU), the same math as for-loop AdamW
        self.optimizer = model.configure_optimizers(settings.weight_decay, settings.lr, fused=True)
        W = dist_env.world_size
        self.global_batch = settings.batch_size * W  # settings.batch_size is per rank
        self.lengths = _sequence_lengths(train_set)  # line by line: group similar lengths
        self.batches_per_epoch = len(self._epoch_batches(epoch=0))
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / settings.grad_accum)
        total = settings.epochs * self.steps_per_epoch
        if settings.max_steps is not None:
            total = min(total, settings.max_steps)
        self.total_steps = total
        warmup = settings.warmup_steps
        if warmup is None:
            warmup = min(100, total // 10)
        self.schedule = LinearSchedule(settings.lr, warmup, total)
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda"
            else contextlib.nullcontext()
        )
        # what runs the training forward: the model, wrapped in DDP when distributed, compiled on request
        self.train_model: Any = ddp.wrap_ddp(self.model, dist_env, device)  # maybe compiled below
        self.eager_model: Any = self.train_model
        self.compile_report: dict[str, Any] | None = None
        if compile:
            self.train_model = torch.compile(self.train_model)
            self.compile_report = {"requested": True, "ok": None, "first_step_seconds": None}
        if (
            dist_env.enabled
        ):  # same initial weights on every rank (DDP broadcast them), own dropout stream
            torch.manual_seed(settings.seed * 1_000_003 + 7919 * dist_env.rank)
        # position and running sums (all saved in checkpoints)
        self.step = 0
        self.epoch = 0  # 0-based epoch in progress
        self.batch_in_epoch = 0  # batches of this epoch already consumed
        self.tokens_seen = 0
        self.elapsed = 0.0
        self.sums = {"loss": 0.0, "batches": 0, "correct": 0, "masked": 0}  # this epoch so far
        self.window = {"loss": 0.0, "batches": 0, "correct": 0, "masked": 0}  # since the last log
        self.first_loss: float | None = None
        self.stop_requested = False
        self.last_checkpoint: Path | None = None

    # --------------------------------------------------------------------------------------------
    # checkpoints

    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "tokens_seen": self.tokens_seen,
            "elapsed": self.elapsed,
            "sums": self.sums,
            "first_loss": self.first_loss,
            "fingerprint": self.fingerprint,
            "world_size": self.env.world_size,
        }

    def save(self) -> Path:
        if not self.env.is_main:  # rank 0 writes; every rank holds the same state
            self.last_checkpoint = self.out_dir / "checkpoints" / f"step-{self.step:06d}"
            return self.last_checkpoint
        self.last_checkpoint = ckpt.save_checkpoint(
            self.out_dir / "checkpoints",
            self.step,
            model=self.model,
            optimizer=self.optimizer,
            scheduler_state=self.schedule.state_dict(),
            rng_state=ckpt.capture_rng(self.collator.state_dict()),
            state=self.state(),
        )
        return self.last_checkpoint

    def resume(self, path: Path) -> None:
        stored_world = ckpt.read_state(path).get("world_size", 1)
        if stored_world != self.env.world_size:
            raise ValueError(
                f"checkpoint {path} was written by {stored_world} process(es) and this run "
                f"has {self.env.world_size}: the data position counts global batches, so "
                f"resume with torchrun --nproc_per_node/--nnodes giving {stored_world} processes"
            )
        state, sched, rng = ckpt.load_checkpoint(
            path, model=self.model, optimizer=self.optimizer, device=self.device
        )
        self.schedule.load_state_dict(sched)
        self.step = state["step"]
        self.epoch, self.batch_in_epoch = state["epoch"], state["batch_in_epoch"]
        self.tokens_seen, self.elapsed = state["tokens_seen"], state["elapsed"]
        self.sums, self.first_loss = state["sums"], state["first_loss"]
        self.collator.load_state_dict(rng["collator"])
        ckpt.restore_rng(rng)
        if self.env.enabled and not self.env.is_main:  # rank 0's RNG was saved; the others reseed
            torch.manual_seed(self.s.seed * 1_000_003 + 7919 * self.env.rank + self.step)
        self.last_checkpoint = path

    # --------------------------------------------------------------------------------------------
    # training

    def after_step(self) -> None:
        """Called after every optimizer step (a hook for tests and subclasses)."""

    def _plan(self, calib: list[float] | None) -> None:
        """With a time budget, fit the schedule to the steps that the remaining time allows.

        Seconds per step are measured over the steps since the previous plan and smoothed, so a
        machine whose load changes (other jobs starting or ending) is followed within a few logs.
        """
        if self.s.max_minutes is None or calib is None:
            return
        step0, t0, estimate = calib
        now = time.perf_counter()
        if self.step - step0 < CALIBRATION_STEPS:
            return
        recent = (now - t0) / (self.step - step0)
        per_step = recent if estimate <= 0 else 0.5 * estimate + 0.5 * recent
        calib[:] = [self.step, now, per_step]
        remaining = self.s.max_minutes * 60 - self.elapsed  # elapsed: updated at the last step
        fit = self.step + int(max(remaining, 0) / per_step)
        self.schedule.total = max(
            self.step + 1, min(self.total_steps, fit), self.schedule.warmup + 1
        )
        if self.env.enabled:  # one schedule for all ranks: rank 0's
            self.schedule.total = int(ddp.broadcast_value(self.schedule.total, self.env))

    def train(self) -> dict[str, Any]:
        s, model = self.s, self.model
        started = time.perf_counter()
        elapsed0 = self.elapsed
        calib: list[float] | None = None
        previous_handler = self._install_sigint()
        bar = tqdm(
            total=self.schedule.total,
            initial=self.step,
            desc="training",
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        stop_reason = self._stop_reason() if self.step else None  # a resumed, finished run
        try:
            while stop_reason is None and self.epoch < s.epochs:
                batches = self._epoch_batches()
                loader = DataLoader(
                    self.train_set,
                    batch_sampler=batches[self.batch_in_epoch :],
                    collate_fn=stack_examples,
                    num_workers=s.num_workers,
                    generator=torch.Generator(),
                )  # never touch the global RNG
                model.train()
                accumulated = 0
                for batch in loader:
                    loss, correct, masked = self._forward_backward(batch, accumulated)
                    accumulated += 1
                    self.batch_in_epoch += 1
                    for acc in (self.sums, self.window):
                        acc["loss"] += loss
                        acc["batches"] += 1
                        acc["correct"] += correct
                        acc["masked"] += masked
                    if self.batch_in_epoch % s.log_every == 0 or (
                        self.step == 0 and accumulated == 1
                    ):
                        self._log(loss, correct, masked, bar)
                        self._plan(calib)
                        bar.total = self.schedule.total
                    if accumulated == s.grad_accum or self.batch_in_epoch == self.batches_per_epoch:
                        self._optimizer_step()
                        accumulated = 0
                        self.elapsed = elapsed0 + time.perf_counter() - started
                        if self.env.enabled:  # stop together: any rank's Ctrl-C, the slowest clock
                            stop, self.elapsed = ddp.all_reduce(
                                [self.stop_requested, self.elapsed], self.env, op="max"
                            )
                            self.stop_requested = bool(stop)
                        bar.update(1)
                        if calib is None and self.step >= 2:  # skip the first, slower steps
                            calib = [self.step, time.perf_counter(), 0.0]
                        self.after_step()
                        stop_reason = self._stop_reason()
                        if s.eval_every and self.step % s.eval_every == 0 and stop_reason is None:
                            self._eval_row()
                            model.train()
                        if (
                            s.checkpoint_every
                            and self.step % s.checkpoint_every == 0
                            and stop_reason is None
                        ):
                            self.save()
                        if stop_reason is not None:
                            break
                if stop_reason is None:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    self.sums = {"loss": 0.0, "batches": 0, "correct": 0, "masked": 0}
            stop_reason = stop_reason or "epochs"
        finally:
            bar.close()
            self._restore_sigint(previous_handler)
        self.save()
        result = {"stop_reason": stop_reason, "interrupted": stop_reason == "interrupted"}
        if stop_reason != "interrupted":
            result["eval"] = self._eval_row()
        return result

    def _epoch_batches(self, epoch: int | None = None) -> list[list[int]]:
        epoch = self.epoch if epoch is None else epoch
        if self.lengths is not None:
            return length_grouped_batches(
                self.lengths, self.global_batch, self.s.seed, epoch, min_size=self.env.world_size
            )
        return epoch_batches(
            len(self.train_set), self.global_batch, self.s.seed, epoch, min_size=self.env.world_size
        )

    def _forward_backward(
        self, batch: dict[str, torch.Tensor], accumulated: int
    ) -> tuple[float, int, int]:
        batch = self.collator.mask_batch(batch)  # the global batch: the same masks on every rank
        global_masked = int((batch["labels"] != -100).sum())
        tokens = int(batch["attention_mask"].sum())
        if self.env.enabled:
            rows = ddp.rank_rows(len(batch["input_ids"]), self.env)
            batch = {k: v[rows] for k, v in batch.items()}
        batch = _trim_padding(batch)
        if self.device.type == "cuda":  # page-locked host copies, so the transfers below are async
            batch = {k: v.pin_memory() for k, v in batch.items()}
        attention_mask = batch.pop("attention_mask") if "attention_mask" in batch else None
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if attention_mask is not None:
            attention_mask = attention_mask.to(self.device, non_blocking=True)
        last = (
            accumulated + 1 == self.s.grad_accum
            or self.batch_in_epoch + 1 == self.batches_per_epoch
        )
        sync = (
            contextlib.nullcontext() if last or not self.env.enabled else self.eager_model.no_sync()
        )
        with sync:
            out = self._forward(batch, attention_mask)
            loss = out.loss
            labels = batch["labels"]
            targets = labels[labels != -100]
            if self.env.enabled:
                # DDP averages gradients over W ranks; weight this rank's mean by its share of the
                # global batch's masked tokens so the result is the global batch's mean loss
                local_masked = int(targets.numel())
                weight = self.env.world_size * local_masked / max(global_masked, 1)
                scores = out.prediction_scores
                if scores.dim() == 3:
                    scores = scores[labels != -100]
                local_correct = int((scores.detach().argmax(-1) == targets).sum())
                loss_sum, correct = ddp.all_reduce(
                    [float(loss.detach()) * local_masked, local_correct],
                    self.env,
                    device=self.device,
                )
                value = loss_sum / max(global_masked, 1)
            else:
                weight = 1.0
                value = float(loss.detach())
            self._check_finite(value)
            if self.first_loss is None:
                self.first_loss = value
            (
                (loss * weight) / self.s.grad_accum if weight != 1.0 else loss / self.s.grad_accum
            ).backward()
        self._first_step_done()
        self.tokens_seen += tokens
        if self.env.enabled:
            return value, int(correct), global_masked
        scores = out.prediction_scores
        if scores.dim() == 3:  # a model without the masked-only fast path
            scores = scores[labels != -100]
        correct = int((scores.detach().argmax(-1) == targets).sum())
        return value, correct, int(targets.numel())

    def _forward(self, batch: dict[str, torch.Tensor], attention_mask: torch.Tensor | None) -> Any:
        """The training forward; on the first compiled step a compile failure falls back to eager."""
        try:
            if self.compile_report is not None and self.compile_report["ok"] is None:
                self._compile_t0 = time.perf_counter()
            with self.autocast:
                return self.train_model(
                    batch["input_ids"],
                    attention_mask=attention_mask,
                    token_type_ids=batch["token_type_ids"],
                    labels=batch["labels"],
                )
        except Exception as e:  # any compiler error: report once, continue eagerly
            if self.compile_report is None or self.compile_report["ok"] is not None:
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.compile_report.update(ok=False, error=f"{type(e).__name__}: {msg}"[:300])
            tqdm.write(
                f"--compile: torch.compile failed on this machine ({type(e).__name__}: {msg[:200]}); "
                "continuing without it"
            ) if self.env.is_main else None
            self.train_model = self.eager_model
            with self.autocast:
                return self.train_model(
                    batch["input_ids"],
                    attention_mask=attention_mask,
                    token_type_ids=batch["token_type_ids"],
                    labels=batch["labels"],
                )

    def _first_step_done(self) -> None:
        r = self.compile_report
        if r is not None and r["ok"] is None:
            r.update(ok=True, first_step_seconds=round(time.perf_counter() - self._compile_t0, 2))
            if self.env.is_main:
                line = (
                    f"--compile: first step took {r['first_step_seconds']:.1f}s "
                    "(torch.compile's tracing and code generation included)"
                )
                tqdm.write(line) if self.progress else print(line, flush=True)

    def _check_finite(self, value: float) -> None:
        if not math.isfinite(value):
            where = self.last_checkpoint or "none was written yet"
            raise TrainingDiverged(
                f"the loss became {value} at step {self.step + 1} (epoch {self.epoch + 1}, batch "
                f"{self.batch_in_epoch + 1}); stopped before updating the weights. Last good "
                f"checkpoint: {where}. Try a lower --lr or more --warmup-steps."
            )

    def _optimizer_step(self) -> None:
        lr = self.schedule.lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.s.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.s.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def _stop_reason(self) -> str | None:
        if self.stop_requested:
            return "interrupted"
        if self.s.max_steps is not None and self.step >= self.s.max_steps:
            return "max_steps"
        if self.step >= self.schedule.total and self.s.max_minutes is not None:
            return "time budget (schedule complete)"
        if self.s.max_minutes is not None and self.elapsed >= self.s.max_minutes * 60:
            return "max_minutes"
        return None

    def _log(self, loss: float, correct: int, masked: int, bar: tqdm) -> None:
        sums, w = self.sums, self.window
        lr = self.schedule.lr(max(self.step, 0))
        line = LOG_FORMAT.format(
            epoch=self.epoch + 1,
            epochs=self.s.epochs,
            batch=self.batch_in_epoch,
            batches=self.batches_per_epoch,
            loss=loss,
            avg_loss=sums["loss"] / max(sums["batches"], 1),
            acc=correct / max(masked, 1),
            avg_acc=sums["correct"] / max(sums["masked"], 1),
            lr=lr,
        )
        if not self.env.is_main:
            pass
        elif self.progress:
            tqdm.write(line)
        else:
            print(line, flush=True)
        self.on_metrics(
            {
                "kind": "train",
                "step": self.step,
                "epoch": self.epoch + 1,
                "batch": self.batch_in_epoch,
                "tokens_seen": self.tokens_seen,
                "seconds": round(self.elapsed, 2),
                "lr": lr,
                "loss": w["loss"] / max(w["batches"], 1),
                "acc": w["correct"] / max(w["masked"], 1),
            }
        )
        self.window = {"loss": 0.0, "batches": 0, "correct": 0, "masked": 0}

    # --------------------------------------------------------------------------------------------
    # evaluation

    def _eval_row(self) -> dict[str, Any] | None:
        if self.val_set is None or len(self.val_set) == 0:
            return None
        result = self.evaluate()
        line = (
            f"Eval step {self.step}: val loss {result['val_loss']:.4f}, perplexity "
            f"{result['val_perplexity']:.1f}, accuracy {result['val_acc']:.4f} "
            f"(unigram baseline {result['unigram_acc']:.4f}; at [MASK] inputs {result['val_mask_acc']:.4f})"
        )
        if self.env.is_main:
            tqdm.write(line) if self.progress else print(line, flush=True)
        self.on_metrics(
            {
                "kind": "val",
                "step": self.step,
                "epoch": self.epoch + 1,
                "batch": self.batch_in_epoch,
                "tokens_seen": self.tokens_seen,
                "seconds": round(self.elapsed, 2),
                "lr": self.schedule.lr(self.step),
                "loss": result["val_loss"],
                "acc": result["val_acc"],
            }
        )
        return result

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """Held-out loss, perplexity, accuracy and unigram baseline over fixed masks."""
        assert self.val_set is not None
        model = self.model
        was_training = model.training
        model.eval()
        masker = self.collator.with_seed(self.s.seed + 12345)
        loss_sum, correct, unigram, total = 0.0, 0, 0, 0
        mask_correct, mask_total = 0, 0  # at positions whose input was [MASK] (no copying possible)
        loader = DataLoader(
            self.val_set, batch_size=self.s.batch_size, shuffle=False, collate_fn=stack_examples
        )
        for i, batch in enumerate(loader):
            if i >= MAX_EVAL_BATCHES:
                break
            batch = masker.mask_batch(batch)  # every rank masks every batch: one masker stream
            if i % self.env.world_size != self.env.rank:  # held-out batches are split across ranks
                continue
            batch = _trim_padding(batch)
            attention_mask = batch.pop("attention_mask", None)
            batch = {k: v.to(self.device) for k, v in batch.items()}
            labels = batch["labels"]
            targets = labels[labels != -100]
            if targets.numel() == 0:
                continue
            with self.autocast:
                out = model(
                    batch["input_ids"],
                    attention_mask=None
                    if attention_mask is None
                    else attention_mask.to(self.device),
                    token_type_ids=batch["token_type_ids"],
                    labels=labels,
                    masked_only=True,
                )
            scores = out.prediction_scores.float()
            loss_sum += float(torch.nn.functional.cross_entropy(scores, targets, reduction="sum"))
            hits = scores.argmax(-1) == targets
            correct += int(hits.sum())
            at_mask = batch["input_ids"][labels != -100] == masker.mask_id
            mask_correct += int(hits[at_mask].sum())
            mask_total += int(at_mask.sum())
            unigram += int((targets == self.unigram_id).sum())
            total += int(targets.numel())
        model.train(was_training)
        if self.env.enabled:
            sums = ddp.all_reduce(
                [loss_sum, correct, unigram, total, mask_correct, mask_total],
                self.env,
                device=self.device,
            )
            loss_sum = float(sums[0])
            correct, unigram, total = int(sums[1]), int(sums[2]), int(sums[3])
            mask_correct, mask_total = int(sums[4]), int(sums[5])
        val_loss = loss_sum / max(total, 1)
        return {
            "val_loss": val_loss,
            "val_perplexity": math.exp(min(val_loss, 50.0)),
            "val_acc": correct / max(total, 1),
            "unigram_acc": unigram / max(total, 1),
            "val_mask_acc": mask_correct / max(mask_total, 1),
            "val_masked_tokens": total,
        }

    # --------------------------------------------------------------------------------------------
    # Ctrl-C

    def _install_sigint(self) -> Any:
        def handler(signum: int, frame: Any) -> None:
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            tqdm.write(
                "Interrupted: finishing this step and writing a checkpoint (Ctrl-C again to abort)"
            )

        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:  # not the main thread
            return None

    @staticmethod
    def _restore_sigint(previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut the columns after the batch's longest sequence (all padding: no FLOPs spent on [PAD]),
    and drop the attention mask when nothing is padded, so that attention runs without a mask
    (on CUDA, SDPA's flash kernel). Labels there are -100 already; results are unchanged."""
    mask = batch.get("attention_mask")
    if mask is None:
        return batch
    lengths = mask.sum(dim=1)
    longest = int(lengths.max()) if len(lengths) else 0
    if longest < mask.shape[1] and bool((mask[:, longest:] == 0).all()):
        batch = {
            k: (v[:, :longest] if v.dim() == 2 and v.shape[1] == mask.shape[1] else v)
            for k, v in batch.items()
        }
        mask = batch["attention_mask"]
    if bool(mask.all()):
        batch = {k: v for k, v in batch.items() if k != "attention_mask"}
    return batch


def _sequence_lengths(dataset: Any) -> torch.Tensor | None:
    """Real tokens per sequence of a line-by-line MLMDataset ([CLS] and [SEP] included); None for
    packed windows (all full but the last) and other datasets."""
    if not getattr(dataset, "line_by_line", False) or not hasattr(dataset, "split"):
        return None
    offsets = torch.from_numpy(dataset.split.offsets.astype("int64"))
    return torch.clamp(offsets[1:] - offsets[:-1] - 1, max=dataset.body) + 2
