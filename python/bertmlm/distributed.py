"""Data-parallel training through PyTorch's own engine: torchrun + torch.distributed + DDP.

`python -m bertmlm.pretrain` reads what torchrun puts in the environment (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR/PORT) and joins the process group only when WORLD_SIZE > 1: gloo on the
CPU, nccl on CUDA (each process on GPU LOCAL_RANK). A plain `python -m bertmlm.pretrain` never
touches torch.distributed. See docs/distributed.md for launching and what is sharded.

Everything here is a no-op for a single process, so callers need no `if distributed:` branches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistEnv()


def env_from_os(environ: dict[str, str] | None = None) -> DistEnv:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them (a single process when absent)."""
    e = os.environ if environ is None else environ
    world = int(e.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return SINGLE
    rank = int(e.get("RANK", "0"))
    local = int(e.get("LOCAL_RANK", str(rank)))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside [0, WORLD_SIZE={world})")
    return DistEnv(rank, world, local)


def init(device_type: str) -> DistEnv:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1; returns the env.

    Backend: nccl when training on CUDA, gloo otherwise. On CUDA the process uses GPU LOCAL_RANK.
    """
    env = env_from_os()
    if not env.enabled:
        return SINGLE
    if device_type == "cuda":
        torch.cuda.set_device(env.local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        device_id = torch.device("cuda", env.local_rank) if backend == "nccl" else None
        dist.init_process_group(
            backend=backend, rank=env.rank, world_size=env.world_size, device_id=device_id
        )
    return env


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


class PeerFailed(RuntimeError):
    """Rank 0 failed in a block the other ranks were waiting on (rank 0 prints the reason)."""


@contextlib.contextmanager
def main_first(env: DistEnv) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. writes a cache); the others run it after rank 0 is done
    (and then find the cache). Rank 0 tells the others whether it succeeded: when it failed they
    raise PeerFailed instead of going on alone (and hanging at the next collective)."""
    if env.enabled and not env.is_main:
        if broadcast_value(0.0, env) != 1.0:
            raise PeerFailed("rank 0 failed (its message is above); stopping this rank too")
        yield
        return
    ok = False
    try:
        yield
        ok = True
    finally:
        if env.enabled:
            broadcast_value(1.0 if ok else 0.0, env)


def all_reduce(
    values: Sequence[float], env: DistEnv, *, op: str = "sum", device: torch.device | None = None
) -> list[float]:
    """Sum (or max) a few numbers over all ranks, in float64; returns them as Python floats."""
    if not env.enabled:
        return [float(v) for v in values]
    t = torch.tensor(
        [float(v) for v in values], dtype=torch.float64, device=device or _comm_device()
    )
    dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return t.tolist()


def broadcast_value(value: float, env: DistEnv, *, device: torch.device | None = None) -> float:
    """Rank 0's value on every rank."""
    if not env.enabled:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=device or _comm_device())
    dist.broadcast(t, src=0)
    return float(t.item())


def _comm_device() -> torch.device:
    """Where collective tensors must live: the current GPU for nccl, the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def rank_rows(n: int, env: DistEnv) -> slice:
    """This rank's rows of a global batch of n rows: contiguous, sizes differ by at most one
    (rank r gets rows [r*n//W, (r+1)*n//W))."""
    return slice(env.rank * n // env.world_size, (env.rank + 1) * n // env.world_size)


def wrap_ddp(model: torch.nn.Module, env: DistEnv, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around `model` when distributed, else `model` itself."""
    if not env.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    device_ids = (
        [device.index if device.index is not None else env.local_rank]
        if device.type == "cuda"
        else None
    )
    # every parameter gets a gradient every step (the MLM head too: an all-unmasked batch still
    # puts it in the graph), so no unused-parameter search; bucket views avoid a gradient copy
    return DDP(model, device_ids=device_ids, gradient_as_bucket_view=True)
