"""WorldBench for image and video prompts: conditioning fidelity, seams, loops, drift over a minute.

For a few held-out world scenes (the suite's, rendered ``2·F - 1`` frames long for a model whose
clip is ``F`` frames), each prompting mode gets the scene's own frames as its image/video prompt
and its detailed caption as the text, so the result has an exact reference:

==============  =====================================  =======================================
mode            given                                  output (reference frames)
==============  =====================================  =======================================
image           frame 0                                ``F`` frames (``0 .. F-1``)
extend forward  the first ``1 + 2·ft`` frames           + ``F - 1`` new frames (``0 .. 2F-2``)
extend back     the last ``F - 1`` frames               ``F`` new frames before them (``0 .. 2F-2``)
connect         the first ``1 + ft`` and last ``F-1``    a transition between them (``0 .. 2F-2``)
loop            nothing (text only)                    ``F`` frames whose end flows into the start
==============  =====================================  =======================================

Measured: ``fidelity_psnr`` (dB: the decoded given frames against the given frames; how well the
model and autoencoder hold a prompt), ``seam_ratio`` (the change across each join over the median
change between neighbouring frames, ``kinema.eval.seams``; the ground truth's own ratio at the same
frames is the reference), the WorldBench scores of the output against the scene's truth, and for
loops the loop-point ratio next to that of plain text-to-video clips (which are not loops).

Drift over a minute (``long``): one scene per prompt rendered for ``long_seconds``; the model makes
the whole length window by window from the scene's caption, and ``score_windows`` scores each
10-second window. Colour, shape, count and stability (identity persistence) are the drift figures:
motion-specific truths (where an object is after 40 s of bouncing) are reported too but are not
expected to match a generated minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from kinema.data.video_io import write_video
from kinema.errors import KinemaError
from kinema.eval.scores import DIMENSIONS, score_clip, score_windows, slice_truth
from kinema.eval.seams import loop_seam_ratio, seam_ratio
from kinema.eval.worldbench import SuiteArgs, suite_seeds
from kinema.world import render_clip

__all__ = ["DRIFT_DIMENSIONS", "MODES", "run_prompting"]

MODES = ("image", "extend-forward", "extend-backward", "connect", "loop")
DRIFT_DIMENSIONS = ("colour", "shape", "count", "stability")


def _mean(xs: list[float | None]) -> float | None:
    vals = [float(x) for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(vals)) if vals else None


def _dims(recs: list[dict]) -> dict[str, float | None]:
    return {d: _mean([r["scores"].get(d) for r in recs]) for d in DIMENSIONS}


def _cases(args: SuiteArgs, ft: int) -> list[dict[str, Any]]:
    """The five prompting cases of one scene: given frames, pipeline arguments, reference frames."""
    f = args.frames
    n = 2 * f - 1
    head = 1 + 2 * ft  # a short clip to extend / the start of a connection
    new_s = (f - 1) / args.fps
    return [
        {"mode": "image", "given": lambda v: {"image": v[0]}, "kw": {"frames": f}, "ref": (0, f)},
        {"mode": "extend-forward", "given": lambda v: {"extend": v[:head]}, "kw": {"seconds": (n - head) / args.fps},
         "ref": (0, n)},
        {"mode": "extend-backward", "given": lambda v: {"extend": v[n - (f - 1):], "direction": "backward"},
         "kw": {"seconds": new_s}, "ref": (0, n)},
        {"mode": "connect", "given": lambda v: {"connect": (v[:1 + ft], v[n - (f - 1):])},
         "kw": {"seconds": (n - 1 - ft - (f - 1)) / args.fps}, "ref": (0, n)},
        {"mode": "loop", "given": lambda v: {"loop": True}, "kw": {"frames": f}, "ref": None},
    ]


def run_prompting(
    pipe,
    args: SuiteArgs,
    out: str | Path,
    *,
    scenes: int = 4,
    long_seconds: float = 60.0,
    long_prompts: int = 1,
    window_seconds: float = 10.0,
    steps: int | None = None,
    progress: bool = True,
    measure: Callable[[], float] | None = None,
) -> dict:
    """Run the prompting section with ``pipe`` (a ``kinema.Pipeline``) and write its videos to ``out``.

    ``scenes`` held-out scenes of the suite for the five modes; ``long_prompts`` minute-long
    videos (0 skips them). ``measure()``, if given, returns the process's peak memory in MB (for
    the long-video memory figure). Returns a JSON-able dict (module docstring).
    """
    if not isinstance(scenes, int) or scenes < 1:
        raise KinemaError(f"scenes must be an int >= 1, got {scenes!r}")
    ft = pipe.vae.cfg.temporal_factor
    out = Path(out)
    t0 = time.perf_counter()
    frames_long = 2 * args.frames - 1
    seeds = suite_seeds(SuiteArgs(prompts=scenes, seed=args.seed, width=args.width, height=args.height,
                                  frames=frames_long, fps=args.fps))
    per_mode: dict[str, list[dict]] = {m: [] for m in MODES}
    plain_wraps: list[float] = []
    jobs = [(s, case) for s in seeds for case in _cases(args, ft)]
    for i, (seed, case) in enumerate(tqdm(jobs, desc="prompting", unit="video", disable=not progress)):
        clip = render_clip(seed, split="test", width=args.width, height=args.height, fps=args.fps,
                           num_frames=frames_long)
        res = pipe(clip.detailed_caption, width=args.width, height=args.height, fps=args.fps, steps=steps,
                   seed=i, expand=False, progress=False, **case["kw"], **case["given"](clip.frames))
        video = res.frames
        write_video(out / "videos" / f"{case['mode']}_{seed}.mp4", video, args.fps)
        rec: dict[str, Any] = {"seed": seed, "caption": clip.caption, "frames": int(video.shape[0]),
                               "fidelity_psnr": res.fidelity_psnr, "seams": res.seams}
        if case["ref"] is not None:
            a, b = case["ref"]
            if video.shape[0] != b - a:
                raise KinemaError(f"{case['mode']}: made {video.shape[0]} frames, expected {b - a}")
            reference = clip.frames[a:b]
            rec["scores"] = score_clip(video, slice_truth(clip.truth, a, b))["scores"]
            inner = [s for s in res.seams if 0 < s < len(video)]
            rec["seam_ratio"] = seam_ratio(video, inner) if inner else None
            rec["truth_seam_ratio"] = seam_ratio(reference, inner) if inner else None
        else:
            rec["scores"] = {}
            rec["loop_seam_ratio"] = loop_seam_ratio(video)
            plain = pipe(clip.detailed_caption, width=args.width, height=args.height, fps=args.fps, steps=steps,
                         frames=args.frames, seed=i, expand=False, progress=False)
            plain_wraps.append(loop_seam_ratio(plain.frames))
        per_mode[case["mode"]].append(rec)

    modes = {}
    for m, recs in per_mode.items():
        modes[m] = {
            "videos": len(recs),
            "fidelity_psnr": _mean([r["fidelity_psnr"] for r in recs]),
            "seam_ratio": _mean([r.get("seam_ratio") for r in recs]),
            "truth_seam_ratio": _mean([r.get("truth_seam_ratio") for r in recs]),
            "loop_seam_ratio": _mean([r.get("loop_seam_ratio") for r in recs]),
            "scores": _dims([r for r in recs if r["scores"]]) if m != "loop" else {},
            "clips": recs,
        }
    modes["loop"]["plain_t2v_wrap_ratio"] = _mean(plain_wraps)
    result: dict[str, Any] = {"modes": modes, "long": []}

    fps = args.fps
    window = int(round(window_seconds * fps))
    long_seeds = suite_seeds(SuiteArgs(prompts=long_prompts, seed=args.seed + 7, width=args.width,
                                       height=args.height, frames=int(round(long_seconds * fps)), fps=fps)) \
        if long_prompts > 0 else []
    for j, seed in enumerate(long_seeds):
        frames = 1 + ft * int(round(long_seconds * fps / ft))
        clip = render_clip(seed, split="test", width=args.width, height=args.height, fps=fps, num_frames=frames)
        tick = time.perf_counter()
        res = pipe(clip.detailed_caption, width=args.width, height=args.height, fps=fps, frames=frames,
                   steps=steps, seed=j, expand=False, progress=progress)
        wall = time.perf_counter() - tick
        write_video(out / "videos" / f"long_{seed}.mp4", res.frames, fps)
        wins = score_windows(res.frames, clip.truth, min(window, frames))
        truth_wins = score_windows(clip.frames, clip.truth, min(window, frames))
        result["long"].append({
            "seed": seed, "caption": clip.caption, "seconds": frames / fps, "frames": frames,
            "window": res.settings["window"], "overlap": res.settings["overlap"],
            "wall_s": wall, "s_per_video_second": wall / (frames / fps),
            "peak_mb": None if measure is None else measure(),
            "windows": [{"start_s": w["start_s"], "scores": w["scores"]} for w in wins],
            "truth_windows": [{"start_s": w["start_s"], "scores": w["scores"]} for w in truth_wins],
        })
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["suite"] = {"scenes": scenes, "seed": args.seed, "width": args.width, "height": args.height,
                       "frames": args.frames, "fps": args.fps}
    return result


def format_prompting(result: dict) -> str:
    """The prompting section as plain text (what the CLI prints and the report shows)."""
    lines = [f"{'mode':16s}{'fidelity dB':>12s}{'seam ratio':>12s}{'truth seam':>12s}{'overall':>10s}"]
    for m, r in result["modes"].items():
        scores = [v for v in r["scores"].values() if v is not None]
        overall = f"{np.mean(scores):.2f}" if scores else "-"
        fid = "-" if r["fidelity_psnr"] is None else f"{r['fidelity_psnr']:.1f}"
        seam = r["loop_seam_ratio"] if m == "loop" else r["seam_ratio"]
        truth = r.get("plain_t2v_wrap_ratio") if m == "loop" else r["truth_seam_ratio"]
        lines.append(f"{m:16s}{fid:>12s}{_f(seam):>12s}{_f(truth):>12s}{overall:>10s}")
    for lv in result["long"]:
        lines.append(f"long video {lv['seconds']:.0f} s ({lv['caption']}): {lv['s_per_video_second']:.2f} s per "
                     f"generated second, window {lv['window']} overlap {lv['overlap']} latent frames"
                     + (f", peak {lv['peak_mb']:.0f} MB" if lv.get("peak_mb") else ""))
        lines.append("  start_s " + " ".join(f"{d:>10s}" for d in DRIFT_DIMENSIONS) + "   (ground truth)")
        for w, tw in zip(lv["windows"], lv["truth_windows"], strict=True):
            lines.append(f"  {w['start_s']:7.0f} " + " ".join(f"{_f(w['scores'].get(d)):>10s}" for d in DRIFT_DIMENSIONS)
                         + "   " + " ".join(_f(tw["scores"].get(d)) for d in DRIFT_DIMENSIONS))
    return "\n".join(lines)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
