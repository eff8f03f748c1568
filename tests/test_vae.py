"""Causal video VAE: shapes, causality, chunked == whole, tiling, normalisation, KL, save/load, training."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from einops import rearrange
from safetensors import safe_open
from safetensors.torch import save_file

from kinema.config import from_dict
from kinema.errors import ConfigError, KinemaError
from kinema.models.vae import (
    VAE_PRESETS,
    CausalCache,
    DiagonalGaussian,
    VAEConfig,
    VideoVAE,
    _conv3d_via_2d,
    load_vae,
    save_vae,
    vae_config,
    widen_latent,
)


def randomize_(model: VideoVAE, seed: int = 0) -> VideoVAE:
    """Move every weight away from init (zero-init convs, identity resampling) so equalities are not trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.ndim > 1:  # conv weights: variance 1/fan_in
                p.copy_(noise * p[0].numel() ** -0.5)
            elif "norm" in name:  # RMSNorm gains around 1
                p.copy_(1.0 + 0.3 * noise)
            else:  # biases
                p.copy_(0.1 * noise)
    return model


def tiny(seed: int | None = 0, **overrides) -> VideoVAE:
    torch.manual_seed(0)
    model = VideoVAE(vae_config("tiny", **overrides)).eval()
    return randomize_(model, seed) if seed is not None else model


def video(t: int, h: int = 16, w: int = 16, b: int = 1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, t, h, w, generator=g) * 2 - 1  # (B, C, T, H, W) in [-1, 1]


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("ft", "frames", "latents"),
    [(4, 1, 1), (4, 5, 2), (4, 9, 3), (2, 1, 1), (2, 3, 2), (2, 7, 4), (1, 1, 1), (1, 4, 4)],
)
def test_frame_counts(ft: int, frames: int, latents: int) -> None:
    model = tiny(None, temporal_factor=ft)
    with torch.no_grad():
        post = model.encode(video(frames))
        assert post.mean.shape == (1, 4, latents, 4, 4) == post.logvar.shape
        assert model.latent_shape(frames, 16, 16) == (latents, 4, 4)
        assert model.video_shape(latents, 4, 4) == (frames, 16, 16)
        assert model.decode(post.mode()).shape == (1, 3, frames, 16, 16)


def test_bad_shapes_raise_helpful_errors() -> None:
    model = tiny(None)
    with pytest.raises(ValueError, match=r"1 \+ 4·k frames .*got 4 frames: trim to 1 or pad to 5"):
        model.encode(video(4))
    with pytest.raises(ValueError, match=r"got 10 frames: trim to 9 or pad to 13"):
        model.encode(video(10))
    with pytest.raises(ValueError, match=r"divisible by 4; got 18x16"):
        model.encode(video(5, h=18))
    with pytest.raises(ValueError, match=r"divisible by 4; got 16x14"):
        model.encode(video(5, w=14))
    with pytest.raises(ValueError, match=r"expected a video \(B, 3, T, H, W\)"):
        model.encode(torch.zeros(1, 4, 5, 16, 16))
    with pytest.raises(ValueError, match=r"expected a latent \(B, 4, t, h, w\)"):
        model.decode(torch.zeros(1, 3, 2, 4, 4))
    with pytest.raises(ValueError, match=r"multiples of spatial_factor=4"):
        model.encode(video(5, 32, 32), tile=18, overlap=4)
    with pytest.raises(ValueError, match=r"chunk_latents must be >= 1"):
        model.decode(torch.zeros(1, 4, 2, 4, 4), chunk=True, chunk_latents=0)
    with pytest.raises(ValueError, match=r"smaller than the tile"):
        model.decode(torch.zeros(1, 4, 2, 8, 8), tile=16, overlap=16)


