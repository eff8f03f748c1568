"""Timing and memory helpers shared by the benchmark sections.

``interleaved`` runs every case once per round, round after round, after a warm-up round, so a
change in the machine's load (other processes, frequency) hits every case alike; the figure kept
is the median over rounds. ``run_measured`` runs a command in a child process and reports its
wall time and its own peak resident memory (``wait4`` rusage of that child only).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence

__all__ = ["interleaved", "median", "run_measured"]


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def interleaved(
    cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each case: ``warmup`` untimed rounds, then ``repeats`` timed rounds, each
    round calling every case once in turn. Returns ``{name: [seconds per round]}``."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict:
    """Run ``cmd``; return ``{"wall_s", "peak_rss_mb", "returncode", "stdout", "stderr"}``. The peak is
    the child's own ``BENCH_PEAK_MB=`` stderr line (run modules through ``bench.peak``), else its
    ``wait4`` maximum RSS, which on Linux also counts this process's resident size at fork."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), stdout=out, stderr=err, text=True, env={**os.environ, **(env or {})}
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    peak = usage.ru_maxrss / 1024
    for line in reversed(stderr.splitlines()):
        if line.startswith("BENCH_PEAK_MB="):
            peak = float(line.split("=", 1)[1])
            break
    return {
        "wall_s": wall,
        "peak_rss_mb": peak,
        "returncode": proc.returncode,
        "stdout": stdout,
        "stderr": stderr,
    }
