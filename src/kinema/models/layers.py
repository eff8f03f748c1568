"""Transformer layers for the diffusion transformer: norms, modulation, MLP, embedders, RoPE, attention.

Shapes: tokens ``(B, N, D)``; heads ``nh``, head dim ``hd``; text ``(B, L, D)`` after the text
projection. Precision: the norms, the adaLN modulation, the timestep embedding and the rotary
rotation compute in fp32 whatever the autocast state (``no_autocast``); the big matmuls and
attention run in the working dtype (bf16 under autocast).

Choices:

- MLP: GELU, ``dim -> ratio·dim -> dim``, as in DiT, PixArt, SD3, Flux, HunyuanVideo and Wan
  (rather than SwiGLU: slightly better per parameter in language models, but three matmuls
  instead of two, i.e. smaller, less efficient GEMMs on CPU, and it would make the B/L/XL sizes
  incomparable with the DiT paper's). The exact (erf) GELU rather than those models' tanh
  approximation: on our CPUs PyTorch's erf kernel is ~3x faster forward and ~1.6x forward +
  backward (the approximation was a GPU speed trick), and the two differ by < 1e-3.
- RoPE: 3 axes (latent frame, row, column). The head dim is split ``hd/4, 3hd/8, 3hd/8`` by
  default (time gets less because clips have far fewer latent frames than rows or columns), or
  as configured. Angles are computed from integer positions on the fly, so any grid size works;
  cos/sin are cached per grid shape. The "rotate half" pairing is used: channel ``i`` pairs with
  ``i + hd/2``, and the first half lists the time, row and column frequencies in turn.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

__all__ = [
    "no_autocast",
    "RMSNorm",
    "layer_norm",
    "modulate",
    "MLP",
    "TimestepEmbedder",
    "rope_axes_dim",
    "RoPE3D",
    "apply_rope",
    "FramePositionEmbedder",
    "attention",
    "Attention",
    "CrossAttention",
]


# --------------------------------------------------------------------------- helpers


def no_autocast(x: Tensor) -> contextlib.AbstractContextManager:
    """A context in which autocast is off on ``x``'s device (for fp32 norms, modulation, embeddings)."""
    return torch.autocast(device_type=x.device.type, enabled=False)


class RMSNorm(nn.Module):
    """RMS norm over the last dim with a learned scale, computed in fp32: (..., D) -> (..., D) in x.dtype."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        with no_autocast(x):
            y = F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps)  # (..., D) fp32
        return y.to(x.dtype)


def layer_norm(x: Tensor, eps: float = 1e-6) -> Tensor:
    """LayerNorm over the last dim without affine parameters (adaLN supplies them): (..., D) -> fp32."""
    with no_autocast(x):
        return F.layer_norm(x.float(), (x.shape[-1],), eps=eps)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation ``x·(1 + scale) + shift``; ``shift``/``scale`` broadcast against ``x``.

    In the DiT, ``x`` is ``(B, t, s, D)`` (tokens grouped by latent frame) and ``shift``/``scale``
    are ``(B, t, 1, D)``: each frame's tokens get that frame's modulation without materialising it
    per token.
    """
    return torch.addcmul(shift, x, 1 + scale)


# --------------------------------------------------------------------------- MLP and embedders


class MLP(nn.Module):
    """Two-layer GELU MLP: (..., dim) -> (..., hidden) -> (..., out_dim or dim)."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out_dim or dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class TimestepEmbedder(nn.Module):
    """Flow times (any shape ``S``) in [0, 1] -> vectors ``S + (dim,)``, in fp32.

    A sinusoidal embedding of ``time_scale · t`` (so the frequencies resolve the [0, 1] range as
    they would DiT's 0..1000 steps) followed by a SiLU MLP, as in DiT.
    """

    def __init__(self, dim: int, freq_dim: int = 256, time_scale: float = 1000.0) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.time_scale = time_scale
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    @staticmethod
    def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
        """Sinusoidal embedding ``S -> S + (dim,)`` in fp32: ``[cos(t·f_i), sin(t·f_i)]``."""
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t.float()[..., None] * freqs  # S + (half,)
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # S + (2·half,)
        if dim % 2:
            emb = F.pad(emb, (0, 1))
        return emb

    def forward(self, t: Tensor) -> Tensor:
        with no_autocast(t):
            freq = self.timestep_embedding(self.time_scale * t.float(), self.freq_dim)  # S + (freq_dim,)
            return self.mlp(freq)  # S + (dim,) fp32


# --------------------------------------------------------------------------- rotary position embedding


def rope_axes_dim(head_dim: int) -> tuple[int, int, int]:
    """Default split of the head dim over (time, row, column): about ``hd/4, 3hd/8, 3hd/8``, all even.

    16 -> (4, 6, 6); 48 -> (12, 18, 18); 64 -> (16, 24, 24); 72 -> (18, 26, 28).
    """
    if head_dim % 2:
        raise ValueError(f"rotary embedding needs an even head dim, got {head_dim}")
    dt = 2 * (head_dim // 8)
    dh = 2 * ((head_dim - dt) // 4)
    return dt, dh, head_dim - dt - dh


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` (..., N, hd) by angles given as ``cos``/``sin`` (N, hd) (fp32); returns x.dtype.

    Pairs channel ``i`` with ``i + hd/2`` ("rotate half"); the rotation is computed in fp32.
    """
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)  # each (..., N, hd/2)
    rotated = torch.cat([-x2, x1], dim=-1)  # (..., N, hd)
    return torch.addcmul(xf * cos, rotated, sin).to(x.dtype)


