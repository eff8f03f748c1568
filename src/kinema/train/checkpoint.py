"""Training state on disk: tensors and plain values only, written atomically, resumed exactly.

A run folder holds ``state.pt`` (model weights, optimizer state, step, RNG states, anything the
loop needs to continue bit-for-bit) written with ``torch.save`` and read back with
``weights_only=True`` (no pickled objects), beside the exported weights in safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from kinema.atomic import atomic_path
from kinema.errors import KinemaError

STATE_FILE = "state.pt"


def save_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write a training state dict (tensors, numbers, strings, lists, dicts) atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a ``save_state`` file; ``KinemaError`` naming the file if it is missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise KinemaError(f"training state {p} does not exist")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        raise KinemaError(f"cannot read training state {p}: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict) or "step" not in state:
        raise KinemaError(f"{p} is not a kinema training state (no 'step' entry)")
    return state


def rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The RNG states a resumed run needs: the loop's generator and torch's global CPU RNG."""
    return {"generator": generator.get_state(), "torch": torch.get_rng_state()}


def restore_rng(state: dict[str, torch.Tensor], generator: torch.Generator) -> None:
    """Inverse of ``rng_state``."""
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
