"""The causal 3D video autoencoder (Sora's "video compression network").

The file reads top to bottom: config and presets, the posterior, the building blocks (causal
conv, norm, residual block, per-frame attention, down- and upsampling), encoder, decoder, the
model with chunked and tiled encode/decode, and safetensors save/load.

Linear path. With ``linear_path`` the latent is the sum of a learned linear code of each latent
cell's pixel block (frame 0's s×s block, each later group's ft×s×s block) and the network's
correction, and the decoder adds the linear decoding of the latent to the network's output. Fitted
to the data as principal components (``VideoVAE.fit_linear_path``) with the network's output
convs at zero, a fresh autoencoder starts as the best linear codec of its compression, and
training learns only what a linear code misses (in the spirit of DC-AE's residual autoencoding).

Compression. A video ``(B, C, T, H, W)`` in [-1, 1] with ``T = 1 + ft·k`` frames becomes a
latent ``(B, z, 1 + k, H/s, W/s)`` (``ft = temporal_factor``, ``s = spatial_factor``). The
first frame is encoded on its own, so an image is a one-frame video; each later group of ``ft``
frames becomes one latent frame. Decoding inverts the shapes: ``1 + k`` latent frames give
``1 + ft·k`` frames.

Causality. Every temporal operation looks only at the past. ``CausalConv3d`` pads ``kt - 1``
frames before the first one (copies of the first frame by default) and none after. Temporal
downsampling (by 2) is a causal conv with kernel 3 and stride 2 over that padded sequence:
output 0 sees only frame 0 and output ``j`` sees frames ``2j-2, 2j-1, 2j``, so ``1 + 2k`` frames
become ``1 + k``. Temporal upsampling (by 2) is a causal conv to ``2·C`` channels followed by
depth-to-time (each frame becomes two); of the video's first frame only the second of its two is
kept, so ``1 + k`` frames become ``1 + 2k``. Norms are RMS over channels at each position: they
never mix frames (GroupNorm over time would break causality and chunking) nor pixels (which
keeps spatial tiling accurate).

Chunking. So a video can be processed a few frames at a time: each causal conv keeps, in a
cache, the tail of its padded input that its next output still needs, and the result equals
whole-video processing up to float round-off. Memory depends on the chunk, not on the video
length. Spatial tiling with linearly blended overlaps handles frames too large to process at
once; it composes with chunking (each tile keeps its own cache).

Latent normalisation. ``VAEConfig.scale``/``shift`` (per latent channel) live in the config and
therefore in the checkpoint metadata: ``normalize(z) = (z - shift) · scale`` gives the diffusion
model unit-scale latents; ``denormalize`` inverts it before ``decode``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from safetensors.torch import save_file
from torch import nn

from kinema.atomic import atomic_path
from kinema.config import from_dict
from kinema.errors import KinemaError
from kinema.models.weights import load_checked, read_metadata, read_tensors

__all__ = [
    "VAEConfig",
    "VAE_PRESETS",
    "vae_config",
    "DiagonalGaussian",
    "CausalCache",
    "VideoVAE",
    "save_vae",
    "load_vae",
    "widen_latent",
]

# --------------------------------------------------------------------------- config


@dataclass
class VAEConfig:
    """Architecture of the causal video autoencoder plus its latent normalisation.

    ``patch_size`` p cuts each frame into p×p pixel patches stacked as channels before the first
    conv (space-to-depth, as in LTX-Video's VAE); the decoder's last conv predicts p·p·C channels
    that are unstacked again. It makes every layer p² cheaper and lets the decoder place pixel
    detail directly. ``channel_mults`` gives one resolution level each (width
    ``base_channels · mult``); there is a 2x spatial downsample between consecutive levels, so
    ``len(channel_mults)`` must be ``log2(spatial_factor / patch_size) + 1``. The last ``log2(temporal_factor)`` of those downsamples also
    halve time (the decoder mirrors this: its first upsamples double time). ``scale``/``shift``
    are per latent channel; left empty they resolve to 1.0 / 0.0 for every channel (training
    replaces them with measured statistics: ``scale = 1/std``, ``shift = mean``).
    """

    in_channels: int = 3
    latent_channels: int = 8
    base_channels: int = 16
    channel_mults: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 1  # per encoder level; the decoder has one more per level
    temporal_factor: Literal[1, 2, 4] = 4
    spatial_factor: int = 8
    patch_size: int = 1  # space-to-depth factor at input/output (power of two, <= spatial_factor)
    mid_attention: bool = False  # single-head attention over each frame's pixels in the middle blocks
    linear_path: bool = False  # a linear block code beside the network (module docstring); no preset uses it yet
    causal_padding: Literal["replicate", "zeros"] = "replicate"  # what the causal convs see before frame 0
    scale: list[float] = field(default_factory=list)
    shift: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("in_channels", "latent_channels", "base_channels", "num_res_blocks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.channel_mults or any(m < 1 for m in self.channel_mults):
            raise ValueError(f"channel_mults must be a non-empty list of positive ints, got {self.channel_mults}")
        sf = self.spatial_factor
        if sf < 1 or sf & (sf - 1):
            raise ValueError(f"spatial_factor must be a power of two (1, 2, 4, 8, ...), got {sf}")
        p = self.patch_size
        if p < 1 or p & (p - 1) or p > sf:
            raise ValueError(f"patch_size must be a power of two no larger than spatial_factor={sf}, got {p}")
        if len(self.channel_mults) != self.spatial_levels + 1:
            raise ValueError(
                f"spatial_factor={sf} with patch_size={p} needs log2({sf}/{p}) + 1 = {self.spatial_levels + 1} "
                f"channel_mults "
                f"(one per resolution), got {len(self.channel_mults)}: {self.channel_mults}"
            )
        if self.temporal_factor not in (1, 2, 4):
            raise ValueError(f"temporal_factor must be 1, 2 or 4, got {self.temporal_factor}")
        if self.temporal_levels > self.spatial_levels:
            raise ValueError(
                f"temporal_factor={self.temporal_factor} needs {self.temporal_levels} downsampling stages "
                f"but spatial_factor={sf} gives only {self.spatial_levels}"
            )
        z = self.latent_channels
        self.scale = [float(s) for s in self.scale] if self.scale else [1.0] * z
        self.shift = [float(s) for s in self.shift] if self.shift else [0.0] * z
        for name in ("scale", "shift"):
            if len(getattr(self, name)) != z:
                raise ValueError(f"{name} needs one value per latent channel ({z}), got {len(getattr(self, name))}")
        if any(s == 0.0 or not math.isfinite(s) for s in self.scale):
            raise ValueError(f"scale values must be finite and non-zero, got {self.scale}")

    @property
    def spatial_levels(self) -> int:
        """Number of 2x spatial downsamples, log2(spatial_factor / patch_size)."""
        return (self.spatial_factor // self.patch_size).bit_length() - 1

    @property
    def temporal_levels(self) -> int:
        """Number of 2x temporal downsamples, log2(temporal_factor)."""
        return {1: 0, 2: 1, 4: 2}.get(self.temporal_factor, 0)


VAE_PRESETS: dict[str, VAEConfig] = {
    # tests: ~14k params, milliseconds per 9x16x16 clip; 4x4x4 compression, 4 latent channels
    "tiny": VAEConfig(latent_channels=4, base_channels=4, channel_mults=[1, 1, 1], num_res_blocks=1,
                      temporal_factor=4, spatial_factor=4),
    # the default model for the procedural world: 4x8x8 compression, 8 latent channels, ~2.6M params
    "world": VAEConfig(latent_channels=8, base_channels=16, channel_mults=[1, 2, 4, 4], num_res_blocks=1,
                       temporal_factor=4, spatial_factor=8),
    # the procedural world on a finer grid: 4x4x4 compression, 3 latent channels (54.4x on 17x64x64,
    # as the world preset's 81.6x is): a 16x16 latent grid keeps the corners of small shapes, ~1.8M params
    "world4": VAEConfig(latent_channels=3, base_channels=16, channel_mults=[1, 2, 4], num_res_blocks=1,
                        temporal_factor=4, spatial_factor=4),
    # real video: 4x8x8 compression, 16 latent channels (as Wan 2.1 / HunyuanVideo), ~8.3M params
    "real": VAEConfig(latent_channels=16, base_channels=32, channel_mults=[1, 2, 2, 4], num_res_blocks=1,
                      temporal_factor=4, spatial_factor=8, mid_attention=True),
}


def vae_config(name: str, **overrides: object) -> VAEConfig:
    """The preset ``name`` with ``overrides`` applied, checked like a config file.

    ``scale``/``shift`` are reset to 1.0/0.0 unless given (a preset is an untrained architecture).
    Raises ``KinemaError`` for an unknown preset, key or a bad value.
    """
    if name not in VAE_PRESETS:
        raise KinemaError(f"unknown VAE preset {name!r}; choose one of: {', '.join(VAE_PRESETS)}")
    raw = {k: v for k, v in dataclasses.asdict(VAE_PRESETS[name]).items() if k not in ("scale", "shift")}
    raw.update(overrides)
    return from_dict(VAEConfig, raw, where=f"vae preset {name!r}")


# --------------------------------------------------------------------------- posterior


class DiagonalGaussian:
    """Diagonal Gaussian posterior q(z | x): ``mean`` and ``logvar`` of shape (B, z, t, h, w), fp32."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor) -> None:
        self.mean = mean.float()
        self.logvar = logvar.float().clamp(-30.0, 20.0)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A reparameterised sample (B, z, t, h, w); noise is drawn on ``generator``'s device (CPU for
        reproducibility across devices) and moved to the mean's device."""
        device = generator.device if generator is not None else self.mean.device
        noise = torch.randn(self.mean.shape, generator=generator, device=device, dtype=torch.float32)
        return self.mean + self.std * noise.to(self.mean.device)

    def mode(self) -> torch.Tensor:
        """The mean (B, z, t, h, w): the deterministic latent used for caching and inference."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over (z, t, h, w): (B,). Zero exactly when mean = 0, logvar = 0."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).sum(dim=(1, 2, 3, 4))


# --------------------------------------------------------------------------- blocks

Cache = dict[nn.Module, torch.Tensor]  # per causal conv: its input tail, carried to the next chunk


class CausalCache:
    """State carried between chunks: for each spatial tile, each causal conv's input tail."""

    def __init__(self) -> None:
        self.tiles: dict[tuple[int, int], Cache] = {}

    def tile(self, key: tuple[int, int]) -> Cache:
        return self.tiles.setdefault(key, {})

    def nbytes(self) -> int:
        """Bytes held by all cached tensors (constant from the second chunk on)."""
        return sum(t.numel() * t.element_size() for c in self.tiles.values() for t in c.values())


