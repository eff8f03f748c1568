"""The inference pipeline on a tiny random model folder: shapes for several sizes, aspect ratios and
frame counts, seconds -> frames, determinism, guidance (batching, negative prompt, guidance 1 equals a
plain un-guided denoise), the text cache built once, prompt expansion, input errors that teach,
conditioning frames, saving, loading."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kinema.data.video_io import probe, read_video
from kinema.errors import KinemaError
from kinema.flow import denoise, get_noise, get_schedule, resolution_shift
from kinema.models.bundle import ModelInfo, SamplingDefaults, load_bundle, save_bundle
from kinema.models.dit import DiT
from kinema.models.presets import dit_config
from kinema.models.text import BuiltinTextEncoder, TextConfig
from kinema.models.vae import VideoVAE, vae_config
from kinema.pipeline import (
    DEFAULT_MODEL,
    GenerationResult,
    Pipeline,
    _sample,
    frames_for_seconds,
    save_result,
)
from kinema.safety import SafetyConfig

WORLD_PROMPT = "a red circle bounces around"  # parses in the world grammar


pytestmark = pytest.mark.usefixtures("one_thread")


def _save_model(folder: Path, **info_overrides: object) -> Path:
    """A tiny random model (DiT weights moved off their zero init so text and noise matter).
    VAE tiny: 4x4x4 compression; DiT patch 1x2x2, so sizes are multiples of 8 and frames 1 + 4k."""
    torch.manual_seed(0)
    text_cfg = TextConfig(dim=32, depth=1, heads=2)
    dit = DiT(dit_config("tiny", in_channels=4, text_dim=32))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    defaults = SamplingDefaults(width=16, height=16, seconds=1.0, steps=2, guidance=3.0, solver="euler")
    info = ModelInfo(text=text_cfg, fps=8.0, defaults=defaults, **info_overrides)
    return save_bundle(folder, info=info, dit=dit, text=BuiltinTextEncoder(text_cfg), vae=VideoVAE(vae_config("tiny")))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return _save_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def pipe(model_dir) -> Pipeline:
    # safety off: these tests compare frames with the sampler's exact output, which the watermark
    # would perturb (the safety path through the pipeline is tested in tests/test_safety_*.py)
    return Pipeline.from_pretrained(model_dir, safety=SafetyConfig(enabled=False))


def _gen(pipe: Pipeline, prompt: str = "a blue square", **kw) -> GenerationResult:
    kw.setdefault("expand", False)
    kw.setdefault("progress", False)
    return pipe(prompt, **kw)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(("width", "height", "frames"), [(16, 16, 1), (16, 16, 5), (24, 16, 9), (8, 32, 5), (40, 24, 1)])
def test_output_shape_and_dtype(pipe, width, height, frames):
    r = _gen(pipe, width=width, height=height, frames=frames)
    assert r.frames.shape == (frames, height, width, 3) and r.frames.dtype == np.uint8
    assert r.fps == 8.0 and r.seed == 0
    s = r.settings
    assert (s["width"], s["height"], s["frames"], s["steps"], s["solver"]) == (width, height, frames, 2, "euler")
    assert s["latent_shape"] == [4, 1 + (frames - 1) // 4, height // 4, width // 4]
    assert set(r.timings) >= {"text_s", "sample_s", "decode_s", "total_s"}


def test_defaults_come_from_model_json(pipe):
    r = _gen(pipe)  # 16x16, 1 s at 8 fps -> 9 frames, 2 steps, guidance 3, euler
    assert r.frames.shape == (9, 16, 16, 3)
    assert r.settings["guidance"] == 3.0 and r.settings["seconds"] == 9 / 8
    tokens = 3 * 2 * 2  # latent 3x4x4, patch 1x2x2
    assert r.settings["tokens"] == tokens and r.settings["shift"] == pytest.approx(resolution_shift(tokens))


# --------------------------------------------------------------------------- seconds -> frames


@pytest.mark.parametrize(("seconds", "fps", "pt", "expected"), [
    (2.0, 8.0, 1, 17),    # 16 frames -> 17 (nearest 1 + 4k)
    (1.0, 8.0, 1, 9),     # 8 -> 9
    (1.2, 8.0, 1, 9),     # 9.6 -> 10 -> 9
    (0.75, 8.0, 1, 5),    # 6 -> 5 (6 is nearer to 5 than to 9)
    (3 / 8, 8.0, 1, 5),   # 3 -> halfway between 1 and 5: rounds up
    (0.01, 8.0, 1, 1),    # 0 frames -> at least 1 (an image)
    (1.0, 24.0, 1, 25),
    (1.0, 8.0, 2, 5),     # pt = 2: latent frames must be even (5, 13, 21, ...): 8 -> 5
    (1.5, 8.0, 2, 13),    # 12 -> 13
])
def test_frames_for_seconds(seconds, fps, pt, expected):
    assert frames_for_seconds(seconds, fps, temporal_factor=4, patch_t=pt) == expected


def test_seconds_and_fps_in_the_pipeline(pipe):
    s = pipe.check_inputs("x", seconds=2.0)
    assert s.frames == 17 and s.fps == 8.0
    s = pipe.check_inputs("x", seconds=0.5, fps=16)
    assert s.frames == 9 and s.fps == 16.0
    assert pipe.check_inputs("x", seconds=0.01).frames == 1


# --------------------------------------------------------------------------- determinism and guidance


def test_same_seed_same_frames_different_seed_differs(pipe):
    a = _gen(pipe, seed=3)
    b = _gen(pipe, seed=3)
    c = _gen(pipe, seed=4)
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)


def _record_batches(monkeypatch) -> list[int]:
    batches: list[int] = []
    forward = DiT.forward

    def spy(self, x, *args, **kwargs):
        batches.append(x.shape[0])
        return forward(self, x, *args, **kwargs)

    monkeypatch.setattr(DiT, "forward", spy)
    return batches


def test_guidance_one_equals_plain_denoise(pipe, monkeypatch):
    batches = _record_batches(monkeypatch)
    r = _gen(pipe, "a green triangle", guidance=1.0, steps=3, solver="heun", seed=5)
    assert batches and set(batches) == {1}
    # the same generation by hand: no guidance, the prompt's text only, through the flow functions
    s = pipe.check_inputs("a green triangle", guidance=1.0, steps=3, solver="heun", seed=5, expand=False)
    with torch.inference_mode():
        feats, mask = pipe.text(["a green triangle"])
        noise = get_noise((1, *s.latent_shape), seed=5)
        z = denoise(lambda x, t: pipe.dit(x, t, feats, mask), noise, get_schedule(3, shift=s.shift), solver="heun")
        video = pipe.vae.decode(pipe.vae.denormalize(z))
    expected = ((video[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    assert np.array_equal(r.frames, expected)


def test_cfg_runs_cond_and_uncond_in_one_batch(pipe, monkeypatch):
    batches = _record_batches(monkeypatch)
    _gen(pipe, guidance=4.0, steps=2, solver="euler")
    assert batches == [2, 2]


def test_negative_prompt_and_guidance_change_the_output(pipe):
    base = _gen(pipe, guidance=4.0)
    neg = _gen(pipe, guidance=4.0, negative_prompt="a yellow star")
    assert not np.array_equal(base.frames, neg.frames)
    assert neg.settings["negative_prompt"] == "a yellow star"
    # with guidance 1 the negative prompt is never used
    assert np.array_equal(_gen(pipe, guidance=1.0).frames, _gen(pipe, guidance=1.0, negative_prompt="x").frames)
    assert not np.array_equal(base.frames, _gen(pipe, guidance=1.0).frames)


def test_text_kv_cache_built_once_per_generation(pipe, monkeypatch):
    calls: list[int] = []
    encode = DiT.encode_text_kv

    def spy(self, txt, txt_mask=None):
        calls.append(txt.shape[0])
        return encode(self, txt, txt_mask)

    monkeypatch.setattr(DiT, "encode_text_kv", spy)
    _gen(pipe, guidance=4.0, steps=3, solver="heun")  # 5 forward passes
    assert calls == [2]  # prompt + negative, once
    _gen(pipe, guidance=1.0, steps=3, solver="midpoint")
    assert calls == [2, 1]


def test_callback_and_progress(pipe, capsys):
    seen: list[tuple[int, int, tuple[int, ...]]] = []
    _gen(pipe, steps=3, callback=lambda done, total, z: seen.append((done, total, tuple(z.shape))))
    assert seen == [(1, 3, (1, 4, 3, 4, 4)), (2, 3, (1, 4, 3, 4, 4)), (3, 3, (1, 4, 3, 4, 4))]
    pipe("a blue square", expand=False, steps=2, progress=True)
    assert "sampling" in capsys.readouterr().err


def test_bf16_autocast_runs(model_dir):
    pipe16 = Pipeline.from_pretrained(model_dir, dtype="bf16")
    a = _gen(pipe16, frames=5)
    assert a.frames.shape == (5, 16, 16, 3) and a.settings["dtype"] == "bfloat16"
    assert np.array_equal(a.frames, _gen(pipe16, frames=5).frames)
    with pytest.raises(KinemaError, match="dtype must be"):
        Pipeline.from_pretrained(model_dir, dtype=torch.float16)


# --------------------------------------------------------------------------- prompt expansion


def test_prompt_expansion_keeps_both_prompts(pipe):
    r = _gen(pipe, WORLD_PROMPT, expand=True, seed=2)
    assert r.prompt == WORLD_PROMPT and r.detailed_prompt != WORLD_PROMPT
    assert "red circle" in r.detailed_prompt.lower() and r.settings["detailed_prompt"] == r.detailed_prompt
    assert _gen(pipe, WORLD_PROMPT, expand=False).detailed_prompt == WORLD_PROMPT
    # the model was trained on detailed captions, so None (the default) expands
    assert pipe(WORLD_PROMPT, seed=2, progress=False, frames=1).detailed_prompt == \
        _gen(pipe, WORLD_PROMPT, expand=True, seed=2, frames=1).detailed_prompt != WORLD_PROMPT
    r = _gen(pipe, "anything", expand=True, expander=lambda p: p + ", in great detail")
    assert r.detailed_prompt == "anything, in great detail"


def test_a_prompt_longer_than_the_text_encoder_reads_is_warned_about(pipe, caplog):
    n = pipe.text.max_length
    with caplog.at_level("WARNING", logger="kinema.pipeline"):
        _gen(pipe, "a blue square", frames=1)
        assert not caplog.records
        _gen(pipe, " ".join(["a blue square"] * n) + " at the very end", frames=1)
    assert len(caplog.records) == 1
    msg = caplog.records[0].getMessage()
    assert f"reads only the first {n}" in msg and "at the very end" in msg and "prompt" in msg


def test_no_default_expansion_for_short_caption_models(pipe):
    short = Pipeline.__new__(Pipeline)
    short.__dict__.update(pipe.__dict__, info=dataclasses.replace(pipe.info, caption_field="caption"))
    assert short(WORLD_PROMPT, progress=False, frames=1).detailed_prompt == WORLD_PROMPT


# --------------------------------------------------------------------------- errors that teach


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prompt": ""}, "prompt is empty"),
    ({"prompt": "   "}, "prompt is empty"),
    ({"width": 20}, r"width=20 is not a multiple of 8 .*nearest valid widths: 16 or 24"),
    ({"height": 30}, r"height=30 .*nearest valid heights: 24 or 32"),
    ({"height": 0}, "height must be a positive int"),
    ({"width": 16.0}, "width must be a positive int"),
    ({"width": 8192}, "too large"),
    ({"frames": 10}, r"frames=10 .*1, 5, 9, .*nearest valid counts: 9 or 13"),
    ({"frames": 0}, "frames must be a positive int"),
    ({"frames": 5, "seconds": 1.0}, "seconds or frames, not both"),
    ({"seconds": -1.0}, "seconds must be a positive number"),
    ({"fps": 0}, "fps must be a number"),
    ({"frames": 4001, "width": 2048, "height": 2048}, "transformer tokens; the limit"),
    ({"steps": 0}, "steps must be an int >= 1"),
    ({"steps": 2.5}, "steps must be an int >= 1"),
    ({"guidance": -1.0}, "guidance must be a number >= 0"),
    ({"guidance": math.nan}, "guidance must be a number >= 0"),
    ({"solver": "rk4"}, "unknown solver 'rk4'; choose one of: euler, heun, midpoint"),
    ({"shift": -2.0}, "shift must be a number > 0"),
    ({"seed": -1}, "seed must be an int"),
    ({"negative_prompt": None}, "negative_prompt must be a str"),
])
def test_bad_inputs_raise_helpful_errors(pipe, kwargs, message):
    kwargs = {"prompt": "a blue square", "progress": False, **kwargs}
    with pytest.raises(KinemaError, match=message):
        pipe(kwargs.pop("prompt"), **kwargs)


def test_guidance_zero_and_explicit_shift_are_allowed(pipe):
    assert pipe.check_inputs("x", guidance=0).guidance == 0.0
    assert pipe.check_inputs("x", shift=3.0).shift == 3.0


def test_default_shift_is_clamped_for_large_videos(pipe):
    s = pipe.check_inputs("x", width=512, height=512, frames=17)  # 5 x 64 x 64 tokens
    assert s.tokens == 5 * 64 * 64 and s.shift == pytest.approx(resolution_shift(4096))


def test_from_pretrained_missing_folder_says_how_to_train(tmp_path):
    with pytest.raises(KinemaError, match=r"does not exist.*kinema train --config configs/dit_world\.toml"):
        Pipeline.from_pretrained(tmp_path / "nope")
    with pytest.raises(KinemaError, match=r"has no model\.json.*kinema train"):
        Pipeline.from_pretrained(tmp_path)
    assert DEFAULT_MODEL == Path(__file__).resolve().parents[1] / "weights" / "default"
    if not DEFAULT_MODEL.exists():
        with pytest.raises(KinemaError, match="the default model .* does not exist"):
            Pipeline.from_pretrained()


@pytest.mark.skipif(not (DEFAULT_MODEL / "model.json").is_file(), reason="no embedded default model")
def test_the_embedded_default_model_generates():
    """``make demo``'s model: loads from weights/default and makes a (short, few-step) video."""
    pipe = Pipeline.from_pretrained(safety=SafetyConfig(enabled=False))
    r = pipe("a red circle moves to the right", frames=5, steps=2, progress=False)
    assert r.frames.shape == (5, pipe.info.defaults.height, pipe.info.defaults.width, 3)
    assert r.detailed_prompt != r.prompt and "red circle" in r.detailed_prompt  # recaptioned
    assert r.frames.std() > 1  # not a blank frame


