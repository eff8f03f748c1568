"""Video decode and encode with PyAV. At this edge a video is a uint8 RGB array ``(T, H, W, 3)``.

Reading (``probe``, ``read_video``) accepts any container FFmpeg can demux (mp4, mkv, webm, avi, mov,
gif, ...) plus still images (``.png .jpg .jpeg .webp .bmp``), which are one-frame videos. Writing
(``write_video``) picks the format from the suffix: ``.mp4``/``.mkv`` → H.264 yuv420p, ``.webm`` → VP9,
``.gif`` → animated GIF. ``write_png_frames`` writes one PNG per frame. Every write is atomic.

Time model. A decoded frame ``i`` has a presentation time ``t_i`` (seconds since the stream's start)
and stays on screen until ``t_{i+1}`` (the last frame for its own duration). ``read_video`` either
returns the native frames whose time lies in ``[start, end)`` or, with ``fps``, resamples by
sample-and-hold: output frame ``k`` is the frame on screen at ``start + k / fps``.

Failure policy. Every problem with an input file is a :class:`~kinema.errors.VideoError` naming the
file: missing, not a regular file, empty, not a video, no video stream, nothing decodable, requested
range outside the video. A file that opens but whose decoding fails part-way (a truncated download,
a corrupt packet) returns the frames decoded before the failure, provided there is at least one, and
logs a warning through :mod:`logging`; with no frame decoded it is an error. Decoding is bounded: it
stops once the requested output is complete and gives up (same policy) after a frame/packet budget
derived from the requested range, so broken timestamps cannot make it read a huge file to the end.
Only the ``file`` protocol is allowed, so a playlist can never make FFmpeg touch the network.

Odd sizes. H.264/VP9 in yuv420p need even width and height; ``write_video`` pads an odd dimension by
one row/column that replicates the last row/column, so reading the file back returns the padded
(even) size. GIF and PNG keep the exact size.
"""

from __future__ import annotations

import heapq
import logging
import math
import numbers
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import ExifTags, Image, ImageOps

from kinema.atomic import atomic_path
from kinema.errors import VideoError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
"""Suffixes read with PIL as one-frame videos (an animated webp gives its first frame)."""
WRITE_SUFFIXES = (".mp4", ".mkv", ".webm", ".gif")
"""Suffixes ``write_video`` can write."""

SEEK_THRESHOLD_S = 1.0
"""``read_video`` seeks (to the keyframe before ``start``) only when ``start`` exceeds this."""

