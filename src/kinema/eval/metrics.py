"""Per-video reconstruction metrics as small pure functions.

Inputs are float video tensors ``(B, C, T, H, W)`` in [-1, 1] (the model convention) unless a
function says otherwise. SSIM follows Wang et al. 2004 with an 11-tap Gaussian window
(sigma 1.5), computed per frame on each channel and averaged; it is also the structural term of
the autoencoder's training loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of ``x`` against ``y``, per sample.

    x, y: (B, C, T, H, W) in [-1, 1]. Returns (B,). Identical inputs give ``inf``.
    """
    mse = ((x.float() - y.float()) / 2).pow(2).flatten(1).mean(1)  # on the [0, 1] scale
    return 10 * torch.log10(1.0 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, *, window: int = 11, reduce: bool = True) -> torch.Tensor:
    """Structural similarity of ``x`` against ``y``.

    x, y: (B, C, T, H, W) in [-1, 1]. Returns (B,) (mean over channels, frames and pixels), or the
    SSIM map (B*T, C, H', W') when ``reduce=False``. Frames smaller than the window use a window
    shrunk to the frame (odd size).
    """
    b = x.shape[0]
    a = rearrange((x.float() + 1) / 2, "b c t h w -> (b t) c h w")
    c = rearrange((y.float() + 1) / 2, "b c t h w -> (b t) c h w")
    size = min(window, a.shape[-1], a.shape[-2])
    size = size if size % 2 == 1 else size - 1
    g = _gaussian_window(size, 1.5 * size / 11).to(a.device)
    ch = a.shape[1]
    kh = g.view(1, 1, size, 1).expand(ch, 1, size, 1)
    kw = g.view(1, 1, 1, size).expand(ch, 1, 1, size)

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(z, kh, groups=ch), kw, groups=ch)

    mu_a, mu_c = blur(a), blur(c)
    var_a = blur(a * a) - mu_a**2
    var_c = blur(c * c) - mu_c**2
    cov = blur(a * c) - mu_a * mu_c
    c1, c2 = 0.01**2, 0.03**2
    smap = ((2 * mu_a * mu_c + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_c**2 + c1) * (var_a + var_c + c2))
    if not reduce:
        return smap
    return rearrange(smap, "(b t) c h w -> b (t c h w)", b=b).mean(1)


def compression_ratio(video_shape: tuple[int, ...], latent_shape: tuple[int, ...]) -> float:
    """How many video values (uint8 pixels x channels) each latent value stands for.

    video_shape: (C, T, H, W); latent_shape: (c, t, h, w).
    """
    return math.prod(video_shape) / math.prod(latent_shape)
