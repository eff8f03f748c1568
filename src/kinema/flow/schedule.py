"""Where on the path to train and to sample: time sampling, shifts, schedules, conditioning masks.

Flow time follows ``kinema.flow.path``: ``t = 0`` data, ``t = 1`` noise. Schedules are plain
lists of Python floats (called ``sigma`` in loops) so they carry no device or dtype.

The shift. ``shift_time(t, s) = s·t / (1 + (s - 1)·t)`` maps ``[0, 1]`` onto itself, fixes both
ends and, for ``s > 1``, moves every interior time towards 1 (more noise). Larger images and
longer videos carry more redundant signal, so the same noise level destroys less of them; they
need more time at high noise both in training and in sampling (SD3 §5.3.2, Flux). One shift
value, from ``resolution_shift(num_tokens)``, should therefore be used for both
``sample_times(..., shift=s)`` during training and ``get_schedule(..., shift=s)`` at inference.
"""

from __future__ import annotations

import dataclasses
import math
from typing import overload

import torch
from torch import Tensor

from kinema.errors import ConfigError, KinemaError

__all__ = [
    "shift_time",
    "sample_times",
    "resolution_shift",
    "get_schedule",
    "CondMaskConfig",
    "COND_KINDS",
    "sample_cond_mask",
]


@overload
def shift_time(t: float, shift: float) -> float: ...
@overload
def shift_time(t: Tensor, shift: float) -> Tensor: ...
def shift_time(t: float | Tensor, shift: float) -> float | Tensor:
    """``s·t / (1 + (s - 1)·t)``: identity for ``s = 1``, towards noise for ``s > 1``.

    Equals Flux's ``time_shift(mu, 1, t)`` with ``s = exp(mu)``; keeps 0 and 1 exactly.
    """
    if not shift > 0:
        raise KinemaError(f"shift must be > 0, got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def sample_times(
    batch: int, *, generator: torch.Generator, mean: float = 0.0, std: float = 1.0, shift: float = 1.0
) -> Tensor:
    """Training times: logit-normal (SD3's ``lognorm(mean, std)``), then shifted.

    ``t = shift_time(sigmoid(mean + std·n), shift)`` with ``n ~ N(0, 1)`` drawn from
    ``generator``. Returns ``(batch,)`` fp32 on the generator's device, in ``(0, 1)`` (up to fp32
    rounding of the sigmoid for ``|mean + std·n| > 16``). Logit-normal puts most samples at
    intermediate times, where the velocity is hardest to predict.
    """
    if batch < 1:
        raise KinemaError(f"batch must be >= 1, got {batch}")
    if not std > 0:
        raise KinemaError(f"std must be > 0, got {std}")
    n = torch.randn(batch, generator=generator, device=generator.device, dtype=torch.float32)
    return shift_time(torch.sigmoid(mean + std * n), shift)


def resolution_shift(
    num_tokens: int,
    *,
    base_tokens: int = 256,
    max_tokens: int = 4096,
    base_shift: float = 0.5,
    max_shift: float = 1.15,
) -> float:
    """The time shift for a latent of ``num_tokens`` transformer tokens (``F·h·w / (pt·ph·pw)``).

    Flux's rule: ``mu`` is linear in the token count, from ``base_shift`` at ``base_tokens`` to
    ``max_shift`` at ``max_tokens``, and the shift is ``exp(mu)``. With the defaults (Flux's
    numbers, calibrated on 256-token 256² images and 4096-token 1024² images):

    ====================  ======  =====
    tokens                mu      shift
    ====================  ======  =====
    256 (e.g. 1×16×16)    0.50    1.65
    1024                  0.63    1.88
    4096 (e.g. 16×16×16)  1.15    3.16
    8192                  1.84    6.32
    ====================  ======  =====

    Above ``max_tokens`` the line is extrapolated (as Flux does), so the shift grows quickly for
    long, large videos; callers who want a ceiling clamp ``num_tokens`` or the result. Tokens
    count frames as well as pixels, so the shift grows with both resolution and length.
    """
    if num_tokens < 1:
        raise KinemaError(f"num_tokens must be >= 1, got {num_tokens}")
    if max_tokens <= base_tokens:
        raise KinemaError(f"max_tokens ({max_tokens}) must exceed base_tokens ({base_tokens})")
    slope = (max_shift - base_shift) / (max_tokens - base_tokens)
    mu = base_shift + slope * (num_tokens - base_tokens)
    return math.exp(mu)