_EPS = 1e-6  # seconds; tolerance when comparing frame times with requested times
_BUDGET_SLACK_FRAMES = 1000  # frames decoded beyond the estimate before we call timestamps broken
_REORDER_WINDOW = 4  # frames; see _iter_frames
_FALLBACK_FPS = 25.0  # when a stream declares no frame rate at all
_NOT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})  # FFmpeg renders text files as "video"
_OPEN_OPTIONS = {"protocol_whitelist": "file"}  # never follow URLs inside playlists (hls, concat)
_AV_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, OSError, EOFError)
_BT601 = 6  # AVCOL_*_SMPTE170M: the matrix swscale uses for rgb24 → yuv420p, written as a tag


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns about a file.

    ``frames`` is exact when the container stores a frame count (mp4, avi, ...) and otherwise
    estimated as ``round(duration * fps)`` (mkv, webm, gif). ``width``/``height`` are the displayed
    size (a rotation tag of ±90° swaps them, as ``read_video`` does). ``codec`` is FFmpeg's decoder
    name (``"h264"``, ``"gif"``, ``"png"``); ``container`` FFmpeg's demuxer name
    (``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"matroska,webm"``, ``"avi"``) or ``"image"``. A still image
    is one frame shown for one second: ``frames=1, fps=1.0, duration=1.0``.
    """

    path: str
    frames: int
    fps: float
    width: int
    height: int
    duration: float
    codec: str
    container: str


# ----------------------------------------------------------------------------------------------------
# Argument and file checks


def _check_file(path: str | os.PathLike) -> Path:
    """Return ``path`` as an absolute ``Path`` if it is a non-empty regular file, else raise."""
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a directory, expected a video or image file")
    if not p.is_file():
        raise VideoError(f"{p}: not a regular file (a pipe or device cannot be read as a video)")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: file is empty (0 bytes)")
    return p


def _is_positive_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and int(x) >= 1


def _is_positive_number(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _check_read_args(
    path: Path,
    fps: float | None,
    start: float | None,
    end: float | None,
    num_frames: int | None,
    size: tuple[int, int] | None,
    crop: str,
    zoom: float = 1.0,
) -> None:
    def bad(msg: str) -> VideoError:
        return VideoError(f"{path}: {msg}")

    if fps is not None and not _is_positive_number(fps):
        raise bad(f"fps must be a positive number, got {fps!r}")
    if start is not None and not (start == 0 or _is_positive_number(start)):
        raise bad(f"start must be >= 0 seconds, got {start!r}")
    if end is not None and not (isinstance(end, numbers.Real) and end > (start or 0.0)):
        raise bad(f"end must be greater than start ({start or 0.0} s), got end={end!r}")
    if num_frames is not None and not _is_positive_int(num_frames):
        raise bad(f"num_frames must be a positive integer, got {num_frames!r}")
    if size is not None and not (
        isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_positive_int(s) for s in size)
    ):
        raise bad(f"size must be (height, width) with positive integers, got {size!r}")
    if crop not in ("center", "random"):
        raise bad(f"crop must be 'center' or 'random', got {crop!r}")
    if not (isinstance(zoom, numbers.Real) and 1.0 <= zoom <= MAX_ZOOM):
        raise bad(f"zoom must be a number in [1, {MAX_ZOOM:g}], got {zoom!r}")


def _check_frames(path: Path, frames: np.ndarray) -> None:
    """Raise unless ``frames`` is a non-empty uint8 numpy array of shape (T, H, W, 3)."""
    if not isinstance(frames, np.ndarray):
        raise VideoError(
            f"{path}: frames must be a numpy uint8 array (T, H, W, 3), got {type(frames).__name__}"
        )
    if frames.dtype != np.uint8:
        raise VideoError(f"{path}: frames must have dtype uint8, got {frames.dtype} (scale and cast first)")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise VideoError(f"{path}: frames must have shape (T, H, W, 3), got {tuple(frames.shape)}")
    if 0 in frames.shape:
        raise VideoError(f"{path}: frames is empty, shape {tuple(frames.shape)}")


# ----------------------------------------------------------------------------------------------------
# Container helpers


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", options=_OPEN_OPTIONS)
    except _AV_ERRORS as e:
        raise VideoError(f"{path}: cannot open as a video (not a video file, or corrupt): {e}") from None


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first real video stream (cover art and text renderers do not count)."""
    for stream in container.streams.video:
        if _is_cover_art(stream):
            continue
        if stream.codec_context is None or stream.codec_context.name in _NOT_VIDEO_CODECS:
            continue
        return stream
    kinds = sorted({f"{s.type} ({_codec_name(s)})" for s in container.streams}) or ["none"]
    raise VideoError(f"{path}: no video stream (streams found: {', '.join(kinds)})")


def _is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    """An mp3/m4a album cover is a one-picture "video" stream flagged attached_pic."""
    disposition = getattr(av.stream, "Disposition", None)  # PyAV >= 13
    return disposition is not None and bool(stream.disposition & disposition.attached_pic)


def _codec_name(stream: av.stream.Stream) -> str:
    return stream.codec_context.name if stream.codec_context is not None else "no decoder"


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0 and math.isfinite(float(rate)):
            return float(rate)
    return _FALLBACK_FPS


def _stream_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """Duration in seconds from the stream or container header; 0.0 when unknown."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _rotate(arr: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise) to an (H, W, 3) array."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(arr, k)) if k else arr


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame → uint8 (H, W, 3) RGB in display orientation."""
    return _rotate(frame.to_ndarray(format="rgb24"), _rotation(frame))


def _rotation(frame: av.VideoFrame) -> int:
    """Display-matrix rotation in degrees counter-clockwise (0 without a tag, or on PyAV < 14)."""
    return getattr(frame, "rotation", 0) or 0


# ----------------------------------------------------------------------------------------------------
# Resize and crop


MAX_ZOOM = 8.0  # read_video's largest zoom


def _cover_size(h: int, w: int, size: tuple[int, int]) -> tuple[int, int]:
    """Smallest (h', w') with the aspect of (h, w) that covers ``size`` = (H, W)."""
    out_h, out_w = size
    scale = max(out_h / h, out_w / w)
    return max(out_h, round(h * scale)), max(out_w, round(w * scale))


