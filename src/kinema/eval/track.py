"""Find the world's objects in video frames, fit their shapes, and measure the camera's motion.

The method is fitted on world renders (the palette and the rasteriser of ``kinema.world``) and
validated in ``tests/test_worldbench.py``:

1. **Colour segmentation.** Object colours are saturated (HSV saturation >= 0.82), backgrounds
   muted (<= 0.25) and the pillar neutral grey. A pixel is an object *core* pixel when its
   saturation is >= ``SAT_CORE`` and its brightest channel >= ``VAL_MIN``; it takes the palette
   colour nearest in hue (the palette hues are >= 21 degrees apart) if within ``HUE_TOL``.
2. **Components.** Connected components (4-connectivity) of each colour's core mask.
3. **Soft coverage.** Around each component the local background is the median of a ring of
   non-object pixels; a pixel's coverage ``alpha`` is its projection on the segment from that
   background to the component's own colour (the median of its most saturated pixels, so
   slightly off-palette generated colours still work). Area = sum(alpha); centre = the
   alpha-weighted centroid, which is the shape's centre for every world shape.
4. **Shape.** Template matching against the world's own rasteriser
   (``kinema.world.render.object_coverage``): at the measured centre, with the radius that gives
   the measured area for each shape, over each shape's rotation-symmetry period in 6-degree
   steps; the smallest L1 residual (relative to the area) names the shape. A residual above
   ``SHAPE_FIT_MAX`` means no coherent world shape is there (e.g. scattered speckle).
5. **Identity.** Colours are unique within a world scene (a collision turns the target into an
   unused colour), so an object is found in a frame as the largest component of its colour.
6. **Camera.** Global parametric Lucas-Kanade on the background (object pixels and their
   surroundings masked out): translation ``(tx, ty)`` in pixels and zoom ``s`` about the frame
   centre per frame pair (``p' = c + (1 + s)(p - c) + t``), Gauss-Newton with warping on a
   2-level pyramid. The median absolute residual after that warp measures flicker.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from kinema.world.render import object_coverage, shape_sdf
from kinema.world.vocab import COLOURS, SHAPES

SAT_CORE = 0.5
VAL_MIN = 70.0
HUE_TOL = 30.0
SHAPE_FIT_MAX = 0.45  # L1 residual / area above which a blob is not a world shape
MIN_SHAPE_RADIUS = 2.5  # pixels; smaller blobs are not classified (too few pixels)
SYMMETRY = {
    "circle": 360.0,
    "square": 90.0,
    "triangle": 120.0,
    "star": 72.0,
    "hexagon": 60.0,
    "diamond": 180.0,
}
ANGLE_STEP = 6.0

PALETTE_NAMES: tuple[str, ...] = tuple(COLOURS)
PALETTE = np.asarray([COLOURS[n] for n in PALETTE_NAMES], dtype=np.float32)  # (8, 3)


def rgb_to_hsv(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360), saturation [0, 1] and value [0, 255] of float RGB ``img`` (..., 3)."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    mx, mn = img.max(-1), img.min(-1)
    d = mx - mn
    safe = np.where(d > 0, d, 1.0)
    h = np.where(mx == r, (g - b) / safe % 6.0, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h = np.where(d > 0, h * 60.0, 0.0) % 360.0
    s = np.where(mx > 0, d / np.where(mx > 0, mx, 1.0), 0.0)
    return h, s, mx


PALETTE_HUE = rgb_to_hsv(PALETTE)[0]  # (8,)


def label_colours(frame: np.ndarray) -> np.ndarray:
    """Palette index of every object core pixel, -1 elsewhere. frame: uint8/float (H, W, 3) -> int8 (H, W)."""
    h, s, v = rgb_to_hsv(frame.astype(np.float32))
    dist = np.abs((h[..., None] - PALETTE_HUE + 180.0) % 360.0 - 180.0)  # (H, W, 8)
    idx = dist.argmin(-1)
    ok = (s >= SAT_CORE) & (v >= VAL_MIN) & (dist.min(-1) <= HUE_TOL)
    return np.where(ok, idx, -1).astype(np.int8)


@functools.cache
def unit_area(shape: str) -> float:
    """Drawn area of ``shape`` at radius 1 (in units of the radius squared)."""
    return float(object_coverage(shape, 0.0, 0.0, 200.0, 0.0)[2].sum()) / 200.0**2


@dataclass
class Detection:
    """One blob of one palette colour. ``x, y``: alpha-weighted centre (pixel (i, j) is at x=j, y=i);
    ``area``: sum of alpha; ``alpha``: float32 (h, w) coverage on the frame box starting at
    ``(row0, col0)``; ``bbox``: [x0, y0, x1, y1) of its core pixels; ``edge``: touches the frame border."""

    colour: str
    area: float
    x: float
    y: float
    bbox: tuple[int, int, int, int]
    edge: bool
    alpha: np.ndarray = field(repr=False)
    row0: int = 0
    col0: int = 0
    _shape: tuple[str | None, float] | None = field(default=None, repr=False)

    def radius(self, shape: str) -> float:
        """The radius (pixels) a ``shape`` of this area has."""
        return math.sqrt(max(self.area, 0.0) / unit_area(shape))

    def shape(self) -> tuple[str | None, float]:
        """``(best shape, residual)``; shape None when the blob is too small or fits no world shape."""
        if self._shape is None:
            self._shape = fit_shape(self)
        return self._shape


def detect(frame: np.ndarray, *, min_area: float = 4.0, labels: np.ndarray | None = None) -> list[Detection]:
    """Every blob of a palette colour with coverage area >= ``min_area`` pixels.

    frame: uint8 (H, W, 3). Returns detections sorted by decreasing area.
    """
    img = frame.astype(np.float32)
    lab = label_colours(img) if labels is None else labels
    hh, ww = lab.shape
    anyobj = lab >= 0
    _, sat, _ = rgb_to_hsv(img)
    out: list[Detection] = []
    for ci in np.unique(lab[anyobj]):
        comps, n = ndimage.label(lab == ci)
        for sl_i, sl in enumerate(ndimage.find_objects(comps)):
            if sl is None:
                continue
            r0, r1 = max(sl[0].start - 3, 0), min(sl[0].stop + 3, hh)
            c0, c1 = max(sl[1].start - 3, 0), min(sl[1].stop + 3, ww)
            core = comps[r0:r1, c0:c1] == sl_i + 1
            if core.sum() < 2:
                continue
            others = anyobj[r0:r1, c0:c1] & ~core
            near = ndimage.binary_dilation(core, iterations=1) & ~others
            ring = ndimage.binary_dilation(core, iterations=3) & ~ndimage.binary_dilation(core, iterations=1)
            ring &= ~ndimage.binary_dilation(others, iterations=1)
            patch = img[r0:r1, c0:c1]
            bg = np.median(patch[ring], axis=0) if ring.sum() >= 3 else np.median(img[~anyobj], axis=0)
            ps = sat[r0:r1, c0:c1][core]
            cols = patch[core][ps >= 0.8 * ps.max()]
            col = np.median(cols, axis=0)
            d = col - bg
            den = float(d @ d)
            if den < 100.0:
                continue
            alpha = np.clip(((patch - bg) @ d) / den, 0.0, 1.0) * near
            area = float(alpha.sum())
            if area < min_area:
                continue
            ys, xs = np.mgrid[r0:r1, c0:c1]
            x = float((alpha * xs).sum() / area)
            y = float((alpha * ys).sum() / area)
            bbox = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
            edge = bbox[0] == 0 or bbox[1] == 0 or bbox[2] == ww or bbox[3] == hh
            out.append(
                Detection(PALETTE_NAMES[int(ci)], area, x, y, bbox, edge, alpha.astype(np.float32), r0, c0)
            )
    out.sort(key=lambda dt: -dt.area)
    return out


def fit_shape(det: Detection) -> tuple[str | None, float]:
    """Template-match ``det`` against every world shape (module docstring, step 4).

    Returns ``(shape, residual)``; ``(None, residual)`` when no shape fits within ``SHAPE_FIT_MAX``
    or the blob is smaller than ``MIN_SHAPE_RADIUS``.
    """
    if det.radius("circle") < MIN_SHAPE_RADIUS:
        return None, math.inf
    a = det.alpha
    h, w = a.shape
    dx = (np.arange(w, dtype=np.float32) + det.col0 - det.x)[None, :]
    dy = (np.arange(h, dtype=np.float32) + det.row0 - det.y)[:, None]
    best, best_res = None, math.inf
    for shape in SHAPES:
        r = det.radius(shape)
        angles = np.radians(np.arange(0.0, SYMMETRY[shape], ANGLE_STEP, dtype=np.float32))
        ca, sa = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]  # (A, 1, 1)
        u = ((ca * dx + sa * dy) / r).reshape(-1, w)  # (A*h, w)
        v = ((-sa * dx + ca * dy) / r).reshape(-1, w)
        cov = np.clip(0.5 - shape_sdf(shape, u, v) * r, 0.0, 1.0).reshape(len(angles), h, w)
        res = float(np.abs(cov - a).sum(axis=(1, 2)).min()) / max(det.area, 1e-6)
        if res < best_res:
            best, best_res = shape, res
    return (best if best_res <= SHAPE_FIT_MAX else None), best_res


# --------------------------------------------------------------------------- camera


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)


def object_mask(frame: np.ndarray, dilate: int = 6) -> np.ndarray:
    """Object pixels and their surroundings: palette-coloured core pixels, opened (isolated
    pixels are not objects) and dilated by ``dilate``. frame (H, W, 3) -> bool (H, W)."""
    m = ndimage.binary_opening(label_colours(frame) >= 0)
    return ndimage.binary_dilation(m, iterations=dilate) if m.any() else m


def _lk(
    i0: np.ndarray,
    i1: np.ndarray,
    mask: np.ndarray,
    theta: np.ndarray,
    iters: int = 6,
) -> tuple[np.ndarray, np.ndarray]:
    """Refine ``theta = (tx, ty, s)`` so that ``i1(c + (1+s)(p-c) + t) ~ i0(p)`` on ``mask``.
    Returns ``(theta, tensor)`` with ``tensor`` the (2, 2) structure tensor of the translation."""
    h, w = i0.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    half = max(h, w) / 2.0  # zoom is solved in units of the half frame so the three unknowns are comparable
    gy, gx = np.gradient(i1)
    tensor = np.zeros((2, 2))
    for _ in range(iters):
        tx, ty, s = theta
        wx, wy = cx + (1 + s) * (xx - cx) + tx, cy + (1 + s) * (yy - cy) + ty
        inside = mask & (wx >= 1) & (wx <= w - 2) & (wy >= 1) & (wy <= h - 2)
        if inside.sum() < 20:
            break
        coords = np.stack([wy[inside], wx[inside]])
        r = ndimage.map_coordinates(i1, coords, order=1) - i0[inside]
        ix = ndimage.map_coordinates(gx, coords, order=1)
        iy = ndimage.map_coordinates(gy, coords, order=1)
        jac = np.stack([ix, iy, (ix * (xx[inside] - cx) + iy * (yy[inside] - cy)) / half], 1)  # (n, 3)
        a = jac.T @ jac
        tensor = a[:2, :2] / len(r)
        a = a + np.eye(3) * (1e-3 * np.trace(a) / 3.0 + 1e-6)  # ridge: unobservable directions stay 0
        step = np.linalg.solve(a, -jac.T @ r) * np.asarray([1.0, 1.0, 1.0 / half])
        theta = theta + step
        if np.abs(step[:2]).max() < 1e-3 and abs(step[2]) < 1e-5:
            break
    return theta, tensor


def observable(tensor: np.ndarray, rel: float = 0.1, floor: float = 0.05) -> np.ndarray:
    """Projection (2, 2) onto the translation directions a structure ``tensor`` (2, 2) can see:
    eigenvectors with eigenvalue >= ``rel`` x the largest and >= ``floor`` (a plain background
    sees none; stripes only across themselves: the aperture problem)."""
    vals, vecs = np.linalg.eigh(tensor)
    keep = (vals >= rel * max(vals.max(), 0.0)) & (vals >= floor)
    v = vecs[:, keep]
    return v @ v.T


def camera_motion(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background motion between consecutive frames and the flicker left after it.

    frames: uint8 (T, H, W, 3). Returns ``motion`` float (T-1, 3): ``(tx, ty, s)`` so that a
    background point ``p`` of frame k is at ``c + (1 + s)(p - c) + t`` in frame k+1 (c the frame
    centre; tx, ty in pixels), and ``residual`` float (T-1,): the median absolute grey-level
    difference over the frame after that warp (objects are a minority of pixels, so the median
    measures the background: 0 for a clean render, ~16 for Gaussian noise of sigma 25), and
    ``proj`` float (T-1, 2, 2): the projection onto the translation directions the background
    can show (``observable``); compare pans only inside it.
    """
    n = frames.shape[0]
    motion = np.zeros((max(n - 1, 0), 3))
    residual = np.zeros(max(n - 1, 0))
    proj = np.zeros((max(n - 1, 0), 2, 2))
    grays = [_gray(f) for f in frames]
    masks = [~object_mask(f) for f in frames]  # beyond the blur of moving objects
    for k in range(n - 1):
        mask = masks[k] & masks[k + 1]
        g0 = ndimage.gaussian_filter(grays[k], 1.0)
        g1 = ndimage.gaussian_filter(grays[k + 1], 1.0)
        theta = np.zeros(3)
        if min(g0.shape) >= 32:  # coarse level first (large moves)
            c0, c1 = g0[::2, ::2], g1[::2, ::2]
            theta, _ = _lk(c0, c1, mask[::2, ::2], theta)
            theta[:2] *= 2.0
        theta, tensor = _lk(g0, g1, mask, theta)
        motion[k] = theta
        proj[k] = observable(tensor)
        h, w = g0.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        wx, wy = cx + (1 + theta[2]) * (xx - cx) + theta[0], cy + (1 + theta[2]) * (yy - cy) + theta[1]
        inside = (
            (wx >= 0) & (wx <= w - 1) & (wy >= 0) & (wy <= h - 1)
        )  # all pixels: the median ignores objects
        if inside.sum() >= 20:
            warped = ndimage.map_coordinates(grays[k + 1], np.stack([wy[inside], wx[inside]]), order=1)
            residual[k] = float(np.median(np.abs(warped - grays[k][inside])))
    return motion, residual, proj
