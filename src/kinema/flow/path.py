"""The flow-matching path: the one place the convention is written down.

Convention (rectified flow, as in SD3 and Flux):

- The flow time ``t`` lies in ``[0, 1]``; ``t = 0`` is data, ``t = 1`` is pure noise.
- The path is a straight line: ``x_t = (1 - t)·x0 + t·noise``.
- The model predicts the velocity ``v = dx_t/dt = noise - x0`` (constant along the line).
- Sampling integrates ``dx/dt = v`` from ``t = 1`` (noise) down to ``t = 0`` (data).
- Hence ``x0 = x_t - t·v`` and ``noise = x_t + (1 - t)·v``.

Naming. Latents are ``(B, C, t, h, w)``, where lowercase ``t`` in a *shape* is the latent
frame axis. To keep the two apart, code calls the flow time ``time`` (a tensor) or ``sigma``
(a Python float in a schedule), and the number of latent frames ``F``.

Per-frame times. A time is either ``(B,)`` (one time per sample) or ``(B, F)`` (one time per
latent frame, ``F = x.shape[2]``); both broadcast over ``(C, h, w)``. A 0-d tensor or a Python
float is one time for everything. Per-frame times are how conditioning works: given frames
(clean latents of an image or video prompt, marked by a bool ``cond_mask (B, F)``) sit at time
0 while the generated frames move along the path.

Training step, in this vocabulary::

    time = sample_times(B, generator=g, shift=s)                    # (B,)
    mask = sample_cond_mask(B, F, generator=g, probs=cfg)           # (B, F) bool
    noise = torch.randn(x0.shape, generator=g)                      # (B, C, F, h, w)
    xt = apply_conditioning(interpolate(x0, noise, time), x0, mask)
    v = model(xt, frame_times(time, mask), ...)                     # (B, C, F, h, w)
    loss = masked_mse(v, velocity_target(x0, noise), mask)

Arithmetic is done in at least fp32 and results are returned in the dtype of the latents.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

from kinema.errors import KinemaError

__all__ = [
    "interpolate",
    "velocity_target",
    "predict_x0",
    "predict_noise",
    "apply_conditioning",
    "frame_times",
    "masked_mse",
    "sample_mse",
    "contrast_nll",
]


def _compute_dtype(x: Tensor) -> torch.dtype:
    """fp32 for half-precision latents, the latents' own dtype for fp32/fp64."""
    return torch.promote_types(x.dtype, torch.float32)


def _broadcast_time(time: Tensor | float, x: Tensor) -> Tensor:
    """Shape a flow time so it broadcasts against latents ``x``.

    ``time``: float, 0-d, ``(B,)`` or ``(B, F)``; ``x``: ``(B, C, F, h, w)`` (any rank >= 2 for
    ``(B,)`` times). Returns a tensor in the compute dtype on ``x.device``: 0-d, ``(B, 1, ..., 1)``
    or ``(B, 1, F, 1, 1)``.
    """
    dtype = _compute_dtype(x)
    t = torch.as_tensor(time, dtype=dtype, device=x.device)
    if t.ndim == 0:
        return t
    if t.ndim == 1:
        if t.shape[0] not in (1, x.shape[0]):
            raise KinemaError(f"time has shape {tuple(t.shape)} but the latents have batch {x.shape[0]}")
        return t.reshape(t.shape[0], *([1] * (x.ndim - 1)))
    if t.ndim == 2:
        if x.ndim != 5:
            raise KinemaError(f"per-frame times (B, F) need latents (B, C, F, h, w), got shape {tuple(x.shape)}")
        if t.shape[0] not in (1, x.shape[0]) or t.shape[1] != x.shape[2]:
            raise KinemaError(
                f"per-frame time has shape {tuple(t.shape)}; latents {tuple(x.shape)} need (B, F) = "
                f"({x.shape[0]}, {x.shape[2]})"
            )
        return rearrange(t, "b f -> b 1 f 1 1")
    raise KinemaError(f"time must be a float, (B,) or (B, F); got shape {tuple(t.shape)}")


