"""Kinema's benchmarks in one process: ``python -m bench --quick|--full --json OUT``.

    PYTHONPATH=src:. python -m bench --quick --json /tmp/bench.json             # ~3 minutes
    PYTHONPATH=src:. python -m bench --full --json bench/results.json --markdown bench/RESULTS.md

Sections (``--only`` picks some):

- ``machine``: GFLOP/s of a large matmul, float32 default BLAS / float32 oneDNN / bfloat16;
- ``transformers``: kinema's DiT vs diffusers' Wan, LTX-Video, CogVideoX, Latte, HunyuanVideo and
  Mochi at equal parameter count and work, forward and training step, float32 and bf16 autocast,
  at ~320 (``--quick``: only these) and ~1,300 tokens; needs ``pip install -e .[bench]``;
- ``default``: the default model's own work (80-token clips; training batch 16 as ``kinema train``
  runs it, bf16 + compiled; sampling batch 2 as ``kinema generate`` runs it, text cached) against
  every peer's float32 eager step at equal parameter count (``bench.default``; ``--quick``: the
  sampling call only, the compiled training step takes minutes);
- ``compiled``: kinema's bf16 training step eager vs ``torch.compile`` (the ``compile = true``
  training path), compile time and agreement, at the same token counts (compiling takes minutes);
- ``vae``: autoencoder encode/decode frames/s and peak memory at 5/20/60 s of 64x64 (the committed
  world autoencoder) and 128x128 (the ``real`` preset: a trained checkpoint if given, else random
  init, which has the same speed and memory); ``--quick``: 5 and 20 s of 64x64;
- ``e2e``: ``kinema generate`` wall time and peak memory for 2 s of 64x64 with the default model,
  and per-step time;
- ``long``: time per generated second and peak memory at 10/30/60 s (``--quick``: 10 s).

Every figure is measured with ``--threads`` torch threads (default 1) and is a median over
interleaved runs after warm-up. ``--markdown`` also writes the markdown report and a PNG of
memory against video length beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("machine", "transformers", "default", "compiled", "vae", "e2e", "long")


def _cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def _load() -> str:
    try:
        return "load average " + " / ".join(Path("/proc/loadavg").read_text().split()[:3]) + " at the start"
    except OSError:
        return "load unknown"


def _default_model() -> Path | None:
    for p in (ROOT / "weights" / "default", ROOT / "runs" / "dit_world" / "model"):
        if (p / "model.json").is_file():
            return p
    return None


def _vae_rows(quick: bool, real_checkpoint: str | None, threads: int, log) -> list[dict]:
    from bench.vae import _subprocess
    from kinema.models.vae import VideoVAE, save_vae, vae_config

    tmp = Path(tempfile.mkdtemp(prefix="kinema_bench_"))
    if real_checkpoint is None:  # random init of the real preset: speed and memory do not depend on weights
        torch.manual_seed(0)
        real_checkpoint = str(tmp / "vae_real_random.safetensors")
        save_vae(VideoVAE(vae_config("real")), real_checkpoint)
    plans = [("64x64", str(ROOT / "weights" / "vae_world4.safetensors"), [5, 20] if quick else [5, 20, 60])]
    if not quick:
        plans.append(("128x128", real_checkpoint, [5, 20, 60]))
    rows = []
    for size, ck, seconds in plans:
        for s in seconds:
            try:
                row = _subprocess(
                    [
                        "--checkpoint",
                        ck,
                        "--size",
                        size,
                        "--fps",
                        "8",
                        "--seconds",
                        str(s),
                        "--modes",
                        "chunked",
                        "--threads",
                        str(threads),
                    ]
                )
                row["checkpoint"] = (
                    Path(ck).name
                    if ck != real_checkpoint or tmp not in Path(ck).parents
                    else "real preset, random init"
                )
            except subprocess.CalledProcessError as e:
                row = {"size": size, "seconds": s, "error": (e.stderr or "").strip().splitlines()[-1:]}
            rows.append(row)
            if "error" not in row:
                log(
                    f"  vae {size} {s:>3g} s: encode {row['encode_fps']:.1f} fps, decode {row['decode_fps']:.1f} fps, "
                    f"peak +{row['peak_extra_mb']:.1f} MB"
                )
            else:
                log(f"  vae {size} {s:>3g} s: failed: {row['error']}")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--quick", action="store_true", help="small set (~3 min)")
    size.add_argument("--full", action="store_true", help="every size and length")
    p.add_argument("--json", required=True, help="write the results here")
    p.add_argument("--markdown", default=None, help="also write a markdown report (and a PNG plot beside it)")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads for every figure (default 1)"
    )
    p.add_argument("--preset", default="S", help="kinema DiT preset compared with the peers (default S)")
    p.add_argument("--peers", nargs="+", default=None, help="diffusers peers (default: all)")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3 quick, 5 full)")
    p.add_argument("--model", default=None, help="model folder for e2e/long (default weights/default)")
    p.add_argument("--vae-real", default=None, help="a trained real-preset VAE for the 128x128 rows")
    p.add_argument("--notes", default="", help="text put at the top of the markdown report")
    ns = p.parse_args(argv)
    if ns.threads < 1:
        p.error(f"--threads must be >= 1, got {ns.threads}")
    torch.set_num_threads(ns.threads)
    repeats = ns.repeats or (3 if ns.quick else 5)
    t_start = time.perf_counter()
    result: dict = {
        "env": {
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "cpu": _cpu_name(),
            "cores": __import__("os").cpu_count(),
            "torch": torch.__version__,
            "threads": ns.threads,
            "load": _load(),
        }
    }
    log = lambda msg: print(msg, flush=True)

    def save() -> None:
        from kinema.atomic import atomic_write_text

        result["env"]["elapsed_s"] = time.perf_counter() - t_start
        atomic_write_text(ns.json, json.dumps(result, indent=2) + "\n")

    peaks = None
    if {"machine", "transformers", "default"} & set(ns.only):
        from bench.machine import matmul_peaks

        log("machine limit")
        peaks = matmul_peaks(1024 if ns.quick else 2048, repeats=repeats + 2)
        log(
            f"  matmul {peaks['n']}: fp32 BLAS {peaks['fp32_blas']:.1f}, fp32 oneDNN {peaks['fp32_onednn']:.1f}, "
            f"bf16 {peaks['bf16']:.1f} GFLOP/s"
        )
        result["machine"] = peaks
        save()
    if "transformers" in ns.only:
        from bench.dit import compare

        try:
            result["transformers"] = compare(
                ["320"] if ns.quick else ["320", "1280"],
                ns.preset,
                peaks,
                repeats,
                modes=["fp32", "bf16"],
                phases=["forward", "train"],
                peers=ns.peers,
                log=log,
            )
        except ImportError as e:
            result["transformers"] = {"error": f"{e} (pip install -e .[bench])"}
            log(f"  transformers: {result['transformers']['error']}")
        save()
    if "default" in ns.only:
        from bench.default import default_work

        try:
            phases = ("sample",) if ns.quick else ("train", "sample")
            result["default"] = default_work(peaks, repeats, peers=ns.peers, phases=phases, log=log)
        except ImportError as e:
            result["default"] = {"error": f"{e} (pip install -e .[bench])"}
            log(f"  default: {result['default']['error']}")
        save()
    if "compiled" in ns.only:
        from bench.compiled import compiled_train

        log("kinema's training step, eager vs torch.compile (bf16)")
        try:
            result["compiled"] = compiled_train(["320"] if ns.quick else ["320", "1280"], ns.preset, repeats, log)
        except Exception as e:  # noqa: BLE001 - a compiler failure must not lose the other sections
            result["compiled"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
            log(f"  compiled: {result['compiled']['error']}")
        save()
    if "vae" in ns.only:
        log("autoencoder")
        result["vae"] = _vae_rows(ns.quick, ns.vae_real, ns.threads, log)
        save()
    model = ns.model or _default_model()
    if "e2e" in ns.only:
        from bench.e2e import generate_api, generate_cli

        log("end to end")
        if model is None:
            result["e2e"] = {"error": "no default model (weights/default/) and no --model DIR"}
        else:
            try:
                cli = generate_cli(str(model), 2.0, 64, ns.threads)
                api = generate_api(str(model), 2.0, 64, ns.threads)
                result["e2e"] = {"model": str(model), "cli": cli, "api": api}
                log(
                    f"  kinema generate 2 s 64x64: {cli['wall_s']:.1f} s wall, peak {cli['peak_rss_mb']:.0f} MB; "
                    f"{1e3 * api['step_s']:.0f} ms per step ({api['steps']} steps)"
                )
            except RuntimeError as e:
                result["e2e"] = {"error": str(e).splitlines()[0][:300]}
                log(f"  e2e failed: {result['e2e']['error']}")
        save()
    if "long" in ns.only:
        from bench.e2e import generate_api, long_video_supported

        log("long video")
        ok, why = long_video_supported()
        if model is None:
            result["long"] = {"skipped": "no default model (weights/default/) and no --model DIR"}
        elif not ok:
            result["long"] = {"skipped": why}
        else:
            rows = []
            for s in [10.0] if ns.quick else [10.0, 30.0, 60.0]:
                try:
                    r = generate_api(str(model), s, 64, ns.threads)
                    log(
                        f"  {s:g} s: {r['wall_s']:.1f} s wall, {r['per_video_second_s']:.2f} s per video second, "
                        f"peak {r['peak_rss_mb']:.0f} MB"
                    )
                except RuntimeError as e:
                    r = {"seconds": s, "error": str(e).splitlines()[0][:300]}
                    log(f"  {s:g} s failed: {r['error']}")
                rows.append(r)
            result["long"] = {"note": why, "rows": rows}
        if "skipped" in result["long"]:
            log(f"  skipped: {result['long']['skipped']}")
        save()
    save()
    if ns.markdown:
        from bench.report import plot_memory, write_markdown

        md = Path(ns.markdown)
        png = md.with_name("memory_vs_length.png")
        plotted = plot_memory(result, png)
        write_markdown(result, md, png.name if plotted else None, ns.notes)
        log(f"wrote {md}" + (f" and {png}" if plotted else ""))
    log(f"wrote {ns.json} ({time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
