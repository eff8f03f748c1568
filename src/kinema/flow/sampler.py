"""Sampling as small pure functions: ``get_noise``, ``guided``, ``denoise``, ``sdedit_start``.

Flow time follows ``kinema.flow.path`` (``t = 1`` noise → ``t = 0`` data; the model predicts
``v = noise - x0``); schedules come from ``kinema.flow.schedule.get_schedule``. A sampler step
from ``sigma`` to ``sigma_next < sigma`` moves ``x += (sigma_next - sigma)·v``.

The model is seen only as a ``ModelFn``: ``(x (B, C, F, h, w), time (B, F)) -> v (B, C, F, h, w)``
with text, guidance and everything else bound by the caller. ``time`` is always per latent frame
(fp32, on ``x.device``); given frames get 0.

    noise = get_noise((1, C, F, h, w), seed=42, device="cuda", dtype=torch.float32)
    schedule = get_schedule(50, shift=resolution_shift(num_tokens))
    fn = guided(lambda x2, t2: dit(x2, t2, txt2[: len(x2)], txt_mask2[: len(x2)]), guidance=6.0)
    x0 = denoise(fn, noise, schedule, solver="heun", cond_latents=z_img, cond_mask=mask)

None of these functions disables autograd; wrap calls in ``torch.inference_mode()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from kinema.errors import KinemaError
from kinema.flow.path import apply_conditioning, frame_times, interpolate

__all__ = ["ModelFn", "Solver", "get_noise", "cfg_velocity", "guided", "denoise", "sdedit_start"]

ModelFn = Callable[[Tensor, Tensor], Tensor]
"""``(x (B, C, F, h, w), time (B, F)) -> v (B, C, F, h, w)``."""

Solver = Literal["euler", "heun", "midpoint"]


def get_noise(
    shape: Sequence[int],
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Standard normal noise of ``shape`` (``(B, C, F, h, w)`` for latents).

    Pass exactly one of ``seed`` or a CPU ``generator``. The noise is always drawn in fp32 on the
    CPU and then moved to ``device``/``dtype``, so a seed gives the same video on any device and
    in any precision (up to the final rounding).
    """
    if (seed is None) == (generator is None):
        raise KinemaError("get_noise needs exactly one of seed= or generator=")
    if generator is None:
        generator = torch.Generator(device="cpu").manual_seed(int(seed))  # type: ignore[arg-type]
    elif generator.device.type != "cpu":
        raise KinemaError(f"get_noise draws on the CPU for reproducibility; got a {generator.device} generator")
    noise = torch.randn(tuple(shape), generator=generator, dtype=torch.float32)
    return noise.to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- guidance


def cfg_velocity(model_batched: ModelFn, x: Tensor, time: Tensor, guidance: float) -> Tensor:
    """Classifier-free guided velocity, conditional and unconditional passes in one forward.

    ``model_batched(x2, time2)`` is called with ``x2 = [x; x]`` (``(2B, C, F, h, w)``) and
    ``time2 = [time; time]`` (``(2B, F)``); its first ``B`` rows must be conditioned on the
    prompt and the last ``B`` on the unconditional text (empty or negative prompt). The usual
    way to get that is to bind ``txt2 = cat([txt, txt_uncond])`` and slice ``txt2[: len(x2)]``:
    the same function then serves an un-doubled batch (``guidance == 1``) with the prompt only.

    Returns ``uncond + guidance·(cond - uncond)`` in fp32. For ``guidance == 1`` the model is
    called once on the un-doubled batch and its output returned unchanged.
    """
    if not math.isfinite(guidance):
        raise KinemaError(f"guidance must be a finite number, got {guidance}")
    if guidance == 1.0:
        return model_batched(x, time)
    batch = x.shape[0]
    v2 = model_batched(torch.cat([x, x]), torch.cat([time, time]))  # (2B, C, F, h, w)
    if v2.shape[0] != 2 * batch:
        raise KinemaError(f"the guided model returned batch {v2.shape[0]}, expected {2 * batch} (cond + uncond)")
    v_cond, v_uncond = v2.float().chunk(2)  # (B, C, F, h, w) each
    return v_uncond + guidance * (v_cond - v_uncond)


def guided(model_batched: ModelFn, guidance: float) -> ModelFn:
    """Wrap a cond/uncond-batched model as a plain ``ModelFn`` with guidance (see ``cfg_velocity``)."""
    if not math.isfinite(guidance):
        raise KinemaError(f"guidance must be a finite number, got {guidance}")

    def model_fn(x: Tensor, time: Tensor) -> Tensor:
        return cfg_velocity(model_batched, x, time, guidance)

    return model_fn


# --------------------------------------------------------------------------- integration


def _check_schedule(schedule: Sequence[float]) -> list[float]:
    sigmas = [float(s) for s in schedule]
    if not sigmas:
        raise KinemaError("the schedule is empty; use get_schedule(steps)")
    if any(not 0.0 <= s <= 1.0 for s in sigmas):
        raise KinemaError(f"schedule times must lie in [0, 1], got {sigmas}")
    if any(b > a for a, b in zip(sigmas, sigmas[1:], strict=False)):
        raise KinemaError("the schedule must run from noise to data (non-increasing, e.g. 1.0 … 0.0)")
    return sigmas