def _check_mask(cond_mask: Tensor, x: Tensor) -> None:
    if cond_mask.dtype != torch.bool:
        raise KinemaError(f"cond_mask must be a bool tensor, got {cond_mask.dtype}")
    if x.ndim != 5 or cond_mask.shape != (x.shape[0], x.shape[2]):
        raise KinemaError(
            f"cond_mask has shape {tuple(cond_mask.shape)}; latents of shape {tuple(x.shape)} need (B, F)"
        )


def interpolate(x0: Tensor, noise: Tensor, time: Tensor | float) -> Tensor:
    """The point on the path: ``x_t = (1 - t)·x0 + t·noise``.

    ``x0``, ``noise``: ``(B, C, F, h, w)``; ``time``: float, ``(B,)`` or ``(B, F)``.
    Returns ``(B, C, F, h, w)`` in ``x0.dtype``.
    """
    if x0.shape != noise.shape:
        raise KinemaError(f"x0 {tuple(x0.shape)} and noise {tuple(noise.shape)} must have the same shape")
    dtype = _compute_dtype(x0)
    t = _broadcast_time(time, x0)
    xt = (1 - t) * x0.to(dtype) + t * noise.to(dtype)
    return xt.to(x0.dtype)


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """The regression target ``v = noise - x0`` (``(B, C, F, h, w)``, in ``x0.dtype``)."""
    dtype = _compute_dtype(x0)
    return (noise.to(dtype) - x0.to(dtype)).to(x0.dtype)


def predict_x0(xt: Tensor, v: Tensor, time: Tensor | float) -> Tensor:
    """The clean latents implied by a velocity: ``x0 = x_t - t·v``.

    ``xt``, ``v``: ``(B, C, F, h, w)``; ``time``: float, ``(B,)`` or ``(B, F)``.
    """
    dtype = _compute_dtype(xt)
    t = _broadcast_time(time, xt)
    return (xt.to(dtype) - t * v.to(dtype)).to(xt.dtype)


def predict_noise(xt: Tensor, v: Tensor, time: Tensor | float) -> Tensor:
    """The noise implied by a velocity: ``noise = x_t + (1 - t)·v``.

    ``xt``, ``v``: ``(B, C, F, h, w)``; ``time``: float, ``(B,)`` or ``(B, F)``.
    """
    dtype = _compute_dtype(xt)
    t = _broadcast_time(time, xt)
    return (xt.to(dtype) + (1 - t) * v.to(dtype)).to(xt.dtype)


def apply_conditioning(xt: Tensor, clean: Tensor, cond_mask: Tensor) -> Tensor:
    """Replace the given frames of ``xt`` by the clean latents, bit for bit.

    ``xt``, ``clean``: ``(B, C, F, h, w)``; ``cond_mask``: ``(B, F)`` bool, True = given frame.
    Returns a new ``(B, C, F, h, w)`` tensor in ``xt.dtype`` (``clean`` is cast to it).
    """
    _check_mask(cond_mask, xt)
    if clean.shape != xt.shape:
        raise KinemaError(f"conditioning latents {tuple(clean.shape)} must match the latents {tuple(xt.shape)}")
    m = rearrange(cond_mask.to(xt.device), "b f -> b 1 f 1 1")
    return torch.where(m, clean.to(device=xt.device, dtype=xt.dtype), xt)


