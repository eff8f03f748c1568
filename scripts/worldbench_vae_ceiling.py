"""WorldBench's ceiling for a transformer on an autoencoder's latents: the suite's own renders,
encoded and decoded by the autoencoder, scored against their truth.

    PYTHONPATH=src .venv/bin/python scripts/worldbench_vae_ceiling.py [VAE] [--prompts 24]
"""

from __future__ import annotations

import argparse
import json

import torch

from kinema.eval.scores import score_clip
from kinema.eval.vae_eval import reconstruct
from kinema.eval.worldbench import SuiteArgs, suite_clips, summarise
from kinema.models.vae import load_vae


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vae", nargs="?", default="weights/default/vae.safetensors")
    p.add_argument("--prompts", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    ns = p.parse_args()
    torch.set_num_threads(1)
    vae = load_vae(ns.vae).eval()
    recs = []
    for clip in suite_clips(SuiteArgs(prompts=ns.prompts, seed=ns.seed)):
        recs.append({"scores": score_clip(reconstruct(vae, clip.frames), clip.truth)["scores"]})
    s = summarise(recs)
    dims = {k: None if v["mean"] is None else round(v["mean"], 3) for k, v in s["dimensions"].items()}
    print(json.dumps({"vae": ns.vae, "dimensions": dims, "overall": round(s["overall"], 3)}, indent=2))


if __name__ == "__main__":
    main()
