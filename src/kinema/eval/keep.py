"""The keep rule: does a newly trained model replace the committed default?

A **scorecard** is a folder holding what the rule reads, as ``scripts/scorecard.sh MODEL OUT``
writes it: three WorldBench suites (``wb_48``: 48 prompts, seed 0; ``wb_48s1``: 48 prompts, seed
1; ``wb_24``: 24 prompts, seed 0; each a ``report.json`` of ``kinema eval worldbench``) and
``motion.json`` (``scripts/motion_probe.py --json``: how often "a COLOUR SHAPE moves DIRECTION"
moves that way, and the paired right-left / down-up contrasts in pixels).

The new model is kept when (README, "Training the default model"):

- the mean of its three suite scores is higher than the base's,
- no suite is more than ``tolerance`` (0.01) lower, and
- the motion probe's "follows" and both paired contrasts are no lower (when either card lacks
  ``motion.json`` the rule cannot be decided and says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kinema.errors import KinemaError
from kinema.eval.report import load_runs

SUITES = (("wb_48", 48, 0), ("wb_48s1", 48, 1), ("wb_24", 24, 0))
"""(folder, prompts, seed) of the three suites the rule compares."""
MOTION = ("follows", "contrast_right_left", "contrast_down_up")


@dataclass
class Scorecard:
    """One model's scores: ``suites`` (folder -> WorldBench overall), ``motion`` (or None)."""

    path: str
    suites: dict[str, float]
    motion: dict[str, float] | None

    @property
    def mean(self) -> float:
        return sum(self.suites.values()) / len(self.suites)


@dataclass
class Verdict:
    keep: bool | None  # None: undecided (a card has no motion probe)
    reasons: list[str] = field(default_factory=list)


def load_scorecard(folder: str | Path) -> Scorecard:
    """Read a scorecard folder (module docstring); a clear error names what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KinemaError(f"no scorecard folder at {folder} (write one with scripts/scorecard.sh MODEL {folder})")
    suites = {}
    for name, prompts, seed in SUITES:
        report = folder / name / "report.json"
        if not report.is_file():
            raise KinemaError(
                f"{folder} has no {name}/report.json: run `kinema eval worldbench --checkpoint MODEL "
                f"--out {folder / name} --prompts {prompts} --seed {seed}`"
            )
        run = load_runs(report)[0]
        suite = run.get("suite") or {}
        if suite and (suite.get("prompts"), suite.get("seed")) != (prompts, seed):
            raise KinemaError(
                f"{report} is a suite of {suite.get('prompts')} prompts, seed {suite.get('seed')}; "
                f"{name} must be {prompts} prompts, seed {seed}"
            )
        if run.get("overall") is None:
            raise KinemaError(f"{report} has no overall score")
        suites[name] = float(run["overall"])
    motion = None
    mpath = folder / "motion.json"
    if mpath.is_file():
        try:
            s = json.loads(mpath.read_text())["summary"]
            motion = {
                "follows": float(s["all"]["follows"]),
                "contrast_right_left": float(s["contrast_right_left"]["mean_px"]),
                "contrast_down_up": float(s["contrast_down_up"]["mean_px"]),
            }
        except (ValueError, KeyError, TypeError) as e:
            raise KinemaError(f"{mpath} is not a motion probe summary (scripts/motion_probe.py --json): {e}") from e
    return Scorecard(str(folder), suites, motion)


def decide(base: Scorecard, new: Scorecard, tolerance: float = 0.01) -> Verdict:
    """Apply the keep rule (module docstring) to ``new`` against ``base``."""
    reasons, keep = [], True
    if new.mean <= base.mean:
        keep = False
        reasons.append(f"mean {new.mean:.3f} is not above {base.mean:.3f}")
    for name, _, _ in SUITES:
        drop = base.suites[name] - new.suites[name]
        if drop > tolerance:
            keep = False
            reasons.append(f"{name} is {drop:.3f} lower ({new.suites[name]:.3f} against {base.suites[name]:.3f})")
    if base.motion is None or new.motion is None:
        missing = base.path if base.motion is None else new.path
        reasons.append(f"{missing} has no motion.json: the motion probe is not compared")
        return Verdict(None if keep else False, reasons)
    for key in MOTION:
        if new.motion[key] < base.motion[key]:
            keep = False
            reasons.append(f"motion {key} {new.motion[key]:.2f} is below {base.motion[key]:.2f}")
    return Verdict(keep, reasons)


def format_verdict(base: Scorecard, new: Scorecard, verdict: Verdict) -> str:
    """The side-by-side table and the verdict as plain text."""
    lines = [f"{'':22s}{'base':>10s}{'new':>10s}{'change':>10s}"]
    for name, _, _ in SUITES:
        b, n = base.suites[name], new.suites[name]
        lines.append(f"{name:22s}{b:10.3f}{n:10.3f}{n - b:+10.3f}")
    lines.append(f"{'mean':22s}{base.mean:10.3f}{new.mean:10.3f}{new.mean - base.mean:+10.3f}")
    if base.motion and new.motion:
        for key in MOTION:
            b, n = base.motion[key], new.motion[key]
            lines.append(f"{'motion ' + key:22s}{b:10.2f}{n:10.2f}{n - b:+10.2f}")
    word = {True: "KEEP", False: "REFUSE", None: "UNDECIDED"}[verdict.keep]
    lines.append(f"verdict: {word}" + "".join(f"\n  - {r}" for r in verdict.reasons))
    return "\n".join(lines)
