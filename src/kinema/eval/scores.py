"""WorldBench scores: how well a video shows the scene it should, per dimension, in [0, 1].

``score_clip(video, truth)`` compares a video (uint8 ``(T, H, W, 3)``) with a world clip's
ground truth (``kinema.world`` truth dict, same frame count and size); ``score_caption(video,
caption)`` scores only what a short caption implies; ``score_windows`` scores consecutive
windows of a long video (drift over a minute). A dimension the scene does not exercise is
``None`` (N/A), never 1.0. Objects are found with ``kinema.eval.track`` (colour segmentation,
soft coverage, template-matched shapes; identity = colour). Frames are compared with the truth
frame by frame; "visible" means the truth's ``visible_fraction >= VIS``.

Dimensions (each the mean of per-item scores over the clip):

- ``colour``: each visible object shows as a blob of its (current) colour of >= 25% its area.
- ``shape``: the blob's template-matched shape is the object's (objects >= 3.5 px radius,
  >= 95% visible; a blob that fits no shape scores 0).
- ``count``: the number of blobs equals the number of visible objects (frames where every
  object is clearly in or out of view).
- ``size``: the blob's radius matches the truth's (grow/shrink and zoom included): 1 within
  10%, falling to 0 at 50%.
- ``relation``: for every pair both visible and clearly apart along one axis, the blobs' left
  of / right of / above / below equals the truth's.
- ``direction``: the blob's displacement over a short lag (>= 2 px in the truth) points within
  ~45 degrees of the truth's (camera motion included: screen space).
- ``speed``: the length of that displacement matches: 1 within 20%, 0 beyond ~2x.
- ``physics``: gravity (second differences of y during falls within 30% of the simulator's)
  times the bounce law (floor bounces keep the restitution, wall bounces reverse the normal
  velocity at equal speed), each measured like the truth's own discrete values.
- ``collision`` (cause and effect): the hit object's colour is the old one before and the new
  one after the contact frame, times whether the new colour first appears while the two
  objects touch.
- ``permanence``: an object that passes behind the pillar is seen on the near side before and
  on the far side after (product of the two fractions).
- ``camera``: per frame pair, the background motion measured by ``track.camera_motion`` matches
  the truth's pan direction and speed, zoom sign and rate, or stillness (textured backgrounds
  only: a plain or gradient background does not show a pan).
- ``stability``: geometric mean of identity persistence (found in consecutive frames without
  jumps beyond the truth's motion), shape consistency (the same fitted shape in every frame)
  and flicker (background residual after camera compensation; 1 below 2 grey levels, 0 at 10).

A single image (one frame) is scored on what one frame shows: colour, shape, count, size and
relation; the motion and stability dimensions are N/A.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from kinema.errors import KinemaError
from kinema.eval.track import Detection, camera_motion, detect, object_mask, unit_area
from kinema.world.physics import GRAVITY
from kinema.world.scene import relation as relation_of

DIMENSIONS: tuple[str, ...] = (
    "colour",
    "shape",
    "count",
    "size",
    "relation",
    "direction",
    "speed",
    "physics",
    "collision",
    "permanence",
    "camera",
    "stability",
)
#: The dimensions a short caption alone can be scored on (``score_caption``).
CAPTION_DIMENSIONS: tuple[str, ...] = ("colour", "shape", "count", "relation", "direction", "camera")

VIS = 0.9
FULL = 0.95
HIDDEN = 0.02
MIN_SHAPE_PX = 3.5
PRESENT = 0.25  # a blob of >= this fraction of the expected area counts as the object


def _soft(err: float, ok: float, zero: float) -> float:
    """1 for ``err <= ok``, linearly down to 0 at ``zero``."""
    return float(np.clip(1.0 - (err - ok) / (zero - ok), 0.0, 1.0))


def _mean(items: list[float]) -> float | None:
    return float(np.mean(items)) if items else None


@dataclass
class _Clip:
    """A video with its detections and truth, shared by the dimension scorers."""

    video: np.ndarray  # (T, H, W, 3)
    truth: dict
    dets: list[list[Detection]]  # per frame, by decreasing area
    frames: list[dict]  # truth frames
    shapes: list[str]  # truth shape per object id

    def expected_area(self, k: int, i: int) -> float:
        o = self.frames[k]["objects"][i]
        return unit_area(self.shapes[i]) * o["radius_px"] ** 2

    def find(self, k: int, i: int, colour: str | None = None) -> Detection | None:
        """The largest blob of object ``i``'s colour in frame ``k`` (>= PRESENT of its area)."""
        colour = colour or self.frames[k]["objects"][i]["colour"]
        need = max(PRESENT * self.expected_area(k, i), 3.0)
        for d in self.dets[k]:
            if d.colour == colour and d.area >= need:
                return d
        return None

    def vis(self, k: int, i: int) -> float:
        return self.frames[k]["objects"][i]["visible_fraction"]

    def pos(self, k: int, i: int) -> np.ndarray:
        o = self.frames[k]["objects"][i]
        return np.asarray([o["x"], o["y"]])


