"""Write world clips to disk in the layout every reader of the project understands.

    OUT/videos/00000.mp4        H.264 clips
    OUT/truth/00000.json        exact per-frame ground truth of each clip
    OUT/captions.csv            path, caption, detailed_caption   (paths relative to OUT)
    OUT/render.json             the arguments of the render, so it can be reproduced

The folder dataset (``kinema.data.dataset``) reads this layout as training data, and
WorldBench scores a folder in this layout.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from kinema.atomic import atomic_write_text
from kinema.data.video_io import write_video
from kinema.errors import KinemaError
from kinema.world import clip_seed, render_clip

CAPTION_COLUMNS = ("path", "caption", "detailed_caption")


@dataclass(frozen=True)
class RenderArgs:
    """What ``kinema world render`` renders; saved as ``render.json`` beside the clips."""

    clips: int = 8
    width: int = 96
    height: int = 64
    seconds: float = 2.0
    fps: float = 8.0
    split: Literal["train", "test"] = "train"
    seed: int = 0
    start_index: int = 0


def render_folder(out: str | Path, args: RenderArgs, *, progress: bool = True) -> list[Path]:
    """Render ``args.clips`` world clips into ``out`` (layout in the module docstring).

    Clip ``i`` uses seed ``clip_seed(args.seed, args.start_index + i)``, so two renders with the
    same arguments write identical clips. Returns the written video paths.
    """
    if args.clips <= 0:
        raise KinemaError(f"--clips must be positive, got {args.clips}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise KinemaError(f"output {out} exists and is not a folder")
    rows: list[dict[str, str]] = []
    paths: list[Path] = []
    indices = range(args.start_index, args.start_index + args.clips)
    for index in tqdm(indices, desc="render", unit="clip", disable=not progress):
        clip = render_clip(
            clip_seed(args.seed, index), split=args.split, width=args.width, height=args.height,
            fps=args.fps, seconds=args.seconds,
        )
        rel = f"videos/{index:05d}.mp4"
        paths.append(write_video(out / rel, clip.frames, args.fps))
        atomic_write_text(out / "truth" / f"{index:05d}.json", json.dumps(clip.truth) + "\n")
        rows.append({"path": rel, "caption": clip.caption, "detailed_caption": clip.detailed_caption})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CAPTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "captions.csv", buf.getvalue())
    atomic_write_text(out / "render.json", json.dumps(asdict(args), indent=2) + "\n")
    return paths
