"""The keep rule: does a newly trained model replace the committed default?

A **scorecard** is a folder holding what the rule reads, as ``scripts/scorecard.sh MODEL OUT``
writes it: three WorldBench suites (``wb_48``: 48 prompts, seed 0; ``wb_48s1``: 48 prompts, seed
1; ``wb_24``: 24 prompts, seed 0; each a ``report.json`` of ``kinema eval worldbench``) and
``motion.json`` (``scripts/motion_probe.py --json``: how often "a COLOUR SHAPE moves DIRECTION"
moves that way, and the paired right-left / down-up contrasts in pixels).

The new model is kept when (README, "Training the default model"):

- the mean of its three suite scores is higher than the base's by more than ``min_gain`` (0.001:
  cards of one model made at different thread counts differ by about 1e-6 in the means, and a
  gain smaller than the margin is a tie, which keeps the committed weights and the repository small),
- no suite is more than ``tolerance`` (0.01) lower, and
- the motion probe's "follows" and both paired contrasts are not lower by more than ``sigmas`` (2)
  standard errors of their paired change (when either card lacks ``motion.json`` the rule cannot
  be decided and says so).

The motion tolerance comes from the cards themselves: both probes generate the same prompts with the
same seeds, so each clip (for "follows") and each object-and-seed pair (for the contrasts) gives one
paired change, and the standard error of their mean says how far the figure moves by chance. On
phase 12 (session 16) the probe's seeds 4-7 gave contrasts 7 and 4 px above seeds 0-3, and a
candidate's paired change had a standard error of 0.3-1.1 px. A drop within two standard errors is
reported as noise (about 2% of equal models fall further by chance, per figure); ``sigmas = 0`` is
the strict rule (no lower at all). A card without per-clip rows (older probes) gets no tolerance.

Beside the verdict, ``paired_bootstrap`` says how much of a change is noise: the same prompts are
resampled for both models (per suite, with replacement) and the change in the three-suite mean
is recomputed each time, which gives an interval and how often the new model comes out ahead.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kinema.errors import KinemaError
from kinema.eval.report import load_runs
from kinema.eval.scores import DIMENSIONS

SUITES = (("wb_48", 48, 0), ("wb_48s1", 48, 1), ("wb_24", 24, 0))
"""(folder, prompts, seed) of the three suites the rule compares."""
MOTION = ("follows", "contrast_right_left", "contrast_down_up")
PAIRS = {"contrast_right_left": ("right", "left", "dx"), "contrast_down_up": ("down", "up", "dy")}
"""The probe's contrasts: (asked direction, its opposite, displacement axis); scripts/motion_probe.py uses them too."""


@dataclass
class Scorecard:
    """One model's scores: ``suites`` (folder -> WorldBench overall), ``motion`` (or None)."""

    path: str
    suites: dict[str, float]
    motion: dict[str, float] | None
    clips: dict[str, list[dict]] = field(default_factory=dict, repr=False)  # per suite, for the bootstrap
    motion_clips: list[dict] = field(default_factory=list, repr=False)  # the probe's rows, for the paired SE

    @property
    def mean(self) -> float:
        return sum(self.suites.values()) / len(self.suites)


@dataclass
class Verdict:
    keep: bool | None  # None: undecided (a card has no motion probe)
    reasons: list[str] = field(default_factory=list)  # why it is refused (or undecided)
    notes: list[str] = field(default_factory=list)  # drops the rule lets through as noise