def default_shift(num_tokens: int, *, max_tokens: int = 4096) -> float:
    """The shift training and sampling use when none is configured: ``resolution_shift`` with the
    token count clamped to its calibrated range (no extrapolation past ``max_tokens``)."""
    return resolution_shift(min(num_tokens, max_tokens), max_tokens=max_tokens)


def get_schedule(steps: int, *, shift: float = 1.0) -> list[float]:
    """Sampling times: ``steps + 1`` floats from exactly 1.0 down to exactly 0.0.

    Uniform in ``t`` and then shifted with ``shift_time``; ``shift > 1`` spends more of the
    steps at high noise (where global layout and motion are decided).
    """
    if steps < 1:
        raise KinemaError(f"steps must be >= 1, got {steps}")
    uniform = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    sigmas = [float(s) for s in shift_time(uniform, shift)]
    sigmas[0], sigmas[-1] = 1.0, 0.0
    return sigmas


# --------------------------------------------------------------------------- conditioning masks

COND_KINDS = ("none", "first", "first_k", "last", "first_last")
_MIN_FRAMES = {"none": 1, "first": 2, "first_k": 2, "last": 2, "first_last": 3}


@dataclasses.dataclass
class CondMaskConfig:
    """Relative frequencies of the training conditioning masks (normalised; need not sum to 1).

    - ``p_none``: text-to-video, no frame given.
    - ``p_first``: image-to-video, the first latent frame given.
    - ``p_first_k``: extension, the first ``k`` frames given (``k`` uniform in ``1 .. F-1``).
    - ``p_last``: backward extension / looping, the last ``k`` frames given (``k`` as above).
    - ``p_first_last``: interpolation between keyframes, the first and the last frame given.

    A kind that cannot leave a frame to generate (``first*``/``last`` with one frame,
    ``first_last`` with two) is not drawn; its weight goes to the remaining kinds.
    """

    p_none: float = 0.6
    p_first: float = 0.15
    p_first_k: float = 0.1
    p_last: float = 0.05
    p_first_last: float = 0.1

    def __post_init__(self) -> None:
        weights = self.weights()
        bad = [f"p_{k}={w}" for k, w in zip(COND_KINDS, weights, strict=True) if not (w >= 0 and math.isfinite(w))]
        if bad:
            raise ConfigError(f"conditioning mask probabilities must be finite and >= 0: {', '.join(bad)}")
        if sum(weights) <= 0:
            raise ConfigError("conditioning mask probabilities are all 0; set at least one (e.g. p_none = 1)")

    def weights(self) -> list[float]:
        """The weights in ``COND_KINDS`` order."""
        return [self.p_none, self.p_first, self.p_first_k, self.p_last, self.p_first_last]


def sample_cond_mask(batch: int, frames: int, *, generator: torch.Generator, probs: CondMaskConfig) -> Tensor:
    """Random per-sample conditioning masks for training: ``(batch, frames)`` bool, True = given.

    Each sample draws a kind from ``probs`` (see ``CondMaskConfig``) and, for ``first_k`` and
    ``last``, a ``k`` in ``1 .. frames-1``. Never are all frames given; with ``frames == 1``
    every mask is empty. The result lies on the generator's device.
    """
    if batch < 1 or frames < 1:
        raise KinemaError(f"batch and frames must be >= 1, got batch={batch}, frames={frames}")
    device = generator.device
    weights = [w if frames >= _MIN_FRAMES[k] else 0.0 for k, w in zip(COND_KINDS, probs.weights(), strict=True)]
    if sum(weights) <= 0:
        weights = [1.0, 0.0, 0.0, 0.0, 0.0]
    w = torch.tensor(weights, dtype=torch.float64, device=device)
    kind = torch.multinomial(w, batch, replacement=True, generator=generator)  # (B,) index into COND_KINDS
    k = torch.randint(1, max(frames, 2), (batch,), generator=generator, device=device)  # (B,) in 1 .. F-1
    idx = torch.arange(frames, device=device)[None, :]  # (1, F)
    kind, k = kind[:, None], k[:, None]  # (B, 1)
    mask = (
        ((kind == 1) & (idx == 0))
        | ((kind == 2) & (idx < k))
        | ((kind == 3) & (idx >= frames - k))
        | ((kind == 4) & ((idx == 0) | (idx == frames - 1)))
    )
    return mask  # (B, F)
