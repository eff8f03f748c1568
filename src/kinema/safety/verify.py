"""``kinema safety verify FILE``: the C2PA manifest and its state, the watermark, the detector score.

Verdicts and exit codes (``verify_file`` / the CLI):

* ``tampered`` (exit 3): a C2PA manifest is present but invalid (signature or content hash fails).
* ``generated`` (exit 0): a valid kinema manifest, or the kinema watermark is read, or the
  detector's score is at least ``DETECTOR_THRESHOLD``.
* ``not generated`` (exit 1): none of these signals.

(Exit 2 is kept for errors: a missing or unreadable file.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kinema.safety.config import WatermarkConfig

DETECTOR_THRESHOLD = 0.5
EXIT_CODES = {"generated": 0, "not generated": 1, "tampered": 3}


@dataclasses.dataclass
class VerifyReport:
    """Everything ``verify_file`` found about one file."""

    path: str
    verdict: str
    c2pa_state: str
    c2pa: dict
    watermark: dict
    detector_score: float | None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def verify_file(path: str | Path, *, key: int = WatermarkConfig.key, max_frames: int = 65) -> VerifyReport:
    """Check ``path`` for C2PA credentials, the kinema watermark and the detector's score."""
    from kinema.data.video_io import read_video
    from kinema.safety import watermark as wm
    from kinema.safety.c2pa import read_manifest
    from kinema.safety.detector import Detector

    p = Path(path)
    manifest = read_manifest(p)
    frames = read_video(p, num_frames=max_frames) if p.suffix.lower() != ".png" else read_video(p)
    reading = wm.read(frames, key=key) if min(frames.shape[1:3]) >= 16 else None
    score = Detector.load().score(frames) if min(frames.shape[1:3]) >= 16 else None
    water = (
        {"marked": False}
        if reading is None
        else {
            "marked": reading.marked,
            "payload": f"{reading.payload:08x}" if reading.marked else None,
            "model_id": reading.model_id if reading.marked else None,
            "z": round(reading.z, 2),
            "tag_errors": reading.tag_errors,
        }
    )
    c2 = {
        "where": manifest.where,
        "claim_generator": manifest.claim_generator,
        "created_by_ai": manifest.created_by_ai,
        "generation": manifest.generation,
        "errors": manifest.errors,
        "manifest": manifest.manifest,
    }
    if manifest.state == "invalid":
        verdict = "tampered"
    elif (
        (manifest.state in ("valid", "trusted") and manifest.claim_generator == "kinema")
        or water["marked"]
        or (score is not None and score >= DETECTOR_THRESHOLD)
    ):
        verdict = "generated"
    else:
        verdict = "not generated"
    return VerifyReport(
        path=str(p),
        verdict=verdict,
        c2pa_state=manifest.state,
        c2pa=c2,
        watermark=water,
        detector_score=None if score is None else round(score, 4),
    )
