"""Scene sampling: kinds and weights, constraints, placement, and checks that stated events happen.

Kinds (weights in ``vocab.KINDS``):

    single     one object, one action (move, bounce, rotate, grow, shrink or still)
    relation   2-3 objects with stated start relations; mostly still, sometimes one acts
    collision  a hitter moves at a target (still, or coming the other way); at first contact
               the target turns another colour
    occlusion  an object moves left/right, passes fully behind a pillar and comes out
    fall       an object falls under gravity and bounces on the floor
    sequence   one object, two actions in turn ("moves right, then falls")
    camera     1-2 objects with simple actions while the camera pans or zooms

Every kind but occlusion also gets a camera move with probability ``CAMERA_PROB``.

Everything is drawn from one ``numpy.random.Generator`` made from the int seed, in a fixed
order, so a seed always gives the same scene. Positions are placed analytically where they can
be (straight paths stay inside the walls; collisions are aimed so contact happens at a chosen
time; the occluded object is fully visible, fully hidden, then fully visible again), and every
candidate is then simulated: it is rejected unless the stated events happen before
``EVENT_BY * duration`` and nothing unstated happens (no unplanned wall bounce or collision,
objects never closer than ``MIN_CLEARANCE`` times the sum of their radii).

Splits: a "train" scene containing any held-out combination (``kinema.world.splits``) is
rejected and redrawn; a "test" scene is built around one held-out combination picked first.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import numpy as np

from kinema.errors import KinemaError
from kinema.world.physics import GRAVITY, GROW_RATE, MAX_SCALE, MIN_SCALE, SHRINK_RATE, simulate
from kinema.world.scene import (
    Action,
    ActionSpec,
    Background,
    Camera,
    Collision,
    ObjectSpec,
    Occluder,
    Scene,
    SceneObject,
    SceneSpec,
)
from kinema.world.splits import HELD_OUT, held_out_combos
from kinema.world.vocab import (
    BACKGROUND_COLOURS,
    BACKGROUNDS,
    CAMERA_MOTIONS,
    COLOURS,
    DIAGONALS,
    DIRECTIONS,
    KINDS,
    LIGHT_BACKGROUNDS,
    PATTERNS,
    ROTATIONS,
    SHAPE_EXTENT,
    SHAPES,
    SIZES,
    SPEEDS,
)

EDGE = 0.02  # world units kept free between a shape and the walls
CAMERA_PROB = 0.2
PAN_DISTANCE = 0.22  # world units the view travels over a clip (at most MAX_PAN_SPEED per second)
MAX_PAN_SPEED = 0.25
ZOOM_FACTOR = 1.3  # zoom change over a clip (at most MAX_ZOOM_RATE per second in log zoom)
MAX_ZOOM_RATE = 0.35
SAY_PROB = 0.35  # chance the short caption states an optional size / speed
EVENT_BY = 0.85  # stated events happen before this fraction of the duration
MIN_CLEARANCE = 1.3  # non-colliding discs stay this many radius-sums apart
MAX_TRIES = 30
MIN_DROP = 0.4  # a fall starts at least this far above the floor
MIN_EVENT_DURATION = 0.75  # shorter scenes only get kinds without events
MIN_SPAN = 2 * (SIZES["small"] * 1.25 + EDGE)  # narrower views get the fallback scene

OPPOSITE = {
    "left": "right", "right": "left", "up": "down", "down": "up",
    "up-left": "down-right", "down-right": "up-left", "up-right": "down-left", "down-left": "up-right",
}
_EVENT_KINDS = ("collision", "occlusion", "fall", "sequence")


def _pick(rng: np.random.Generator, items, p=None):
    """One item of ``items`` (a sequence), optionally weighted by ``p`` (normalised here)."""
    items = list(items)
    if p is not None:
        p = np.asarray(p, dtype=np.float64)
        p = p / p.sum()
    return items[int(rng.choice(len(items), p=p))]


# --------------------------------------------------------------------------- entry point


def sample_scene(seed: int, *, split: Literal["train", "test"] = "train", aspect: float = 1.5,
                 duration: float = 2.0) -> Scene:
    """Sample the scene of clip ``seed`` for a view ``aspect`` (width / height) wide, lasting
    ``duration`` seconds. Deterministic: same arguments, same scene. ``split="train"`` scenes
    contain no held-out combination; ``"test"`` scenes contain at least one."""
    seed, split, aspect, duration = check_scene_args(seed, split, aspect, duration)
    if min(aspect, 1.0) < MIN_SPAN:  # too narrow for any object to move freely
        return _fallback(seed, split, aspect, duration)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    for _ in range(60):
        if split == "test":
            spec = held_out_spec(rng, HELD_OUT[int(rng.integers(len(HELD_OUT)))], duration)
        else:
            spec = SceneSpec(kind=sample_kind(rng, duration))
        scene = realise(spec, rng, seed=seed, split=split, aspect=aspect, duration=duration)
        if scene is not None and bool(held_out_combos(scene)) == (split == "test"):
            return scene
    return _fallback(seed, split, aspect, duration)


def check_scene_args(seed, split, aspect, duration) -> tuple[int, str, float, float]:
    """Validate and normalise ``sample_scene``'s arguments (``KinemaError`` on bad input)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise KinemaError(f"seed must be a non-negative int, got {seed!r}")
    if split not in ("train", "test"):
        raise KinemaError(f"split must be 'train' or 'test', got {split!r}")
    if not (isinstance(aspect, (int, float)) and math.isfinite(aspect) and 0.1 <= aspect <= 10):
        raise KinemaError(f"aspect (width / height) must be between 0.1 and 10, got {aspect!r}")
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and 0 < duration <= 600):
        raise KinemaError(f"duration must be in (0, 600] seconds, got {duration!r}")
    return int(seed), split, float(aspect), float(duration)


