"""Autoencoder training: learns, exports stats, resumes exactly; eval and reconstruct run on it."""

from __future__ import annotations

import json
import typing

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.config import load_config
from kinema.errors import KinemaError
from kinema.eval.vae_eval import evaluate, fit_video, reconstruct, resolve_vae, world_videos
from kinema.models.vae import VAE_PRESETS, load_vae
from kinema.train.checkpoint import load_state
from kinema.train.train_vae import VAETrainConfig, train_vae

TINY = ["--preset=tiny", '--data.buckets=["5x16x16", "1x16x24"]', "--data.batch_size=2", "--stats_batches=2",
        "--warmup=2", "--log_every=1", "--sample_every=0", "--ckpt_every=100", "--lr=1e-3"]


def _cfg(tmp_path, *extra):
    return load_config(VAETrainConfig, None, [*TINY, f"--out={tmp_path}", *extra])


@pytest.mark.parametrize("extra", [[], ["--vae={linear_path = true}", "--linear_fit_batches=4"]])
def test_resume_is_exact(tmp_path, extra):
    full = train_vae(_cfg(tmp_path / "full", "--steps=4", *extra), progress=False)
    part_cfg = _cfg(tmp_path / "part", "--steps=4", *extra)
    train_vae(part_cfg, stop_after=2, progress=False)
    assert load_state(tmp_path / "part/state.pt")["step"] == 2
    resumed = train_vae(part_cfg, progress=False)
    a, b = load_vae(full), load_vae(resumed)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert a.cfg.scale == b.cfg.scale and a.cfg.shift == b.cfg.shift
    logged = [json.loads(line)["step"] for line in open(tmp_path / "part/log.jsonl")]
    assert logged == [1, 2, 3, 4]


def test_training_improves_and_exports_latent_stats(tmp_path):
    path = train_vae(_cfg(tmp_path, "--steps=30"), progress=False)
    logs = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    first, last = np.mean([r["l1"] for r in logs[:5]]), np.mean([r["l1"] for r in logs[-5:]])
    assert last < 0.9 * first  # the shortcut init already reconstructs a blurry clip: less to gain
    model = load_vae(path)
    assert model.cfg.scale != [1.0] * 4 and model.cfg.shift != [0.0] * 4
    assert (tmp_path / "samples").is_dir() and list((tmp_path / "samples").glob("*.mp4"))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["preset"] == "tiny" and saved["steps"] == 30


def test_linear_path_run_starts_as_the_fitted_linear_codec(tmp_path):
    from kinema.models.vae import VideoVAE

    start = load_vae(train_vae(_cfg(tmp_path, "--steps=2", "--vae={linear_path = true}", "--linear_fit_batches=8"),
                               stop_after=0, progress=False))  # exported before any step: the fit alone
    block_mean = VideoVAE(start.cfg).eval()  # the linear path's init before fitting
    videos = world_videos(4, seed=5, width=16, height=16, frames=5, fps=8.0)
    fitted, plain = evaluate(start, videos)["total"]["psnr"], evaluate(block_mean, videos)["total"]["psnr"]
    assert fitted > plain + 0.25, (fitted, plain)  # 4 principal components beat 3 colour means (+ a copy)
    assert int(torch.count_nonzero(start.encoder.conv_out.weight)) == 0  # the network adds nothing yet


def test_resume_refuses_a_different_architecture(tmp_path):
    train_vae(_cfg(tmp_path, "--steps=2"), stop_after=1, progress=False)
    with pytest.raises(KinemaError, match="cannot resume .* its vae was"):
        train_vae(_cfg(tmp_path, "--steps=2", "--vae={latent_channels = 2}"), progress=False)


def test_adversarial_term_runs(tmp_path):
    train_vae(_cfg(tmp_path, "--steps=3", "--adv_weight=0.1", "--adv_start=1"), progress=False)
    logs = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert "g" not in logs[0] and "g" in logs[-1] and "d" in logs[-1]


