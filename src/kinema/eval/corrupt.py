"""Corruptions of a video that WorldBench must catch (its validation, ``tests/test_worldbench.py``).

Each takes uint8 ``(T, H, W, 3)`` and returns a new uint8 array of the same shape; randomness only
through the ``rng`` argument.

- ``mirror``: left/right flipped; ``rot180``: rotated 180 degrees; ``reverse``: time-reversed;
- ``swap_colours``: every palette colour replaced by another one (a fixed derangement);
- ``freeze``: the first frame repeated; ``shuffle``: frames in a random order;
- ``noise``: i.i.d. Gaussian noise (sigma 25 grey levels) on every pixel of every frame;
- ``speckle``: the clip's own object colours scattered as isolated pixels over its background,
  with no coherent object (what an undertrained model produces).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kinema.eval.track import PALETTE, label_colours


def mirror(v: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    return np.ascontiguousarray(v[:, :, ::-1])


def rot180(v: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    return np.ascontiguousarray(v[:, ::-1, ::-1])


def reverse(v: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    return np.ascontiguousarray(v[::-1])


def swap_colours(v: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Object pixels of palette colour i get colour (i + 3) mod 8, keeping their coverage blend."""
    out = v.astype(np.float32)
    for k in range(v.shape[0]):
        lab = label_colours(v[k])
        lab = np.where(lab >= 0, lab, -1)
        # grow the labels by one pixel so anti-aliased edges are recoloured too
        grown = lab.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            shifted = np.roll(lab, (dy, dx), axis=(0, 1))
            grown = np.where((grown < 0) & (shifted >= 0), shifted, grown)
        m = grown >= 0
        src, dst = PALETTE[grown[m]], PALETTE[(grown[m] + 3) % len(PALETTE)]
        out[k][m] = out[k][m] - src + dst
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def freeze(v: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    return np.repeat(v[:1], v.shape[0], axis=0)


def shuffle(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    perm = rng.permutation(v.shape[0])
    if v.shape[0] > 1 and (perm == np.arange(v.shape[0])).all():
        perm = np.roll(perm, 1)
    return np.ascontiguousarray(v[perm])


def noise(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(v.astype(np.float32) + rng.normal(0.0, 25.0, v.shape), 0, 255).astype(np.uint8)


def speckle(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Objects removed (their pixels set to the frame's median background), then 3% of the pixels
    set to the clip's object colours, each pixel independently."""
    out = v.copy()
    colours = sorted({int(c) for c in np.unique(label_colours(v[0])) if c >= 0}) or [0]
    for k in range(v.shape[0]):
        lab = label_colours(v[k])
        obj = lab >= 0
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)):
            obj = obj | np.roll(lab >= 0, (dy, dx), axis=(0, 1))
        bg = np.median(v[k][~obj], axis=0) if (~obj).any() else np.full(3, 128.0)
        out[k][obj] = bg.astype(np.uint8)
        dots = rng.random(v.shape[1:3]) < 0.03
        pick = rng.integers(len(colours), size=int(dots.sum()))
        out[k][dots] = PALETTE[np.asarray(colours)[pick]].astype(np.uint8)
    return out


CORRUPTIONS: dict[str, Callable[..., np.ndarray]] = {
    "mirror": mirror,
    "rot180": rot180,
    "reverse": reverse,
    "swap_colours": swap_colours,
    "freeze": freeze,
    "shuffle": shuffle,
    "noise": noise,
    "speckle": speckle,
}
