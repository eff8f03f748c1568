"""Does the DiT know left from right? Its velocity error on real training clips, true caption against mirrored.

For world clips whose detailed caption has left/right words (a latent dataset from ``kinema latents
build``), the flow-matching error (object-weighted as in training, ``flow.sample_mse``) of the model
at fixed flow times with:

- the clip's own caption;
- its left-right mirror (``data.mirror.mirror_caption``: "moves left" <-> "moves right", "on the
  left" <-> "on the right", ...), which describes a different video;
- a colour swap (every colour word shifted to the next colour of the world's palette), for scale.

A model that reads left and right explains the clip better with the true caption: the mirrored
caption's error is higher (``gap`` = mean relative increase; ``worse`` = share of clips where it is
higher, 0.5 by chance). A model blind to the words gives gap 0. Direction is decided at high noise
(t >= 0.8), so the gap there matters most. Same noise for every caption; seeded.

    PYTHONPATH=src .venv/bin/python scripts/mirror_probe.py MODEL [--latents runs/latents_world] [--clips 128]
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open

from kinema.data.mirror import mirror_caption
from kinema.flow import interpolate, sample_mse, velocity_target
from kinema.models.bundle import load_bundle
from kinema.world.vocab import COLOURS

_NEXT = dict(zip(COLOURS, [*list(COLOURS)[1:], next(iter(COLOURS))], strict=True))
_COLOUR = re.compile(r"\b(" + "|".join(COLOURS) + r")\b")


def colour_swap(caption: str) -> str:
    """Every colour word replaced by the next colour of the palette."""
    return _COLOUR.sub(lambda m: _NEXT[m.group(1)], caption)


def load_clips(folder: Path, bucket: str, clips: int,
               keep: Callable[[str], bool] = lambda c: mirror_caption(c) != c,
               ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The first ``clips`` clips of the bucket's first shard whose detailed caption passes ``keep``
    (default: it has left/right words): raw latents (n, C, t, h, w), latent object masks (n, t, h,
    w), captions."""
    shard = folder / bucket / "shard_00000.safetensors"
    if not shard.is_file():
        raise SystemExit(f"{shard} not found: build the latents first (kinema latents build ...)")
    f = safe_open(str(shard), "pt")
    caps = json.loads(f.metadata()["detailed_caption"])
    pick = [i for i, c in enumerate(caps) if keep(c)][:clips]
    if not pick:
        raise SystemExit(f"{shard} has no clip this probe can use")
    return f.get_tensor("latents")[pick].float(), f.get_tensor("object_mask")[pick], [caps[i] for i in pick]


def probe_parser(doc: str, clips: int, times: str) -> argparse.ArgumentParser:
    """The arguments every caption probe takes (model, latent dataset, clips, flow times, ...)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default="weights/default")
    p.add_argument("--latents", default="runs/latents_world", help="a latent dataset folder (kinema latents build)")
    p.add_argument("--bucket", default="17x64x64")
    p.add_argument("--clips", type=int, default=clips)
    p.add_argument("--times", default=times)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write the results here")
    return p


def caption_errors(b, x0: torch.Tensor, noise: torch.Tensor, weight: torch.Tensor,
                   variants: dict[str, list[str]], t: float, batch: int = 16) -> dict[str, torch.Tensor]:
    """Per-clip flow error (n,) of bundle ``b`` at flow time ``t`` under each caption variant: the
    same latents x0 (n, C, t, h, w), noise and loss weight (n, t, h, w) for every variant."""
    xt, target = interpolate(x0, noise, t), velocity_target(x0, noise)
    err = {}
    for name, texts in variants.items():
        parts = []
        for s in range(0, len(texts), batch):
            txt, mask = b.text(texts[s:s + batch])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                v = b.dit(xt[s:s + batch], torch.full((len(txt),), t), txt, mask)
            parts.append(sample_mse(v, target[s:s + batch], None, weight[s:s + batch]))
        err[name] = torch.cat(parts)  # (n,)
    return err


def gap(err: dict[str, torch.Tensor], variant: str) -> tuple[float, float]:
    """How much worse the clips are explained under ``variant`` than under the true caption: the
    mean relative error increase, and the share of clips whose error is higher (0.5 by chance)."""
    return float((err[variant] / err["true"]).mean() - 1), float((err[variant] > err["true"]).float().mean())


def main() -> None:
    p = probe_parser(__doc__, clips=128, times="0.3,0.5,0.7,0.85,0.95")
    p.add_argument("--object-weight", type=float, default=8.0, help="as in training: object latents count 1 + this")
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    b = load_bundle(ns.model)
    raw, objects, caps = load_clips(Path(ns.latents), ns.bucket, ns.clips)
    x0 = b.vae.normalize(raw)  # (n, C, t, h, w)
    weight = 1.0 + ns.object_weight * objects.float()  # (n, t, h, w)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(ns.seed))
    variants = {"true": caps, "mirrored": [mirror_caption(c) for c in caps], "colour": [colour_swap(c) for c in caps]}
    print(f"{len(caps)} clips with left/right words ({ns.latents}/{ns.bucket}); e.g. {caps[0]!r}")
    print(f"{'t':>5s} {'error':>7s} {'mirrored gap':>13s} {'worse':>6s} {'colour gap':>11s}")
    rows = []
    with torch.no_grad():
        for t in (float(x) for x in ns.times.split(",")):
            err = caption_errors(b, x0, noise, weight, variants, t, ns.batch)
            row = {"t": t, "error": float(err["true"].mean())}
            row["mirrored_gap"], row["mirrored_worse"] = gap(err, "mirrored")
            row["colour_gap"] = gap(err, "colour")[0]
            rows.append(row)
            print(f"{t:5.2f} {row['error']:7.4f} {100 * row['mirrored_gap']:12.2f}% {row['mirrored_worse']:6.2f} "
                  f"{100 * row['colour_gap']:10.1f}%")
    if ns.json:
        Path(ns.json).write_text(json.dumps({"model": ns.model, "clips": len(caps), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