def check_video(video: np.ndarray, truth: dict | None = None) -> np.ndarray:
    """Validate a video (uint8 (T, H, W, 3)) against the truth's frame count and size."""
    if (
        not isinstance(video, np.ndarray)
        or video.ndim != 4
        or video.shape[-1] != 3
        or video.dtype != np.uint8
    ):
        got = getattr(video, "shape", type(video).__name__)
        raise KinemaError(f"a video to score must be a uint8 array (T, H, W, 3), got {got}")
    if truth is not None:
        t, h, w = len(truth["frames"]), truth["height"], truth["width"]
        if video.shape[:3] != (t, h, w):
            raise KinemaError(
                f"video is {video.shape[0]} frames of {video.shape[2]}x{video.shape[1]} but its truth describes "
                f"{t} frames of {w}x{h}: render or generate the clip at the truth's size and length"
            )
    return video


def _build(video: np.ndarray, truth: dict) -> _Clip:
    check_video(video, truth)
    frames = truth["frames"]
    shapes = [o["shape"] for o in truth["objects"]]
    min_r = min((o["radius_px"] for f in frames for o in f["objects"]), default=4.0)
    min_area = max(2.0, PRESENT * unit_area("circle") * min_r**2 * 0.8)
    dets = [detect(f, min_area=min_area) for f in video]
    return _Clip(video, truth, dets, frames, shapes)


# --------------------------------------------------------------------------- dimensions


def _colour(c: _Clip) -> float | None:
    items = [
        float(c.find(k, i) is not None)
        for k in range(len(c.frames))
        for i in range(len(c.shapes))
        if c.vis(k, i) >= VIS
    ]
    return _mean(items)


def _shape_items(c: _Clip, per_object: int = 8) -> dict[int, list[tuple[int, str | None]]]:
    """Per object: (frame, fitted shape or None) for up to ``per_object`` eligible frames."""
    out: dict[int, list[tuple[int, str | None]]] = {}
    for i in range(len(c.shapes)):
        ks = [
            k
            for k in range(len(c.frames))
            if c.vis(k, i) >= FULL and c.frames[k]["objects"][i]["radius_px"] >= MIN_SHAPE_PX
        ]
        if len(ks) > per_object:
            ks = [ks[j] for j in np.linspace(0, len(ks) - 1, per_object).round().astype(int)]
        items = []
        for k in ks:
            d = c.find(k, i)
            items.append((k, None if d is None else d.shape()[0]))
        if items:
            out[i] = items
    return out


def _shape(c: _Clip, items: dict[int, list[tuple[int, str | None]]]) -> float | None:
    return _mean([float(s == c.shapes[i]) for i, lst in items.items() for _, s in lst])


def _count(c: _Clip) -> float | None:
    items = []
    for k, f in enumerate(c.frames):
        vis = [o["visible_fraction"] for o in f["objects"]]
        if any(HIDDEN < v < VIS for v in vis):
            continue
        expected = sum(v >= VIS for v in vis)
        need = max(PRESENT * min(c.expected_area(k, i) for i in range(len(vis))), 3.0)
        measured = sum(d.area >= need for d in c.dets[k])
        items.append(float(measured == expected))
    return _mean(items)


