"""Does the DiT follow a camera move? Caption errors on training clips, and the camera score of its videos.

Two measurements of the weak spot the mission names ("following a camera path"):

1. On world clips with a moving camera over a textured background (a latent dataset from
   ``kinema latents build``), the flow-matching error of the background (objects masked out: the
   background is what shows the move) at fixed flow times with the clip's own caption against
   two altered ones, with the same noise: the camera sentence made static ("The camera is
   static.") and the opposite move (pans left <-> right, up <-> down, zooms in <-> out). A model
   that reads the camera words explains the clip better with the true caption (``gap`` = mean
   relative increase; ``worse`` = share of clips where it is higher, 0.5 by chance). What the
   video does is decided at high noise (t >= 0.8), so the gaps there matter most.
2. With ``--report`` (WorldBench ``report.json`` files, e.g. a scorecard's ``wb_48``): the camera
   score of its clips, split into prompts with a camera move and static ones.

    PYTHONPATH=src .venv/bin/python scripts/camera_probe.py MODEL [--clips 64] [--report runs/card_X/wb_48/report.json ...]
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from mirror_probe import caption_errors, gap, load_clips, probe_parser

from kinema.models.bundle import load_bundle
from kinema.world.captions import CAMERA_PHRASES

_MOVES = {v for k, v in CAMERA_PHRASES.items() if k != "static"}
OPPOSITE = {"pans left": "pans right", "pans right": "pans left", "pans up": "pans down",
            "pans down": "pans up", "zooms in": "zooms out", "zooms out": "zooms in"}
_SENTENCE = re.compile(r"The camera (" + "|".join(sorted(_MOVES)) + r")\.")
_CLAUSE = re.compile(r"the camera (" + "|".join(sorted(_MOVES)) + r")\b")


def with_camera(caption: str, phrase: str | None) -> str:
    """The detailed ``caption`` with its camera sentence's move replaced by ``phrase`` (e.g. "is
    static"), or by the opposite move when ``phrase`` is None."""
    m = _SENTENCE.search(caption)
    if m is None:
        raise ValueError(f"no camera move in {caption!r}")
    return caption.replace(m.group(0), f"The camera {phrase or OPPOSITE[m.group(1)]}.")


def report_camera(paths: list[str]) -> dict[str, dict[str, float]]:
    """Camera scores of WorldBench reports' clips: mean and count for prompts with a camera move
    (``moving``) and without (``static``), over every run of every report."""
    scores: dict[str, list[float]] = {"moving": [], "static": []}
    for path in paths:
        for run in json.loads(Path(path).read_text())["runs"]:
            for clip in run["clips"]:
                s = clip["scores"].get("camera")
                if s is not None:
                    scores["moving" if _CLAUSE.search(clip["caption"]) else "static"].append(float(s))
    return {k: {"mean": sum(v) / len(v) if v else float("nan"), "n": len(v)} for k, v in scores.items()}


def main() -> None:
    p = probe_parser(__doc__, clips=64, times="0.5,0.7,0.85,0.95")
    p.add_argument("--report", nargs="*", default=[], help="WorldBench report.json files of this model's videos")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    b = load_bundle(ns.model)
    raw, objects, caps = load_clips(Path(ns.latents), ns.bucket, ns.clips,
                                    keep=lambda c: c.startswith("A textured") and bool(_SENTENCE.search(c)))
    x0 = b.vae.normalize(raw)  # (n, C, t, h, w)
    background = (~objects.bool()).float()  # (n, t, h, w): the error outside the objects only
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(ns.seed))
    variants = {"true": caps, "static": [with_camera(c, "is static") for c in caps],
                "opposite": [with_camera(c, None) for c in caps]}
    print(f"{len(caps)} textured clips with a camera move ({ns.latents}/{ns.bucket}); e.g. {caps[0]!r}")
    print(f"{'t':>5s} {'error':>7s} {'static gap':>11s} {'worse':>6s} {'opposite gap':>13s} {'worse':>6s}")
    rows = []
    with torch.no_grad():
        for t in (float(x) for x in ns.times.split(",")):
            err = caption_errors(b, x0, noise, background, variants, t, ns.batch)
            row = {"t": t, "error": float(err["true"].mean())}
            for k in ("static", "opposite"):
                row[f"{k}_gap"], row[f"{k}_worse"] = gap(err, k)
            rows.append(row)
            print(f"{t:5.2f} {row['error']:7.4f} {100 * row['static_gap']:10.1f}% {row['static_worse']:6.2f} "
                  f"{100 * row['opposite_gap']:12.1f}% {row['opposite_worse']:6.2f}")
    out = {"model": ns.model, "clips": len(caps), "rows": rows}
    if ns.report:
        out["videos"] = report_camera(ns.report)
        for k, v in out["videos"].items():
            print(f"camera score of its videos, {k} camera: {v['mean']:.2f} over {v['n']} clips")
    if ns.json:
        Path(ns.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