class CausalConv3d(nn.Conv3d):
    """A 3D convolution that is causal in time and "same"-padded in space.

    ``(B, Cin, T, H, W) -> (B, Cout, T', H', W')``. Before the first frame it pads ``kt - 1``
    frames (copies of frame 0, or zeros), after the last none, so output ``i`` (stride 1) sees
    input frames ``i - kt + 1 .. i``. With time stride ``st`` the outputs are taken at padded
    positions ``0, st, 2·st, ...``. Given a ``cache`` dict, the padding comes from the previous
    chunk's tail instead, and the tail this chunk leaves for the next is stored, so a video fed
    in chunks gives exactly the whole-video outputs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int],
        stride: tuple[int, int, int] = (1, 1, 1),
        time_padding: Literal["replicate", "zeros"] = "replicate",
    ) -> None:
        kt, kh, kw = kernel
        super().__init__(in_channels, out_channels, kernel, stride=stride, padding=(0, kh // 2, kw // 2))
        self.time_pad = kt - 1
        self.time_padding = time_padding

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        kt, st = self.kernel_size[0], self.stride[0]
        past = cache.get(self) if cache is not None else None
        if past is None and self.time_pad > 0:  # start of the video
            first = x[:, :, :1]
            past = first.expand(-1, -1, self.time_pad, -1, -1) if self.time_padding == "replicate" \
                else torch.zeros_like(first).expand(-1, -1, self.time_pad, -1, -1)
        if past is not None:
            x = torch.cat([past.to(x.dtype), x], dim=2)  # (B, Cin, pad + T, H, W)
        if cache is not None and (kt > 1 or st > 1):
            n_out = max(0, (x.shape[2] - kt) // st + 1)
            cache[self] = x[:, :, n_out * st:].clone()  # frames the next output still needs
        if (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
                and max(self.in_channels, self.out_channels) >= _VIA_2D_MIN_CHANNELS):
            return _conv3d_via_2d(x, self.weight, self.bias, self.stride, self.padding)  # (B, Cout, T', H', W')
        return super().forward(x)  # (B, Cout, T', H', W')


# fp32 CPU convs with at least this many input or output channels run as per-frame 2D convs (below
# it a conv is cheap either way and the 2D path's extra calls cost more than they save).
_VIA_2D_MIN_CHANNELS = 16


def _conv3d_via_2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
) -> torch.Tensor:
    """``F.conv3d`` without time padding, as a sum over time taps of per-frame 2D convs.

    (B, Cin, T, H, W) -> (B, Cout, T', H', W'). Same result to float round-off; used for fp32 on
    CPU, where PyTorch's conv3d takes a slow path (measured 3-7x slower forward+backward than
    this on the world preset's layers), while bf16 autocast and CUDA use ``conv3d`` itself.
    """
    kt, st = weight.shape[2], stride[0]
    n = (x.shape[2] - kt) // st + 1
    out = None
    for k in range(kt):
        frames = rearrange(x[:, :, k:k + st * (n - 1) + 1:st], "b c t h w -> (b t) c h w")  # (B·T', Cin, H, W)
        y = F.conv2d(frames, weight[:, :, k], bias if k == 0 else None, stride=stride[1:], padding=padding[1:])
        out = y if out is None else out + y  # (B·T', Cout, H', W')
    return rearrange(out, "(b t) c h w -> b c t h w", t=n)


class FrameGroupNorm(nn.Module):
    """GroupNorm over (channels of a group, H, W) of each frame separately, in fp32, with an
    affine gain and bias: (B, C, T, H, W) -> same.

    Statistics never cross frames, so the norm is causal and chunked processing stays exact.
    Measured on world clips (overfitting 4 clips, 150 steps): a per-pixel RMSNorm over channels
    plateaued at ~21 dB, and so did any norm right before the encoder's or decoder's output conv
    (it strips the absolute colour/brightness the output needs); with this norm inside the
    residual blocks only, the same probe reaches 27 dB and climbs.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.groups = 8 if channels % 8 == 0 and channels >= 16 else 1
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        frames = rearrange(x.float(), "b c t h w -> (b t) c h w")  # (B·T, C, H, W)
        y = F.group_norm(frames, self.groups, self.weight.float(), self.bias.float(), self.eps)
        return rearrange(y, "(b t) c h w -> b c t h w", b=b).to(x.dtype)  # (B, C, T, H, W)


class ChannelShortcut(nn.Module):
    """A fixed (non-learned) channel map (B, Cin, ...) -> (B, Cout, ...): channel ``o`` copies input
    channel ``o mod Cin`` (repeating channels when widening, keeping the first ``Cout`` when
    narrowing). A shortcut in the spirit of DC-AE's "residual autoencoding".

    Every channel then carries one colour, ``o mod 3``, along the whole shortcut path (input RGB
    -> ... -> latent -> ... -> output RGB), so with these shortcuts beside every convolution that
    changes width or resolution, and those convolutions starting at zero, the autoencoder starts
    out as exactly "average-pool, then repeat": a blurry but colour-correct reconstruction, and
    training only learns the residual detail. Without them the world autoencoder learned
    brightness first and had still lost the objects' colours after 1,500 CPU steps.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.register_buffer("index", torch.arange(cout) % cin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.index)


class ResBlock(nn.Module):
    """Pre-norm residual block of two causal 3x3x3 convs: (B, Cin, T, H, W) -> (B, Cout, T, H, W)."""

    def __init__(self, cin: int, cout: int, time_padding: Literal["replicate", "zeros"]) -> None:
        super().__init__()
        self.norm1 = FrameGroupNorm(cin)
        self.conv1 = CausalConv3d(cin, cout, (3, 3, 3), time_padding=time_padding)
        self.norm2 = FrameGroupNorm(cout)
        self.conv2 = CausalConv3d(cout, cout, (3, 3, 3), time_padding=time_padding)
        self.skip = ChannelShortcut(cin, cout) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)  # (B, Cout, T, H, W)
        h = self.conv2(F.silu(self.norm2(h)), cache)  # (B, Cout, T, H, W)
        return self.skip(x) + h


class FrameAttention(nn.Module):
    """Single-head self-attention over the pixels of each frame, never across time:
    (B, C, T, H, W) -> same. Chunking stays exact; tiling becomes more approximate."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = FrameGroupNorm(channels)
        self.qkv = CausalConv3d(channels, 3 * channels, (1, 1, 1))
        self.proj = CausalConv3d(channels, channels, (1, 1, 1))

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        b, _, _, h, _ = x.shape
        qkv = self.qkv(self.norm(x))  # (B, 3C, T, H, W)
        q, k, v = rearrange(qkv, "b (n c) t h w -> n (b t) 1 (h w) c", n=3)  # each (B·T, 1, H·W, C)
        o = F.scaled_dot_product_attention(q, k, v)  # (B·T, 1, H·W, C)
        o = rearrange(o, "(b t) 1 (h w) c -> b c t h w", b=b, h=h)  # (B, C, T, H, W)
        return x + self.proj(o)


class Downsample(nn.Module):
    """Halve H and W (strided 3x3 conv per frame) and, if ``temporal``, time.

    (B, C, T, H, W) -> (B, C, T', H/2, W/2); T' = T, or with ``temporal`` T = 1 + 2k -> 1 + k
    (frame 0 alone, then pairs) via a causal conv of kernel 3 and stride 2 in time.
    """

    def __init__(self, channels: int, temporal: bool, time_padding: Literal["replicate", "zeros"]) -> None:
        super().__init__()
        self.space = CausalConv3d(channels, channels, (1, 3, 3), stride=(1, 2, 2))
        self.time = CausalConv3d(channels, channels, (3, 1, 1), stride=(2, 1, 1), time_padding=time_padding) \
            if temporal else None

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        x = self.space(x) + F.avg_pool3d(x, (1, 2, 2))  # (B, C, T, H/2, W/2): conv + pooled shortcut
        if self.time is not None:
            x = self.time(x, cache)  # (B, C, 1 + (T-1)/2, H/2, W/2)
        return x


class Upsample(nn.Module):
    """Double H and W (nearest, then a 3x3 conv per frame) and, if ``temporal``, time.

    (B, C, t, H, W) -> (B, C, t', 2H, 2W); t' = t, or with ``temporal`` each frame becomes two
    (a causal conv to 2C channels, then depth-to-time), except the video's first frame, which
    becomes one: 1 + k -> 1 + 2k for the whole video, t -> 2t for a later chunk.
    """

    def __init__(self, channels: int, temporal: bool, time_padding: Literal["replicate", "zeros"]) -> None:
        super().__init__()
        self.time = CausalConv3d(channels, 2 * channels, (3, 1, 1), time_padding=time_padding) if temporal else None
        self.space = CausalConv3d(channels, channels, (1, 3, 3))

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        if self.time is not None:
            starts_video = cache is None or self.time not in cache
            x = rearrange(self.time(x, cache), "b (r c) t h w -> b c (t r) h w", r=2)  # (B, C, 2t, H, W)
            if starts_video:
                x = x[:, :, 1:]  # the first frame maps to one frame: (B, C, 2t - 1, H, W)
        x = repeat(x, "b c t h w -> b c t (h 2) (w 2)")  # (B, C, t', 2H, 2W)
        return x + self.space(x)  # (B, C, t', 2H, 2W): nearest shortcut + conv


class PatchLinear(nn.Module):
    """The linear path: one linear map per latent cell between a pixel block and z latent values.

    The block of latent frame 0 is frame 0's s×s pixels (C·s² values), of a later latent frame its
    group's ft×s×s pixels (C·ft·s² values); each has its own map. Encoding: video (B, C, T, H, W)
    -> (B, z, t, h, w); decoding (``decode=True``): the reverse. A chunk starts the video when no
    ``cache`` is given or the cache has not seen this module (chunked and tiled use stays exact:
    blocks never straddle chunks or tiles). At init each latent channel ``o`` is the block mean of
    colour ``o mod C`` and decoding repeats it, like the network's average-pool/repeat shortcuts.
    """

    def __init__(self, cfg: VAEConfig, decode: bool) -> None:
        super().__init__()
        c, z, s = cfg.in_channels, cfg.latent_channels, cfg.spatial_factor
        self.ft, self.s, self.decode = cfg.temporal_factor, s, decode
        sizes = (c * s * s, c * self.ft * s * s)  # block values: frame 0, a later group
        self.first, self.rest = (nn.Linear(z, d) if decode else nn.Linear(d, z) for d in sizes)
        with torch.no_grad():
            for lin, d in zip((self.first, self.rest), sizes, strict=True):
                colour = torch.arange(d) % c  # block values are ordered (f p q c): colour is the fastest index
                pick = (colour[None, :] == (torch.arange(z) % c)[:, None]).float()  # (z, d)
                enc = pick / pick.sum(1, keepdim=True)  # mean of the block's values of that colour
                dec = pick.T / pick.sum(0, keepdim=True).T.clamp_min(1)  # mean of the channels of that colour
                lin.weight.copy_(dec if decode else enc)
                lin.bias.zero_()

    def _map(self, x: torch.Tensor, lin: nn.Linear, f: int) -> torch.Tensor:
        s = self.s
        if self.decode:  # (B, z, g, h, w) -> (B, C, g·f, h·s, w·s)
            y = lin(rearrange(x, "b z g h w -> b g h w z"))
            return rearrange(y, "b g h w (f p q c) -> b c (g f) (h p) (w q)", f=f, p=s, q=s)
        y = lin(rearrange(x, "b c (g f) (h p) (w q) -> b g h w (f p q c)", f=f, p=s, q=s))
        return rearrange(y, "b g h w z -> b z g h w")  # (B, z, g, h/s, w/s)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        starts = cache is None or self not in cache
        if cache is not None:
            cache[self] = x.new_zeros(0)  # a marker: this video has started
        n_first = 1 if starts else 0  # frame 0 (or latent frame 0) comes alone
        parts = []
        if n_first:
            parts.append(self._map(x[:, :, :1], self.first, 1))
        if x.shape[2] > n_first:
            parts.append(self._map(x[:, :, n_first:], self.rest, self.ft))
        return torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]

    def blocks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole video (B, C, T, H, W), T = 1 + ft·k -> its blocks as rows: frame 0's
        (B·h·w, C·s²) and the later groups' (B·k·h·w, C·ft·s²), in this module's value order."""
        s = self.s
        first = rearrange(x[:, :, :1], "b c g (h p) (w q) -> (b g h w) (p q c)", p=s, q=s)
        rest = rearrange(x[:, :, 1:], "b c (g f) (h p) (w q) -> (b g h w) (f p q c)", f=self.ft, p=s, q=s)
        return first, rest

    @torch.no_grad()
    def set_pca(self, which: str, mean: torch.Tensor, components: torch.Tensor, std: torch.Tensor) -> None:
        """Set map ``which`` ("first" or "rest") to whitened principal components: block values
        (d,) -> ``(v - mean) @ components.T / std`` (z,), decoding ``code · std @ components + mean``.
        mean (d,), components (z, d) orthonormal rows, std (z,) the components' standard deviations."""
        lin = getattr(self, which)
        if self.decode:
            lin.weight.copy_((components * std[:, None]).T)
            lin.bias.copy_(mean)
        else:
            lin.weight.copy_(components / std[:, None])
            lin.bias.copy_(-(components @ mean) / std)


