"""The diffusion transformer (DiT) over spacetime patches of video latents.

The file reads top to bottom like the DiT paper's ``models.py``: config, patchify helpers, the
text cache, the block, the final layer, the model (with all initialisation in one method), then
safetensors save/load. Layers (norms, MLP, embedders, RoPE, attention) live in ``layers.py``;
named sizes in ``presets.py``.

Tokens. The normalised latent ``(B, C, t, h, w)`` is cut into ``pt x ph x pw`` patches,
``b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)``, and each patch is embedded linearly. The
default ``pt = 1`` makes every token belong to exactly one latent frame. With ``pt > 1`` a token
spans ``pt`` latent frames: their times are averaged (and so are their conditioning flags), so
per-frame conditioning is then per patch-frame; prefer ``pt = 1``. Self-attention runs over all
spacetime tokens with 3-axis RoPE (patch-frame index, row, column), so no grid size is special.

Flow (``kinema.flow.path``): ``time`` in [0, 1], 0 = data, 1 = noise; the model predicts the
velocity ``v = noise - x0``. ``time`` is per latent frame, ``(B, t)`` (``(B,)`` is broadcast);
frames given clean (image/video prompts, extension) sit at time 0 and are flagged by
``cond_mask (B, t)``, which adds a learned "given" embedding to their tokens.

Conditioning. adaLN-Zero on a per-frame vector ``c = time_embed(time) + pooled_text_embed``:
``c`` is ``(B, t, D)`` and each block's modulation ``(B, t, 6D)`` is computed per frame and
broadcast over the frame's ``h·w`` tokens (the residual stream is held as ``(B, t, s, D)``, ``s =
h·w`` tokens per frame, so nothing is materialised per token). Text enters through cross-attention
after self-attention in every block; its keys/values depend only on the text and the weights, so
``encode_text_kv`` computes them once into a ``TextCache`` a sampler reuses across steps.

Precision. fp32 master weights. Under bf16 autocast the matmuls and attention run in bf16 while
the residual stream, norms, modulation, time/pooled-text embeddings and RoPE stay fp32; the
output velocity is always fp32.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from einops import rearrange, reduce
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from kinema.atomic import atomic_path
from kinema.config import from_dict
from kinema.models.layers import (
    MLP,
    Attention,
    CrossAttention,
    FramePositionEmbedder,
    RMSNorm,
    RoPE3D,
    TimestepEmbedder,
    layer_norm,
    modulate,
    no_autocast,
    rope_axes_dim,
)
from kinema.models.weights import load_checked, read_metadata, read_tensors

__all__ = [
    "DiTConfig",
    "patchify",
    "unpatchify",
    "TextCache",
    "DiTBlock",
    "FinalLayer",
    "DiT",
    "save_dit",
    "load_dit",
    "read_dit_metadata",
]

# --------------------------------------------------------------------------- config


@dataclass
class DiTConfig:
    """Architecture of the diffusion transformer (named sizes: ``kinema.models.presets``).

    ``in_channels`` is the autoencoder's latent channels and ``text_dim`` the text encoder's
    feature size. ``patch = (pt, ph, pw)``. ``rope_axes_dim`` splits the head dim over (time, row,
    column); empty means the default ``hd/4, 3hd/8, 3hd/8`` (see ``layers.rope_axes_dim``).
    ``cond_embed`` adds a learned embedding to the tokens of given (clean) frames. ``frame_pos`` > 0
    adds where each token sits in the frame, as fractions of the width and height
    (``layers.FramePositionEmbedder`` with that many frequencies per axis; 0 = RoPE only).
    """

    in_channels: int
    text_dim: int
    patch: tuple[int, int, int] = (1, 2, 2)
    dim: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    qk_norm: bool = True
    rope_theta: float = 10000.0
    rope_axes_dim: list[int] = dataclasses.field(default_factory=list)
    freq_dim: int = 256  # sinusoidal features of the time embedding
    cond_embed: bool = True
    frame_pos: int = 0  # Fourier frequencies per axis of the frame-relative position embedding; 0 = off

    def __post_init__(self) -> None:
        for name in ("in_channels", "text_dim", "dim", "depth", "heads", "freq_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.frame_pos < 0:
            raise ValueError(f"frame_pos must be >= 0 (0 = off), got {self.frame_pos}")
        self.patch = tuple(self.patch)  # type: ignore[assignment]
        if len(self.patch) != 3 or any(p < 1 for p in self.patch):
            raise ValueError(f"patch must be three positive ints (pt, ph, pw), got {self.patch}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads}) into an even head dim")
        if not self.mlp_ratio > 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if not self.rope_theta > 0:
            raise ValueError(f"rope_theta must be > 0, got {self.rope_theta}")
        hd = self.head_dim
        if self.rope_axes_dim and (len(self.rope_axes_dim) != 3 or sum(self.rope_axes_dim) != hd
                                   or any(d < 0 or d % 2 for d in self.rope_axes_dim)):
            raise ValueError(
                f"rope_axes_dim must be 3 even numbers summing to the head dim {hd} (e.g. {list(rope_axes_dim(hd))}), "
                f"got {self.rope_axes_dim}"
            )

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def patch_dim(self) -> int:
        """Values per token: pt·ph·pw·C."""
        pt, ph, pw = self.patch
        return pt * ph * pw * self.in_channels


# --------------------------------------------------------------------------- patchify


def patchify(x: Tensor, patch: tuple[int, int, int]) -> Tensor:
    """Latent (B, C, t, h, w) -> tokens (B, N, pt·ph·pw·C) with N = (t/pt)·(h/ph)·(w/pw), ordered (t h w)."""
    pt, ph, pw = patch
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)", pt=pt, ph=ph, pw=pw)


def unpatchify(tokens: Tensor, patch: tuple[int, int, int], grid: tuple[int, int, int]) -> Tensor:
    """Tokens (B, N, pt·ph·pw·C) on a patch grid (t', h', w') -> latent (B, C, t'·pt, h'·ph, w'·pw)."""
    pt, ph, pw = patch
    t, h, w = grid
    return rearrange(tokens, "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)", t=t, h=h, w=w, pt=pt, ph=ph, pw=pw)


# --------------------------------------------------------------------------- text cache


@dataclass
class TextCache:
    """Everything the DiT derives from the text, computed once by ``DiT.encode_text_kv``.

    Valid for the weights it was computed with (one sampling run); pass it as
    ``forward(..., text_cache=cache)`` to skip the text projection and the per-block key/value
    projections at every step. With classifier-free guidance, encode the batched [cond; uncond]
    text once.
    """

    kv: list[tuple[Tensor, Tensor]]  # per block: keys, values, each (B, nh, L, hd)
    mask: Tensor  # (B, 1, 1, L) bool, True = real token
    pooled: Tensor  # (B, D) fp32, pooled-text embedding added to the time conditioning

    @property
    def batch(self) -> int:
        return self.pooled.shape[0]


# --------------------------------------------------------------------------- block


class DiTBlock(nn.Module):
    """Self-attention (RoPE) -> cross-attention to text -> MLP, with per-frame adaLN-Zero.

    Tokens are held per latent frame, ``x (B, t, s, D)`` with ``s = h·w``; ``c (B, t, D)`` is the
    per-frame conditioning. Self-attention and the MLP are modulated and gated by ``c``;
    cross-attention is pre-normed (RMSNorm) and ungated (its output projection starts at zero).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, qk_norm: bool = True) -> None:
        super().__init__()
        self.attn = Attention(dim, heads, qk_norm=qk_norm)
        self.cross_norm = RMSNorm(dim)
        self.cross = CrossAttention(dim, heads, qk_norm=qk_norm)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        rope: tuple[Tensor, Tensor],
        text_kv: tuple[Tensor, Tensor],
        text_mask: Tensor,
    ) -> Tensor:
        t = x.shape[1]
        with no_autocast(c):
            mod = self.adaLN_modulation(c).unsqueeze(2)  # (B, t, 1, 6D) fp32
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=-1)  # each (B, t, 1, D)
        h = modulate(layer_norm(x), shift_msa, scale_msa)  # (B, t, s, D)
        h = self.attn(rearrange(h, "b t s d -> b (t s) d"), rope)  # (B, N, D)
        x = x + gate_msa * rearrange(h, "b (t s) d -> b t s d", t=t)  # (B, t, s, D)
        h = self.cross(rearrange(self.cross_norm(x), "b t s d -> b (t s) d"), text_kv, text_mask)  # (B, N, D)
        x = x + rearrange(h, "b (t s) d -> b t s d", t=t)  # (B, t, s, D)
        h = self.mlp(modulate(layer_norm(x), shift_mlp, scale_mlp))  # (B, t, s, D)
        return x + gate_mlp * h  # (B, t, s, D)