def frame_times(time: Tensor | float, cond_mask: Tensor) -> Tensor:
    """Per-frame flow times with the given frames at 0.

    ``time``: float, ``(B,)`` or ``(B, F)``; ``cond_mask``: ``(B, F)`` bool.
    Returns ``(B, F)`` float (fp32 unless ``time`` is fp64) on ``cond_mask.device``.
    """
    if cond_mask.dtype != torch.bool or cond_mask.ndim != 2:
        raise KinemaError(f"cond_mask must be a (B, F) bool tensor, got {cond_mask.dtype} {tuple(cond_mask.shape)}")
    t = torch.as_tensor(time, device=cond_mask.device)
    t = t.to(torch.promote_types(t.dtype, torch.float32))
    if t.ndim == 1:
        t = rearrange(t, "b -> b 1")
    elif t.ndim > 2:
        raise KinemaError(f"time must be a float, (B,) or (B, F); got shape {tuple(t.shape)}")
    t = t.expand(cond_mask.shape)  # (B, F)
    return torch.where(cond_mask, torch.zeros((), dtype=t.dtype, device=t.device), t)


def masked_mse(v_pred: Tensor, v_target: Tensor, cond_mask: Tensor | None = None,
               weight: Tensor | None = None) -> Tensor:
    """Mean squared error over the generated (non-given) frames only, as a 0-d fp32 tensor.

    ``v_pred``, ``v_target``: ``(B, C, F, h, w)``; ``cond_mask``: ``(B, F)`` bool or None (no
    frame given). The mean is over every element of every generated frame in the batch, so each
    generated frame weighs the same whatever its sample's mask. If no frame is generated the loss
    is 0 (and still carries the graph). ``weight`` ``(B, F, h, w)`` >= 0: a weighted mean instead
    (each latent position counts ``weight`` times; e.g. more where the objects are).
    """
    _check_pair(v_pred, v_target, weight)
    err = (v_pred.float() - v_target.float()).square()  # (B, C, F, h, w)
    if weight is not None:
        wt = _loss_weights(err, cond_mask, weight)  # (B, 1, F, h, w)
        return (err * wt).sum() / (wt.sum() * v_pred.shape[1]).clamp_min(1e-12)
    if cond_mask is None:
        return err.mean()
    keep = _loss_weights(err, cond_mask, None)  # (B, 1, F, 1, 1)
    per_frame = v_pred.shape[1] * v_pred.shape[3] * v_pred.shape[4]  # C·h·w elements per frame
    count = keep.sum() * per_frame
    return (err * keep).sum() / count.clamp_min(1)


def motion_mse(v_pred: Tensor, v_target: Tensor, cond_mask: Tensor | None = None,
               weight: Tensor | None = None) -> Tensor:
    """Mean squared error of the frame-to-frame *change* of the prediction's error (a 0-d fp32 tensor).

    With ``r = v_pred - v_target`` ``(B, C, F, h, w)`` it is the mean of ``(r[f+1] - r[f])²`` over
    consecutive pairs of generated frames (pairs that touch a given frame of ``cond_mask`` (B, F)
    are left out). A residual that is the same in every frame (a wrong but steady picture) costs
    nothing here; one that changes from frame to frame (an object in the wrong place at the wrong
    time: wrong motion, or jitter) costs up to 4x its plain squared error. Added to
    ``masked_mse`` with a factor (``motion_weight``) it weighs the loss towards motion.
    ``weight`` (B, F, h, w): each pair counts the mean of its two frames' weights. Fewer than two
    frames, or no generated pair: 0 (still carrying the graph).
    """
    _check_pair(v_pred, v_target, weight)
    if v_pred.shape[2] < 2:
        return (v_pred.float() * 0.0).sum()
    # masked_mse of the frame differences: a pair is left out if either frame is given, and weighs
    # the mean of its two frames' weights
    pair_mask = None
    if cond_mask is not None:
        _check_mask(cond_mask, v_pred)
        pair_mask = cond_mask[:, 1:] | cond_mask[:, :-1]  # (B, F-1)
    pair_weight = None if weight is None else 0.5 * (weight[:, 1:] + weight[:, :-1])  # (B, F-1, h, w)
    r = v_pred.float() - v_target.float()  # (B, C, F, h, w)
    return masked_mse(r[:, :, 1:], r[:, :, :-1], pair_mask, pair_weight)