def _resize(arr: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) → uint8 (*hw, 3), bilinear with antialiasing when shrinking.

    The (1, C, H, W) view of an HWC array is channels-last uint8, which torch resizes on a fast
    integer path (~40x quicker than converting to float first).
    """
    if arr.shape[:2] == hw:
        return arr
    x = rearrange(torch.from_numpy(arr), "h w c -> 1 c h w")
    y = F.interpolate(x, size=hw, mode="bilinear", antialias=True, align_corners=False)
    return rearrange(y, "1 c h w -> h w c").numpy()


def check_rgb_frames(frames: object, what: str) -> None:
    """Raise ``VideoError`` ("``what`` takes uint8 RGB frames ...") unless ``frames`` is a uint8
    ``(T, H, W, 3)`` array: the frame format at every edge of kinema."""
    if (
        not isinstance(frames, np.ndarray)
        or frames.dtype != np.uint8
        or frames.ndim != 4
        or frames.shape[-1] != 3
    ):
        desc = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise VideoError(f"{what} takes uint8 RGB frames (T, H, W, 3), got {desc}")


def fit_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` → uint8 ``(T, *size, 3)``: resize keeping the aspect ratio so each
    frame covers ``size = (H', W')`` (antialiased when shrinking), then crop the centre — what
    ``read_video(size=...)`` does, for frames already in memory."""
    check_rgb_frames(frames, "fit_frames")
    if frames.shape[1:3] == tuple(size):
        return frames
    cover = _cover_size(frames.shape[1], frames.shape[2], size)
    top, left = (cover[0] - size[0]) // 2, (cover[1] - size[1]) // 2
    return np.stack([_resize(np.ascontiguousarray(f), cover)[top:top + size[0], left:left + size[1]] for f in frames])


class _Frames:
    """Collects output frames: converts each source frame once, resizes/crops it, repeats by reference."""

    def __init__(
        self, size: tuple[int, int] | None, crop: str, generator: torch.Generator | None, zoom: float = 1.0
    ) -> None:
        self.size = size
        self.crop = crop
        self.zoom = zoom
        self.generator = generator
        self.out: list[np.ndarray] = []
        self._src: object = None
        self._arr: np.ndarray | None = None
        self._offset: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.out)

    def add(self, frame: av.VideoFrame) -> None:
        if frame is not self._src:
            self._src, self._arr = frame, self.fit(_to_rgb(frame))
        assert self._arr is not None
        self.out.append(self._arr)

    def fit(self, arr: np.ndarray) -> np.ndarray:
        """(h, w, 3) → (H, W, 3): cover-resize (to ``zoom`` times the size) then crop; the crop offset is
        drawn once per clip."""
        if self.size is None:
            return arr
        out_h, out_w = self.size
        cover = (round(out_h * self.zoom), round(out_w * self.zoom))
        arr = _resize(arr, _cover_size(arr.shape[0], arr.shape[1], cover))
        spare_h, spare_w = arr.shape[0] - out_h, arr.shape[1] - out_w
        if self._offset is None:
            if self.crop == "random":
                top = int(torch.randint(0, spare_h + 1, (1,), generator=self.generator))
                left = int(torch.randint(0, spare_w + 1, (1,), generator=self.generator))
                self._offset = (top, left)
            else:
                self._offset = (spare_h // 2, spare_w // 2)
        top, left = min(self._offset[0], spare_h), min(self._offset[1], spare_w)
        return np.ascontiguousarray(arr[top : top + out_h, left : left + out_w])

    def stack(self) -> np.ndarray:
        return np.stack(self.out)


# ----------------------------------------------------------------------------------------------------
# Decoding


@dataclass
class _DecodeState:
    decoded: int = 0  # frames that came out of the decoder
    error: str | None = None  # why decoding stopped early, if it did
    eof: bool = False  # the demuxer ran to the end of the file
    last_time: float = 0.0  # time of the last decoded frame (seconds)
    last_duration: float = 0.0  # seconds the last decoded frame stays on screen


def _decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    state: _DecodeState,
    frame_budget: int | None,
) -> Iterator[av.VideoFrame]:
    """Decoder output in display order. Ends early (saying why in ``state.error``) on a decoding
    error or after ``frame_budget`` frames / ``2 * frame_budget`` packets."""
    packets = 0
    packet_budget = None if frame_budget is None else 2 * frame_budget
    try:
        for packet in container.demux(stream):
            packets += 1
            if packet_budget is not None and packets > packet_budget:
                state.error = f"gave up after {packets} packets (timestamps look broken)"
                return
            for frame in packet.decode():
                state.decoded += 1
                if frame_budget is not None and state.decoded > frame_budget:
                    state.error = f"gave up after {frame_budget} frames (timestamps look broken)"
                    return
                yield frame
        state.eof = True
    except _AV_ERRORS as e:
        state.error = f"decoding failed: {e}"