class RoPE3D(nn.Module):
    """3-axis rotary embedding for spacetime patch tokens ordered ``(t h w)``.

    ``axes_dim = (dt, dh, dw)`` (even, summing to the head dim) channels rotate with the token's
    latent-frame index, row and column. ``forward(t, h, w, device)`` returns ``cos, sin`` of shape
    ``(t·h·w, hd)`` in fp32 for that grid, cached per (grid, device); ``angles(pos)`` gives them for
    arbitrary integer positions ``(N, 3)``. No table: any grid size works.
    """

    def __init__(self, head_dim: int, axes_dim: tuple[int, int, int] | None = None, theta: float = 10000.0) -> None:
        super().__init__()
        axes = tuple(axes_dim) if axes_dim is not None else rope_axes_dim(head_dim)
        if len(axes) != 3 or sum(axes) != head_dim or any(d < 0 or d % 2 for d in axes):
            raise ValueError(f"rope axes_dim must be 3 even numbers summing to the head dim {head_dim}, got {axes}")
        self.head_dim = head_dim
        self.axes_dim: tuple[int, int, int] = axes  # type: ignore[assignment]
        self.theta = theta
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def angles(self, pos: Tensor) -> tuple[Tensor, Tensor]:
        """Integer positions (N, 3) as (frame, row, column) -> ``cos, sin`` each (N, hd) fp32."""
        parts = []
        for axis, d in enumerate(self.axes_dim):
            if d == 0:
                continue
            inv_freq = self.theta ** (-torch.arange(0, d, 2, dtype=torch.float32, device=pos.device) / d)  # (d/2,)
            parts.append(pos[:, axis, None].float() * inv_freq)  # (N, d/2)
        half = torch.cat(parts, dim=-1)  # (N, hd/2)
        angles = torch.cat([half, half], dim=-1)  # (N, hd): channel i and i + hd/2 share an angle
        return angles.cos(), angles.sin()

    def forward(self, t: int, h: int, w: int, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        device = torch.device(device)
        # inference-mode tensors cannot be saved for backward, so they are cached apart
        key = (t, h, w, device, torch.is_inference_mode_enabled())
        if key not in self._cache:
            if len(self._cache) >= 32:
                self._cache.clear()
            axes = [torch.arange(n, device=device) for n in (t, h, w)]
            pos = rearrange(torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1), "t h w a -> (t h w) a")
            self._cache[key] = self.angles(pos)  # each (t·h·w, hd)
        return self._cache[key]

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, axes_dim={self.axes_dim}, theta={self.theta}"


