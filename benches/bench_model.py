"""Training-step throughput: bertmlm.BertForMaskedLM vs transformers.BertForMaskedLM (sdpa).

One process, same config, same initial weights, same batches, same optimizer (AdamW). Both are
warmed up, then timed one training step (forward with labels, backward, AdamW step, zero_grad)
at a time, alternating which goes first. Reports tokens/s (batch * seq_len per step, padding
included): the median per model and the median of the per-step ratios (ours / transformers),
which is what to compare: absolute numbers move with whatever else the machine runs, the paired
ratio much less.

    python benches/bench_model.py --config small
    python benches/bench_model.py --config small --threads 1
    python benches/bench_model.py --config base --steps 4 --warmup 1
    python benches/bench_model.py --config small --device cuda --steps 50
    python benches/bench_model.py --config small --compile   # both models torch.compile'd

With --compile both models go through torch.compile (default inductor backend); the first
warmup step of each, which includes compiling, is reported as its compile time. If compiling
fails on this machine, the bench says so and times the eager model instead.

Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from bertmlm import BertConfig, BertForMaskedLM

# name -> (config fields, seq_len, batch)
CONFIGS = {
    "tiny": (
        dict(
            vocab_size=8192,
            hidden_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=512,
        ),
        128,
        32,
    ),
    "small": (
        dict(
            vocab_size=8192,
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=1024,
        ),
        128,
        32,
    ),
    "base": (
        dict(
            vocab_size=30522,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
        ),
        128,
        32,
    ),
}


def make_batches(
    cfg: BertConfig,
    n: int,
    batch: int,
    seq_len: int,
    mask_prob: float,
    pad_frac: float,
    device,
    seed: int,
):
    """Random ids with MLM labels at `mask_prob` of the real tokens; `pad_frac` of rows padded."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(5, cfg.vocab_size, (batch, seq_len), generator=g)
        mask = torch.ones(batch, seq_len, dtype=torch.long)
        for b in range(int(batch * pad_frac)):
            length = int(torch.randint(seq_len // 4, seq_len, (1,), generator=g))
            mask[b, length:] = 0
            ids[b, length:] = cfg.pad_token_id
        selected = (torch.rand(batch, seq_len, generator=g) < mask_prob) & mask.bool()
        labels = torch.where(selected, ids, torch.full_like(ids, -100))
        inputs = torch.where(selected, torch.full_like(ids, 4), ids)  # [MASK] = 4
        out.append(
            {
                k: v.to(device)
                for k, v in dict(input_ids=inputs, attention_mask=mask, labels=labels).items()
            }
        )
    return out


def train_steps(model, opt, batches, start: int, steps: int, device) -> float:
    """Run `steps` training steps; returns seconds."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        batch = batches[(start + i) % len(batches)]
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="small")
    ap.add_argument(
        "--steps", type=int, default=12, help="timed steps per model (alternating, paired)"
    )
    ap.add_argument(
        "--warmup", type=int, default=2, help="untimed steps per model before the first round"
    )
    ap.add_argument("--batch", type=int, default=None, help="override the config's batch size")
    ap.add_argument(
        "--seq-len", type=int, default=None, help="override the config's sequence length"
    )
    ap.add_argument(
        "--mask-prob", type=float, default=0.15, help="fraction of tokens with MLM labels"
    )
    ap.add_argument(
        "--pad-frac", type=float, default=0.0, help="fraction of rows padded (to random lengths)"
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument(
        "--fused-adamw",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="AdamW(fused=True) for both models (default; --no-fused-adamw for the for-loop one)",
    )
    ap.add_argument("--no-transformers", action="store_true", help="time only bertmlm")
    ap.add_argument(
        "--compile", action="store_true", help="torch.compile both models (compile time reported)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="print every paired step")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    fields, seq_len, batch = CONFIGS[args.config]
    seq_len, batch = args.seq_len or seq_len, args.batch or batch
    cfg = BertConfig(**fields, max_position_embeddings=max(512, seq_len))
    batches = make_batches(cfg, 4, batch, seq_len, args.mask_prob, args.pad_frac, device, args.seed)

    torch.manual_seed(args.seed)
    models = {"bertmlm": BertForMaskedLM(cfg)}
    if not args.no_transformers:
        import transformers

        hf_cfg = transformers.BertConfig(**cfg.to_dict(), attn_implementation="sdpa")
        hf = transformers.BertForMaskedLM(hf_cfg)
        hf.load_state_dict(models["bertmlm"].state_dict())  # same starting point
        models["transformers"] = hf
    opts = {}
    for name, model in models.items():
        model.to(device).train()
        # the same optimizer for both; fused (one kernel per tensor) so that the optimizer, which
        # is not what this bench compares, adds as little common time as it can
        opts[name] = torch.optim.AdamW(
            model.parameters(), lr=1e-4, weight_decay=0.01, fused=args.fused_adamw
        )

    print(
        f"config {args.config}: vocab {cfg.vocab_size}, hidden {cfg.hidden_size}, layers "
        f"{cfg.num_hidden_layers}, heads {cfg.num_attention_heads}, intermediate {cfg.intermediate_size}; "
        f"batch {batch} x seq {seq_len}, mask_prob {args.mask_prob}, pad_frac {args.pad_frac}"
    )
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{platform.processor() or platform.machine()}"
    )
    runners = dict(models)
    if args.compile:
        for name, model in models.items():
            compiled = torch.compile(model)
            try:  # the first step compiles (forward and backward); later ones may recompile once
                seconds = train_steps(compiled, opts[name], batches, 0, 1, device)
                print(f"{name}: torch.compile + first step {seconds:.1f}s")
                runners[name] = compiled
            except Exception as e:  # noqa: BLE001 - report and fall back to eager
                msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                print(
                    f"{name}: torch.compile failed on this machine ({type(e).__name__}: {msg[:200]}); "
                    "timing the eager model"
                )
                opts[name].zero_grad(set_to_none=True)
    for name in models:
        train_steps(runners[name], opts[name], batches, 0, args.warmup, device)

    # one step of each model per round, order alternating: both see the same machine load, and
    # the per-round ratio pairs them; medians shrug off the rounds another process disturbed
    rates: dict[str, list[float]] = {name: [] for name in models}
    order = list(models)
    for r in range(args.steps):
        for name in order if r % 2 == 0 else order[::-1]:
            seconds = train_steps(runners[name], opts[name], batches, args.warmup + r, 1, device)
            rates[name].append(batch * seq_len / seconds)
        if args.verbose:
            print(
                f"step {r + 1}: " + ", ".join(f"{n} {rates[n][-1]:,.0f} tok/s" for n in order),
                flush=True,
            )

    print()
    print("| model | tokens/s (median) | min | max |")
    print("|---|---:|---:|---:|")
    for name in order:
        print(
            f"| {name} | {statistics.median(rates[name]):,.0f} | {min(rates[name]):,.0f} | {max(rates[name]):,.0f} |"
        )
    if "transformers" in rates:
        ratios = sorted(a / b for a, b in zip(rates["bertmlm"], rates["transformers"]))
        q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        print(
            f"\nratio bertmlm / transformers: median {statistics.median(ratios):.2f}x "
            f"over {len(ratios)} paired steps (quartiles {q1:.2f}-{q3:.2f})"
        )


if __name__ == "__main__":
    main()