def _iter_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    state: _DecodeState,
    frame_budget: int | None,
    native_fps: float,
) -> Iterator[tuple[float, av.VideoFrame]]:
    """Yield (time in seconds since the stream's start, frame) in display order.

    Decoders emit frames in display order, but some containers label them with decode-order
    timestamps (AVI with B-frames: 1, 2, 3, 5, 4, 6, ...). A frame therefore gets the smallest
    timestamp among itself and the next ``_REORDER_WINDOW`` frames, which is the identity for
    well-formed files and repairs the mislabelled ones, also right after a seek.
    """
    origin = stream.start_time or 0
    window = max(_REORDER_WINDOW, stream.codec_context.has_b_frames or 0)
    times: list[float] = []  # min-heap of pending timestamps
    pending: deque[av.VideoFrame] = deque()
    last = -1.0 / native_fps

    def pop() -> tuple[float, av.VideoFrame]:
        frame = pending.popleft()
        t = heapq.heappop(times)
        tb = frame.time_base or stream.time_base
        frame_dur = getattr(frame, "duration", None)  # PyAV >= 14
        dur = float(frame_dur * tb) if frame_dur and tb else 0.0
        state.last_time, state.last_duration = t, (dur if dur > 0 else 1.0 / native_fps)
        return t, frame

    for frame in _decoded(container, stream, state, frame_budget):
        ts = frame.pts if frame.pts is not None else frame.dts
        tb = frame.time_base or stream.time_base
        last = float((ts - origin) * tb) if ts is not None and tb else last + 1.0 / native_fps
        heapq.heappush(times, last)
        pending.append(frame)
        if len(pending) > window:
            yield pop()
    while pending:
        yield pop()


def _select_native(
    frames: Iterator[tuple[float, av.VideoFrame]],
    out: _Frames,
    start: float,
    end: float | None,
    num_frames: int | None,
) -> None:
    """Native frames with ``start <= t < end``, at most ``num_frames``."""
    for t, frame in frames:
        if t < start - _EPS:
            continue
        if end is not None and t >= end - _EPS:
            return
        out.add(frame)
        if num_frames is not None and len(out) >= num_frames:
            return


def _select_resampled(
    frames: Iterator[tuple[float, av.VideoFrame]],
    out: _Frames,
    state: _DecodeState,
    fps: float,
    start: float,
    end: float | None,
    num_frames: int | None,
) -> None:
    """Sample-and-hold: output k is the frame on screen at ``start + k / fps`` (``< end``)."""
    limit = num_frames if num_frames is not None else math.inf
    stop = end if end is not None else math.inf
    k = 0
    prev: av.VideoFrame | None = None
    prev_t = 0.0

    def target(i: int) -> float:
        return start + i / fps

    for t, frame in frames:
        # every target before this frame's time is shown by the previous frame (or, before the
        # first frame, by the first frame itself)
        while k < limit and target(k) < stop - _EPS and target(k) < t - _EPS:
            out.add(prev if prev is not None else frame)
            k += 1
        if k >= limit or target(k) >= stop - _EPS:
            return
        prev, prev_t = frame, t
    if prev is None:
        return
    # end of stream (or of what decodes): hold the last frame for its own duration
    hold_until = min(stop, prev_t + state.last_duration)
    while k < limit and target(k) < hold_until - _EPS:
        out.add(prev)
        k += 1


def _frame_budget(
    native_fps: float, start: float, end: float | None, fps: float | None, num_frames: int | None
) -> int | None:
    """Most frames a sane file needs decoded (from time 0) to serve the request; None = whole file."""
    if end is not None:
        horizon = end
    elif num_frames is not None:
        horizon = start + num_frames / (fps if fps is not None else native_fps)
    else:
        return None
    return math.ceil(horizon * native_fps * 1.5) + _BUDGET_SLACK_FRAMES