class FramePositionEmbedder(nn.Module):
    """Where a token sits *in the frame*, as a fraction of its width and height, embedded (NaViT's
    "fractional" positions, with Fourier features).

    RoPE only tells attention how far apart two tokens are; nothing tells a token whether it is at
    the left or the right of the picture, so a caption's "on the left" has nothing to bind to
    (the model could only infer it from the frame's edges). This adds, to every token of every
    frame, ``linear(features(u, v))`` where ``u, v`` in (-1, 1) are the token centre's column and
    row over the patch grid's width and height, and ``features`` are ``sin, cos(k·π·u/2)`` (and
    of ``v``) for ``k = 1..num_freqs``. Fractions, not indices: no table, the same for every size
    and aspect ratio ("left" is the left whatever the width). The linear map starts at zero, so a
    trained model that gains this module starts out unchanged.
    """

    def __init__(self, num_freqs: int, dim: int) -> None:
        super().__init__()
        if num_freqs < 1:
            raise ValueError(f"num_freqs must be >= 1, got {num_freqs}")
        self.num_freqs = num_freqs
        self.proj = nn.Linear(4 * num_freqs, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def features(self, h: int, w: int, device: torch.device | str = "cpu") -> Tensor:
        """The ``(h·w, 4·num_freqs)`` fp32 features of an ``h x w`` patch grid, row-major ``(h w)``."""
        def axis(n: int) -> Tensor:  # (n, 2K): token centres as fractions in (-1, 1)
            u = (torch.arange(n, dtype=torch.float32, device=device) + 0.5) / n * 2 - 1
            a = u[:, None] * torch.arange(1, self.num_freqs + 1, dtype=torch.float32, device=device) * (math.pi / 2)
            return torch.cat([a.sin(), a.cos()], dim=-1)

        rows, cols = axis(h), axis(w)  # (h, 2K), (w, 2K)
        grid = torch.cat([rows[:, None].expand(h, w, -1), cols[None, :].expand(h, w, -1)], dim=-1)  # (h, w, 4K)
        return rearrange(grid, "h w f -> (h w) f")

    def forward(self, h: int, w: int, device: torch.device | str = "cpu") -> Tensor:
        """The ``(h·w, dim)`` embedding of an ``h x w`` patch grid (same for every frame)."""
        return self.proj(self.features(h, w, device))

    def extra_repr(self) -> str:
        return f"num_freqs={self.num_freqs}"


# --------------------------------------------------------------------------- attention

MATMUL_ATTENTION_MAX = 1 << 24
"""Most score elements (B·nh·N·M) for which bf16 CPU attention takes the explicit matmul path."""


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Scaled dot-product attention: q (B, nh, N, hd), k/v (B, nh, M, hd), bool ``mask`` broadcastable
    to (B, nh, N, M) (True = attend) -> (B, nh, N, hd) in q's dtype.

    In bfloat16 on the CPU (under autocast), when the scores fit in ``MATMUL_ATTENTION_MAX``
    elements, it runs as two bf16 matmuls around a softmax (computed in fp32 inside the kernel):
    PyTorch's fused CPU kernel for bf16 is slower, most of all in backward (measured at 320 tokens,
    hd 48: forward 1.5x, forward + backward 3.8x faster). Otherwise (fp32, GPUs, very long
    sequences) it is ``F.scaled_dot_product_attention``. The two agree to bf16 rounding (~5e-3).
    """
    b, nh, n, _ = q.shape
    if q.dtype != torch.bfloat16 or q.device.type != "cpu" or b * nh * n * k.shape[-2] > MATMUL_ATTENTION_MAX:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    # all bf16 already: keep autocast from moving the softmax to fp32
    with torch.autocast("cpu", enabled=False):
        scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))  # (B, nh, N, M) bf16
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))  # (B, nh, N, M)
        return torch.matmul(scores.softmax(dim=-1), v)  # (B, nh, N, hd)


class Attention(nn.Module):
    """Multi-head self-attention with a fused QKV projection, QK-norm and RoPE: (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, heads: int, qk_norm: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        qkv = rearrange(self.qkv(x), "b n (three nh hd) -> three b nh n hd", three=3, nh=self.heads)
        q, k, v = qkv.unbind(0)  # each (B, nh, N, hd)
        q, k = self.q_norm(q), self.k_norm(k)  # (B, nh, N, hd)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)  # (B, nh, N, hd)
        out = attention(q, k, v)  # (B, nh, N, hd)
        return self.proj(rearrange(out, "b nh n hd -> b n (nh hd)"))  # (B, N, D)


class CrossAttention(nn.Module):
    """Attention from video tokens (B, N, D) to text tokens (B, L, D) with a key padding mask.

    The text side is split out so it can be computed once and reused across sampling steps:
    ``kv = cross.text_kv(y)`` then ``cross(x, kv, mask)``. ``mask`` is ``(B, 1, 1, L)`` bool (True =
    real token). A sample with no real token gets a zero output (rather than NaN).
    """

    def __init__(self, dim: int, heads: int, qk_norm: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.q_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def text_kv(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Projected text (B, L, D) -> keys and values, each (B, nh, L, hd) (keys normalised)."""
        kv = rearrange(self.kv(y), "b l (two nh hd) -> two b nh l hd", two=2, nh=self.heads)
        k, v = kv.unbind(0)  # each (B, nh, L, hd)
        return self.k_norm(k), v

    def forward(self, x: Tensor, kv: tuple[Tensor, Tensor], mask: Tensor | None = None) -> Tensor:
        q = self.q_norm(rearrange(self.q(x), "b n (nh hd) -> b nh n hd", nh=self.heads))  # (B, nh, N, hd)
        k, v = (t.to(q.dtype) for t in kv)  # (B, nh, L, hd); a cache may hold another dtype
        empty = None
        if mask is not None:
            empty = ~mask.any(dim=-1, keepdim=True)  # (B, 1, 1, 1): no real text token
            mask = mask | empty  # (B, 1, 1, L): let empty rows attend anywhere, zeroed below
        out = attention(q, k, v, mask)  # (B, nh, N, hd)
        if empty is not None:
            out = out.masked_fill(empty, 0.0)  # (B, nh, N, hd)
        return self.proj(rearrange(out, "b nh n hd -> b n (nh hd)"))  # (B, N, D)