def _size(c: _Clip) -> float | None:
    items = []
    for k in range(len(c.frames)):
        for i in range(len(c.shapes)):
            if c.vis(k, i) < FULL:
                continue
            d = c.find(k, i)
            if d is None:
                items.append(0.0)
                continue
            ratio = d.radius(c.shapes[i]) / c.frames[k]["objects"][i]["radius_px"]
            items.append(_soft(abs(math.log(max(ratio, 1e-6))), 0.1, 0.4))
    return _mean(items)


def _relation(c: _Clip) -> float | None:
    items = []
    n = len(c.shapes)
    for k in range(len(c.frames)):
        for i in range(n):
            for j in range(i + 1, n):
                if c.vis(k, i) < VIS or c.vis(k, j) < VIS:
                    continue
                (ax, ay), (bx, by) = c.pos(k, i), c.pos(k, j)
                dx, dy = abs(bx - ax), abs(by - ay)
                gap = c.frames[k]["objects"][i]["radius_px"] + c.frames[k]["objects"][j]["radius_px"]
                if max(dx, dy) < 1.5 * min(dx, dy) or max(dx, dy) < gap:
                    continue  # not clearly along one axis
                want = relation_of(ax, ay, bx, by)
                di, dj = c.find(k, i), c.find(k, j)
                got = None if di is None or dj is None else relation_of(di.x, di.y, dj.x, dj.y)
                items.append(float(got == want))
    return _mean(items)


def _motion_items(c: _Clip) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(truth displacement, measured displacement or None) over the shortest lag (1-4 frames)
    that moves the object >= 2 px, from every frame where it stays visible."""
    out = []
    n_t = len(c.frames)
    for i in range(len(c.shapes)):
        for k in range(n_t - 1):
            for lag in range(1, 5):
                if k + lag >= n_t or any(c.vis(q, i) < VIS for q in range(k, k + lag + 1)):
                    break
                dt = c.pos(k + lag, i) - c.pos(k, i)
                if np.hypot(*dt) >= 2.0:
                    d0, d1 = c.find(k, i), c.find(k + lag, i)
                    dm = None if d0 is None or d1 is None else np.asarray([d1.x - d0.x, d1.y - d0.y])
                    out.append((dt, dm))
                    break
    return out


def _direction(items) -> float | None:
    scores = []
    for dt, dm in items:
        if dm is None or np.hypot(*dm) < 0.3:
            scores.append(0.0)
            continue
        cos = float(dt @ dm) / (np.hypot(*dt) * np.hypot(*dm))
        scores.append(float(cos >= 0.7))
    return _mean(scores)


def _speed(items) -> float | None:
    scores = []
    for dt, dm in items:
        if dm is None:
            scores.append(0.0)
            continue
        ratio = max(np.hypot(*dm), 1e-3) / np.hypot(*dt)
        scores.append(_soft(abs(math.log(ratio)), math.log(1.2), math.log(2.2)))
    return _mean(scores)


def _windows(c: _Clip, i: int, motion: str) -> list[int]:
    """Frames during which object ``i``'s action is ``motion``."""
    acts = c.truth["objects"][i]["actions"]
    out = []
    for k, f in enumerate(c.frames):
        t = f["time"]
        current = [a for a in acts if a["start"] <= t + 1e-6]
        if current and current[-1]["motion"] == motion:
            out.append(k)
    return out


