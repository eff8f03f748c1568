"""Does ``kinema generate "a red circle moves to the right"`` move the object that way?

The README's headline prompt, measured the way a user types it: short prompts "a COLOUR SHAPE
moves DIRECTION" (left, right, up, down; expanded by the model like ``kinema generate`` does),
several seeds each. In every generated clip the largest blob of the prompt's colour
(``kinema.eval.track.detect``) is followed from the first frame it is found to the last; its net
displacement is the clip's motion. A clip **moves** when the displacement is at least
``--min-move`` pixels and **follows** the prompt when it moves within 45 degrees of the asked
direction. Chance for "follows" among moving clips is about 1/4; a static model scores 0.
**along** is the mean displacement along the asked direction in pixels (a clip whose blob is never
found twice counts 0): positive when objects go where asked, about 0 when direction is ignored.
Motion that comes from the seed rather than the words is shared by all four prompts of a seed, so
the sharpest measure is the **paired contrast**: for the same object and seed, half the
difference in x between "moves right" and "moves left" (and in y between "down" and "up"), in
pixels, and how often it exceeds 1 px. It is about 0 (and ~0.5 of the pairs by chance) for a
model that ignores the direction word, and positive for one that follows it.

    PYTHONPATH=src .venv/bin/python scripts/motion_probe.py weights/default [--seeds 4] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import torch

from kinema.atomic import atomic_write_text
from kinema.eval.keep import PAIRS, motion_units
from kinema.eval.track import detect
from kinema.pipeline import Pipeline
from kinema.world.vocab import DIRECTIONS

OBJECTS = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star")]
ASKED = ("left", "right", "up", "down")


def track(frames: np.ndarray, colour: str) -> np.ndarray:
    """Centre ``(x, y)`` of the largest ``colour`` blob per frame, NaN where none: ``(T, 2)``."""
    out = np.full((len(frames), 2), np.nan)
    for k, frame in enumerate(frames):
        for d in detect(frame):
            if d.colour == colour:
                out[k] = (d.x, d.y)
                break
    return out


def displacement(path: np.ndarray) -> np.ndarray | None:
    """Net ``(dx, dy)`` from the first to the last frame the blob was found; None if found < 2 times."""
    found = np.flatnonzero(~np.isnan(path[:, 0]))
    if len(found) < 2:
        return None
    return path[found[-1]] - path[found[0]]


def follows(d: np.ndarray | None, direction: str, min_move: float) -> tuple[bool, bool]:
    """(moves, follows the asked ``direction`` within 45 degrees)."""
    if d is None or math.hypot(*d) < min_move:
        return False, False
    want = np.asarray(DIRECTIONS[direction])
    return True, bool(d @ want / math.hypot(*d) >= math.cos(math.radians(45)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default="weights/default")
    p.add_argument("--seeds", type=int, default=4, help="seeds per prompt (default 4)")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--min-move", type=float, default=4.0, help="pixels of net displacement that count as moving")
    p.add_argument("--shift", type=float, default=None, help="sampling time shift (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write every clip's displacement here")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    pipe = Pipeline.from_pretrained(ns.model)
    rows = []
    for direction in ASKED:
        for colour, shape in OBJECTS:
            prompt = f"a {colour} {shape} moves {direction}"
            for seed in range(ns.seeds):
                res = pipe(prompt, frames=ns.frames, seed=seed, shift=ns.shift, guidance=ns.guidance, progress=False)
                d = displacement(track(res.frames, colour))
                moves, ok = follows(d, direction, ns.min_move)
                along = 0.0 if d is None else float(d @ np.asarray(DIRECTIONS[direction]))
                rows.append({"prompt": prompt, "seed": seed, "direction": direction, "moves": moves,
                             "follows": ok, "along": round(along, 2), "dx": None if d is None else round(float(d[0]), 2),
                             "dy": None if d is None else round(float(d[1]), 2)})
    print(f"{'direction':10s} {'moves':>6s} {'follows':>8s} {'follows|moves':>14s} {'along (px)':>11s}")
    summary = {}
    for direction in (*ASKED, "all"):
        sel = [r for r in rows if direction in ("all", r["direction"])]
        moving = [r for r in sel if r["moves"]]
        s = {"clips": len(sel), "moves": np.mean([r["moves"] for r in sel]),
             "follows": np.mean([r["follows"] for r in sel]),
             "follows_if_moving": np.mean([r["follows"] for r in moving]) if moving else float("nan"),
             "along": np.mean([r["along"] for r in sel])}
        summary[direction] = {k: float(v) for k, v in s.items()}
        print(f"{direction:10s} {s['moves']:6.2f} {s['follows']:8.2f} {s['follows_if_moving']:14.2f} {s['along']:11.2f}")
    for key, (a, b, _) in PAIRS.items():
        c = np.asarray(list(motion_units(rows, key).values()), dtype=float)
        con = {"pairs": len(c), "mean_px": float(c.mean()) if len(c) else float("nan"),
               "above_1px": float((c > 1).mean()) if len(c) else float("nan")}
        summary[key] = con
        print(f"paired contrast {a}/{b}: {con['mean_px']:.2f} px ({con['above_1px']:.2f} of {len(c)} pairs above 1 px)")
    if ns.json:
        atomic_write_text(ns.json, json.dumps({"model": ns.model, "summary": summary, "clips": rows}, indent=1))


if __name__ == "__main__":
    main()
