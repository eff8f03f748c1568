"""The one command line: ``kinema <command> [<subcommand>] [options]``.

    kinema world render --out DIR --clips N [--width W --height H --seconds S --fps F --split S --seed K]
    kinema info VIDEO [VIDEO ...] [--json]
    kinema generate "PROMPT" -o out.mp4 [--seconds S --fps F --width W --height H --frames N
                    --steps N --guidance G --negative TEXT --seed K --checkpoint DIR --solver S]
    kinema train --config FILE [--a.b=c ...] [--no-resume]
    kinema latents build --config FILE --out DIR --clips N [--a.b=c ...]
    kinema vae train --config FILE [--a.b=c ...] [--no-resume]
    kinema vae eval --checkpoint CK [VIDEO|DIR ...] [--json OUT]
    kinema vae reconstruct --checkpoint CK IN OUT
    kinema eval worldbench (--checkpoint DIR | --videos DIR | --ground-truth) --out DIR [--prompts N --seed K]
    kinema eval report REPORT.json [...] -o DIR

The CLI parses arguments and calls into the library; user errors (``KinemaError``) are printed
as one line on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from kinema.errors import KinemaError


def _world_render(ns: argparse.Namespace) -> int:
    from kinema.world.export import RenderArgs, render_folder

    args = RenderArgs(
        clips=ns.clips, width=ns.width, height=ns.height, seconds=ns.seconds, fps=ns.fps,
        split=ns.split, seed=ns.seed, start_index=ns.start_index,
    )
    paths = render_folder(ns.out, args, progress=not ns.quiet)
    print(f"wrote {len(paths)} clips ({args.width}x{args.height}, {args.seconds:g} s at {args.fps:g} fps, "
          f"split {args.split}) to {ns.out}: videos/, truth/, captions.csv")
    return 0


def _info(ns: argparse.Namespace) -> int:
    from kinema.data.video_io import probe

    infos = [probe(p) for p in ns.videos]
    if ns.json:
        print(json.dumps([asdict(i) for i in infos], indent=2))
        return 0
    for i in infos:
        print(f"{i.path}: {i.frames} frames, {i.fps:g} fps, {i.width}x{i.height}, "
              f"{i.duration:.2f} s, codec {i.codec} ({i.container})")
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HEIGHTxWIDTH (e.g. 64x96), got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return h, w


def _train(ns: argparse.Namespace) -> int:
    from kinema.train.train_dit import run

    run(ns.config, ns.overrides, resume=not ns.no_resume, progress=not ns.quiet, stop_after=ns.stop_after)
    return 0


def _latents_build(ns: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from kinema.config import load_config
    from kinema.data.latents import build_latents
    from kinema.errors import ConfigError
    from kinema.train.train_dit import DiTTrainConfig, _load_vae

    cfg = load_config(DiTTrainConfig, ns.config, ns.overrides)
    if cfg.data.source == "latents":
        raise ConfigError("latents are built from videos: give the config's data.source as world or videos")
    if ns.threads is not None:
        torch.set_num_threads(ns.threads)
    elif cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    buckets = list(dict.fromkeys([*cfg.data.buckets, *(b for s in cfg.curriculum for b in s.buckets)]))
    data = dataclasses.replace(cfg.data, buckets=buckets, bucket_weights=[])
    vae = _load_vae(cfg.vae).eval().requires_grad_(False)
    index = build_latents(vae, data, ns.out, clips=ns.clips, bf16=cfg.bf16, progress=not ns.quiet)
    counts = ", ".join(f"{b}: {e['clips']}" for b, e in index["buckets"].items())
    print(f"wrote {ns.out} (encoder {index['encoder']}; clips per bucket: {counts})")
    print(f"train on it with: kinema train --config {ns.config or 'FILE'} --data.source=latents --data.path={ns.out}")
    return 0


def _vae_train(ns: argparse.Namespace) -> int:
    from kinema.config import load_config
    from kinema.train.train_vae import VAETrainConfig, train_vae

    cfg = load_config(VAETrainConfig, ns.config, ns.overrides)
    path = train_vae(cfg, resume=not ns.no_resume, progress=not ns.quiet)
    print(f"wrote {path}")
    return 0


def _vae_eval(ns: argparse.Namespace) -> int:
    from kinema.atomic import atomic_write_text
    from kinema.eval.vae_eval import evaluate, expand_inputs, read_for_eval, resolve_vae, world_videos

    model = resolve_vae(ns.checkpoint)
    if ns.inputs:
        videos = [(str(p), read_for_eval(p, fps=ns.fps, size=ns.size, max_frames=ns.max_frames))
                  for p in expand_inputs(ns.inputs)]
    else:
        h, w = ns.size or (64, 64)
        videos = world_videos(ns.world_clips, seed=ns.seed, width=w, height=h, frames=ns.max_frames or 17,
                              fps=ns.fps or 8.0)
    report = evaluate(model, videos, max_frames=ns.max_frames, tile=ns.tile, overlap=ns.overlap)
    for v in report["videos"]:
        print(f"{v['name']}: {v['frames']} frames {v['width']}x{v['height']}  PSNR {v['psnr']:.2f} dB  "
              f"SSIM {v['ssim']:.4f}  compression {v['compression']:.1f}x")
    t = report["total"]
    print(f"total ({t['videos']} videos, {t['frames']} frames): PSNR {t['psnr']:.2f} dB  SSIM {t['ssim']:.4f}  "
          f"compression {t['compression']:.1f}x")
    if ns.json:
        atomic_write_text(ns.json, json.dumps({"checkpoint": str(ns.checkpoint), **report}, indent=2) + "\n")
    return 0


def _vae_reconstruct(ns: argparse.Namespace) -> int:
    from kinema.data.video_io import probe, write_video
    from kinema.eval.vae_eval import fit_video, read_for_eval, reconstruct, resolve_vae

    model = resolve_vae(ns.checkpoint)
    fps = ns.fps or probe(ns.input).fps
    frames = fit_video(read_for_eval(ns.input, fps=ns.fps, size=ns.size, max_frames=ns.max_frames), model)
    out = reconstruct(model, frames, tile=ns.tile, overlap=ns.overlap)
    if ns.side_by_side:
        import numpy as np

        out = np.concatenate([frames, out], axis=2)
    write_video(ns.output, out, fps)
    print(f"wrote {ns.output} ({out.shape[0]} frames, {out.shape[2]}x{out.shape[1]})")
    return 0


def _generate(ns: argparse.Namespace) -> int:
    from kinema.pipeline import DEFAULT_MODEL, IMAGE_SUFFIXES, Pipeline, check_output_path, save_result

    if Path(ns.output).suffix.lower() in IMAGE_SUFFIXES and ns.frames is None and ns.seconds is None:
        ns.frames = 1  # `-o still.png` asks for a single image
    check_output_path(ns.output, ns.frames)  # before any compute: a bad suffix or a folder fails now
    pipe = Pipeline.from_pretrained(ns.checkpoint or DEFAULT_MODEL, device=ns.device, threads=ns.threads,
                                    dtype=ns.dtype)
    result = pipe(ns.prompt, negative_prompt=ns.negative, width=ns.width, height=ns.height, seconds=ns.seconds,
                  frames=ns.frames, fps=ns.fps, steps=ns.steps, guidance=ns.guidance, solver=ns.solver,
                  shift=ns.shift, seed=ns.seed, expand=False if ns.no_expand else None, progress=not ns.quiet,
                  image=ns.image, extend=ns.extend, direction=ns.direction,
                  connect=tuple(ns.connect) if ns.connect else None, loop=ns.loop, edit=ns.edit,
                  strength=ns.strength, window=ns.window, overlap=ns.overlap)
    path = save_result(result, ns.output)
    t, h, w, _ = result.frames.shape
    print(f"wrote {path} ({t} frame{'s' if t != 1 else ''}, {w}x{h} at {result.fps:g} fps, "
          f"{result.timings['total_s']:.1f} s)")
    if result.mode != "text":
        from kinema.eval.seams import loop_seam_ratio, seam_ratio

        parts = [f"mode {result.mode}"]
        if result.kept:
            parts.append("kept frames " + ", ".join(f"{a}-{b - 1}" for a, b in result.kept))
        if result.fidelity_psnr is not None:
            parts.append(f"given frames reproduced at {result.fidelity_psnr:.1f} dB")
        inner = [i for i in result.seams if 0 < i < t]
        if inner and t > 2:
            parts.append(f"seam ratio {seam_ratio(result.frames, inner):.2f}")
        if result.mode == "loop":
            parts.append(f"loop seam ratio {loop_seam_ratio(result.frames):.2f}")
        print("; ".join(parts))
    if result.detailed_prompt != result.prompt:
        print(f"detailed prompt: {result.detailed_prompt}")
    return 0


def _add_video_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="vae.safetensors or a training run folder")
    p.add_argument("--fps", type=float, default=None, help="resample inputs to this frame rate")
    p.add_argument("--size", type=_size, default=None, help="resize + centre-crop inputs to HEIGHTxWIDTH")
    p.add_argument("--max-frames", type=int, default=None, help="use at most this many frames per video")
    p.add_argument("--tile", type=int, default=None, help="spatial tile size in pixels (large frames)")
    p.add_argument("--overlap", type=int, default=0, help="tile overlap in pixels")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from kinema import __version__

    parser = argparse.ArgumentParser(prog="kinema", description="Kinema: open text-to-video.")
    parser.add_argument("--version", action="version", version=f"kinema {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    world = sub.add_parser("world", help="the procedural world: render clips with ground truth")
    world_sub = world.add_subparsers(dest="world_command", required=True, metavar="SUBCOMMAND")
    render = world_sub.add_parser("render", help="render clips, captions and ground truth into a folder")
    render.add_argument("--out", required=True, help="output folder")
    render.add_argument("--clips", type=int, default=8, help="number of clips (default 8)")
    render.add_argument("--width", type=int, default=96)
    render.add_argument("--height", type=int, default=64)
    render.add_argument("--seconds", type=float, default=2.0)
    render.add_argument("--fps", type=float, default=8.0)
    render.add_argument("--split", choices=["train", "test"], default="train",
                        help="test clips hold attribute/motion/relation combinations never seen in train")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--start-index", type=int, default=0, help="index of the first clip (for sharded renders)")
    render.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    render.set_defaults(func=_world_render)

    info = sub.add_parser("info", help="print frames, fps, size, duration and codec of videos")
    info.add_argument("videos", nargs="+", metavar="VIDEO")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_info)

    gen = sub.add_parser("generate", help="generate a video (or an image with --frames 1) from a prompt")
    gen.add_argument("prompt", help="what the video shows; short prompts are expanded into detailed captions")
    gen.add_argument("-o", "--output", default="out.mp4", help="output .mp4/.mkv/.webm/.gif, or .png/.jpg/.webp: one image (--frames 1 is then the default)")
    gen.add_argument("--checkpoint", default=None, help="model folder (default: the embedded default model)")
    gen.add_argument("--seconds", type=float, default=None)
    gen.add_argument("--frames", type=int, default=None, help="frame count (1 + 4k; 1 = a single image)")
    gen.add_argument("--fps", type=float, default=None)
    gen.add_argument("--width", type=int, default=None)
    gen.add_argument("--height", type=int, default=None)
    gen.add_argument("--steps", type=int, default=None, help="sampling steps")
    gen.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (1 = off)")
    gen.add_argument("--negative", default="", help="negative prompt (what to steer away from)")
    gen.add_argument("--solver", choices=["euler", "heun", "midpoint"], default=None)
    gen.add_argument("--shift", type=float, default=None, help="time-schedule shift (default: by resolution)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--no-expand", action="store_true", help="use the prompt as given (no recaptioning)")
    gen.add_argument("--device", default="cpu")
    gen.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    gen.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="bf16 autocast for the transformer")
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    media = gen.add_argument_group("image and video prompts (one at most)")
    media.add_argument("--image", default=None, help="image-to-video: the first frame is this image")
    media.add_argument("--extend", default=None, metavar="VIDEO",
                       help="extend this video by --seconds (the result holds it unchanged)")
    media.add_argument("--direction", choices=["forward", "backward"], default="forward",
                       help="with --extend: add the new seconds after (forward) or before (backward) the video")
    media.add_argument("--connect", nargs=2, default=None, metavar=("A", "B"),
                       help="A, a transition of --seconds, then B")
    media.add_argument("--loop", action="store_true", help="a seamless loop: the last frame flows into the first")
    media.add_argument("--edit", default=None, metavar="VIDEO", help="video-to-video: re-imagine VIDEO under PROMPT")
    media.add_argument("--strength", type=float, default=0.6,
                       help="with --edit: how far to move from the input (0-1; low keeps layout and motion)")
    media.add_argument("--window", type=int, default=None,
                       help="latent frames denoised together in long videos (default: the model's clip length)")
    media.add_argument("--overlap", type=int, default=None,
                       help="latent frames each window takes clean from the previous one (default: window/2)")
    gen.set_defaults(func=_generate)

    tr = sub.add_parser("train", help="train (or resume) the text-to-video transformer; extra --a.b=c override "
                        "the config; runs under torchrun for data parallelism")
    tr.add_argument("--config", default=None, help="TOML/JSON config (configs/dit_*.toml)")
    tr.add_argument("--no-resume", action="store_true", help="start over even if the run folder has a state")
    tr.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                    help="stop (checkpointed, resumable) at this step; the schedule still runs to `steps`")
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train, accepts_overrides=True)

    lat = sub.add_parser("latents", help="precompute autoencoder latents for DiT training")
    lat_sub = lat.add_subparsers(dest="latents_command", required=True, metavar="SUBCOMMAND")
    lb = lat_sub.add_parser("build", help="encode N clips of every bucket of a DiT training config (appends "
                            "to an existing folder); extra --a.b=c override the config")
    lb.add_argument("--config", default=None, help="the DiT training config (its vae, data and curriculum buckets)")
    lb.add_argument("--out", required=True, help="the latent dataset folder")
    lb.add_argument("--clips", type=int, required=True, help="clips per bucket")
    lb.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's)")
    lb.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    lb.set_defaults(func=_latents_build, accepts_overrides=True)

    vae = sub.add_parser("vae", help="the video autoencoder: train, evaluate, reconstruct")
    vae_sub = vae.add_subparsers(dest="vae_command", required=True, metavar="SUBCOMMAND")
    train = vae_sub.add_parser("train", help="train (or resume) an autoencoder; extra --a.b=c override the config")
    train.add_argument("--config", default=None, help="TOML/JSON config (configs/vae_*.toml)")
    train.add_argument("--no-resume", action="store_true", help="start over even if the run folder has a state")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_vae_train, accepts_overrides=True)
    ev = vae_sub.add_parser("eval", help="PSNR, SSIM and compression per video and in total")
    _add_video_options(ev)
    ev.add_argument("inputs", nargs="*", metavar="VIDEO|DIR",
                    help="videos or folders (default: held-out world clips)")
    ev.add_argument("--json", default=None, metavar="OUT", help="also write the report as JSON")
    ev.add_argument("--world-clips", type=int, default=16, help="world test clips when no input is given")
    ev.add_argument("--seed", type=int, default=1234, help="seed of the world test clips")
    ev.set_defaults(func=_vae_eval)
    rec = vae_sub.add_parser("reconstruct", help="write the autoencoder's reconstruction of a video")
    _add_video_options(rec)
    rec.add_argument("input", metavar="IN")
    rec.add_argument("output", metavar="OUT")
    rec.add_argument("--side-by-side", action="store_true", help="write input | reconstruction")
    rec.set_defaults(func=_vae_reconstruct)

    from kinema.eval.commands import add_eval_commands

    add_eval_commands(sub)  # kinema eval worldbench | report

    from kinema.safety.commands import add_safety_commands

    add_safety_commands(sub)  # kinema safety check-prompt | verify | train-prompt | train-detector; kinema verify
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kinema`` console script."""
    parser = build_parser()
    ns, extra = parser.parse_known_args(argv)
    ns.overrides = []
    if extra:
        bad = [e for e in extra if not (e.startswith("--") and "=" in e)]
        if bad or not getattr(ns, "accepts_overrides", False):
            parser.error(f"unrecognized arguments: {' '.join(bad or extra)}")
        ns.overrides = extra
    logging.basicConfig(level=logging.DEBUG if ns.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return ns.func(ns)
    except KinemaError as e:
        print(f"kinema: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kinema: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
