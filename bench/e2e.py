"""End to end: ``kinema generate`` wall time and peak memory, per-step time, and long videos.

``generate`` runs the real command line (``python -m kinema.cli generate``) in a child process:
the wall time includes Python start-up, imports, model loading, sampling, decoding and writing
the mp4, and the peak is that process's own maximum RSS. The per-step figure comes from the
pipeline's ``sample_s`` timing divided by its steps, measured in a second child run through the
Python API (``python -m bench.e2e --_one``), which also serves the long-video section.

Long video (issue 7's hook): time per generated second and peak memory at 10, 30 and 60 s via
``Pipeline.__call__(seconds=...)``. It runs when the pipeline has the window-by-window long mode
(a ``window`` argument); otherwise the section is skipped with the reason.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench.peak import peak_rss_mb
from bench.timing import run_measured

__all__ = ["generate_cli", "generate_api", "long_video_supported"]

PROMPT = "a red circle moves right"


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][-500:] if lines else "(no output)"


def generate_cli(
    model: str,
    seconds: float = 2.0,
    size: int = 64,
    threads: int = 1,
    extra: list[str] | None = None,
    dtype: str = "fp32",
) -> dict:
    """Run ``kinema generate`` for ``seconds`` of ``size x size``; wall time and peak RSS of that process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        cmd = [
            sys.executable,
            "-m",
            "bench.peak",
            "kinema.cli",
            "generate",
            PROMPT,
            "-o",
            str(out),
            "--checkpoint",
            model,
            "--seconds",
            str(seconds),
            "--width",
            str(size),
            "--height",
            str(size),
            "--seed",
            "0",
            "--threads",
            str(threads),
            "--dtype",
            dtype,
            "-q",
            *(extra or []),
        ]
        r = run_measured(cmd)
        if r["returncode"] != 0:
            raise RuntimeError(f"kinema generate failed ({r['returncode']}): {_last_line(r['stderr'])}")
        return {
            "seconds": seconds,
            "size": size,
            "dtype": dtype,
            "wall_s": r["wall_s"],
            "peak_rss_mb": r["peak_rss_mb"],
            "command": "kinema " + shlex.join(cmd[4:]).replace(str(out), "out.mp4"),
        }


def measure_api(model: str, seconds: float, size: int, threads: int, dtype: str, steps: int | None) -> dict:
    """One generation through ``Pipeline`` (in this process): its timings, per-step time and peak RSS."""
    import torch

    from kinema.pipeline import Pipeline

    torch.set_num_threads(threads)
    pipe = Pipeline.from_pretrained(model, dtype=dtype)
    base = peak_rss_mb()
    t0 = time.perf_counter()
    res = pipe(PROMPT, seconds=seconds, width=size, height=size, seed=0, steps=steps, progress=False)
    wall = time.perf_counter() - t0
    s = res.settings
    n_steps = int(s["steps"])
    video_s = res.frames.shape[0] / res.fps
    return {
        "seconds": seconds,
        "video_s": video_s,
        "frames": int(res.frames.shape[0]),
        "size": size,
        "dtype": dtype,
        "steps": n_steps,
        "solver": s.get("solver"),
        "guidance": s.get("guidance"),
        "tokens": s.get("tokens"),
        "window": s.get("window"),
        "wall_s": wall,
        "per_video_second_s": wall / video_s,
        "step_s": res.timings["sample_s"] / n_steps,
        "timings": res.timings,
        "peak_rss_mb": peak_rss_mb(),
        "model_rss_mb": base,
    }


def generate_api(
    model: str,
    seconds: float,
    size: int = 64,
    threads: int = 1,
    dtype: str = "fp32",
    steps: int | None = None,
) -> dict:
    """``measure_api`` in a fresh child process (so the peak memory is this generation's own)."""
    cmd = [
        sys.executable,
        "-m",
        "bench.e2e",
        "--_one",
        "--model",
        model,
        "--seconds",
        str(seconds),
        "--size",
        str(size),
        "--threads",
        str(threads),
        "--dtype",
        dtype,
    ] + (["--steps", str(steps)] if steps else [])
    r = run_measured(cmd)
    if r["returncode"] != 0:
        raise RuntimeError(f"generation of {seconds} s failed ({r['returncode']}): {_last_line(r['stderr'])}")
    return json.loads(r["stdout"].strip().splitlines()[-1])


def long_video_supported() -> tuple[bool, str]:
    """Whether ``Pipeline.__call__`` has the window-by-window long mode, and why not if it has not."""
    from kinema.pipeline import Pipeline

    params = inspect.signature(Pipeline.__call__).parameters
    if "window" not in params:
        return False, "Pipeline.__call__ has no window-by-window long-video mode yet (no `window` argument)"
    return True, "window-by-window long mode"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--_one", action="store_true", help=argparse.SUPPRESS)
    ns = p.parse_args()
    if ns._one:
        print(json.dumps(measure_api(ns.model, ns.seconds, ns.size, ns.threads, ns.dtype, ns.steps)))
    else:
        print(json.dumps(generate_cli(ns.model, ns.seconds, ns.size, ns.threads, dtype=ns.dtype), indent=2))


if __name__ == "__main__":
    main()
