"""Sliding windows over latent frames: how a video longer than the model's window is generated.

A long video is one latent timeline of ``t`` frames. The transformer denoises a window of ``window``
latent frames at a time; each window after the first overlaps the frames already made by
``overlap`` frames, which it sees clean (the per-frame conditioning mask), so motion and identity
carry over from window to window ("looking ahead many frames at a time": every window denoises all
of its frames jointly). Frames given by the user (an image, the video being extended, the ends of
two clips to connect) are clean in every window that contains them.

    plan_windows(12, window=5, overlap=2)           -> [(0, 5), (3, 8), (6, 11), (7, 12)]
    plan_windows(12, window=5, overlap=2, reverse=True) -> [(7, 12), (4, 9), (1, 6), (0, 5)]

Windows run left to right (text-to-video, forward extension, connecting clips) or right to left
(backward extension: the given frames are at the end). The last window is pulled back to end at
the timeline's edge, so every window has exactly ``window`` frames (the size the model was
trained on) whenever the timeline is at least that long.
"""

from __future__ import annotations

from kinema.errors import KinemaError

__all__ = ["plan_windows"]


def plan_windows(frames: int, *, window: int, overlap: int, reverse: bool = False) -> list[tuple[int, int]]:
    """Half-open latent-frame ranges ``[(start, end), ...]`` covering ``range(frames)`` in order.

    Consecutive windows share at least ``overlap`` frames (more for the last, pulled-back one).
    ``frames <= window`` gives the single window ``[(0, frames)]``. ``reverse`` mirrors the plan:
    the first window ends at ``frames`` and later ones move towards 0.
    """
    for name, v in (("frames", frames), ("window", window)):
        if not isinstance(v, int) or v < 1:
            raise KinemaError(f"{name} must be an int >= 1, got {v!r}")
    if not isinstance(overlap, int) or not 0 <= overlap < window:
        raise KinemaError(f"overlap must be an int in [0, window={window}), got {overlap!r}")
    if frames <= window:
        return [(0, frames)]
    step = window - overlap
    starts = list(range(0, frames - window, step)) + [frames - window]
    plan = [(s, s + window) for s in starts]
    if reverse:
        plan = [(frames - b, frames - a) for a, b in plan]
    return plan
