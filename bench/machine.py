"""The machine's matmul limit: GFLOP/s of one large square matmul by three paths.

- ``fp32_blas``: ``torch.mm`` in float32 (the default BLAS: MKL in the CPU wheels);
- ``fp32_onednn``: the same product as a oneDNN linear (``torch.utils.mkldnn.to_mkldnn(nn.Linear)``,
  weights pre-packed, dense input, as ``MkldnnLinear`` runs it);
- ``bf16``: ``torch.mm`` in bfloat16 (oneDNN, AVX512-BF16/AMX where the CPU has them).

float16 is never timed: on CPUs without native fp16 matmul it runs about 1000x slower than fp32.
The figures are the medians of interleaved runs after warm-up (``bench.timing.interleaved``).
"""

from __future__ import annotations

import torch
import torch.utils.mkldnn
from torch import nn

from bench.timing import interleaved, median

__all__ = ["matmul_peaks"]


def matmul_peaks(n: int = 1024, repeats: int = 7) -> dict:
    """GFLOP/s of an ``n x n @ n x n`` product: ``{"n", "fp32_blas", "fp32_onednn", "bf16", "fp32_peak"}``
    (``fp32_peak`` is the faster float32 path)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    lin = nn.Linear(n, n, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(n, n, generator=g))
    onednn = torch.utils.mkldnn.to_mkldnn(lin)
    w = lin.weight.detach().t().contiguous()
    a16, w16 = a.bfloat16(), w.bfloat16()
    with torch.no_grad():
        ref = a @ w
        err = (onednn(a) - ref).abs().max().item() / ref.abs().max().item()
        if err > 1e-4:
            raise RuntimeError(f"oneDNN linear disagrees with torch.mm (relative error {err:.1e})")
        times = interleaved(
            {
                "fp32_blas": lambda: torch.mm(a, w),
                "fp32_onednn": lambda: onednn(a),
                "bf16": lambda: torch.mm(a16, w16),
            },
            repeats=repeats,
            warmup=2,
        )
    flop = 2.0 * n**3
    out = {"n": n, **{k: flop / median(v) / 1e9 for k, v in times.items()}}
    out["fp32_peak"] = max(out["fp32_blas"], out["fp32_onednn"])
    return out
