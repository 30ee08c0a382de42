"""GPU training throughput and MFU of bertmlm.BertForMaskedLM, BERT-base, seq 128 and 512.

One prepared script for a lent GPU: at most ~5 minutes (a time guard skips what would not fit),
prints a markdown table. Each case times full training steps the way the trainer runs them:
host batches in pinned memory copied with non_blocking=True, bf16 autocast, SDPA (no attention
mask: packed windows have no padding, so SDPA may pick the flash / memory-efficient kernels),
the masked-only MLM head, fused AdamW, zero_grad(set_to_none=True). Optionally torch.compile
(compile time reported).

MFU = model FLOPs (bertmlm.flops: 6 x matmul weights x tokens + attention, head at every
position, the usual convention) / the device's bf16 dense peak (H100 SXM / H200: 989 TFLOP/s,
looked up by torch.cuda.get_device_name()). "hw MFU" counts the head only at the masked 15%,
i.e. the FLOPs this model actually performs.

    python benches/bench_gpu.py                     # eager + compiled, seq 128 and 512
    python benches/bench_gpu.py --no-compile --steps 20
    python benches/bench_gpu.py --transformers      # also transformers' BertForMaskedLM (sdpa), eager

Without CUDA it prints a message and exits 0 (CI never needs a GPU).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

BASE = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
CASES = [(128, 256), (512, 64)]  # (seq_len, batch): 32k tokens per step each
BUDGET_S = 285.0  # leave room under a 5-minute limit


def make_host_batches(vocab: int, n: int, batch: int, seq: int, mask_prob: float, seed: int = 0):
    """Random packed windows with MLM labels, in pinned host memory (as a DataLoader with
    pin_memory=True delivers them)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        selected = torch.rand(batch, seq, generator=g) < mask_prob
        labels = torch.where(selected, ids, torch.full_like(ids, -100))
        inputs = torch.where(selected, torch.full_like(ids, 4), ids)
        out.append({"input_ids": inputs.pin_memory(), "labels": labels.pin_memory()})
    return out


def run_case(
    model, opt, host_batches, steps: int, warmup: int, device, transformers_model: bool = False
):
    """(seconds of the first step, tokens/s over the timed steps)."""

    def step(i: int) -> None:
        b = host_batches[i % len(host_batches)]
        batch = {k: v.to(device, non_blocking=True) for k, v in b.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    step(0)  # compiles, when compiled
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    for i in range(1, warmup):
        step(i)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens = steps * host_batches[0]["input_ids"].numel()
    return first, tokens / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per case")
    ap.add_argument(
        "--warmup", type=int, default=5, help="untimed steps per case (the first compiles)"
    )
    ap.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time torch.compile'd models (default on)",
    )
    ap.add_argument("--transformers", action="store_true", help="also transformers (sdpa), eager")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help="seconds; cases that would not fit are skipped",
    )
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here; nothing to measure (this bench needs a GPU).")
        return 0

    from bertmlm import BertConfig, BertForMaskedLM
    from bertmlm.flops import estimate_mfu, peak_bf16_flops

    start = time.perf_counter()
    device = torch.device("cuda")
    name = torch.cuda.get_device_name()
    peak = peak_bf16_flops(name)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    print(
        f"device {name}, bf16 dense peak {peak / 1e12:.0f} TFLOP/s"
        if peak
        else f"device {name}: bf16 peak unknown (add it to bertmlm.flops.PEAK_BF16_FLOPS); MFU not reported"
    )
    print(
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, BERT-base, dropout {args.dropout}, "
        f"{args.steps} timed steps after {args.warmup} warmup"
    )
    cfg = BertConfig(
        **dict(BASE, hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout)
    )

    variants = [("bertmlm", False)] + ([("bertmlm", True)] if args.compile else [])
    if args.transformers:
        variants.append(("transformers", False))
    rows = []
    for seq, batch in CASES:
        host = make_host_batches(cfg.vocab_size, 4, batch, seq, 0.15)
        for impl, compiled in variants:
            left = args.budget - (time.perf_counter() - start)
            need = 90 if compiled else 25
            if left < need:
                print(
                    f"skipped {impl} seq {seq}{' compiled' if compiled else ''}: {left:.0f}s left of the budget"
                )
                continue
            torch.manual_seed(0)
            if impl == "bertmlm":
                model = BertForMaskedLM(cfg).to(device).train()
                opt = model.configure_optimizers(0.01, 1e-4, fused=True)
            else:
                import transformers

                model = (
                    transformers.BertForMaskedLM(
                        transformers.BertConfig(**cfg.to_dict(), attn_implementation="sdpa")
                    )
                    .to(device)
                    .train()
                )
                opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
            run = torch.compile(model) if compiled else model
            try:
                first, tps = run_case(run, opt, host, args.steps, args.warmup, device)
            except Exception as e:  # noqa: BLE001 - a compile failure on this machine: report it, go on
                print(
                    f"{impl} seq {seq}{' compiled' if compiled else ''} failed: {type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''}"
                )
                continue
            finally:
                torch.cuda.synchronize()
            mem = torch.cuda.max_memory_allocated() / 2**30
            mfu = estimate_mfu(cfg, seq, tps, peak) if peak else None
            hw = (
                estimate_mfu(cfg, seq, tps, peak, head_fraction=0.15)
                if peak and impl == "bertmlm"
                else None
            )
            rows.append(
                (impl + (" compiled" if compiled else ""), seq, batch, tps, mfu, hw, first, mem)
            )
            print(
                f"  {rows[-1][0]} seq {seq}: {tps:,.0f} tok/s"
                + (f", MFU {mfu:.1%}" if mfu else "")
                + f", first step {first:.1f}s, peak mem {mem:.1f} GiB",
                flush=True,
            )
            del model, opt, run
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    print()
    print("| model | seq | batch | tokens/s | MFU | hw MFU | first step (s) | peak mem (GiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def f(x: float | None) -> str:
        return f"{x:.1%}" if x is not None else "-"

    for impl, seq, batch, tps, mfu, hw, first, mem in rows:
        print(
            f"| {impl} | {seq} | {batch} | {tps:,.0f} | {f(mfu)} | {f(hw)} | {first:.1f} | {mem:.1f} |"
        )
    print(f"\ntotal {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
