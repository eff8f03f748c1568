"""The procedural world: the default training data and the oracle that scores generated videos.

A clip is sampled from an int seed (``render_clip``): 1-3 flat, saturated shapes on a muted
background, moving by simple continuous-time physics (straight moves, wall bounces, gravity,
elastic collisions that change the hit object's colour, rotation, growth), sometimes passing
behind a dark grey pillar, seen by a camera that may pan or zoom. Each clip comes with a short
prompt-like caption, a detailed caption, and exact per-frame ground truth.

Modules: ``vocab`` (words and numbers), ``scene`` (dataclasses, coordinates), ``sampling``
(kinds, weights, placement, validation), ``physics`` (240 Hz simulation), ``render``
(rasterisation + truth), ``captions`` (short, detailed, prompt parser), ``splits`` (held-out
table), ``clip`` (entry points).

Ground truth (``WorldClip.truth``), all plain JSON types:

- ``seed, split, width, height, fps, num_frames, seconds, duration, kind``
- ``background {type, colour, rgb, colour2, rgb2, pattern, period}``, ``camera {motion, speed}``
  (speed: world units/s for pans, d(log zoom)/dt for zooms), ``occluder`` (None or
  ``{name, rgb, x, width_px}``)
- ``objects [{id, shape, colour, size, radius_px, behind_occluder, actions [{motion, direction,
  speed, start}]}]``, ``collision`` (None or ``{hitter, target, colour}``)
- ``relations [{a, b, relation}]`` ("a is <relation> b" at the start, every pair)
- ``events [{frame, time, type, objects, ...}]``, type in collision | colour_change (from, to) |
  wall_bounce (wall) | floor_bounce | action_change (from, to) | occluded | reappeared; ``frame``
  is the first frame showing the event (events after the last frame are left out)
- ``held_out``: the held-out combinations present
- ``frames [{index, time, camera {offset_x, offset_y, zoom}, objects [{id, colour, rgb, x, y, vx,
  vy, angle, scale, radius_px, visible_fraction, bbox}]}]``: screen pixels with pixel (row i,
  column j) centred at (x=j, y=i); velocities in px/s on screen (camera motion included); angle
  in degrees clockwise; ``visible_fraction`` of the shape's area left visible by the frame edges,
  the occluder and objects drawn over it; ``bbox [x0, y0, x1, y1)`` of the visible pixels
  (coverage >= 0.5, end exclusive) or None; camera offsets in pixels of the zoom-1 view.
"""

from kinema.world.captions import detailed_caption, parse_prompt, short_caption
from kinema.world.clip import WorldClip, clip_from_scene, clip_seed, expand_prompt, object_mask, render_clip
from kinema.world.physics import GRAVITY, SUBSTEP_HZ, simulate
from kinema.world.render import render_scene
from kinema.world.sampling import sample_scene
from kinema.world.scene import Scene
from kinema.world.splits import HELD_OUT, held_out_combos
from kinema.world.vocab import (
    BACKGROUND_COLOURS,
    BACKGROUNDS,
    CAMERA_MOTIONS,
    COLOURS,
    DIRECTIONS,
    KINDS,
    MOTIONS,
    SHAPES,
    SIZES,
)

__all__ = [
    "BACKGROUNDS",
    "BACKGROUND_COLOURS",
    "CAMERA_MOTIONS",
    "COLOURS",
    "DIRECTIONS",
    "GRAVITY",
    "HELD_OUT",
    "KINDS",
    "MOTIONS",
    "SHAPES",
    "SIZES",
    "SUBSTEP_HZ",
    "Scene",
    "WorldClip",
    "clip_from_scene",
    "clip_seed",
    "detailed_caption",
    "expand_prompt",
    "object_mask",
    "held_out_combos",
    "parse_prompt",
    "render_clip",
    "render_scene",
    "sample_scene",
    "short_caption",
    "simulate",
]
