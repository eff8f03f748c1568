"""The generated-video detector: the packaged weights load and score, world renders score as real,
ROC AUC is computed right, and training on a tiny folder separates its two kinds of clips."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from kinema.data.video_io import write_video
from kinema.errors import KinemaError
from kinema.pipeline import DEFAULT_MODEL, Pipeline
from kinema.safety.config import SafetyConfig
from kinema.safety.detector import Detector, clip_features, roc_auc, train_detector
from kinema.world import render_clip


def _world(seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    return render_clip(seed, split="test", width=w, height=h, fps=8.0, num_frames=17).frames


def test_packaged_detector_loads_and_scores():
    det = Detector.load()
    assert (
        det.metadata["format"] == "kinema.detector.v1" and "auc_unseen_checkpoint" in det.metadata["heldout"]
    )
    scores = [det.score(_world(s, 64, 64 if s % 2 else 96)) for s in range(6)]
    assert all(0.0 <= p <= 1.0 for p in scores)
    assert np.mean(scores) < 0.5  # world renders are real footage to the detector


def test_features_are_size_independent_in_length():
    a, b = clip_features(_world(0)), clip_features(_world(1, 64, 96))
    assert a.shape == b.shape and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert clip_features(_world(2)[:1]).shape == a.shape  # a still image works too
    with pytest.raises(KinemaError, match="at least 16x16"):
        clip_features(np.zeros((2, 8, 8, 3), np.uint8))


def test_roc_auc():
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.9]), np.array([1, 0])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    with pytest.raises(KinemaError):
        roc_auc(np.array([0.5]), np.array([1]))


def _blur(frames: np.ndarray) -> np.ndarray:
    """A stand-in for "generated": a 3x3 box blur plus a little per-frame noise."""
    x = frames.astype(np.float32)
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    y = sum(p[:, i : i + x.shape[1], j : j + x.shape[2]] for i in range(3) for j in range(3)) / 9
    return np.clip(y, 0, 255).astype(np.uint8)


def test_train_detector_on_a_tiny_folder(tmp_path):
    rows = []
    for i in range(16):
        clip = _world(200 + i)
        for label, frames, group in (
            (0, clip, "world"),
            (1, _blur(clip), "gen_seen" if i < 12 else "gen_unseen"),
        ):
            path = tmp_path / group / f"{i}.mp4"
            write_video(path, frames, 8.0)
            split = "train" if i < 10 else "test"
            rows.append([str(path.relative_to(tmp_path)), label, group, split])
    rows.append([rows[0][0], 0, "real", "test"])
    with open(tmp_path / "clips.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path", "label", "group", "split"], *rows])
    report = train_detector(tmp_path, tmp_path / "det.safetensors", epochs=200)
    assert report["auc_all"] > 0.9 and report["auc_unseen_checkpoint"] > 0.9
    det = Detector.load(tmp_path / "det.safetensors")
    assert det.score(_blur(_world(300))) > det.score(_world(300))


def test_missing_weights_or_folder_are_clear_errors(tmp_path):
    with pytest.raises(KinemaError, match="train-detector"):
        Detector.load(tmp_path / "none.safetensors")
    with pytest.raises(KinemaError, match="detector_data.py"):
        train_detector(tmp_path)


@pytest.mark.skipif(not (DEFAULT_MODEL / "model.json").is_file(), reason="no embedded default model")
def test_packaged_detector_flags_the_default_models_videos():
    """The pixels alone (no watermark) of what ``kinema generate`` makes by default score as
    generated: retrain the detector (scripts/detector_data.py) when the default model changes."""
    pipe = Pipeline.from_pretrained(threads=1, safety=SafetyConfig(enabled=False))
    det = Detector.load()
    scores = []
    for seed, (h, w) in enumerate(((64, 64), (64, 96), (64, 64), (64, 96))):
        prompt = render_clip(40_000 + seed, width=w, height=h).caption
        r = pipe(prompt, width=w, height=h, frames=17, seed=seed, progress=False)
        scores.append(det.score(r.frames))
    assert np.mean(scores) > 0.5, scores