def sample_kind(rng: np.random.Generator, duration: float) -> str:
    """A scene kind drawn with the ``KINDS`` weights (event kinds need ``MIN_EVENT_DURATION``)."""
    kinds = [k for k in KINDS if duration >= MIN_EVENT_DURATION or k not in _EVENT_KINDS]
    return _pick(rng, kinds, [KINDS[k] for k in kinds])


def _count(rng: np.random.Generator, kind: str) -> int:
    """How many objects a scene of ``kind`` gets."""
    if kind == "relation":
        return 2 if rng.random() < 0.6 else 3
    if kind == "collision":
        return 2
    if kind == "camera":
        return 1 if rng.random() < 0.5 else 2
    return 1


def held_out_spec(rng: np.random.Generator, combo: tuple[str, str, str], duration: float) -> SceneSpec:
    """A spec whose scene contains the held-out ``combo`` (a ``HELD_OUT`` row)."""
    category, first, second = combo
    if category == "colour+shape":
        kind = sample_kind(rng, duration)
        n = _count(rng, kind)
        return SceneSpec(kind=kind, objects=(ObjectSpec(colour=first, shape=second),) + (ObjectSpec(),) * (n - 1))
    if category in ("shape+motion", "colour+motion"):
        attr = {"shape": first} if category == "shape+motion" else {"colour": first}
        obj = ObjectSpec(actions=(ActionSpec(second),), **attr)
        if second == "fall":
            return SceneSpec(kind="fall", objects=(obj,))
        kind = "single" if rng.random() < 0.7 else "camera"
        n = _count(rng, kind)
        return SceneSpec(kind=kind, objects=(obj,) + (ObjectSpec(),) * (n - 1))
    rel, other = second.rsplit(" ", 1)
    return SceneSpec(kind="relation", objects=(ObjectSpec(colour=first), ObjectSpec(colour=other)),
                     stated=((0, rel, 1),))


def infer_kind(spec: SceneSpec) -> str:
    """The kind that realises a spec given without one (e.g. parsed from a prompt)."""
    objs = spec.objects or ()
    motions = [[a.motion for a in (o.actions or ())] for o in objs]
    if spec.collision is not None:
        return "collision"
    if any(o.behind for o in objs):
        return "occlusion"
    if spec.stated:
        return "relation"
    if any(len(m) >= 2 for m in motions):
        return "sequence"
    if any("fall" in m for m in motions):
        return "fall"
    if spec.camera not in (None, "static"):
        return "camera"
    return "relation" if len(objs) >= 2 else "single"


def _fallback(seed: int, split: str, aspect: float, duration: float) -> Scene:
    """A plain still scene, used only if sampling keeps failing (extreme aspect or duration)."""
    colour, shape = ("red", "triangle") if split == "test" else ("green", "circle")
    obj = SceneObject(0, shape, colour, "small", aspect / 2, 0.5, (Action("still"),))
    return Scene(seed, split, "single", aspect, duration, Background("solid", "grey"), Camera(), (obj,))


