"""The default model's own work: kinema's default training step and default sampling step against the peers.

``bench.dit`` compares the models on one long sequence (about 320 or 1,300 tokens, batch 1). The
default model (``weights/default``, ``configs/dit_world.toml``) does different work: 17x64x64 clips
become 8x5x8x8 latents, i.e. 80 tokens a clip (2x2 patches), trained in batches of 16 (1,280
tokens in 16 short sequences) and sampled in batches of 2 (classifier-free guidance: the prompt and
the unconditional text in one forward). This section runs exactly that work, with kinema at the
default model's architecture (preset S at depth 6) and each diffusers peer depth-matched to its
parameter count (within 10%), every one randomly initialised:

- ``train``: kinema's step as ``kinema train`` runs it by default (bf16 autocast, the DiT compiled
  in place, text padded to the encoder's ``max_length`` as the compiled trainer pads it), against
  every peer's float32 eager step (how their users train by default); kinema float32 and bf16 eager
  too, for reference. A step is forward, mean-squared loss and backward.
- ``sample``: one sampler model call as ``kinema generate`` runs it by default (float32, the text
  keys/values computed once per generation: ``DiT.encode_text_kv``), and the same under bf16
  autocast; against every peer's float32 eager forward (which takes the text at every call, as
  their pipelines do).

Every peer also runs under bf16 autocast, for kinema's same-precision comparison
(``speedup_same_precision``: the fastest peer in the row's precision over kinema's row).

Rows carry ms (median of interleaved rounds), tokens/s, GFLOP/s (FLOPs counted once per model
with ``torch.utils.flop_counter``, matmuls and attention) and ``speedup_vs_fastest_peer_fp32``:
the fastest peer's float32 eager time over the row's time.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bench.compiled import compile_train_step
from bench.dit import _forward_fn, _precision, _train_fn, build_models, count_flops, forward_flops
from bench.peers import Spec, Work, kinema_dit
from bench.timing import interleaved, median

__all__ = ["DEFAULT_DEPTH", "DEFAULT_TEXT_LEN", "TRAIN_WORK", "SAMPLE_WORK", "default_work"]

DEFAULT_DEPTH = 6
"""The default model's depth (preset S otherwise)."""
DEFAULT_TEXT_LEN = 77
"""The built-in text encoder's ``max_length``: the compiled trainer pads every caption to it."""

# 17x64x64 clips -> latent 8 channels x 5 frames x 8 x 8 (world autoencoder, 4x8x8): 80 tokens each
TRAIN_WORK = Work(channels=8, frames=5, height=8, width=8, batch=16, text_len=DEFAULT_TEXT_LEN)
SAMPLE_WORK = Work(channels=8, frames=5, height=8, width=8, batch=2, text_len=DEFAULT_TEXT_LEN)


def _cached_spec(kin: Spec, inp: dict, mode: str) -> Spec:
    """Kinema as the pipeline calls it: text keys/values encoded once (in ``mode``), reused per call."""
    model = kin.model
    with torch.no_grad(), _precision(mode):
        cache = model.encode_text_kv(inp["txt"], inp["mask"])

    def call(i: dict) -> torch.Tensor:
        return model(i["x"], i["time"], text_cache=cache)

    return Spec(f"kinema (text cached, {mode})", model, call, kin.depth, kin.width)


def _row(phase: str, spec: Spec, mode: str, sec: float, work: Work, flop: float, peaks: dict | None) -> dict:
    peak = None if not peaks else (peaks["bf16"] if mode.startswith("bf16") else peaks["fp32_peak"])
    return {
        "phase": phase,
        "model": spec.name,
        "params": spec.params,
        "depth": spec.depth,
        "width": spec.width,
        "mode": mode,
        "batch": work.batch,
        "tokens": work.tokens,
        "ms": 1e3 * sec,
        "tokens_s": work.batch * work.tokens / sec,
        "gflop": flop / 1e9,
        "gflops": flop / sec / 1e9,
        "mfu": None if peak is None else flop / sec / 1e9 / peak,
    }


def _fastest_peer(rows: list[dict], mode: str) -> float | None:
    return min((r["ms"] for r in rows if not r["model"].startswith("kinema") and r["mode"] == mode), default=None)


