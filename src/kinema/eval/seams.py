"""How visible the joins of image/video prompting are: seams, loop points, kept-frame fidelity.

A seam is where frames from two sources meet in one video (the end of a user's clip and the first
generated frame; the end of a loop and its first frame). Its score is a ratio: the change across
the seam divided by the typical (median) change between ordinary neighbouring frames around it
(within ``RADIUS`` frames on either side, seams excluded), so a clip that is still on one side and
moving on the other is judged against both. About 1 means the join is as smooth as the video
around it; much more than 1 is a visible jump.

    frame_diffs(frames)                   -> (T-1,) mean |frame[i+1] - frame[i]| in grey levels
    seam_ratio(frames, result.seams)      -> change across the seams / median change around them
    loop_seam_ratio(frames)               -> change from the last frame to the first / median change
                                             over the last and first RADIUS steps
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kinema.errors import KinemaError

__all__ = ["frame_diffs", "loop_seam_ratio", "seam_ratio"]

EPS = 0.5
"""Grey levels added to both sides of a ratio, so a still video (no change anywhere) scores 1."""

RADIUS = 4
"""Frame steps on each side of a seam that count as its ordinary neighbours."""


def _check(frames: np.ndarray, at_least: int) -> np.ndarray:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        desc = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise KinemaError(f"expected RGB frames (T, H, W, 3), got {desc}")
    if frames.shape[0] < at_least:
        raise KinemaError(f"need at least {at_least} frames, got {frames.shape[0]}")
    return frames


def frame_diffs(frames: np.ndarray) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> ``(T-1,)`` float64: mean absolute change from frame ``i`` to ``i+1``."""
    f = _check(frames, 2).astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3)).astype(np.float64)


def _around(diffs: np.ndarray, at: list[int], skip: set[int]) -> float:
    """Median of the steps within ``RADIUS`` of the steps ``at``, leaving out ``skip``."""
    near = sorted({j for i in at for j in range(i - RADIUS, i + RADIUS + 1) if 0 <= j < len(diffs)} - skip)
    return float(np.median(diffs[near])) if near else float(np.median(diffs))


def seam_ratio(frames: np.ndarray, seams: Sequence[int]) -> float:
    """Mean change across ``seams`` (frame indices ``i``: the join between ``i-1`` and ``i``)
    divided by the median change between the other neighbouring frames."""
    diffs = frame_diffs(frames)
    idx = sorted({int(i) for i in seams})
    if not idx:
        raise KinemaError("no seams to score")
    if idx[0] < 1 or idx[-1] >= len(frames):
        raise KinemaError(f"seam indices must lie in [1, {len(frames) - 1}], got {idx}")
    steps = [i - 1 for i in idx]  # step i-1 goes from frame i-1 to frame i
    across = float(np.mean(diffs[steps]))
    return (across + EPS) / (_around(diffs, steps, set(steps)) + EPS)


def loop_seam_ratio(frames: np.ndarray) -> float:
    """The change from the last frame back to the first (the loop point) divided by the median
    change between neighbouring frames at both ends: about 1 for a seamless loop."""
    f = _check(frames, 3)
    diffs = frame_diffs(f)
    wrap = float(np.abs(f[0].astype(np.float32) - f[-1].astype(np.float32)).mean())
    ends = np.concatenate([diffs[-RADIUS:], diffs[:RADIUS]])
    return (wrap + EPS) / (float(np.median(ends)) + EPS)