class FinalLayer(nn.Module):
    """adaLN (per frame) + linear to patch values: x (B, t, s, D), c (B, t, D) -> (B, t, s, pt·ph·pw·C) fp32."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        with no_autocast(c):
            shift, scale = self.adaLN_modulation(c).unsqueeze(2).chunk(2, dim=-1)  # each (B, t, 1, D) fp32
        x = modulate(layer_norm(x), shift, scale)  # (B, t, s, D)
        return self.linear(x).float()  # (B, t, s, P)


# --------------------------------------------------------------------------- model


class DiT(nn.Module):
    """Diffusion transformer: noisy latent (B, C, t, h, w), per-frame times, text -> velocity (B, C, t, h, w)."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.x_embedder = nn.Linear(cfg.patch_dim, d)
        self.t_embedder = TimestepEmbedder(d, freq_dim=cfg.freq_dim)
        self.text_embedder = MLP(cfg.text_dim, d, d)  # per text token, feeds every block's cross-attention
        self.pooled_embedder = MLP(cfg.text_dim, d, d)  # masked mean of the text, added to c
        self.given_embedding = nn.Parameter(torch.zeros(d)) if cfg.cond_embed else None
        self.rope = RoPE3D(cfg.head_dim, tuple(cfg.rope_axes_dim) or None, cfg.rope_theta)  # type: ignore[arg-type]
        self.frame_pos_embedder = FramePositionEmbedder(cfg.frame_pos, d) if cfg.frame_pos else None
        self.blocks = nn.ModuleList(
            DiTBlock(d, cfg.heads, cfg.mlp_ratio, cfg.qk_norm) for _ in range(cfg.depth)
        )
        self.final_layer = FinalLayer(d, cfg.patch_dim)
        self.gradient_checkpointing = False  # recompute each block in backward (a training-time switch)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """All initialisation in one place (adaLN-Zero).

        Linears (the patch embedding included, like DiT's patch conv): xavier-uniform, zero bias;
        norms: ones. Embedders (time and text MLPs, the "given" embedding): normal(0.02). Zero:
        every adaLN modulation (so each block starts as the identity), each cross-attention
        output projection (as PixArt), the frame-position projection (so adding it to a trained
        model changes nothing at first), and the final projection (so the model outputs exactly 0).
        """
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, RMSNorm):
                nn.init.ones_(m.weight)
        for mlp in (self.t_embedder.mlp[0], self.t_embedder.mlp[2], self.text_embedder.fc1,
                    self.text_embedder.fc2, self.pooled_embedder.fc1, self.pooled_embedder.fc2):
            nn.init.normal_(mlp.weight, std=0.02)
        if self.given_embedding is not None:
            nn.init.normal_(self.given_embedding, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
            nn.init.zeros_(block.cross.proj.weight)
            nn.init.zeros_(block.cross.proj.bias)
        if self.frame_pos_embedder is not None:
            nn.init.zeros_(self.frame_pos_embedder.proj.weight)
            nn.init.zeros_(self.frame_pos_embedder.proj.bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def num_params(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, num_tokens: int, text_len: int = 0) -> float:
        """Forward FLOPs per video token for a sequence of ``num_tokens`` tokens and ``text_len`` text
        tokens (matmuls only; the cached text projections and per-frame modulation are left out).
        Multiply by 3 for a training step."""
        d, hidden, p = self.cfg.dim, int(self.cfg.dim * self.cfg.mlp_ratio), self.cfg.patch_dim
        per_block = 2 * (3 * d * d + d * d + 2 * d * d + 2 * d * hidden) + 4 * d * (num_tokens + text_len)
        return float(self.cfg.depth * per_block + 2 * 2 * p * d)

    # ----------------------------------------------------------------- text

    def encode_text_kv(self, txt: Tensor, txt_mask: Tensor | None = None) -> TextCache:
        """Text features (B, L, D_txt) with ``txt_mask`` (B, L) bool (True = real token; None = all)
        -> a ``TextCache`` with every block's keys/values, reusable across sampling steps."""
        self._check_text(txt, txt_mask)
        if txt_mask is None:
            txt_mask = torch.ones(txt.shape[:2], dtype=torch.bool, device=txt.device)
        y = self.text_embedder(txt)  # (B, L, D)
        kv = [block.cross.text_kv(y) for block in self.blocks]  # per block: (B, nh, L, hd) x 2
        with no_autocast(txt):
            m = txt_mask.float().unsqueeze(-1)  # (B, L, 1)
            mean = (txt.float() * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, D_txt): masked mean
            pooled = self.pooled_embedder(mean)  # (B, D) fp32
        return TextCache(kv=kv, mask=rearrange(txt_mask, "b l -> b 1 1 l"), pooled=pooled)

    # ----------------------------------------------------------------- forward

    def forward(
        self,
        x: Tensor,
        time: Tensor,
        txt: Tensor | None = None,
        txt_mask: Tensor | None = None,
        cond_mask: Tensor | None = None,
        text_cache: TextCache | None = None,
    ) -> Tensor:
        """Velocity for a noisy latent.

        x: (B, C, t, h, w) noisy latent, given frames already replaced by their clean latents.
        time: (B, t) per-latent-frame flow times in [0, 1] (given frames at 0), or (B,) for all.
        txt: (B, L, D_txt) text features; txt_mask: (B, L) bool, True = real token (None = all).
            Both may be None when ``text_cache`` (from ``encode_text_kv``) is given; it wins.
        cond_mask: (B, t) bool, True where the frame is given; adds the "given" embedding to those
            frames' tokens (checked but unused when ``cfg.cond_embed`` is False).
        Returns the velocity (B, C, t, h, w) in fp32. Raises ValueError for bad shapes.
        """
        grid = self._check_inputs(x, time, txt, txt_mask, cond_mask, text_cache)
        pt = self.cfg.patch[0]
        if text_cache is None:
            text_cache = self.encode_text_kv(txt, txt_mask)  # type: ignore[arg-type]
        time = time.float().unsqueeze(1).expand(-1, x.shape[2]) if time.ndim == 1 else time.float()  # (B, t)
        time = reduce(time, "b (t pt) -> b t", "mean", pt=pt)  # (B, t'), t' = t/pt

        x = self.x_embedder(patchify(x.float(), self.cfg.patch))  # (B, N, D)
        x = rearrange(x, "b (t s) d -> b t s d", t=grid[0]).float()  # (B, t', s, D), s = h'·w'
        if self.frame_pos_embedder is not None:
            x = x + self.frame_pos_embedder(grid[1], grid[2], device=x.device).float()  # (s, D): same every frame
        if self.given_embedding is not None and cond_mask is not None:
            given = reduce(cond_mask.float(), "b (t pt) -> b t", "mean", pt=pt)  # (B, t')
            x = x + given[:, :, None, None] * self.given_embedding  # (B, t', s, D)
        c = self.t_embedder(time) + text_cache.pooled.unsqueeze(1)  # (B, t', D) fp32
        rope = self.rope(*grid, device=x.device)  # cos, sin: (N, hd) each

        for block, kv in zip(self.blocks, text_cache.kv, strict=True):
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, c, rope, kv, text_cache.mask, use_reentrant=False)  # (B, t', s, D)
            else:
                x = block(x, c, rope, kv, text_cache.mask)  # (B, t', s, D)
        x = self.final_layer(x, c)  # (B, t', s, pt·ph·pw·C) fp32
        return unpatchify(rearrange(x, "b t s p -> b (t s) p"), self.cfg.patch, grid)  # (B, C, t, h, w)

    # ----------------------------------------------------------------- checks

    def _check_text(self, txt: Tensor, txt_mask: Tensor | None) -> None:
        if not isinstance(txt, Tensor) or txt.ndim != 3 or txt.shape[-1] != self.cfg.text_dim:
            shape = tuple(txt.shape) if isinstance(txt, Tensor) else type(txt).__name__
            raise ValueError(f"txt must be text features (B, L, {self.cfg.text_dim}), got {shape}")
        if txt_mask is not None and (txt_mask.shape != txt.shape[:2] or txt_mask.dtype != torch.bool):
            raise ValueError(
                f"txt_mask must be a bool tensor (B, L) = {tuple(txt.shape[:2])} (True = real token), "
                f"got {txt_mask.dtype} {tuple(txt_mask.shape)}"
            )

    def _check_inputs(
        self,
        x: Tensor,
        time: Tensor,
        txt: Tensor | None,
        txt_mask: Tensor | None,
        cond_mask: Tensor | None,
        text_cache: TextCache | None,
    ) -> tuple[int, int, int]:
        """Validate shapes; return the patch grid (t/pt, h/ph, w/pw)."""
        c_in, (pt, ph, pw) = self.cfg.in_channels, self.cfg.patch
        if x.ndim != 5 or x.shape[1] != c_in:
            raise ValueError(f"x must be a latent (B, {c_in}, t, h, w), got shape {tuple(x.shape)}")
        b, _, t, h, w = x.shape
        bad = [f"{name}={n} is not a multiple of {pname}={p}"
               for name, n, pname, p in (("t", t, "pt", pt), ("h", h, "ph", ph), ("w", w, "pw", pw)) if n % p or n < 1]
        if bad:
            raise ValueError(
                f"latent grid {t}x{h}x{w} does not split into {pt}x{ph}x{pw} patches: {'; '.join(bad)}. "
                f"Crop or pad the video so the latent grid is divisible by the patch"
            )
        if not isinstance(time, Tensor) or not time.is_floating_point() or time.shape not in ((b,), (b, t)):
            shape = tuple(time.shape) if isinstance(time, Tensor) else type(time).__name__
            raise ValueError(f"time must be a float tensor (B,) = ({b},) or (B, t) = ({b}, {t}), got {shape}")
        if cond_mask is not None and (cond_mask.shape != (b, t) or cond_mask.dtype != torch.bool):
            raise ValueError(
                f"cond_mask must be a bool tensor (B, t) = ({b}, {t}), got {cond_mask.dtype} {tuple(cond_mask.shape)}"
            )
        if text_cache is not None:
            if text_cache.batch != b or len(text_cache.kv) != len(self.blocks):
                raise ValueError(
                    f"text_cache holds batch {text_cache.batch} for {len(text_cache.kv)} blocks; this call has "
                    f"batch {b} and the model {len(self.blocks)} blocks: encode_text_kv the batch's own text"
                )
        elif txt is None:
            raise ValueError("pass the text features txt (B, L, D_txt) with txt_mask, or a text_cache")
        else:
            self._check_text(txt, txt_mask)
            if txt.shape[0] != b:
                raise ValueError(f"txt has batch {txt.shape[0]} but x has batch {b}")
        return t // pt, h // ph, w // pw


