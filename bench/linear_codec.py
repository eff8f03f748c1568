"""The autoencoder against a linear codec of the same compression: how much does learning buy?

    python -m bench.linear_codec --checkpoint weights/vae_real.safetensors \
        --train configs/data/opencv_train.csv --size 128x128 --frames 65 \
        --json bench/vae_real_linear.json /usr/share/doc/opencv-doc/examples/data/tree.avi

The linear codec cuts a video the way the autoencoder's latent grid does: frame 0 alone, then
groups of ``ft`` frames, each cut into ``s x s`` pixel blocks. A block (``s·s·3`` values for frame
0, ``ft·s·s·3`` for a group) is stored as its projection on the top ``k`` principal components,
``k`` = the autoencoder's latent channels, so it keeps exactly as many numbers as the latent: the
same compression ratio. Two fits are reported:

- **train**: principal components of the training footage (``--train``, manifests or folders as
  ``data.path`` takes them; stills count as 1-frame videos), read at the evaluation geometry. This
  is the learned autoencoder's peer: the same data, a linear model.
- **oracle**: principal components of the evaluated video itself. No codec can know them; a
  learned autoencoder that scores below this is held back by what it has learned, not by the
  number of values its latent keeps.

Per frame it also reports the autoencoder's PSNR beside the frame's motion (mean absolute
difference to the previous frame), to show where the error sits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from kinema.data.dataset import to_model_video, to_uint8_frames
from kinema.errors import KinemaError
from kinema.models.vae import PatchLinear, VAEConfig, VideoVAE, linear_path_pca


class LinearCodec:
    """The autoencoder's linear path alone (``kinema.models.vae.PatchLinear``), fitted as principal
    components: ``cfg.latent_channels`` numbers per block, the autoencoder's compression."""

    def __init__(self, cfg: VAEConfig, videos: Iterable[np.ndarray]) -> None:
        """Fit on uint8 (T, H, W, C) videos already trimmed to ``1 + ft·j`` frames (j may be 0)."""
        self.cfg = dataclasses.replace(cfg, linear_path=True)
        self.enc, self.dec = PatchLinear(self.cfg, decode=False), PatchLinear(self.cfg, decode=True)
        pca = linear_path_pca(self.cfg, (to_model_video(v).unsqueeze(0) for v in videos))
        for half in (self.enc, self.dec):
            for name, (mean, comp, std) in pca.items():
                half.set_pca(name, mean, comp, std)

    @torch.no_grad()
    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (T, H, W, C) -> uint8 (T, H, W, C) through the code."""
        x = to_model_video(frames).unsqueeze(0)  # (1, C, T, H, W)
        return to_uint8_frames(self.dec(self.enc(x)).clamp(-1, 1))[0]


def frame_psnr(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Per-frame PSNR (dB) of uint8 ``out`` against uint8 ``ref`` (T, H, W, C)."""
    mse = ((ref.astype(np.float64) - out.astype(np.float64)) / 255.0) ** 2
    mse = mse.reshape(ref.shape[0], -1).mean(1)
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))


def total_psnr(per_frame: np.ndarray) -> float:
    """PSNR over all pixels from per-frame PSNRs of equal-size frames."""
    return float(10 * np.log10(1.0 / np.mean(10 ** (-per_frame / 10))))


