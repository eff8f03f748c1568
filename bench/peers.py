"""Kinema's DiT and the video transformers of ``diffusers``, built small on one latent shape.

Every model here maps a latent ``(B, C, t, h, w)`` (2x2 spatial patches, so ``N = t·(h/2)·(w/2)``
tokens; LTX-Video, which has no patchifier of its own, gets the same 2x2 patches pre-packed as
``(B, N, 4C)`` tokens), text features ``(B, L, D_txt)`` with a bool mask and a flow time to an
output of the latent's shape. Widths are ``heads x head_dim`` and the depth is searched so every
peer lands within 10% of kinema's parameter count (``match_depth``). All are randomly initialised
(no weights are read from anywhere); kinema's zero-initialised output layers are perturbed so its
backward pass is not trivially sparse.

``diffusers`` is only needed for the peers (``pip install -e .[bench]``); a missing model class
(an older diffusers) is reported and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn

__all__ = ["Work", "Spec", "PEERS", "kinema_dit", "build_peer", "match_depth", "count_params"]


@dataclass(frozen=True)
class Work:
    """One size of work: latent ``(C, t, h, w)``, batch, text length and feature size."""

    channels: int = 16
    frames: int = 5
    height: int = 16
    width: int = 16
    batch: int = 1
    text_len: int = 32
    text_dim: int = 128

    @property
    def tokens(self) -> int:
        return self.frames * (self.height // 2) * (self.width // 2)

    def inputs(self, seed: int = 0) -> dict[str, Tensor]:
        """Random inputs: ``x (B, C, t, h, w)``, ``time (B,)`` in (0, 1), ``txt (B, L, D_txt)``, ``mask (B, L)``."""
        g = torch.Generator().manual_seed(seed)
        b = self.batch
        mask = torch.ones(b, self.text_len, dtype=torch.bool)
        mask[:, self.text_len * 3 // 4 :] = False  # a quarter padding, as real prompts have
        return {
            "x": torch.randn(b, self.channels, self.frames, self.height, self.width, generator=g),
            "time": torch.rand(b, generator=g) * 0.98 + 0.01,
            "txt": torch.randn(b, self.text_len, self.text_dim, generator=g),
            "mask": mask,
        }


@dataclass
class Spec:
    """A model ready to run: ``call(inputs) -> output`` (the output's sum is the training loss)."""

    name: str
    model: nn.Module
    call: Callable[[dict[str, Tensor]], Tensor]
    depth: int
    width: int

    @property
    def params(self) -> int:
        return count_params(self.model)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- kinema


def kinema_dit(work: Work, preset: str = "S", seed: int = 0, **overrides) -> Spec:
    """Kinema's DiT ``preset`` for ``work``, perturbed away from its zero init."""
    from kinema.models.dit import DiT
    from kinema.models.presets import dit_config

    torch.manual_seed(seed)
    model = DiT(dit_config(preset, in_channels=work.channels, text_dim=work.text_dim, **overrides))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0:  # adaLN-Zero and output layers
                p.add_(0.02 * torch.randn(p.shape, generator=g))

    def call(inp: dict[str, Tensor]) -> Tensor:
        return model(inp["x"], inp["time"], inp["txt"], inp["mask"])

    return Spec("kinema", model, call, model.cfg.depth, model.cfg.dim)


# --------------------------------------------------------------------------- diffusers peers


def _wan(work: Work, heads: int, hd: int, layers: int) -> tuple[nn.Module, Callable]:
    from diffusers import WanTransformer3DModel

    m = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=hd,
        in_channels=work.channels,
        out_channels=work.channels,
        text_dim=work.text_dim,
        ffn_dim=4 * heads * hd,
        num_layers=layers,
    )

    def call(inp: dict[str, Tensor]) -> Tensor:
        # Wan has no text mask: its pipeline zero-pads the text features instead
        txt = inp["txt"] * inp["mask"][..., None]
        return m(inp["x"], inp["time"] * 1000, txt, return_dict=False)[0]

    return m, call


def _ltx(work: Work, heads: int, hd: int, layers: int) -> tuple[nn.Module, Callable]:
    from diffusers import LTXVideoTransformer3DModel

    m = LTXVideoTransformer3DModel(
        in_channels=4 * work.channels,
        out_channels=4 * work.channels,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=heads,
        attention_head_dim=hd,
        cross_attention_dim=heads * hd,
        num_layers=layers,
        caption_channels=work.text_dim,
    )
    t, h, w = work.frames, work.height // 2, work.width // 2

    def call(inp: dict[str, Tensor]) -> Tensor:
        tokens = rearrange(inp["x"], "b c t (h ph) (w pw) -> b (t h w) (c ph pw)", ph=2, pw=2)
        out = m(
            tokens,
            inp["txt"],
            inp["time"] * 1000,
            inp["mask"].long(),
            num_frames=t,
            height=h,
            width=w,
            return_dict=False,
        )[0]
        return rearrange(out, "b (t h w) (c ph pw) -> b c t (h ph) (w pw)", t=t, h=h, w=w, ph=2, pw=2)

    return m, call


