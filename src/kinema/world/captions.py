"""Captions of a scene, and the parser that turns a short prompt back into scene constraints.

Short caption (a user-style prompt), clauses joined by ", ":

    object      := ("a" | "an") [size] colour shape             e.g. "a small blue star"
    ref         := "the" colour shape                           (an object named before)
    actions     := action (", then " action)*
    action      := "stays still" | "moves" dir [adverb] ["behind a pillar"] | "bounces around" [adverb]
                 | "falls and bounces" | "rotates" ("clockwise" | "counterclockwise") [adverb]
                 | "grows" | "shrinks"
    clause      := object actions                                "a red circle moves right"
                 | object "hits" object ", which turns" colour   (collision scenes)
                 | object "is" relation (object | ref) [" and " object "is" relation ref]
                 | ref actions                                   (acting objects of a relation clause)
                 | "the camera" ("pans" dir | "zooms in" | "zooms out")   (only when it moves)

Size and speed words appear when the scene says so (``say_size`` / ``say_speed``), so the
short caption is a function of the scene and ``parse_prompt`` recovers exactly what it states.

Detailed caption (the "recaptioned" form), sentences in a fixed order: background; occluder;
every object with size, colour, shape and start position; every pairwise start relation; each
object's actions in order with speeds; events (collision and colour change, occlusion); camera.
"""

from __future__ import annotations

import re

from kinema.world.scene import Action, ActionSpec, ObjectSpec, Scene, SceneObject, SceneSpec
from kinema.world.vocab import COLOURS, DIRECTIONS, RELATIONS, SHAPES, SIZES, SPEED_ADVERBS

CAMERA_PHRASES = {
    "static": "is static", "pan_left": "pans left", "pan_right": "pans right", "pan_up": "pans up",
    "pan_down": "pans down", "zoom_in": "zooms in", "zoom_out": "zooms out",
}


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def indefinite(o: SceneObject, *, size: bool | None = None) -> str:
    """``"a small red circle"`` (size word when ``o.say_size`` or ``size=True``)."""
    say = o.say_size if size is None else size
    return _article(f"{o.size} {o.colour} {o.shape}" if say else f"{o.colour} {o.shape}")


def definite(o: SceneObject) -> str:
    return f"the {o.colour} {o.shape}"


def _short_action(a: Action, behind: bool) -> str:
    adverb = f" {SPEED_ADVERBS[a.speed]}" if a.say_speed and a.speed else ""
    if a.motion == "move":
        return f"moves {a.direction}{adverb}" + (" behind a pillar" if behind else "")
    if a.motion == "bounce":
        return f"bounces around{adverb}"
    if a.motion == "rotate":
        return f"rotates {a.direction}{adverb}"
    return {"still": "stays still", "fall": "falls and bounces", "grow": "grows", "shrink": "shrinks"}[a.motion]


def short_actions(o: SceneObject) -> str:
    return ", then ".join(_short_action(a, o.behind) for a in o.actions)


def short_caption(scene: Scene) -> str:
    """The prompt-like caption, e.g. ``"a green square hits a yellow circle, which turns purple"``."""
    objs = scene.objects
    clauses: list[str] = []
    introduced: list[int] = []
    if scene.collision is not None:
        h, g = objs[scene.collision.hitter], objs[scene.collision.target]
        clauses.append(f"{indefinite(h)} hits {indefinite(g)}, which turns {scene.collision.colour}")
        introduced = [h.id, g.id]
    elif scene.stated:
        parts = []
        for i, rel, j in scene.stated:
            names = []
            for k in (i, j):
                names.append(definite(objs[k]) if k in introduced else indefinite(objs[k]))
                if k not in introduced:
                    introduced.append(k)
            parts.append(f"{names[0]} is {rel} {names[1]}")
        clauses.append(" and ".join(parts))
        for k in sorted(introduced):
            if any(a.motion != "still" for a in objs[k].actions):
                clauses.append(f"{definite(objs[k])} {short_actions(objs[k])}")
    for o in objs:
        if o.id not in introduced:
            clauses.append(f"{indefinite(o)} {short_actions(o)}")
    if scene.camera.motion != "static":
        clauses.append(f"the camera {CAMERA_PHRASES[scene.camera.motion]}")
    return ", ".join(clauses)


# --------------------------------------------------------------------------- detailed caption


