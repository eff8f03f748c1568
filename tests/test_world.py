"""The procedural world: determinism, sizes and frame rates, truth against pixels, physics, camera."""

from __future__ import annotations

import json
import time
from functools import cache

import numpy as np
import pytest

from kinema.errors import KinemaError
from kinema.world import (
    BACKGROUNDS,
    CAMERA_MOTIONS,
    COLOURS,
    DIRECTIONS,
    GRAVITY,
    KINDS,
    MOTIONS,
    SHAPES,
    SIZES,
    clip_seed,
    render_clip,
    render_scene,
    sample_scene,
)
from kinema.world.scene import Action, Background, Camera, Scene, SceneObject
from kinema.world.vocab import PATTERNS, ROTATIONS


@cache
def clips(split: str, n: int = 120) -> tuple:
    """A cached batch of default clips (96x64, 8 fps, 2 s)."""
    return tuple(render_clip(s, split=split) for s in range(n))


def colour_mask(frame: np.ndarray, rgb, tol: float = 40.0) -> np.ndarray:
    """Pixels within ``tol`` (RGB distance) of ``rgb``: bool (H, W)."""
    return np.linalg.norm(frame.astype(np.float32) - np.asarray(rgb, np.float32), axis=-1) < tol


def still_scene(obj: SceneObject, *, camera: Camera | None = None, bg: Background | None = None,
                aspect: float = 1.0, duration: float = 2.0) -> Scene:
    bg = bg or Background("solid", "grey")
    return Scene(0, "train", "single", aspect, duration, bg, camera or Camera(), (obj,))


# --------------------------------------------------------------------------- vocabulary and API


def test_vocabulary_covers_the_brief():
    assert len(SHAPES) >= 6 and len(COLOURS) == 8 and set(SIZES) == {"small", "medium", "large"}
    assert {"left", "right", "up", "down", "up-left", "up-right", "down-left", "down-right"} == set(DIRECTIONS)
    assert {"still", "move", "bounce", "fall", "rotate", "grow", "shrink"} == set(MOTIONS)
    assert {"static", "pan_left", "pan_right", "pan_up", "pan_down", "zoom_in", "zoom_out"} == set(CAMERA_MOTIONS)
    assert set(BACKGROUNDS) == {"solid", "gradient", "textured"}
    assert abs(sum(KINDS.values()) - 1.0) < 1e-9


def test_clip_is_deterministic_and_seeds_differ():
    a, b = render_clip(7, width=64, height=64, num_frames=17), render_clip(7, width=64, height=64, num_frames=17)
    assert a.frames.dtype == np.uint8 and a.frames.shape == (17, 64, 64, 3)
    assert a.frames.tobytes() == b.frames.tobytes()
    assert (a.caption, a.detailed_caption) == (b.caption, b.detailed_caption)
    assert json.dumps(a.truth) == json.dumps(b.truth)
    c = render_clip(8, width=64, height=64, num_frames=17)
    assert c.frames.tobytes() != a.frames.tobytes()
    assert len({render_clip(s).caption for s in range(20)}) > 10


def test_truth_is_plain_json():
    for clip in clips("train")[:20] + clips("test")[:20]:
        assert json.loads(json.dumps(clip.truth)) == clip.truth


@pytest.mark.parametrize("width,height,frames", [(96, 64, 16), (64, 64, 17), (40, 90, 9), (33, 21, 5), (64, 64, 1)])
def test_any_size_and_aspect(width, height, frames):
    for seed in range(6):
        clip = render_clip(seed, width=width, height=height, num_frames=frames, split="test" if seed % 2 else "train")
        assert clip.frames.shape == (frames, height, width, 3)
        assert clip.truth["num_frames"] == frames == len(clip.truth["frames"])
        assert (clip.truth["width"], clip.truth["height"]) == (width, height)


def test_frame_count_from_seconds_and_fps():
    assert render_clip(1).frames.shape[0] == 16  # 2 s at 8 fps
    assert render_clip(1, fps=12, seconds=1.5).frames.shape[0] == 18
    assert render_clip(1, fps=8, seconds=2, num_frames=17).frames.shape[0] == 17
    assert render_clip(1, fps=24, seconds=0.1).frames.shape[0] == 2


@pytest.mark.parametrize("kwargs", [
    {"width": 0}, {"height": 5}, {"width": 64.5}, {"fps": 0}, {"fps": float("nan")}, {"seconds": -1},
    {"seconds": 0.01}, {"num_frames": 0}, {"num_frames": 2.5}, {"split": "val"},
])
def test_bad_arguments_raise_clear_errors(kwargs):
    with pytest.raises(KinemaError):
        render_clip(0, **kwargs)
    with pytest.raises(ValueError):
        render_clip(0, **kwargs)


