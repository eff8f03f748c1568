"""The invisible watermark: the payload reads back after an H.264 round trip at 64x64 and after a
resize, unmarked videos do not read as marked, its cost is bounded, and bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from kinema.data.video_io import read_video, write_video
from kinema.errors import KinemaError
from kinema.safety import SafetyChecker, SafetyConfig, WatermarkConfig
from kinema.safety import watermark as wm
from kinema.world import render_clip

PAYLOAD = wm.make_payload(7)


def _clip(seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    return render_clip(seed, split="test", width=w, height=h, fps=8.0, num_frames=17).frames


def _h264(frames: np.ndarray, path) -> np.ndarray:
    write_video(path, frames, 8.0)
    return read_video(path)


def test_payload_layout():
    assert PAYLOAD >> 12 == wm.KINEMA_TAG and PAYLOAD & 0xFFF == 7
    with pytest.raises(KinemaError, match="model_id"):
        wm.make_payload(4096)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_h264_round_trip_at_64x64(tmp_path, seed):
    clip = _clip(seed)
    marked = wm.embed(clip, PAYLOAD)
    assert marked.shape == clip.shape and marked.dtype == np.uint8
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - clip) ** 2))
    assert psnr > 27.0
    r = wm.read(_h264(marked, tmp_path / "m.mp4"))
    assert r.marked and r.payload == PAYLOAD and r.model_id == 7
    assert wm.bit_accuracy(r, PAYLOAD) == 1.0
    assert r.z > wm.DETECT_Z


def test_unmarked_videos_do_not_read_as_marked(tmp_path):
    zs = []
    for seed in range(6):
        r = wm.read(_h264(_clip(100 + seed), tmp_path / "u.mp4"))
        assert not r.marked
        zs.append(r.z)
    assert max(zs) < wm.DETECT_Z - 2  # well below the detection threshold


def test_wrong_key_does_not_read(tmp_path):
    marked = wm.embed(_clip(3), PAYLOAD, key=1)
    assert wm.read(marked, key=1).marked
    assert not wm.read(marked, key=2).marked


def test_survives_resize(tmp_path):
    from PIL import Image

    coded = _h264(wm.embed(_clip(4, 64, 96), PAYLOAD), tmp_path / "a.mp4")
    small = np.stack([np.asarray(Image.fromarray(f).resize((72, 48), Image.BILINEAR)) for f in coded])
    r = wm.read(_h264(small, tmp_path / "b.mp4"))
    assert r.marked and r.payload == PAYLOAD


def test_checker_watermarks_and_skips_tiny_frames():
    clip = _clip(5)
    out, payload = SafetyChecker(SafetyConfig(frames=_no_frames())).watermark(clip)
    assert payload == wm.make_payload(WatermarkConfig().model_id) and not np.array_equal(out, clip)
    tiny = clip[:, :8, :32]
    same, none = SafetyChecker().watermark(np.ascontiguousarray(tiny))
    assert none is None and np.array_equal(same, tiny)
    off, p = SafetyChecker(SafetyConfig(watermark=WatermarkConfig(enabled=False))).watermark(clip)
    assert p is None and off is clip


def _no_frames():
    from kinema.safety import FrameSafetyConfig

    return FrameSafetyConfig(enabled=False)


def test_bad_input_is_refused():
    with pytest.raises(KinemaError, match="uint8 RGB frames"):
        wm.embed(np.zeros((2, 32, 32, 3), np.float32), PAYLOAD)
    with pytest.raises(KinemaError, match="at least 16x16"):
        wm.read(np.zeros((2, 8, 32, 3), np.uint8))
    with pytest.raises(KinemaError, match="strength"):
        wm.embed(np.zeros((2, 32, 32, 3), np.uint8), PAYLOAD, strength=0)


def test_verify_finds_a_mark_at_the_end_of_a_long_kept_input(tmp_path):
    """A forward extension keeps the (unmarked) input and marks only the new frames at the end:
    verify reads the start, middle and end of a long video, so the end's mark is still found."""
    from kinema.safety.verify import verify_file

    kept = render_clip(1, width=64, height=64, num_frames=120).frames  # 15 s of unmarked input
    new = wm.embed(render_clip(2, width=64, height=64, num_frames=65).frames, wm.make_payload(7))
    path = write_video(tmp_path / "extended.mp4", np.concatenate([kept, new]), 8.0)
    assert verify_file(path).watermark["marked"]
    only_kept = write_video(tmp_path / "kept.mp4", kept, 8.0)
    assert not verify_file(only_kept).watermark["marked"]
