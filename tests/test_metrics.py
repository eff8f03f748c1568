"""Video metrics: PSNR, SSIM, compression ratio."""

from __future__ import annotations

import math

import torch

from kinema.eval.metrics import compression_ratio, psnr, ssim


def test_psnr_known_values():
    x = torch.zeros(2, 3, 2, 8, 8)
    assert torch.isinf(psnr(x, x)).all()
    y = x + 0.2  # 0.1 on the [0, 1] scale -> 20 dB
    assert torch.allclose(psnr(y, x), torch.tensor([20.0, 20.0]))


def test_ssim_identity_and_degradation():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 3, 32, 32, generator=g) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(1), atol=1e-5)
    noisy = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    blurred = torch.nn.functional.avg_pool3d(x, (1, 3, 3), 1, (0, 1, 1))
    assert 0.5 < ssim(noisy, x).item() < 0.95 and ssim(blurred, x).item() < 0.3
    assert ssim(x, -x).item() < -0.9
    assert ssim(x[..., :5, :6], x[..., :5, :6]).item() > 0.999  # frames smaller than the window


def test_compression_ratio():
    assert compression_ratio((3, 17, 64, 64), (8, 5, 8, 8)) == 3 * 17 * 64 * 64 / (8 * 5 * 8 * 8)
    assert math.isclose(compression_ratio((3, 1, 8, 8), (3, 1, 8, 8)), 1.0)
