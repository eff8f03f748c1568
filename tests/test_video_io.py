"""Tests for kinema.data.video_io: round trips, temporal sampling, resize/crop, errors, atomicity.

All main tests use small synthetic videos written into tmp_path; the opencv-doc clips (real
footage) are used only when installed.
"""

from __future__ import annotations

import logging
import math
import re
import wave
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import ExifTags, Image

from kinema.data import video_io
from kinema.data.video_io import VideoInfo, probe, read_video, write_png_frames, write_video
from kinema.errors import VideoError

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


# ----------------------------------------------------------------------------------------------------
# Synthetic content


def gradient_frames(t: int, h: int, w: int) -> np.ndarray:
    """Smooth moving colour gradient, uint8 (t, h, w, 3)."""
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    r = 128 + 100 * np.sin(np.pi * (xx / w + tt / 8))
    g = 128 + 100 * np.cos(np.pi * (yy / h - tt / 10))
    b = 64 + 60 * (xx + yy) / (w + h)
    return np.stack([r, g, b], axis=-1).round().astype(np.uint8)


def indexed_frames(t: int, h: int = 16, w: int = 16) -> np.ndarray:
    """Flat grey frames whose brightness encodes the frame index: value = 8 * i + 8."""
    values = 8 * np.arange(t) + 8
    return np.broadcast_to(values[:, None, None, None], (t, h, w, 3)).astype(np.uint8)


def frame_indices(frames: np.ndarray) -> list[int]:
    """Inverse of ``indexed_frames`` (robust to small codec error)."""
    return [round((float(f.mean()) - 8) / 8) for f in frames]


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def write_with_pyav(
    path: Path, frames: np.ndarray, fps: int, codec: str, gop: int = 12, rotation: int = 0
) -> Path:
    """Write a file with PyAV directly (containers/codecs write_video does not produce)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if rotation:
            stream.set_display_rotation(rotation)
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def indexed_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames at 30 fps (1 s), frame i has brightness 8 * i + 8."""
    return write_video(tmp_path_factory.mktemp("vid") / "indexed.mp4", indexed_frames(30), 30)


