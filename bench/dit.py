"""Transformer speed: kinema's DiT against diffusers' video transformers at equal size and work.

For each work size (latent shape, hence token count) every model runs, interleaved round by
round, an inference forward (``torch.no_grad``) and a training step (forward, mean-squared loss
against a fixed target, backward; gradients cleared between steps; no optimiser update), in
float32 and under bfloat16 autocast. Reported per model and case: median ms, tokens/s, GFLOP/s
(FLOPs counted once per model with ``torch.utils.flop_counter.FlopCounterMode``: matmuls and
attention, in float32, the same count for both precisions) and MFU against the measured matmul
peak of that precision (``bench.machine``). ``speedup_vs_best_peer`` is the fastest peer's time
over kinema's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.peers import PEERS, Spec, Work, build_peer, kinema_dit
from bench.timing import interleaved, median

__all__ = ["WORKS", "compare"]

# about 320 and about 1,300 tokens: a 5-latent-frame clip at 16x16 and 32x32 latents (2x2 patches)
WORKS = {"320": Work(frames=5, height=16, width=16), "1280": Work(frames=5, height=32, width=32)}


def _precision(mode: str) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()


def _forward_fn(spec: Spec, inp: dict, mode: str) -> Callable[[], object]:
    def run() -> None:
        with torch.no_grad(), _precision(mode):
            spec.call(inp)

    return run


def _train_fn(spec: Spec, inp: dict, target: torch.Tensor, mode: str) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        spec.model.zero_grad(set_to_none=True)
        with _precision(mode):
            out = spec.call(inp)
        loss = (out.float() - target).square().mean()
        loss.backward()
        return loss.detach()

    return run


def forward_flops(spec: Spec, inp: dict) -> float:
    """FLOPs of one inference forward of ``spec``."""
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        spec.call(inp)
    return float(fc.get_total_flops())


def count_flops(spec: Spec, inp: dict, target: torch.Tensor) -> tuple[float, float]:
    """FLOPs of one forward and of one training step (forward + backward) of ``spec``."""
    fwd = forward_flops(spec, inp)
    with FlopCounterMode(display=False) as fc:
        _train_fn(spec, inp, target, "fp32")()
    spec.model.zero_grad(set_to_none=True)
    return fwd, float(fc.get_total_flops())


def build_models(
    work: Work, preset: str, peers: list[str] | None, log: Callable[[str], None], **overrides: object
) -> list[Spec]:
    """Kinema's ``preset`` (with config ``overrides``, e.g. ``depth``) and each available peer (default:
    all) at its width, depth matched to kinema's parameter count."""
    peers = list(PEERS) if peers is None else peers
    kin = kinema_dit(work, preset, **overrides)
    heads, hd = kin.model.cfg.heads, kin.model.cfg.head_dim
    specs = [kin]
    for name in peers:
        try:
            spec = build_peer(name, work, heads, hd, kin.params)
        except (ImportError, AttributeError, TypeError) as e:  # diffusers missing, or too old for this model
            log(f"  skip {name}: {type(e).__name__}: {e}")
            continue
        ratio = spec.params / kin.params
        if not 0.9 <= ratio <= 1.1:
            log(f"  skip {name}: no depth gives kinema's parameter count within 10% (best {ratio:.2f}x)")
            continue
        specs.append(spec)
    for s in specs:
        s.model.train()  # dropout is 0 everywhere; train() so the training step is the real one
    return specs


def compare(
    works: list[str],
    preset: str,
    peaks: dict,
    repeats: int,
    modes: list[str],
    phases: list[str],
    peers: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Rows ``{work, tokens, model, params, depth, width, mode, phase, ms, tokens_s, gflops, mfu, ...}``."""
    rows: list[dict] = []
    for key in works:
        work = WORKS[key]
        log(
            f"transformers at {work.tokens} tokens (latent {work.channels}x{work.frames}x{work.height}x{work.width}, "
            f"text {work.text_len}x{work.text_dim})"
        )
        specs = build_models(work, preset, peers, log)
        inp = work.inputs(seed=0)
        target = torch.randn(inp["x"].shape, generator=torch.Generator().manual_seed(1))
        flops = {s.name: count_flops(s, inp, target) for s in specs}
        for mode in modes:
            peak = peaks["bf16"] if mode == "bf16" else peaks["fp32_peak"]
            for phase in phases:
                cases = {
                    s.name: (
                        _forward_fn(s, inp, mode) if phase == "forward" else _train_fn(s, inp, target, mode)
                    )
                    for s in specs
                }
                times = interleaved(cases, repeats=repeats, warmup=1)
                block = []
                for s in specs:
                    sec = median(times[s.name])
                    fl = flops[s.name][0 if phase == "forward" else 1]
                    block.append(
                        {
                            "work": key,
                            "tokens": work.tokens,
                            "model": s.name,
                            "params": s.params,
                            "depth": s.depth,
                            "width": s.width,
                            "mode": mode,
                            "phase": phase,
                            "ms": 1e3 * sec,
                            "ms_all": [1e3 * t for t in times[s.name]],
                            "tokens_s": work.batch * work.tokens / sec,
                            "gflop": fl / 1e9,
                            "gflops": fl / sec / 1e9,
                            "mfu": fl / sec / 1e9 / peak,
                        }
                    )
                best_peer = min((r["ms"] for r in block if r["model"] != "kinema"), default=None)
                for r in block:
                    r["speedup_vs_best_peer"] = (
                        best_peer / r["ms"] if best_peer and r["model"] == "kinema" else None
                    )
                    log(
                        f"  {key:>5} {mode:>4} {phase:>7} {r['model']:>13}: {r['ms']:8.1f} ms  "
                        f"{r['gflops']:6.1f} GFLOP/s  MFU {100 * r['mfu']:5.1f}%"
                        + (
                            f"  x{r['speedup_vs_best_peer']:.2f} vs best peer"
                            if r["speedup_vs_best_peer"]
                            else ""
                        )
                    )
                rows.extend(block)
        del specs
    return rows
