"""Watermark robustness and cost: bit accuracy and detection after H.264, resize and crop; PSNR;
false positives on unmarked videos.

    PYTHONPATH=src .venv/bin/python -m bench.safety_watermark --clips 12 --sizes 64x64 64x96 128x128 \
        [--videos DIR ...] --json bench/safety_watermark.json

Sources: world clips (seeded, held-out split) at each size, plus any ``--videos`` folders of mp4s
(e.g. generated clips and real footage from ``scripts/detector_data.py``), used at their size.
Every marked clip is written with kinema's H.264 writer (crf 18) and read back, then:
``h264`` as is; ``resize`` to 0.75x and re-encoded; ``crop`` a 0.9 crop (offset) resized back to
full size and re-encoded. The unmarked original goes through H.264 too and must not read as marked.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from kinema.atomic import atomic_write_text
from kinema.data.video_io import read_video, write_video
from kinema.safety import watermark as wm
from kinema.world import render_clip


def _resize(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR)) for f in frames])


def _h264(frames: np.ndarray, tmp: Path) -> np.ndarray:
    path = tmp / "v.mp4"
    write_video(path, frames, 8.0)
    return read_video(path)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def evaluate(clips: list[np.ndarray], payload: int, strength: float) -> dict:
    """Figures for a list of uint8 ``(T, H, W, 3)`` clips."""
    acc: dict[str, list[float]] = {"h264": [], "resize": [], "crop": []}
    det = {k: 0 for k in acc}
    psnr, z_marked, z_unmarked, fp = [], [], [], 0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for clip in clips:
            _, h, w, _ = clip.shape
            marked = wm.embed(clip, payload, strength=strength)
            psnr.append(_psnr(clip, marked))
            coded = _h264(marked, tmp)
            variants = {
                "h264": coded,
                "resize": _h264(_resize(coded, (h * 3 // 4) // 2 * 2, (w * 3 // 4) // 2 * 2), tmp),
                "crop": _h264(
                    _resize(coded[:, h // 20 : h // 20 + h * 9 // 10, w // 10 : w // 10 + w * 9 // 10], h, w),
                    tmp,
                ),
            }
            for name, v in variants.items():
                r = wm.read(v)
                acc[name].append(wm.bit_accuracy(r, payload))
                det[name] += int(r.marked)
                if name == "h264":
                    z_marked.append(r.z)
            u = wm.read(_h264(clip, tmp))
            z_unmarked.append(u.z)
            fp += int(u.marked)
    n = len(clips)
    return {
        "clips": n,
        "psnr_db": float(np.mean(psnr)),
        "psnr_min_db": float(np.min(psnr)),
        **{f"bit_acc_{k}": float(np.mean(v)) for k, v in acc.items()},
        **{f"detected_{k}": det[k] / n for k in acc},
        "z_marked_min": float(np.min(z_marked)),
        "z_unmarked_max": float(np.max(z_unmarked)),
        "false_positives": fp / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--sizes", nargs="+", default=["64x64", "64x96", "128x128"], help="HxW world clip sizes")
    ap.add_argument("--videos", nargs="*", default=[], help="folders of mp4 clips to mark (at their size)")
    ap.add_argument("--strength", type=float, default=3.0)
    ap.add_argument("--json", default=None)
    ns = ap.parse_args()
    torch.set_num_threads(1)
    payload = wm.make_payload(1)
    report = {"strength": ns.strength, "payload": f"{payload:08x}", "results": {}}
    for size in ns.sizes:
        h, w = (int(v) for v in size.split("x"))
        clips = [
            render_clip(9000 + i, split="test", width=w, height=h, fps=8.0, num_frames=17).frames
            for i in range(ns.clips)
        ]
        report["results"][f"world {size}"] = evaluate(clips, payload, ns.strength)
        print(f"world {size}: {report['results'][f'world {size}']}", flush=True)
    for folder in ns.videos:
        clips = [read_video(p) for p in sorted(Path(folder).glob("*.mp4"))[: ns.clips]]
        report["results"][folder] = evaluate(clips, payload, ns.strength)
        print(f"{folder}: {report['results'][folder]}", flush=True)
    if ns.json:
        atomic_write_text(ns.json, json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
