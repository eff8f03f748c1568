"""A Fréchet distance between sets of world-like clips, in a feature space of our own.

Pretrained video features (I3D for FVD) cannot be downloaded here, so each clip is described by
a fixed, hand-crafted vector (``clip_features``, ``FEATURE_NAMES``) built from the WorldBench
tracker, every entry on a comparable [0, ~1] scale:

- colour: the fraction of pixels of each of the 8 palette colours, and of no palette colour;
- brightness and saturation: mean and spread over the clip;
- objects: blobs per frame (mean, spread, / 3), mean blob area (fraction of the frame), the
  fitted shapes' histogram (6 shapes + "no shape"), the mean template residual;
- motion: mean blob displacement per frame (frame heights), mean absolute frame difference,
  camera translation (frame heights) and zoom per frame, background flicker.

``frechet_distance`` is the usual ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between
Gaussians fitted to two sets (FID/FVD's formula); identical sets give 0. Like FVD it is biased
upwards for small sets, so compare numbers measured with the same set sizes.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from kinema.errors import KinemaError
from kinema.eval.track import PALETTE_NAMES, camera_motion, detect, label_colours, rgb_to_hsv
from kinema.world.vocab import SHAPES

FEATURE_NAMES: tuple[str, ...] = (
    *(f"colour_{n}" for n in PALETTE_NAMES),
    "colour_none",
    "brightness_mean",
    "brightness_std",
    "saturation_mean",
    "saturation_std",
    "blobs_mean",
    "blobs_std",
    "blob_area",
    *(f"shape_{s}" for s in SHAPES),
    "shape_none",
    "shape_residual",
    "blob_motion",
    "frame_diff",
    "camera_shift",
    "camera_zoom",
    "flicker",
)


def clip_features(video: np.ndarray, max_frames: int = 17) -> np.ndarray:
    """The feature vector (``len(FEATURE_NAMES)``,) of a clip, uint8 (T, H, W, 3); at most
    ``max_frames`` frames, evenly spaced, are analysed."""
    if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3:
        raise KinemaError(
            f"clip_features needs a uint8 video (T, H, W, 3), got {getattr(video, 'shape', video)!r}"
        )
    n_t, h, w = video.shape[:3]
    idx = np.unique(np.linspace(0, n_t - 1, min(n_t, max_frames)).round().astype(int))
    v = video[idx]
    colour = np.zeros(len(PALETTE_NAMES) + 1)
    counts, areas, shapes, residuals = [], [], np.zeros(len(SHAPES) + 1), []
    centres: list[dict[str, tuple[float, float]]] = []
    for f in v:
        lab = label_colours(f)
        colour += np.bincount(lab.ravel() + 1, minlength=len(PALETTE_NAMES) + 1)[[*range(1, 9), 0]] / lab.size
        dets = detect(f, labels=lab)
        counts.append(len(dets))
        centres.append({})
        for d in dets:
            areas.append(d.area / (h * w))
            centres[-1].setdefault(d.colour, (d.x, d.y))
        for d in dets[:3]:
            s, r = d.shape()
            shapes[SHAPES.index(s) if s is not None else len(SHAPES)] += 1
            residuals.append(min(r, 1.0))
    colour /= len(v)
    _, sat, val = rgb_to_hsv(v.astype(np.float32))
    moves = [
        np.hypot(b[c][0] - a[c][0], b[c][1] - a[c][1]) / h
        for a, b in zip(centres[:-1], centres[1:], strict=True)
        for c in a
        if c in b
    ]
    if len(v) > 1:
        motion, residual, _ = camera_motion(v)
        diff = float(np.abs(np.diff(v.astype(np.float32), axis=0)).mean() / 255.0)
        shift, zoom, flicker = (
            float(np.hypot(motion[:, 0], motion[:, 1]).mean() / h),
            float(np.abs(motion[:, 2]).mean() * 10),
            float(residual.mean() / 25.0),
        )
    else:
        diff = shift = zoom = flicker = 0.0
    feats = [
        *colour,
        val.mean() / 255.0,
        val.std() / 255.0,
        sat.mean(),
        sat.std(),
        np.mean(counts) / 3.0,
        np.std(counts) / 3.0,
        float(np.mean(areas)) if areas else 0.0,
        *(shapes / max(shapes.sum(), 1.0)),
        float(np.mean(residuals)) if residuals else 1.0,
        float(np.mean(moves)) if moves else 0.0,
        diff,
        shift,
        zoom,
        flicker,
    ]
    return np.asarray(feats, dtype=np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise KinemaError(
            f"the Fréchet distance needs two sets of >= 2 feature vectors of one size, got "
            f"{a.shape} and {b.shape}"
        )
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    s1 = s1 + eps * np.eye(len(mu1))
    s2 = s2 + eps * np.eye(len(mu2))
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(max(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean), 0.0))