# --------------------------------------------------------------------------- realise a spec


def realise(spec: SceneSpec, rng: np.random.Generator, *, seed: int, split: str, aspect: float,
            duration: float, tries: int = MAX_TRIES, strict: bool = True) -> Scene | None:
    """Fill in everything ``spec`` leaves open and return a valid scene, or None after ``tries``
    failed candidates (``strict=False``: the last placed candidate even if it failed the checks)."""
    kind = spec.kind or infer_kind(spec)
    ospecs = spec.objects if spec.objects is not None else tuple(ObjectSpec() for _ in range(_count(rng, kind)))
    if kind == "collision" and len(ospecs) < 2:
        ospecs = tuple(ospecs) + (ObjectSpec(),) * (2 - len(ospecs))
    if kind == "occlusion" and not any(o.behind for o in ospecs):
        ospecs = (replace(ospecs[0], behind=True),) + tuple(ospecs[1:])
    moving = spec.camera not in (None, "static") or (
        spec.camera is None and (kind == "camera" or (kind != "occlusion" and rng.random() < CAMERA_PROB)))
    background = sample_background(rng, light_only=kind == "occlusion")
    last = None
    for _ in range(tries):
        objs = _fill_objects(rng, kind, ospecs, spec, duration)
        if objs is None:
            continue
        camera = make_camera(spec.camera or (_sample_camera_motion(rng, objs) if moving else "static"), duration)
        bg = background
        if camera.motion.startswith("pan_") and bg.pattern == "stripes" and bg.angle in (0.0, 90.0):
            bg = replace(bg, angle=45.0)  # stripes along the pan would hide it
        collision = None
        if kind == "collision":
            h, g, c = spec.collision or (0, 1, None)
            used = {o["colour"] for o in objs}
            collision = Collision(h, g, c or _pick(rng, [n for n in COLOURS if n not in used]))
            if collision.colour in used:
                continue
        stated = spec.stated if spec.stated is not None else _sample_stated(rng, kind, len(objs))
        placed = _place(rng, kind, objs, aspect, duration, stated, collision, relaxed=not strict)
        if placed is None:
            continue
        points, occluder = placed
        objects = tuple(
            SceneObject(i, o["shape"], o["colour"], o["size"], float(x), float(y), o["actions"],
                        say_size=o["say_size"], behind=o["behind"])
            for i, (o, (x, y)) in enumerate(zip(objs, points, strict=True))
        )
        scene = Scene(seed, split, kind, aspect, duration, bg, camera, objects, occluder,
                      collision, tuple(stated))
        last = scene
        if validate(scene):
            return scene
    return None if strict else last


def _sample_camera_motion(rng: np.random.Generator, objs: list[dict]) -> str:
    """A camera move that can keep these objects in view (a falling object ends on the floor,
    which a zoom in or an upward pan would lose)."""
    falls = any(a.motion == "fall" for o in objs for a in o["actions"])
    return _pick(rng, [m for m in CAMERA_MOTIONS[1:] if not (falls and m in ("zoom_in", "pan_up"))])


def make_camera(motion: str, duration: float) -> Camera:
    """The camera for ``motion``: pans travel ``PAN_DISTANCE``, zooms change by ``ZOOM_FACTOR``
    over the clip (capped per second for short clips, so moves stay modest)."""
    if motion.startswith("pan_"):
        return Camera(motion, min(PAN_DISTANCE / duration, MAX_PAN_SPEED))
    if motion.startswith("zoom_"):
        rate = min(math.log(ZOOM_FACTOR) / duration, MAX_ZOOM_RATE)
        return Camera(motion, rate if motion == "zoom_in" else -rate)
    return Camera()


def _luma(name: str) -> float:
    r, g, b = BACKGROUND_COLOURS[name]
    return 0.299 * r + 0.587 * g + 0.114 * b


