"""A small frame-wise PatchGAN discriminator for the autoencoder's optional adversarial term.

Frames are judged independently (a 2D conv net over each frame), which is cheap on CPU and
sharpens textures; temporal consistency comes from the reconstruction terms.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class PatchDiscriminator(nn.Module):
    """Video (B, C, T, H, W) in [-1, 1] -> patch logits (B*T, 1, H/8, W/8)."""

    def __init__(self, in_channels: int = 3, channels: int = 32, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(layers - 1):
            blocks += [nn.Conv2d(c, c * 2, 4, 2, 1), nn.GroupNorm(8, c * 2), nn.LeakyReLU(0.2)]
            c *= 2
        blocks += [nn.Conv2d(c, 1, 3, 1, 1)]
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = rearrange(x, "b c t h w -> (b t) c h w")  # (B*T, C, H, W)
        return self.net(frames)  # (B*T, 1, H/2^layers, W/2^layers)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss for the discriminator."""
    return torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator side of the hinge loss."""
    return -fake_logits.mean()
