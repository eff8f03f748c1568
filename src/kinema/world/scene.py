"""Scene description: what is in a clip, independent of resolution and frame rate.

Coordinates (world units). Lengths are in frame heights. The initial view (camera at rest,
zoom 1) is the box ``[0, aspect] x [0, 1]``, x right, y **down**; this box is also the solid
wall the objects bounce off. Times are seconds from the first frame; a scene lasts
``duration`` seconds. Positions are object centres; every object is a disc of radius
``SIZES[size] * scale`` for the physics, and is drawn as its shape scaled to that radius.

A ``Scene`` is the full, sampled description (every number fixed). A ``SceneSpec`` is a
partial one (constraints): what a prompt or a held-out combination asks for, with ``None``
meaning "sample it". ``kinema.world.sampling`` turns specs into scenes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kinema.world.vocab import SIZES


@dataclass(frozen=True)
class Action:
    """One action of an object, from ``start`` seconds until the next action starts.

    ``direction``: a ``DIRECTIONS`` key for move/bounce, a ``ROTATIONS`` key for rotate.
    ``speed``: ``"slow"`` | ``"fast"`` for move/bounce/rotate. ``say_speed``: whether the short
    caption states the speed.
    """

    motion: str
    start: float = 0.0
    direction: str | None = None
    speed: str | None = None
    say_speed: bool = False


@dataclass(frozen=True)
class SceneObject:
    """An object: appearance, start position (world units) and its actions in time order."""

    id: int
    shape: str
    colour: str
    size: str
    x: float
    y: float
    actions: tuple[Action, ...]
    say_size: bool = False
    behind: bool = False  # passes behind the occluder (the occlusion event is about it)

    @property
    def radius(self) -> float:
        """Radius in world units at scale 1."""
        return SIZES[self.size]

    @property
    def motions(self) -> tuple[str, ...]:
        return tuple(a.motion for a in self.actions)


@dataclass(frozen=True)
class Collision:
    """``hitter`` is sent at ``target``; at their first contact ``target`` turns ``colour``."""

    hitter: int
    target: int
    colour: str


@dataclass(frozen=True)
class Occluder:
    """A vertical pillar spanning the whole height, centred at world ``x``, drawn over objects."""

    x: float
    width: float


@dataclass(frozen=True)
class Background:
    """A muted background defined on the infinite world plane (so camera moves reveal it).

    ``type``: solid | gradient (``colour`` at world y=0 to ``colour2`` at y=1, vertical) |
    textured (``pattern`` checker | stripes | noise in two tones of ``colour``).
    ``period``: pattern period in world units; ``angle``: stripe direction in degrees
    (0 = vertical stripes, 90 = horizontal); ``waves``: (kx, ky, phase) plane waves of the
    smooth noise, k in radians per world unit.
    """

    type: str
    colour: str
    colour2: str | None = None
    pattern: str | None = None
    period: float = 0.125
    angle: float = 0.0
    waves: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True)
class Camera:
    """The camera: ``motion`` in ``CAMERA_MOTIONS`` and its ``rate``.

    Pans move the view centre at ``rate`` world units per second (``pan_left``: the view moves
    left, so the world shifts right on screen). Zooms scale the view by ``exp(rate * t)`` about
    its centre (``rate > 0`` zooms in).
    """

    motion: str = "static"
    rate: float = 0.0

    def at(self, t: float, aspect: float) -> tuple[float, float, float, float, float, float]:
        """``(cx, cy, zoom, vcx, vcy, zoom_rate)`` at time ``t``: view centre (world units),
        zoom, centre velocity (units/s) and d(log zoom)/dt."""
        cx, cy, zoom, vx, vy, zr = aspect / 2.0, 0.5, 1.0, 0.0, 0.0, 0.0
        if self.motion.startswith("pan_"):
            dx, dy = {"pan_left": (-1, 0), "pan_right": (1, 0), "pan_up": (0, -1), "pan_down": (0, 1)}[
                self.motion
            ]
            vx, vy = dx * self.rate, dy * self.rate
            cx, cy = cx + vx * t, cy + vy * t
        elif self.motion.startswith("zoom_"):
            zr = self.rate
            zoom = math.exp(zr * t)
        return cx, cy, zoom, vx, vy, zr


@dataclass(frozen=True)
class Scene:
    """A fully sampled scene. ``stated`` are the relations the short caption states,
    ``(i, relation, j)`` meaning "object i is <relation> object j" at the start."""

    seed: int
    split: str
    kind: str
    aspect: float
    duration: float
    background: Background
    camera: Camera
    objects: tuple[SceneObject, ...]
    occluder: Occluder | None = None
    collision: Collision | None = None
    stated: tuple[tuple[int, str, int], ...] = ()

    def relations(self) -> list[tuple[int, str, int]]:
        """The start-position relation of every pair ``i < j``: ``(i, relation, j)``."""
        objs = self.objects
        return [
            (a.id, relation(a.x, a.y, b.x, b.y), b.id)
            for k, a in enumerate(objs) for b in objs[k + 1:]
        ]


def relation(ax: float, ay: float, bx: float, by: float) -> str:
    """How a point ``a`` lies relative to ``b`` along the dominant axis (y down):
    ``"left of"`` | ``"right of"`` | ``"above"`` | ``"below"``."""
    dx, dy = bx - ax, by - ay
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


# --------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class ActionSpec:
    """A requested action; ``None`` fields are sampled."""

    motion: str
    direction: str | None = None
    speed: str | None = None
    say_speed: bool = False


@dataclass(frozen=True)
class ObjectSpec:
    """A requested object; ``None`` fields are sampled. ``actions=None``: sample them."""

    colour: str | None = None
    shape: str | None = None
    size: str | None = None
    actions: tuple[ActionSpec, ...] | None = None
    behind: bool = False
    say_size: bool | None = None


@dataclass(frozen=True)
class SceneSpec:
    """Constraints on a scene. ``objects=None``: the kind picks how many and what;
    ``stated=None``: the kind picks the relations the short caption states. ``collision``: ``(hitter, target, colour or None)`` as object indices."""

    kind: str | None = None
    objects: tuple[ObjectSpec, ...] | None = None
    stated: tuple[tuple[int, str, int], ...] | None = None
    collision: tuple[int, int, str | None] | None = None
    camera: str | None = None