def sample_background(rng: np.random.Generator, *, light_only: bool = False) -> Background:
    """A muted background: solid, vertical gradient, or a textured pattern in two tones."""
    names = LIGHT_BACKGROUNDS if light_only else tuple(BACKGROUND_COLOURS)
    kind = _pick(rng, BACKGROUNDS, [0.35, 0.3, 0.35])
    colour = _pick(rng, names)
    if kind == "solid":
        return Background("solid", colour)
    if kind == "gradient":
        other = [n for n in names if abs(_luma(n) - _luma(colour)) > 40]
        return Background("gradient", colour, colour2=_pick(rng, other))
    pattern = _pick(rng, PATTERNS)
    if pattern == "checker":
        return Background("textured", colour, pattern=pattern, period=float(rng.uniform(0.08, 0.16)))
    if pattern == "stripes":
        return Background("textured", colour, pattern=pattern, period=float(rng.uniform(0.08, 0.18)),
                          angle=float(_pick(rng, [0.0, 45.0, 90.0, 135.0])))
    waves = []
    for _ in range(6):
        theta, lam, phase = rng.uniform(0, 2 * math.pi), rng.uniform(0.25, 0.7), rng.uniform(0, 2 * math.pi)
        k = 2 * math.pi / lam
        waves.append((float(k * math.cos(theta)), float(k * math.sin(theta)), float(phase)))
    return Background("textured", colour, pattern="noise", period=0.5, waves=tuple(waves))


# --------------------------------------------------------------------------- objects and actions


def _default_actions(rng: np.random.Generator, kind: str, n: int, duration: float,
                     ) -> list[tuple[ActionSpec, ...]]:
    """Per-object action specs a kind draws when the spec leaves them open."""
    if kind == "single":
        m = _pick(rng, ["move", "bounce", "rotate", "grow", "shrink", "still"], [0.4, 0.14, 0.18, 0.1, 0.1, 0.08])
        return [(ActionSpec(m),)]
    if kind == "fall":
        return [(ActionSpec("fall"),)] + [(ActionSpec("still"),)] * (n - 1)
    if kind == "occlusion":
        speed = "slow" if duration >= 4.5 and rng.random() < 0.5 else "fast"
        first = (ActionSpec("move", _pick(rng, ["left", "right"]), speed),)
        return [first] + [(ActionSpec("still"),)] * (n - 1)
    if kind == "collision":
        d = _pick(rng, list(DIRECTIONS), [3, 3, 1, 1, 1, 1, 1, 1])
        hitter = (ActionSpec("move", d, _pick(rng, ["slow", "fast"], [0.3, 0.7])),)
        target = (ActionSpec("still"),) if rng.random() < 0.7 else (ActionSpec("move", OPPOSITE[d], "slow"),)
        return [hitter, target] + [(ActionSpec("still"),)] * (n - 2)
    if kind == "sequence":
        first = _pick(rng, ["still", "move", "rotate", "grow", "shrink"], [0.25, 0.35, 0.15, 0.125, 0.125])
        seconds = [m for m in ("move", "fall", "still", "rotate", "grow", "shrink") if m != first or m == "move"]
        weights = {"move": 0.3, "fall": 0.3, "still": 0.1, "rotate": 0.1, "grow": 0.1, "shrink": 0.1}
        second = _pick(rng, seconds, [weights[m] for m in seconds])
        if {first, second} == {"grow", "shrink"}:
            second = "fall"
        return [(ActionSpec(first), ActionSpec(second))]
    if kind == "relation":
        out = [(ActionSpec("still"),)] * n
        if rng.random() < 0.4:
            actor = int(rng.integers(n))
            out[actor] = (ActionSpec(_pick(rng, ["move", "rotate", "grow", "shrink"], [0.4, 0.3, 0.15, 0.15])),)
        return out
    # camera
    motions = ["still", "move", "rotate", "grow", "shrink", "bounce"]
    return [(ActionSpec(_pick(rng, motions, [0.3, 0.3, 0.15, 0.1, 0.1, 0.05])),) for _ in range(n)]


def _action_starts(rng: np.random.Generator, n: int, duration: float) -> list[float]:
    """Start times of ``n`` successive actions: 0, then evenly spread with jitter."""
    if n == 1:
        return [0.0]
    if n == 2:
        return [0.0, float(rng.uniform(0.35, 0.55) * duration)]
    return [0.0] + [float((k + rng.uniform(-0.1, 0.1)) / n * duration) for k in range(1, n)]