def _finish(rows: list[dict], log: Callable[[str], None]) -> None:
    """Add ``speedup_vs_fastest_peer_fp32`` and, for kinema's rows, ``speedup_same_precision`` (the fastest
    peer in the row's precision, bf16+compile counting as bf16) to ``rows``; log them."""
    fastest = _fastest_peer(rows, "fp32")
    for r in rows:
        r["speedup_vs_fastest_peer_fp32"] = fastest / r["ms"]
        same = _fastest_peer(rows, r["mode"].split("+")[0]) if r["model"].startswith("kinema") else None
        r["speedup_same_precision"] = None if same is None else same / r["ms"]
        mfu = "" if r["mfu"] is None else f"  MFU {100 * r['mfu']:5.1f}%"
        log(
            f"  {r['phase']:>6} {r['mode']:>12} {r['model']:>26}: {r['ms']:8.1f} ms  {r['gflops']:6.1f} GFLOP/s{mfu}"
            f"  x{r['speedup_vs_fastest_peer_fp32']:.2f} vs fastest fp32 peer"
            + ("" if same is None else f", x{r['speedup_same_precision']:.2f} vs fastest peer in {r['mode']}")
        )


def default_work(
    peaks: dict | None,
    repeats: int,
    peers: list[str] | None = None,
    phases: tuple[str, ...] = ("train", "sample"),
    log: Callable[[str], None] = print,
) -> dict:
    """``{"train": rows, "sample": rows, "compile_s": s, "compiled_loss_rel_diff": d}`` for the default
    model's work (see the module doc); ``phases`` picks ``train`` and/or ``sample``."""
    out: dict = {}
    if "train" in phases:
        work = TRAIN_WORK
        log(f"default training step: batch {work.batch} x {work.tokens} tokens, text {work.text_len}")
        specs = build_models(work, "S", peers, log, depth=DEFAULT_DEPTH)
        kin, others = specs[0], specs[1:]
        compiled = kinema_dit(work, "S", depth=DEFAULT_DEPTH)  # the same seed: equal weights
        compiled.name = "kinema (compiled)"
        inp = work.inputs(seed=0)
        target = torch.randn(inp["x"].shape, generator=torch.Generator().manual_seed(1))
        flops = {s.name: count_flops(s, inp, target)[1] for s in specs}
        run_c, out["compile_s"], loss_c = compile_train_step(compiled, inp, target)
        run_e = _train_fn(kin, inp, target, "bf16")
        loss_e = run_e()
        out["compiled_loss_rel_diff"] = float((loss_c - loss_e).abs() / loss_e.abs())
        cases = {
            ("kinema", "bf16+compile"): run_c,
            ("kinema", "bf16"): run_e,
            ("kinema", "fp32"): _train_fn(kin, inp, target, "fp32"),
            **{(s.name, m): _train_fn(s, inp, target, m) for s in others for m in ("fp32", "bf16")},
        }
        times = interleaved({f"{n}|{m}": fn for (n, m), fn in cases.items()}, repeats=repeats, warmup=1)
        by_name = {s.name: s for s in specs}
        rows = []
        for (name, mode) in cases:
            spec = compiled if mode == "bf16+compile" else by_name[name]
            rows.append(_row("train", spec, mode, median(times[f"{name}|{mode}"]), work, flops[name], peaks))
        _finish(rows, log)
        out["train"] = rows
        del specs, compiled
    if "sample" in phases:
        work = SAMPLE_WORK
        log(f"default sampling step: batch {work.batch} (prompt + unconditional) x {work.tokens} tokens")
        specs = build_models(work, "S", peers, log, depth=DEFAULT_DEPTH)
        for s in specs:
            s.model.eval()
        kin, others = specs[0], specs[1:]
        inp = work.inputs(seed=0)
        cached = {m: _cached_spec(kin, inp, m) for m in ("fp32", "bf16")}
        flops = {s.name: forward_flops(s, inp) for s in [*others, *cached.values()]}
        cases = {
            **{(cached[m].name, m): _forward_fn(cached[m], inp, m) for m in ("fp32", "bf16")},
            **{(s.name, m): _forward_fn(s, inp, m) for s in others for m in ("fp32", "bf16")},
        }
        times = interleaved({f"{n}|{m}": fn for (n, m), fn in cases.items()}, repeats=repeats, warmup=2)
        by_name = {s.name: s for s in [*others, *cached.values()]}
        rows = [
            _row("sample", by_name[name], mode, median(times[f"{name}|{mode}"]), work, flops[name], peaks)
            for (name, mode) in cases
        ]
        _finish(rows, log)
        out["sample"] = rows
    return out
