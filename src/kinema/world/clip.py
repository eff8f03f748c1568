"""World clips: seed -> scene -> frames + captions + truth, and prompt expansion.

``render_clip(seed, ...)`` is the one entry point for data: it validates its arguments, samples
the scene for ``(seed, split, width / height, num_frames / fps)`` and renders it. The same
arguments always give byte-identical frames, captions and truth. The scene depends on the
aspect ratio and the duration, not on the resolution or the frame rate: 96x64 and 48x32 show
the same layout, and 8 fps and 24 fps over the same seconds share one trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from kinema.errors import KinemaError
from kinema.world.captions import detailed_caption, parse_prompt, short_caption
from kinema.world.render import render_scene
from kinema.world.sampling import realise, sample_scene
from kinema.world.scene import Scene
from kinema.world.splits import held_out_combos

MAX_SIDE = 4096
MAX_FRAMES = 10_000


@dataclass
class WorldClip:
    """One rendered clip. ``frames``: uint8 (T, H, W, 3). ``truth``: JSON-serialisable dict."""

    frames: np.ndarray
    caption: str
    detailed_caption: str
    truth: dict
    scene: Scene


def clip_seed(base_seed: int, index: int) -> int:
    """The seed of clip ``index`` of a render run seeded ``base_seed`` (a SeedSequence hash, so
    nearby bases and indices give unrelated clips). A non-negative int below 2**63."""
    for name, v in (("base_seed", base_seed), ("index", index)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 0:
            raise KinemaError(f"{name} must be a non-negative int, got {v!r}")
    state = np.random.SeedSequence([int(base_seed), int(index)]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def check_render_args(width, height, fps, seconds, num_frames) -> tuple[int, int, float, int]:
    """Validate render arguments; returns ``(width, height, fps, num_frames)``."""
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 8 <= int(v) <= MAX_SIDE:
            raise KinemaError(f"{name} must be an int between 8 and {MAX_SIDE} pixels, got {v!r}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and 0 < fps <= 240):
        raise KinemaError(f"fps must be a number in (0, 240], got {fps!r}")
    if num_frames is None:
        if (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                or not (math.isfinite(seconds) and seconds > 0)):
            raise KinemaError(f"seconds must be a positive number, got {seconds!r}")
        num_frames = round(seconds * fps)
        if num_frames < 1:
            raise KinemaError(f"seconds * fps = {seconds} * {fps} rounds to 0 frames; ask for a longer clip")
    elif isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise KinemaError(f"num_frames must be an int, got {num_frames!r}")
    if not 1 <= int(num_frames) <= MAX_FRAMES:
        raise KinemaError(f"num_frames must be between 1 and {MAX_FRAMES}, got {num_frames}")
    return int(width), int(height), float(fps), int(num_frames)


def clip_from_scene(scene: Scene, *, width: int, height: int, fps: float, num_frames: int) -> WorldClip:
    """Render a scene and caption it."""
    frames, truth = render_scene(scene, width=width, height=height, fps=fps, num_frames=num_frames)
    return WorldClip(frames, short_caption(scene), detailed_caption(scene), truth, scene)


def render_clip(seed: int, *, split: Literal["train", "test"] = "train", width: int = 96, height: int = 64, fps: float = 8.0,
                seconds: float = 2.0, num_frames: int | None = None) -> WorldClip:
    """Render world clip ``seed``: ``num_frames`` frames if given, else ``round(seconds * fps)``,
    at times ``k / fps``. ``split="train"`` never shows a held-out combination; ``"test"``
    always shows at least one (``kinema.world.splits``)."""
    width, height, fps, num_frames = check_render_args(width, height, fps, seconds, num_frames)
    scene = sample_scene(seed, split=split, aspect=width / height, duration=num_frames / fps)
    return clip_from_scene(scene, width=width, height=height, fps=fps, num_frames=num_frames)


def expand_prompt(text: str, seed: int, *, width: int = 96, height: int = 64, fps: float = 8.0,
                  seconds: float = 2.0, num_frames: int | None = None) -> WorldClip | None:
    """Parse a short prompt in the world grammar, sample what it leaves open from ``seed``, and
    render it. The clip's ``caption`` restates the request in canonical form and its
    ``detailed_caption`` is the expansion. Returns None (never raises on the text) when the
    prompt does not parse or cannot be realised at this size and duration. The truth's split is
    "test" when the scene contains a held-out combination, else "train"."""
    width, height, fps, num_frames = check_render_args(width, height, fps, seconds, num_frames)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise KinemaError(f"seed must be a non-negative int, got {seed!r}")
    spec = parse_prompt(text)
    if spec is None:
        return None
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x70726F6D7074]))
    aspect, duration = width / height, num_frames / fps
    scene = realise(spec, rng, seed=int(seed), split="train", aspect=aspect, duration=duration, tries=80)
    if scene is None:
        scene = realise(spec, rng, seed=int(seed), split="train", aspect=aspect, duration=duration,
                        tries=40, strict=False)
    if scene is None:
        return None
    scene = replace(scene, split="test" if held_out_combos(scene) else "train")
    return clip_from_scene(scene, width=width, height=height, fps=fps, num_frames=num_frames)


def object_mask(truth: dict, *, dilate: int = 1) -> np.ndarray:
    """Where the objects are: bool ``(T, H, W)``, True inside each visible object's box (``bbox``
    of its pixels at least half covered), grown by ``dilate`` pixels for the anti-aliased edge.
    Training weighs these pixels' latents up (``DiTTrainConfig.object_weight``)."""
    n, h, w = truth["num_frames"], truth["height"], truth["width"]
    mask = np.zeros((n, h, w), dtype=bool)
    for k, frame in enumerate(truth["frames"]):
        for obj in frame["objects"]:
            if obj["bbox"] is None:
                continue
            x0, y0, x1, y1 = obj["bbox"]
            mask[k, max(0, y0 - dilate):min(h, y1 + dilate), max(0, x0 - dilate):min(w, x1 + dilate)] = True
    return mask
