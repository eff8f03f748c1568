"""Rasterise a scene into frames and build its exact per-frame ground truth.

Screen coordinates. Pixel ``(row i, column j)`` has its centre at screen ``(x=j, y=i)``
(index convention, so a mask centroid ``mean(columns)`` is directly comparable to truth ``x``).
With the camera at view centre ``(cx, cy)`` and zoom ``z`` a world point maps to

    x_px = (x - cx) * H * z + W / 2 - 0.5,      y_px = (y - cy) * H * z + H / 2 - 0.5

so the world is resolution independent: frame height = 1 world unit at zoom 1.

Drawing order: background (defined on the whole world plane), objects in id order, then the
occluder pillar on top. Edges are anti-aliased analytically: each shape has a signed distance
function and a pixel's coverage is ``clip(0.5 - distance_in_pixels, 0, 1)``; the pillar and the
checker/stripe patterns use exact box-filtered edges. Everything is vectorised numpy over the
pixels of each shape's bounding box.
"""

from __future__ import annotations

import math

import numpy as np

from kinema.world.physics import Trajectory, simulate
from kinema.world.scene import Background, Scene
from kinema.world.splits import held_out_combos
from kinema.world.vocab import (
    BACKGROUND_COLOURS,
    COLOURS,
    OCCLUDER_NAME,
    OCCLUDER_RGB,
    SHAPE_EXTENT,
    SIZES,
)


def _half_planes(normals: list[tuple[float, float]], offset: float | list[float]) -> tuple[np.ndarray, ...]:
    n = np.asarray(normals, dtype=np.float32)
    off = np.broadcast_to(np.asarray(offset, dtype=np.float32), (len(normals),))
    return n[:, 0, None, None], n[:, 1, None, None], off[:, None, None]


_TRI = [(math.sin(math.radians(a)), math.cos(math.radians(a))) for a in (0, 120, 240)]
_HEX = [(math.cos(math.radians(a)), math.sin(math.radians(a))) for a in range(0, 360, 60)]
_DA, _DB = 0.9, 1.25  # diamond half-diagonals (x, y)
_DN = math.hypot(_DA, _DB)
#: Convex shapes as intersections of half-planes ``n . p <= offset`` (units of the radius, y down).
POLYGONS = {
    "square": _half_planes([(1, 0), (-1, 0), (0, 1), (0, -1)], 0.886),  # area ~ pi r^2
    "triangle": _half_planes(_TRI, 0.625),  # equilateral, circumradius 1.25, point up
    "hexagon": _half_planes(_HEX, 1.05 * math.cos(math.pi / 6)),  # circumradius 1.05
    "diamond": _half_planes(
        [(_DB / _DN, _DA / _DN), (-_DB / _DN, _DA / _DN), (_DB / _DN, -_DA / _DN), (-_DB / _DN, -_DA / _DN)],
        _DA * _DB / _DN,
    ),
}
STAR_OUTER, STAR_INNER = 1.3, 0.45  # tip radius and inner radius / tip radius


