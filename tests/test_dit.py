"""Diffusion transformer: patchify, adaLN-Zero, per-frame times, conditioning, text mask and cache,
any grid size, shape errors, bf16 autocast, save/load, determinism, presets and a few training steps."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from einops import rearrange
from safetensors.torch import save_file

from kinema.config import from_dict
from kinema.errors import ConfigError, KinemaError
from kinema.models.dit import (
    DiT,
    DiTConfig,
    load_dit,
    patchify,
    read_dit_metadata,
    save_dit,
    unpatchify,
)
from kinema.models.presets import DIT_PRESETS, dit_config

C, D_TXT = 4, 12  # latent channels, text feature size


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(seed: int = 0, perturb: bool = True, **overrides: object) -> DiT:
    """The tiny preset; ``perturb`` moves the zero-initialised weights away from zero."""
    torch.manual_seed(seed)
    model = DiT(dit_config("tiny", in_channels=C, text_dim=D_TXT, **overrides))
    if perturb:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def _inputs(b: int = 2, t: int = 3, h: int = 8, w: int = 8, L: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, C, t, h, w, generator=g)
    time = torch.rand(b, t, generator=g)
    txt = torch.randn(b, L, D_TXT, generator=g)
    mask = torch.ones(b, L, dtype=torch.bool)
    mask[0, L - 2:] = False  # sample 0 has two padding tokens
    return x, time, txt, mask


# --------------------------------------------------------------------------- patchify


@pytest.mark.parametrize("patch", [(1, 1, 1), (1, 2, 2), (2, 2, 2), (2, 4, 1)])
def test_patchify_round_trip(patch: tuple[int, int, int]) -> None:
    x = torch.randn(2, C, 4, 8, 8)
    tokens = patchify(x, patch)
    pt, ph, pw = patch
    grid = (4 // pt, 8 // ph, 8 // pw)
    assert tokens.shape == (2, grid[0] * grid[1] * grid[2], pt * ph * pw * C)
    # token 0 is the first patch, flattened as (pt ph pw c)
    first = x[:, :, :pt, :ph, :pw].permute(0, 2, 3, 4, 1).reshape(2, -1)
    assert torch.equal(tokens[:, 0], first)
    assert torch.equal(unpatchify(tokens, patch, grid), x)


# --------------------------------------------------------------------------- init and shapes


def test_zero_init_outputs_exactly_zero() -> None:
    model = _model(perturb=False)
    x, time, txt, mask = _inputs()
    v = model(x, time, txt, mask)
    assert v.shape == x.shape and v.dtype == torch.float32
    assert torch.equal(v, torch.zeros_like(v))


@pytest.mark.parametrize("grid", [(3, 8, 8), (2, 8, 8), (5, 12, 20), (1, 4, 6)])
def test_any_grid_size(grid: tuple[int, int, int]) -> None:
    model = _model()
    x, time, txt, mask = _inputs(b=1, t=grid[0], h=grid[1], w=grid[2])
    v = model(x, time, txt, mask)
    assert v.shape == x.shape and torch.isfinite(v).all()


def test_temporal_patch_averages_times() -> None:
    model = _model(patch=(2, 2, 2))
    x, _, txt, mask = _inputs(t=4)
    per_patch = torch.tensor([[0.2, 0.4, 0.9, 0.9]] * 2)
    averaged = torch.tensor([[0.3, 0.3, 0.9, 0.9]] * 2)
    with torch.no_grad():
        assert torch.allclose(model(x, per_patch, txt, mask), model(x, averaged, txt, mask), atol=1e-5)
    with pytest.raises(ValueError, match="t=3 is not a multiple of pt=2"):
        model(*_inputs(t=3))


# --------------------------------------------------------------------------- conditioning


@torch.no_grad()
def test_per_frame_times_condition_their_frame() -> None:
    model = _model()
    x, _, txt, mask = _inputs(t=3)
    time = torch.full((2, 3), 0.5)
    base = model(x, time, txt, mask)
    assert torch.allclose(model(x, torch.full((2,), 0.5), txt, mask), base, atol=1e-6)  # (B,) broadcasts
    time2 = time.clone()
    time2[:, 0] = 0.9
    diff = (model(x, time2, txt, mask) - base).abs().mean(dim=(0, 1, 3, 4))  # (t,)
    assert diff[0] > 0 and diff[0] > diff[1:].max()


@torch.no_grad()
def test_cond_mask_adds_given_embedding_to_given_frames() -> None:
    model = _model()
    x, time, txt, mask = _inputs(t=3)
    seen: list[torch.Tensor] = []
    hook = model.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    base = model(x, time, txt, mask)
    none_given = torch.zeros(2, 3, dtype=torch.bool)
    assert torch.equal(model(x, time, txt, mask, cond_mask=none_given), base)
    cond = torch.tensor([[True, False, False], [True, True, False]])
    out = model(x, time, txt, mask, cond_mask=cond)
    hook.remove()
    delta = seen[2] - seen[0]  # block input (B, t, s, D): with minus without the mask
    expected = cond[:, :, None, None].float() * model.given_embedding
    assert torch.allclose(delta, expected.expand_as(delta), atol=1e-6)
    assert not torch.allclose(out, base)
    plain = _model(cond_embed=False)
    assert plain.given_embedding is None
    assert torch.equal(plain(x, time, txt, mask, cond_mask=cond), plain(x, time, txt, mask))


@torch.no_grad()
def test_frame_position_tells_left_from_right_at_any_size() -> None:
    """RoPE alone is translation-equivariant; ``frame_pos`` adds where a token is *in the frame*."""
    plain = _model()
    grown = DiT(dataclasses.replace(plain.cfg, frame_pos=3))
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["frame_pos_embedder.proj.bias", "frame_pos_embedder.proj.weight"] and not unexpected
    x, time, txt, mask = _inputs(h=8, w=12)
    assert torch.equal(grown(x, time, txt, mask), plain(x, time, txt, mask))  # zero-initialised: unchanged
    emb = grown.frame_pos_embedder
    for h, w in [(2, 3), (4, 4), (3, 8)]:  # fractions of the frame, so every size has a left and a right
        f = rearrange(emb.features(h, w), "(h w) f -> h w f", h=h)
        assert f.shape == (h, w, 12) and f.abs().max() <= 1
        assert (f[0, :, 6].diff() > 0).all() and (f[:, 0, 0].diff() > 0).all()  # sin(pi u / 2) grows with u, v
        assert torch.allclose(f[0, :, 6], -f[0, :, 6].flip(0), atol=1e-6)  # left-right mirror
    torch.nn.init.normal_(emb.proj.weight, std=0.5)
    out = grown(x, time, txt, mask)
    assert not torch.allclose(out, plain(x, time, txt, mask))
    # a uniform latent: every token is the same, so with RoPE alone every position gets the same
    # velocity (attention mixes equal values, whatever its weights); the frame position breaks the tie
    flat = torch.full((1, C, 3, 8, 12), 0.3)
    one_time, one_txt, one_mask = torch.full((1, 3), 0.5), txt[1:], mask[1:]
    v_plain = patchify(plain(flat, one_time, one_txt, one_mask), plain.cfg.patch)  # (1, N, p): one row per token
    assert torch.allclose(v_plain, v_plain[:, :1].expand_as(v_plain), atol=1e-5)
    v_grown = grown(flat, one_time, one_txt, one_mask)
    assert not torch.allclose(v_grown[..., :2], v_grown[..., -2:], atol=1e-3)  # left and right differ
    with pytest.raises(ValueError, match="frame_pos"):
        DiTConfig(in_channels=C, text_dim=D_TXT, frame_pos=-1)


@torch.no_grad()
def test_text_padding_is_ignored_and_text_matters() -> None:
    model = _model()
    x, time, txt, mask = _inputs()
    base = model(x, time, txt, mask)
    txt2 = txt.clone()
    txt2[0, -2:] = 50.0  # sample 0's padding
    assert torch.allclose(model(x, time, txt2, mask), base, atol=1e-6)
    short = model(x[:1], time[:1], txt[:1, :-2], mask[:1, :-2])  # the same sample without its padding
    assert torch.allclose(short, base[:1], atol=1e-5)
    txt3 = txt.clone()
    txt3[0, 0] += 1.0  # a real token
    assert not torch.allclose(model(x, time, txt3, mask)[0], base[0], atol=1e-4)
    empty = torch.zeros_like(mask)  # no real token at all (unconditional): finite
    assert torch.isfinite(model(x, time, txt, empty)).all()


@torch.no_grad()
def test_text_cache_matches_no_cache() -> None:
    model = _model()
    x, time, txt, mask = _inputs()
    cache = model.encode_text_kv(txt, mask)
    assert len(cache.kv) == len(model.blocks) and cache.kv[0][0].shape == (2, 2, 5, 16)
    ref = model(x, time, txt, mask)
    assert torch.equal(model(x, time, text_cache=cache), ref)
    x2 = torch.randn_like(x)  # reused at another step
    assert torch.equal(model(x2, time * 0.5, text_cache=cache), model(x2, time * 0.5, txt, mask))
    with pytest.raises(ValueError, match="text_cache holds batch 2"):
        model(x[:1], time[:1], text_cache=cache)


# --------------------------------------------------------------------------- errors


def test_bad_shapes_raise_helpful_errors() -> None:
    model = _model(perturb=False)
    x, time, txt, mask = _inputs()
    cases = [
        ((torch.zeros(2, 3, 3, 8, 8), time, txt, mask), r"x must be a latent \(B, 4, t, h, w\)"),
        ((torch.zeros(2, C, 3, 9, 8), time, txt, mask), "h=9 is not a multiple of ph=2"),
        ((x, torch.zeros(2, 4), txt, mask), r"time must be a float tensor .* \(B, t\) = \(2, 3\)"),
        ((x, torch.zeros(2, 3, dtype=torch.long), txt, mask), "time must be a float tensor"),
        ((x, time, torch.zeros(2, 5, 7), mask), r"txt must be text features \(B, L, 12\)"),
        ((x, time, txt, mask.float()), "txt_mask must be a bool tensor"),
        ((x, time, txt[:1], mask[:1]), "txt has batch 1 but x has batch 2"),
        ((x, time, None, None), "pass the text features"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            model(*args)
    with pytest.raises(ValueError, match=r"cond_mask must be a bool tensor \(B, t\)"):
        model(x, time, txt, mask, cond_mask=torch.zeros(2, 3))


# --------------------------------------------------------------------------- precision


@torch.no_grad()
def test_bf16_autocast_close_to_fp32() -> None:
    model = _model()
    x, time, txt, mask = _inputs()
    ref = model(x, time, txt, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, time, txt, mask)
        cache = model.encode_text_kv(txt, mask)
        cached = model(x, time, text_cache=cache)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    rel = (out - ref).norm() / ref.norm()
    assert rel < 0.05, rel
    assert torch.allclose(cached, out)


# --------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = _model(patch=(1, 2, 2), rope_axes_dim=[6, 6, 4])
    x, time, txt, mask = _inputs()
    path = tmp_path / "dit.safetensors"
    save_dit(model, path, extra_metadata={"text_encoder": "builtin"})
    loaded = load_dit(path)
    assert loaded.cfg == model.cfg
    with torch.no_grad():
        assert torch.equal(loaded(x, time, txt, mask), model(x, time, txt, mask))
    meta = read_dit_metadata(path)
    assert meta["text_encoder"] == "builtin" and json.loads(meta["config"])["rope_axes_dim"] == [6, 6, 4]

    save_dit(model, path, dtype=torch.bfloat16)
    half = load_dit(path)
    assert next(half.parameters()).dtype == torch.float32
    with torch.no_grad():
        ref, out = model(x, time, txt, mask), half(x, time, txt, mask)
    assert (out - ref).norm() / ref.norm() < 0.05


def test_save_and_load_errors(tmp_path: Path) -> None:
    model = _model(perturb=False)
    with pytest.raises(ValueError, match="float32 or torch.bfloat16"):
        save_dit(model, tmp_path / "a.safetensors", dtype=torch.float16)
    with pytest.raises(ValueError, match="reserved"):
        save_dit(model, tmp_path / "a.safetensors", extra_metadata={"config": "x"})
    with pytest.raises(KinemaError, match="does not exist"):
        load_dit(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(KinemaError, match="cannot read DiT checkpoint"):
        load_dit(garbage)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "kinema.vae", "config": "{}"})
    with pytest.raises(KinemaError, match="not a kinema DiT checkpoint"):
        load_dit(other)
    # tensors that do not match the config
    path = tmp_path / "dit.safetensors"
    save_dit(model, path)
    cfg = dataclasses.asdict(model.cfg) | {"depth": 3}
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": "kinema.dit", "config": json.dumps(cfg)})
    with pytest.raises(KinemaError, match="missing tensors"):
        load_dit(path)
    cfg = dataclasses.asdict(model.cfg) | {"in_channels": 8}
    save_file(tensors, str(path), metadata={"format": "kinema.dit", "config": json.dumps(cfg)})
    with pytest.raises(KinemaError, match="shape mismatch"):
        load_dit(path)
    cfg = dataclasses.asdict(model.cfg) | {"width": 8}
    save_file(tensors, str(path), metadata={"format": "kinema.dit", "config": json.dumps(cfg)})
    with pytest.raises(ConfigError, match="unknown key"):
        load_dit(path)


# --------------------------------------------------------------------------- config and presets


def test_presets_and_config() -> None:
    cfg = dit_config("tiny", in_channels=C, text_dim=D_TXT, depth=1)
    assert (cfg.dim, cfg.depth, cfg.heads, cfg.patch) == (32, 1, 2, (1, 2, 2))
    assert from_dict(DiTConfig, json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
    assert set(DIT_PRESETS) == {"tiny", "S", "B", "L", "XL"}
    with torch.device("meta"):
        assert 6e6 < DiT(dit_config("S", in_channels=8, text_dim=384)).num_params() < 8e6
    with pytest.raises(KinemaError, match="choose one of: tiny, S, B, L, XL"):
        dit_config("huge", in_channels=C, text_dim=D_TXT)
    with pytest.raises(ConfigError, match="valid keys are: .*depth"):
        dit_config("tiny", in_channels=C, text_dim=D_TXT, widht=3)
    for bad, match in [({"heads": 3}, "divisible by heads"), ({"patch": [1, 0, 2]}, "patch must be"),
                       ({"rope_axes_dim": [4, 4, 4]}, "summing to the head dim 16"),
                       ({"mlp_ratio": "big"}, "expected a number")]:
        with pytest.raises(ConfigError, match=match):
            dit_config("tiny", in_channels=C, text_dim=D_TXT, **bad)


# --------------------------------------------------------------------------- determinism and training


def test_determinism_with_fixed_seed() -> None:
    a, b = _model(seed=3, perturb=False), _model(seed=3, perturb=False)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    a, b = _model(seed=3), _model(seed=3)
    x, time, txt, mask = _inputs()
    with torch.no_grad():
        assert torch.equal(a(x, time, txt, mask), b(x, time, txt, mask))


def test_few_steps_lower_loss_and_checkpointing_matches() -> None:
    model = _model(perturb=False)
    x, time, txt, mask = _inputs(t=2)
    target = torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = (model(x, time, txt, mask) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1e-3, losses
    # gradient checkpointing changes memory, not the gradients
    grads = []
    for ckpt in (False, True):
        model.zero_grad()
        model.gradient_checkpointing = ckpt
        (model(x, time, txt, mask) - target).pow(2).mean().backward()
        grads.append(model.blocks[0].attn.qkv.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_inference_then_training_and_bf16_backward() -> None:
    """RoPE tables made under inference_mode are not reused by autograd; bf16 autocast trains."""
    model = _model()
    x, time, txt, mask = _inputs()
    with torch.inference_mode():
        model(x, time, txt, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x, time, txt, mask).pow(2).mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if n != "given_embedding"}  # no cond_mask given
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert model.x_embedder.weight.grad.dtype == torch.float32