def test_bad_seeds_raise():
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(KinemaError):
            render_clip(bad)
        with pytest.raises(KinemaError):
            clip_seed(bad, 0)


def test_clip_seed_is_stable_and_spread():
    seeds = [clip_seed(0, i) for i in range(1000)]
    assert seeds == [clip_seed(0, i) for i in range(1000)]
    assert len(set(seeds)) == 1000 and all(0 <= s < 2**63 for s in seeds)
    assert clip_seed(1, 0) not in seeds
    render_clip(seeds[0])  # large seeds work


# --------------------------------------------------------------------------- resolution and frame-rate independence


def test_same_layout_at_any_resolution():
    for seed in range(10):
        small, big = render_clip(seed, width=48, height=32), render_clip(seed, width=144, height=96)
        assert small.scene == big.scene and small.caption == big.caption
        for fs, fb in zip(small.truth["frames"], big.truth["frames"], strict=True):
            for os_, ob in zip(fs["objects"], fb["objects"], strict=True):  # x_px + 0.5 scales with the frame
                assert abs((ob["x"] + 0.5) - 3 * (os_["x"] + 0.5)) < 0.01
                assert abs((ob["y"] + 0.5) - 3 * (os_["y"] + 0.5)) < 0.01


def test_same_trajectory_at_any_frame_rate():
    for seed in range(12):
        slow, fast = render_clip(seed, fps=8, seconds=2), render_clip(seed, fps=24, seconds=2)
        assert slow.scene == fast.scene
        for k, fr in enumerate(slow.truth["frames"]):
            gr = fast.truth["frames"][3 * k]
            assert abs(fr["time"] - gr["time"]) < 1e-9
            for a, b in zip(fr["objects"], gr["objects"], strict=True):
                assert abs(a["x"] - b["x"]) < 1e-3 and abs(a["y"] - b["y"]) < 1e-3 and a["colour"] == b["colour"]
        ev_slow = [(e["type"], e["time"]) for e in slow.truth["events"] if e["type"] not in ("occluded", "reappeared")]
        ev_fast = [(e["type"], e["time"]) for e in fast.truth["events"] if e["type"] not in ("occluded", "reappeared")]
        assert ev_slow == [e for e in ev_fast if e in ev_slow] and set(ev_slow) <= set(ev_fast)


# --------------------------------------------------------------------------- coverage


def test_coverage_over_many_seeds():
    scenes = [sample_scene(s, split=sp, aspect=1.5, duration=2.0) for sp in ("train", "test") for s in range(250)]
    objects = [o for sc in scenes for o in sc.objects]
    actions = [a for o in objects for a in o.actions]
    assert {o.shape for o in objects} == set(SHAPES)
    assert {o.colour for o in objects} == set(COLOURS)
    assert {o.size for o in objects} == set(SIZES)
    assert {a.motion for a in actions} == set(MOTIONS)
    assert {(a.direction, a.speed) for a in actions if a.motion == "move"} == {
        (d, s) for d in DIRECTIONS for s in ("slow", "fast")}
    assert {a.direction for a in actions if a.motion == "rotate"} == set(ROTATIONS)
    assert {sc.camera.motion for sc in scenes} == set(CAMERA_MOTIONS)
    assert {sc.background.type for sc in scenes} == set(BACKGROUNDS)
    assert {sc.background.pattern for sc in scenes if sc.background.type == "textured"} == set(PATTERNS)
    assert {sc.kind for sc in scenes} == set(KINDS)
    assert {len(sc.objects) for sc in scenes} == {1, 2, 3}
    assert {rel for sc in scenes for _, rel, _ in sc.stated} == {"left of", "right of", "above", "below"}
    assert any(len(o.actions) == 2 for o in objects)
    assert not any(o.shape == "circle" and "rotate" in o.motions for o in objects)
    pairs = {(sc.kind, sc.camera.motion != "static") for sc in scenes}
    assert {("fall", True), ("sequence", True), ("relation", True), ("collision", True)} <= pairs


# --------------------------------------------------------------------------- truth against pixels


