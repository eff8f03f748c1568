"""Image and video prompts as a latent timeline: which latent frames are given and which generated,
and how the decoded timeline becomes the output video.

Every mode of ``kinema.Pipeline`` is a ``Plan``: a timeline of ``t`` latent frames (normalised,
``(1, C, t, h, w)``) with a bool mask of the frames that are given clean, plus how to assemble the
output from the decoded timeline (``1 + ft·(t - 1)`` frames with the causal VAE, whose latent 0 is
frame 0 alone and latent ``i >= 1`` holds frames ``1 + ft·(i-1) .. ft·i``):

=============  ==============================================  ===================================
mode           timeline (G = given, N = generated)             output
=============  ==============================================  ===================================
text           N N N N N                                       decoded
image          G N N N N     (latent 0 = the image)            decoded, frame 0 = the image exactly
extend fwd     G G N N N     (the input's last frames)         input + new frames
extend bwd     N N N G G     (the input's first frames)        new frames + input
connect A B    G G N N G G   (end of A, start of B)            A + transition + B
edit           N N N N N     (started part-way from the input) decoded
=============  ==============================================  ===================================

Given frames at the start of a timeline are encoded as a fresh causal clip (their first frame
alone), exactly as the model saw "first frames given" in training. Given frames after generated
ones (backward extension, the B side of connect) are encoded behind a copy of their first frame,
so their latents are the mid-clip kind (``ft`` frames each) the model saw for "last frames given".

The frames the user gave are pasted back unchanged into the output ("kept" ranges); the decoded
versions of the given frames measure how faithfully the model and autoencoder kept them
(``Assembled.fidelity_psnr``); ``seams`` are the output frame indices where given frames and
generated frames meet (``eval.seams`` scores them). Looping is two plans: a text-to-video clip,
then a connect from its end back to its start (``Pipeline``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from kinema.errors import KinemaError

__all__ = ["Assembled", "Encoder", "Plan", "plan_connect", "plan_edit", "plan_extend", "plan_image", "plan_text"]

Encoder = Callable[[np.ndarray], Tensor]
"""uint8 frames ``(1 + ft·k, H, W, 3)`` -> normalised latents ``(1, C, 1 + k, h, w)`` (``Pipeline.encode_video``)."""


@dataclass
class Assembled:
    """The output video of a plan and where its given frames are.

    frames: uint8 ``(T, H, W, 3)``. kept: half-open output-frame ranges holding the user's frames
    unchanged. seams: output frame indices ``i`` where frame ``i - 1`` and frame ``i`` come from
    different sources (given vs generated). fidelity_psnr: PSNR (dB) of the decoded given frames
    against the frames the user gave (None when nothing was given).
    """

    frames: np.ndarray
    kept: list[tuple[int, int]] = field(default_factory=list)
    seams: list[int] = field(default_factory=list)
    fidelity_psnr: float | None = None


@dataclass
class Plan:
    """A latent timeline and how to turn its decoded frames into the output.

    given: ``(1, C, t, h, w)`` normalised latents, zero where not given. mask: ``(t,)`` bool, True =
    given. source/strength: video-to-video editing starts the generated frames at time
    ``strength`` on the path from ``source`` ``(1, C, t, h, w)`` to noise. reverse: generate windows
    right to left (the given frames are at the end). body: the decoded frames ``[start, end)`` that
    go into the output, between ``prefix`` and ``suffix`` (the user's frames, unchanged).
    paste: ``(index into body, frames)`` written over the body (e.g. the prompt image as frame 0).
    reference: ``(decoded index, frames)`` pairs that the decoded timeline should reproduce.
    """

    mode: str
    given: Tensor
    mask: Tensor
    body: tuple[int, int]
    prefix: np.ndarray | None = None
    suffix: np.ndarray | None = None
    paste: list[tuple[int, np.ndarray]] = field(default_factory=list)
    reference: list[tuple[int, np.ndarray]] = field(default_factory=list)
    source: Tensor | None = None
    strength: float = 1.0
    reverse: bool = False

    @property
    def latent_frames(self) -> int:
        return int(self.mask.shape[0])

    def assemble(self, decoded: np.ndarray) -> Assembled:
        """Decoded timeline uint8 ``(1 + ft·(t-1), H, W, 3)`` -> the output video (see ``Assembled``)."""
        fidelity = _fidelity(decoded, self.reference)
        body = decoded[self.body[0]:self.body[1]].copy()
        kept: list[tuple[int, int]] = []
        offset = 0 if self.prefix is None else len(self.prefix)
        for i, px in self.paste:
            body[i:i + len(px)] = px
            kept.append((offset + i, offset + i + len(px)))
        parts = [body]
        if self.prefix is not None:
            parts.insert(0, self.prefix)
            kept.insert(0, (0, offset))
        if self.suffix is not None:
            end = offset + len(body)
            parts.append(self.suffix)
            kept.append((end, end + len(self.suffix)))
        frames = np.concatenate(parts) if len(parts) > 1 else body
        seams = sorted({x for a, b in kept for x in (a, b) if 0 < x < len(frames)})
        return Assembled(frames=frames, kept=kept, seams=seams, fidelity_psnr=fidelity)


def _fidelity(decoded: np.ndarray, reference: list[tuple[int, np.ndarray]]) -> float | None:
    if not reference:
        return None
    sq, n = 0.0, 0
    for i, px in reference:
        d = decoded[i:i + len(px)].astype(np.float64) - px.astype(np.float64)
        sq += float((d * d).sum())
        n += d.size
    mse = sq / max(n, 1)
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _decoded_frames(latents: int, ft: int) -> int:
    return 1 + ft * (latents - 1)


def _empty(latent_shape: tuple[int, int, int, int], device: torch.device) -> tuple[Tensor, Tensor]:
    c, t, h, w = latent_shape
    return torch.zeros(1, c, t, h, w, device=device), torch.zeros(t, dtype=torch.bool, device=device)


def _check_latents(z: Tensor, c: int, k: int, h: int, w: int, what: str) -> None:
    if tuple(z.shape) != (1, c, k, h, w):
        raise KinemaError(f"{what}: the encoder returned latents {tuple(z.shape)}, expected {(1, c, k, h, w)}")


# --------------------------------------------------------------------------- plans


def plan_text(latent_shape: tuple[int, int, int, int], *, device: torch.device, ft: int) -> Plan:
    """Text-to-video: nothing given; the output is the decoded timeline."""
    given, mask = _empty(latent_shape, device)
    return Plan(mode="text", given=given, mask=mask, body=(0, _decoded_frames(latent_shape[1], ft)))


def plan_image(image: np.ndarray, latent_shape: tuple[int, int, int, int], *, encode: Encoder,
               device: torch.device, ft: int) -> Plan:
    """Image-to-video: ``image`` uint8 ``(1, H, W, 3)`` is latent 0 and output frame 0, unchanged."""
    c, t, h, w = latent_shape
    given, mask = _empty(latent_shape, device)
    z = encode(image)  # (1, C, 1, h, w)
    _check_latents(z, c, 1, h, w, "image")
    given[:, :, :1], mask[0] = z, True
    return Plan(mode="image", given=given, mask=mask, body=(0, _decoded_frames(t, ft)), paste=[(0, image)],
                reference=[(0, image)])


def context_latents(frames: int, ft: int, want: int) -> int:
    """How many latent frames of context ``frames`` input frames can give (at most ``want``, at least 1)."""
    return max(1, min(want, 1 + (frames - 1) // ft))


def plan_extend(video: np.ndarray, new_latents: int, *, context: int, direction: str, encode: Encoder,
                latent_shape: tuple[int, int], device: torch.device, ft: int) -> Plan:
    """Extend ``video`` uint8 ``(N, H, W, 3)`` by ``new_latents`` latent frames, forward or backward.

    ``context``: latent frames of the input the model sees (fewer if the input is short).
    latent_shape: ``(C, h, w)``. Forward adds ``ft·new_latents`` frames after the input; backward
    adds ``1 + ft·(new_latents - 1)`` frames before it. The input is in the output unchanged.
    """
    c, h, w = latent_shape
    n = len(video)
    if direction == "forward":
        k = context_latents(n, ft, context)
        ctx = video[n - _decoded_frames(k, ft):]  # the input's last 1 + ft·(k-1) frames
        z = encode(ctx)  # (1, C, k, h, w)
        _check_latents(z, c, k, h, w, "extend")
        given, mask = _empty((c, k + new_latents, h, w), device)
        given[:, :, :k], mask[:k] = z, True
        start = _decoded_frames(k, ft)
        return Plan(mode="extend-forward", given=given, mask=mask, prefix=video,
                    body=(start, start + ft * new_latents), reference=[(0, ctx)])
    if direction != "backward":
        raise KinemaError(f"direction must be 'forward' or 'backward', got {direction!r}")
    if n < ft:
        raise KinemaError(f"extending backward needs a video of at least {ft} frames (the model packs {ft} frames "
                          f"into one latent frame); this one has {n}")
    k = max(1, min(context, n // ft))
    ctx = video[:ft * k]  # the input's first ft·k frames
    z = encode(np.concatenate([video[:1], ctx]))[:, :, 1:]  # (1, C, k, h, w): mid-clip latents
    _check_latents(z, c, k, h, w, "extend")
    t = new_latents + k
    given, mask = _empty((c, t, h, w), device)
    given[:, :, new_latents:], mask[new_latents:] = z, True
    new_frames = _decoded_frames(new_latents, ft)
    return Plan(mode="extend-backward", given=given, mask=mask, suffix=video, body=(0, new_frames),
                reference=[(new_frames, ctx)], reverse=True)


def plan_connect(a: np.ndarray, b: np.ndarray, new_latents: int, *, context: int, encode: Encoder,
                 latent_shape: tuple[int, int], device: torch.device, ft: int) -> Plan:
    """A transition of ``ft·new_latents`` frames from the end of ``a`` to the start of ``b``.

    a, b: uint8 ``(N_a, H, W, 3)``, ``(N_b, H, W, 3)`` with ``N_b >= ft``. The output is
    ``a + transition + b``, both inputs unchanged.
    """
    c, h, w = latent_shape
    if len(b) < ft:
        raise KinemaError(f"the second video to connect needs at least {ft} frames; it has {len(b)}")
    ka = context_latents(len(a), ft, context)
    kb = max(1, min(context, len(b) // ft))
    ctx_a = a[len(a) - _decoded_frames(ka, ft):]
    ctx_b = b[:ft * kb]
    za = encode(ctx_a)  # (1, C, ka, h, w)
    zb = encode(np.concatenate([b[:1], ctx_b]))[:, :, 1:]  # (1, C, kb, h, w)
    _check_latents(za, c, ka, h, w, "connect (first video)")
    _check_latents(zb, c, kb, h, w, "connect (second video)")
    t = ka + new_latents + kb
    given, mask = _empty((c, t, h, w), device)
    given[:, :, :ka], mask[:ka] = za, True
    given[:, :, ka + new_latents:], mask[ka + new_latents:] = zb, True
    start = _decoded_frames(ka, ft)
    stop = start + ft * new_latents
    return Plan(mode="connect", given=given, mask=mask, prefix=a, suffix=b, body=(start, stop),
                reference=[(0, ctx_a), (stop, ctx_b)])


def plan_edit(video: np.ndarray, strength: float, *, encode: Encoder, latent_shape: tuple[int, int, int, int],
              device: torch.device, ft: int) -> Plan:
    """Video-to-video (SDEdit): ``video`` uint8 ``(1 + ft·k, H, W, 3)`` noised to time ``strength``
    (0 keeps it, 1 ignores it) and denoised under the new prompt; the output is the decoded timeline."""
    if not (isinstance(strength, (int, float)) and 0.0 < strength <= 1.0):
        raise KinemaError(f"strength must be a number in (0, 1] (0.3 keeps layout and motion, 1 ignores the "
                          f"input), got {strength!r}")
    c, t, h, w = latent_shape
    z = encode(video)  # (1, C, t, h, w)
    _check_latents(z, c, t, h, w, "edit")
    given, mask = _empty(latent_shape, device)
    return Plan(mode="edit", given=given, mask=mask, body=(0, _decoded_frames(t, ft)), source=z,
                strength=float(strength))
