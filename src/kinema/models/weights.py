"""Loading checked weights into a module: one place for the errors every checkpoint reader gives."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from kinema.errors import KinemaError


def load_checked(model: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``tensors`` (any float dtype) into ``model`` as fp32, or raise ``KinemaError`` naming the
    missing, unexpected or wrongly shaped tensors of the file ``path``."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise KinemaError(
            f"{path} does not match its config: missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected tensors {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    bad = [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
           for k, v in tensors.items() if v.shape != expected[k].shape]
    if bad:
        raise KinemaError(f"{path} does not match its config: shape mismatch in {'; '.join(bad[:5])}")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})


def read_metadata(path: str | Path, *, fmt: str, what: str, saver: str) -> dict[str, str]:
    """The safetensors metadata of a kinema checkpoint of format ``fmt`` (with a ``config`` entry).

    ``what`` names the kind in messages ("VAE", "DiT"); ``saver`` is the function that writes it.
    Raises ``KinemaError`` for a missing or unreadable file or one of another format.
    """
    p = Path(path)
    if not p.is_file():
        raise KinemaError(f"{what} checkpoint {p} does not exist")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise KinemaError(f"cannot read {what} checkpoint {p}: {e}") from None
    if meta.get("format") != fmt or "config" not in meta:
        raise KinemaError(
            f"{p} is not a kinema {what} checkpoint (its safetensors metadata has no format={fmt!r} "
            f"and config); save one with {saver}"
        )
    try:
        json.loads(meta["config"])
    except json.JSONDecodeError as e:
        raise KinemaError(f"{p}: the config in its metadata is not valid JSON: {e}") from None
    return meta


def read_tensors(path: str | Path, *, what: str) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file; ``KinemaError`` naming the file if it cannot be read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise KinemaError(f"cannot read {what} checkpoint {path}: {e}") from None
