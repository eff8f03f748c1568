"""Autoencoder evaluation: PSNR, SSIM and compression ratio per video and in total.

Videos are read with ``video_io`` (optionally resampled to ``fps``, resized/cropped to ``size``),
trimmed to the longest ``1 + ft·k`` frames that fit (at most ``max_frames``) and centre-cropped to
a multiple of the spatial factor, then encoded and decoded in causal chunks (flat memory in the
video's length; ``tile`` adds spatial tiling for large frames). Scores are computed chunk by
chunk against the input, so a long video never needs its reconstruction held whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from kinema.data.dataset import scan_folder, to_model_video, to_uint8_frames
from kinema.data.video_io import read_video
from kinema.errors import KinemaError
from kinema.eval.metrics import compression_ratio, ssim
from kinema.models.vae import VAE_FILE, VideoVAE, load_vae


def resolve_vae(checkpoint: str | Path) -> VideoVAE:
    """Load a VAE from a ``.safetensors`` file or a training run folder (its ``vae.safetensors``)."""
    p = Path(checkpoint)
    if p.is_dir():
        p = p / VAE_FILE
    model = load_vae(p)
    model.eval()
    return model


@dataclasses.dataclass
class VideoScore:
    """Reconstruction scores of one video."""

    name: str
    frames: int
    height: int
    width: int
    psnr: float
    ssim: float
    compression: float
    mse: float  # mean squared error on the [0, 1] scale (for totals)


def fit_video(frames: np.ndarray, model: VideoVAE, max_frames: int | None = None) -> np.ndarray:
    """Trim uint8 (T, H, W, C) to ``1 + ft·k`` frames (≤ max_frames) and crop H, W to multiples of s."""
    ft, sf = model.cfg.temporal_factor, model.cfg.spatial_factor
    t = frames.shape[0] if max_frames is None else min(frames.shape[0], max_frames)
    t = 1 + ((t - 1) // ft) * ft
    h, w = (frames.shape[1] // sf) * sf, (frames.shape[2] // sf) * sf
    if h == 0 or w == 0:
        raise KinemaError(f"video of {frames.shape[1]}x{frames.shape[2]} px is smaller than the "
                          f"autoencoder's spatial factor {sf}")
    top, left = (frames.shape[1] - h) // 2, (frames.shape[2] - w) // 2
    return frames[:t, top:top + h, left:left + w]


@torch.no_grad()
def iter_reconstruct(
    model: VideoVAE, x: torch.Tensor, *, tile: int | None = None, overlap: int = 0
) -> Iterator[tuple[torch.Tensor, slice]]:
    """Encode x (1, C, T, H, W) chunked, decode chunked; yield (reconstructed chunk, its frame slice)."""
    z = model.encode(x, chunk=True, tile=tile, overlap=overlap).mode()  # (1, z, t, h, w)
    pos = 0
    for part in model.iter_decode(z, tile=tile, overlap=overlap):  # (1, C, T_i, H, W)
        yield part.clamp(-1, 1), slice(pos, pos + part.shape[2])
        pos += part.shape[2]


@torch.no_grad()
def reconstruct(model: VideoVAE, frames: np.ndarray, *, tile: int | None = None, overlap: int = 0) -> np.ndarray:
    """uint8 (T, H, W, C) (already fitted, see ``fit_video``) -> reconstruction uint8 (T, H, W, C)."""
    x = to_model_video(frames).unsqueeze(0)  # (1, C, T, H, W)
    out = np.empty_like(frames)
    for part, sl in iter_reconstruct(model, x, tile=tile, overlap=overlap):
        out[sl] = to_uint8_frames(part)[0]
    return out


@torch.no_grad()
def score_video(name: str, frames: np.ndarray, model: VideoVAE, *, tile: int | None = None,
                overlap: int = 0) -> VideoScore:
    """Scores of one fitted uint8 (T, H, W, C) video, computed chunk by chunk."""
    x = to_model_video(frames).unsqueeze(0)  # (1, C, T, H, W)
    se, ssim_sum = 0.0, 0.0
    for part, sl in iter_reconstruct(model, x, tile=tile, overlap=overlap):
        ref = x[:, :, sl]
        # score what a viewer sees: the reconstruction quantised to uint8 like a written video
        part = to_model_video(to_uint8_frames(part)[0]).unsqueeze(0)
        se += (((part - ref) / 2) ** 2).sum().item()
        ssim_sum += ssim(part, ref).item() * part.shape[2]
    t, h, w, c = frames.shape
    mse = se / (t * h * w * c)
    latent = (model.cfg.latent_channels, *model.latent_shape(t, h, w))
    return VideoScore(name=name, frames=t, height=h, width=w, psnr=_psnr(mse), ssim=ssim_sum / t,
                      compression=compression_ratio((c, t, h, w), latent), mse=mse)


def _psnr(mse: float) -> float:
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders expanded to the media files under them (``dataset.scan_folder``)."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = [Path(e.path) for e in scan_folder(p)]
            if not found:
                raise KinemaError(f"folder {p} holds no videos or images")
            paths += found
        else:
            paths.append(p)
    return paths


def evaluate(
    model: VideoVAE,
    videos: Sequence[tuple[str, np.ndarray]],
    *,
    max_frames: int | None = None,
    tile: int | None = None,
    overlap: int = 0,
) -> dict:
    """Score (name, uint8 (T, H, W, C)) videos. Returns ``{"videos": [...], "total": {...}}``;
    the total PSNR is over all pixels of all videos, SSIM is frame-weighted."""
    scores = [score_video(name, fit_video(frames, model, max_frames), model, tile=tile, overlap=overlap)
              for name, frames in videos]
    n = sum(s.frames * s.height * s.width for s in scores)
    mse = sum(s.mse * s.frames * s.height * s.width for s in scores) / n
    total = {
        "videos": len(scores),
        "frames": sum(s.frames for s in scores),
        "psnr": _psnr(mse),
        "ssim": sum(s.ssim * s.frames for s in scores) / sum(s.frames for s in scores),
        "compression": float(np.mean([s.compression for s in scores])),
    }
    return {"videos": [dataclasses.asdict(s) for s in scores], "total": total}


def read_for_eval(path: Path, *, fps: float | None, size: tuple[int, int] | None,
                  max_frames: int | None) -> np.ndarray:
    """Read a video for evaluation (uint8 (T, H, W, C)), at most ``max_frames`` frames."""
    return read_video(path, fps=fps, num_frames=max_frames, size=size, crop="center")


def world_videos(n: int, *, seed: int, width: int, height: int, frames: int, fps: float) -> list[tuple[str, np.ndarray]]:
    """``n`` held-out (test split) world clips as (name, uint8 (T, H, W, C))."""
    from kinema.world import clip_seed, render_clip

    out = []
    for i in range(n):
        s = clip_seed(seed, i)
        out.append((f"world-test:{s}", render_clip(s, split="test", width=width, height=height, fps=fps,
                                                  num_frames=frames).frames))
    return out