def denoise(
    model_fn: ModelFn,
    x: Tensor,
    schedule: Sequence[float],
    *,
    solver: Solver = "euler",
    cond_latents: Tensor | None = None,
    cond_mask: Tensor | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
) -> Tensor:
    """Integrate ``dx/dt = v`` along ``schedule`` (from ``schedule[0]``, usually 1, to its end, usually 0).

    ``x``: ``(B, C, F, h, w)`` latents at time ``schedule[0]`` (noise from ``get_noise``).
    ``cond_latents`` ``(B, C, F, h, w)`` with ``cond_mask`` ``(B, F)`` bool: frames where the mask
    is True are given. They are written into ``x`` before every model call and into the output,
    their velocity is zeroed so the update never moves them, and the model sees them at time 0.

    Solvers: ``"euler"`` (1 model call per step); ``"heun"`` (Euler predictor, trapezoidal
    corrector; 2 calls per step, second order; the step that ends at time 0 is a plain Euler
    step); ``"midpoint"`` (explicit midpoint, 2 calls per step, second order).

    The update math is fp32 (fp64 if ``x`` is fp64); ``model_fn`` receives that and ``time``
    ``(B, F)`` in fp32. ``callback(i, x)`` runs after step ``i`` (0-based) with the current
    latents. Returns the ``(B, C, F, h, w)`` latents at the end of the schedule in ``x.dtype``.
    """
    if solver not in ("euler", "heun", "midpoint"):
        raise KinemaError(f"unknown solver {solver!r}; choose euler, heun or midpoint")
    if x.ndim != 5:
        raise KinemaError(f"latents must be (B, C, F, h, w), got shape {tuple(x.shape)}")
    if (cond_latents is None) != (cond_mask is None):
        raise KinemaError("pass cond_latents and cond_mask together (or neither)")
    sigmas = _check_schedule(schedule)
    out_dtype = x.dtype
    batch, frames = x.shape[0], x.shape[2]
    if cond_mask is None:
        cond_mask = torch.zeros(batch, frames, dtype=torch.bool, device=x.device)
    cond_mask = cond_mask.to(x.device)
    keep = cond_mask[:, None, :, None, None]  # (B, 1, F, 1, 1)

    x = x.to(torch.promote_types(x.dtype, torch.float32))
    if cond_latents is not None:
        cond_latents = cond_latents.to(device=x.device, dtype=x.dtype)

    def condition(z: Tensor) -> Tensor:
        return z if cond_latents is None else apply_conditioning(z, cond_latents, cond_mask)

    def velocity(z: Tensor, sigma: float) -> Tensor:
        time = frame_times(torch.full((batch,), sigma, dtype=torch.float32, device=x.device), cond_mask)  # (B, F)
        v = model_fn(condition(z), time).to(z.dtype)  # (B, C, F, h, w)
        return torch.where(keep, torch.zeros((), dtype=v.dtype, device=v.device), v)

    x = condition(x)
    for i, (sigma, sigma_next) in enumerate(zip(sigmas[:-1], sigmas[1:], strict=True)):
        dt = sigma_next - sigma  # <= 0
        v = velocity(x, sigma)
        if solver == "euler" or (solver == "heun" and sigma_next == 0.0):
            x = x + dt * v
        elif solver == "heun":
            x_pred = x + dt * v
            x = x + dt * 0.5 * (v + velocity(x_pred, sigma_next))
        else:  # midpoint
            x_mid = x + (0.5 * dt) * v
            x = x + dt * velocity(x_mid, sigma + 0.5 * dt)
        x = condition(x)
        if callback is not None:
            callback(i, x)
    x = x.to(out_dtype)
    return x if cond_latents is None else apply_conditioning(x, cond_latents, cond_mask)


def sdedit_start(
    x0_clean: Tensor, strength: float, schedule: Sequence[float], noise: Tensor
) -> tuple[Tensor, list[float]]:
    """Start video-to-video editing (SDEdit) part-way along the path.

    ``x0_clean``, ``noise``: ``(B, C, F, h, w)``; ``strength`` in ``[0, 1]`` is the start time
    (0 = keep the input, 1 = ignore it). Returns ``x_start = interpolate(x0_clean, noise,
    strength)`` and the schedule tail ``[strength, *(s in schedule with s < strength)]`` to pass
    to ``denoise``. (Entries within 1e-6 below ``strength`` are dropped to avoid a vanishing
    first step.) With strength 0 the tail is ``[0.0]`` and ``denoise`` returns the input.
    """
    if not 0.0 <= strength <= 1.0:
        raise KinemaError(f"strength must be in [0, 1], got {strength}")
    sigmas = _check_schedule(schedule)
    tail = [float(strength)] + [s for s in sigmas if s < strength - 1e-6]
    return interpolate(x0_clean, noise, float(strength)), tail