def _fill_action(rng: np.random.Generator, spec: ActionSpec, start: float, prev: Action | None) -> Action:
    """Sample what an action spec leaves open (direction, speed, whether the caption says it)."""
    m, d, sp = spec.motion, spec.direction, spec.speed
    if m == "move":
        options = [k for k in DIRECTIONS if prev is None or prev.motion != "move" or k != prev.direction]
        d = d or _pick(rng, options)
        sp = sp or _pick(rng, ["slow", "fast"])
    elif m == "bounce":
        d = d or _pick(rng, DIAGONALS)
        sp = sp or _pick(rng, ["slow", "fast"], [0.4, 0.6])
    elif m == "rotate":
        d = d or _pick(rng, ROTATIONS)
        sp = sp or _pick(rng, ["slow", "fast"])
    else:
        d = sp = None
    say = rng.random() < SAY_PROB
    if spec.say_speed is not None:
        say = spec.say_speed
    return Action(m, start, d, sp, say_speed=bool(say and sp is not None))


def _fill_objects(rng: np.random.Generator, kind: str, ospecs, spec: SceneSpec, duration: float,
                  ) -> list[dict] | None:
    """Colours (all distinct), shapes, sizes and actions for every object spec."""
    defaults = _default_actions(rng, kind, len(ospecs), duration)
    reserved = {o.colour for o in ospecs if o.colour} | ({spec.collision[2]} if spec.collision and spec.collision[2] else set())
    free = [c for c in COLOURS if c not in reserved]
    out = []
    for i, o in enumerate(ospecs):
        aspecs = o.actions if o.actions is not None else defaults[i]
        if o.actions is None and o.shape == "circle":  # a turning circle looks still
            aspecs = tuple(ActionSpec("move") if a.motion == "rotate" else a for a in aspecs)
        starts = _action_starts(rng, len(aspecs), duration)
        actions: list[Action] = []
        for a, t0 in zip(aspecs, starts, strict=True):
            actions.append(_fill_action(rng, a, t0, actions[-1] if actions else None))
        colour = o.colour
        if colour is None:
            if not free:
                return None
            colour = free.pop(int(rng.integers(len(free))))
        shapes = SHAPES if not any(a.motion == "rotate" for a in actions) else SHAPES[1:]
        shape = o.shape or _pick(rng, shapes)
        size_p = [0.5, 0.5, 0.0] if kind == "occlusion" else [1 / 3] * 3
        size = o.size or _pick(rng, list(SIZES), size_p)
        say_size = o.say_size if o.say_size is not None else bool(rng.random() < SAY_PROB)
        out.append({"shape": shape, "colour": colour, "size": size, "actions": tuple(actions),
                    "say_size": say_size, "behind": o.behind})
    if len({o["colour"] for o in out}) < len(out):
        return None
    return out


def _sample_stated(rng: np.random.Generator, kind: str, n: int) -> tuple[tuple[int, str, int], ...]:
    """The relations a relation scene states: (0 rel 1), and (2 rel 0 or 1) for three objects."""
    if kind != "relation" or n < 2:
        return ()
    rels = ("left of", "right of", "above", "below")
    out = [(0, _pick(rng, rels), 1)]
    if n >= 3:
        out.append((2, _pick(rng, rels), int(rng.integers(2))))
    return tuple(out)


# --------------------------------------------------------------------------- placement


def _envelope(actions: tuple[Action, ...], duration: float) -> tuple[float, float, float, float, float]:
    """Displacement bounds ``(dx_min, dx_max, dy_min, dy_max)`` of the analytic part of a path
    (until a bounce or fall hands over to the physics) and the largest scale reached."""
    x = y = 0.0
    xs, ys = [0.0], [0.0]
    scale = smax = 1.0
    for k, a in enumerate(actions):
        end = actions[k + 1].start if k + 1 < len(actions) else duration
        dt = max(end - a.start, 0.0)
        if a.motion == "move":
            ux, uy = DIRECTIONS[a.direction]
            v = SPEEDS[a.speed]
            x, y = x + ux * v * dt, y + uy * v * dt
            xs.append(x)
            ys.append(y)
        elif a.motion == "grow":
            scale = min(MAX_SCALE, scale * math.exp(GROW_RATE * dt))
            smax = max(smax, scale)
        elif a.motion == "shrink":
            scale = max(MIN_SCALE, scale * math.exp(SHRINK_RATE * dt))
        elif a.motion in ("bounce", "fall"):
            break
    return min(xs), max(xs), min(ys), max(ys), smax