def position_words(x: float, y: float, aspect: float) -> str:
    """Where a start position lies in thirds of the view: "in the top left", "on the right",
    "at the bottom", "in the centre", ..."""
    h = "left" if x < aspect / 3 else "right" if x > 2 * aspect / 3 else "centre"
    v = "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
    if v == "middle":
        return "in the centre" if h == "centre" else f"on the {h}"
    return f"at the {v}" if h == "centre" else f"in the {v} {h}"


def background_sentence(scene: Scene) -> str:
    bg = scene.background
    if bg.type == "solid":
        return f"A plain {bg.colour} background."
    if bg.type == "gradient":
        return f"A gradient background from {bg.colour} at the top to {bg.colour2} at the bottom."
    if bg.pattern == "checker":
        texture = "a checker pattern"
    elif bg.pattern == "stripes":
        texture = {0.0: "vertical stripes", 90.0: "horizontal stripes"}.get(bg.angle, "diagonal stripes")
    else:
        texture = "a smooth mottled pattern"
    return f"A textured {bg.colour} background with {texture}."


def _detailed_action(a: Action, o: SceneObject, hit_target: bool) -> str:
    adverb = SPEED_ADVERBS[a.speed] if a.speed else ""
    if a.motion == "move":
        return f"moves {a.direction} {adverb}"
    if a.motion == "bounce":
        return f"moves {a.direction} {adverb} and bounces off the walls"
    if a.motion == "rotate":
        return f"rotates {a.direction} {adverb}"
    if a.motion == "still":
        return "stays still until it is hit" if hit_target and len(o.actions) == 1 else "stays still"
    return {"fall": "falls and bounces on the floor", "grow": "grows bigger", "shrink": "shrinks"}[a.motion]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def detailed_caption(scene: Scene) -> str:
    """Every object, relation, action, event, the background and the camera, in a fixed order."""
    objs = scene.objects
    hit = scene.collision
    out = [background_sentence(scene)]
    if scene.occluder is not None:
        out.append(f"A dark grey pillar stands {position_words(scene.occluder.x, 0.5, scene.aspect)}.")
    out.append(_cap(_join([f"{indefinite(o, size=True)} {position_words(o.x, o.y, scene.aspect)}" for o in objs])) + ".")
    rels = scene.relations()
    if rels:
        out.append(_cap(_join([f"{definite(objs[i])} is {rel} {definite(objs[j])}" for i, rel, j in rels])) + ".")
    for o in objs:
        is_target = hit is not None and hit.target == o.id
        phrase = ", then ".join(_detailed_action(a, o, is_target) for a in o.actions)
        out.append(f"{_cap(definite(o))} {phrase}.")
    if hit is not None:
        out.append(f"{_cap(definite(objs[hit.hitter]))} hits {definite(objs[hit.target])}, and "
                   f"{definite(objs[hit.target])} turns {hit.colour}.")
    for o in objs:
        if o.behind:
            out.append(f"{_cap(definite(o))} passes behind the pillar and comes out on the other side.")
    out.append(f"The camera {CAMERA_PHRASES[scene.camera.motion]}.")
    return " ".join(out)


# --------------------------------------------------------------------------- prompt parser

_COLOUR = "|".join(COLOURS)
_SHAPE = "|".join(SHAPES)
_SIZE = "|".join(SIZES)
_DIR = "|".join(sorted(DIRECTIONS, key=len, reverse=True))
_REL = "|".join(RELATIONS)
_OBJ = rf"(?:(a|an|the) )?(?:({_SIZE}) )?({_COLOUR}) ({_SHAPE})"
_OBJ_RE = re.compile(rf"^{_OBJ}$")

