"""Run a module as ``__main__`` and report this process's own peak resident memory.

    python -m bench.peak kinema.cli generate "a red ball" -o out.mp4

After the module finishes (or exits), the last stderr line is ``BENCH_PEAK_MB=<VmHWM in MB>``.
``VmHWM`` (Linux) is the high-water mark of this process's own address space, which starts
afresh at ``exec``; ``ru_maxrss`` is not used because Linux folds the parent's resident size at
``fork`` into the child's.
"""

from __future__ import annotations

import resource
import runpy
import sys


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``; ``ru_maxrss`` where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python -m bench.peak MODULE [ARGS ...]", file=sys.stderr)
        return 2
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    code: int | str | None = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code
    print(f"BENCH_PEAK_MB={peak_rss_mb():.1f}", file=sys.stderr, flush=True)
    return code if isinstance(code, int) else (0 if code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
