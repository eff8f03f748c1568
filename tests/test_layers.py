"""Transformer layers: fp32 norms, modulation, time embedding, 3-axis RoPE, self- and cross-attention."""

from __future__ import annotations

import pytest
import torch

from kinema.models.layers import (
    MLP,
    Attention,
    CrossAttention,
    RMSNorm,
    RoPE3D,
    TimestepEmbedder,
    apply_rope,
    layer_norm,
    modulate,
    rope_axes_dim,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- norms and modulation


def test_rms_norm_fp32_and_dtype() -> None:
    norm = RMSNorm(8)
    x = _randn(2, 3, 8) * 5
    y = norm(x)
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(2, 3), atol=1e-4)
    yb = norm(x.bfloat16())
    assert yb.dtype == torch.bfloat16
    assert torch.allclose(yb.float(), y, atol=2e-2)


def test_layer_norm_returns_fp32_without_affine() -> None:
    x = _randn(4, 16).bfloat16() * 3 + 1
    y = layer_norm(x)
    assert y.dtype == torch.float32
    assert torch.allclose(y.mean(-1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(y.var(-1, unbiased=False), torch.ones(4), atol=1e-3)


def test_modulate_broadcasts_per_frame() -> None:
    x = _randn(2, 3, 5, 4)  # (B, t, s, D)
    shift, scale = _randn(2, 3, 1, 4, seed=1), _randn(2, 3, 1, 4, seed=2)
    assert torch.allclose(modulate(x, shift, scale), x * (1 + scale) + shift)
    assert torch.equal(modulate(x, torch.zeros(1), torch.zeros(1)), x)


def test_mlp_shapes() -> None:
    assert MLP(8, 32)(torch.zeros(2, 5, 8)).shape == (2, 5, 8)
    assert MLP(6, 16, 8)(torch.zeros(3, 6)).shape == (3, 8)


def test_timestep_embedder_fp32_any_shape() -> None:
    emb = TimestepEmbedder(16, freq_dim=32)
    t = torch.rand(2, 3)
    out = emb(t)
    assert out.shape == (2, 3, 16) and out.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert emb(t).dtype == torch.float32
    assert torch.allclose(emb(t)[1, 2], emb(t[1, 2:3])[0], atol=1e-6)
    freq = TimestepEmbedder.timestep_embedding(torch.zeros(1), 8)
    assert torch.equal(freq, torch.tensor([[1.0] * 4 + [0.0] * 4]))


# --------------------------------------------------------------------------- RoPE


def test_rope_axes_dim_default_split() -> None:
    assert rope_axes_dim(16) == (4, 6, 6)
    assert rope_axes_dim(64) == (16, 24, 24)
    assert rope_axes_dim(72) == (18, 26, 28)
    with pytest.raises(ValueError, match="even head dim"):
        rope_axes_dim(15)
    with pytest.raises(ValueError, match="summing to the head dim"):
        RoPE3D(16, (4, 4, 4))


def test_rope_identity_at_origin_and_norm_preserving() -> None:
    rope = RoPE3D(16)
    cos, sin = rope.angles(torch.zeros(1, 3, dtype=torch.long))
    q = _randn(1, 2, 1, 16)
    assert torch.equal(apply_rope(q, cos, sin), q)
    cos, sin = rope(3, 4, 5)
    assert cos.shape == sin.shape == (60, 16)
    q = _randn(1, 2, 60, 16)
    assert torch.allclose(apply_rope(q, cos, sin).norm(dim=-1), q.norm(dim=-1), atol=1e-5)


def test_rope_is_relative() -> None:
    """Rotating q and k by the same 3D offset leaves every q·k unchanged."""
    rope = RoPE3D(16)
    pos = torch.tensor([[0, 0, 0], [1, 2, 3], [4, 0, 7], [2, 5, 1]])
    shifted = pos + torch.tensor([3, 11, 6])
    q, k = _randn(4, 16, seed=1), _randn(4, 16, seed=2)
    dots = apply_rope(q, *rope.angles(pos)) @ apply_rope(k, *rope.angles(pos)).T
    dots_shifted = apply_rope(q, *rope.angles(shifted)) @ apply_rope(k, *rope.angles(shifted)).T
    assert torch.allclose(dots, dots_shifted, atol=1e-4)
    plain = q @ k.T  # positions do matter
    assert not torch.allclose(dots, plain, atol=1e-2)


def test_rope_grid_order_and_cache() -> None:
    rope = RoPE3D(16)
    cos, sin = rope(2, 3, 4)
    pos = torch.tensor([[1, 2, 3]])  # last token of a (t h w)-ordered 2x3x4 grid
    c1, s1 = rope.angles(pos)
    assert torch.allclose(cos[-1], c1[0]) and torch.allclose(sin[-1], s1[0])
    assert rope(2, 3, 4)[0] is cos  # cached per grid
    assert rope(7, 9, 11)[0].shape == (693, 16)  # any grid, no table


# --------------------------------------------------------------------------- attention


def test_attention_shapes_and_rope() -> None:
    torch.manual_seed(0)
    attn = Attention(32, 2)
    rope = RoPE3D(16)(2, 2, 2)
    x = _randn(2, 8, 32)
    assert attn(x, rope).shape == (2, 8, 32)
    # without RoPE, self-attention is permutation equivariant; with it, it is not
    perm = torch.randperm(8)
    assert torch.allclose(attn(x[:, perm]), attn(x)[:, perm], atol=1e-5)
    assert not torch.allclose(attn(x[:, perm], rope), attn(x, rope)[:, perm], atol=1e-3)


def test_cross_attention_mask_cache_and_empty_text() -> None:
    torch.manual_seed(0)
    cross = CrossAttention(32, 2)
    torch.nn.init.normal_(cross.proj.weight, std=0.1)
    x, y = _randn(2, 6, 32), _randn(2, 5, 32, seed=1)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    out = cross(x, cross.text_kv(y), mask[:, None, None])
    y2 = y.clone()
    y2[0, 3:] = 100.0  # padding of sample 0
    out2 = cross(x, cross.text_kv(y2), mask[:, None, None])
    assert torch.allclose(out, out2, atol=1e-6)
    # the masked sample equals the same sample with its padding cut off
    short = cross(x[:1], cross.text_kv(y[:1, :3]))
    assert torch.allclose(out[:1], short, atol=1e-5)
    # a sample with no real text token gets the projection bias (zero attention), not NaN
    empty = torch.zeros(2, 1, 1, 5, dtype=torch.bool)
    out_empty = cross(x, cross.text_kv(y), empty)
    assert torch.isfinite(out_empty).all()
    assert torch.allclose(out_empty, cross.proj.bias.expand_as(out_empty))
