"""Loading checked weights into a module: one place for the errors every checkpoint reader gives."""

from __future__ import annotations

from pathlib import Path

import torch
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