def _region(o: dict, aspect: float, duration: float, relaxed: bool = False,
            ) -> tuple[float, float, float, float] | None:
    """Start positions ``(x0, x1, y0, y1)`` that keep the object's analytic path inside the walls
    (and, for a fall, start high enough to bounce in time); None if there are none
    (``relaxed``: the middle of the impossible range instead, kept inside the walls)."""
    dx0, dx1, dy0, dy1, smax = _envelope(o["actions"], duration)
    r = SIZES[o["size"]]
    rv = r * smax * SHAPE_EXTENT[o["shape"]] + EDGE
    x0, x1, y0, y1 = rv - dx0, aspect - rv - dx1, rv - dy0, 1.0 - rv - dy1
    falls = [a for a in o["actions"] if a.motion == "fall"]
    if falls:
        pre = tuple(a for a in o["actions"] if a.start < falls[0].start)
        shift = _end_displacement(pre, falls[0].start)
        t_fall = EVENT_BY * duration - falls[0].start
        drop_max = 0.5 * GRAVITY * (0.8 * t_fall) ** 2
        y0 = max(y0, 1.0 - r - drop_max - shift[1])
        y1 = min(y1, 1.0 - r - MIN_DROP - shift[1])
    if (x0 > x1 or y0 > y1) and not relaxed:
        return None
    if x0 > x1:
        x0 = x1 = min(max((x0 + x1) / 2, r), aspect - r) if aspect > 2 * r else aspect / 2
    if y0 > y1:
        y0 = y1 = min(max((y0 + y1) / 2, r), 1.0 - r)
    return x0, x1, y0, y1


def _end_displacement(actions: tuple[Action, ...], until: float) -> tuple[float, float]:
    """Displacement of the analytic path at time ``until``."""
    x = y = 0.0
    for k, a in enumerate(actions):
        end = min(actions[k + 1].start if k + 1 < len(actions) else until, until)
        if a.motion == "move":
            ux, uy = DIRECTIONS[a.direction]
            v = SPEEDS[a.speed]
            x, y = x + ux * v * (end - a.start), y + uy * v * (end - a.start)
    return x, y


def _first_wall_time(x: float, y: float, o: dict, aspect: float) -> float:
    """When a bouncing object starting at ``(x, y)`` first touches a wall."""
    a = o["actions"][0]
    ux, uy = DIRECTIONS[a.direction]
    v = SPEEDS[a.speed]
    r = SIZES[o["size"]]
    tx = ((aspect - r - x) if ux > 0 else (x - r)) / (abs(ux) * v) if ux else math.inf
    ty = ((1.0 - r - y) if uy > 0 else (y - r)) / (abs(uy) * v) if uy else math.inf
    return a.start + min(tx, ty)


def _vis_radius(o: dict) -> float:
    return SIZES[o["size"]] * SHAPE_EXTENT[o["shape"]]