def test_eval_and_reconstruct(tmp_path, capsys):
    train_vae(_cfg(tmp_path / "run", "--steps=2"), progress=False)
    model = resolve_vae(tmp_path / "run")
    clips = world_videos(2, seed=3, width=24, height=20, frames=7, fps=8.0)
    report = evaluate(model, clips)
    # 7 frames -> 5 (1 + 4k), 20x24 -> 20x24 (multiples of 4)
    assert [(v["frames"], v["height"], v["width"]) for v in report["videos"]] == [(5, 20, 24)] * 2
    assert report["total"]["compression"] == pytest.approx(3 * 5 * 20 * 24 / (4 * 2 * 5 * 6))
    frames = fit_video(clips[0][1], model)
    assert reconstruct(model, frames).shape == frames.shape
    identical = evaluate(model, clips[:1])["videos"][0]
    assert 0 < identical["psnr"] < 60 and -1 <= identical["ssim"] <= 1

    from kinema.data.video_io import read_video, write_video

    write_video(tmp_path / "in.mp4", clips[0][1], 8)
    assert main(["vae", "reconstruct", "--checkpoint", str(tmp_path / "run"), str(tmp_path / "in.mp4"),
                 str(tmp_path / "out.mp4")]) == 0
    assert read_video(tmp_path / "out.mp4").shape == (5, 20, 24, 3)
    assert main(["vae", "eval", "--checkpoint", str(tmp_path / "run/vae.safetensors"), str(tmp_path / "in.mp4"),
                 "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["total"]["videos"] == 1
    assert "PSNR" in capsys.readouterr().out


def test_init_from_saved_weights(tmp_path):
    first = train_vae(_cfg(tmp_path / "a", "--steps=2"), progress=False)
    trainer_cfg = _cfg(tmp_path / "b", "--steps=1", f"--init={first}")
    from kinema.train.train_vae import VAETrainer

    trainer = VAETrainer(trainer_cfg)
    for (k, a), b in zip(load_vae(first).state_dict().items(), trainer.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(KinemaError, match="architecture differs in latent_channels"):
        VAETrainer(_cfg(tmp_path / "c", f"--init={first}", "--vae={latent_channels = 2}"))


def test_init_widens_the_latent(tmp_path):
    from kinema.train.train_vae import VAETrainer

    first = train_vae(_cfg(tmp_path / "a", "--steps=2"), progress=False)
    trainer = VAETrainer(_cfg(tmp_path / "b", "--steps=2", f"--init={first}", "--vae={latent_channels = 6}"))
    src, x = load_vae(first).eval(), torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        ref, out = src.decode(src.encode(x).mode()), trainer.model.eval().decode(trainer.model.encode(x).mode())
    assert trainer.model.cfg.latent_channels == 6 and torch.allclose(out, ref, atol=1e-5)
    with pytest.raises(KinemaError, match="widening .* trains the encoder too"):
        VAETrainer(_cfg(tmp_path / "c", f"--init={first}", "--vae={latent_channels = 6}", "--train_part=decoder"))


def test_decoder_only_keeps_the_latents(tmp_path):
    first = train_vae(_cfg(tmp_path / "a", "--steps=2"), progress=False)
    tuned = train_vae(_cfg(tmp_path / "b", "--steps=4", f"--init={first}", "--train_part=decoder",
                           "--object_weight=4"), progress=False)
    a, b = load_vae(first), load_vae(tuned)
    assert a.cfg.scale == b.cfg.scale and a.cfg.shift == b.cfg.shift  # stats kept, not re-measured
    enc_a, enc_b = a.encoder.state_dict(), b.encoder.state_dict()
    assert all(torch.equal(enc_a[k], enc_b[k]) for k in enc_a)  # a diffusion model's latents stay valid
    assert any(not torch.equal(va, vb) for va, vb in zip(a.decoder.state_dict().values(),
                                                          b.decoder.state_dict().values(), strict=True))
    with pytest.raises(KinemaError, match="train_part = 'decoder' fine-tunes an existing autoencoder"):
        _cfg(tmp_path / "c", "--train_part=decoder")


def test_object_weight_counts_object_pixels_more():
    from kinema.train.train_vae import pixel_weight, vae_loss

    cfg = VAETrainConfig(object_weight=9.0, ssim_weight=0.0, kl_weight=0.0)
    x = torch.zeros(1, 3, 1, 16, 16)
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    mask[0, 0, 6:10, 6:10] = True
    w = pixel_weight(mask, 9.0, grow=2)  # (1, 1, 1, 16, 16): the 4x4 box grown to 8x8
    assert w.shape == (1, 1, 1, 16, 16) and int((w > 1).sum()) == 64 and float(w.max()) == 10.0
    inside, outside = x.clone(), x.clone()
    inside[..., 7, 7] = 1.0  # the same error inside the object ...
    outside[..., 0, 0] = 1.0  # ... and on the background
    kl = torch.zeros(1)
    loss_in, _ = vae_loss(cfg, x, inside, kl, 1, w)
    loss_out, _ = vae_loss(cfg, x, outside, kl, 1, w)
    assert loss_in.item() == pytest.approx(10 * loss_out.item())
    plain_in, _ = vae_loss(cfg, x, inside, kl, 1)
    plain_out, _ = vae_loss(cfg, x, outside, kl, 1)
    assert plain_in.item() == pytest.approx(plain_out.item())


def test_edge_weight_penalises_blur_not_a_constant_offset():
    from kinema.train.train_vae import edge_error, pixel_weight, vae_loss

    x = -torch.ones(1, 3, 1, 16, 16)
    x[..., 4:12, 4:12] = 1.0  # a sharp square
    offset = x + 0.25  # the same picture, 0.25 brighter: no gradient error
    blur = torch.nn.functional.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1), count_include_pad=False)
    assert edge_error(x, x).item() == 0.0 and edge_error(x, offset).item() == pytest.approx(0.0, abs=1e-7)
    assert edge_error(x, blur).item() > 0.05
    # the per-pixel weight counts the object's edges more: an error inside its (grown) box weighs more
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    mask[0, 0, 4:12, 4:12] = True
    w = pixel_weight(mask, 9.0, grow=0)
    inside, outside = x.clone(), x.clone()
    inside[..., 6, 6] = 0.0
    outside[..., 0, 0] = 0.0
    assert edge_error(x, inside, w).item() > 5 * edge_error(x, outside, w).item()
    # in the loss: added with its weight, logged, and absent when the weight is 0
    kl = torch.zeros(1)
    plain, logs0 = vae_loss(VAETrainConfig(), x, blur, kl, 1)
    with_edge, logs = vae_loss(VAETrainConfig(edge_weight=2.0), x, blur, kl, 1)
    assert "edge" not in logs0 and with_edge.item() == pytest.approx(plain.item() + 2.0 * logs["edge"], rel=1e-5)
    with pytest.raises(KinemaError, match="edge_weight must be >= 0"):
        VAETrainConfig(edge_weight=-1.0)


def test_every_vae_preset_can_be_trained():
    """The trainer's ``preset`` choices are exactly the model's presets (a new preset is added in both)."""
    hints = typing.get_type_hints(VAETrainConfig)
    assert set(typing.get_args(hints["preset"])) == set(VAE_PRESETS)
