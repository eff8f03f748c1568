"""Held-out combinations: never in train, at least one in every test clip."""

from __future__ import annotations

from kinema.world import HELD_OUT, held_out_combos, render_clip, sample_scene
from kinema.world.scene import Action, Background, Camera, Collision, Scene, SceneObject
from kinema.world.splits import HELD_OUT_NAMES, scene_combos

N_SEEDS = 300


def scene_of(*objects: SceneObject, collision: Collision | None = None) -> Scene:
    return Scene(0, "train", "relation", 1.5, 2.0, Background("solid", "grey"), Camera(), tuple(objects),
                 collision=collision)


def obj(i: int, colour: str, shape: str, x: float = 0.5, y: float = 0.5, *motions: str) -> SceneObject:
    return SceneObject(i, shape, colour, "small", x, y, tuple(Action(m) for m in motions or ("still",)))


def test_table_covers_every_category():
    assert {c for c, _, _ in HELD_OUT} == {"colour+shape", "shape+motion", "colour+motion", "relation"}
    assert len(HELD_OUT_NAMES) == len(HELD_OUT)


def test_held_out_check_finds_each_kind_of_combination():
    assert held_out_combos(scene_of(obj(0, "red", "triangle"))) == ["colour+shape:red triangle"]
    assert held_out_combos(scene_of(obj(0, "red", "circle"))) == []
    assert held_out_combos(scene_of(obj(0, "green", "star", 0.5, 0.3, "fall"))) == ["shape+motion:star fall"]
    assert held_out_combos(scene_of(obj(0, "pink", "circle", 0.5, 0.3, "still", "fall"))) == [
        "colour+motion:pink fall"]
    left_red = scene_of(obj(0, "red", "circle", 0.3), obj(1, "blue", "square", 1.0))
    assert held_out_combos(left_red) == ["relation:red left of blue"]
    right_blue = scene_of(obj(0, "blue", "square", 1.0), obj(1, "red", "circle", 0.3))  # same fact
    assert held_out_combos(right_blue) == ["relation:red left of blue"]
    assert held_out_combos(scene_of(obj(0, "red", "circle", 1.0), obj(1, "blue", "square", 0.3))) == []
    # an object that turns red counts as a red triangle too
    turned = scene_of(obj(0, "green", "circle", 0.2), obj(1, "orange", "triangle", 0.9),
                      collision=Collision(0, 1, "red"))
    assert "colour+shape:red triangle" in held_out_combos(turned)


def test_train_never_contains_a_held_out_combination():
    for seed in range(N_SEEDS):
        scene = sample_scene(seed, split="train", aspect=1.5, duration=2.0)
        assert not scene_combos(scene) & HELD_OUT_NAMES, (seed, held_out_combos(scene))


def test_every_test_scene_contains_one_and_all_are_used():
    seen = set()
    for seed in range(N_SEEDS):
        scene = sample_scene(seed, split="test", aspect=1.5, duration=2.0)
        found = held_out_combos(scene)
        assert found, seed
        seen.update(found)
    assert seen == HELD_OUT_NAMES


def test_splits_hold_at_other_sizes_and_lengths():
    for seed in range(40):
        train = render_clip(seed, split="train", width=64, height=64, num_frames=17)
        test = render_clip(seed, split="test", width=40, height=90, fps=12, seconds=3)
        assert train.truth["held_out"] == [] and train.truth["split"] == "train"
        assert test.truth["held_out"] and test.truth["split"] == "test"
