"""Data parallelism, applied from outside the model in one place (as torchtitan's ``parallelize``).

Models are written for one device; a training loop makes them data-parallel with::

    rank, world_size, device = init_distributed()      # torchrun's env; no-op in one process
    model = wrap_model(model.to(device), "ddp")        # or "fsdp" (CUDA), "none"
    with no_sync(model, not last_micro_batch):         # gradient accumulation
        loss.backward()
    ...
    cleanup()

``init_distributed`` reads the variables ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): NCCL with one GPU per process when CUDA is
available, gloo on the CPU. Without them (a plain ``python`` run) everything here is a no-op and
the model is returned unwrapped, so the same training code runs on one process and on many::

    torchrun --nproc_per_node 2 -m kinema.train.train_dit --config configs/dit_world.toml

``"fsdp"`` shards parameters, gradients and optimizer state (FSDP2 ``fully_shard``; FSDP1 with
``use_orig_params`` on a torch without FSDP2). It is for CUDA: on the CPU (gloo) it falls back to
DDP with a warning. Only the root module is sharded: the DiT computes every block's text
keys/values in ``encode_text_kv``, outside the blocks' ``forward``, so per-block units (which
gather their parameters only inside ``forward``) would see sharded weights there. Root-only
sharding gathers the whole model for forward/backward (fine up to XL on one 80 GB GPU) and still
shards gradients, optimizer state and the EMA.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

import torch
import torch.distributed as dist
from torch import nn

from kinema.errors import KinemaError

__all__ = [
    "ParallelKind",
    "init_distributed",
    "wrap_model",
    "unwrap_model",
    "no_sync",
    "is_main",
    "rank",
    "world_size",
    "barrier",
    "all_reduce_mean",
    "all_gather_object",
    "cleanup",
]

logger = logging.getLogger(__name__)

ParallelKind = Literal["none", "ddp", "fsdp"]


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise KinemaError(f"the distributed launcher set {name}={value!r}, which is not an integer") from None


def init_distributed(timeout_s: float = 1800.0) -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes; return ``(rank, world_size, device)``.

    One process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``): no process group, rank 0, and the
    device is ``cuda`` if available else ``cpu``. Several: NCCL on ``cuda:LOCAL_RANK`` (which
    becomes the current device) when CUDA is available, gloo on ``cpu`` otherwise. Calling it
    again when the group exists returns the same answer.
    """
    size = _env_int("WORLD_SIZE", 1)
    cuda = torch.cuda.is_available()
    if size <= 1 and not dist.is_initialized():
        return 0, 1, torch.device("cuda" if cuda else "cpu")
    local = _env_int("LOCAL_RANK", 0)
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size(), device


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """True on rank 0 (the process that writes files and logs)."""
    return rank() == 0


def _fully_shard():  # the FSDP2 entry point, or None on a torch without it
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:
        try:
            from torch.distributed._composable.fsdp import fully_shard
        except ImportError:
            return None
    return fully_shard


def wrap_model(model: nn.Module, kind: ParallelKind, device: torch.device | None = None) -> nn.Module:
    """Make ``model`` (already on its device) data-parallel; returns the module to call.

    ``"none"``, or a single process: ``model`` itself. ``"ddp"``: ``DistributedDataParallel``
    (``device_ids`` set on CUDA). ``"fsdp"`` on CUDA: FSDP2 ``fully_shard`` on the root (in place: the result
    *is* ``model``; see the module docstring for why not per block), or FSDP1 when this torch has
    no FSDP2; on the CPU it falls back to DDP. Parameters of the returned module
    are the ones to optimise (FSDP shards them, so build the optimizer after wrapping).
    """
    if kind not in ("none", "ddp", "fsdp"):
        raise KinemaError(f"parallel kind must be 'none', 'ddp' or 'fsdp', got {kind!r}")
    if kind == "none" or not _distributed():
        return model
    device = device if device is not None else next(model.parameters()).device
    if kind == "fsdp" and device.type != "cuda":
        logger.warning("FSDP needs CUDA (NCCL); using DDP on %s", device)
        kind = "ddp"
    if kind == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    fully_shard = _fully_shard()
    if fully_shard is not None:
        fully_shard(model)
        return model
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    return FSDP(model, device_id=device, use_orig_params=True)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a DDP/FSDP1 wrapper (FSDP2 shards in place: the module itself)."""
    return getattr(model, "module", model)


@contextlib.contextmanager
def no_sync(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Skip the gradient all-reduce inside the block (all micro-batches of a step but the last).

    DDP/FSDP1: their ``no_sync()``; FSDP2: ``set_requires_gradient_sync(False)`` for the block;
    a plain module: nothing to skip.
    """
    if not enabled:
        yield
        return
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)
    elif hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    else:
        yield


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if _distributed():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over ranks, in place; returns it (unchanged in one process)."""
    if _distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(dist.get_world_size())
    return tensor


def all_gather_object(obj: object) -> list[object]:
    """Every rank's ``obj`` (picklable; small things only), in rank order: ``[obj]`` in one process."""
    if not _distributed():
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