def test_truth_matches_pixels():
    checked = 0
    for clip in clips("train") + clips("test"):
        for k, fr in enumerate(clip.truth["frames"]):
            frame = clip.frames[k]
            for o in fr["objects"]:
                if o["visible_fraction"] < 0.999:
                    continue
                x, y = o["x"], o["y"]
                assert tuple(frame[round(y), round(x)]) == tuple(o["rgb"]), (clip.truth["seed"], k, o)
                mask = colour_mask(frame, o["rgb"])
                rows, cols = np.nonzero(mask)
                assert abs(cols.mean() - x) < 1.0 and abs(rows.mean() - y) < 1.0, (clip.truth["seed"], k, o)
                x0, y0, x1, y1 = o["bbox"]
                assert cols.min() >= x0 - 1 and cols.max() < x1 + 1 and rows.min() >= y0 - 1 and rows.max() < y1 + 1
                checked += 1
    assert checked > 1000


def test_visible_fraction_accounts_for_frame_edges():
    obj = SceneObject(0, "circle", "red", "large", 0.0, 0.5, (Action("still"),))  # centred on the left edge
    frames, truth = render_scene(still_scene(obj), width=64, height=64, fps=8, num_frames=1)
    o = truth["frames"][0]["objects"][0]
    assert 0.4 < o["visible_fraction"] < 0.6
    assert o["bbox"][0] == 0 and o["bbox"][2] <= 10


def test_collision_changes_colour_in_pixels():
    seen = 0
    for clip in clips("train") + clips("test"):
        hit = clip.truth["collision"]
        if hit is None:
            continue
        change = [e for e in clip.truth["events"] if e["type"] == "colour_change"]
        assert len(change) == 1 and change[0]["objects"] == [hit["target"]] and change[0]["to"] == hit["colour"]
        collisions = [e for e in clip.truth["events"] if e["type"] == "collision"]
        assert collisions[0]["frame"] == change[0]["frame"] and set(collisions[0]["objects"]) == {
            hit["hitter"], hit["target"]}
        f = change[0]["frame"]
        assert 0 < f < clip.truth["num_frames"] - 1
        old, new = COLOURS[change[0]["from"]], COLOURS[hit["colour"]]
        before, after = (clip.truth["frames"][k]["objects"][hit["target"]] for k in (f - 1, f))
        assert before["colour"] == change[0]["from"] and after["colour"] == hit["colour"]
        assert colour_mask(clip.frames[f - 1], old).sum() > 5 and colour_mask(clip.frames[f - 1], new).sum() == 0
        assert colour_mask(clip.frames[f], new).sum() > 5 and colour_mask(clip.frames[f], old).sum() == 0
        seen += 1
    assert seen >= 10


def test_occlusion_hides_then_reveals():
    seen = 0
    for clip in clips("train") + clips("test"):
        if clip.truth["occluder"] is None:
            continue
        (k,) = [o["id"] for o in clip.truth["objects"] if o["behind_occluder"]]
        vis = np.array([fr["objects"][k]["visible_fraction"] for fr in clip.truth["frames"]])
        low = int(np.argmin(vis))
        assert vis[0] > 0.99 and vis[low] < 0.01 and vis[-1] > 0.99 and vis[low:].max() > 0.99
        types = [(e["type"], e["objects"]) for e in clip.truth["events"] if e["type"] in ("occluded", "reappeared")]
        assert types == [("occluded", [k]), ("reappeared", [k])]
        rgb = clip.truth["frames"][low]["objects"][k]["rgb"]
        assert colour_mask(clip.frames[low], rgb).sum() == 0 and colour_mask(clip.frames[0], rgb).sum() > 5
        assert clip.truth["frames"][low]["objects"][k]["bbox"] is None
        seen += 1
    assert seen >= 8


def test_gravity_is_a_parabola_between_floor_bounces():
    seen = 0
    for seed in range(200):
        scene = sample_scene(seed, split="train", aspect=1.5, duration=2.0)
        if scene.kind != "fall" or scene.camera.motion != "static":
            continue
        clip = render_clip(seed, fps=30, seconds=2.0)
        assert clip.scene == scene
        t = np.array([fr["time"] for fr in clip.truth["frames"]])
        y = np.array([fr["objects"][0]["y"] for fr in clip.truth["frames"]])
        bounces = [e["frame"] for e in clip.truth["events"] if e["type"] == "floor_bounce"]
        assert len(bounces) >= 1
        for a, b in zip([0] + bounces, bounces, strict=False):
            if b - a < 6:
                continue
            seg = slice(a, b)  # frames a .. b-1 lie on one parabola
            coef = np.polyfit(t[seg], y[seg], 2)
            assert abs(2 * coef[0] - GRAVITY * 64) < 0.01 * GRAVITY * 64
            resid = y[seg] - np.polyval(coef, t[seg])
            assert np.abs(resid).max() < 0.01
        apex = [y[a:b].min() for a, b in zip(bounces, bounces[1:], strict=False) if b - a > 2]
        assert all(p2 > p1 for p1, p2 in zip(apex, apex[1:], strict=False))  # each bounce lower (y down)
        seen += 1
        if seen == 4:
            break
    assert seen >= 2