def _decode_clip(
    path: Path,
    out: _Frames,
    *,
    fps: float | None,
    start: float,
    end: float | None,
    num_frames: int | None,
    seek: bool,
) -> tuple[_DecodeState, float] | None:
    """Decode the requested frames into ``out``; returns (state, duration estimate).

    Returns None (having added nothing) when a seek landed after ``start``: the caller then
    decodes again from the beginning.
    """
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        native_fps = _stream_fps(stream)
        duration = _stream_duration(container, stream)
        if duration > 0 and start >= duration:
            raise VideoError(
                f"{path}: start={start} s is past the end of the video (duration {duration:.3f} s)"
            )
        if seek:
            target = (stream.start_time or 0) + int(Fraction(start) / stream.time_base)
            try:
                container.seek(target, stream=stream, backward=True, any_frame=False)
            except _AV_ERRORS:
                return None
        state = _DecodeState()
        budget = _frame_budget(native_fps, start, end, fps, num_frames)
        decoded = _iter_frames(container, stream, state, budget, native_fps)
        try:
            frames: Iterator[tuple[float, av.VideoFrame]] = decoded
            if seek:
                first = next(decoded, None)
                if first is None or first[0] > start + _EPS:
                    return None  # the index is unreliable (or the seek overshot): start over without it
                frames = _chain(first, decoded)
            if fps is None:
                _select_native(frames, out, start, end, num_frames)
            else:
                _select_resampled(frames, out, state, fps, start, end, num_frames)
        finally:
            decoded.close()  # stop the demuxer before the container closes
        if state.eof and state.error is None and state.decoded > 0 and duration > 0:
            shown_until = state.last_time + state.last_duration
            if shown_until < duration - max(3.0 / native_fps, 0.02 * duration):
                state.error = (
                    f"frames stop at {shown_until:.3f} s but the header says {duration:.3f} s (truncated?)"
                )
        return state, duration


def _chain(
    first: tuple[float, av.VideoFrame], rest: Iterator[tuple[float, av.VideoFrame]]
) -> Iterator[tuple[float, av.VideoFrame]]:
    yield first
    yield from rest


def _read_av(
    path: Path,
    out: _Frames,
    fps: float | None,
    start: float,
    end: float | None,
    num_frames: int | None,
) -> np.ndarray:
    kwargs = dict(fps=fps, start=start, end=end, num_frames=num_frames)
    result = _decode_clip(path, out, seek=True, **kwargs) if start > SEEK_THRESHOLD_S else None
    if result is None:
        result = _decode_clip(path, out, seek=False, **kwargs)
    assert result is not None  # without seeking there is nothing to retry
    state, duration = result
    if len(out) == 0:
        if state.decoded == 0:
            raise VideoError(
                f"{path}: no frame could be decoded ({state.error or 'truncated file or empty stream'})"
            )
        where = f"duration {duration:.3f} s" if duration > 0 else f"{state.decoded} frames decoded"
        note = f"; {state.error}" if state.error else ""
        raise VideoError(
            f"{path}: no frames in the requested range start={start} s, end={end} s ({where}{note})"
        )
    if state.error is not None:
        log.warning("%s: %s; returning the %d frame(s) decoded before that", path, state.error, len(out))
    return out.stack()