@pytest.fixture(scope="module")
def keyframed_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 frames at 30 fps (3 s), a keyframe every 12 frames (so seeking really seeks), frame i
    encoded as red = 8 * (i % 30) + 8, green = 80 * (i // 30) + 40."""
    i = np.arange(90)
    rgb = np.stack([8 * (i % 30) + 8, 80 * (i // 30) + 40, np.full(90, 128)], axis=-1)
    frames = np.broadcast_to(rgb[:, None, None, :], (90, 16, 16, 3)).astype(np.uint8)
    return write_with_pyav(tmp_path_factory.mktemp("vid") / "keyframed.mp4", frames, 30, "libx264")


def long_indices(frames: np.ndarray) -> list[int]:
    """Inverse of the ``keyframed_mp4`` encoding."""
    r, g = frames[..., 0].mean(axis=(1, 2)), frames[..., 1].mean(axis=(1, 2))
    return [30 * round((gi - 40) / 80) + round((ri - 8) / 8) for ri, gi in zip(r, g, strict=True)]


# ----------------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_round_trip_yuv_formats(tmp_path: Path, suffix: str) -> None:
    if suffix == ".webm" and "libvpx-vp9" not in av.codecs_available:
        pytest.skip("no VP9 encoder in this FFmpeg build")
    frames = gradient_frames(24, 48, 64)
    path = write_video(tmp_path / f"clip{suffix}", frames, fps=24)
    assert path == tmp_path / f"clip{suffix}" and path.is_file()
    out = read_video(path)
    assert out.dtype == np.uint8 and out.shape == (24, 48, 64, 3)
    assert mae(out, frames) < 6
    info = probe(path)
    assert (info.frames, info.fps, info.width, info.height) == (24, 24.0, 64, 48)
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_gif_round_trip(tmp_path: Path) -> None:
    frames = gradient_frames(10, 24, 40)
    path = write_video(tmp_path / "clip.gif", frames, fps=10)
    out = read_video(path)
    assert out.shape == (10, 24, 40, 3)
    assert mae(out, frames) < 8  # palette quantisation
    info = probe(path)
    assert (info.codec, info.width, info.height) == ("gif", 40, 24)
    assert info.fps == pytest.approx(10.0)
    assert info.frames == 10


def test_write_png_frames(tmp_path: Path) -> None:
    frames = gradient_frames(3, 10, 12)
    paths = write_png_frames(tmp_path / "pngs", frames)
    assert [p.name for p in paths] == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    for p, f in zip(paths, frames, strict=True):
        assert np.array_equal(read_video(p), f[None])  # PNG is lossless; images read as 1-frame videos
    assert [p.name for p in write_png_frames(tmp_path / "pngs", frames[:1], prefix="x")] == ["x00000.png"]
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == [
        "frame_00000.png",
        "frame_00001.png",
        "frame_00002.png",
        "x00000.png",
    ]


def test_odd_size_is_padded_by_replication(tmp_path: Path) -> None:
    frames = gradient_frames(5, 17, 33)  # (T, H, W) with odd H and W
    out = read_video(write_video(tmp_path / "odd.mp4", frames, fps=10))
    assert out.shape == (5, 18, 34, 3)
    assert mae(out[:, :17, :33], frames) < 6
    assert mae(out[:, 17], out[:, 16]) < 6 and mae(out[:, :, 33], out[:, :, 32]) < 6
    gif = read_video(write_video(tmp_path / "odd.gif", frames, fps=10))
    assert gif.shape == (5, 17, 33, 3)  # gif keeps the exact size


def test_still_images(tmp_path: Path) -> None:
    frame = gradient_frames(1, 20, 30)[0]
    for suffix in (".png", ".jpg", ".bmp", ".webp"):
        path = tmp_path / f"still{suffix}"
        Image.fromarray(frame).save(path)
        out = read_video(path)
        assert out.shape == (1, 20, 30, 3)
        assert mae(out[0], frame) < 8
        info = probe(path)
        assert (info.frames, info.fps, info.duration, info.width, info.height) == (1, 1.0, 1.0, 30, 20)
        assert info.container == "image"
    assert read_video(tmp_path / "still.png", fps=24, num_frames=8).shape == (1, 20, 30, 3)

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored sideways: display rotated 90° clockwise
    Image.fromarray(frame).save(tmp_path / "phone.jpg", exif=exif)
    assert read_video(tmp_path / "phone.jpg").shape == (1, 30, 20, 3)
    assert (probe(tmp_path / "phone.jpg").width, probe(tmp_path / "phone.jpg").height) == (20, 30)


def test_read_avi_and_rotation(tmp_path: Path) -> None:
    avi = write_with_pyav(tmp_path / "clip.avi", indexed_frames(20), 20, "mpeg4")
    assert frame_indices(read_video(avi)) == list(range(20))
    assert probe(avi).container == "avi" and probe(avi).frames == 20

    frames = np.zeros((3, 16, 32, 3), np.uint8)
    frames[:, :4, :4] = 255  # marker in the top-left corner of the stored (coded) frame
    rotated = write_with_pyav(tmp_path / "rot.mp4", frames, 10, "libx264", rotation=90)
    out = read_video(rotated)
    assert out.shape == (3, 32, 16, 3)  # displayed upright: width and height swap
    assert out[0, -2:, :2].mean() > 200  # 90° counter-clockwise moves top-left to bottom-left
    assert (probe(rotated).width, probe(rotated).height) == (16, 32)


# ----------------------------------------------------------------------------------------------------
# Temporal sampling


def test_native_frames(indexed_mp4: Path) -> None:
    assert frame_indices(read_video(indexed_mp4)) == list(range(30))


def test_fps_downsampling_takes_every_third(indexed_mp4: Path) -> None:
    assert frame_indices(read_video(indexed_mp4, fps=10)) == list(range(0, 30, 3))
    assert frame_indices(read_video(indexed_mp4, fps=12)) == [math.floor(k * 30 / 12) for k in range(12)]


def test_fps_upsampling_repeats(indexed_mp4: Path) -> None:
    out = read_video(indexed_mp4, fps=60)
    assert frame_indices(out) == [k // 2 for k in range(60)]
    assert np.array_equal(out[0], out[1]) and not np.shares_memory(out[0], out[1])


def test_start_end_num_frames(indexed_mp4: Path) -> None:
    assert frame_indices(read_video(indexed_mp4, start=0.5, end=0.8)) == list(range(15, 24))
    assert frame_indices(read_video(indexed_mp4, num_frames=5)) == [0, 1, 2, 3, 4]
    assert frame_indices(read_video(indexed_mp4, start=0.5, num_frames=4, fps=10)) == [15, 18, 21, 24]
    # asks for 5 but the video ends: only the frame on screen at 0.9 s
    assert frame_indices(read_video(indexed_mp4, start=0.9, fps=10, num_frames=5)) == [27]
    assert frame_indices(read_video(indexed_mp4, end=0.2, fps=20)) == [0, 1, 3, 4]
    assert len(read_video(indexed_mp4, num_frames=1000)) == 30


def test_seek_gives_the_same_frames_as_decoding_from_the_start(
    keyframed_mp4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = [dict(start=2.0, num_frames=6), dict(start=1.5, end=2.5, fps=10), dict(start=2.5, fps=45)]
    seeked = [read_video(keyframed_mp4, **kw) for kw in requests]
    monkeypatch.setattr(video_io, "SEEK_THRESHOLD_S", math.inf)
    for kw, a in zip(requests, seeked, strict=True):
        assert np.array_equal(a, read_video(keyframed_mp4, **kw)), kw
    assert long_indices(seeked[0]) == list(range(60, 66))
    assert long_indices(seeked[1]) == list(range(45, 75, 3))


def test_num_frames_stops_decoding_early(keyframed_mp4: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = []
    original = video_io._decoded

    def counting(*args, **kwargs):
        for frame in original(*args, **kwargs):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(video_io, "_decoded", counting)
    assert len(read_video(keyframed_mp4, num_frames=4)) == 4
    assert len(decoded) < 12  # 90 frames in the file; a few extra for the reorder window
    decoded.clear()
    assert len(read_video(keyframed_mp4, start=2.2, num_frames=3)) == 3
    assert len(decoded) < 30  # seeked to the keyframe before 2.2 s instead of decoding from 0


def test_frame_budget_stops_a_runaway_decode(indexed_mp4: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_io, "_frame_budget", lambda *args: 5)
    with pytest.raises(VideoError, match="gave up after 5 frames"):
        read_video(indexed_mp4, start=0.5, num_frames=2)


# ----------------------------------------------------------------------------------------------------
# Resize and crop


def test_resize_center_crop_preserves_aspect(tmp_path: Path) -> None:
    ramp = np.broadcast_to((np.arange(80) * 3)[None, :, None], (40, 80, 3)).astype(np.uint8)  # (H, W, 3)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    out = read_video(tmp_path / "ramp.png", size=(20, 20))
    assert out.shape == (1, 20, 20, 3)
    # cover-resize halves (40, 80) → (20, 40); the centre crop keeps source columns 20..59
    assert np.abs(out[0, 10, :, 0].astype(int) - (np.arange(20) * 6 + 61.5)).max() <= 2
    assert (out[0, :, :, 0] == out[0, :1, :, 0]).all()  # no vertical change: nothing was stretched

    clip = read_video(write_video(tmp_path / "clip.mp4", gradient_frames(6, 48, 64), fps=12), size=(24, 40))
    assert clip.shape == (6, 24, 40, 3)
    tall = read_video(tmp_path / "clip.mp4", size=(40, 16), num_frames=2)
    assert tall.shape == (2, 40, 16, 3)


def test_zoom_reads_a_closer_view(tmp_path: Path) -> None:
    ramp = np.broadcast_to((np.arange(80) * 3)[None, :, None], (40, 80, 3)).astype(np.uint8)  # (H, W, 3)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    assert np.array_equal(read_video(tmp_path / "ramp.png", size=(20, 20), zoom=1.0),
                          read_video(tmp_path / "ramp.png", size=(20, 20)))
    out = read_video(tmp_path / "ramp.png", size=(20, 20), zoom=2.0)
    assert out.shape == (1, 20, 20, 3)
    # zoom 2 covers (40, 40): the frame keeps its size (40, 80); the centre crop is columns 30..49
    assert np.abs(out[0, 10, :, 0].astype(int) - (np.arange(30, 50) * 3)).max() <= 1
    clip = write_video(tmp_path / "clip.mp4", gradient_frames(4, 32, 48), fps=8)
    assert read_video(clip, size=(16, 16), zoom=1.5).shape == (4, 16, 16, 3)


def test_random_crop_is_seeded(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (48, 96, 3), dtype=np.uint8)  # covers (24, 48)
    Image.fromarray(noise).save(tmp_path / "noise.png")

    def crop(seed: int) -> np.ndarray:
        return read_video(
            tmp_path / "noise.png",
            size=(24, 24),
            crop="random",
            generator=torch.Generator().manual_seed(seed),
        )

    assert np.array_equal(crop(1), crop(1))
    assert any(not np.array_equal(crop(1), crop(s)) for s in range(2, 6))
    center = read_video(tmp_path / "noise.png", size=(24, 24))
    assert np.array_equal(center, read_video(tmp_path / "noise.png", size=(24, 24)))

    clip = write_video(tmp_path / "clip.mp4", gradient_frames(4, 32, 48), fps=8)
    a = read_video(clip, size=(16, 16), crop="random", generator=torch.Generator().manual_seed(3))
    b = read_video(clip, size=(16, 16), crop="random", generator=torch.Generator().manual_seed(3))
    assert a.shape == (4, 16, 16, 3) and np.array_equal(a, b)


# ----------------------------------------------------------------------------------------------------
# Probe


def test_probe_fields(indexed_mp4: Path, tmp_path: Path) -> None:
    info = probe(indexed_mp4)
    assert isinstance(info, VideoInfo)
    assert info == VideoInfo(str(indexed_mp4), 30, 30.0, 16, 16, info.duration, "h264", info.container)
    assert info.duration == pytest.approx(1.0) and "mp4" in info.container
    mkv = probe(write_video(tmp_path / "x.mkv", indexed_frames(15), fps=15))
    assert (mkv.frames, mkv.codec, mkv.container) == (15, "h264", "matroska,webm")  # estimated from duration


# ----------------------------------------------------------------------------------------------------
# Errors


def _wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(800, np.int16).tobytes())


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing.mp4", lambda p: None, "no such file"),
        ("folder.mp4", lambda p: p.mkdir(), "is a directory"),
        ("empty.mp4", lambda p: p.write_bytes(b""), "empty"),
        (
            "noise.mp4",
            lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
            "cannot open as a video",
        ),
        (
            "noise.avi",
            lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)),
            "cannot open as a video",
        ),
        ("sound.wav", _wav, "no video stream"),
        ("notes.txt", lambda p: p.write_text("not a video\n" * 50), "no video stream|cannot open"),
        (
            "noise.png",
            lambda p: p.write_bytes(np.random.default_rng(2).bytes(500)),
            "cannot read as an image",
        ),
    ],
)
def test_bad_files_raise_video_error(tmp_path: Path, name: str, make, message: str) -> None:
    path = tmp_path / name
    make(path)
    for fn in (read_video, probe):
        with pytest.raises(VideoError, match=f"{re.escape(name)}.*({message})"):
            fn(path)


def test_truncated_mp4(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)  # incompressible
    data = write_video(tmp_path / "full.mp4", frames, fps=30).read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="kinema.data.video_io"):
        out = read_video(half)
    assert 0 < len(out) < 30 and out.shape[1:] == (32, 32, 3)
    assert "half.mp4" in caplog.text and "truncated" in caplog.text
    for n in (300, 1500):  # header only / header and a sliver of the first frame
        head = tmp_path / f"head{n}.mp4"
        head.write_bytes(data[:n])
        with pytest.raises(VideoError, match=f"head{n}.mp4"):
            read_video(head)