@torch.no_grad()
def linear_path_pca(cfg: VAEConfig, videos: Iterable[torch.Tensor]) -> dict[str, tuple[torch.Tensor, ...]]:
    """Principal components of the linear path's pixel blocks over ``videos`` (each (B, C, T, H, W)
    in [-1, 1], T = 1 + ft·k; 1-frame videos count for frame 0 only): ``{"first": (mean, components,
    std), "rest": (...)}`` with the top ``latent_channels`` components of each block kind (float32;
    components (z, d) orthonormal rows, std (z,) their standard deviations, floored at 1e-3)."""
    z = cfg.latent_channels
    cut = PatchLinear(cfg, decode=False)
    sums: dict[str, list] = {"first": [0, 0.0, 0.0], "rest": [0, 0.0, 0.0]}  # rows, sum, sum of outer products
    for x in videos:
        for name, rows in zip(("first", "rest"), cut.blocks(x.double()), strict=True):
            acc = sums[name]
            acc[0] += rows.shape[0]
            acc[1] = acc[1] + rows.sum(0)
            acc[2] = acc[2] + rows.T @ rows
    out = {}
    for name, (n, total, outer) in sums.items():
        if n <= z:
            what = "frame-0 blocks" if name == "first" else f"blocks of {cfg.temporal_factor} later frames"
            raise KinemaError(f"fitting the linear path needs more than {z} {what}; the videos gave {n}")
        mean = total / n
        eigval, eigvec = torch.linalg.eigh(outer / n - torch.outer(mean, mean))  # ascending
        top = eigvec[:, -z:].flip(1).T  # (z, d)
        std = eigval[-z:].flip(0).clamp_min(1e-6).sqrt().clamp_min(1e-3)
        out[name] = (mean.float(), top.float(), std.float())
    return out