def frame_motion(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each frame to the previous one, on [0, 1] (frame 0: 0)."""
    x = frames.astype(np.float64) / 255.0
    return np.concatenate([[0.0], np.abs(np.diff(x, axis=0)).reshape(len(x) - 1, -1).mean(1)])


def training_videos(paths: Sequence[str], model: VideoVAE, *, size: tuple[int, int], max_frames: int,
                    fps: float | None = None) -> list[np.ndarray]:
    """The entries of ``paths`` (manifests or folders) read center-cropped to ``size`` and fitted to
    ``model`` (``vae_eval.fit_video``: ``1 + ft·j`` frames, at most ``max_frames``); unreadable
    entries are skipped with their reason printed."""
    from kinema.data.dataset import find_entries
    from kinema.data.video_io import read_video
    from kinema.eval.vae_eval import fit_video

    out = []
    for path in paths:
        entries, skipped = find_entries(path)
        for name, why in skipped:
            print(f"skipped {name}: {why}")
        for e in entries:
            try:
                frames = read_video(e.path, fps=fps, start=e.start, end=e.end, num_frames=max_frames, size=size,
                                    crop="center")
            except KinemaError as err:
                print(f"skipped {e.path}: {err}")
                continue
            out.append(fit_video(frames, model, max_frames))
    if not out:
        raise KinemaError(f"no training footage could be read from {', '.join(paths)}")
    return out


def compare(checkpoint: str, train: Sequence[str], videos: Sequence[str], size: tuple[int, int],
            max_frames: int, threads: int = 1) -> dict:
    """The comparison of the module docstring, as a dict (one entry per evaluated video)."""
    from kinema.eval.vae_eval import fit_video, read_for_eval, reconstruct, resolve_vae

    torch.set_num_threads(threads)
    model = resolve_vae(checkpoint)
    ft, s, k = model.cfg.temporal_factor, model.cfg.spatial_factor, model.cfg.latent_channels
    codec = LinearCodec(model.cfg, training_videos(train, model, size=size, max_frames=max_frames))
    rows = []
    for path in videos:
        frames = fit_video(read_for_eval(Path(path), fps=None, size=size, max_frames=max_frames), model)
        vae = frame_psnr(frames, reconstruct(model, frames))
        lin = frame_psnr(frames, codec.reconstruct(frames))
        oracle = frame_psnr(frames, LinearCodec(model.cfg, [frames]).reconstruct(frames))
        motion = frame_motion(frames)
        fast = motion > 2 * np.median(motion[1:]) if len(motion) > 1 else np.zeros(len(motion), bool)
        rows.append({
            "name": path, "frames": int(frames.shape[0]), "height": int(frames.shape[1]),
            "width": int(frames.shape[2]),
            "psnr": {"autoencoder": total_psnr(vae), "linear_train": total_psnr(lin),
                     "linear_oracle": total_psnr(oracle)},
            "autoencoder_frame0": float(vae[0]),
            "fast_frames": int(fast.sum()),
            "autoencoder_calm": total_psnr(vae[~fast]),
            "autoencoder_fast": total_psnr(vae[fast]) if fast.any() else None,
            "per_frame": {"autoencoder": vae.round(3).tolist(), "linear_train": lin.round(3).tolist(),
                          "motion": motion.round(5).tolist()},
        })
    return {"checkpoint": checkpoint, "train": list(train), "size": list(size), "max_frames": max_frames,
            "codec": {"temporal_factor": ft, "spatial_factor": s, "components": k}, "videos": rows}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", help="held-out videos to evaluate")
    p.add_argument("--checkpoint", required=True, help="a vae.safetensors or a VAE run folder")
    p.add_argument("--train", nargs="+", required=True, help="training footage (manifests or folders)")
    p.add_argument("--size", default="128x128", help="HEIGHTxWIDTH the videos are center-cropped to")
    p.add_argument("--frames", type=int, default=65, help="at most this many frames per video")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    ns = p.parse_args(argv)
    try:
        h, w = (int(v) for v in ns.size.lower().split("x"))
    except ValueError:
        p.error(f"--size must be HEIGHTxWIDTH, got {ns.size!r}")
    try:
        report = compare(ns.checkpoint, ns.train, ns.videos, (h, w), ns.frames, ns.threads)
    except KinemaError as err:
        raise SystemExit(f"linear_codec: {err}") from None
    c = report["codec"]
    print(f"linear codec: {c['components']} components per {c['temporal_factor']}x{c['spatial_factor']}x"
          f"{c['spatial_factor']} block (frame 0: 1x{c['spatial_factor']}x{c['spatial_factor']}), "
          f"the autoencoder's compression")
    for r in report["videos"]:
        q = r["psnr"]
        fast = "" if r["autoencoder_fast"] is None else f", {r['fast_frames']} fast {r['autoencoder_fast']:.2f}"
        print(f"{r['name']}: {r['frames']} frames {r['width']}x{r['height']}  autoencoder {q['autoencoder']:.2f} dB  "
              f"linear (train fit) {q['linear_train']:.2f} dB  linear (oracle fit) {q['linear_oracle']:.2f} dB  "
              f"| autoencoder frame 0 {r['autoencoder_frame0']:.2f}, calm frames {r['autoencoder_calm']:.2f}{fast}")
    if ns.json:
        from kinema.atomic import atomic_write_text

        atomic_write_text(ns.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {ns.json}")


if __name__ == "__main__":
    main()
