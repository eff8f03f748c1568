"""Does a model tell the words of a caption apart, and put objects where the caption says?

Two probes for the default model's weak spots (direction, position, shape):

1. **Text**: for caption pairs that differ in one word (left/right, up/down, circle/square, ...),
   the distance between the built-in text encoder's features, and between the DiT's velocities
   for the same noisy latent. A pair the encoder maps to nearly the same features cannot be
   followed, whatever the DiT learns.
2. **Placement** (with ``--worldbench DIR``, folders written by ``kinema eval worldbench``): for
   every visible object in every frame, the blob of its colour (``kinema.eval.scores``) against
   the truth's centre: the mean position error as a fraction of the frame, and how often the blob
   is on the truth's side (left/right, top/bottom) when the truth is clearly off-centre (more than
   1/6 of the frame from the middle). Chance is 0.5; the suite's own renders score 1.0.

    PYTHONPATH=src .venv/bin/python scripts/text_binding_probe.py weights/default [--worldbench runs/wb/model ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from kinema.data.video_io import read_video
from kinema.eval.scores import VIS, _build
from kinema.models.bundle import load_bundle

BASE = "A plain beige background. A large red circle in the centre. The red circle moves {}. The camera is static."
PAIRS = [
    ("moves left", "moves right", BASE.format("left"), BASE.format("right")),
    ("moves up", "moves down", BASE.format("up"), BASE.format("down")),
    ("moves left", "moves up", BASE.format("left"), BASE.format("up")),
    ("circle", "square", BASE.format("left"), BASE.replace("circle", "square").format("left")),
    ("on the left", "on the right", BASE.replace("in the centre", "on the left").format("left"),
     BASE.replace("in the centre", "on the right").format("left")),
    ("quickly", "slowly", BASE.format("right quickly"), BASE.format("right slowly")),
    ("red", "blue", BASE.format("left"), BASE.replace("red", "blue").format("left")),
]


@torch.no_grad()
def text_probe(folder: str) -> dict[str, dict[str, float]]:
    """Per word pair: feature distance (whole caption), cosine at the differing word, velocity distance."""
    bundle = load_bundle(folder)
    text, dit, vae = bundle.text.eval(), bundle.dit.eval(), bundle.vae.eval()
    latent = vae.latent_shape(17, 64, 64)  # (t, h, w)
    x = torch.randn(1, vae.cfg.latent_channels, *latent, generator=torch.Generator().manual_seed(0))
    out = {}
    for a, b, cap_a, cap_b in PAIRS:
        f, m = text([cap_a, cap_b])  # (2, L, D)
        diff = (f[0] - f[1]).norm(dim=-1)  # (L,)
        j = int(diff.argmax())
        v = dit(x.expand(2, -1, -1, -1, -1), torch.full((2,), 0.9), f, m)
        out[f"{a} / {b}"] = {
            "feature_distance": float((f[0] - f[1]).norm()),
            "cosine_at_word": float(torch.nn.functional.cosine_similarity(f[0, j], f[1, j], dim=0)),
            "velocity_distance": float((v[0] - v[1]).norm() / v[0].norm()),
        }
    return out


def placement(folder: str) -> dict[str, float]:
    """Position error and side accuracy of a WorldBench output folder (videos/ and truth/)."""
    root = Path(folder)
    errs, side = [], []
    for tp in sorted((root / "truth").glob("*.json")):
        vp = root / "videos" / f"{tp.stem}.mp4"
        if not vp.exists():
            continue
        truth = json.loads(tp.read_text())
        clip = _build(np.asarray(read_video(vp)), truth)
        w, h = truth["width"], truth["height"]
        for k in range(len(clip.frames)):
            for i in range(len(clip.shapes)):
                d = clip.find(k, i) if clip.vis(k, i) >= VIS else None
                if d is None:
                    continue
                px, py = clip.pos(k, i)
                errs.append(float(np.hypot((d.x - px) / w, (d.y - py) / h)))
                for got, want, n in ((d.x, px, w), (d.y, py, h)):
                    if abs(want - n / 2) > n / 6:
                        side.append(float(np.sign(got - n / 2) == np.sign(want - n / 2)))
    if not errs:
        raise SystemExit(f"{folder}: no scored videos (give the folder holding videos/ and truth/)")
    return {"position_error": float(np.mean(errs)), "right_side": float(np.mean(side)), "objects": len(errs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="model folder (e.g. weights/default) for the text probe")
    p.add_argument("--worldbench", nargs="*", default=[], help="WorldBench output folders to score placement on")
    p.add_argument("--json", default=None, help="also write the figures here")
    ns = p.parse_args()
    torch.set_num_threads(1)
    result: dict = {}
    if ns.model:
        result["text"] = text_probe(ns.model)
        print(f"{ns.model}: feature distance | cosine at the word | velocity distance (relative), t = 0.9")
        for name, r in result["text"].items():
            print(f"  {name:28s} {r['feature_distance']:6.2f} | {r['cosine_at_word']:6.3f} | {r['velocity_distance']:.4f}")
    for folder in ns.worldbench:
        r = placement(folder)
        result.setdefault("placement", {})[folder] = r
        print(f"{folder}: position error {r['position_error']:.3f} of the frame, on the right side "
              f"{r['right_side']:.3f} ({r['objects']} object-frames)")
    if ns.json:
        Path(ns.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
