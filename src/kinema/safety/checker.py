"""The one entry point the pipeline calls: ``SafetyChecker``.

    checker = SafetyChecker(SafetyConfig())
    checker.check_prompt(prompt)                       # PolicyError before any compute
    frames, prov = checker.finish(frames, prompt=prompt, model="default", version="0.1.0+step500")
    # ... write frames to path ...
    sign_output(path, prov)                            # C2PA manifest (or a .c2pa sidecar)

Each part loads lazily on first use (the frame model, the prompt classifier weights, the C2PA
signer), so a disabled part costs nothing and imports nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from kinema.errors import KinemaError
from kinema.safety.config import CATEGORY_NAMES, C2PAConfig, SafetyConfig
from kinema.safety.errors import FrameSafetyError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Provenance:
    """What a written output declares about itself (C2PA manifest; ``None`` fields are omitted).

    ``payload``: the 32-bit watermark payload in the frames (None when not watermarked).
    ``prompt_sha256``: hex SHA-256 of the UTF-8 prompt; ``prompt`` only when configured.
    """

    model: str
    version: str
    payload: int | None
    prompt_sha256: str
    prompt: str | None
    c2pa: C2PAConfig
    timings: dict[str, float] = dataclasses.field(default_factory=dict)


class SafetyChecker:
    """Prompt check, frame check, watermark and the provenance record, as one configured object."""

    def __init__(self, cfg: SafetyConfig | None = None):
        cfg = SafetyConfig() if cfg is None else cfg
        if not isinstance(cfg, SafetyConfig):
            raise KinemaError(f"safety must be a SafetyConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self._prompt = None
        self._frames = None

    # ----------------------------------------------------------------- prompt

    def check_prompt(self, prompt: str) -> None:
        """Raise ``PolicyError`` naming the category when ``prompt`` breaks the content policy."""
        if not (self.cfg.enabled and self.cfg.prompt.enabled):
            return
        if self._prompt is None:
            from kinema.safety.prompt import PromptClassifier

            self._prompt = PromptClassifier(self.cfg.prompt)
        self._prompt.check(prompt)

    # ----------------------------------------------------------------- frames

    def check_frames(self, frames: np.ndarray) -> None:
        """Raise ``FrameSafetyError`` when any checked frame of uint8 ``(T, H, W, 3)`` is flagged."""
        fc = self.cfg.frames
        if not (self.cfg.enabled and fc.enabled):
            return
        if self._frames is None:
            from kinema.safety.frames import FrameClassifier

            self._frames = FrameClassifier(fc)
        flagged, scores = self._frames.flagged(frames)
        if flagged:
            shown = ", ".join(f"{i} ({scores[i]:.2f})" for i in flagged[:5])
            raise FrameSafetyError(
                f"output withheld: the frame classifier flagged {len(flagged)} frame(s) as sexual content "
                f"(frame (score): {shown}; threshold {fc.threshold:g}); nothing was written",
                tuple(flagged),
            )

    def watermark(self, frames: np.ndarray) -> tuple[np.ndarray, int | None]:
        """uint8 ``(T, H, W, 3)`` -> (watermarked frames, payload), or the frames unchanged and None."""
        wc = self.cfg.watermark
        if not (self.cfg.enabled and wc.enabled):
            return frames, None
        from kinema.safety.watermark import MIN_SIDE, embed, make_payload

        if min(frames.shape[1:3]) < MIN_SIDE:
            log.warning(
                "frames of %dx%d are too small to carry the watermark (at least %d px a side); "
                "the output is not watermarked",
                frames.shape[2],
                frames.shape[1],
                MIN_SIDE,
            )
            return frames, None
        payload = make_payload(wc.model_id)
        return embed(frames, payload, key=wc.key, strength=wc.strength), payload

    def finish(
        self, frames: np.ndarray, *, prompt: str, model: str, version: str
    ) -> tuple[np.ndarray, Provenance | None]:
        """Check the decoded frames, then watermark them; returns the frames to hand out and the
        provenance to sign the written file with (None when safety is off or C2PA is off)."""
        timings: dict[str, float] = {}
        tick = time.perf_counter()
        self.check_frames(frames)
        timings["frames_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        frames, payload = self.watermark(frames)
        timings["watermark_s"] = time.perf_counter() - tick
        if not (self.cfg.enabled and self.cfg.c2pa.enabled):
            return frames, None
        c = self.cfg.c2pa
        return frames, Provenance(
            model=model,
            version=version,
            payload=payload,
            prompt_sha256=hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
            prompt=prompt if c.include_prompt else None,
            c2pa=c,
            timings=timings,
        )


def sign_output(path: str | Path, prov: Provenance | None, dest: str | Path | None = None) -> Path | None:
    """Attach C2PA credentials to the written output ``path`` (signed copy written atomically to
    ``dest``, default: in place): embedded in mp4/png/gif/jpeg/webp, a ``<dest>.c2pa`` sidecar
    for formats that cannot embed one (WebM, MKV). Returns where the manifest lives, or None when
    ``prov`` is None (safety or C2PA off)."""
    if prov is None:
        if dest is not None and Path(dest) != Path(path):
            import shutil

            from kinema.atomic import atomic_path

            with atomic_path(dest) as tmp:
                shutil.copyfile(path, tmp)
        return None
    from kinema.safety.c2pa import sign_file

    return sign_file(path, prov, dest=dest)


__all__ = ["CATEGORY_NAMES", "Provenance", "SafetyChecker", "sign_output"]