# --------------------------------------------------------------------------- encoder / decoder


class Encoder(nn.Module):
    """Video (B, Cin, T, H, W) -> posterior moments (B, 2z, 1 + (T-1)/ft, H/s, W/s)."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        pad = cfg.causal_padding
        chans = [cfg.base_channels * m for m in cfg.channel_mults]
        self.patch = cfg.patch_size
        self.conv_in = CausalConv3d(cfg.in_channels * self.patch**2, chans[0], (3, 3, 3), time_padding=pad)
        blocks: list[nn.Module] = []
        cin = chans[0]
        for level, ch in enumerate(chans):
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(cin, ch, pad))
                cin = ch
            if level < len(chans) - 1:  # the deepest log2(ft) downsamples also halve time
                blocks.append(Downsample(ch, level >= cfg.spatial_levels - cfg.temporal_levels, pad))
        blocks.append(ResBlock(cin, cin, pad))
        if cfg.mid_attention:
            blocks.append(FrameAttention(cin))
        blocks.append(ResBlock(cin, cin, pad))
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = CausalConv3d(cin, 2 * cfg.latent_channels, (3, 3, 3), time_padding=pad)
        self.short_in = ChannelShortcut(cfg.in_channels * self.patch**2, chans[0])
        # the latent's shortcut: the linear block code of the pixels, or a copy of deepest features
        self.short_out = PatchLinear(cfg, decode=False) if cfg.linear_path else ChannelShortcut(cin, cfg.latent_channels)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        p = self.patch
        pixels = x  # (B, Cin, T, H, W)
        x = rearrange(x, "b c t (h p1) (w p2) -> b (c p1 p2) t h w", p1=p, p2=p)  # (B, Cin·p², T, H/p, W/p)
        h = self.conv_in(x, cache) + self.short_in(x)  # (B, C0, T, H/p, W/p)
        for block in self.blocks:
            h = block(h, cache)  # ... -> (B, C_last, t, h, w)
        moments = self.conv_out(F.silu(h), cache)  # (B, 2z, t, h, w); no norm here: see FrameGroupNorm
        mean, logvar = moments.chunk(2, dim=1)  # each (B, z, t, h, w)
        short = self.short_out(pixels, cache) if isinstance(self.short_out, PatchLinear) else self.short_out(h)
        return torch.cat([mean + short, logvar], dim=1)  # (B, 2z, t, h, w)


class Decoder(nn.Module):
    """Latent (B, z, t, h, w) -> video (B, Cin, 1 + ft·(t-1), h·s, w·s) (mirror of the encoder)."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        pad = cfg.causal_padding
        chans = [cfg.base_channels * m for m in reversed(cfg.channel_mults)]
        self.conv_in = CausalConv3d(cfg.latent_channels, chans[0], (3, 3, 3), time_padding=pad)
        blocks: list[nn.Module] = [ResBlock(chans[0], chans[0], pad)]
        if cfg.mid_attention:
            blocks.append(FrameAttention(chans[0]))
        blocks.append(ResBlock(chans[0], chans[0], pad))
        cin = chans[0]
        for level, ch in enumerate(chans):
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(cin, ch, pad))
                cin = ch
            if level < len(chans) - 1:  # the first log2(ft) upsamples also double time
                blocks.append(Upsample(ch, level < cfg.temporal_levels, pad))
        self.blocks = nn.ModuleList(blocks)
        self.patch = cfg.patch_size
        self.conv_out = CausalConv3d(cin, cfg.in_channels * self.patch**2, (3, 3, 3), time_padding=pad)
        self.short_in = ChannelShortcut(cfg.latent_channels, chans[0])
        # the output's shortcut: the linear decoding of the latent, or a copy of the last features
        self.short_out = PatchLinear(cfg, decode=True) if cfg.linear_path \
            else ChannelShortcut(cin, cfg.in_channels * self.patch**2)

    def forward(self, z: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        h = self.conv_in(z, cache) + self.short_in(z)  # (B, C_last, t, h, w)
        for block in self.blocks:
            h = block(h, cache)  # ... -> (B, C0, T, H/p, W/p)
        x = self.conv_out(F.silu(h), cache)  # (B, Cin·p², T, H/p, W/p); no norm before
        p = self.patch
        linear = isinstance(self.short_out, PatchLinear)
        if not linear:
            x = x + self.short_out(h)
        x = rearrange(x, "b (c p1 p2) t h w -> b c t (h p1) (w p2)", p1=p, p2=p)  # (B, Cin, T, H, W)
        return x + self.short_out(z, cache) if linear else x


# --------------------------------------------------------------------------- tiling


def _time_slices(n: int, step: int) -> list[slice]:
    """Frame 0 alone, then ``step`` frames at a time: the chunks of a causal pass over ``n`` frames."""
    return [slice(0, 1)] + [slice(s, min(s + step, n)) for s in range(1, n, step)]


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``size`` with at least ``overlap`` overlap."""
    if tile >= size:
        return [0]
    starts = list(range(0, size - tile, tile - overlap))
    return starts + [size - tile]


def _ramp(n: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """Blend weights (n,) for one tile axis: 1 inside; on a side shared with a neighbour, over the
    ``overlap`` outermost positions, 0 for the outer quarter (those outputs saw the tile's zero
    padding) and a linear ramp 0 -> 1 across the middle half. Two tiles overlapping by ``overlap``
    then cross-fade linearly with weights summing to 1."""
    w = torch.ones(n)
    if overlap > 0:
        d = torch.arange(overlap, dtype=torch.float32) + 0.5  # distance of each position from the edge
        r = ((d - overlap / 4) / (overlap / 2)).clamp(0.0, 1.0)
        if ramp_start:
            w[:overlap] = torch.minimum(w[:overlap], r)
        if ramp_end:
            w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0))
    return w


def _tiled(
    fn: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor],
    x: torch.Tensor,
    tile: tuple[int, int] | None,
    overlap: int,
    up: int,
    down: int,
) -> torch.Tensor:
    """Apply ``fn`` to overlapping spatial tiles of ``x`` and blend the outputs linearly.

    ``x``: (B, C, T, H, W); ``tile`` and ``overlap`` in x's units. ``fn(x_tile, (i, j))`` maps
    (B, C, T, th, tw) -> (B, C', T', th·up/down, tw·up/down). Without tiling: ``fn(x, (0, 0))``.
    """
    H, W = x.shape[-2:]
    if tile is None or (tile[0] >= H and tile[1] >= W):
        return fn(x, (0, 0))
    th, tw = min(tile[0], H), min(tile[1], W)
    hs, ws = _tile_starts(H, th, overlap), _tile_starts(W, tw, overlap)
    o = overlap * up // down
    out = weight = None
    for i, h0 in enumerate(hs):
        for j, w0 in enumerate(ws):
            y = fn(x[..., h0:h0 + th, w0:w0 + tw], (i, j))  # (B, C', T', th', tw')
            if out is None:
                out = y.new_zeros(*y.shape[:3], H * up // down, W * up // down)
                weight = torch.zeros(H * up // down, W * up // down, device=y.device)
            wh = _ramp(y.shape[-2], o, i > 0, i < len(hs) - 1)
            ww = _ramp(y.shape[-1], o, j > 0, j < len(ws) - 1)
            w2 = (wh[:, None] * ww[None, :]).to(y.device)  # (th', tw')
            oh, ow = h0 * up // down, w0 * up // down
            out[..., oh:oh + y.shape[-2], ow:ow + y.shape[-1]] += y * w2.to(y.dtype)
            weight[oh:oh + y.shape[-2], ow:ow + y.shape[-1]] += w2
    return out / weight.to(out.dtype)


# --------------------------------------------------------------------------- model


class VideoVAE(nn.Module):
    """Causal 3D convolutional VAE: video (B, C, 1 + ft·k, H, W) <-> latent (B, z, 1 + k, H/s, W/s).

    ``encode``/``decode`` process the whole video at once by default; ``chunk=True`` processes it
    causally in chunks of ``chunk_latents`` latent frames (after the first frame alone) with flat
    memory, and ``tile=(th, tw), overlap=px`` (pixels) processes overlapping spatial tiles, cross-
    faded linearly over the middle half of each overlap (the outer quarter on each side, which saw
    the tile's zero padding, is dropped). Both compose. Chunking is exact; tiling is approximate
    within a receptive field of tile borders (exact at init for overlap >= 8·spatial_factor).
    """

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.init_weights()

    def init_weights(self) -> None:
        """All initialisation in one place.

        Convs: PyTorch's default uniform init (variance 1/(3·fan_in)), zero bias; norms: unit gain,
        zero bias. Residual convs are *not* zero-initialised: measured on world clips, identity-at-
        init residual blocks learned spatial detail far more slowly (22.6 vs 29.4 dB after 150
        steps in a 2D probe). Attention outputs start at zero. Temporal downsampling
        starts as the mean of each frame group (frame 0 maps to itself) and temporal upsampling
        as frame repetition, so at init the time axis is resampled gently.
        """
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))
                nn.init.zeros_(m.bias)
            elif isinstance(m, FrameGroupNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # every convolution that runs beside a fixed shortcut starts at zero, so at init the model is
        # exactly its shortcut path (average-pool down, repeat up): a blurry, colour-preserving
        # autoencoder from step 0
        zero = [self.encoder.conv_in, self.encoder.conv_out, self.decoder.conv_in, self.decoder.conv_out]
        for m in self.modules():
            if isinstance(m, ResBlock):
                zero.append(m.conv2)
            elif isinstance(m, (Downsample, Upsample)):
                zero.append(m.space)
        for conv in zero:
            nn.init.zeros_(conv.weight)
        with torch.no_grad():  # the logvar half of the encoder output starts at -6: std 0.05
            self.encoder.conv_out.bias[self.cfg.latent_channels:] = -6.0
        for m in self.modules():
            if isinstance(m, FrameAttention):
                nn.init.zeros_(m.proj.weight)
            elif isinstance(m, Downsample) and m.time is not None:
                c = m.time.out_channels
                with torch.no_grad():
                    m.time.weight.zero_()
                    m.time.weight[:, :, 1, 0, 0] = 0.5 * torch.eye(c)  # taps (2j-2, 2j-1, 2j): mean of the pair
                    m.time.weight[:, :, 2, 0, 0] = 0.5 * torch.eye(c)
            elif isinstance(m, Upsample) and m.time is not None:
                c = m.time.in_channels
                with torch.no_grad():
                    m.time.weight.zero_()
                    m.time.weight[:, :, 2, 0, 0] = torch.cat([torch.eye(c), torch.eye(c)])  # both copies = x_t

    def fit_linear_path(self, videos: Iterable[torch.Tensor]) -> None:
        """Set the linear path (``cfg.linear_path``) to the whitened principal components of
        ``videos`` (see ``linear_path_pca``): with the network's output convs still at zero (a fresh
        model), the autoencoder is then exactly the best linear codec of its compression for them."""
        if not self.cfg.linear_path:
            raise KinemaError("this autoencoder has no linear path (linear_path = false)")
        pca = linear_path_pca(self.cfg, videos)
        for half in (self.encoder.short_out, self.decoder.short_out):
            assert isinstance(half, PatchLinear)
            for name, (mean, comp, std) in pca.items():
                half.set_pca(name, mean.to(half.first.weight.device), comp.to(half.first.weight.device),
                             std.to(half.first.weight.device))

    def num_params(self) -> int:
        """Number of parameters (encoder + decoder)."""
        return sum(p.numel() for p in self.parameters())

    # ----------------------------------------------------------------- shapes and checks

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Latent grid (t, h, w) for a video of ``frames`` x ``height`` x ``width`` (checked)."""
        self._check_frames(frames)
        self._check_size(height, width)
        ft, sf = self.cfg.temporal_factor, self.cfg.spatial_factor
        return 1 + (frames - 1) // ft, height // sf, width // sf

    def video_shape(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """Video (T, H, W) that a latent grid (t, h, w) decodes to: (1 + ft·(t-1), h·s, w·s)."""
        sf = self.cfg.spatial_factor
        return 1 + self.cfg.temporal_factor * (t - 1), h * sf, w * sf

    def _check_frames(self, frames: int) -> None:
        ft = self.cfg.temporal_factor
        if frames < 1 or (frames - 1) % ft:
            lo = 1 + max(0, (frames - 1) // ft) * ft
            raise ValueError(
                f"the VAE (temporal_factor={ft}) takes 1 + {ft}·k frames (1, {1 + ft}, {1 + 2 * ft}, ...); "
                f"got {frames} frames: trim to {lo} or pad to {lo + ft}"
            )

    def _check_size(self, height: int, width: int) -> None:
        sf = self.cfg.spatial_factor
        if height % sf or width % sf or height < 1 or width < 1:
            raise ValueError(
                f"the VAE (spatial_factor={sf}) needs height and width divisible by {sf}; "
                f"got {height}x{width}: crop or pad to {height // sf * sf or sf}x{width // sf * sf or sf}"
            )

    @staticmethod
    def _check_chunk(chunk_latents: int) -> None:
        if chunk_latents < 1:
            raise ValueError(f"chunk_latents must be >= 1 latent frame per chunk, got {chunk_latents}")

    def _check_tile(self, tile: int | tuple[int, int] | None, overlap: int) -> tuple[int, int] | None:
        if tile is None:
            return None
        th, tw = (tile, tile) if isinstance(tile, int) else tuple(tile)
        sf = self.cfg.spatial_factor
        if th % sf or tw % sf or overlap % sf or th < 1 or tw < 1 or overlap < 0:
            raise ValueError(f"tile {th}x{tw} and overlap {overlap} must be multiples of spatial_factor={sf}")
        if overlap >= min(th, tw):
            raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({th}x{tw})")
        return th, tw

    # ----------------------------------------------------------------- encode / decode

    def encode(
        self,
        x: torch.Tensor,
        *,
        chunk: bool = False,
        chunk_latents: int = 1,
        tile: int | tuple[int, int] | None = None,
        overlap: int = 0,
    ) -> DiagonalGaussian:
        """Video (B, C, T, H, W) in [-1, 1], T = 1 + ft·k -> posterior over (B, z, 1 + k, H/s, W/s).

        ``chunk=True``: frame 0, then ``ft·chunk_latents`` frames at a time, with a causal cache
        (same result as whole-video). ``tile``/``overlap`` in pixels (multiples of s).
        """
        if x.ndim != 5 or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"expected a video (B, {self.cfg.in_channels}, T, H, W), got shape {tuple(x.shape)}")
        self._check_frames(x.shape[2])
        self._check_size(*x.shape[-2:])
        tile_px = self._check_tile(tile, overlap)
        self._check_chunk(chunk_latents)
        sf = self.cfg.spatial_factor
        if not chunk:
            moments = _tiled(lambda xt, key: self.encoder(xt), x, tile_px, overlap, 1, sf)  # (B, 2z, t, h, w)
        else:
            cache = CausalCache()
            step = self.cfg.temporal_factor * chunk_latents
            b, _, frames, height, width = x.shape
            moments = None  # preallocated once: no list of chunk outputs to concatenate (flat memory in T)
            pos = 0
            for s in _time_slices(frames, step):
                part = _tiled(lambda xt, key: self.encoder(xt, cache.tile(key)), x[:, :, s], tile_px, overlap, 1, sf)
                if moments is None:
                    moments = part.new_empty(b, part.shape[1], *self.latent_shape(frames, height, width))
                moments[:, :, pos:pos + part.shape[2]] = part
                pos += part.shape[2]
            assert moments is not None and pos == moments.shape[2]  # (B, 2z, t, h, w)
        mean, logvar = moments.chunk(2, dim=1)  # each (B, z, t, h, w)
        return DiagonalGaussian(mean, logvar)

    def iter_decode(
        self,
        z: torch.Tensor,
        *,
        chunk_latents: int = 1,
        tile: int | tuple[int, int] | None = None,
        overlap: int = 0,
        cache: CausalCache | None = None,
    ) -> Iterator[torch.Tensor]:
        """Decode latent (B, z, t, h, w) causally, yielding pixel chunks (B, C, T_i, h·s, w·s):
        1 frame for latent frame 0, then ``ft·chunk_latents`` frames per chunk. Memory is flat
        in t; a caller can write frames out as they come. ``cache`` may be passed to inspect it.
        """
        self._check_latent(z)
        tile_px = self._check_tile(tile, overlap)
        self._check_chunk(chunk_latents)
        sf = self.cfg.spatial_factor
        tile_lat = None if tile_px is None else (tile_px[0] // sf, tile_px[1] // sf)
        cache = CausalCache() if cache is None else cache
        for s in _time_slices(z.shape[2], chunk_latents):
            yield _tiled(lambda zt, key: self.decoder(zt, cache.tile(key)), z[:, :, s], tile_lat, overlap // sf, sf, 1)

    def decode(
        self,
        z: torch.Tensor,
        *,
        chunk: bool = False,
        chunk_latents: int = 1,
        tile: int | tuple[int, int] | None = None,
        overlap: int = 0,
    ) -> torch.Tensor:
        """Latent (B, z, t, h, w) (un-normalised) -> video (B, C, 1 + ft·(t-1), h·s, w·s), ~[-1, 1].

        ``chunk=True`` decodes ``chunk_latents`` latent frames at a time into a preallocated
        output (same result as whole-video). ``tile``/``overlap`` in pixels (multiples of s).
        """
        self._check_latent(z)
        tile_px = self._check_tile(tile, overlap)
        sf = self.cfg.spatial_factor
        if not chunk:
            tile_lat = None if tile_px is None else (tile_px[0] // sf, tile_px[1] // sf)
            return _tiled(lambda zt, key: self.decoder(zt), z, tile_lat, overlap // sf, sf, 1)  # (B, C, T, H, W)
        b, _, t, h, w = z.shape
        out: torch.Tensor | None = None
        pos = 0
        for part in self.iter_decode(z, chunk_latents=chunk_latents, tile=tile_px, overlap=overlap):
            if out is None:
                out = part.new_empty(b, self.cfg.in_channels, *self.video_shape(t, h, w))
            out[:, :, pos:pos + part.shape[2]] = part
            pos += part.shape[2]
        assert out is not None and pos == out.shape[2]
        return out  # (B, C, T, H, W)

    def _check_latent(self, z: torch.Tensor) -> None:
        if z.ndim != 5 or z.shape[1] != self.cfg.latent_channels or z.shape[2] < 1:
            raise ValueError(
                f"expected a latent (B, {self.cfg.latent_channels}, t, h, w) with t >= 1, got shape {tuple(z.shape)}"
            )

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Training pass: video (B, C, T, H, W) -> (reconstruction (B, C, T, H, W), posterior).

        The latent is a posterior sample drawn with ``generator`` (the default RNG if None).
        """
        posterior = self.encode(x)  # over (B, z, t, h, w)
        z = posterior.sample(generator)  # (B, z, t, h, w)
        return self.decode(z), posterior  # (B, C, T, H, W)

    # ----------------------------------------------------------------- latent normalisation

    def _stats(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = torch.tensor(self.cfg.scale, device=z.device, dtype=z.dtype).view(1, -1, 1, 1, 1)
        shift = torch.tensor(self.cfg.shift, device=z.device, dtype=z.dtype).view(1, -1, 1, 1, 1)
        return scale, shift

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """VAE latent (B, z, t, h, w) -> unit-scale latent for the diffusion model: (z - shift) · scale."""
        scale, shift = self._stats(z)
        return (z - shift) * scale

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of ``normalize``: (B, z, t, h, w) -> z / scale + shift, ready for ``decode``."""
        scale, shift = self._stats(z)
        return z / scale + shift


# --------------------------------------------------------------------------- widening


def widen_latent(src: VideoVAE, latent_channels: int) -> VideoVAE:
    """A copy of ``src`` with ``latent_channels`` latent channels that reconstructs exactly as ``src``.

    Lets a trained autoencoder grow its latent (more capacity, less compression) and keep training
    from where it is instead of from scratch. The first ``src`` channels keep their weights and
    statistics. Each new channel starts as its encoder shortcut (``ChannelShortcut``: a copy of a
    deepest-level feature) with the ``src`` logvar init (std 0.05), and the decoder's first conv
    gets a centre tap (current frame, centre pixel) that cancels the changed decoder shortcut
    (channel ``o`` now copies latent ``o mod z'`` instead of ``o mod z``), so the output is the
    same up to float round-off while gradients reach the new channels from the first step.
    """
    old = src.cfg.latent_channels
    if src.cfg.linear_path:
        raise KinemaError("cannot widen the latent of an autoencoder with a linear path (linear_path = true): "
                          "train a new one with the wider latent")
    if latent_channels < old:
        raise KinemaError(f"can only widen the latent: {latent_channels} < the autoencoder's {old} channels")
    extra = latent_channels - old
    cfg = dataclasses.replace(src.cfg, latent_channels=latent_channels, scale=list(src.cfg.scale) + [1.0] * extra,
                              shift=list(src.cfg.shift) + [0.0] * extra)
    model = VideoVAE(cfg).to(next(src.parameters()).device)
    widened = ("encoder.conv_out.weight", "encoder.conv_out.bias", "decoder.conv_in.weight")
    state = {k: v for k, v in src.state_dict().items() if k not in widened}
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        enc_new, enc_old = model.encoder.conv_out, src.encoder.conv_out  # out channels: [mean z | logvar z]
        enc_new.weight.zero_()
        enc_new.bias.zero_()
        enc_new.weight[:old] = enc_old.weight[:old]
        enc_new.bias[:old] = enc_old.bias[:old]
        enc_new.weight[latent_channels:latent_channels + old] = enc_old.weight[old:]
        enc_new.bias[latent_channels:latent_channels + old] = enc_old.bias[old:]
        enc_new.bias[latent_channels + old:] = -6.0
        dec_new, dec_old = model.decoder.conv_in, src.decoder.conv_in  # (C0, z, kt, kh, kw)
        dec_new.weight.zero_()
        dec_new.weight[:, :old] = dec_old.weight
        kt, kh, kw = dec_new.weight.shape[2:]
        for o in range(dec_new.weight.shape[0]):  # shortcut o <- latent o % z' now; it was o % z
            dec_new.weight[o, o % old, kt - 1, kh // 2, kw // 2] += 1.0
            dec_new.weight[o, o % latent_channels, kt - 1, kh // 2, kw // 2] -= 1.0
    return model


# --------------------------------------------------------------------------- save / load

VAE_FORMAT = "kinema.vae"
VAE_FILE = "vae.safetensors"  # the autoencoder inside a training run or model folder


def save_vae(model: VideoVAE, path: str | Path, dtype: torch.dtype = torch.float32) -> None:
    """Write ``model`` as safetensors (atomically) with its resolved config in the metadata.

    ``dtype=torch.bfloat16`` halves the file; ``load_vae`` always loads fp32.
    """
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"save_vae dtype must be torch.float32 or torch.bfloat16, got {dtype}")
    tensors = {k: v.detach().to(device="cpu", dtype=dtype).contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": VAE_FORMAT, "config": json.dumps(dataclasses.asdict(model.cfg))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_vae(path: str | Path, device: str | torch.device = "cpu") -> VideoVAE:
    """Build a ``VideoVAE`` from a ``save_vae`` file (fp32 weights on ``device``).

    Raises ``KinemaError`` if the file is missing or unreadable, is not a kinema VAE checkpoint,
    or its tensors do not match its config.
    """
    p = Path(path)
    meta = read_metadata(p, fmt=VAE_FORMAT, what="VAE", saver="kinema.models.vae.save_vae")
    cfg = from_dict(VAEConfig, json.loads(meta["config"]), where=f"{p} config")
    tensors = read_tensors(p, what="VAE")
    model = VideoVAE(cfg)
    load_checked(model, tensors, p)
    return model.to(device)