def test_truncated_png(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(gradient_frames(1, 64, 64)[0]).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(VideoError, match="cut.png"):
        read_video(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(fps=0), "fps must be a positive"),
        (dict(fps=-5.0), "fps must be a positive"),
        (dict(fps=float("nan")), "fps must be a positive"),
        (dict(start=-1.0), "start must be >= 0"),
        (dict(start=0.5, end=0.5), "end must be greater than start"),
        (dict(end=0), "end must be greater than start"),
        (dict(size=(0, 16)), "size must be"),
        (dict(size=(16,)), "size must be"),
        (dict(size=(16.5, 16)), "size must be"),
        (dict(size="16x16"), "size must be"),
        (dict(num_frames=2.5), "num_frames must be"),
        (dict(fps="30"), "fps must be"),
        (dict(num_frames=0), "num_frames must be"),
        (dict(crop="left"), "crop must be"),
        (dict(size=(16, 16), zoom=0.5), "zoom must be a number in"),
        (dict(size=(16, 16), zoom=9.0), "zoom must be a number in"),
        (dict(size=(16, 16), zoom="2"), "zoom must be a number in"),
        (dict(start=5.0), "past the end"),
        (dict(start=0.51, end=0.52), "no frames in the requested range"),
    ],
)
def test_bad_read_arguments(indexed_mp4: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(VideoError, match=f"indexed.mp4.*{message}"):
        read_video(indexed_mp4, **kwargs)


def test_start_past_end_of_image(tmp_path: Path) -> None:
    Image.fromarray(gradient_frames(1, 8, 8)[0]).save(tmp_path / "a.png")
    with pytest.raises(VideoError, match="a.png.*past the end"):
        read_video(tmp_path / "a.png", start=2.0)


@pytest.mark.parametrize(
    ("frames", "kwargs", "message"),
    [
        (np.zeros((2, 8, 8, 3), np.float32), {}, "dtype uint8"),
        (np.zeros((8, 8, 3), np.uint8), {}, r"shape \(T, H, W, 3\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), {}, r"shape \(T, H, W, 3\)"),
        (np.zeros((0, 8, 8, 3), np.uint8), {}, "empty"),
        (torch.zeros(2, 8, 8, 3, dtype=torch.uint8), {}, "numpy uint8 array"),
        (np.zeros((2, 8, 8, 3), np.uint8), dict(fps=0), "fps must be"),
        (np.zeros((2, 8, 8, 3), np.uint8), dict(crf=60), "crf must be"),
    ],
)
def test_bad_write_arguments_leave_no_file(tmp_path: Path, frames, kwargs: dict, message: str) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match=f"out.mp4.*{message}"):
        write_video(path, frames, **{"fps": 10, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"clip.avi.*\.mp4, \.mkv, \.webm, \.gif"):
        write_video(tmp_path / "clip.avi", indexed_frames(2), fps=10)
    with pytest.raises(VideoError, match="png_dir.*dtype uint8"):
        write_png_frames(tmp_path / "png_dir", np.zeros((1, 4, 4, 3), np.float64))


def test_failed_write_leaves_existing_target_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write_video(tmp_path / "keep.mp4", indexed_frames(5), fps=10)
    before = target.read_bytes()
    with pytest.raises(VideoError, match="keep.mp4"):
        write_video(target, np.zeros((2, 8, 8, 3), np.int64), fps=10)

    def crash_midway(tmp: Path, *args) -> None:
        tmp.write_bytes(b"half a video")
        raise av.error.ExternalError(0, "encoder crashed")

    monkeypatch.setattr(video_io, "_encode_yuv420", crash_midway)
    with pytest.raises(VideoError, match="keep.mp4.*encoder crashed"):
        write_video(target, indexed_frames(5), fps=10)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


# ----------------------------------------------------------------------------------------------------
# Real footage (opencv-doc), skipped when not installed


def _opencv_clip(name: str) -> Path:
    path = OPENCV_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not installed (apt-get install opencv-doc)")
    return path


def test_opencv_vtest_avi() -> None:
    path = _opencv_clip("vtest.avi")
    info = probe(path)
    assert (info.frames, info.fps, info.width, info.height, info.codec) == (795, 10.0, 768, 576, "msmpeg4")
    clip = read_video(path, start=30.0, num_frames=8, fps=5, size=(64, 96))
    assert clip.shape == (8, 64, 96, 3)
    assert clip.std() > 10  # real content, not a blank frame


def test_opencv_bframe_avi_seek_matches_full_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    path = _opencv_clip("Megamind.avi")  # MPEG-4 with B-frames: decode-order timestamps in AVI
    seeked = read_video(path, start=5.0, num_frames=6)
    monkeypatch.setattr(video_io, "SEEK_THRESHOLD_S", math.inf)
    assert np.array_equal(seeked, read_video(path, start=5.0, num_frames=6))
    assert seeked.shape == (6, 528, 720, 3)