# --------------------------------------------------------------------------- conditioning and the VAE


def test_encode_video_and_conditioned_sampling(pipe):
    frames = np.random.default_rng(0).integers(0, 256, (5, 16, 24, 3), dtype=np.uint8)
    z = pipe.encode_video(frames)
    assert z.shape == (1, 4, 2, 4, 6) and z.dtype == torch.float32
    # image-to-video on top of _sample: the first latent frame is given and kept exactly
    s = pipe.check_inputs("a blue square", width=24, height=16, frames=9, expand=False)
    cond = torch.zeros(1, *s.latent_shape)
    cond[:, :, :1] = z[:, :, :1]
    mask = torch.tensor([[True, False, False]])
    with torch.inference_mode():
        cache = pipe.encode_prompt("a blue square", "", guidance=3.0)
        out = _sample(pipe.dit, get_noise((1, *s.latent_shape), seed=0), get_schedule(2), cache, guidance=3.0,
                      cond_latents=cond, cond_mask=mask)
    assert torch.equal(out[:, :, :1], z[:, :, :1]) and not torch.equal(out[:, :, 1:], cond[:, :, 1:])
    assert pipe.decode_latents(out).shape == (1, 9, 16, 24, 3)
    with pytest.raises(KinemaError, match=r"1 \+ 4·k frames .*nearest valid counts: 1 or 5"):
        pipe.encode_video(frames[:4])
    with pytest.raises(KinemaError, match="uint8 RGB frames"):
        pipe.encode_video(frames.astype(np.float32))


