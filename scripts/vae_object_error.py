"""Where a world autoencoder's reconstruction error lies: inside the objects' boxes or on the
background (held-out world clips, squared error split by ``kinema.world.object_mask``).

    PYTHONPATH=src .venv/bin/python scripts/vae_object_error.py [VAE] [--clips 16]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from kinema.data.dataset import to_model_video
from kinema.models.vae import load_vae
from kinema.world import object_mask, render_clip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vae", nargs="?", default="weights/default/vae.safetensors")
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--seed", type=int, default=777)
    ns = p.parse_args()
    torch.set_num_threads(1)
    vae = load_vae(ns.vae).eval()
    sq = {"objects": 0.0, "background": 0.0}
    px = {"objects": 0, "background": 0}
    for s in range(ns.clips):
        clip = render_clip(ns.seed + s, split="test", width=64, height=64, fps=8.0, num_frames=17)
        x = to_model_video(clip.frames)[None]  # (1, 3, 17, 64, 64)
        with torch.no_grad():
            y = vae.decode(vae.encode(x).mode()).clamp(-1, 1)
        err = ((y - x) ** 2).mean(1)[0]  # (T, H, W), in [-1, 1] units
        m = torch.from_numpy(object_mask(clip.truth, dilate=2))
        for name, sel in (("objects", m), ("background", ~m)):
            sq[name] += err[sel].sum().item()
            px[name] += int(sel.sum())
    total = sum(px.values())
    for name in sq:
        psnr = 10 * np.log10(4.0 / (sq[name] / px[name]))
        print(f"{name:>10}: {px[name] / total:.3f} of the pixels, {sq[name] / sum(sq.values()):.2f} of the squared "
              f"error, PSNR {psnr:.2f} dB")
    print(f"   overall: PSNR {10 * np.log10(4.0 / (sum(sq.values()) / total)):.2f} dB")


if __name__ == "__main__":
    main()