def _clearly(p: tuple[float, float], q: tuple[float, float], rel: str, gap: float) -> bool:
    """Whether ``p`` is clearly ``rel`` ``q``: at least ``gap`` apart along the relation's axis and
    1.5 times more along it than across."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    along, across = {"left of": (dx, dy), "right of": (-dx, dy), "above": (dy, dx), "below": (-dy, dx)}[rel]
    return along >= gap and along >= 1.5 * abs(across)


def _place(rng, kind, objs, aspect, duration, stated, collision, relaxed: bool = False):
    """Start positions for ``objs`` (and the occluder), or None if this draw found none.
    ``relaxed``: when no placement meets every constraint, a best effort inside the walls."""
    if kind == "collision":
        return _place_collision(rng, objs, aspect, duration, collision)
    if kind == "occlusion":
        return _place_occlusion(rng, objs, aspect, duration)
    points = _place_free(rng, objs, aspect, duration, stated, relaxed=relaxed)
    return None if points is None else (points, None)


def _inside(p, region) -> bool:
    return region[0] <= p[0] <= region[1] and region[2] <= p[1] <= region[3]


def _apart(points, objs, factor: float = 1.5) -> bool:
    """Whether every pair of start positions is at least ``factor`` visual radius-sums apart."""
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            d = math.dist(points[i], points[j])
            if d < factor * (_vis_radius(objs[i]) + _vis_radius(objs[j])):
                return False
    return True


def _place_free(rng, objs, aspect, duration, stated, tries: int = 80, relaxed: bool = False):
    """Positions inside each object's region, with the stated relations holding clearly."""
    regions = [_region(o, aspect, duration, relaxed) for o in objs]
    if any(r is None for r in regions):
        return None
    pts: list = []
    for _ in range(tries):
        pts: list[tuple[float, float] | None] = [None] * len(objs)
        ok = True
        for i, rel, j in stated:
            if pts[j] is None:
                pts[j] = (rng.uniform(regions[j][0], regions[j][1]), rng.uniform(regions[j][2], regions[j][3]))
            gap = _vis_radius(objs[i]) + _vis_radius(objs[j]) + 0.06
            along = rng.uniform(gap, gap + 0.5)
            across = rng.uniform(-along / 1.7, along / 1.7)
            ux, uy = {"left of": (-1, 0), "right of": (1, 0), "above": (0, -1), "below": (0, 1)}[rel]
            p = (pts[j][0] + ux * along - uy * across, pts[j][1] + uy * along + ux * across)
            if pts[i] is None:
                pts[i] = p
            ok = ok and _clearly(pts[i], pts[j], rel, gap)
        for i, o in enumerate(objs):
            reg = regions[i]
            if pts[i] is None:
                pts[i] = (rng.uniform(reg[0], reg[1]), rng.uniform(reg[2], reg[3]))
            ok = ok and _inside(pts[i], reg)
            if o["actions"][0].motion == "bounce":
                ok = ok and _first_wall_time(*pts[i], o, aspect) <= 0.6 * EVENT_BY * duration
        if ok and _apart(pts, objs):
            return pts
    if relaxed:
        return [(min(max(x, _vis_radius(o)), aspect - _vis_radius(o)), min(max(y, _vis_radius(o)), 1 - _vis_radius(o)))
                for (x, y), o in zip(pts, objs, strict=True)]
    return None


def _place_collision(rng, objs, aspect, duration, collision, tries: int = 80):
    """Aim the hitter at the target so they touch at a chosen time in the first half."""
    h, g = collision.hitter, collision.target
    ah, ag = objs[h]["actions"][0], objs[g]["actions"][0]
    if ah.motion != "move" or ag.motion not in ("still", "move"):
        return None
    ux, uy = DIRECTIONS[ah.direction]
    vh = SPEEDS[ah.speed]
    vg = 0.0
    if ag.motion == "move":
        gx, gy = DIRECTIONS[ag.direction]
        if abs(gx + ux) > 1e-6 or abs(gy + uy) > 1e-6:
            return None  # the target must come the other way
        vg = SPEEDS[ag.speed]
    rs = SIZES[objs[h]["size"]] + SIZES[objs[g]["size"]]
    if 2 * (_vis_radius(objs[g]) + EDGE) > min(aspect, 1.0):
        return None
    for _ in range(tries):
        tc = rng.uniform(0.25, 0.5) * duration
        b = rng.uniform(-0.35, 0.35) * rs
        along = (vh + vg) * tc + math.sqrt(rs * rs - b * b)
        mg = _vis_radius(objs[g]) + EDGE
        mh = _vis_radius(objs[h]) + EDGE
        pg = (rng.uniform(mg, aspect - mg), rng.uniform(mg, 1.0 - mg))
        ph = (pg[0] - ux * along - uy * b, pg[1] - uy * along + ux * b)  # b across the line of motion
        ends = [(ph, mh), ((ph[0] + ux * vh * tc, ph[1] + uy * vh * tc), mh),
                ((pg[0] - ux * vg * tc, pg[1] - uy * vg * tc), mg)]
        if all(m <= p[0] <= aspect - m and m <= p[1] <= 1.0 - m for p, m in ends):
            pts = [None] * len(objs)
            pts[h], pts[g] = ph, pg
            others = [i for i in range(len(objs)) if pts[i] is None]
            for i in others:  # extra objects: anywhere free
                reg = _region(objs[i], aspect, duration)
                if reg is None:
                    return None
                pts[i] = (rng.uniform(reg[0], reg[1]), rng.uniform(reg[2], reg[3]))
            if not others or _apart(pts, objs, 1.2):
                return pts, None
    return None