#: Normalisation rules applied in order: (pattern, replacement) on the lower-cased prompt.
_RULES: tuple[tuple[str, str], ...] = (
    (r"[.!?;:]", ","),
    (r"[\"`()]", " "),
    (r"\bcolou?red\b", ""),
    (r"\bgr[ae]y\b", "grey"),
    (r"\b(?:does not|doesn't|do not|don't) move\b", "stays still"),
    (r"\b(?:stays|stay|staying|remains|remain|remaining|sits|sitting|is|keeps|keeping|standing|stands)"
     r"\s+(?:still|in place|put)\b", "stays still"),
    (r"\bnot moving\b", "stays still"),
    (r"\b(?:counter-clockwise|counter clockwise|anticlockwise|anti-clockwise)\b", "counterclockwise"),
    (r"\b(?:moving|move|goes|going|go|slides|sliding|slide|travels|travelling|traveling|travel|heads|heading)\b",
     "moves"),
    (r"\b(?:falling|fall|drops|dropping|drop)\b", "falls"),
    (r"\b(?:bouncing|bounce)\b", "bounces"),
    (r"\b(?:rotating|rotate|spins|spinning|spin)\b", "rotates"),
    (r"\b(?:growing|grow|gets bigger|getting bigger|expands|expanding)\b", "grows"),
    (r"\b(?:shrinking|shrink|gets smaller|getting smaller)\b", "shrinks"),
    (r"\b(?:hitting|hit|strikes|striking|bumps into|collides with|crashes into)\b", "hits"),
    (r"\b(?:which|that|and it|it) (?:turns|becomes|changes to|turns into)\b", "which turns"),
    (r"\b(?:panning|pan)\b", "pans"),
    (r"\b(?:zooming|zoom)\b", "zooms"),
    (r"\b(?:is|are) (?=(?:moves|falls|bounces|rotates|grows|shrinks|pans|zooms|hits)\b)", ""),
    (r"\b(?:quickly|fast|rapidly|swiftly)\b", "quickly"),
    (r"\bslow\b", "slowly"),
    (r"\b(?:big|huge)\b", "large"),
    (r"\b(?:tiny|little)\b", "small"),
    (r"\bmedium[- ]sized\b", "medium"),
    (r"\brhombus\b", "diamond"),
    (r"\b(?:upper|top)[- ]left\b", "up-left"),
    (r"\b(?:upper|top)[- ]right\b", "up-right"),
    (r"\b(?:lower|bottom)[- ]left\b", "down-left"),
    (r"\b(?:lower|bottom)[- ]right\b", "down-right"),
    (r"\b(up|down)(?: and to the | and | to the |-| )(left|right)\b", r"\1-\2"),
    (r"\b(?:to the|on the) (left|right) of\b", r"\1 of"),
    (r"\b(?:to the|towards the|toward the|towards|toward) (left|right)\b", r"\1"),
    (r"\b(left|right|up|down)wards?\b", r"\1"),
    (r"\bdiagonally\b", ""),
    (r"\b(?:passes|passing) behind\b", "behind"),
    (r"\bbehind (?:a|the) (?:dark grey |grey )?(?:pillar|wall|column|occluder)\b", "behind a pillar"),
    (r"\b(?:and )?(?:then|after that|afterwards)\b", ", then"),
    (r"\s*,\s*", ", "),
    (r"\s+", " "),
)


def _normalise(text: str) -> str:
    s = " " + text.lower() + " "
    for pattern, repl in _RULES:
        s = re.sub(pattern, repl, s)
    s = re.sub(r"(?:, )+", ", ", s).strip(" ,")
    return s.replace(", which turns", " which turns")


def _parse_action(text: str) -> tuple[ActionSpec, bool] | None:
    """One action phrase -> ``(ActionSpec, behind a pillar?)``, or None."""
    s = f" {text} "
    speed = None
    for word, adverb in (("slow", "slowly"), ("fast", "quickly")):
        if f" {adverb} " in s:
            speed = word
            s = s.replace(f" {adverb} ", " ")
    behind = " behind a pillar " in s
    s = re.sub(r"\s+", " ", s.replace(" behind a pillar ", " ")).strip()
    said = speed is not None
    if re.fullmatch(r"stays still", s):
        return ActionSpec("still"), behind
    if m := re.fullmatch(rf"moves(?: ({_DIR}))?", s):
        return ActionSpec("move", m.group(1), speed, said), behind
    if re.fullmatch(r"bounces(?: around)?(?: off the walls)?", s):
        return ActionSpec("bounce", None, speed, said), behind
    if re.fullmatch(r"falls(?: down)?(?: and bounces)?(?: on the floor)?", s):
        return ActionSpec("fall"), behind
    if m := re.fullmatch(r"rotates(?: (clockwise|counterclockwise))?", s):
        return ActionSpec("rotate", m.group(1), speed, said), behind
    if re.fullmatch(r"grows(?: bigger| larger)?", s):
        return ActionSpec("grow"), behind
    if re.fullmatch(r"shrinks(?: smaller)?", s):
        return ActionSpec("shrink"), behind
    return None


