"""The one command line: ``kinema <command> [<subcommand>] [options]``.

    kinema world render --out DIR --clips N [--width W --height H --seconds S --fps F --split S --seed K]
    kinema info VIDEO [VIDEO ...] [--json]

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kinema`` console script."""
    parser = build_parser()
    ns = parser.parse_args(argv)
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