def test_config_loads_strictly_and_resolves_normalisation() -> None:
    cfg = from_dict(VAEConfig, {"latent_channels": 2, "base_channels": 4, "channel_mults": [1, 2],
                                "spatial_factor": 2, "temporal_factor": 2})
    assert cfg.scale == [1.0, 1.0] and cfg.shift == [0.0, 0.0]
    assert from_dict(VAEConfig, dataclasses.asdict(cfg)) == cfg
    with pytest.raises(ConfigError, match="needs log2"):
        from_dict(VAEConfig, {"spatial_factor": 4})  # default channel_mults has 4 levels
    with pytest.raises(ConfigError, match="one of 1, 2, 4"):
        from_dict(VAEConfig, {"temporal_factor": 3})
    with pytest.raises(ConfigError, match="one value per latent channel"):
        from_dict(VAEConfig, {"latent_channels": 2, "scale": [1.0]})
    with pytest.raises(ConfigError, match="valid keys are"):
        vae_config("tiny", latent_chanels=8)
    with pytest.raises(KinemaError, match="tiny, world, world4, real"):
        vae_config("huge")
    assert vae_config("tiny", latent_channels=6).scale == [1.0] * 6


def test_presets_build_and_report_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    sizes = {name: VideoVAE(cfg).num_params() for name, cfg in VAE_PRESETS.items()}
    with capsys.disabled():
        print("\nVAE preset params:", {k: f"{v:,}" for k, v in sizes.items()})
    assert sizes["tiny"] < 20_000
    assert 1_000_000 <= sizes["world"] <= 4_000_000 and 1_000_000 <= sizes["world4"] <= 4_000_000
    assert 3_000_000 <= sizes["real"] <= 12_000_000
    assert VAE_PRESETS["world"].latent_channels == 8 and VAE_PRESETS["real"].latent_channels == 16
    for name in ("world", "real"):
        assert (VAE_PRESETS[name].temporal_factor, VAE_PRESETS[name].spatial_factor) == (4, 8)
    # both world presets compress a 17x64x64 clip at least 48x (issue 3), world4 on a 16x16 grid
    world4 = VideoVAE(VAE_PRESETS["world4"])
    with torch.no_grad():
        z = world4.encode(torch.zeros(1, 3, 17, 64, 64)).mean
    assert z.shape == (1, 3, 5, 16, 16) and 17 * 64 * 64 * 3 / z.numel() == pytest.approx(54.4)


# --------------------------------------------------------------------------- chunking and causality


@pytest.mark.parametrize(
    ("seed", "overrides", "chunk_latents"),
    [(None, {}, 1), (0, {}, 1), (1, {}, 2), (2, {"mid_attention": True, "causal_padding": "zeros"}, 1),
     (3, {"temporal_factor": 2}, 1), (4, {"base_channels": 16}, 1),  # 16 channels: the per-frame 2D conv path
     (5, {"linear_path": True}, 2), (6, {"linear_path": True, "temporal_factor": 2}, 1)],
)
def test_chunked_equals_whole(seed: int | None, overrides: dict, chunk_latents: int) -> None:
    model = tiny(seed, **overrides)
    ft = model.cfg.temporal_factor
    x = video(1 + 3 * ft)
    with torch.no_grad():
        whole = model.encode(x)
        chunked = model.encode(x, chunk=True, chunk_latents=chunk_latents)
        assert (whole.mean - chunked.mean).abs().max() < 1e-4
        assert (whole.logvar - chunked.logvar).abs().max() < 1e-4
        z = torch.randn(1, 4, 5, 4, 4, generator=torch.Generator().manual_seed(1))
        y = model.decode(z)
        assert (y - model.decode(z, chunk=True, chunk_latents=chunk_latents)).abs().max() < 1e-4
        assert y.abs().mean() > 0.05  # a non-trivial output