def _parse_actions(text: str) -> tuple[tuple[ActionSpec, ...], bool] | None:
    parts = [p.strip() for p in text.split(", then")]
    out, behind = [], False
    for p in parts:
        if not p:
            continue
        parsed = _parse_action(p)
        if parsed is None:
            return None
        out.append(parsed[0])
        behind = behind or parsed[1]
    return (tuple(out), behind) if out else None


class _Objects:
    """Objects named so far while parsing: indefinite names add one, "the" refers back."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def ref(self, m: re.Match, offset: int = 0) -> int | None:
        art, size, colour, shape = m.group(1 + offset, 2 + offset, 3 + offset, 4 + offset)
        for i, o in enumerate(self.items):
            if o["colour"] == colour and o["shape"] == shape:
                return i if art == "the" or art is None else None  # "a" twice: ambiguous
            if o["colour"] == colour:
                return None  # two objects of one colour cannot be told apart
        self.items.append({"colour": colour, "shape": shape, "size": size, "actions": None, "behind": False})
        return len(self.items) - 1


def parse_prompt(text: str) -> SceneSpec | None:
    """Parse a short prompt in the world grammar (see the module docstring; tolerant to case,
    articles, whitespace, punctuation and common synonyms) into constraints, or None if it does
    not parse. Unmentioned sizes, speeds and directions are left open; no camera clause means
    a static camera; objects introduced in a relation with no action stay still."""
    if not isinstance(text, str):
        return None
    s = _normalise(text)
    if not s:
        return None
    clauses = [c.strip() for c in re.split(r", | and (?=(?:a|an|the) )", s) if c.strip()]
    objs = _Objects()
    stated: list[tuple[int, str, int]] = []
    collision = None
    camera = "static"
    last = None  # the object the previous clause was about (for ", then ...")
    for c in clauses:
        if m := re.fullmatch(r"(?:the )?camera (?:pans (left|right|up|down)|zooms (in|out)|is static|stays still)", c):
            camera = f"pan_{m.group(1)}" if m.group(1) else f"zoom_{m.group(2)}" if m.group(2) else "static"
            continue
        if m := re.fullmatch(rf"{_OBJ} hits {_OBJ}(?: which turns ({_COLOUR}))?", c):
            a, b = objs.ref(m), objs.ref(m, 4)
            if a is None or b is None or a == b or collision is not None:
                return None
            collision = (a, b, m.group(9))
            last = None
            continue
        if m := re.fullmatch(rf"{_OBJ} is ({_REL}) {_OBJ}", c):
            a = objs.ref(m)
            b = objs.ref(m, 5) if a is not None else None
            if a is None or b is None or a == b:
                return None
            stated.append((a, m.group(5), b))
            for k in (a, b):
                objs.items[k].setdefault("in_relation", True)
            last = None
            continue
        if m := re.fullmatch(r"then (.+)", c):
            parsed = _parse_actions(m.group(1))
            if last is None or parsed is None:
                return None
            item = objs.items[last]
            item["actions"] = tuple(item["actions"] or ()) + parsed[0]
            item["behind"] = item["behind"] or parsed[1]
            continue
        m = re.fullmatch(rf"{_OBJ}(?: (.+))?", c)
        if m is None:
            return None
        k = objs.ref(m)
        if k is None:
            return None
        if m.group(5):
            parsed = _parse_actions(m.group(5))
            if parsed is None:
                return None
            objs.items[k]["actions"] = tuple(objs.items[k]["actions"] or ()) + parsed[0]
            objs.items[k]["behind"] = objs.items[k]["behind"] or parsed[1]
        last = k
    items = objs.items
    if not 1 <= len(items) <= 3:
        return None
    if collision is not None and collision[2] in {o["colour"] for o in items}:
        return None
    specs = []
    for o in items:
        actions = o["actions"]
        if actions is None and o.get("in_relation"):
            actions = (ActionSpec("still"),)
        specs.append(ObjectSpec(colour=o["colour"], shape=o["shape"], size=o["size"], actions=actions,
                                behind=o["behind"], say_size=o["size"] is not None))
    return SceneSpec(kind=None, objects=tuple(specs), stated=tuple(stated), collision=collision, camera=camera)
