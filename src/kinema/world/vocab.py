"""The world's vocabulary: every word a caption can use, and the numbers behind it.

Units. World lengths are in *frame heights*: the initial view is the box
``[0, aspect] x [0, 1]`` with ``aspect = width / height``, x to the right and y **down**
(image convention, so "up" is ``-y``). Speeds are world units per second, angles are
degrees with positive = clockwise on screen.

Colours. Objects use eight flat, saturated colours far apart in hue (HSV saturation >= 0.8);
backgrounds use muted colours (saturation <= 0.25) and the occluder is a neutral dark grey,
so a colour-segmentation tracker separates objects from everything else in every scene.
"""

from __future__ import annotations

import math

RGB = tuple[int, int, int]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "diamond")

#: Object colours, name -> RGB. Hues 357, 32, 53, 129, 183, 226, 275, 324 degrees; saturation >= 0.82.
COLOURS: dict[str, RGB] = {
    "red": (230, 25, 35),
    "orange": (255, 135, 0),
    "yellow": (245, 215, 0),
    "green": (20, 185, 45),
    "cyan": (0, 205, 215),
    "blue": (25, 75, 235),
    "purple": (140, 35, 215),
    "pink": (255, 45, 170),
}

#: How far each shape reaches from its centre, in units of its radius (drawn shapes have about
#: the area of the disc; see ``kinema.world.render``).
SHAPE_EXTENT: dict[str, float] = {
    "circle": 1.0, "square": 1.26, "triangle": 1.25, "star": 1.3, "hexagon": 1.05, "diamond": 1.25,
}

#: Size word -> radius in frame heights (the physics treats every object as a disc of this radius).
SIZES: dict[str, float] = {"small": 0.07, "medium": 0.10, "large": 0.14}

#: Action kinds. ``still`` stays put; ``move`` goes straight in a direction; ``bounce`` moves
#: diagonally and bounces off the walls; ``fall`` falls under gravity and bounces on the floor;
#: ``rotate`` / ``grow`` / ``shrink`` happen in place.
MOTIONS: tuple[str, ...] = ("still", "move", "bounce", "fall", "rotate", "grow", "shrink")

#: Direction word -> unit vector (x right, y down).
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-left": (-math.sqrt(0.5), -math.sqrt(0.5)),
    "up-right": (math.sqrt(0.5), -math.sqrt(0.5)),
    "down-left": (-math.sqrt(0.5), math.sqrt(0.5)),
    "down-right": (math.sqrt(0.5), math.sqrt(0.5)),
}
DIAGONALS: tuple[str, ...] = ("up-left", "up-right", "down-left", "down-right")
ROTATIONS: tuple[str, ...] = ("clockwise", "counterclockwise")

#: Speed word -> world units per second (``move`` and ``bounce``).
SPEEDS: dict[str, float] = {"slow": 0.15, "fast": 0.35}
#: Speed word -> degrees per second (``rotate``); below half of the hexagon's 60-degree symmetry
#: per frame even at 8 fps, so the direction of turn is never ambiguous.
ROTATION_SPEEDS: dict[str, float] = {"slow": 60.0, "fast": 180.0}
SPEED_ADVERBS: dict[str, str] = {"slow": "slowly", "fast": "quickly"}

CAMERA_MOTIONS: tuple[str, ...] = (
    "static", "pan_left", "pan_right", "pan_up", "pan_down", "zoom_in", "zoom_out",
)

BACKGROUNDS: tuple[str, ...] = ("solid", "gradient", "textured")
PATTERNS: tuple[str, ...] = ("checker", "stripes", "noise")

#: Muted background colours, name -> RGB (HSV saturation <= 0.25).
BACKGROUND_COLOURS: dict[str, RGB] = {
    "light grey": (198, 198, 198),
    "grey": (128, 128, 130),
    "dark grey": (58, 58, 60),
    "pale blue": (176, 188, 204),
    "pale green": (180, 198, 178),
    "beige": (212, 202, 180),
    "slate": (70, 77, 90),
    "dark brown": (80, 70, 60),
}
#: Background colours light enough for the dark occluder to stand out against.
LIGHT_BACKGROUNDS: tuple[str, ...] = ("light grey", "grey", "pale blue", "pale green", "beige")

OCCLUDER_NAME = "dark grey pillar"
OCCLUDER_RGB: RGB = (46, 46, 48)

#: ``a REL b`` reads "a is REL b"; relations come from start positions (dominant axis).
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
INVERSE_RELATION: dict[str, str] = {
    "left of": "right of", "right of": "left of", "above": "below", "below": "above",
}

#: Scene kinds and their sampling weights (see ``kinema.world.sampling``).
KINDS: dict[str, float] = {
    "single": 0.20,
    "relation": 0.16,
    "collision": 0.14,
    "occlusion": 0.10,
    "fall": 0.10,
    "sequence": 0.14,
    "camera": 0.16,
}