def _cogvideox(work: Work, heads: int, hd: int, layers: int) -> tuple[nn.Module, Callable]:
    from diffusers import CogVideoXTransformer3DModel

    m = CogVideoXTransformer3DModel(
        num_attention_heads=heads,
        attention_head_dim=hd,
        in_channels=work.channels,
        out_channels=work.channels,
        time_embed_dim=heads * hd,
        text_embed_dim=work.text_dim,
        num_layers=layers,
        sample_width=work.width,
        sample_height=work.height,
        sample_frames=4 * (work.frames - 1) + 1,
        patch_size=2,
        max_text_seq_length=work.text_len,
    )

    def call(inp: dict[str, Tensor]) -> Tensor:
        # CogVideoX takes (B, F, C, H, W) and no text mask (joint attention over all text tokens)
        x = rearrange(inp["x"], "b c t h w -> b t c h w")
        out = m(x, inp["txt"], inp["time"] * 1000, return_dict=False)[0]
        return rearrange(out, "b t c h w -> b c t h w")

    return m, call


def _latte(work: Work, heads: int, hd: int, layers: int) -> tuple[nn.Module, Callable]:
    from diffusers import LatteTransformer3DModel

    m = LatteTransformer3DModel(
        num_attention_heads=heads,
        attention_head_dim=hd,
        in_channels=work.channels,
        out_channels=work.channels,
        num_layers=layers,
        cross_attention_dim=heads * hd,
        sample_size=work.height,
        patch_size=2,
        activation_fn="gelu-approximate",
        norm_type="ada_norm_single",
        num_embeds_ada_norm=1000,
        norm_elementwise_affine=False,
        caption_channels=work.text_dim,
        video_length=work.frames,
    )

    def call(inp: dict[str, Tensor]) -> Tensor:
        # Latte repeats the text per frame but not its mask (as its own pipeline, pass no mask): zero-pad
        txt = inp["txt"] * inp["mask"][..., None]
        return m(inp["x"], inp["time"] * 1000, txt, None, return_dict=False)[0]

    return m, call


def _hunyuan(work: Work, heads: int, hd: int, layers: int) -> tuple[nn.Module, Callable]:
    from diffusers import HunyuanVideoTransformer3DModel

    dt = 2 * (hd // 8)
    dh = 2 * ((hd - dt) // 4)
    dual = max(1, layers // 3)  # HunyuanVideo's 1:2 mix of dual-stream and single-stream blocks
    m = HunyuanVideoTransformer3DModel(
        in_channels=work.channels,
        out_channels=work.channels,
        num_attention_heads=heads,
        attention_head_dim=hd,
        num_layers=dual,
        num_single_layers=layers - dual,
        num_refiner_layers=1,
        patch_size=2,
        patch_size_t=1,
        guidance_embeds=False,
        text_embed_dim=work.text_dim,
        pooled_projection_dim=work.text_dim,
        rope_axes_dim=(dt, dh, hd - dt - dh),
    )

    def call(inp: dict[str, Tensor]) -> Tensor:
        m_ = inp["mask"]
        pooled = (inp["txt"] * m_[..., None]).sum(1) / m_.sum(1, keepdim=True)
        return m(inp["x"], inp["time"] * 1000, inp["txt"], m_.long(), pooled, return_dict=False)[0]

    return m, call


def _mochi(work: Work, heads: int, hd: int, layers: int) -> tuple[nn.Module, Callable]:
    from diffusers import MochiTransformer3DModel

    m = MochiTransformer3DModel(
        patch_size=2,
        num_attention_heads=heads,
        attention_head_dim=hd,
        num_layers=layers,
        pooled_projection_dim=heads * hd,
        in_channels=work.channels,
        out_channels=work.channels,
        text_embed_dim=work.text_dim,
        time_embed_dim=256,
        max_sequence_length=work.text_len,
    )

    def call(inp: dict[str, Tensor]) -> Tensor:
        return m(inp["x"], inp["txt"], inp["time"] * 1000, inp["mask"].long(), return_dict=False)[0]

    return m, call


PEERS: dict[str, Callable[[Work, int, int, int], tuple[nn.Module, Callable]]] = {
    "wan": _wan,
    "ltx-video": _ltx,
    "cogvideox": _cogvideox,
    "latte": _latte,
    "hunyuanvideo": _hunyuan,
    "mochi": _mochi,
}


def match_depth(name: str, work: Work, heads: int, hd: int, target: int, max_layers: int = 48) -> int:
    """The depth at which peer ``name`` (``heads x hd`` wide) has the parameter count nearest ``target``
    (counted on the meta device, so nothing is allocated)."""
    best, best_err = 1, float("inf")
    for layers in range(1, max_layers + 1):
        with torch.device("meta"):
            n = count_params(PEERS[name](work, heads, hd, layers)[0])
        err = abs(n - target) / target
        if err < best_err:
            best, best_err = layers, err
        if n > target:
            break
    return best


def build_peer(name: str, work: Work, heads: int, hd: int, target_params: int, seed: int = 0) -> Spec:
    """Peer ``name`` at ``heads x hd`` width with the depth whose parameter count is nearest ``target_params``."""
    layers = match_depth(name, work, heads, hd, target_params)
    torch.manual_seed(seed)
    model, call = PEERS[name](work, heads, hd, layers)
    return Spec(name, model, call, layers, heads * hd)