def load_scorecard(folder: str | Path) -> Scorecard:
    """Read a scorecard folder (module docstring); a clear error names what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KinemaError(f"no scorecard folder at {folder} (write one with scripts/scorecard.sh MODEL {folder})")
    suites, clips = {}, {}
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
        clips[name] = run["clips"]
    motion, motion_clips = None, []
    mpath = folder / "motion.json"
    if mpath.is_file():
        try:
            data = json.loads(mpath.read_text())
            s = data["summary"]
            motion = {
                "follows": float(s["all"]["follows"]),
                "contrast_right_left": float(s["contrast_right_left"]["mean_px"]),
                "contrast_down_up": float(s["contrast_down_up"]["mean_px"]),
            }
            motion_clips = list(data.get("clips") or [])
        except (ValueError, KeyError, TypeError) as e:
            raise KinemaError(f"{mpath} is not a motion probe summary (scripts/motion_probe.py --json): {e}") from e
    return Scorecard(str(folder), suites, motion, clips, motion_clips)


def motion_units(rows: list[dict], key: str) -> dict[tuple, float]:
    """One value per paired unit of the probe: per clip ``(prompt, seed)`` for "follows", per
    ``(object, seed)`` for a contrast (half the difference of the two directions' displacement;
    the probe's summary is their mean); units with an untracked clip are left out."""
    if key == "follows":
        return {(r["prompt"], r["seed"]): float(r["follows"]) for r in rows}
    a, b, axis = PAIRS[key]
    by = {(r["prompt"].split(" moves ")[0], r["seed"], r["direction"]): r.get(axis) for r in rows}
    return {
        (o, s): (by[(o, s, a)] - by[(o, s, b)]) / 2
        for (o, s, d) in by
        if d == a and by[(o, s, a)] is not None and by.get((o, s, b)) is not None
    }


def paired_motion_se(base: Scorecard, new: Scorecard, key: str) -> float | None:
    """Standard error of the mean paired change in the probe figure ``key`` (module docstring),
    over the units both cards share; None when fewer than two are shared (no per-clip rows)."""
    try:
        a, b = motion_units(base.motion_clips, key), motion_units(new.motion_clips, key)
    except (KeyError, TypeError, AttributeError) as e:
        raise KinemaError(f"a motion.json's clips are not the probe's rows ({key}): {e}") from e
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        return None
    d = np.array([b[k] - a[k] for k in shared])
    return float(d.std(ddof=1) / np.sqrt(len(d)))


def decide(
    base: Scorecard, new: Scorecard, tolerance: float = 0.01, min_gain: float = 0.001, sigmas: float = 2.0
) -> Verdict:
    """Apply the keep rule (module docstring) to ``new`` against ``base``."""
    reasons, notes, keep = [], [], True
    gain = new.mean - base.mean
    if gain <= 0:
        keep = False
        reasons.append(f"mean {new.mean:.3f} is not above {base.mean:.3f}")
    elif gain <= min_gain:
        keep = False
        reasons.append(f"mean gain {gain:+.4f} is within the tie margin {min_gain} (a tie keeps the base)")
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
        drop = base.motion[key] - new.motion[key]
        if drop <= 0:
            continue
        se = paired_motion_se(base, new, key)
        allowed = sigmas * (se or 0.0)
        what = f"motion {key} {new.motion[key]:.2f} is below {base.motion[key]:.2f}"
        if se is None:
            what += " (no per-clip rows: no tolerance)"
        else:
            what += f" by {drop:.2f}; {sigmas:g} standard errors of the paired change are {allowed:.2f}"
        if drop > allowed:
            keep = False
            reasons.append(what)
        else:
            notes.append(what + ": within the noise")
    return Verdict(keep, reasons, notes)


def _score_matrix(clips: list[dict]) -> np.ndarray:
    """``(clips, dimensions)`` scores, NaN where a dimension does not apply."""
    return np.array(
        [[np.nan if c["scores"].get(d) is None else c["scores"][d] for d in DIMENSIONS] for c in clips], dtype=float
    ).reshape(len(clips), len(DIMENSIONS))


def _overall(m: np.ndarray) -> np.ndarray:
    """WorldBench's overall (mean of the dimension means) of ``(R, clips, dims)`` resamples: ``(R,)``."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN dimensions are left out, as in summarise
        return np.nanmean(np.nanmean(m, axis=1), axis=1)


def paired_bootstrap(
    base: Scorecard, new: Scorecard, resamples: int = 2000, seed: int = 0
) -> dict[str, float] | None:
    """Change in the three-suite mean under resampled prompts (module docstring): ``{"change",
    "low", "high" (5th and 95th percentiles), "ahead" (share of resamples where new > base)}``;
    None when a card has no clips or the two cards' suites hold different prompts."""
    rng = np.random.default_rng(seed)
    diffs = np.zeros(resamples)
    for name, _, _ in SUITES:
        a, b = base.clips.get(name), new.clips.get(name)
        if not a or not b or [c["caption"] for c in a] != [c["caption"] for c in b]:
            return None
        idx = rng.integers(0, len(a), size=(resamples, len(a)))
        diffs += _overall(_score_matrix(b)[idx]) - _overall(_score_matrix(a)[idx])
    diffs /= len(SUITES)
    low, high = np.percentile(diffs, [5, 95])
    return {
        "change": new.mean - base.mean,
        "low": float(low),
        "high": float(high),
        "ahead": float((diffs > 0).mean()),
    }


def format_verdict(base: Scorecard, new: Scorecard, verdict: Verdict, boot: dict | None = None) -> str:
    """The side-by-side table and the verdict as plain text."""
    lines = [f"{'':28s}{'base':>10s}{'new':>10s}{'change':>10s}"]
    for name, _, _ in SUITES:
        b, n = base.suites[name], new.suites[name]
        lines.append(f"{name:28s}{b:10.3f}{n:10.3f}{n - b:+10.3f}")
    lines.append(f"{'mean':28s}{base.mean:10.3f}{new.mean:10.3f}{new.mean - base.mean:+10.3f}")
    if base.motion and new.motion:
        for key in MOTION:
            b, n = base.motion[key], new.motion[key]
            lines.append(f"{'motion ' + key:28s}{b:10.2f}{n:10.2f}{n - b:+10.2f}")
    if boot is not None:
        lines.append(
            f"paired bootstrap over prompts: mean change {boot['change']:+.3f}, 90% interval "
            f"[{boot['low']:+.3f}, {boot['high']:+.3f}], new ahead in {boot['ahead']:.0%} of resamples"
        )
    word = {True: "KEEP", False: "REFUSE", None: "UNDECIDED"}[verdict.keep]
    lines.append(f"verdict: {word}" + "".join(f"\n  - {r}" for r in verdict.reasons))
    lines.extend(f"  note: {n}" for n in verdict.notes)
    return "\n".join(lines)