def shape_sdf(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) to ``shape`` at local coordinates ``u, v`` (any equal
    shapes, units of the radius, v down, unrotated); exact or a close bound near edges."""
    if shape == "circle":
        return np.sqrt(u * u + v * v) - 1.0
    if shape == "star":
        return _star_sdf(u, v, STAR_OUTER, STAR_INNER)
    nx, ny, off = POLYGONS[shape]
    return np.max(nx * u + ny * v - off, axis=0)


def _star_sdf(u: np.ndarray, v: np.ndarray, r: float, rf: float) -> np.ndarray:
    """Five-pointed star, one tip up, tip radius ``r``, inner radius ``rf * r`` (after I. Quilez)."""
    k1x, k1y = 0.809016994375, -0.587785252292
    px, py = np.abs(u), -v  # y up, tip at +y
    d = 2.0 * np.maximum(k1x * px + k1y * py, 0.0)
    px, py = px - d * k1x, py - d * k1y
    d = 2.0 * np.maximum(-k1x * px + k1y * py, 0.0)
    px, py = np.abs(px + d * k1x), py - d * k1y - r
    bax, bay = rf * -k1y, rf * k1x - 1.0
    h = np.clip((px * bax + py * bay) / (bax * bax + bay * bay), 0.0, r)
    return np.hypot(px - bax * h, py - bay * h) * np.sign(py * bax - px * bay)


def second_tone(rgb: tuple[int, int, int]) -> np.ndarray:
    """The other tone of a textured background: darker for light colours, lighter for dark ones."""
    c = np.asarray(rgb, dtype=np.float32)
    return c * 0.8 if c.mean() > 100 else np.minimum(c * 1.35 + 10.0, 255.0)


def _square_wave(p: np.ndarray, period_px: float) -> np.ndarray:
    """Anti-aliased square wave in [-1, 1] of ``p`` (in periods, cells of length 1/2 ... 1/2),
    with edges softened over one pixel (``period_px`` pixels per unit of ``p``)."""
    tri = np.abs(np.mod(p, 2.0) - 1.0) - 0.5
    return np.clip(tri * period_px, -0.5, 0.5) * 2.0


def render_background(bg: Background, xs: np.ndarray, ys: np.ndarray, px_world: float) -> np.ndarray:
    """The background on a pixel grid: ``xs`` (W,) and ``ys`` (H,) world coordinates of pixel
    centres, ``px_world`` the pixel size in world units. Returns float32 (H, W, 3)."""
    c1 = np.asarray(BACKGROUND_COLOURS[bg.colour], dtype=np.float32)
    X, Y = xs[None, :].astype(np.float32), ys[:, None].astype(np.float32)
    h, w = len(ys), len(xs)
    if bg.type == "solid":
        return np.broadcast_to(c1, (h, w, 3)).copy()
    if bg.type == "gradient":
        c2 = np.asarray(BACKGROUND_COLOURS[bg.colour2 or bg.colour], dtype=np.float32)
        t = np.clip((Y + 0.25) / 1.5, 0.0, 1.0)
        t = np.broadcast_to(t, (h, w))[..., None]
        return c1 + (c2 - c1) * t
    c2 = second_tone(BACKGROUND_COLOURS[bg.colour])
    per_px = bg.period / px_world
    if bg.pattern == "checker":
        mix = 0.5 - 0.5 * _square_wave(X / bg.period, per_px) * _square_wave(Y / bg.period, per_px)
    elif bg.pattern == "stripes":
        a = math.radians(bg.angle)
        mix = 0.5 + 0.5 * _square_wave((X * math.cos(a) + Y * math.sin(a)) / bg.period, per_px)
    else:  # smooth noise: a few random plane waves
        val = sum(np.sin(kx * X + ky * Y + ph) for kx, ky, ph in bg.waves) / math.sqrt(len(bg.waves) / 2.0)
        mix = np.clip(0.5 + 0.4 * val, 0.0, 1.0)
    mix = np.broadcast_to(mix, (h, w))[..., None]
    return c1 + (c2 - c1) * mix


def object_coverage(shape: str, sx: float, sy: float, r_px: float, angle: float,
                    ) -> tuple[int, int, np.ndarray]:
    """Coverage in [0, 1] of a shape centred at screen ``(sx, sy)`` with radius ``r_px`` pixels,
    rotated ``angle`` degrees clockwise, over its bounding box (which may extend off-frame).
    Returns ``(row0, col0, cov)`` with ``cov`` float32 (h, w), row0/col0 the box's first pixel."""
    ext = SHAPE_EXTENT[shape] * r_px + 1.0
    c0, c1 = math.floor(sx - ext), math.ceil(sx + ext) + 1
    r0, r1 = math.floor(sy - ext), math.ceil(sy + ext) + 1
    dx = np.arange(c0, c1, dtype=np.float32)[None, :] - np.float32(sx)
    dy = np.arange(r0, r1, dtype=np.float32)[:, None] - np.float32(sy)
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    inv = 1.0 / max(r_px, 1e-6)
    u = (ca * dx + sa * dy) * inv  # rotate the pixel offsets back by -angle
    v = (-sa * dx + ca * dy) * inv
    d = shape_sdf(shape, u, v)
    return r0, c0, np.clip(0.5 - d * r_px, 0.0, 1.0).astype(np.float32)


def _clip_box(r0: int, c0: int, cov: np.ndarray, h: int, w: int):
    """Crop a bounding-box patch to the frame: ``(frame slices, patch slices)`` or None."""
    ph, pw = cov.shape
    fr0, fc0, fr1, fc1 = max(r0, 0), max(c0, 0), min(r0 + ph, h), min(c0 + pw, w)
    if fr0 >= fr1 or fc0 >= fc1:
        return None
    return (slice(fr0, fr1), slice(fc0, fc1)), (slice(fr0 - r0, fr1 - r0), slice(fc0 - c0, fc1 - c0))


