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


def _segment_starts(path: Path, frames: int) -> list[float]:
    """Start times (s) of up to three ``frames``-long segments: the start, middle and end of the video."""
    from kinema.data.video_io import probe

    if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        return [0.0]
    info = probe(path)
    span = frames / info.fps
    if info.duration <= span:
        return [0.0]
    last = max(0.0, info.duration - span)
    return sorted({0.0, round(last / 2, 3), round(last, 3)})


def verify_file(path: str | Path, *, key: int = WatermarkConfig.key, max_frames: int = 65) -> VerifyReport:
    """Check ``path`` for C2PA credentials, the kinema watermark and the detector's score."""
    from kinema.data.video_io import read_video
    from kinema.safety import watermark as wm
    from kinema.safety.c2pa import read_manifest
    from kinema.safety.detector import Detector

    p = Path(path)
    manifest = read_manifest(p)
    segments = [read_video(p, start=s, num_frames=max_frames) for s in _segment_starts(p, max_frames)]
    small = min(segments[0].shape[1:3]) < 16
    # the generated frames of a prompted output may be anywhere (after a kept input, before it, between
    # two): read the start, the middle and the end of a long video and keep the strongest of each signal
    reading = None if small else max((wm.read(f, key=key) for f in segments), key=lambda r: r.z)
    score = None if small else max(Detector.load().score(f) for f in segments)
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
