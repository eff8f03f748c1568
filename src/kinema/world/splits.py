"""Held-out combinations: what split "train" never shows, and every "test" clip contains.

A scene's *combinations* are, for every object and every colour it has during the clip (its
start colour and, if it is hit, the colour it turns):

- ``colour+shape:<colour> <shape>``
- ``shape+motion:<shape> <motion>`` for each of the object's actions
- ``colour+motion:<colour> <motion>`` for each colour and action
- ``relation:<colour a> <relation> <colour b>`` for each pair's start relation (both readings:
  "red left of blue" is the same fact as "blue right of red")

``HELD_OUT`` below is the fixed table. ``held_out_combos(scene)`` lists the ones a scene
contains; the sampler rejects train scenes with any and builds test scenes around one.
"""

from __future__ import annotations

from kinema.world.scene import Scene
from kinema.world.vocab import INVERSE_RELATION

#: The held-out table: (category, first, second). Never in "train"; each "test" clip has >= 1.
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("colour+shape", "red", "triangle"),
    ("colour+shape", "blue", "star"),
    ("colour+shape", "yellow", "hexagon"),
    ("colour+shape", "purple", "square"),
    ("shape+motion", "star", "fall"),
    ("shape+motion", "triangle", "rotate"),
    ("shape+motion", "hexagon", "grow"),
    ("colour+motion", "cyan", "shrink"),
    ("colour+motion", "pink", "fall"),
    ("colour+motion", "orange", "rotate"),
    ("relation", "red", "left of blue"),
    ("relation", "green", "above yellow"),
)


def combo_name(category: str, first: str, second: str) -> str:
    """The string form of a combination, e.g. ``"colour+shape:red triangle"``."""
    return f"{category}:{first} {second}"


HELD_OUT_NAMES: frozenset[str] = frozenset(combo_name(*c) for c in HELD_OUT)


def scene_combos(scene: Scene) -> set[str]:
    """Every combination (held out or not) the scene contains, as ``combo_name`` strings."""
    out: set[str] = set()
    hit = scene.collision
    colours_of = {}
    for o in scene.objects:
        colours = [o.colour]
        if hit is not None and hit.target == o.id:
            colours.append(hit.colour)
        colours_of[o.id] = colours
        for c in colours:
            out.add(combo_name("colour+shape", c, o.shape))
            for m in o.motions:
                out.add(combo_name("colour+motion", c, m))
        for m in o.motions:
            out.add(combo_name("shape+motion", o.shape, m))
    by_id = {o.id: o for o in scene.objects}
    for a, rel, b in scene.relations():
        ca, cb = by_id[a].colour, by_id[b].colour
        out.add(combo_name("relation", ca, f"{rel} {cb}"))
        out.add(combo_name("relation", cb, f"{INVERSE_RELATION[rel]} {ca}"))
    return out


def held_out_combos(scene: Scene) -> list[str]:
    """The held-out combinations present in ``scene``, sorted (empty for every train scene)."""
    return sorted(scene_combos(scene) & HELD_OUT_NAMES)
