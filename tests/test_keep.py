"""The keep rule (kinema.eval.keep, `kinema eval keep`): which trained model replaces the default."""

from __future__ import annotations

import json

import pytest

from kinema.cli import main
from kinema.errors import KinemaError
from kinema.eval.keep import (
    SUITES,
    _overall,
    _score_matrix,
    decide,
    load_scorecard,
    paired_bootstrap,
    paired_motion_se,
)
from kinema.eval.scores import DIMENSIONS
from kinema.eval.worldbench import summarise


def card(folder, scores, motion=(0.9, 20.0, 24.0), seeds=None, clips=None, probe_rows=()):
    """A scorecard folder with the three suites' overall scores and (unless None) a motion probe
    (its summary ``motion``, its per-clip rows ``probe_rows``)."""
    for (name, prompts, seed), overall in zip(SUITES, scores, strict=True):
        run = {"name": "model", "overall": overall, "dimensions": {}, "clips": (clips or {}).get(name, []),
               "suite": {"prompts": prompts, "seed": seed if seeds is None else seeds}}
        (folder / name).mkdir(parents=True)
        (folder / name / "report.json").write_text(json.dumps({"runs": [run]}))
    if motion is not None:
        f, rl, du = motion
        summary = {"all": {"follows": f}, "contrast_right_left": {"mean_px": rl},
                   "contrast_down_up": {"mean_px": du}}
        (folder / "motion.json").write_text(json.dumps({"summary": summary, "clips": list(probe_rows)}))
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
        ([0.62, 0.59, 0.64], (0.9, 20.0, 24.0), "wb_48s1 is 0.020 lower"),  # session 12's refused try
        ([0.60, 0.62, 0.62], (0.85, 20.0, 24.0), "motion follows"),
        ([0.60, 0.62, 0.62], (0.9, 20.0, 23.5), "motion contrast_down_up"),
    ],
)
def test_the_rule_refuses(tmp_path, scores, motion, reason):
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    v = decide(base, load_scorecard(card(tmp_path / "b", scores, motion=motion)))
    assert v.keep is False and any(reason in r for r in v.reasons), v.reasons


def probe(contrasts_du, contrast_rl=20.0, objects=("red circle", "blue square")):
    """The motion probe's rows (scripts/motion_probe.py) whose down-up contrast of object ``o`` at
    seed ``s`` is ``contrasts_du[o][s]`` (right-left: ``contrast_rl`` everywhere), every clip following."""
    rows = []
    for o, per_seed in zip(objects, contrasts_du, strict=True):
        for s, c in enumerate(per_seed):
            for d, dx, dy in (("left", -contrast_rl, 1.0), ("right", contrast_rl, 1.0), ("up", 0.5, -c), ("down", 0.5, c)):
                rows.append({"prompt": f"a {o} moves {d}", "seed": s, "direction": d, "follows": True,
                             "dx": dx, "dy": dy})
    return rows


def test_paired_motion_standard_error(tmp_path):
    import numpy as np

    base_c = [[24.0, 28.0, 26.0, 30.0], [22.0, 27.0, 25.0, 29.0]]
    new_c = [[23.0, 28.5, 24.0, 30.0], [22.5, 26.0, 25.0, 27.0]]
    base = load_scorecard(card(tmp_path / "a", [0.5] * 3, probe_rows=probe(base_c)))
    new = load_scorecard(card(tmp_path / "b", [0.5] * 3, probe_rows=probe(new_c)))
    d = np.array(new_c).ravel() - np.array(base_c).ravel()
    assert paired_motion_se(base, new, "contrast_down_up") == pytest.approx(d.std(ddof=1) / np.sqrt(8))
    assert paired_motion_se(base, new, "contrast_right_left") == 0  # identical pairs: no noise
    assert paired_motion_se(base, new, "follows") == 0
    assert paired_motion_se(base, load_scorecard(card(tmp_path / "c", [0.5] * 3)), "follows") is None


def test_a_motion_drop_within_its_noise_is_allowed(tmp_path):
    # the case of session 15's p14c against phase 12 (down-up 0.51 px lower, 2 standard errors 0.68 px), scaled down
    base_c = [[24.0, 28.0, 26.0, 30.0], [22.0, 27.0, 25.0, 29.0]]
    noisy = [[23.0, 29.5, 24.0, 30.0], [23.5, 26.0, 25.0, 28.0]]  # 0.25 px lower on average, SE 0.44
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60], motion=(1.0, 20.0, 26.375),
                               probe_rows=probe(base_c)))
    new = load_scorecard(card(tmp_path / "b", [0.60, 0.62, 0.62], motion=(1.0, 20.0, 26.125),
                              probe_rows=probe(noisy)))
    v = decide(base, new)
    assert v.keep is True and v.reasons == []
    assert "contrast_down_up 26.12 is below 26.38 by 0.25" in v.notes[0] and "within the noise" in v.notes[0]
    assert decide(base, new, sigmas=0).keep is False  # the strict rule
    # the same pairs all 0.25 px lower: no noise, so the drop is real and refuses
    shifted = [[c - 0.25 for c in cs] for cs in base_c]
    real = load_scorecard(card(tmp_path / "c", [0.60, 0.62, 0.62], motion=(1.0, 20.0, 26.125),
                               probe_rows=probe(shifted)))
    v = decide(base, real)
    assert v.keep is False and "contrast_down_up" in v.reasons[0]
    # without per-clip rows (an older probe) there is no tolerance
    bare = load_scorecard(card(tmp_path / "d", [0.60, 0.62, 0.62], motion=(1.0, 20.0, 26.125)))
    v = decide(base, bare)
    assert v.keep is False and "no per-clip rows" in v.reasons[0]