# --------------------------------------------------------------------------- save / load

DIT_FORMAT = "kinema.dit"


def save_dit(
    model: DiT,
    path: str | Path,
    dtype: torch.dtype = torch.float32,
    extra_metadata: dict[str, str] | None = None,
) -> None:
    """Write ``model`` as safetensors (atomically) with its config JSON in the metadata.

    ``dtype=torch.bfloat16`` halves the file; ``load_dit`` always loads fp32. ``extra_metadata``
    (string keys and values, e.g. the text encoder's name) is stored beside the config and read
    back by ``read_dit_metadata``; the keys ``format`` and ``config`` are reserved.
    """
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"save_dit dtype must be torch.float32 or torch.bfloat16, got {dtype}")
    extra = dict(extra_metadata or {})
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in extra.items()):
        raise ValueError("extra_metadata must map strings to strings (json.dumps other values first)")
    reserved = sorted({"format", "config"} & set(extra))
    if reserved:
        raise ValueError(f"extra_metadata may not use the reserved key(s) {', '.join(reserved)}")
    tensors = {k: v.detach().to(device="cpu", dtype=dtype).contiguous() for k, v in model.state_dict().items()}
    metadata = {**extra, "format": DIT_FORMAT, "config": json.dumps(dataclasses.asdict(model.cfg))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_dit_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors metadata of a ``save_dit`` file (``format``, ``config`` and any extras)."""
    return read_metadata(path, fmt=DIT_FORMAT, what="DiT", saver="kinema.models.dit.save_dit")


def load_dit(path: str | Path, device: str | torch.device = "cpu") -> DiT:
    """Build a ``DiT`` from a ``save_dit`` file (fp32 weights on ``device``).

    Raises ``KinemaError`` if the file is missing or unreadable, is not a kinema DiT checkpoint,
    or its tensors do not match its config.
    """
    p = Path(path)
    meta = read_dit_metadata(p)
    cfg = from_dict(DiTConfig, json.loads(meta["config"]), where=f"{p} config")
    tensors = read_tensors(p, what="DiT")
    model = DiT(cfg)
    load_checked(model, tensors, p)
    return model.to(device)
