"""Image and video prompts (kinema.conditioning + Pipeline modes), sliding windows, seam metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.conditioning import plan_extend
from kinema.data.video_io import read_video, write_video
from kinema.errors import KinemaError
from kinema.eval.seams import frame_diffs, loop_seam_ratio, seam_ratio
from kinema.flow import plan_windows
from kinema.pipeline import Pipeline, _size_for_aspect
from kinema.safety import SafetyConfig
from test_pipeline import _save_model  # the tiny random model: VAE 4x4x4, frames 1 + 4k, sizes multiples of 8

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return _save_model(tmp_path_factory.mktemp("model"))  # defaults: 16x16, 1 s at 8 fps = 9 frames = 3 latents


@pytest.fixture(scope="module")
def pipe(model_dir) -> Pipeline:
    return Pipeline.from_pretrained(model_dir, safety=SafetyConfig(enabled=False))


def _gen(pipe: Pipeline, **kw):
    kw.setdefault("expand", False)
    kw.setdefault("progress", False)
    return pipe("a blue square", **kw)


def _video(n: int, seed: int = 0, h: int = 16, w: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- windows


def test_plan_windows_cover_in_order_with_overlap():
    assert plan_windows(4, window=5, overlap=2) == [(0, 4)]
    assert plan_windows(12, window=5, overlap=2) == [(0, 5), (3, 8), (6, 11), (7, 12)]
    assert plan_windows(12, window=5, overlap=2, reverse=True) == [(7, 12), (4, 9), (1, 6), (0, 5)]
    for t in range(1, 40):
        plan = plan_windows(t, window=5, overlap=2)
        covered = set().union(*(range(a, b) for a, b in plan))
        assert covered == set(range(t))
        assert all(b - a == min(t, 5) for a, b in plan)
        assert all(p[1] - n[0] >= 2 for p, n in zip(plan, plan[1:], strict=False))  # each overlaps its previous
    with pytest.raises(KinemaError, match="overlap"):
        plan_windows(10, window=4, overlap=4)


# --------------------------------------------------------------------------- modes


def test_image_to_video_keeps_the_image_exactly(pipe):
    img = _video(1, seed=1)[0]
    r = _gen(pipe, frames=9, image=img)
    assert r.mode == "image" and r.frames.shape == (9, 16, 16, 3)
    assert np.array_equal(r.frames[0], img)
    assert r.kept == [(0, 1)] and r.seams == [1]
    assert r.fidelity_psnr is not None and np.isfinite(r.fidelity_psnr)
    # the image conditions the rest: another image gives other frames
    other = _gen(pipe, frames=9, image=_video(1, seed=2)[0])
    assert not np.array_equal(other.frames[1:], r.frames[1:])


@pytest.mark.parametrize(("n", "seconds", "added"), [(7, 1.0, 8), (1, 1.0, 8), (12, 0.5, 4)])
def test_extend_forward_holds_the_input_then_new_frames(pipe, n, seconds, added):
    vid = _video(n, seed=3)
    r = _gen(pipe, extend=vid, seconds=seconds)
    assert r.frames.shape[0] == n + added
    assert np.array_equal(r.frames[:n], vid)
    assert r.kept == [(0, n)] and r.seams == [n]


def test_extend_backward_holds_the_input_at_the_end(pipe):
    vid = _video(7, seed=4)
    r = _gen(pipe, extend=vid, direction="backward", seconds=1.0)
    assert r.frames.shape[0] == 9 + 7  # 1 + 4·(3-1) new frames, then the input
    assert np.array_equal(r.frames[-7:], vid)
    assert r.kept == [(9, 16)] and r.seams == [9]


def test_connect_puts_a_transition_between_both_inputs(pipe):
    a, b = _video(7, seed=5), _video(9, seed=6)
    r = _gen(pipe, connect=(a, b), seconds=1.0)
    assert r.frames.shape[0] == 7 + 8 + 9
    assert np.array_equal(r.frames[:7], a) and np.array_equal(r.frames[-9:], b)
    assert r.seams == [7, 15]


def test_loop_has_the_asked_length_and_its_seam_is_measured(pipe):
    r = _gen(pipe, seconds=2.0, loop=True)  # 17 frames = 5 latents: a 4-latent clip + a 1-latent transition
    assert r.mode == "loop" and r.frames.shape[0] == 17
    assert r.seams == [0, 13]
    ratio = loop_seam_ratio(r.frames)
    assert np.isfinite(ratio) and ratio > 0


def test_edit_keeps_the_input_length_and_strength_moves_away(pipe):
    vid = _video(11, seed=7)
    low = _gen(pipe, edit=vid, strength=0.05)
    high = _gen(pipe, edit=vid, strength=1.0)
    assert low.frames.shape == high.frames.shape == (9, 16, 16, 3)  # 11 frames -> the longest valid count, 9
    src = vid[:9].astype(float)
    assert np.abs(low.frames - src).mean() < np.abs(high.frames - src).mean()
    with pytest.raises(KinemaError, match="strength"):
        _gen(pipe, edit=vid, strength=0.0)


def test_long_video_is_made_window_by_window(pipe, monkeypatch):
    import kinema.pipeline as pl

    calls = []
    real = pl._sample

    def spy(dit, noise, schedule, text_cache, **kw):
        calls.append((noise.shape[2], None if kw.get("cond_mask") is None else kw["cond_mask"].clone()))
        return real(dit, noise, schedule, text_cache, **kw)

    monkeypatch.setattr(pl, "_sample", spy)
    r = _gen(pipe, seconds=4.0)  # 33 frames = 9 latents; window 3, overlap 1 -> 4 windows
    assert r.frames.shape[0] == 33 and r.settings["window"] == 3 and r.settings["overlap"] == 1
    assert [c[0] for c in calls] == [3, 3, 3, 3]
    assert calls[0][1] is None  # the first window generates everything
    assert all(c[1].tolist() == [[True, False, False]] for c in calls[1:])  # later ones see the overlap clean


def test_a_short_video_is_one_window_and_unchanged_by_the_window_code(pipe):
    a = _gen(pipe, frames=9, seed=3)
    b = _gen(pipe, frames=9, seed=3, window=6, overlap=2)
    assert np.array_equal(a.frames, b.frames)


def test_media_from_files_and_bad_inputs(pipe, tmp_path):
    path = write_video(tmp_path / "in.mp4", _video(9, seed=8, h=32, w=48), 8.0)
    r = _gen(pipe, extend=str(path), seconds=0.5)  # resized to 16x16 (the width/height asked for by default size)
    assert r.frames.shape[0] == 9 + 4
    with pytest.raises(KinemaError, match="one of"):
        _gen(pipe, image=_video(1)[0], loop=True)
    with pytest.raises(KinemaError, match="does not exist"):
        _gen(pipe, extend=str(tmp_path / "missing.mp4"))
    with pytest.raises(KinemaError, match="direction"):
        _gen(pipe, extend=_video(5), direction="sideways")
    with pytest.raises(KinemaError, match="at least 4 frames"):
        _gen(pipe, extend=_video(2), direction="backward")
    with pytest.raises(KinemaError, match="uint8"):
        _gen(pipe, image=np.zeros((16, 16, 3), dtype=np.float32))
    with pytest.raises(KinemaError, match="two videos"):
        _gen(pipe, connect=(_video(5),))
    with pytest.raises(KinemaError, match="window"):
        _gen(pipe, seconds=4.0, window=1)


def test_size_follows_the_prompt_aspect_ratio(pipe):
    assert _size_for_aspect(1.0, 64, 64, 16) == (64, 64)
    assert _size_for_aspect(1.5, 64, 64, 16) == (80, 48) or _size_for_aspect(1.5, 64, 64, 16)[0] > 64
    r = _gen(pipe, image=_video(1, h=30, w=60)[0], frames=5)
    assert r.frames.shape[2] > r.frames.shape[1]  # wider than tall, like the prompt


def test_plan_extend_backward_latents_are_mid_clip(pipe):
    calls = []

    def encode(frames):
        calls.append(len(frames))
        return pipe.encode_video(frames)

    vid = _video(9)
    plan = plan_extend(vid, 2, context=1, direction="backward", encode=encode, latent_shape=(4, 4, 4),
                       device=torch.device("cpu"), ft=4)
    assert calls == [5]  # a copy of frame 0, then the first 4 frames: latent 1 is a 4-frame (mid-clip) latent
    assert plan.mask.tolist() == [False, False, True] and plan.reverse


# --------------------------------------------------------------------------- seam metrics


def test_seam_metrics_see_jumps():
    smooth = np.stack([np.full((8, 8, 3), 10 * i, dtype=np.uint8) for i in range(10)])
    assert frame_diffs(smooth).tolist() == [10.0] * 9
    assert seam_ratio(smooth, [5]) == pytest.approx(1.0)
    jumpy = smooth.copy()
    jumpy[5:] = np.clip(jumpy[5:].astype(int) + 80, 0, 255).astype(np.uint8)
    assert seam_ratio(jumpy, [5]) > 5
    ramp = np.concatenate([smooth, smooth[::-1][1:-1]])  # 0..90..10: the last frame flows back into the first
    assert loop_seam_ratio(ramp) == pytest.approx(1.0)
    assert loop_seam_ratio(smooth) > 5  # 90 -> 0 is a jump
    with pytest.raises(KinemaError, match="seam indices"):
        seam_ratio(smooth, [0])


# --------------------------------------------------------------------------- CLI


def test_cli_modes(model_dir, tmp_path, capsys):
    src = write_video(tmp_path / "in.mp4", _video(9, seed=9), 8.0)
    out = tmp_path / "ext.mp4"
    assert main(["generate", "a blue square", "--checkpoint", str(model_dir), "--extend", str(src), "--seconds",
                 "0.5", "-o", str(out), "-q", "--no-expand"]) == 0
    assert read_video(out).shape[0] == 13
    text = capsys.readouterr().out
    assert "mode extend-forward" in text and "kept frames 0-8" in text and "seam ratio" in text
    assert main(["generate", "a blue square", "--checkpoint", str(model_dir), "--loop", "--seconds", "2",
                 "-o", str(tmp_path / "loop.mp4"), "-q", "--no-expand"]) == 0
    assert "loop seam ratio" in capsys.readouterr().out
    assert main(["generate", "a blue square", "--checkpoint", str(model_dir), "--image", str(src), "--loop",
                 "-o", str(tmp_path / "x.mp4"), "-q"]) == 2
    assert "one of" in capsys.readouterr().err


# --------------------------------------------------------------------------- WorldBench prompting section


def test_worldbench_prompting_section(pipe, tmp_path):
    from kinema.eval.prompting import MODES, format_prompting, run_prompting
    from kinema.eval.worldbench import SuiteArgs

    args = SuiteArgs(width=16, height=16, frames=9, fps=8.0)
    r = run_prompting(pipe, args, tmp_path, scenes=1, long_seconds=4.0, window_seconds=2.0, progress=False)
    assert set(r["modes"]) == set(MODES)
    for mode in ("image", "extend-forward", "extend-backward", "connect"):
        m = r["modes"][mode]
        assert m["clips"][0]["frames"] == (9 if mode == "image" else 17)
        assert np.isfinite(m["fidelity_psnr"]) and m["seam_ratio"] > 0 and m["truth_seam_ratio"] > 0
        assert any(v is not None for v in m["scores"].values())
    assert r["modes"]["loop"]["loop_seam_ratio"] > 0 and r["modes"]["loop"]["plain_t2v_wrap_ratio"] > 0
    (long,) = r["long"]
    assert long["frames"] == 33 and len(long["windows"]) == 2 and len(long["truth_windows"]) == 2
    assert long["windows"][1]["start_s"] == 2.0
    assert "extend-backward" in format_prompting(r) and len(list((tmp_path / "videos").glob("*.mp4"))) == 6  # 5 modes + the long video


def test_progress_counts_only_the_windows_that_run(pipe):
    """connect's second window is fully known once the first has run: it is skipped, and the
    callback's total counts only the steps that happen."""
    calls = []
    r = _gen(pipe, connect=(_video(7, seed=5), _video(9, seed=6)), seconds=1.0,
             callback=lambda done, total, z: calls.append((done, total)))
    assert r.frames.shape[0] == 24
    assert calls[-1][0] == calls[-1][1] == len(calls)
