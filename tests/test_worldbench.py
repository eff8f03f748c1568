"""WorldBench: the scorer is validated on the world's own renders (every dimension >= 0.99) and
on corrupted videos (the dimensions that should fail do); suite, report, CLI and FD plumbing."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from kinema.cli import main
from kinema.errors import KinemaError
from kinema.eval.corrupt import CORRUPTIONS
from kinema.eval.fd import FEATURE_NAMES, clip_features, frechet_distance
from kinema.eval.scores import (
    CAPTION_DIMENSIONS,
    DIMENSIONS,
    score_caption,
    score_clip,
    score_windows,
    shape_fits,
)
from kinema.eval.worldbench import SuiteArgs, run_model, suite_clips, suite_seeds
from kinema.world import render_clip

SUITE = SuiteArgs(prompts=21, seed=0, width=64, height=64, frames=17, fps=8.0)


@pytest.fixture(scope="module")
def clips():
    return suite_clips(SUITE)


@pytest.fixture(scope="module")
def clean(clips):
    return [score_clip(c.frames, c.truth)["scores"] for c in clips]


def _means(all_scores: list[dict]) -> dict[str, float | None]:
    out = {}
    for d in DIMENSIONS:
        vals = [s[d] for s in all_scores if s[d] is not None]
        out[d] = float(np.mean(vals)) if vals else None
    return out


def test_suite_is_fixed_held_out_and_covers_every_kind(clips):
    assert suite_seeds(SUITE) == suite_seeds(SUITE)
    assert all(c.truth["split"] == "test" and c.truth["held_out"] for c in clips)
    assert {c.truth["kind"] for c in clips} == {
        "single",
        "relation",
        "collision",
        "occlusion",
        "fall",
        "sequence",
        "camera",
    }


def test_world_renders_score_at_least_099_on_every_dimension(clean):
    means = _means(clean)
    assert all(v is not None for v in means.values()), means  # the suite exercises every dimension
    low = {d: v for d, v in means.items() if v < 0.99}
    assert not low, low


def test_unexercised_dimensions_are_not_applicable(clips, clean):
    for c, s in zip(clips, clean, strict=True):
        if c.truth["collision"] is None:
            assert s["collision"] is None
        if c.truth["occluder"] is None:
            assert s["permanence"] is None
        if len(c.truth["objects"]) == 1:
            assert s["relation"] is None


# each corruption: the dimensions that must fail (mean <= bound) and some that must survive (>= bound)
EXPECT = {
    "mirror": ({"relation": 0.5, "permanence": 0.2}, {"colour": 0.95, "shape": 0.95, "speed": 0.95}),
    "rot180": (
        {"direction": 0.1, "relation": 0.1, "physics": 0.1, "permanence": 0.1},
        {"colour": 0.95, "speed": 0.95},
    ),
    "reverse": ({"direction": 0.3, "physics": 0.1, "permanence": 0.1, "collision": 0.1}, {"colour": 0.9}),
    "swap_colours": ({"colour": 0.3, "collision": 0.1}, {"count": 0.8}),
    "freeze": ({"direction": 0.05, "speed": 0.05, "physics": 0.05, "collision": 0.05}, {"colour": 0.95}),
    "shuffle": ({"speed": 0.4, "physics": 0.1}, {"colour": 0.9}),
    "noise": ({"stability": 0.3}, {"colour": 0.95, "direction": 0.95}),
    "speckle": ({"shape": 0.1, "count": 0.1, "colour": 0.1, "stability": 0.1}, {}),
}


@pytest.mark.parametrize("name", list(EXPECT))
def test_corruptions_fail_the_right_dimensions(clips, name):
    rng = np.random.default_rng(0)
    scores = [score_clip(CORRUPTIONS[name](c.frames, rng), c.truth)["scores"] for c in clips[:14]]
    means = _means(scores)
    fail, keep = EXPECT[name]
    for d, bound in fail.items():
        assert means[d] is not None and means[d] <= bound, (name, d, means[d])
    for d, bound in keep.items():
        assert means[d] is not None and means[d] >= bound, (name, d, means[d])


def test_camera_pans_flip_under_mirror_and_rotation():
    clip = next(
        c
        for c in suite_clips(SuiteArgs(prompts=40, seed=3))
        if c.truth["camera"]["motion"] in ("pan_left", "pan_right")
        and c.truth["background"]["type"] == "textured"
    )
    assert score_clip(clip.frames, clip.truth)["scores"]["camera"] >= 0.99
    for name in ("mirror", "rot180", "reverse"):
        assert score_clip(CORRUPTIONS[name](clip.frames), clip.truth)["scores"]["camera"] <= 0.1


def test_score_windows_over_a_longer_clip():
    clip = render_clip(11, split="test", width=48, height=48, fps=8.0, num_frames=33)
    windows = score_windows(clip.frames, clip.truth, 11)
    assert [(w["start"], w["stop"]) for w in windows] == [(0, 11), (11, 22), (22, 33)]
    for w in windows:
        assert all(v is None or v >= 0.99 for v in w["scores"].values()), w
    frozen = score_windows(CORRUPTIONS["freeze"](clip.frames), clip.truth, 11)
    assert frozen[0]["scores"]["colour"] >= 0.99
    with pytest.raises(KinemaError, match="window_frames"):
        score_windows(clip.frames, clip.truth, 1)


def test_single_images_score_what_one_frame_shows():
    args = SuiteArgs(prompts=14, seed=0, width=64, height=64, frames=1, fps=8.0)
    scores = [score_clip(c.frames, c.truth)["scores"] for c in suite_clips(args)]
    means = _means(scores)
    assert {d for d, v in means.items() if v is not None} == {"colour", "shape", "count", "size", "relation"}
    assert all(v >= 0.99 for v in means.values() if v is not None), means
    blank = [score_clip(np.zeros_like(c.frames), c.truth)["scores"] for c in suite_clips(args)[:4]]
    assert all(s["colour"] == 0.0 and s["stability"] is None for s in blank)
    with pytest.raises(KinemaError, match="positive int"):
        suite_seeds(SuiteArgs(frames=0))


def test_shape_fits_are_what_the_shape_score_averages(clips, clean):
    for c, scores in zip(clips[:8], clean[:8], strict=True):
        capped = shape_fits(c.frames, c.truth, per_object=8)
        every = shape_fits(c.frames, c.truth)
        assert set(capped) <= set(every)
        for i in {obj for obj, *_ in every}:
            assert sum(obj == i for obj, *_ in capped) == min(8, sum(obj == i for obj, *_ in every))
        if scores["shape"] is None:
            assert capped == []
            continue
        assert np.mean([fitted == true for *_, true, fitted in capped]) == pytest.approx(scores["shape"])
        assert all(true == c.truth["objects"][i]["shape"] for i, _, true, _ in every)
    # on a blank video no object is found: every fit is None
    c = next(c for c, s in zip(clips, clean, strict=True) if s["shape"] is not None)
    fits = shape_fits(np.zeros_like(c.frames), c.truth)
    assert fits and all(fitted is None for *_, fitted in fits)


def test_caption_only_scoring(clips):
    for c in clips[:7]:
        s = score_caption(c.frames, c.caption)["scores"]
        assert set(k for k, v in s.items() if v is not None) <= set(CAPTION_DIMENSIONS)
        assert all(v is None or v >= 0.99 for v in s.values()), (c.caption, s)
    rel = next(c for c in clips if c.truth["kind"] == "relation")
    assert score_caption(CORRUPTIONS["rot180"](rel.frames), rel.caption)["scores"]["relation"] == 0.0
    with pytest.raises(KinemaError, match="world grammar"):
        score_caption(clips[0].frames, "a cat playing the piano")


def test_bad_inputs_are_clear_errors(clips):
    c = clips[0]
    with pytest.raises(KinemaError, match="truth describes"):
        score_clip(c.frames[:5], c.truth)
    with pytest.raises(KinemaError, match="uint8"):
        score_clip(c.frames.astype(np.float32), c.truth)


def test_frechet_distance_separates_speckle_from_renders(clips):
    rng = np.random.default_rng(0)
    real = np.stack([clip_features(c.frames) for c in clips[:7]])
    other = np.stack([clip_features(c.frames) for c in clips[7:14]])
    bad = np.stack([clip_features(CORRUPTIONS["speckle"](c.frames, rng)) for c in clips[:7]])
    assert real.shape == (7, len(FEATURE_NAMES))
    assert frechet_distance(real, real) < 1e-6
    assert frechet_distance(bad, other) > 2 * frechet_distance(real, other)
    with pytest.raises(KinemaError, match="Fréchet"):
        frechet_distance(real[:1], other)


def test_run_model_writes_world_layout_and_scores(tmp_path):
    """The model path with a stand-in pipeline that 'generates' the exact render of each prompt."""
    args = SuiteArgs(prompts=3, seed=0, width=64, height=64, frames=17, fps=8.0)
    by_caption = {c.detailed_caption: c.frames for c in suite_clips(args)}
    calls = []

    def fake_pipe(prompt, **kw):
        calls.append(kw)
        return SimpleNamespace(frames=by_caption[prompt])

    res = run_model("fake", args, tmp_path, pipeline=fake_pipe, progress=False)
    assert all(kw["expand"] is False and kw["frames"] == 17 for kw in calls)
    assert (tmp_path / "captions.csv").is_file() and len(list((tmp_path / "truth").glob("*.json"))) == 3
    assert res["dimensions"]["colour"]["mean"] >= 0.99 and len(res["clips"]) == 3


def test_cli_ground_truth_videos_and_report(tmp_path, capsys):
    gt = tmp_path / "gt"
    assert main(["eval", "worldbench", "--ground-truth", "--out", str(gt), "--prompts", "4", "-q"]) == 0
    report = json.loads((gt / "report.json").read_text())
    run = report["runs"][0]
    assert run["overall"] >= 0.99 and run["fd"]
    assert (gt / "report.html").is_file() and (gt / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert any(p.suffix == ".gif" for p in (gt / "thumbs").iterdir())
    out = tmp_path / "folder"
    assert (
        main(
            [
                "eval",
                "worldbench",
                "--videos",
                str(gt / "ground_truth"),
                "--out",
                str(out),
                "--no-fd",
                "-q",
                "--compare",
                str(gt),
            ]
        )
        == 0
    )
    runs = json.loads((out / "report.json").read_text())["runs"]
    assert len(runs) == 2 and runs[0]["dimensions"]["colour"]["mean"] >= 0.95  # read back from H.264
    assert main(["eval", "report", str(gt), str(out), "-o", str(tmp_path / "both")]) == 0
    both = json.loads((tmp_path / "both" / "report.json").read_text())["runs"]
    assert [r["name"] for r in both] == ["ground truth", "ground_truth", "ground truth"]
    assert (tmp_path / "both" / "report.html").read_text().count(
        "<th>ground truth"
    ) == 4  # table + cases headers
    assert main(["eval", "worldbench", "--out", str(tmp_path / "x")]) == 2
    assert main(["eval", "report", str(tmp_path / "missing"), "-o", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint DIR" in err and "no WorldBench report" in err