# --------------------------------------------------------------------------- saving


def test_save_result_mp4_png_and_nothing_else(pipe, tmp_path):
    video = _gen(pipe, width=24, height=16, frames=9)
    out = save_result(video, tmp_path / "out.mp4")
    info = probe(out)
    assert (info.frames, info.width, info.height, info.fps) == (9, 24, 16, 8.0)
    assert read_video(out).shape == (9, 16, 24, 3)
    image = _gen(pipe, frames=1)
    png = save_result(image, tmp_path / "still.png")
    assert np.array_equal(read_video(png)[0], image.frames[0])  # lossless
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "still.png"]
    with pytest.raises(KinemaError, match="holds one frame but this result has 9"):
        save_result(video, tmp_path / "bad.png")
    with pytest.raises(KinemaError, match="cannot write '.txt'"):
        save_result(video, tmp_path / "bad.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "still.png"]


def test_bundle_round_trip_matches(model_dir, pipe):
    same = Pipeline(load_bundle(model_dir), safety=SafetyConfig(enabled=False))
    assert np.array_equal(_gen(same).frames, _gen(pipe).frames)


def test_import_kinema_stays_light():
    code = "import sys, kinema; assert 'torch' not in sys.modules; from kinema import Pipeline; print(Pipeline.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Pipeline"