@pytest.mark.parametrize(("kernel", "stride"), [((3, 3, 3), (1, 1, 1)), ((3, 1, 1), (2, 1, 1)), ((1, 3, 3), (1, 2, 2))])
def test_conv3d_via_2d_matches_conv3d(kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 9, 8, 8, generator=g)
    w, b = torch.randn(6, 5, *kernel, generator=g), torch.randn(6, generator=g)
    padding = (0, kernel[1] // 2, kernel[2] // 2)
    ref = torch.nn.functional.conv3d(x, w, b, stride=stride, padding=padding)
    torch.testing.assert_close(_conv3d_via_2d(x, w, b, stride, padding), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("overrides", [{}, {"linear_path": True}])
def test_encoder_is_causal(overrides: dict) -> None:
    model = tiny(0, **overrides)
    x = video(9)
    with torch.no_grad():
        base = model.encode(x).mean
        for t in range(9):
            x2 = x.clone()
            x2[:, :, t] = -x2[:, :, t]
            out = model.encode(x2).mean
            group = (t + 3) // 4  # frame 0 -> latent 0; frames 1..4 -> 1; 5..8 -> 2
            torch.testing.assert_close(out[:, :, :group], base[:, :, :group], atol=1e-6, rtol=0)
            assert (out[:, :, group] - base[:, :, group]).abs().max() > 1e-3


@pytest.mark.parametrize("overrides", [{}, {"linear_path": True}])
def test_decoder_is_causal(overrides: dict) -> None:
    model = tiny(0, **overrides)
    z = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = model.decode(z)
        for j in range(3):
            z2 = z.clone()
            z2[:, :, j] += 1.0
            out = model.decode(z2)
            first = 0 if j == 0 else 1 + 4 * (j - 1)  # first output frame of latent j's group
            torch.testing.assert_close(out[:, :, :first], base[:, :, :first], atol=1e-6, rtol=0)
            assert (out[:, :, first] - base[:, :, first]).abs().max() > 1e-3


def test_chunked_decode_cache_stays_constant() -> None:
    model = tiny(0)
    z = torch.randn(1, 4, 9, 4, 4)
    cache = CausalCache()
    sizes, frames = [], []
    with torch.no_grad():
        for part in model.iter_decode(z, cache=cache):
            sizes.append(cache.nbytes())
            frames.append(part.shape[2])
    assert frames == [1] + [4] * 8
    assert len(set(sizes)) == 1 and sizes[0] > 0  # the carried state does not grow with length


def test_peak_memory_flat_in_video_length(tmp_path: Path) -> None:
    """Peak RSS growth in fresh processes (one per measurement, so allocator history cannot leak
    between them): chunked decoding of 513 frames costs about what 65 cost, far below whole-video
    decoding of the same 513 frames."""
    script = textwrap.dedent("""
        import sys, torch
        from kinema.models.vae import VideoVAE, vae_config
        torch.set_num_threads(1)
        mode, frames = sys.argv[1], int(sys.argv[2])
        model = VideoVAE(vae_config("tiny")).eval()
        # peak RSS of this process image (VmHWM, MiB): ru_maxrss would carry the forking parent's size
        # across exec and hide the growth when the test runs inside a large pytest worker
        rss = lambda: next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
        z = torch.randn(1, 4, 1 + (frames - 1) // 4, 16, 16, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            for _ in model.iter_decode(z[:, :, :3]): pass  # warm-up
            r0 = rss()
            if mode == "chunked":
                for _ in model.iter_decode(z): pass
            else:
                model.decode(z)
        print(rss() - r0)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}

    def grow(mode: str, frames: int) -> float:
        out = subprocess.run([sys.executable, "-c", script, mode, str(frames)], capture_output=True, text=True,
                             env=env, check=True)
        return float(out.stdout.strip())

    chunked65, chunked513, whole513 = grow("chunked", 65), grow("chunked", 513), grow("whole", 513)
    assert whole513 > 40.0, (chunked65, chunked513, whole513)  # the measure sees whole-video growth
    assert chunked513 - chunked65 < 0.2 * whole513, (chunked65, chunked513, whole513)


# --------------------------------------------------------------------------- tiling


def test_tiled_close_to_untiled() -> None:
    """Tiling is approximate: a tile's outputs near its borders saw zero padding instead of the
    neighbouring pixels, and each tile's per-frame GroupNorm statistics are its own. (At init the
    model is its shortcut path, average-pool and repeat, for which tiling is exact; so measure a
    randomised model.) Measured on 128x128 noise, 64 px tiles, |z| 11.2, |y| 33.4: encode mean abs
    error 0.55 / 0.098 / 0.042 and decode 2.9 / 0.97 / 0.76 at overlap 0 / 16 / 32."""
    model = tiny(0)
    x = video(5, 128, 128)
    with torch.no_grad():
        whole = model.encode(x).mean
        y = model.decode(whole)
        enc = [(model.encode(x, tile=64, overlap=ov).mean - whole).abs().mean() for ov in (0, 16, 32)]
        dec = [(model.decode(whole, tile=(64, 64), overlap=ov) - y).abs().mean() for ov in (0, 16, 32)]
    assert enc[0] > enc[1] > enc[2] and dec[0] > dec[1] > dec[2], (enc, dec)
    assert enc[2] < 0.01 * whole.abs().mean() and dec[2] < 0.05 * y.abs().mean(), (enc, dec)
    init = tiny(None)
    with torch.no_grad():  # the shortcut path alone tiles exactly
        z0 = init.encode(x).mean
        assert (init.encode(x, tile=64, overlap=16).mean - z0).abs().max() < 1e-5


def test_tiling_composes_with_chunking_and_overlap_helps() -> None:
    model = tiny(0)  # randomised: receptive field larger than the tile, so tiling is far from exact
    x = video(5, 64, 64)
    with torch.no_grad():
        whole = model.encode(x).mean
        errs = [(model.encode(x, tile=32, overlap=ov).mean - whole).abs().mean() for ov in (0, 8, 16)]
        assert errs[0] > errs[1] > errs[2], errs
        # chunking a tiled pass is exact
        tiled = model.encode(x, tile=32, overlap=16).mean
        assert (model.encode(x, tile=32, overlap=16, chunk=True).mean - tiled).abs().max() < 1e-4
        yt = model.decode(whole, tile=32, overlap=16)
        assert (model.decode(whole, tile=32, overlap=16, chunk=True) - yt).abs().max() < 1e-4
        # a tile covering the frame is no tiling; rectangular tiles without overlap cover the frame
        assert torch.equal(model.encode(x, tile=64).mean, whole)
        assert model.decode(whole, tile=(16, 64)).shape == (1, 3, 5, 64, 64)


# --------------------------------------------------------------------------- latents and posterior


def test_normalize_denormalize_inverse() -> None:
    cfg = vae_config("tiny", scale=[0.5, 2.0, 1.0, 4.0], shift=[0.1, -0.2, 0.0, 3.0])
    model = VideoVAE(cfg)
    z = torch.randn(2, 4, 3, 4, 4)
    n = model.normalize(z)
    torch.testing.assert_close(n[:, 3], (z[:, 3] - 3.0) * 4.0)
    torch.testing.assert_close(model.denormalize(n), z)


def test_kl_and_sampling() -> None:
    zero = DiagonalGaussian(torch.zeros(2, 4, 3, 4, 4), torch.zeros(2, 4, 3, 4, 4))
    assert zero.kl().shape == (2,) and torch.equal(zero.kl(), torch.zeros(2))
    post = tiny(0).encode(video(5))
    assert (post.kl() >= 0).all() and post.kl().item() > 0
    assert torch.equal(post.sample(torch.Generator().manual_seed(3)), post.sample(torch.Generator().manual_seed(3)))
    assert not torch.equal(post.sample(torch.Generator().manual_seed(3)), post.mode())


def test_bf16_autocast_runs() -> None:
    model = tiny(0)
    x = video(5)
    with torch.no_grad():
        ref = model.decode(model.encode(x).mode())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            post = model.encode(x, chunk=True)
            y = model.decode(post.mode(), chunk=True)
    assert post.mean.dtype == torch.float32 and torch.isfinite(y).all()
    assert (y.float() - ref).abs().mean() < 0.02 * ref.abs().mean()  # randomised weights: |y| ~ 30


# --------------------------------------------------------------------------- checkpoints


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = tiny(0, scale=[0.5, 2.0, 1.0, 4.0])
    path = tmp_path / "vae.safetensors"
    save_vae(model, path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert json.loads(meta["config"]) == dataclasses.asdict(model.cfg)
    loaded = load_vae(path)
    assert loaded.cfg == model.cfg
    ref_state, loaded_state = model.state_dict(), loaded.state_dict()
    assert ref_state.keys() == loaded_state.keys()
    assert all(torch.equal(ref_state[k], loaded_state[k]) for k in ref_state)
    x = video(5)
    with torch.no_grad():
        ref = model.decode(model.encode(x).mode())
        half = tmp_path / "vae_bf16.safetensors"
        save_vae(model, half, dtype=torch.bfloat16)
        loaded16 = load_vae(half)
        assert all(p.dtype == torch.float32 for p in loaded16.parameters())
        assert half.stat().st_size < 0.6 * path.stat().st_size
        y16 = loaded16.decode(loaded16.encode(x).mode())
    assert (y16 - ref).abs().mean() < 0.02 * ref.abs().mean()
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temp file


def test_linear_path_starts_as_block_means_then_as_the_pca_codec() -> None:
    torch.manual_seed(0)
    model = VideoVAE(vae_config("tiny", linear_path=True)).eval()  # fresh: the network's output convs are zero
    x = video(9, b=2)
    with torch.no_grad():
        z = model.encode(x).mean  # (2, 4, 3, 4, 4)
        block_mean = torch.nn.functional.avg_pool3d(x[:, :, 1:], (4, 4, 4))  # (2, 3, 2, 4, 4)
        torch.testing.assert_close(z[:, :3, 1:], block_mean, atol=1e-5, rtol=0)
        torch.testing.assert_close(z[:, 3, 1:], block_mean[:, 0], atol=1e-5, rtol=0)  # channel 3: red again
        torch.testing.assert_close(z[:, :3, 0], torch.nn.functional.avg_pool2d(x[:, :, 0], 4), atol=1e-5, rtol=0)
        data = [video(9, b=4, seed=s) for s in range(1, 7)]
        model.fit_linear_path(data)
        y = model.decode(model.encode(x).mean)
        codes = torch.cat([model.encode(v).mean for v in data])  # (24, 4, 3, 4, 4)

    def rows(v: torch.Tensor, first: bool) -> np.ndarray:
        if first:
            return rearrange(v[:, :, :1], "b c g (h p) (w q) -> (b g h w) (p q c)", p=4, q=4).double().numpy()
        return rearrange(v[:, :, 1:], "b c (g f) (h p) (w q) -> (b g h w) (f p q c)", f=4, p=4, q=4).double().numpy()

    for first in (True, False):  # decode(encode(x)) = the projection on the fitted data's top 4 components
        train = np.concatenate([rows(v, first) for v in data])
        mean = train.mean(0)
        comp = np.linalg.svd(train - mean, full_matrices=False)[2][:4]
        np.testing.assert_allclose(rows(y, first), (rows(x, first) - mean) @ comp.T @ comp + mean, atol=1e-4)
    torch.testing.assert_close(codes.transpose(0, 1).flatten(1).std(1), torch.ones(4), atol=0.02, rtol=0)  # whitened
    with pytest.raises(KinemaError, match="needs more than 4 frame-0 blocks; the videos gave 1"):
        VideoVAE(vae_config("tiny", linear_path=True)).fit_linear_path([video(5, h=4, w=4)])
    with pytest.raises(KinemaError, match="needs more than 4 blocks of 4 later frames; the videos gave 0"):
        VideoVAE(vae_config("tiny", linear_path=True)).fit_linear_path([video(1, b=2)])  # images only
    with pytest.raises(KinemaError, match="has no linear path"):
        tiny(0).fit_linear_path(data)
    with pytest.raises(KinemaError, match="cannot widen the latent of an autoencoder with a linear path"):
        widen_latent(model, 6)


@pytest.mark.parametrize("wider", [4, 6, 9])
def test_widen_latent_reconstructs_the_same(wider: int) -> None:
    model = tiny(0, scale=[0.5, 2.0, 1.0, 4.0], shift=[0.1, 0.2, 0.3, 0.4])
    wide = widen_latent(model, wider).eval()
    assert wide.cfg.latent_channels == wider
    assert wide.cfg.scale[:4] == model.cfg.scale and wide.cfg.shift[:4] == model.cfg.shift
    x = video(9)
    with torch.no_grad():
        post, post_wide = model.encode(x), wide.encode(x)
        assert post_wide.mean.shape[1] == wider
        assert torch.allclose(post_wide.mean[:, :4], post.mean, rtol=1e-4, atol=1e-4)
        assert torch.allclose(post_wide.logvar[:, :4], post.logvar, rtol=1e-4, atol=1e-4)
        z = post_wide.sample(torch.Generator().manual_seed(1))  # noise on every channel, the new ones too
        ref, out = model.decode(z[:, :4]), wide.decode(z)  # the new channels' content is cancelled exactly
    assert (out - ref).abs().max() < 1e-4 * ref.abs().max()
    if wider > 4:  # the new channels carry signal, and training reaches them from the first step
        assert post_wide.mean[:, 4:].abs().mean() > 0
        wide.decoder(z).square().mean().backward()
        assert wide.decoder.conv_in.weight.grad[:, 4:].abs().sum() > 0
    with pytest.raises(KinemaError, match="can only widen"):
        widen_latent(model, 3)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(KinemaError, match="does not exist"):
        load_vae(tmp_path / "missing.safetensors")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(KinemaError, match="not a kinema VAE checkpoint"):
        load_vae(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file")
    with pytest.raises(KinemaError, match="cannot read VAE checkpoint"):
        load_vae(junk)
    # weights of one size with the config of another
    model = tiny(None)
    other = dataclasses.asdict(vae_config("tiny", base_channels=8))
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    bad = tmp_path / "mismatch.safetensors"
    save_file(tensors, str(bad), metadata={"format": "kinema.vae", "config": json.dumps(other)})
    with pytest.raises(KinemaError, match="shape mismatch"):
        load_vae(bad)
    missing = tmp_path / "missing_tensor.safetensors"
    tensors.pop("decoder.conv_out.bias")
    save_file(tensors, str(missing), metadata={"format": "kinema.vae", "config": json.dumps(dataclasses.asdict(model.cfg))})
    with pytest.raises(KinemaError, match=r"missing tensors \['decoder.conv_out.bias'\]"):
        load_vae(missing)


# --------------------------------------------------------------------------- training


def test_training_step_reduces_reconstruction_loss() -> None:
    model = tiny(None).train()
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, 5).view(1, 1, 5, 1, 1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    x = torch.cat([torch.sin(3 * xx + 2 * t), torch.cos(2 * yy - t), xx * yy * torch.ones_like(t)], dim=1)  # (1, 3, 5, 16, 16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        recon, post = model(x, generator=g)
        loss = (recon - x).pow(2).mean() + 1e-6 * post.kl().mean()
        opt.zero_grad()
        loss.backward()
        if step == 0:
            assert all(p.grad is not None for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.6 * sum(losses[:5]), losses


def test_committed_world_autoencoders_reconstruct_held_out_clips() -> None:
    """The committed world autoencoders load as their presets, keep their compression, and are
    trained: on the first two of the README's 16 held-out clips they score 31.9 and 30.7 dB, where an
    untrained model of the same preset (the shortcuts' average-pool autoencoder) scores 28.8 and 26.4."""
    from kinema.eval.vae_eval import evaluate, resolve_vae, world_videos

    root = Path(__file__).resolve().parents[1] / "weights"
    clips = world_videos(2, seed=1234, width=64, height=64, frames=17, fps=8.0)
    for name, ratio, floor in (("vae_world4.safetensors", 54.4, 30.5), ("default/vae.safetensors", 81.6, 29.0)):
        total = evaluate(resolve_vae(root / name), clips)["total"]
        assert total["compression"] == pytest.approx(ratio, abs=0.1), name
        assert total["psnr"] > floor, (name, total)
