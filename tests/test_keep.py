"""The keep rule (kinema.eval.keep, `kinema eval keep`): which trained model replaces the default."""

from __future__ import annotations

import json

import pytest

from kinema.cli import main
from kinema.errors import KinemaError
from kinema.eval.keep import SUITES, decide, load_scorecard


def card(folder, scores, motion=(0.9, 20.0, 24.0), seeds=None):
    """A scorecard folder with the three suites' overall scores and (unless None) a motion probe."""
    for (name, prompts, seed), overall in zip(SUITES, scores, strict=True):
        run = {"name": "model", "overall": overall, "dimensions": {}, "clips": [],
               "suite": {"prompts": prompts, "seed": seed if seeds is None else seeds}}
        (folder / name).mkdir(parents=True)
        (folder / name / "report.json").write_text(json.dumps({"runs": [run]}))
    if motion is not None:
        f, rl, du = motion
        summary = {"all": {"follows": f}, "contrast_right_left": {"mean_px": rl},
                   "contrast_down_up": {"mean_px": du}}
        (folder / "motion.json").write_text(json.dumps({"summary": summary, "clips": []}))
    return folder


def test_scorecard_reads_the_three_suites_and_the_probe(tmp_path):
    c = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    assert c.suites == {"wb_48": 0.58, "wb_48s1": 0.61, "wb_24": 0.60}
    assert c.mean == pytest.approx((0.58 + 0.61 + 0.60) / 3)
    assert c.motion == {"follows": 0.9, "contrast_right_left": 20.0, "contrast_down_up": 24.0}


def test_a_better_model_is_kept(tmp_path):
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    new = load_scorecard(card(tmp_path / "b", [0.60, 0.605, 0.62], motion=(0.95, 21.0, 24.0)))
    v = decide(base, new)
    assert v.keep is True and v.reasons == []


@pytest.mark.parametrize(
    ("scores", "motion", "reason"),
    [
        ([0.58, 0.61, 0.60], (0.9, 20.0, 24.0), "mean"),  # equal is not better
        ([0.62, 0.59, 0.64], (0.9, 20.0, 24.0), "wb_48s1 is 0.020 lower"),  # phase 12's refusal
        ([0.60, 0.62, 0.62], (0.85, 20.0, 24.0), "motion follows"),
        ([0.60, 0.62, 0.62], (0.9, 20.0, 23.5), "motion contrast_down_up"),
    ],
)
def test_the_rule_refuses(tmp_path, scores, motion, reason):
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    v = decide(base, load_scorecard(card(tmp_path / "b", scores, motion=motion)))
    assert v.keep is False and any(reason in r for r in v.reasons), v.reasons


def test_a_drop_within_the_tolerance_is_allowed(tmp_path):
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    new = load_scorecard(card(tmp_path / "b", [0.60, 0.601, 0.62]))
    assert decide(base, new).keep is True
    assert decide(base, new, tolerance=0.005).keep is False


def test_without_a_motion_probe_the_rule_is_undecided(tmp_path):
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    new = load_scorecard(card(tmp_path / "b", [0.60, 0.62, 0.62], motion=None))
    v = decide(base, new)
    assert v.keep is None and "no motion.json" in v.reasons[0]
    worse = load_scorecard(card(tmp_path / "c", [0.50, 0.50, 0.50], motion=None))
    assert decide(base, worse).keep is False


def test_scorecard_errors_name_what_is_missing(tmp_path):
    with pytest.raises(KinemaError, match="no scorecard folder"):
        load_scorecard(tmp_path / "nothing")
    c = card(tmp_path / "a", [0.58, 0.61, 0.60])
    (c / "wb_24" / "report.json").unlink()
    with pytest.raises(KinemaError, match="wb_24/report.json.*--prompts 24 --seed 0"):
        load_scorecard(c)
    with pytest.raises(KinemaError, match="must be 48 prompts, seed 1"):
        load_scorecard(card(tmp_path / "b", [0.5, 0.5, 0.5], seeds=0))
    d = card(tmp_path / "d", [0.5, 0.5, 0.5])
    (d / "motion.json").write_text("{}")
    with pytest.raises(KinemaError, match="not a motion probe summary"):
        load_scorecard(d)


def test_cli_exit_status_and_json(tmp_path, capsys):
    a = card(tmp_path / "a", [0.58, 0.61, 0.60])
    b = card(tmp_path / "b", [0.60, 0.62, 0.62], motion=(0.95, 21.0, 25.0))
    assert main(["eval", "keep", str(a), str(b), "--json", str(tmp_path / "v.json")]) == 0
    out = capsys.readouterr().out
    assert "verdict: KEEP" in out and "+0.020" in out
    assert json.loads((tmp_path / "v.json").read_text())["keep"] is True
    assert main(["eval", "keep", str(b), str(a)]) == 1
    assert "verdict: REFUSE" in capsys.readouterr().out
    assert main(["eval", "keep", str(a), str(tmp_path / "missing")]) == 2
    assert "no scorecard folder" in capsys.readouterr().err