def render_scene(scene: Scene, *, width: int, height: int, fps: float, num_frames: int,
                 ) -> tuple[np.ndarray, dict]:
    """Render ``num_frames`` frames at times ``k / fps``. Returns ``(frames, truth)``:
    frames uint8 (T, H, W, 3), truth the JSON-serialisable ground truth (see ``kinema.world``).

    The view is ``width / height`` world units wide around the camera centre; a scene sampled for
    another aspect is shown centred (cropped or extended), not stretched.
    """
    h, w, n_t = int(height), int(width), int(num_frames)
    times = np.arange(n_t, dtype=np.float64) / float(fps)
    traj = simulate(scene, times)
    frames = np.empty((n_t, h, w, 3), dtype=np.uint8)
    cols = np.arange(w, dtype=np.float64) + 0.5 - w / 2.0
    rows = np.arange(h, dtype=np.float64) + 0.5 - h / 2.0
    static_bg = None
    occ_rgb = np.asarray(OCCLUDER_RGB, dtype=np.float32)
    rgb = {name: np.asarray(c, dtype=np.float32) for name, c in COLOURS.items()}
    frame_truth: list[dict] = []
    hidden_by_occluder = np.zeros((n_t, len(scene.objects)))
    for k, t in enumerate(times):
        cx, cy, zoom, vcx, vcy, zr = scene.camera.at(float(t), scene.aspect)
        s = h * zoom  # pixels per world unit
        if scene.camera.motion == "static" and static_bg is not None:
            img = static_bg.copy()
        else:
            img = render_background(scene.background, cx + cols / s, cy + rows / s, 1.0 / s)
            if scene.camera.motion == "static":
                static_bg = img.copy()
        layers = []
        for i, obj in enumerate(scene.objects):
            x, y = traj.pos[k, i]
            sx, sy = (x - cx) * s + w / 2.0 - 0.5, (y - cy) * s + h / 2.0 - 0.5
            r_px = obj.radius * traj.scale[k, i] * s
            r0, c0, cov = object_coverage(obj.shape, sx, sy, r_px, traj.angle[k, i])
            box = _clip_box(r0, c0, cov, h, w)
            if box is not None:
                fs, ps = box
                a = cov[ps][..., None]
                img[fs] = img[fs] * (1.0 - a) + rgb[traj.colour[k][i]] * a
            layers.append((sx, sy, r_px, float(cov.sum()), box, cov))
        occ = np.zeros((h, w), dtype=np.float32)
        if scene.occluder is not None:
            ox, ow = scene.occluder.x, scene.occluder.width
            e0, e1 = (ox - ow / 2 - cx) * s + w / 2.0, (ox + ow / 2 - cx) * s + w / 2.0
            j = np.arange(w, dtype=np.float32)
            col = np.clip(np.minimum(j + 1, e1) - np.maximum(j, e0), 0.0, 1.0)
            occ[:] = col[None, :]
            img = img * (1.0 - occ[..., None]) + occ_rgb * occ[..., None]
        frames[k] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        # visibility: walk from the top layer down, accumulating what covers each pixel
        cover = occ.copy()
        objs_truth = [None] * len(scene.objects)
        for i in reversed(range(len(scene.objects))):
            sx, sy, r_px, full, box, cov = layers[i]
            vis_frac, bbox, hid = 0.0, None, 0.0
            if box is not None:
                fs, ps = box
                c = cov[ps]
                vis = c * (1.0 - cover[fs])
                vis_frac = float(vis.sum()) / max(full, 1e-9)
                in_frame = float(c.sum())
                if in_frame > 1e-6:
                    hid = 1.0 - float((c * (1.0 - occ[fs])).sum()) / in_frame
                rr, cc = np.nonzero(vis >= 0.5)
                if rr.size:
                    bbox = [int(cc.min() + fs[1].start), int(rr.min() + fs[0].start),
                            int(cc.max() + fs[1].start + 1), int(rr.max() + fs[0].start + 1)]
                cover[fs] = 1.0 - (1.0 - cover[fs]) * (1.0 - c)
            hidden_by_occluder[k, i] = hid
            x, y = traj.pos[k, i]
            vx, vy = traj.vel[k, i]
            name = traj.colour[k][i]
            objs_truth[i] = {
                "id": i,
                "colour": name,
                "rgb": list(COLOURS[name]),
                "x": _r(sx), "y": _r(sy),
                "vx": _r((vx - vcx) * s + (x - cx) * s * zr),
                "vy": _r((vy - vcy) * s + (y - cy) * s * zr),
                "angle": _r(traj.angle[k, i]),
                "scale": _r(traj.scale[k, i]),
                "radius_px": _r(r_px),
                "visible_fraction": _r(min(max(vis_frac, 0.0), 1.0)),
                "bbox": bbox,
            }
        frame_truth.append({
            "index": k, "time": _r(t),
            "camera": {"offset_x": _r((cx - scene.aspect / 2) * h), "offset_y": _r((cy - 0.5) * h),
                       "zoom": _r(zoom)},
            "objects": objs_truth,
        })
    truth = build_truth(scene, traj, frame_truth, hidden_by_occluder, width=w, height=h, fps=fps)
    return frames, truth


