"""DiT training: learns, exports a loadable model folder, resumes exactly, accumulates correctly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kinema.config import load_config
from kinema.errors import ConfigError, KinemaError
from kinema.models.bundle import load_bundle
from kinema.models.dit import load_dit
from kinema.train.checkpoint import load_state
from kinema.train.train_dit import (
    LATENT_IO_PREFIXES,
    DiTTrainConfig,
    DiTTrainer,
    MicroBatch,
    drop_captions,
    flow_loss,
    flow_losses,
    mirror_rows,
    train_dit,
)

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "dit_tiny.toml"  # tiny DiT, 32-d text, 5x16x16 + 1x16x16
QUIET = ["--sample_every=0", "--ckpt_every=100"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(vae_path, out, *extra) -> DiTTrainConfig:
    return load_config(DiTTrainConfig, CONFIG, [*QUIET, f"--vae={vae_path}", f"--out={out}", *extra])


def _logs(out) -> list[dict]:
    return [json.loads(line) for line in open(out / "log.jsonl")]


def test_training_lowers_the_loss_and_exports_a_loadable_model(vae_path, tmp_path):
    cfg = _cfg(vae_path, tmp_path, "--steps=30", "--data.batch_size=4", "--sample_every=30")
    folder = train_dit(cfg, progress=False)
    losses = [r["loss"] for r in _logs(tmp_path)]
    assert len(losses) == 30 and np.mean(losses[-6:]) < 0.7 * np.mean(losses[:6])
    last = _logs(tmp_path)[-1]
    assert last["tokens_per_s"] > 0 and last["gflop_per_s"] > 0 and last["grad_norm"] > 0

    bundle = load_bundle(folder)
    assert (bundle.info.defaults.width, bundle.info.defaults.height) == (16, 16)
    assert bundle.info.defaults.seconds == pytest.approx(4 / 8.0)  # 5 frames at 8 fps
    assert bundle.info.train["steps"] == 30 and bundle.info.train["config"]["preset"] == "tiny"
    assert bundle.dit.cfg.in_channels == 4 and bundle.text.dim == 32
    ema = load_state(tmp_path / "state.pt")["ema"]
    for k, v in bundle.dit.state_dict().items():
        assert torch.equal(v, ema[f"dit.{k}"]), k  # the export is the EMA
    raw = load_state(tmp_path / "state.pt")["model"]
    assert not torch.equal(raw["dit.final_layer.linear.weight"], ema["dit.final_layer.linear.weight"])
    assert [p.name for p in (tmp_path / "samples").glob("*.mp4")] == ["step_0000030_0.mp4"]
    assert json.loads((tmp_path / "config.json").read_text())["steps"] == 30


def test_resume_is_exact(vae_path, tmp_path):
    extra = ["--steps=4", "--text_dropout=0.5", "--grad_accum=2"]
    full = train_dit(_cfg(vae_path, tmp_path / "full", *extra), progress=False)
    part = _cfg(vae_path, tmp_path / "part", *extra)
    train_dit(part, stop_after=2, progress=False)
    assert load_state(tmp_path / "part/state.pt")["step"] == 2
    resumed = train_dit(part, progress=False)
    a, b = load_state(tmp_path / "full/state.pt"), load_state(tmp_path / "part/state.pt")
    for key in ("model", "ema"):
        for k, v in a[key].items():
            assert torch.equal(v, b[key][k]), (key, k)
    for (k, va), vb in zip(load_dit(full / "dit.safetensors").state_dict().items(),
                           load_dit(resumed / "dit.safetensors").state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert [r["step"] for r in _logs(tmp_path / "part")] == [1, 2, 3, 4]
    assert [r["loss"] for r in _logs(tmp_path / "part")] == [r["loss"] for r in _logs(tmp_path / "full")]


def test_resume_refuses_a_different_architecture(vae_path, tmp_path):
    train_dit(_cfg(vae_path, tmp_path, "--steps=2"), stop_after=1, progress=False)
    with pytest.raises(KinemaError, match="cannot resume .* its dit was"):
        train_dit(_cfg(vae_path, tmp_path, "--steps=2", "--dit={depth = 1}"), progress=False)


def _split(mb: MicroBatch, parts: int) -> list[MicroBatch]:
    n = mb.x0.shape[0] // parts
    return [MicroBatch(x0=mb.x0[i * n:(i + 1) * n], noise=mb.noise[i * n:(i + 1) * n], time=mb.time[i * n:(i + 1) * n],
                       cond_mask=mb.cond_mask[i * n:(i + 1) * n], captions=mb.captions[i * n:(i + 1) * n],
                       sources=mb.sources[i * n:(i + 1) * n], bucket=mb.bucket) for i in range(parts)]


def test_grad_accumulation_matches_one_big_batch(vae_path, tmp_path):
    """Batch 4 in one micro-batch and 2 x 2 accumulated give the same gradient and loss."""
    cfg = _cfg(vae_path, tmp_path, "--data.batch_size=4", '--data.buckets=["5x16x16"]', "--text_dropout=0",
               "--cond={p_none = 1, p_first = 0, p_first_k = 0, p_last = 0, p_first_last = 0}")
    trainer = DiTTrainer(cfg)
    for p in trainer.net.dit.final_layer.parameters():  # leave the zero init so every gradient is non-zero
        torch.nn.init.normal_(p, std=0.02)
    full = trainer.prepare(next(trainer.batches(cfg.data, 0)))
    loss_full = trainer.accumulate([full])
    grads_full = [p.grad.clone() for p in trainer.model.parameters()]
    loss_acc = trainer.accumulate(_split(full, 2))
    grads_acc = [p.grad.clone() for p in trainer.model.parameters()]
    assert loss_acc == pytest.approx(loss_full, rel=1e-5)
    for g1, g2 in zip(grads_full, grads_acc, strict=True):
        torch.testing.assert_close(g2, g1, rtol=1e-4, atol=1e-7)
    assert sum(float(g.abs().sum()) for g in grads_full) > 0


def test_text_dropout_and_conditioning_masks(vae_path, tmp_path):
    g = torch.Generator().manual_seed(0)
    assert drop_captions(["a", "b"], 1.0, g) == ["", ""] and drop_captions(["a", "b"], 0.0, g) == ["a", "b"]
    cfg = _cfg(vae_path, tmp_path, "--text_dropout=1", '--data.buckets=["9x16x16"]',
               "--cond={p_none = 0, p_first = 1, p_first_k = 0, p_last = 0, p_first_last = 0}")
    trainer = DiTTrainer(cfg)
    mb = trainer.prepare(next(trainer.batches(cfg.data, 0)))
    assert mb.captions == ["", ""] and mb.x0.shape == (2, 4, 3, 4, 4)
    assert mb.cond_mask.tolist() == [[True, False, False]] * 2

    seen = {}

    def model(xt, ft, mask):  # the exact target on generated frames, garbage on the given one
        seen.update(xt=xt, ft=ft)
        v = (mb.noise - mb.x0).clone()
        v[:, :, 0] = 1e3
        return v

    assert float(flow_loss(model, mb.x0, mb.noise, mb.time, mb.cond_mask)) == 0.0  # given frames not in the loss
    assert float(flow_loss(model, mb.x0, mb.noise, mb.time, mb.cond_mask, motion_weight=2.0)) == 0.0

    def jittery(xt, ft, mask):  # the target plus an error that changes between the generated frames
        v = (mb.noise - mb.x0).clone()
        v[:, :, 2] += 1.0
        return v

    plain = float(flow_loss(jittery, mb.x0, mb.noise, mb.time, mb.cond_mask))
    assert plain == pytest.approx(0.5)  # one of the two generated frames is off by 1
    assert float(flow_loss(jittery, mb.x0, mb.noise, mb.time, mb.cond_mask, motion_weight=2.0)) == pytest.approx(2.5)
    with pytest.raises(ConfigError, match="motion_weight"):
        _cfg(vae_path, tmp_path, "--motion_weight=-1")
    assert torch.equal(seen["xt"][:, :, 0], mb.x0[:, :, 0])  # given frames are clean (time 0)
    assert (seen["ft"][:, 0] == 0).all() and (seen["ft"][:, 1:] == mb.time[:, None]).all()


def test_latent_crop_starts_clips_mid_video(vae_path, tmp_path):
    """latent_crop=1 drops the lone-first-frame latent: the clip then starts with a 4-frame latent."""
    batches = {}
    for crop in (0, 1):
        cfg = _cfg(vae_path, tmp_path / str(crop), f"--latent_crop={crop}", '--data.buckets=["9x16x16"]')
        trainer = DiTTrainer(cfg)
        batch = next(trainer.batches(cfg.data, 0))
        batches[crop] = (trainer.prepare(batch).x0, trainer.encode(batch))
    full, cropped = batches[0][1], batches[1][0]
    assert batches[0][0].shape[2] == 3 and cropped.shape[2] == 2
    assert torch.equal(cropped, full[:, :, 1:])
    one = _cfg(vae_path, tmp_path / "img", "--latent_crop=1", '--data.buckets=["5x16x16"]')  # 2 latents: kept
    trainer = DiTTrainer(one)
    assert trainer.prepare(next(trainer.batches(one.data, 0))).x0.shape[2] == 2
    with pytest.raises(ConfigError, match="latent_crop"):
        _cfg(vae_path, tmp_path, "--latent_crop=1.5")


def test_object_weight_puts_the_loss_on_objects(vae_path, tmp_path):
    from kinema.flow import masked_mse

    cfg = _cfg(vae_path, tmp_path, "--object_weight=9", '--data.buckets=["9x16x16"]')
    trainer = DiTTrainer(cfg)
    batch = next(trainer.batches(cfg.data, 0))
    mb = trainer.prepare(batch)
    assert mb.weight is not None and mb.weight.shape == (2, 3, 4, 4)
    assert set(mb.weight.unique().tolist()) <= {1.0, 10.0} and (mb.weight == 10).any()
    pixels = batch["object_mask"]  # (2, 9, 16, 16): frame 0 -> latent 0, frames 1-4 -> 1, 5-8 -> 2
    assert torch.equal(mb.weight[:, 1, 0, 0] == 10, pixels[:, 1:5, :4, :4].flatten(1).any(1))
    # the weighted mean: errors only off the objects cost 1/10 of what they cost on them
    err = torch.zeros_like(mb.x0)
    on = (mb.weight == 10)[:, None].expand_as(err)
    err[on] = 1.0
    on_obj = masked_mse(err, torch.zeros_like(err), mb.cond_mask, mb.weight)
    off_obj = masked_mse(1.0 - err, torch.zeros_like(err), mb.cond_mask, mb.weight)
    assert float(on_obj) > float(off_obj) and float(masked_mse(err, err, None, mb.weight)) == 0.0
    ones = torch.ones_like(mb.weight)
    assert torch.allclose(masked_mse(mb.x0, mb.noise, mb.cond_mask, ones), masked_mse(mb.x0, mb.noise, mb.cond_mask))


def test_world_object_mask_covers_the_objects():
    from kinema.world import object_mask, render_clip

    clip = render_clip(3, width=64, height=64, num_frames=9)
    mask = object_mask(clip.truth)
    assert mask.shape == (9, 64, 64) and 0 < mask.mean() < 0.5
    for k, frame in enumerate(clip.truth["frames"]):
        for obj in frame["objects"]:
            if obj["bbox"] is not None:
                x, y = int(obj["x"]), int(obj["y"])
                if obj["visible_fraction"] > 0.9:
                    assert mask[k, min(max(y, 0), 63), min(max(x, 0), 63)]


def test_curriculum_switches_buckets(vae_path, tmp_path):
    cfg = _cfg(vae_path, tmp_path, "--steps=3", '--data.buckets=["5x16x16"]',
               '--curriculum=[{start = 2, buckets = ["1x16x16"]}]')
    train_dit(cfg, progress=False)
    assert [r["bucket"] for r in _logs(tmp_path)] == ["5x16x16", "5x16x16", "1x16x16"]


def test_latent_cache_for_a_video_folder(vae_path, tmp_path):
    from kinema.world.export import RenderArgs, render_folder

    render_folder(tmp_path / "clips", RenderArgs(clips=2, width=16, height=16, seconds=1.0, fps=8.0), progress=False)
    cfg = _cfg(vae_path, tmp_path / "run", "--latent_cache=true", "--data.source=videos",
               f"--data.path={tmp_path / 'clips'}", '--data.buckets=["5x16x16"]', "--data.crop=center")
    trainer = DiTTrainer(cfg)
    batch = next(trainer.batches(cfg.data, 0))
    z = trainer.encode(batch)
    assert len(trainer.latents) == 2
    direct = trainer.encode_video(batch["video"])
    assert torch.equal(z, direct) and torch.equal(trainer.encode(batch), z)
    with pytest.raises(ConfigError, match="crop"):
        DiTTrainer(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, crop="random")))


@pytest.mark.parametrize(("extra", "error", "match"), [
    (["--vae="], ConfigError, "vae is required"),
    (["--vae=/no/such/vae.safetensors"], KinemaError, "does not exist"),
    (['--data.buckets=["6x16x16"]'], ConfigError, r"1 \+ 4·k frames \(use 5 or 9\)"),
    (['--data.buckets=["5x12x16"]'], ConfigError, "multiples of 8"),
    (['--curriculum=[{start = 0, buckets = ["4x16x16"]}]'], ConfigError, r"curriculum\[0\]"),
    (["--text_dropout=1.5"], ConfigError, "text_dropout"),
    (["--grad_accum=0"], ConfigError, "grad_accum"),
])
def test_bad_configs_are_reported(vae_path, tmp_path, extra, error, match):
    with pytest.raises(error, match=match):
        train_dit(_cfg(vae_path, tmp_path, *extra), progress=False)


def test_init_from_a_model_folder(vae_path, tmp_path):
    """A new run can start from committed weights (fresh optimizer): DiT and built-in text copied."""

    folder = train_dit(_cfg(vae_path, tmp_path / "a", "--steps=2", "--sample_every=0"), progress=False)
    trainer = DiTTrainer(_cfg(vae_path, tmp_path / "b", f"--init={folder}"))
    bundle = load_bundle(folder)
    for k, v in bundle.dit.state_dict().items():
        assert torch.equal(trainer.net.dit.state_dict()[k], v), k
    for k, v in bundle.text.state_dict().items():
        assert torch.equal(trainer.net.text.state_dict()[k], v), k
    with pytest.raises(KinemaError, match="its DiT config"):
        DiTTrainer(_cfg(vae_path, tmp_path / "c", f"--init={folder}", "--dit={depth = 1}"))
    # a run may add the frame-position embedding: zero-initialised, the rest copied
    grown = DiTTrainer(_cfg(vae_path, tmp_path / "d", f"--init={folder}", "--dit={frame_pos = 4}"))
    assert grown.net.dit.cfg.frame_pos == 4
    assert not grown.net.dit.frame_pos_embedder.proj.weight.any()
    for k, v in bundle.dit.state_dict().items():
        assert torch.equal(grown.net.dit.state_dict()[k], v), k
    # a run may add blocks: they go after the folder's and start as the identity, so the deeper
    # model predicts exactly what the folder's does
    deep = DiTTrainer(_cfg(vae_path, tmp_path / "f", f"--init={folder}",
                           f"--dit={{depth = {bundle.dit.cfg.depth + 2}}}")).net.dit
    assert len(deep.blocks) == len(bundle.dit.blocks) + 2
    for k, v in bundle.dit.state_dict().items():
        assert torch.equal(deep.state_dict()[k], v), k
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, bundle.dit.cfg.in_channels, 3, 4, 4, generator=g)
    y = torch.randn(2, 5, bundle.dit.cfg.text_dim, generator=g)
    t = torch.rand(2, generator=g)
    with torch.no_grad():
        v = bundle.dit(x, t, y)
        assert v.abs().max() > 1e-3  # the trained model's output, not the zero of a fresh one
        torch.testing.assert_close(deep(x, t, y), v, rtol=0, atol=1e-6)
    # a run may read longer texts: the folder's positions are copied, so a text that fits its
    # length encodes exactly as before, and a longer one keeps its tail instead of losing it
    longer = DiTTrainer(_cfg(vae_path, tmp_path / "g", f"--init={folder}",
                             f"--text.max_length={bundle.text.max_length + 16}")).net.text
    n = bundle.text.max_length
    assert torch.equal(longer.pos[:n], bundle.text.pos) and longer.pos[n:].abs().sum() > 0
    short, long = "a red circle moves left", " ".join(["a red circle moves left"] * n)
    with torch.no_grad():
        torch.testing.assert_close(longer([short])[0], bundle.text([short])[0], rtol=0, atol=0)
        assert bundle.text([long])[1].sum() == n and longer([long])[1].sum() == n + 16
    # a run on another autoencoder (more latent channels, another patch) keeps the body and starts
    # the patch embedding and output projection afresh: it predicts exactly 0 at first
    from kinema.models.vae import VideoVAE, save_vae, vae_config

    wide = tmp_path / "vae6.safetensors"
    save_vae(VideoVAE(vae_config("tiny", latent_channels=6)), wide)
    moved = DiTTrainer(_cfg(wide, tmp_path / "e", f"--init={folder}", "--dit={patch = [1, 1, 1]}"))
    dit = moved.net.dit
    assert (dit.cfg.in_channels, dit.cfg.patch) == (6, (1, 1, 1)) and dit.x_embedder.in_features == 6
    assert not dit.final_layer.linear.weight.any() and dit.x_embedder.weight.abs().sum() > 0
    copied = [k for k in bundle.dit.state_dict() if not k.startswith(LATENT_IO_PREFIXES)]
    assert len(copied) == len(bundle.dit.state_dict()) - 4
    for k in copied:
        assert torch.equal(dit.state_dict()[k], bundle.dit.state_dict()[k]), k
    for k, v in bundle.text.state_dict().items():
        assert torch.equal(moved.net.text.state_dict()[k], v), k
    with torch.no_grad():
        out = moved.net.eval()(torch.randn(1, 6, 2, 4, 4), torch.rand(1, 2), ["a red circle"],
                               torch.zeros(1, 2, dtype=torch.bool))
    assert out.shape == (1, 6, 2, 4, 4) and not out.any()
    # ... but the body must still match
    with pytest.raises(KinemaError, match="only the latent format"):
        DiTTrainer(_cfg(wide, tmp_path / "f", f"--init={folder}", "--dit={patch = [1, 1, 1], depth = 1}"))


def test_compiled_training_matches_eager(vae_path, tmp_path):
    extra = ["--steps=3", "--data.batch_size=2", '--data.buckets=["5x16x16"]', "--curriculum=[]"]
    eager = train_dit(_cfg(vae_path, tmp_path / "eager", *extra), progress=False)
    compiled = train_dit(_cfg(vae_path, tmp_path / "compiled", *extra, "--compile=true"), progress=False)
    a, b = [r["loss"] for r in _logs(tmp_path / "eager")], [r["loss"] for r in _logs(tmp_path / "compiled")]
    assert a == pytest.approx(b, rel=1e-3)  # fp32: the same losses to kernel round-off
    sa, sb = load_dit(eager / "dit.safetensors").state_dict(), load_dit(compiled / "dit.safetensors").state_dict()
    assert sa.keys() == sb.keys()  # the export keeps the eager names (no _orig_mod. prefix)
    assert all(torch.allclose(sa[k], sb[k], atol=1e-4) for k in sa)


def test_padded_text_gives_the_same_velocity(vae_path, tmp_path):
    trainer = DiTTrainer(_cfg(vae_path, tmp_path, "--steps=1"))
    net = trainer.net.eval()
    with torch.no_grad():
        for p in net.parameters():  # away from the zero init, so the text matters
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    x, t = torch.randn(2, 4, 2, 4, 4), torch.rand(2, 2)
    captions, cond = ["a red circle", "a small blue square moves left slowly"], torch.zeros(2, 2, dtype=torch.bool)
    with torch.no_grad():
        plain = net(x, t, captions, cond)
        net.pad_text = True
        padded = net(x, t, captions, cond)
    assert torch.allclose(plain, padded, atol=1e-5) and plain.abs().mean() > 0


def test_text_identity_loss_keeps_words_apart(vae_path, tmp_path):
    """text_identity_weight: a training-only head reads token ids back from the text features; it is
    trained, logged, resumed and left out of the export; frozen encoders refuse it."""
    from kinema.models.text import TokenIdentityHead

    # the head's loss falls as features point apart: two words with the same feature cannot both be right
    head = TokenIdentityHead(8, 3)
    ids, mask = torch.tensor([[0, 1, 2]]), torch.ones(1, 3, dtype=torch.bool)
    same = torch.ones(1, 3, 8)
    feats = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    opt = torch.optim.Adam([feats, *head.parameters()], lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        head.loss(ids, feats, mask).backward()
        opt.step()
    with torch.no_grad():
        assert float(head.loss(ids, feats, mask)) < 0.1 < float(head.loss(ids, same, mask))

    extra = ["--steps=3", "--text_identity_weight=0.5"]
    full = train_dit(_cfg(vae_path, tmp_path / "full", *extra), progress=False)
    logs = _logs(tmp_path / "full")
    assert all(r["text_identity"] > 0 for r in logs) and logs[-1]["text_identity"] < logs[0]["text_identity"] + 1
    state = load_state(tmp_path / "full/state.pt")
    assert any(k.startswith("identity_head.") for k in state["model"])
    bundle = load_bundle(full)  # the export is the DiT and the text encoder only
    assert not any("identity" in k for k in bundle.dit.state_dict()) and not any("identity" in k for k in bundle.text.state_dict())
    part = _cfg(vae_path, tmp_path / "part", *extra)
    train_dit(part, stop_after=2, progress=False)
    train_dit(part, progress=False)
    assert [r["text_identity"] for r in _logs(tmp_path / "part")] == [r["text_identity"] for r in logs]
    with pytest.raises(KinemaError, match="text_identity_weight was"):
        train_dit(_cfg(vae_path, tmp_path / "part", "--steps=4"), progress=False)
    with pytest.raises(ConfigError, match="text_identity_weight"):
        _cfg(vae_path, tmp_path, "--text_identity_weight=-1")


def test_mirror_contrast_reads_left_and_right(vae_path, tmp_path):
    """The contrast (caption against its left-right mirror) leaves the flow loss as it is, is log 2 for a
    model blind to the words and lower for one that reads them, and adds its gradient in training."""
    caps = ["a red circle moves left", "a blue square", "", "A small cyan diamond on the right."]
    assert mirror_rows(caps) == ([0, 3], ["a red circle moves right", "A small cyan diamond on the left."], 2)
    assert mirror_rows(caps, 1) == ([0], ["a red circle moves right"], 1)  # a fixed count (fixed shapes)
    assert mirror_rows(caps, 3) == ([0, 3, 0], ["a red circle moves right", "A small cyan diamond on the left.",
                                                caps[0]], 2)  # padded with row 0 as it is
    cfg = _cfg(vae_path, tmp_path, "--data.batch_size=4", '--data.buckets=["5x16x16"]', "--text_dropout=0",
               "--cond={p_none = 1, p_first = 0, p_first_k = 0, p_last = 0, p_first_last = 0}")
    trainer = DiTTrainer(cfg)
    mb = dataclasses.replace(trainer.prepare(next(trainer.batches(cfg.data, 0))), captions=caps)
    alt = torch.tensor(mirror_rows(caps)[0])
    target = mb.noise - mb.x0

    def blind(xt, ft, mask):  # the same answer whatever the caption
        return torch.cat([target, target[alt]])[: xt.shape[0]] + 0.1

    loss, con = flow_losses(blind, mb.x0, mb.noise, mb.time, mb.cond_mask, alt_rows=alt)
    assert float(loss) == pytest.approx(float(flow_loss(lambda *a: target + 0.1, mb.x0, mb.noise, mb.time,
                                                        mb.cond_mask)))
    assert float(con) == pytest.approx(np.log(2))

    def reading(xt, ft, mask):  # right for the true captions, worse for the mirrored ones (the last rows)
        v = torch.cat([target, target[alt]]) + 0.1
        v[len(caps):] += 0.3
        return v

    assert float(flow_losses(reading, mb.x0, mb.noise, mb.time, mb.cond_mask, alt_rows=alt)[1]) < 0.01
    assert flow_losses(blind, mb.x0, mb.noise, mb.time, mb.cond_mask)[1] is None  # no rows: no contrast
    padded = torch.tensor([0, 3, 0])  # the padding row (last) is run but left out of the contrast

    def reading_padded(xt, ft, mask):
        v = torch.cat([target, target[padded]]) + 0.1
        v[len(caps):len(caps) + 2] += 0.3
        return v

    assert float(flow_losses(reading_padded, mb.x0, mb.noise, mb.time, mb.cond_mask, alt_rows=padded,
                             alt_count=2)[1]) < 0.01

    for p in trainer.net.dit.final_layer.parameters():  # leave the zero init so the captions matter
        torch.nn.init.normal_(p, std=0.02)
    loss_off = trainer.accumulate([mb])
    grads_off = [p.grad.clone() for p in trainer.model.parameters()]
    trainer.cfg = dataclasses.replace(cfg, mirror_contrast_weight=1.0, mirror_contrast_share=1.0)
    loss_on = trainer.accumulate([mb])
    assert loss_on == pytest.approx(loss_off, rel=1e-5)  # the logged flow loss is unchanged
    assert 0 < trainer.last_contrast < 1  # about log 2 for a model that has not learnt the words yet
    assert any(not torch.allclose(p.grad, g) for p, g in zip(trainer.model.parameters(), grads_off, strict=True))
    for bad in ("--mirror_contrast_temp=0", "--mirror_contrast_share=0", "--mirror_contrast_weight=-1"):
        with pytest.raises(ConfigError, match="mirror_contrast"):
            _cfg(vae_path, tmp_path, bad)


def test_training_with_the_mirror_contrast_logs_it(vae_path, tmp_path):
    cfg = _cfg(vae_path, tmp_path, "--steps=3", "--data.batch_size=4", "--mirror_contrast_weight=0.1",
               "--log_every=1", "--text_dropout=0")
    train_dit(cfg, progress=False)
    logs = _logs(tmp_path)
    assert len(logs) == 3 and all(0 < r["mirror_contrast"] < 1 for r in logs)
