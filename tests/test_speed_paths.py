"""The DiT's fast execution paths give the reference results: bf16 matmul attention vs PyTorch's
SDPA, and the benchmark helpers' bookkeeping."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import kinema.models.layers as layers
from kinema.models.layers import attention

pytestmark = pytest.mark.usefixtures("one_thread")


def _qkv(b: int = 2, nh: int = 3, n: int = 20, m: int = 20, hd: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, nh, n, hd, generator=g),
        torch.randn(b, nh, m, hd, generator=g),
        torch.randn(b, nh, m, hd, generator=g),
    )


def test_fp32_attention_is_sdpa_exactly() -> None:
    q, k, v = _qkv()
    assert torch.equal(attention(q, k, v), F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("masked", [False, True])
def test_bf16_matmul_attention_matches_sdpa(masked: bool) -> None:
    q, k, v = _qkv(m=7)
    mask = None
    if masked:
        mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
        mask[0, ..., 4:] = False
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # fp32 reference
    qb, kb, vb = (t.bfloat16() for t in (q, k, v))
    out = attention(qb, kb, vb, mask)
    assert out.dtype == torch.bfloat16 and out.shape == ref.shape
    assert (out.float() - ref).abs().max() < 3e-2
    sdpa_bf16 = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask).float()
    # the explicit path is as close to fp32 as PyTorch's own bf16 kernel (within bf16 rounding)
    assert (out.float() - ref).abs().mean() < 2 * (sdpa_bf16 - ref).abs().mean() + 1e-3
    if masked:  # masked keys have no influence
        v2 = vb.clone()
        v2[0, :, 4:] = 100.0
        assert torch.equal(attention(qb, kb, v2, mask)[0], out[0])


def test_bf16_matmul_attention_gradients_match_sdpa() -> None:
    q, k, v = _qkv()
    grads = []
    for use_matmul in (True, False):
        leaves = [t.bfloat16().requires_grad_() for t in (q, k, v)]
        if use_matmul:
            out = attention(*leaves)
        else:
            out = F.scaled_dot_product_attention(*leaves)
        (out.float() * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
        grads.append([t.grad.float() for t in leaves])
    for a, b in zip(*grads, strict=True):
        assert (a - b).abs().max() < 5e-2 * b.abs().max()


def test_large_bf16_attention_falls_back_to_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    q, k, v = (t.bfloat16() for t in _qkv())
    monkeypatch.setattr(layers, "MATMUL_ATTENTION_MAX", 10)
    assert torch.equal(attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
