"""Autoencoder benchmark: encode+decode speed and peak memory against video length, and
reconstruction quality on held-out world clips and on real footage.

    python -m bench.vae --checkpoint weights/vae_world4.safetensors --size 64x64 --fps 8 \
        --seconds 5 20 60 --json bench/vae_world4.json

Each (length, mode) measurement runs in a fresh subprocess, so its peak resident memory
(``ru_maxrss``) is its own; the figure reported is the peak during the first encode+decode minus
the RSS after the model and the input video are loaded, i.e. what encoding+decoding itself costs
(speed is timed on a second pass). ``chunked`` is the causal
chunked path (the one kinema uses); ``whole`` processes the video in one pass, for contrast.
Quality: PSNR/SSIM on world test-split clips, and on real videos given with ``--real``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: Linux folds the parent's size at fork into a child's ru_maxrss
    from bench.peak import peak_rss_mb

    return peak_rss_mb()


def measure_one(checkpoint: str, seconds: float, fps: float, height: int, width: int, mode: str,
                threads: int) -> dict:
    """Encode + decode one synthetic world video of ``seconds``; returns time and memory."""
    from kinema.data.dataset import to_model_video
    from kinema.eval.vae_eval import fit_video, resolve_vae
    from kinema.world import render_clip

    torch.set_num_threads(threads)
    model = resolve_vae(checkpoint)
    frames = fit_video(render_clip(0, width=width, height=height, fps=fps,
                                   num_frames=int(seconds * fps) + 1).frames, model)
    x = to_model_video(frames).unsqueeze(0)  # (1, C, T, H, W)

    def run() -> tuple[int, float]:
        t0 = time.perf_counter()
        with torch.no_grad():
            if mode == "chunked":
                z = model.encode(x, chunk=True).mode()
                t_enc = time.perf_counter() - t0
                n = sum(part.shape[2] for part in model.iter_decode(z))
            else:
                z = model.encode(x).mode()
                t_enc = time.perf_counter() - t0
                n = model.decode(z).shape[2]
        return n, t_enc

    base = _rss_mb()
    run()  # first pass: memory (peak RSS over the baseline); it also warms up kernels and the allocator
    peak_extra = _peak_mb() - base
    t0 = time.perf_counter()
    n, t_enc = run()  # second pass: time
    total = time.perf_counter() - t0
    assert n == frames.shape[0]
    return {"seconds": seconds, "fps": fps, "frames": int(n), "height": height, "width": width, "mode": mode,
            "encode_fps": n / t_enc, "decode_fps": n / (total - t_enc), "roundtrip_fps": n / total,
            "peak_extra_mb": peak_extra}


def _subprocess(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.vae", "--_one", *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def quality(checkpoint: str, real: list[str], size: tuple[int, int], real_size: tuple[int, int] | None,
            max_frames: int, clips: int) -> dict:
    """PSNR/SSIM on ``clips`` held-out world clips and on the ``real`` videos."""
    from kinema.eval.vae_eval import evaluate, read_for_eval, resolve_vae, world_videos

    model = resolve_vae(checkpoint)
    out = {"world_test": evaluate(model, world_videos(clips, seed=1234, width=size[1], height=size[0],
                                                       frames=max_frames, fps=8.0))["total"]}
    if real:
        videos = [(p, read_for_eval(Path(p), fps=None, size=real_size, max_frames=max_frames)) for p in real]
        report = evaluate(model, videos)
        out["real"] = report["total"]
        out["real_videos"] = [{k: v[k] for k in ("name", "frames", "height", "width", "psnr", "ssim")}
                              for v in report["videos"]]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--size", default="64x64", help="HEIGHTxWIDTH of the speed/memory videos")
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--seconds", type=float, nargs="+", default=[5, 20, 60])
    p.add_argument("--modes", nargs="+", default=["chunked", "whole"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--real", nargs="*", default=[], help="real videos for the quality figures")
    p.add_argument("--real-size", default=None, help="HEIGHTxWIDTH to resize real videos to")
    p.add_argument("--quality-frames", type=int, default=33)
    p.add_argument("--world-clips", type=int, default=16)
    p.add_argument("--json", default=None)
    p.add_argument("--_one", action="store_true", help=argparse.SUPPRESS)
    ns = p.parse_args()
    h, w = (int(v) for v in ns.size.split("x"))
    if ns._one:
        print(json.dumps(measure_one(ns.checkpoint, ns.seconds[0], ns.fps, h, w, ns.modes[0], ns.threads)))
        return
    rows = []
    for seconds in ns.seconds:
        for mode in ns.modes:
            row = _subprocess(["--checkpoint", ns.checkpoint, "--size", ns.size, "--fps", str(ns.fps),
                               "--seconds", str(seconds), "--modes", mode, "--threads", str(ns.threads)])
            rows.append(row)
            print(f"{seconds:>5g} s {row['frames']:>5d} frames {w}x{h} {mode:>8}: encode {row['encode_fps']:7.1f} "
                  f"fps, decode {row['decode_fps']:7.1f} fps, round trip {row['roundtrip_fps']:7.1f} fps, "
                  f"peak +{row['peak_extra_mb']:7.1f} MB", flush=True)
    real_size = tuple(int(v) for v in ns.real_size.split("x")) if ns.real_size else None
    q = quality(ns.checkpoint, ns.real, (h, w), real_size, ns.quality_frames, ns.world_clips)
    print(json.dumps(q, indent=2))
    if ns.json:
        from kinema.atomic import atomic_write_text

        atomic_write_text(ns.json, json.dumps({"checkpoint": ns.checkpoint, "threads": ns.threads,
                                               "speed_memory": rows, "quality": q}, indent=2) + "\n")


if __name__ == "__main__":
    main()
