"""Left-right mirroring of training clips together with their captions (``data.hflip``).

A mirrored clip is a new, correct example only if its caption is mirrored too: "a red circle on
the left moves right" becomes "a red circle on the right moves left", and a clockwise rotation
becomes counterclockwise. Trained this way, each scene comes in two versions that differ exactly
in those words, which is the plainest lesson in left versus right a model can get (the weak spot
the mission names); plain flipping without the captions would teach the opposite.

Vertical flips are not offered: gravity, floors and falls have no upside-down version.
Latents are not mirrored after encoding: the autoencoder is not mirror-symmetric (the latent of
a flipped world clip differs from the flipped latent by 20-110% of its norm), so latent datasets
are built from mirrored pixels (``kinema latents build ... --data.hflip=1``).
"""

from __future__ import annotations

import re

import torch

from kinema.data.buckets import mix_seed
from kinema.errors import KinemaError

__all__ = ["MIRROR_WORDS", "mirror_caption", "mirror_video", "mirrored"]

#: Word -> its mirror image. Compound directions ("up-left") and relations ("left of") follow
#: from the single words; vertical words (up, down, top, above) are unchanged by a left-right flip.
MIRROR_WORDS: dict[str, str] = {
    "left": "right",
    "right": "left",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "anticlockwise": "clockwise",
    "leftward": "rightward",
    "rightward": "leftward",
    "leftwards": "rightwards",
    "rightwards": "leftwards",
}
_WORD = re.compile(r"\b(" + "|".join(sorted(MIRROR_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def _swap(m: re.Match[str]) -> str:
    word = m.group(0)
    out = MIRROR_WORDS[word.lower()]
    if word.isupper():
        return out.upper()
    return out.capitalize() if word[0].isupper() else out


def mirror_caption(text: str) -> str:
    """``text`` as it reads for the left-right mirrored video (case kept: "Left" -> "Right")."""
    if not isinstance(text, str):
        raise KinemaError(f"a caption must be a str, got {type(text).__name__}")
    return _WORD.sub(_swap, text)


def mirror_video(video: torch.Tensor) -> torch.Tensor:
    """Flip the last (width) axis: ``(..., H, W)`` video or mask -> the same shape, mirrored."""
    return video.flip(-1)


def mirrored(p: float, seed: int, key: int) -> bool:
    """Whether the clip with ``key`` (a clip seed or index) is mirrored, with probability ``p``:
    a pure function of ``(seed, key)``; ``p`` 0 or 1 decides without a draw."""
    if p <= 0.0:
        return False
    if p >= 1.0:
        return True
    g = torch.Generator().manual_seed(mix_seed(seed, 0x4F1, key))
    return float(torch.rand((), generator=g)) < p