def test_a_drop_within_the_tolerance_is_allowed(tmp_path):
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    new = load_scorecard(card(tmp_path / "b", [0.60, 0.601, 0.62]))
    assert decide(base, new).keep is True
    assert decide(base, new, tolerance=0.005).keep is False


def test_a_gain_within_the_tie_margin_keeps_the_base(tmp_path):
    # session 13: one model's cards at 1 and 2 threads differed by +7e-7 in the mean
    base = load_scorecard(card(tmp_path / "a", [0.58, 0.61, 0.60]))
    same = load_scorecard(card(tmp_path / "b", [0.5800007, 0.6100003, 0.6000011]))
    v = decide(base, same)
    assert v.keep is False and "tie margin" in v.reasons[0]
    assert decide(base, same, min_gain=0).keep is True  # the margin is what refuses it
    small = load_scorecard(card(tmp_path / "c", [0.582, 0.61, 0.60]))  # +0.00067 in the mean
    assert decide(base, small).keep is False and decide(base, small, min_gain=0.0005).keep is True


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
    assert main(["eval", "keep", str(a), str(b), "--min-gain", "0.05"]) == 1
    assert "tie margin 0.05" in capsys.readouterr().out
    assert main(["eval", "keep", str(a), str(b), "--min-gain", "-1"]) == 2
    assert "--min-gain must be >= 0" in capsys.readouterr().err
    assert main(["eval", "keep", str(a), str(b), "--motion-sigmas", "-1"]) == 2
    assert "--motion-sigmas must be >= 0" in capsys.readouterr().err


def clip_set(rng, n, captions="abcdefghijklmnopqrstuvwxyz"):
    """``n`` clips with random scores (some dimensions N/A)."""
    out = []
    for i in range(n):
        scores = {d: (None if rng.random() < 0.3 else float(rng.random())) for d in DIMENSIONS}
        out.append({"caption": captions[i % len(captions)] + str(i), "scores": scores})
    return out


def suites_of(clips):
    return {name: c for (name, _, _), c in zip(SUITES, clips, strict=True)}


def test_bootstrap_overall_is_worldbench_overall():
    import numpy as np

    clips = clip_set(np.random.default_rng(0), 20)
    m = _score_matrix(clips)
    assert _overall(m[None])[0] == pytest.approx(summarise(clips)["overall"])


def test_paired_bootstrap(tmp_path):
    import numpy as np

    rng = np.random.default_rng(1)
    base_clips = [clip_set(rng, 24) for _ in SUITES]
    base = load_scorecard(card(tmp_path / "a", [0.5] * 3, clips=suites_of(base_clips)))
    same = paired_bootstrap(base, base)
    assert same["change"] == 0 and same["low"] == same["high"] == 0 and same["ahead"] == 0
    # every clip better by 0.05 in every dimension: the interval sits at +0.05, ahead every time
    better = [[{**c, "scores": {d: None if v is None else v + 0.05 for d, v in c["scores"].items()}}
               for c in cs] for cs in base_clips]
    new = load_scorecard(card(tmp_path / "b", [0.55] * 3, clips=suites_of(better)))
    b = paired_bootstrap(base, new)
    assert b["low"] == pytest.approx(0.05) and b["high"] == pytest.approx(0.05) and b["ahead"] == 1.0
    # an unrelated model of the same quality: a wide interval around 0
    other = load_scorecard(card(tmp_path / "c", [0.5] * 3, clips=suites_of([clip_set(rng, 24) for _ in SUITES])))
    o = paired_bootstrap(base, other)
    assert o["low"] < 0 < o["high"] and o["high"] - o["low"] > 0.02 and 0 < o["ahead"] < 1
    # different prompts (or a card without clips) cannot be paired
    shifted = load_scorecard(card(tmp_path / "d", [0.5] * 3,
                                  clips=suites_of([clip_set(rng, 24, captions="zyx") for _ in SUITES])))
    assert paired_bootstrap(base, shifted) is None
    assert paired_bootstrap(base, load_scorecard(card(tmp_path / "e", [0.5] * 3))) is None
