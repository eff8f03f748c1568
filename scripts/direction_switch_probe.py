"""At which sampling step is the direction of motion decided?

For "a COLOUR SHAPE moves A" and "... moves B" (default: down and up; four objects, ``--seeds``
seeds, the same noise for both), sample with prompt A for the first k steps and prompt B for the
rest, for several k, and follow the prompt colour's blob (as ``scripts/motion_probe.py`` does). The
mean displacement along the axis moves from B's value (k = 0) to A's (k = all steps); the k where it
gets there says how early, in flow time, the direction is settled, and so where training must
teach it (the time shift, README "The default model").

    PYTHONPATH=src .venv/bin/python scripts/direction_switch_probe.py MODEL [--a down --b up] [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from motion_probe import OBJECTS, displacement, track  # noqa: E402

from kinema.flow import get_noise, get_schedule  # noqa: E402
from kinema.pipeline import Pipeline, _sample  # noqa: E402

AXIS = {"left": 0, "right": 0, "up": 1, "down": 1}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default="weights/default")
    p.add_argument("--a", default="down", choices=sorted(AXIS), help="the prompt's direction for the first k steps")
    p.add_argument("--b", default="up", choices=sorted(AXIS), help="the direction for the remaining steps")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--switch", default="0,1,2,3,5,8,12,all", help="values of k (steps with prompt A)")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--threads", type=int, default=1)
    ns = p.parse_args()
    if AXIS[ns.a] != AXIS[ns.b]:
        raise SystemExit(f"--a {ns.a} and --b {ns.b} must be on the same axis")
    torch.set_num_threads(ns.threads)
    pipe = Pipeline.from_pretrained(ns.model)
    axis = AXIS[ns.a]
    results: dict[int, list[float]] = {}
    with torch.inference_mode():
        for colour, shape in OBJECTS:
            for seed in range(ns.seeds):
                caches = {}
                for d in (ns.a, ns.b):  # each prompt expanded and encoded as `kinema generate` does
                    s = pipe.check_inputs(f"a {colour} {shape} moves {d}", frames=ns.frames, seed=seed)
                    caches[d] = pipe.encode_prompt(pipe.expand_prompt(s), "", guidance=s.guidance)
                noise = get_noise((1, *s.latent_shape), generator=torch.Generator().manual_seed(seed),
                                  device=pipe.device)
                sched = get_schedule(s.steps, shift=s.shift)
                last = len(sched) - 1
                ks = [last if k == "all" else min(int(k), last) for k in ns.switch.split(",")]
                for k in ks:
                    x = noise
                    if k > 0:
                        x = _sample(pipe.dit, x, sched[:k + 1], caches[ns.a], guidance=s.guidance, solver=s.solver,
                                    dtype=pipe.dtype)
                    if k < last:
                        x = _sample(pipe.dit, x, sched[k:], caches[ns.b], guidance=s.guidance, solver=s.solver,
                                    dtype=pipe.dtype)
                    d = displacement(track(pipe.decode_latents(x)[0], colour))
                    results.setdefault(k, []).append(np.nan if d is None else float(d[axis]))
    print(f"{s.steps} steps, shift {s.shift:.2f}; d{'xy'[axis]} in pixels (+ = right/down), mean over clips")
    for k, v in results.items():
        print(f"'{ns.a}' for the first {k:2d} steps (to t = {sched[k]:.3f}), then '{ns.b}': "
              f"{np.nanmean(v):7.2f}   per clip {np.round(v, 1).tolist()}")


if __name__ == "__main__":
    main()