def sample_mse(v_pred: Tensor, v_target: Tensor, cond_mask: Tensor | None = None,
               weight: Tensor | None = None) -> Tensor:
    """``masked_mse`` per sample: ``(B,)`` fp32, each over that sample's generated frames (0 where
    every frame is given). Same arguments and weighting as ``masked_mse``."""
    _check_pair(v_pred, v_target, weight)
    b, c, f, h, w = v_pred.shape
    err = (v_pred.float() - v_target.float()).square()  # (B, C, F, h, w)
    wt = _loss_weights(err, cond_mask, weight)
    if wt is None:
        return err.flatten(1).mean(1)
    wt = wt.expand(b, 1, f, h, w)
    return (err * wt).flatten(1).sum(1) / (wt.flatten(1).sum(1) * c).clamp_min(1e-12)


def contrast_nll(err_true: Tensor, err_alt: Tensor, temp: float) -> Tensor:
    """How well the model tells a clip's caption from an alternative one (a 0-d fp32 tensor).

    The flow model read as a two-way classifier (a "diffusion classifier": the caption that
    explains ``x_t`` better has the smaller velocity error): with the per-sample errors ``err_true``
    (the true caption) and ``err_alt`` (the alternative, e.g. its left-right mirror), both ``(B,)``,
    the relative gap ``r = (err_alt - err_true) / err_true`` (the denominator not differentiated)
    gives ``p(true) = sigmoid(r / temp)``; this returns the mean of ``-log p(true) =
    softplus(-r / temp)``. It is log 2 when the captions make no difference, and falls to 0 as
    the alternative's error grows past ``temp`` times the true one, where its gradient fades: it
    pushes the model to *use* the words that tell the two apart, not to predict worse. Empty
    inputs give 0.
    """
    if err_true.shape != err_alt.shape or err_true.ndim != 1:
        raise KinemaError(f"need two (B,) error vectors, got {tuple(err_true.shape)} and {tuple(err_alt.shape)}")
    if not temp > 0:
        raise KinemaError(f"temp must be > 0, got {temp}")
    if err_true.numel() == 0:
        return err_alt.float().sum() * 0.0
    gap = (err_alt.float() - err_true.float()) / err_true.detach().float().clamp_min(1e-8)
    return torch.nn.functional.softplus(-gap / temp).mean()


def _loss_weights(err: Tensor, cond_mask: Tensor | None, weight: Tensor | None) -> Tensor | None:
    """What each position of ``err`` (B, C, F, h, w) counts in the losses: ``weight`` (B, F, h, w)
    times 0 on given frames (``cond_mask`` (B, F)), as (B, 1, F, h, w), or (B, 1, F, 1, 1) with the
    mask alone; None with neither."""
    wt = None
    if weight is not None:
        wt = rearrange(weight.to(device=err.device, dtype=err.dtype), "b f h w -> b 1 f h w")
    if cond_mask is not None:
        _check_mask(cond_mask, err)
        keep = rearrange((~cond_mask).to(device=err.device, dtype=err.dtype), "b f -> b 1 f 1 1")
        wt = keep if wt is None else wt * keep
    return wt


def _check_pair(v_pred: Tensor, v_target: Tensor, weight: Tensor | None) -> None:
    """Prediction and target of the same shape (B, C, F, h, w), and ``weight`` None or (B, F, h, w)."""
    if v_pred.shape != v_target.shape:
        raise KinemaError(f"prediction {tuple(v_pred.shape)} and target {tuple(v_target.shape)} differ in shape")
    if weight is not None:
        b, _, f, h, w = v_pred.shape
        if tuple(weight.shape) != (b, f, h, w):
            raise KinemaError(f"weight must be (B, F, h, w) = {(b, f, h, w)}, got {tuple(weight.shape)}")
