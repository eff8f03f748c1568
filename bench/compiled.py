"""Kinema's default training path: the DiT training step under ``torch.compile`` (``compile = true``).

For each work size, kinema's DiT runs the same training step as ``bench.dit`` (forward under
bfloat16 autocast, mean-squared loss against a fixed target, backward; no optimiser update) once
eager and once compiled in place (``nn.Module.compile(dynamic=False)``, as the trainer does), the
two interleaved round by round on the same weights. Reported per work size: the compile time
(first two compiled steps), median ms of both, the speed-up, and how far the compiled loss and
gradients are from eager (the compiled kernels fuse bfloat16 ops, so they agree to bf16 rounding,
not bit for bit). ``bench.report`` sets the compiled step against the fastest peer's float32 eager
step (how the peers' users train by default) from the transformer rows of the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from bench.dit import WORKS, _train_fn
from bench.peers import Spec, kinema_dit
from bench.timing import interleaved, median

__all__ = ["compile_train_step", "compiled_train"]


def _grads(spec: Spec) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in spec.model.parameters() if p.grad is not None])


def compile_train_step(spec: Spec, inp: dict, target: torch.Tensor) -> tuple[Callable[[], torch.Tensor], float, torch.Tensor]:
    """Compile ``spec``'s model in place (``dynamic=False``, as ``kinema train`` does) and run its bf16
    training step twice; returns the step function, the seconds those two steps took (the compile)
    and the first step's loss."""
    spec.model.train()
    spec.model.compile(dynamic=False)
    run = _train_fn(spec, inp, target, "bf16")
    t0 = time.perf_counter()
    loss = run()
    run()
    return run, time.perf_counter() - t0, loss


def compiled_train(works: list[str], preset: str, repeats: int, log: Callable[[str], None] = print) -> list[dict]:
    """Rows ``{work, tokens, eager_ms, compiled_ms, speedup, compile_s, loss_rel_diff, grad_rel_diff}``."""
    rows = []
    for key in works:
        work = WORKS[key]
        eager = kinema_dit(work, preset)
        compiled = kinema_dit(work, preset)  # the same seed: the same weights
        eager.model.train()
        inp = work.inputs(seed=0)
        target = torch.randn(inp["x"].shape, generator=torch.Generator().manual_seed(1))
        run_e = _train_fn(eager, inp, target, "bf16")
        run_c, compile_s, _ = compile_train_step(compiled, inp, target)
        loss_c = run_c()
        grad_c = _grads(compiled)
        loss_e = run_e()
        grad_e = _grads(eager)
        times = interleaved({"eager": run_e, "compiled": run_c}, repeats=repeats, warmup=1)
        e_ms, c_ms = 1e3 * median(times["eager"]), 1e3 * median(times["compiled"])
        row = {
            "work": key,
            "tokens": work.tokens,
            "preset": preset,
            "eager_ms": e_ms,
            "compiled_ms": c_ms,
            "speedup": e_ms / c_ms,
            "compile_s": compile_s,
            "loss_rel_diff": float((loss_c - loss_e).abs() / loss_e.abs()),
            "grad_rel_diff": float((grad_c - grad_e).norm() / grad_e.norm()),
        }
        log(
            f"  {key:>5} bf16 train kinema eager {e_ms:8.1f} ms, compiled {c_ms:8.1f} ms: x{row['speedup']:.2f} "
            f"(compile {compile_s:.0f} s; loss rel. diff {row['loss_rel_diff']:.1e}, "
            f"grad {row['grad_rel_diff']:.1e})"
        )
        rows.append(row)
        del eager, compiled
    return rows