def _place_occlusion(rng, objs, aspect, duration, tries: int = 40):
    """A pillar wide enough to hide the moving object fully for a while, placed on its path so it
    starts fully visible and is fully out again before ``EVENT_BY * duration``."""
    k = next(i for i, o in enumerate(objs) if o["behind"])
    o = objs[k]
    a = o["actions"][0]
    if len(o["actions"]) != 1 or a.motion != "move" or a.direction not in ("left", "right"):
        return None
    v = SPEEDS[a.speed]
    r = SIZES[o["size"]]
    re = _vis_radius(o)
    width = 2 * re + max(0.05, 0.2 * v)  # hidden completely for >= 0.2 s
    lo, hi = r + EDGE, aspect - r - EDGE - v * duration  # start x (moving right) that never hits a wall
    for _ in range(tries):
        if lo > hi:
            return None
        x0 = rng.uniform(lo, hi)
        c_lo = x0 + v * 0.1 + width / 2 + re
        c_hi = x0 + v * EVENT_BY * duration - width / 2 - re
        if c_lo > c_hi:
            return None
        cx = rng.uniform(c_lo, c_hi)
        if a.direction == "left":
            x0, cx = aspect - x0, aspect - cx
        y0 = rng.uniform(re + EDGE, 1.0 - re - EDGE)
        pts = [None] * len(objs)
        pts[k] = (x0, y0)
        ok = True
        for i, other in enumerate(objs):  # others: still, clear of the pillar and the path
            if i == k:
                continue
            ro = _vis_radius(other)
            reg = _region(other, aspect, duration)
            if reg is None:
                return None
            pts[i] = (rng.uniform(reg[0], reg[1]), rng.uniform(reg[2], reg[3]))
            ok = ok and abs(pts[i][0] - cx) > width / 2 + ro + EDGE and abs(pts[i][1] - y0) > 1.5 * (ro + re)
        if ok and _apart(pts, objs):
            return pts, Occluder(float(cx), float(width))
    return None


# --------------------------------------------------------------------------- validation


def validate(scene: Scene) -> bool:
    """Simulate ``scene`` and check that what the captions will state happens, and nothing else:
    the planned collision first (between 10% and 70% of the clip), a wall bounce for every
    bounce action and a floor bounce for every fall before ``EVENT_BY``, no other wall contact
    before a collision, and otherwise no collision and no near-contact; with a moving camera,
    every object's disc stays in view."""
    d = scene.duration
    moving_camera = scene.camera.motion != "static"
    times = np.linspace(0.0, d, max(2, int(d * 10) + 1)) if moving_camera else [d]
    traj = simulate(scene, times)
    if moving_camera and not _stays_in_view(scene, traj):
        return False
    events = traj.events
    hit_time = math.inf
    if scene.collision is not None:
        hits = [e for e in events if e["type"] == "collision"]
        if not hits or set(hits[0]["objects"]) != {scene.collision.hitter, scene.collision.target}:
            return False
        hit_time = hits[0]["time"]
        if not 0.1 * d <= hit_time <= 0.7 * d:
            return False
    elif any(e["type"] == "collision" for e in events) or traj.min_clearance < MIN_CLEARANCE:
        return False
    for o in scene.objects:
        acts = o.actions
        windows = [(a, a.start, acts[k + 1].start if k + 1 < len(acts) else d) for k, a in enumerate(acts)]
        mine = [e for e in events if e["objects"] == [o.id] and e["type"] in ("wall_bounce", "floor_bounce")]
        for e in mine:
            if e["time"] >= hit_time:
                continue
            active = next(a for a, t0, t1 in reversed(windows) if e["time"] >= t0)
            if e["type"] == "wall_bounce" and active.motion != "bounce":
                return False
        for a, t0, t1 in windows:
            end = min(t1, EVENT_BY * d)
            want = {"bounce": "wall_bounce", "fall": "floor_bounce"}.get(a.motion)
            if want and not any(e["type"] == want and t0 <= e["time"] <= end for e in mine):
                return False
    return True


def _stays_in_view(scene: Scene, traj) -> bool:
    """Whether every object's disc stays inside the moving view."""
    for k, t in enumerate(traj.times):
        cx, cy, zoom, *_ = scene.camera.at(float(t), scene.aspect)
        half_w, half_h = scene.aspect / (2 * zoom), 1.0 / (2 * zoom)
        for i, o in enumerate(scene.objects):
            r = o.radius * traj.scale[k, i]
            x, y = traj.pos[k, i]
            if abs(x - cx) > half_w - r or abs(y - cy) > half_h - r:
                return False
    return True