def _r(v: float) -> float:
    return round(float(v), 4)


def build_truth(scene: Scene, traj: Trajectory, frame_truth: list[dict], hidden: np.ndarray, *,
                width: int, height: int, fps: float) -> dict:
    """Assemble the ground-truth dict; ``hidden`` (T, N) is each object's in-frame fraction
    hidden by the occluder (for the occluded / reappeared events)."""
    n_t = len(traj.times)
    events = []
    for ev in traj.events:
        frame = int(np.searchsorted(traj.steps, ev["step"], side="left"))
        if frame >= n_t:
            continue
        e = {"frame": frame, "time": _r(ev["time"]), "type": ev["type"], "objects": list(ev["objects"])}
        e.update({key: val for key, val in ev.items() if key not in ("time", "step", "type", "objects")})
        events.append(e)
    if scene.occluder is not None:  # occluded: >= 98% hidden by the pillar; reappeared: <= 2% again
        for i in range(len(scene.objects)):
            behind = False
            for k in range(n_t):
                if not behind and hidden[k, i] >= 0.98:
                    behind = True
                    events.append({"frame": k, "time": _r(traj.times[k]), "type": "occluded", "objects": [i]})
                elif behind and hidden[k, i] <= 0.02:
                    behind = False
                    events.append({"frame": k, "time": _r(traj.times[k]), "type": "reappeared", "objects": [i]})
    events.sort(key=lambda e: (e["frame"], e["time"]))
    bg = scene.background
    return {
        "seed": int(scene.seed),
        "split": scene.split,
        "width": width,
        "height": height,
        "fps": float(fps),
        "num_frames": n_t,
        "seconds": _r(n_t / fps),
        "duration": _r(scene.duration),
        "kind": scene.kind,
        "background": {
            "type": bg.type, "colour": bg.colour, "rgb": list(BACKGROUND_COLOURS[bg.colour]),
            "colour2": bg.colour2, "rgb2": list(BACKGROUND_COLOURS[bg.colour2]) if bg.colour2 else None,
            "pattern": bg.pattern, "period": _r(bg.period) if bg.type == "textured" else None,
        },
        "camera": {"motion": scene.camera.motion, "speed": _r(scene.camera.rate)},
        "occluder": None if scene.occluder is None else {
            "name": OCCLUDER_NAME, "rgb": list(OCCLUDER_RGB),
            "x": _r((scene.occluder.x - scene.aspect / 2) * height + width / 2 - 0.5),
            "width_px": _r(scene.occluder.width * height),
        },
        "objects": [
            {
                "id": o.id, "shape": o.shape, "colour": o.colour, "size": o.size,
                "radius_px": _r(SIZES[o.size] * height),
                "behind_occluder": o.behind,
                "actions": [
                    {"motion": a.motion, "direction": a.direction, "speed": a.speed, "start": _r(a.start)}
                    for a in o.actions
                ],
            }
            for o in scene.objects
        ],
        "collision": None if scene.collision is None else {
            "hitter": scene.collision.hitter, "target": scene.collision.target, "colour": scene.collision.colour,
        },
        "relations": [{"a": a, "b": b, "relation": rel} for a, rel, b in scene.relations()],
        "events": events,
        "held_out": held_out_combos(scene),
        "frames": frame_truth,
    }
