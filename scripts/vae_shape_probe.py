"""Which shapes survive an autoencoder: WorldBench's shape fit on the suite's renders passed
through the autoencoder, per true shape and per frame position, with the confusion counts.

    PYTHONPATH=src .venv/bin/python scripts/vae_shape_probe.py [VAE ...] [--prompts 24] [--seed 0]

Every object frame the shape scorer would use (fully visible, radius >= MIN_SHAPE_PX) is fitted,
not just WorldBench's 8 per object. "frame 0" has a latent frame to itself (causal encoder);
"group ends" are the frames ft·k (ft: the temporal factor), the rest share their latent frame with
ft - 1 others. The renders themselves (no autoencoder) are fitted as well: the fit's own accuracy.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import torch

from kinema.eval.scores import shape_fits
from kinema.eval.vae_eval import reconstruct
from kinema.eval.worldbench import SuiteArgs, suite_clips
from kinema.models.vae import load_vae


def probe(vae: torch.nn.Module | None, clips: list, ft: int) -> tuple[dict[str, list[bool]], collections.Counter]:
    """Per group ("all", "frame 0", "group ends", "other frames", each true shape): hits; and the
    (true, fitted) confusion counts. ``ft``: the temporal factor that groups the frames."""
    hits: dict[str, list[bool]] = collections.defaultdict(list)
    confusion: collections.Counter = collections.Counter()
    for clip in clips:
        frames = np.ascontiguousarray(np.asarray(clip.frames))  # (T, H, W, 3) uint8
        if vae is not None:
            frames = reconstruct(vae, frames)
        for _, k, true, fitted in shape_fits(frames, clip.truth):
            where = "frame 0" if k == 0 else "group ends" if k % ft == 0 else "other frames"
            for key in ("all", where, true):
                hits[key].append(fitted == true)
            confusion[(true, fitted or "none")] += 1
    return hits, confusion


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vae", nargs="*", default=["weights/default/vae.safetensors"])
    p.add_argument("--prompts", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    ns = p.parse_args()
    torch.set_num_threads(1)
    clips = list(suite_clips(SuiteArgs(prompts=ns.prompts, seed=ns.seed)))
    runs = {"renders": None, **{path: load_vae(path).eval() for path in ns.vae}}
    # the renders have no autoencoder: they are grouped by the first one's temporal factor
    render_ft = next((vae.cfg.temporal_factor for vae in runs.values() if vae is not None), 4)
    results = {name: probe(vae, clips, render_ft if vae is None else vae.cfg.temporal_factor)
               for name, vae in runs.items()}
    keys = ["all", "frame 0", "group ends", "other frames"]
    keys += sorted({k for hits, _ in results.values() for k in hits} - set(keys))
    print(f"{'':14}" + "".join(f"{name[-34:]:>36}" for name in results))
    for key in keys:
        row = []
        for hits, _ in results.values():
            v = hits.get(key, [])
            row.append(f"{np.mean(v):.3f} of {len(v):4d}" if v else "-")
        print(f"{key:14}" + "".join(f"{r:>36}" for r in row))
    for name, (_, confusion) in results.items():
        if runs[name] is None:
            continue
        print(f"\n{name}: true -> fitted")
        for true in sorted({t for t, _ in confusion}):
            got = {f: n for (t, f), n in confusion.items() if t == true}
            print(f"  {true:9} " + ", ".join(f"{f} {n}" for f, n in sorted(got.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