def _ys(c: _Clip, i: int, ks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Truth and measured (NaN where not found/visible) positions (len(ks), 2)."""
    tr = np.asarray([c.pos(k, i) for k in ks])
    me = np.full_like(tr, np.nan)
    for q, k in enumerate(ks):
        d = c.find(k, i) if c.vis(k, i) >= VIS else None
        if d is not None:
            me[q] = (d.x, d.y)
    return tr, me


def _physics(c: _Clip) -> float | None:
    fps, h = c.truth["fps"], c.truth["height"]
    events = c.truth["events"]
    per_object = []
    for i in range(len(c.shapes)):
        grav, bounces = [], []
        fall = _windows(c, i, "fall")
        if fall:
            tr, me = _ys(c, i, list(range(len(c.frames))))
            bounce_frames = {e["frame"] for e in events if e["type"] == "floor_bounce" and i in e["objects"]}
            fset = set(fall)
            for k in range(1, len(c.frames) - 1):
                if not {k - 1, k, k + 1} <= fset or k in bounce_frames or k + 1 in bounce_frames:
                    continue
                at = (tr[k + 1, 1] - 2 * tr[k, 1] + tr[k - 1, 1]) * fps * fps
                g = GRAVITY * h * c.frames[k]["camera"]["zoom"]
                if at < 0.5 * g:
                    continue  # resting on the floor
                am = (me[k + 1, 1] - 2 * me[k, 1] + me[k - 1, 1]) * fps * fps
                grav.append(0.0 if np.isnan(am) else _soft(abs(am - at) / at, 0.15, 0.45))
        if fall or _windows(c, i, "bounce"):
            tr, me = _ys(c, i, list(range(len(c.frames))))
            for e in events:
                if e["type"] not in ("floor_bounce", "wall_bounce") or i not in e["objects"]:
                    continue
                f = e["frame"]
                if f < 2 or f + 1 >= len(c.frames):
                    continue
                axis = 0 if e.get("wall") in ("left", "right") else 1
                before_t, after_t = tr[f - 1, axis] - tr[f - 2, axis], tr[f + 1, axis] - tr[f, axis]
                if abs(before_t) < 1.0 or abs(after_t) < 1.0:
                    continue  # settling on the floor: too small to measure
                before_m, after_m = me[f - 1, axis] - me[f - 2, axis], me[f + 1, axis] - me[f, axis]
                if (
                    np.isnan(before_m)
                    or np.isnan(after_m)
                    or np.sign(before_m) != np.sign(before_t)
                    or np.sign(after_m) != np.sign(after_t)
                ):
                    bounces.append(0.0)
                    continue
                ratio_t, ratio_m = abs(after_t / before_t), abs(after_m / max(abs(before_m), 1e-3))
                bounces.append(_soft(abs(math.log(max(ratio_m, 1e-3) / ratio_t)), 0.15, 0.45))
        parts = [p for p in (_mean(grav), _mean(bounces)) if p is not None]
        if parts:
            per_object.append(float(np.prod(parts)))
    return _mean(per_object)


def _collision(c: _Clip) -> float | None:
    hit = c.truth.get("collision")
    change = [e for e in c.truth["events"] if e["type"] == "colour_change"]
    if hit is None or not change:
        return None
    f, g, h = change[0]["frame"], hit["target"], hit["hitter"]
    old, new = change[0]["from"], change[0]["to"]
    seq = []
    for k in range(len(c.frames)):
        if c.vis(k, g) < VIS:
            continue
        want, other = (old, new) if k < f else (new, old)
        seq.append(float(c.find(k, g, want) is not None and c.find(k, g, other) is None))
    contact = 0.0
    for k in range(1, len(c.frames)):
        dn, dh = c.find(k, g, new), c.find(k, h)
        if dn is None:
            continue
        if dh is not None:
            rs = c.frames[k]["objects"][g]["radius_px"] + c.frames[k]["objects"][h]["radius_px"]
            contact = float(math.hypot(dn.x - dh.x, dn.y - dh.y) <= 1.6 * rs)
        break
    return (_mean(seq) or 0.0) * contact


def _permanence(c: _Clip) -> float | None:
    occ = c.truth.get("occluder")
    if occ is None:
        return None
    out = []
    for i, o in enumerate(c.truth["objects"]):
        ev = {
            e["type"]: e["frame"]
            for e in c.truth["events"]
            if i in e["objects"] and e["type"] in ("occluded", "reappeared")
        }
        if not o["behind_occluder"] or "occluded" not in ev or "reappeared" not in ev:
            continue
        before, after = [], []
        for k in range(len(c.frames)):
            if c.vis(k, i) < VIS:
                continue
            side = np.sign(c.pos(k, i)[0] - occ["x"])
            d = c.find(k, i)
            ok = float(d is not None and np.sign(d.x - occ["x"]) == side)
            if k < ev["occluded"]:
                before.append(ok)
            elif k >= ev["reappeared"]:
                after.append(ok)
        if before and after:
            out.append(float(np.mean(before) * np.mean(after)))
    return _mean(out)


def _camera(c: _Clip, motion: np.ndarray, proj: np.ndarray) -> float | None:
    if c.truth["background"]["type"] != "textured" or len(c.frames) < 2:
        return None
    kind = c.truth["camera"]["motion"]
    scores = []
    for k in range(len(c.frames) - 1):
        c0, c1 = c.frames[k]["camera"], c.frames[k + 1]["camera"]
        z0, z1 = c0["zoom"], c1["zoom"]
        t_true = -np.asarray([c1["offset_x"] - c0["offset_x"], c1["offset_y"] - c0["offset_y"]]) * z1
        s_true = z1 / z0 - 1.0
        tm, sm = proj[k] @ motion[k, :2], motion[k, 2]
        t_true = proj[k] @ t_true
        if kind == "static":
            ok = np.hypot(*tm) <= 0.2 and abs(sm) <= 0.004
        elif kind.startswith("pan_"):
            nt, nm = np.hypot(*t_true), np.hypot(*tm)
            if nt < 0.2:
                continue  # the background cannot show this pan (e.g. stripes along it)
            ok = nm > 0 and float(t_true @ tm) / (nt * nm) >= 0.8 and 0.6 <= nm / nt <= 1.6
        else:
            ok = np.sign(sm) == np.sign(s_true) and 0.5 <= sm / s_true <= 2.0
        scores.append(float(ok))
    return _mean(scores)


def _stability(
    c: _Clip,
    shape_items: dict[int, list[tuple[int, str | None]]],
    residual: np.ndarray,
) -> tuple[float | None, dict]:
    if len(c.frames) < 2:  # a single image: nothing to be stable across
        return None, {"persistence": None, "shape_consistency": None, "flicker": None}
    persist = []
    for i in range(len(c.shapes)):
        for k in range(len(c.frames) - 1):
            if c.vis(k, i) < VIS or c.vis(k + 1, i) < VIS:
                continue
            d0, d1 = c.find(k, i), c.find(k + 1, i)
            if d0 is None or d1 is None:
                persist.append(0.0)
                continue
            jump = math.hypot(d1.x - d0.x, d1.y - d0.y)
            allowed = np.hypot(*(c.pos(k + 1, i) - c.pos(k, i))) + max(
                1.5, 0.3 * c.frames[k]["objects"][i]["radius_px"]
            )
            persist.append(float(jump <= allowed))
    consistent = []
    for lst in shape_items.values():
        fitted = [s for _, s in lst]
        mode, n = Counter(fitted).most_common(1)[0]
        consistent.append(n / len(fitted) if mode is not None else 0.0)
    flicker = [_soft(float(r), 2.0, 10.0) for r in residual]
    parts = {"persistence": _mean(persist), "shape_consistency": _mean(consistent), "flicker": _mean(flicker)}
    vals = [v for v in parts.values() if v is not None]
    score = float(np.prod(vals) ** (1.0 / len(vals))) if vals else None
    return score, parts


# --------------------------------------------------------------------------- entry points


def score_clip(video: np.ndarray, truth: dict) -> dict:
    """Score ``video`` uint8 (T, H, W, 3) against world ``truth`` (same T, H, W).

    Returns ``{"scores": {dimension: float in [0, 1] or None (N/A)}, "details": {...}}``.
    """
    c = _build(video, truth)
    shape_items = _shape_items(c)
    motion_items = _motion_items(c)
    motion, residual, proj = camera_motion(video)
    stability, parts = _stability(c, shape_items, residual)
    scores = {
        "colour": _colour(c),
        "shape": _shape(c, shape_items),
        "count": _count(c),
        "size": _size(c),
        "relation": _relation(c),
        "direction": _direction(motion_items),
        "speed": _speed(motion_items),
        "physics": _physics(c),
        "collision": _collision(c),
        "permanence": _permanence(c),
        "camera": _camera(c, motion, proj),
        "stability": stability,
    }
    details = {
        "stability": parts,
        "camera_motion": motion.round(4).tolist(),
        "flicker_residual": residual.round(3).tolist(),
    }
    return {"scores": scores, "details": details}


def shape_fits(video: np.ndarray, truth: dict, *, per_object: int | None = None) -> list[tuple[int, int, str, str | None]]:
    """The shape fits the shape score is made of: ``(object, frame, true shape, fitted shape or None)``
    for every object frame the scorer may use (fully visible, radius >= ``MIN_SHAPE_PX``).

    ``per_object`` caps the frames per object as WorldBench does (8, evenly spaced); ``None`` keeps
    them all. ``None`` as the fitted shape means no blob of the object's colour was found there.
    """
    c = _build(video, truth)
    items = _shape_items(c, per_object=len(c.frames) if per_object is None else per_object)
    return [(i, k, c.shapes[i], fitted) for i, lst in items.items() for k, fitted in lst]


def slice_truth(truth: dict, start: int, stop: int) -> dict:
    """The truth of frames ``start:stop`` (events re-indexed to the window; ones outside dropped)."""
    frames = truth["frames"][start:stop]
    events = [{**e, "frame": e["frame"] - start} for e in truth["events"] if start <= e["frame"] < stop]
    return {**truth, "frames": frames, "events": events, "num_frames": len(frames)}


def score_windows(
    video: np.ndarray, truth: dict, window_frames: int, stride: int | None = None
) -> list[dict]:
    """Scores of consecutive windows of a long video: drift over time.

    video uint8 (T, H, W, 3), truth of all T frames. Windows of ``window_frames`` frames every
    ``stride`` (default: the window) frames; the last partial window is dropped. Returns
    ``[{"start": frame, "stop": frame, "start_s": seconds, "scores": {...}}]``.
    """
    check_video(video, truth)
    n = video.shape[0]
    if isinstance(window_frames, bool) or not isinstance(window_frames, int) or not 2 <= window_frames <= n:
        raise KinemaError(
            f"window_frames must be an int between 2 and the video's {n} frames, got {window_frames!r}"
        )
    stride = window_frames if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise KinemaError(f"stride must be a positive int, got {stride!r}")
    out = []
    for s in range(0, n - window_frames + 1, stride):
        part = slice_truth(truth, s, s + window_frames)
        res = score_clip(video[s : s + window_frames], part)
        out.append(
            {"start": s, "stop": s + window_frames, "start_s": s / truth["fps"], "scores": res["scores"]}
        )
    return out


# --------------------------------------------------------------------------- caption only

#: Screen direction the background moves in for each pan (the view moving left shifts the world right).
PAN_SHIFT = {"pan_left": (1.0, 0.0), "pan_right": (-1.0, 0.0), "pan_up": (0.0, 1.0), "pan_down": (0.0, -1.0)}


def score_caption(video: np.ndarray, caption: str, *, fps: float = 8.0, seed: int = 0) -> dict:
    """Score ``video`` uint8 (T, H, W, 3) against what a short world caption implies.

    The caption is parsed in the world grammar (``kinema.world.parse_prompt``) and expanded
    (``expand_prompt`` with ``seed``) only to fill in what it leaves open (sizes, action times).
    Scored: ``CAPTION_DIMENSIONS`` — each stated object's colour is there at the start (and a
    hit object's new colour at the end), its shape, the object count, the stated relations in
    the first frame, the stated move directions (net displacement relative to the background),
    and the camera move (when the background has texture to show it). The rest is None.
    Raises ``KinemaError`` when the caption does not parse.
    """
    from kinema.world import expand_prompt, parse_prompt
    from kinema.world.vocab import DIRECTIONS, SIZES

    check_video(video)
    spec = parse_prompt(caption)
    n_t, h, w = video.shape[:3]
    clip = (
        expand_prompt(caption, seed, width=w, height=h, fps=fps, num_frames=n_t) if spec is not None else None
    )
    if spec is None or clip is None:
        raise KinemaError(
            f"caption {caption[:80]!r} is not in the world grammar (e.g. 'a red circle moves left'); "
            "it cannot be scored without ground truth"
        )
    truth, scene = clip.truth, clip.scene
    min_area = max(2.0, PRESENT * unit_area("circle") * (SIZES["small"] * h * 0.5) ** 2)
    dets = [detect(f, min_area=min_area) for f in video]
    objs = scene.objects

    def find(k: int, colour: str, size: str) -> Detection | None:
        need = max(PRESENT * unit_area("circle") * (SIZES[size] * h * 0.5) ** 2, 3.0)
        return next((d for d in dets[k] if d.colour == colour and d.area >= need), None)

    head, tail = range(min(3, n_t)), range(max(n_t - 3, 0), n_t)
    colour, shape = [], []
    hit = scene.collision
    for o in objs:
        colour.append(float(any(find(k, o.colour, o.size) for k in head)))
        if hit is not None and hit.target == o.id:
            colour.append(float(any(find(k, hit.colour, o.size) for k in tail)))
        found = [d for d in (find(k, o.colour, o.size) for k in range(n_t)) if d is not None and not d.edge]
        if found:  # partly hidden blobs (behind the pillar) are smaller than the object: skip them
            full = 0.8 * float(np.median([d.area for d in found]))
            shape += [float(d.shape()[0] == o.shape) for d in found if d.area >= full]
        else:
            shape.append(0.0)
    count = None
    if scene.occluder is None:
        count = _mean([float(len(dets[k]) == len(objs)) for k in range(n_t)])
    relation = []
    for i, rel, j in scene.stated:
        di, dj = find(0, objs[i].colour, objs[i].size), find(0, objs[j].colour, objs[j].size)
        relation.append(
            float(di is not None and dj is not None and relation_of(di.x, di.y, dj.x, dj.y) == rel)
        )
    motion, _, proj = camera_motion(video) if n_t > 1 else (np.zeros((0, 3)), None, np.zeros((0, 2, 2)))
    direction = []
    for o, ospec in zip(objs, spec.objects or (), strict=False):
        a = o.actions[0]
        stated = ospec.actions[0].direction if ospec.actions else None
        if a.motion != "move" or stated is None or n_t < 2:
            continue  # only directions the caption states
        end = next((b.start for b in o.actions[1:]), math.inf)
        if hit is not None:  # before the hit, which the world schedules after a quarter of the clip
            end = min(end, 0.25 * n_t / fps)
        ks = [k for k in range(n_t) if k / fps <= end and find(k, o.colour, o.size) is not None]
        if len(ks) < 2:
            direction.append(0.0)
            continue
        d0, d1 = find(ks[0], o.colour, o.size), find(ks[-1], o.colour, o.size)
        shift = motion[ks[0] : ks[-1], :2].sum(0)  # the background's own move over those frames
        dm = np.asarray([d1.x - d0.x, d1.y - d0.y]) - shift
        want = np.asarray(DIRECTIONS[a.direction])
        direction.append(float(np.hypot(*dm) >= 1.0 and float(dm @ want) / np.hypot(*dm) >= 0.7))
    camera = None
    bg = ~object_mask(video[0])
    gy, gx = np.gradient(video[0].astype(np.float32).mean(-1))
    if n_t > 1 and bg.any() and float(np.hypot(gx, gy)[bg].mean()) >= 2.0:  # texture to see a move by
        t, s = motion[:, :2].mean(0), float(motion[:, 2].mean())
        p = proj.mean(0)
        kind = scene.camera.motion
        if kind == "static":
            camera = float(np.hypot(*t) <= 0.2 and abs(s) <= 0.004)
        elif kind in PAN_SHIFT:
            want = p @ np.asarray(PAN_SHIFT[kind])
            t = p @ t
            nt, nw = np.hypot(*t), np.hypot(*want)
            camera = None if nw < 0.3 else float(nt >= 0.2 and float(t @ want) / (nt * nw) >= 0.8)
        else:
            camera = float(np.sign(s) == (1.0 if kind == "zoom_in" else -1.0) and abs(s) >= 0.003)
    scores = dict.fromkeys(DIMENSIONS)
    scores.update(
        colour=_mean(colour),
        shape=_mean(shape),
        count=count,
        relation=_mean(relation),
        direction=_mean(direction),
        camera=camera,
    )
    return {"scores": scores, "details": {"expanded": clip.detailed_caption, "kind": truth["kind"]}}