@pytest.mark.parametrize("motion,dx,dy", [("pan_left", 1, 0), ("pan_right", -1, 0), ("pan_up", 0, 1), ("pan_down", 0, -1)])
def test_camera_pan_moves_the_background_the_right_way(motion, dx, dy):
    """Panning left moves the view left, so the world (texture and still objects) shifts right."""
    bg = Background("textured", "light grey", pattern="checker", period=0.11)
    obj = SceneObject(0, "square", "red", "small", 0.5, 0.5, (Action("still"),))
    scene = still_scene(obj, camera=Camera(motion, 0.125), bg=bg)
    frames, truth = render_scene(scene, width=64, height=64, fps=8, num_frames=9)  # 1 s: 8 px
    first, last = frames[0].astype(np.float32), frames[8].astype(np.float32)
    errs = {}
    for sx in range(-10, 11):
        for sy in range(-10, 11):
            a = first[16:48, 16:48]
            b = last[16 + sy:48 + sy, 16 + sx:48 + sx]
            errs[(sx, sy)] = np.abs(a - b).mean()
    assert min(errs, key=errs.get) == (8 * dx, 8 * dy)
    o0, o8 = truth["frames"][0]["objects"][0], truth["frames"][8]["objects"][0]
    assert abs(o8["x"] - o0["x"] - 8 * dx) < 1e-3 and abs(o8["y"] - o0["y"] - 8 * dy) < 1e-3
    assert abs(o8["vx"] - 8 * dx) < 1e-3 and abs(o8["vy"] - 8 * dy) < 1e-3
    cam = truth["frames"][8]["camera"]
    assert (cam["offset_x"], cam["offset_y"]) == (-8 * dx, -8 * dy)


def test_zoom_scales_objects_about_the_centre():
    obj = SceneObject(0, "circle", "blue", "medium", 0.7, 0.5, (Action("still"),))
    frames, truth = render_scene(still_scene(obj, camera=Camera("zoom_in", np.log(1.5))), width=64, height=64,
                                 fps=4, num_frames=5)
    o0, o4 = truth["frames"][0]["objects"][0], truth["frames"][4]["objects"][0]
    assert abs(o4["radius_px"] / o0["radius_px"] - 1.5) < 1e-3
    assert abs((o4["x"] - 31.5) / (o0["x"] - 31.5) - 1.5) < 1e-3
    assert colour_mask(frames[4], COLOURS["blue"]).sum() > 2 * colour_mask(frames[0], COLOURS["blue"]).sum()


def test_rotation_is_clockwise_on_screen():
    obj = SceneObject(0, "triangle", "green", "large", 0.5, 0.5, (Action("rotate", 0.0, "clockwise", "fast"),))
    frames, truth = render_scene(still_scene(obj), width=64, height=64, fps=2, num_frames=2)  # 0.5 s: 90 deg
    assert truth["frames"][1]["objects"][0]["angle"] == 90.0
    o = truth["frames"][1]["objects"][0]
    r = 0.9 * o["radius_px"]
    tip_right = frames[1][round(o["y"]), round(o["x"] + r)]
    tip_left = frames[1][round(o["y"]), round(o["x"] - r)]
    assert tuple(tip_right) == COLOURS["green"] and tuple(tip_left) != COLOURS["green"]
    assert tuple(frames[0][round(o["y"] - r), round(o["x"])]) == COLOURS["green"]  # frame 0: tip up


def test_objects_are_saturated_and_backgrounds_muted():
    for clip in clips("train")[:40]:
        f = clip.frames.reshape(-1, 3).astype(np.float32)
        sat = (f.max(1) - f.min(1)) / np.maximum(f.max(1), 1)
        obj_px = np.zeros(len(f), bool)
        for rgb in COLOURS.values():
            obj_px |= np.linalg.norm(f - np.asarray(rgb, np.float32), axis=1) < 1
        assert sat[obj_px].min() >= 0.8
        assert np.mean(sat[~obj_px] > 0.5) < 0.05  # only anti-aliased object edges are saturated


def test_render_speed_report():
    """Not a timing assertion: prints the cost per clip (see the report in the PR)."""
    for kw in ({"width": 64, "height": 64, "num_frames": 17}, {"width": 96, "height": 64, "num_frames": 16}):
        start = time.perf_counter()
        for seed in range(30):
            render_clip(seed, **kw)
        print(f"{kw}: {(time.perf_counter() - start) / 30 * 1e3:.1f} ms per clip")
