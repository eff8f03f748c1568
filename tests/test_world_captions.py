"""Captions and the prompt parser: every object and the camera are named, prompts round-trip."""

from __future__ import annotations

import pytest

from kinema.world import expand_prompt, parse_prompt, render_clip, sample_scene, short_caption
from kinema.world.captions import detailed_caption
from kinema.world.scene import Action, Background, Camera, Collision, Scene, SceneObject

SEEDS = range(150)


def test_captions_name_every_object_and_the_camera():
    for split in ("train", "test"):
        for seed in SEEDS:
            scene = sample_scene(seed, split=split, aspect=1.5, duration=2.0)
            short, detailed = short_caption(scene), detailed_caption(scene)
            for o in scene.objects:
                assert f"{o.colour} {o.shape}" in short and f"{o.size} {o.colour} {o.shape}" in detailed
                for a in o.actions:
                    if a.direction:
                        assert a.direction in detailed
            assert ("the camera" in short) == (scene.camera.motion != "static")
            assert detailed.endswith(".") and "The camera" in detailed.split(". ")[-1]
            assert detailed.startswith(("A plain", "A gradient", "A textured"))
            if scene.collision is not None:
                assert f"turns {scene.collision.colour}" in short and f"turns {scene.collision.colour}" in detailed
            if scene.occluder is not None:
                assert "behind a pillar" in short and "passes behind the pillar" in detailed
            for i, rel, j in scene.relations():
                a, b = scene.objects[i], scene.objects[j]
                assert f"the {a.colour} {a.shape} is {rel} the {b.colour} {b.shape}" in detailed.lower()


def test_caption_format():
    hitter = SceneObject(0, "square", "green", "large", 0.3, 0.5, (Action("move", 0.0, "right", "fast"),))
    target = SceneObject(1, "circle", "yellow", "small", 1.1, 0.2, (Action("still"),), say_size=True)
    scene = Scene(0, "train", "collision", 1.5, 2.0, Background("textured", "light grey", pattern="checker"),
                  Camera("pan_left", 0.1), (hitter, target), collision=Collision(0, 1, "purple"))
    assert short_caption(scene) == "a green square hits a small yellow circle, which turns purple, the camera pans left"
    assert detailed_caption(scene) == (
        "A textured light grey background with a checker pattern. "
        "A large green square on the left and a small yellow circle in the top right. "
        "The green square is left of the yellow circle. "
        "The green square moves right quickly. The yellow circle stays still until it is hit. "
        "The green square hits the yellow circle, and the yellow circle turns purple. "
        "The camera pans left.")
    seq = SceneObject(0, "star", "pink", "medium", 0.75, 0.8,
                      (Action("still"), Action("move", 0.8, "up-left", "slow", say_speed=True)))
    other = SceneObject(1, "hexagon", "cyan", "small", 0.2, 0.2, (Action("rotate", 0.0, "clockwise", "fast"),))
    scene = Scene(0, "train", "relation", 1.5, 2.0, Background("solid", "beige"), Camera(), (seq, other),
                  stated=((1, "above", 0),))
    assert short_caption(scene) == ("a cyan hexagon is above a pink star, the pink star stays still, then moves "
                                    "up-left slowly, the cyan hexagon rotates clockwise")
    assert detailed_caption(scene) == (
        "A plain beige background. A medium pink star at the bottom and a small cyan hexagon in the top left. "
        "The pink star is below the cyan hexagon. The pink star stays still, then moves up-left slowly. "
        "The cyan hexagon rotates clockwise quickly. The camera is static.")


def test_expand_prompt_round_trips_sampled_captions():
    for split in ("train", "test"):
        for seed in range(0, 300, 2):
            clip = render_clip(seed, split=split)
            again = expand_prompt(clip.caption, seed + 1)
            assert again is not None, clip.caption
            assert again.caption == clip.caption
            assert again.detailed_caption != ""
            assert again.truth["split"] == ("test" if again.truth["held_out"] else "train")


@pytest.mark.parametrize("prompt,canonical", [
    ("A red circle moving to the right.", "a red circle moves right"),
    ("  a BIG blue star   falls ", "a large blue star falls and bounces"),
    ("a green square hits a yellow circle which turns purple", "a green square hits a yellow circle, which turns purple"),
    ("red triangle spins anticlockwise quickly", "a red triangle rotates counterclockwise quickly"),
    ("a small pink hexagon moves up and then falls", "a small pink hexagon moves up, then falls and bounces"),
    ("a red circle is to the left of a blue square", "a red circle is left of a blue square"),
    ("a red circle moves right behind a wall", "a red circle moves right behind a pillar"),
    ("a purple diamond is growing, the camera is panning left", "a purple diamond grows, the camera pans left"),
    ("a cyan star moves up and to the left fast; the camera zooms out", "a cyan star moves up-left quickly, the camera zooms out"),
    ("an orange hexagon stays still. The camera is static.", "an orange hexagon stays still"),
])
def test_prompt_variants_parse_to_the_canonical_caption(prompt, canonical):
    clip = expand_prompt(prompt, 3, width=64, height=64, num_frames=17)
    assert clip is not None and clip.caption == canonical
    assert clip.frames.shape == (17, 64, 64, 3)


@pytest.mark.parametrize("prompt", ["", "hello world", "a red circle moves sideways", "a red circle is left of a red square",
                                    "the camera pans left", "a red circle hits a blue square, which turns red",
                                    "a red circle, a blue square, a green star and a pink hexagon"])
def test_unparseable_prompts_give_none(prompt):
    assert parse_prompt(prompt) is None
    assert expand_prompt(prompt, 0) is None


def test_expansion_samples_unstated_details_from_the_seed():
    a, b, a2 = (expand_prompt("a red circle moves right", s) for s in (0, 1, 0))
    assert a.caption == b.caption == "a red circle moves right"
    assert a.detailed_caption == a2.detailed_caption and a.frames.tobytes() == a2.frames.tobytes()
    assert a.detailed_caption != b.detailed_caption
    assert a.scene.objects[0].actions[0].direction == "right"