def _read_image(path: Path, out: _Frames, start: float) -> np.ndarray:
    if start >= 1.0:
        raise VideoError(f"{path}: start={start} s is past the end of a still image (1 frame, 1 s)")
    try:
        with Image.open(path) as img:
            upright = ImageOps.exif_transpose(img)  # phone photos store their orientation in EXIF
            arr = np.array(upright.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as e:
        raise VideoError(
            f"{path}: cannot read as an image (not an image, or corrupt/truncated): {e}"
        ) from None
    return out.fit(arr)[None]


# ----------------------------------------------------------------------------------------------------
# Public: probe and read


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a file's header (and decode its first frame) and describe its video stream.

    Decoding the first frame makes ``probe`` a reliable admission check for a dataset (a file that
    probes can be read) and tells the display rotation. See :class:`VideoInfo` for the fields.
    Raises ``VideoError`` for a missing/empty/corrupt file or one without a video stream.
    """
    p = _check_file(path)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return _probe_image(p)
    with _open(p) as container:
        stream = _video_stream(container, p)
        fps = _stream_fps(stream)
        duration = _stream_duration(container, stream)
        state = _DecodeState()
        first = next(_iter_frames(container, stream, state, _BUDGET_SLACK_FRAMES, fps), None)
        if first is None:
            raise VideoError(f"{p}: no frame could be decoded ({state.error or 'empty video stream'})")
        frame = first[1]
        width, height = (
            (frame.height, frame.width) if round(_rotation(frame) / 90) % 2 else (frame.width, frame.height)
        )
        frames = stream.frames if stream.frames and stream.frames > 0 else max(1, round(duration * fps))
        if duration <= 0:
            duration = frames / fps
        return VideoInfo(
            path=str(p),
            frames=int(frames),
            fps=fps,
            width=width,
            height=height,
            duration=duration,
            codec=stream.codec_context.name,
            container=container.format.name,
        )


def _probe_image(path: Path) -> VideoInfo:
    try:
        with Image.open(path) as img:
            width, height, fmt = img.width, img.height, (img.format or "image").lower()
            img.verify()  # must come right after open
        with Image.open(path) as img:
            if img.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8):  # stored at ±90°
                width, height = height, width
    except (OSError, ValueError, SyntaxError) as e:
        raise VideoError(f"{path}: cannot read as an image (not an image, or corrupt): {e}") from None
    return VideoInfo(str(path), 1, 1.0, width, height, 1.0, fmt, "image")


def read_video(
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
    num_frames: int | None = None,
    size: tuple[int, int] | None = None,
    crop: Literal["center", "random"] = "center",
    generator: torch.Generator | None = None,
    zoom: float = 1.0,
) -> np.ndarray:
    """Decode a video (or still image) into a uint8 RGB array of shape ``(T, H, W, 3)``.

    Args:
        path: video file (anything FFmpeg demuxes; animated gif too) or still image
            (``.png .jpg .jpeg .webp .bmp``, returned as ``(1, H, W, 3)``; temporal arguments are
            validated but select nothing, and ``start`` must be < 1 s).
        fps: None → the native frames with time in ``[start, end)``. A number → resample by
            sample-and-hold: output frame ``k`` is the source frame on screen at ``start + k / fps``
            (drops frames when slower than the source, repeats them when faster).
        start, end: seconds since the stream's start; ``end`` exclusive. ``start`` beyond the end
            of the video is an error. Past ``SEEK_THRESHOLD_S`` the reader seeks to the keyframe
            before ``start`` instead of decoding from the beginning.
        num_frames: at most this many output frames; decoding stops as soon as they are complete.
        size: ``(H, W)``: resize keeping the aspect ratio so the frame covers ``(H, W)`` (bilinear,
            antialiased when shrinking), then crop to exactly ``(H, W)``.
        crop: ``"center"`` or ``"random"`` (one offset per clip, drawn from ``generator``; None uses
            torch's global generator).
        zoom: with ``size``, in ``[1, MAX_ZOOM]``: resize so the frame covers ``zoom`` times
            ``(H, W)``, then crop ``(H, W)``: a closer view (2 = the crop spans half the frame's
            shorter side). Training draws it per clip for scale augmentation (``DataConfig.zoom``).

    Returns:
        uint8 array ``(T, H, W, 3)``, RGB, in display orientation (rotation tags applied).

    Raises:
        VideoError: bad arguments, or a file that is missing, empty, not a video, without a video
            stream, undecodable, or has no frame in the requested range. A decode that fails
            part-way returns the frames before the failure (and logs a warning) if there are any.
    """
    p = _check_file(path)
    _check_read_args(p, fps, start, end, num_frames, size, crop, zoom)
    out = _Frames(None if size is None else (int(size[0]), int(size[1])), crop, generator, float(zoom))
    start_s = float(start) if start is not None else 0.0
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return _read_image(p, out, start_s)
    return _read_av(p, out, fps, start_s, end, None if num_frames is None else int(num_frames))


# ----------------------------------------------------------------------------------------------------
# Writing


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) → (T, H + H % 2, W + W % 2, 3), replicating the last row/column."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _encoder_settings(suffix: str, crf: int) -> tuple[str, dict[str, str], dict[str, str]]:
    """(codec, codec options, container options) for a yuv420p suffix."""
    if suffix == ".webm":
        if "libvpx-vp9" not in av.codecs_available:
            raise VideoError("this FFmpeg build has no VP9 encoder (libvpx-vp9); write .mp4 instead")
        vp9_crf = min(63, crf + 13)  # the default crf=18 maps to VP9's recommended 31 for HD
        return (
            "libvpx-vp9",
            {"crf": str(vp9_crf), "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"},
            {},
        )
    if "libx264" not in av.codecs_available:
        raise VideoError("this FFmpeg build has no H.264 encoder (libx264)")
    container_opts = {"movflags": "+faststart"} if suffix == ".mp4" else {}
    return "libx264", {"crf": str(crf), "preset": "medium"}, container_opts


def _encode_yuv420(tmp: Path, frames: np.ndarray, fps: float, suffix: str, crf: int) -> None:
    codec, codec_opts, container_opts = _encoder_settings(suffix, crf)
    frames = _pad_even(frames)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(tmp), mode="w", options=container_opts) as container:
        stream = container.add_stream(codec, rate=rate, options=codec_opts)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        ctx = stream.codec_context
        ctx.time_base = 1 / rate
        # tag what swscale does (BT.601, limited range) so players and our reader agree on colours
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = _BT601, _BT601, _BT601, 1
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _encode_gif(tmp: Path, frames: np.ndarray, fps: float) -> None:
    """Animated GIF via PIL (adaptive palette per frame). GIF delays are in 1/100 s."""
    delay_ms = max(10, round(100 / fps) * 10)
    images = [Image.fromarray(a) for a in frames]
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=delay_ms, loop=0)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, *, crf: int = 18) -> Path:
    """Write uint8 RGB frames ``(T, H, W, 3)`` as a video file, atomically; returns the path.

    The suffix picks the format (``WRITE_SUFFIXES``):

    * ``.mp4``, ``.mkv``: H.264 (libx264, preset medium, ``crf``), yuv420p tagged BT.601, mp4 with
      ``+faststart``. Plays anywhere.
    * ``.webm``: VP9 (libvpx-vp9) at VP9 crf ``crf + 13`` (capped at 63); an error if the FFmpeg
      build lacks it.
    * ``.gif``: animated GIF (PIL, adaptive palette), looping; the frame delay is rounded to
      1/100 s, so 30 fps is stored as 33.3 fps (browsers slow delays under 2/100 s, so keep
      ``fps <= 50``). PIL merges identical consecutive frames into one longer frame: timing is
      kept, so read it back with ``fps=`` to get a fixed frame count.

    yuv420p needs even sizes: an odd height or width is padded by replicating the last row or column,
    so reading back gives ``(T, H + H % 2, W + W % 2, 3)``. GIF keeps the exact size.
    The file is written beside ``path`` under a temporary name and renamed on success: a failure
    never leaves a partial file and never touches an existing ``path``.

    Raises:
        VideoError: unsupported suffix, frames not a non-empty uint8 (T, H, W, 3) numpy array,
            bad ``fps``/``crf``, or an encoder failure.
    """
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise VideoError(
            f"{p}: cannot write suffix {p.suffix or '(none)'!r}; supported: {', '.join(WRITE_SUFFIXES)}"
        )
    _check_frames(p, frames)
    if not _is_positive_number(fps):
        raise VideoError(f"{p}: fps must be a positive number, got {fps!r}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise VideoError(f"{p}: crf must be an integer in 0..51, got {crf!r}")
    try:
        with atomic_path(p) as tmp:
            if suffix == ".gif":
                _encode_gif(tmp, frames, fps)
            else:
                _encode_yuv420(tmp, frames, fps, suffix, crf)
    except VideoError as e:
        raise VideoError(f"{p}: {e}") from None
    except (*_AV_ERRORS, ValueError) as e:
        raise VideoError(f"{p}: writing failed: {e}") from None
    return p


def write_png_frames(
    directory: str | os.PathLike, frames: np.ndarray, *, prefix: str = "frame_"
) -> list[Path]:
    """Write uint8 RGB frames ``(T, H, W, 3)`` as ``{prefix}00000.png, ...`` in ``directory``.

    Each file is written atomically; the folder is created if needed. Returns the paths in order.
    """
    d = Path(directory).expanduser()
    _check_frames(d, frames)
    if not prefix.isprintable() or "/" in prefix or os.sep in prefix:
        raise VideoError(f"{d}: prefix must be a plain file-name prefix, got {prefix!r}")
    if d.exists() and not d.is_dir():
        raise VideoError(f"{d}: exists and is not a directory")
    paths = []
    for i, arr in enumerate(frames):
        target = d / f"{prefix}{i:05d}.png"
        try:
            with atomic_path(target) as tmp:
                Image.fromarray(arr).save(tmp, format="PNG")
        except OSError as e:
            raise VideoError(f"{target}: writing failed: {e}") from None
        paths.append(target)
    return paths
