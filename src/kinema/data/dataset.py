"""Training data: one batch format over two sources, the procedural world and real videos.

Every batch is a dict::

    video          float32 (B, C, T, H, W) in [-1, 1]     one bucket's shape for the whole batch
    caption        list[str]   the field chosen by ``DataConfig.caption_field`` (falls back to the
                               short caption when there is no detailed one)
    short_caption  list[str]
    source         list[str]   file path, or ``world:<clip seed>`` (``:mirrored`` appended for a clip
                               mirrored by ``DataConfig.hflip``, captions mirrored with it)
    bucket         Bucket      (frames, height, width) of this batch

Sources (``DataConfig.source``):

- ``"world"``: ``WorldDataset`` renders clips on the fly, forever, one whole batch per step.
- ``"latents"``: ``kinema.data.latents.LatentDataset`` streams precomputed autoencoder latents
  (``kinema latents build``) instead of videos: batches carry ``latents`` (B, C, t, h, w) and
  ``latent_object_mask`` (B, t, h, w) in place of ``video`` and ``object_mask``.
- ``"videos"``: ``VideoDataset`` over a manifest (CSV/JSONL: ``path, caption`` and optional
  ``detailed_caption, start, end`` in seconds; relative paths resolve against the manifest's
  folder) or a folder (its ``captions.csv`` when present, the ``kinema world render`` layout;
  otherwise every video/image file under it, captioned by a sidecar ``<name>.txt``), or several
  of them joined with ``os.pathsep``. Entries that cannot be used are skipped and reported, never fatal.

Training uses one entry point, ``build_dataloader(cfg, rank=, world_size=)``, which returns a
``BatchLoader`` (one epoch per ``iter()``, ``set_epoch``), and ``infinite(loader, start_step=)``
for step-based training.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import multiprocessing
import multiprocessing.context
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from kinema.config import DataConfig
from kinema.data.buckets import Bucket, BucketBatchSampler, assign_bucket, mix_seed, parse_buckets
from kinema.data.latents import LatentDataset
from kinema.data.mirror import mirror_caption, mirror_video, mirrored
from kinema.data.video_io import MAX_ZOOM, VideoInfo, probe, read_video
from kinema.errors import ConfigError, KinemaError
from kinema.world import clip_seed, object_mask, render_clip

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS
CAPTIONS_FILE = "captions.csv"  # the ``kinema world render`` layout
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")
_MAX_SKIP_LINES = 20  # individual warnings before the rest are summarised
_FRAME_EPS = 1e-6  # seconds * fps rounding slack

Batch = dict[str, Any]


# --------------------------------------------------------------------------- pixels


def to_model_video(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames ``(T, H, W, C)`` in [0, 255] -> float32 video ``(C, T, H, W)`` in [-1, 1]."""
    if isinstance(frames, np.ndarray) and not frames.flags.writeable:
        frames = frames.copy()  # torch warns on read-only arrays
    x = torch.as_tensor(frames)
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise KinemaError(f"expected uint8 frames (T, H, W, C), got {x.dtype} {tuple(x.shape)}")
    x = rearrange(x, "t h w c -> c t h w").float()
    return x / 127.5 - 1.0


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """float video ``(C, T, H, W)`` (or batched ``(B, C, T, H, W)``) in [-1, 1] -> uint8
    ``(T, H, W, C)`` (or ``(B, T, H, W, C)``); values outside [-1, 1] are clipped."""
    if video.ndim not in (4, 5):
        raise KinemaError(f"expected a video (C, T, H, W) or (B, C, T, H, W), got {tuple(video.shape)}")
    x = ((video.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return rearrange(x, "... c t h w -> ... t h w c").numpy()


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class ClipEntry:
    """One row of a manifest or one file of a folder: a video or image and its captions.

    ``start``/``end`` (seconds) limit the part of the file used; ``None`` is the file's start/end.
    """

    path: str
    caption: str = ""
    detailed_caption: str = ""
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class PlannedClip:
    """An entry after probing: its bucket and the span of the file it is read from.

    ``span_start`` and ``span_seconds`` describe the usable span (``span_seconds`` is ``None`` for a
    still image); a clip is read from ``span_start + offset`` for ``bucket.frames`` frames.
    """

    entry: ClipEntry
    bucket: Bucket
    is_still: bool
    span_start: float
    span_seconds: float | None


def read_manifest(path: str | Path) -> tuple[list[ClipEntry], list[tuple[str, str]]]:
    """Rows of a CSV or JSONL (or JSON list) manifest -> entries, plus rows skipped with reasons.

    Columns: ``path`` (required), ``caption``, ``detailed_caption``, ``start``, ``end`` (seconds).
    Relative paths resolve against the manifest's folder. A missing ``path`` column or an
    unreadable file is a ``KinemaError``; a bad row (no path, bad JSON, bad start/end) is skipped.
    """
    path = Path(path)
    rows, skipped = _read_rows(path)
    entries: list[ClipEntry] = []
    for where, row in rows:
        try:
            entries.append(_entry_from_row(row, path.parent))
        except KinemaError as e:
            skipped.append((f"{path}:{where}", str(e)))
    return entries, skipped


def _read_rows(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str]]]:
    """``(where, row)`` pairs of a manifest (``where`` is ``line N`` / ``item N``) and bad rows."""
    if path.suffix.lower() not in MANIFEST_SUFFIXES:
        raise KinemaError(f"manifest {path} must be a .csv, .jsonl or .json file (or give a folder)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise KinemaError(f"cannot read manifest {path}: {e}") from None
    if path.suffix.lower() == ".csv":
        return _read_csv_rows(path, text), []
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise KinemaError(f"manifest {path} is not valid JSON: {e}") from None
        rows = [(f"item {i}", item) for i, item in enumerate(items)]
        return _check_has_path(path, rows), []
    return _read_jsonl_rows(path, text)


def _read_csv_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    if "path" not in columns:
        raise KinemaError(
            f"manifest {path} has no 'path' column (columns: {', '.join(columns) or 'none'}); "
            "expected a header like 'path,caption,detailed_caption,start,end'"
        )
    rows = []
    for i, row in enumerate(reader):
        clean = {(k or "").strip(): v for k, v in row.items()}
        rows.append((f"line {i + 2}", clean))
    return rows


def _read_jsonl_rows(path: Path, text: str) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str]]]:
    rows: list[tuple[str, dict[str, Any]]] = []
    skipped: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as e:
            skipped.append((f"{path}:line {number}", f"not valid JSON: {e}"))
    return _check_has_path(path, rows), skipped


def _check_has_path(path: Path, rows: list[tuple[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A JSON manifest in which no row has a ``path`` key is a wrong file, not bad rows."""
    if rows and not any(isinstance(r, dict) and "path" in r for _, r in rows):
        first = rows[0][1]
        keys = ", ".join(first) if isinstance(first, dict) else type(first).__name__
        raise KinemaError(f"manifest {path} has no 'path' field in any row (first row: {keys})")
    return rows


def _entry_from_row(row: Any, base: Path) -> ClipEntry:
    """A manifest row -> ``ClipEntry``; ``KinemaError`` with the reason for a bad row."""
    if not isinstance(row, dict):
        raise KinemaError(f"row is a {type(row).__name__}, not an object")
    raw_path = str(row.get("path") or "").strip()
    if not raw_path:
        raise KinemaError("row has an empty path")
    file = Path(raw_path).expanduser()
    file = file if file.is_absolute() else base / file
    start, end = _seconds(row.get("start"), "start"), _seconds(row.get("end"), "end")
    if start is not None and end is not None and end <= start:
        raise KinemaError(f"end {end} is not after start {start}")
    return ClipEntry(
        path=str(file),
        caption=_text(row.get("caption")),
        detailed_caption=_text(row.get("detailed_caption")),
        start=start,
        end=end,
    )


def _seconds(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise KinemaError(f"{name} {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise KinemaError(f"{name} {value!r} must be a finite number of seconds >= 0")
    return seconds


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def scan_folder(folder: str | Path) -> list[ClipEntry]:
    """Every video/image file under ``folder`` (recursively, sorted, hidden names skipped), each
    captioned by a sidecar text file ``<name>.txt`` (or ``<name>.<ext>.txt``) when present."""
    folder = Path(folder)
    entries = []
    for file in sorted(folder.rglob("*")):
        rel_parts = file.relative_to(folder).parts
        if any(p.startswith(".") for p in rel_parts) or file.suffix.lower() not in MEDIA_EXTENSIONS:
            continue
        if file.is_file():
            entries.append(ClipEntry(path=str(file), caption=_sidecar_caption(file)))
    return entries


def _sidecar_caption(file: Path) -> str:
    for sidecar in (file.with_suffix(".txt"), file.with_name(file.name + ".txt")):
        if sidecar.is_file():
            try:
                return sidecar.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return ""
    return ""


def find_entries(path: str | Path) -> tuple[list[ClipEntry], list[tuple[str, str]]]:
    """Entries of a manifest file or a folder (see the module docstring), plus skipped rows.
    Several joined with ``os.pathsep`` (``A.csv:photos/``, as for latent folders) give all their
    entries, in that order."""
    if not str(path):
        raise KinemaError("data.path is empty: set it to a folder of videos or a manifest (.csv/.jsonl)")
    parts = [p for p in str(path).split(os.pathsep) if p]
    if len(parts) > 1:
        entries: list[ClipEntry] = []
        skipped: list[tuple[str, str]] = []
        for part in parts:
            e, b = find_entries(part)
            entries += e
            skipped += b
        return entries, skipped
    path = Path(path).expanduser()
    if not path.exists():
        raise KinemaError(f"data.path {path} does not exist (expected a folder of videos or a manifest)")
    if path.is_file():
        return read_manifest(path)
    if (path / CAPTIONS_FILE).is_file():
        return read_manifest(path / CAPTIONS_FILE)
    entries = scan_folder(path)
    if not entries:
        raise KinemaError(
            f"folder {path} has no video or image files (looked for {' '.join(MEDIA_EXTENSIONS)}) "
            f"and no {CAPTIONS_FILE}"
        )
    return entries, []


# --------------------------------------------------------------------------- probing


def plan_clip(entry: ClipEntry, buckets: Sequence[Bucket], fps: float) -> PlannedClip:
    """Probe ``entry``'s file and choose its bucket; ``KinemaError`` naming the reason if unusable.

    A file with one frame is a still image (1-frame buckets only). A video's length is counted
    at the training frame rate ``fps`` over its ``[start, end]`` span.
    """
    file = Path(entry.path)
    if not file.is_file():
        raise KinemaError("file not found")
    if file.stat().st_size == 0:
        raise KinemaError("file is empty (0 bytes)")
    info = probe(file)
    if info.width <= 0 or info.height <= 0:
        raise KinemaError(f"no picture size ({info.width}x{info.height})")
    if info.frames == 1:
        bucket = assign_bucket(buckets, height=info.height, width=info.width, frames=1)
        if bucket is None:
            raise KinemaError("still image, but no 1-frame bucket (add one like '1x64x64')")
        return PlannedClip(entry, bucket, is_still=True, span_start=0.0, span_seconds=None)
    span_start, span_seconds = _span(entry, _duration(info))
    frames = math.floor(span_seconds * fps + _FRAME_EPS)
    bucket = assign_bucket(buckets, height=info.height, width=info.width, frames=frames)
    if bucket is None:
        shortest = min(b.frames for b in buckets)
        raise KinemaError(
            f"too short: {span_seconds:.3f}s is {frames} frames at {fps:g} fps, "
            f"the shortest bucket needs {shortest}"
        )
    return PlannedClip(entry, bucket, is_still=False, span_start=span_start, span_seconds=span_seconds)


def _duration(info: VideoInfo) -> float:
    """A video's length in seconds: its frame count over its frame rate when both are known
    (exact for constant-rate files), else the container duration."""
    if info.frames > 0 and info.fps > 0:
        return info.frames / info.fps
    if info.duration > 0:
        return float(info.duration)
    raise KinemaError("unknown length (no frame count, frame rate or duration)")


def _span(entry: ClipEntry, duration: float) -> tuple[float, float]:
    """``(start, seconds)`` of the usable part of a ``duration``-second file."""
    start = entry.start or 0.0
    end = duration if entry.end is None else min(entry.end, duration)
    if start >= end:
        raise KinemaError(f"start {start:g}s is not before the end of the usable span ({end:g}s)")
    return start, end - start


def plan_clips(
    entries: Sequence[ClipEntry], buckets: Sequence[Bucket], fps: float, *, threads: int | None = None
) -> tuple[list[PlannedClip], list[tuple[str, str]]]:
    """Probe all entries (in parallel threads when there are many); usable clips and skipped
    ``(path, reason)`` pairs, both in entry order."""

    def attempt(entry: ClipEntry) -> PlannedClip | tuple[str, str]:
        try:
            return plan_clip(entry, buckets, fps)
        except Exception as e:  # a bad file must never stop the run
            return (entry.path, _reason(e, entry.path))

    threads = threads if threads is not None else min(16, (os.cpu_count() or 1) * 2)
    if len(entries) > 8 and threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(attempt, entries))
    else:
        results = [attempt(e) for e in entries]
    planned = [r for r in results if isinstance(r, PlannedClip)]
    skipped = [r for r in results if not isinstance(r, PlannedClip)]
    return planned, skipped


def _reason(error: Exception, path: str | None = None) -> str:
    """The message of ``error`` for a skip report, without a leading ``<path>: `` (the report
    names the file already)."""
    text = str(error) or type(error).__name__
    if path is not None:
        for prefix in (path, str(Path(path).resolve())):
            if text.startswith(prefix + ": "):
                text = text[len(prefix) + 2 :]
    return text if isinstance(error, KinemaError) else f"{type(error).__name__}: {text}"


def _report_skipped(skipped: Sequence[tuple[str, str]], total: int) -> None:
    for path, reason in skipped[:_MAX_SKIP_LINES]:
        logger.warning("skipping %s: %s", path, reason)
    if len(skipped) > _MAX_SKIP_LINES:
        logger.warning("... and %d more skipped entries (see dataset.skipped)", len(skipped) - _MAX_SKIP_LINES)
    if skipped:
        logger.warning("skipped %d of %d entries", len(skipped), total)


# --------------------------------------------------------------------------- videos


class VideoDataset(Dataset):
    """Map-style dataset over a folder or manifest of videos and images (``cfg.source="videos"``).

    Construction finds the entries (``find_entries``), probes each file and assigns it a bucket
    (``plan_clips``). Unusable entries are logged and listed in ``skipped`` as ``(path, reason)``.
    ``bucket_of[i]`` is item ``i``'s bucket (for ``BucketBatchSampler``).

    Item ``i`` is a dict with ``video`` float32 ``(C, T, H, W)`` in [-1, 1] of its bucket's shape,
    ``caption``, ``short_caption``, ``source`` -- or ``None`` when the file fails to decode now
    (changed or corrupt mid-file; logged), which ``collate_clips`` drops. With ``crop="random"``
    the start point in a longer clip and the crop are drawn from a generator seeded with
    ``(cfg.seed, epoch, i)``, so items do not depend on worker count or order; set ``epoch``
    before iterating (``BatchLoader.set_epoch`` does). ``cfg.bucket_weights`` does not apply
    here: how often a bucket is trained follows how many clips it holds.
    """

    def __init__(self, cfg: DataConfig, *, probe_threads: int | None = None) -> None:
        self.cfg = cfg
        self.buckets = parse_buckets(cfg.buckets)
        self.epoch = 0
        entries, bad_rows = find_entries(cfg.path)
        self.clips, bad_files = plan_clips(entries, self.buckets, cfg.fps, threads=probe_threads)
        self.skipped: list[tuple[str, str]] = bad_rows + bad_files
        self.bucket_of: list[Bucket] = [c.bucket for c in self.clips]
        _report_skipped(self.skipped, len(entries) + len(bad_rows))
        uncaptioned = sum(1 for c in self.clips if not (c.entry.caption or c.entry.detailed_caption))
        if uncaptioned:
            logger.warning("%d of %d clips in %s have no caption (training on '')",
                           uncaptioned, len(self.clips), cfg.path)
        if not self.clips:
            if not self.skipped:
                raise KinemaError(f"no usable clips in {cfg.path}: it lists no entries")
            first_path, first_reason = self.skipped[0]
            raise KinemaError(
                f"no usable clips in {cfg.path}: all {len(self.skipped)} entries were skipped "
                f"(first: {first_path}: {first_reason})"
            )
        logger.info("%s: %d clips; per bucket: %s", cfg.path, len(self.clips),
                    ", ".join(f"{b} {n}" for b, n in self.bucket_counts().items()))

    def __len__(self) -> int:
        return len(self.clips)

    def bucket_counts(self) -> dict[Bucket, int]:
        """How many clips each bucket holds (buckets with none included, as 0)."""
        counts = dict.fromkeys(sorted(self.buckets), 0)
        for b in self.bucket_of:
            counts[b] += 1
        return counts

    def __getitem__(self, index: int) -> Batch | None:
        clip = self.clips[index]
        generator = torch.Generator().manual_seed(mix_seed(self.cfg.seed, self.epoch, index))
        try:
            frames = self._read(clip, generator)
        except Exception as e:  # a file that broke since probing is skipped, not fatal
            logger.warning("skipping %s at load time: %s", clip.entry.path, _reason(e, clip.entry.path))
            return None
        b = clip.bucket
        if frames.shape != (b.frames, b.height, b.width, 3):
            logger.warning("skipping %s at load time: read %s frames, bucket %s needs (%d, %d, %d, 3)",
                           clip.entry.path, tuple(frames.shape), b, b.frames, b.height, b.width)
            return None
        entry = clip.entry
        video, short, detailed, source = to_model_video(frames), entry.caption, entry.detailed_caption, entry.path
        if mirrored(self.cfg.hflip, self.cfg.seed, mix_seed(self.epoch, index)):
            video, short, detailed = mirror_video(video), mirror_caption(short), mirror_caption(detailed)
            source = f"{source}:mirrored"
        return {
            "video": video,
            "caption": _pick_caption(short, detailed, self.cfg.caption_field),
            "short_caption": short,
            "source": source,
            "bucket": b,
        }

    def _read(self, clip: PlannedClip, generator: torch.Generator) -> np.ndarray:
        """uint8 frames ``(bucket.frames, H, W, 3)`` of ``clip``."""
        b = clip.bucket
        size = (b.height, b.width)
        zoom = self._zoom(generator)
        if clip.is_still:
            return read_video(
                clip.entry.path, num_frames=1, size=size, crop=self.cfg.crop, generator=generator, zoom=zoom
            )
        assert clip.span_seconds is not None
        start = clip.span_start + self._offset(clip, generator)
        return read_video(
            clip.entry.path, fps=self.cfg.fps, start=start, end=clip.span_start + clip.span_seconds,
            num_frames=b.frames, size=size, crop=self.cfg.crop, generator=generator, zoom=zoom,
        )

    def _zoom(self, generator: torch.Generator) -> float:
        """The clip's zoom, uniform in ``cfg.zoom``; 1 without a draw when the range is [1, 1], so
        runs without zoom draw the same random numbers as before it existed."""
        lo, hi = self.cfg.zoom
        if hi == lo:
            return float(lo)
        return float(lo + (hi - lo) * torch.rand((), generator=generator))

    def _offset(self, clip: PlannedClip, generator: torch.Generator) -> float:
        """Seconds after the span start at which the clip begins: 0 for ``crop="center"``, uniform
        over the slack (span minus the clip's length) for ``crop="random"``."""
        assert clip.span_seconds is not None
        slack = clip.span_seconds - clip.bucket.frames / self.cfg.fps
        if self.cfg.crop != "random" or slack <= 0:
            return 0.0
        return float(torch.rand((), generator=generator)) * slack


def _pick_caption(short: str, detailed: str, field: str) -> str:
    """The training caption: the detailed one when asked for and present, else the short one."""
    return detailed if field == "detailed_caption" and detailed else short


def collate_clips(items: Sequence[Batch | None]) -> tuple[Batch | None, int]:
    """Items (dicts from ``VideoDataset``, ``None`` for failures) -> ``(batch, dropped)``.

    ``batch["video"]`` is ``(B, C, T, H, W)``; ``batch`` is ``None`` when every item failed.
    ``dropped`` counts the ``None`` items so the loader can report them.
    """
    kept = [item for item in items if item is not None]
    dropped = len(items) - len(kept)
    if not kept:
        return None, dropped
    buckets = {item["bucket"] for item in kept}
    if len(buckets) != 1:
        raise KinemaError(f"a batch mixes buckets {sorted(str(b) for b in buckets)}")
    batch = {
        "video": torch.stack([item["video"] for item in kept]),
        "caption": [item["caption"] for item in kept],
        "short_caption": [item["short_caption"] for item in kept],
        "source": [item["source"] for item in kept],
        "bucket": kept[0]["bucket"],
    }
    return batch, dropped


# --------------------------------------------------------------------------- world


class WorldDataset(IterableDataset):
    """Procedural-world clips rendered on the fly (``cfg.source="world"``); yields whole batches.

    Global step ``s`` (the ``s``-th batch the loader yields on this rank) is a pure function of
    ``(cfg, rank, world_size, s)`` -- see ``batch_at``:

    - its bucket is drawn by ``cfg.bucket_weights`` from a generator seeded with ``(cfg.seed, s)``,
      so all ranks train the same shape at the same step (balanced step times);
    - clip ``i`` of it has seed ``clip_seed(cfg.seed, (s * world_size + rank) * batch_size + i)``,
      so every rank and step renders different clips, and the union over ranks equals a
      single-rank run with ``world_size`` times the batch.

    With ``num_workers = n`` worker ``w`` renders steps ``w, w + n, ...``; the DataLoader returns
    them in step order, so a run is reproducible for a fixed ``world_size`` and batch size and
    does not depend on ``num_workers``. ``start_step`` resumes the stream at a step.
    """

    def __init__(self, cfg: DataConfig, *, rank: int = 0, world_size: int = 1, start_step: int = 0) -> None:
        self.cfg = cfg
        self.buckets = parse_buckets(cfg.buckets)
        self.weights = _bucket_weights(cfg.bucket_weights, self.buckets)
        self.rank = rank
        self.world_size = world_size
        self.start_step = start_step

    def bucket_at(self, step: int) -> Bucket:
        """The bucket of global step ``step`` (the same on every rank)."""
        if len(self.buckets) == 1:
            return self.buckets[0]
        generator = torch.Generator().manual_seed(mix_seed(self.cfg.seed, step))
        return self.buckets[int(torch.multinomial(self.weights, 1, generator=generator))]

    def clip_seeds(self, step: int) -> list[int]:
        """The world clip seeds of this rank's batch at global step ``step``."""
        first = (step * self.world_size + self.rank) * self.cfg.batch_size
        return [clip_seed(self.cfg.seed, first + i) for i in range(self.cfg.batch_size)]

    def batch_at(self, step: int) -> Batch:
        """Render this rank's batch of global step ``step``: ``video`` ``(B, C, T, H, W)`` etc."""
        b = self.bucket_at(step)
        videos, captions, shorts, sources, masks = [], [], [], [], []
        for seed in self.clip_seeds(step):
            clip = render_clip(
                seed, split=self.cfg.split, width=b.width, height=b.height, fps=self.cfg.fps,
                num_frames=b.frames,
            )
            video, mask = to_model_video(clip.frames), torch.from_numpy(object_mask(clip.truth))
            short, detailed, source = clip.caption, clip.detailed_caption, f"world:{seed}"
            if mirrored(self.cfg.hflip, self.cfg.seed, seed):
                video, mask = mirror_video(video), mirror_video(mask)
                short, detailed, source = mirror_caption(short), mirror_caption(detailed), f"{source}:mirrored"
            videos.append(video)
            captions.append(_pick_caption(short, detailed, self.cfg.caption_field))
            shorts.append(short)
            sources.append(source)
            masks.append(mask)
        return {
            "video": torch.stack(videos),
            "object_mask": torch.stack(masks),  # (B, T, H, W) bool: where the objects are (world truth)
            "caption": captions,
            "short_caption": shorts,
            "source": sources,
            "bucket": b,
        }

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for k in count():
            yield self.batch_at(self.start_step + k * workers + worker)


def _bucket_weights(weights: Sequence[float], buckets: Sequence[Bucket]) -> torch.Tensor:
    """``cfg.bucket_weights`` as a float64 tensor (equal weights when empty), validated."""
    if not weights:
        return torch.ones(len(buckets), dtype=torch.float64)
    if len(weights) != len(buckets):
        raise ConfigError(
            f"bucket_weights has {len(weights)} values but buckets has {len(buckets)} "
            f"({', '.join(map(str, buckets))}); give one weight per bucket or none"
        )
    w = torch.tensor([float(x) for x in weights], dtype=torch.float64)
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ConfigError(f"bucket_weights {list(weights)} must be finite, >= 0 and not all zero")
    return w


# --------------------------------------------------------------------------- loading


def _world_collate(batch: Batch) -> tuple[Batch, int]:
    """The world dataset already batches: pass through, with no dropped items."""
    return batch, 0


def _worker_init(_: int) -> None:
    """One torch thread per worker: decoding and rendering parallelise over workers."""
    torch.set_num_threads(1)


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers start from a fork server, not by forking this process: a child forked from a process
    whose threads (torch's pool, PyAV decoders, thread-pooled reads) hold a lock can deadlock before
    its first batch (seen in CI: 2 video workers hung for 643 s). The server preloads this module,
    so starting a worker stays cheap."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


class BatchLoader:
    """What training iterates: batches (dicts, see the module docstring) from a DataLoader.

    ``iter()`` runs one epoch for videos and forever for the world. ``set_epoch(e)`` picks the
    shuffle (and random crops) of epoch ``e`` for videos; call it before each epoch or use
    ``infinite``. ``len()`` is this rank's batches per epoch (videos only). Items that fail at
    load time are dropped from their batch (``dropped_items``); a batch with no item left is
    skipped (``empty_batches``).
    """

    def __init__(self, dataset: VideoDataset | WorldDataset | LatentDataset, loader: DataLoader,
                 sampler: BucketBatchSampler | None) -> None:
        self.dataset = dataset
        self.loader = loader
        self.sampler = sampler
        self.dropped_items = 0
        self.empty_batches = 0

    @property
    def is_stream(self) -> bool:
        """True for the world stream, whose ``iter()`` never ends."""
        return self.sampler is None

    def set_epoch(self, epoch: int, *, start_batch: int = 0) -> None:
        """Use epoch ``epoch``'s order, skipping its first ``start_batch`` batches (videos; no-op
        for the world, which resumes with ``set_start_step``)."""
        if self.sampler is not None and isinstance(self.dataset, VideoDataset):
            self.sampler.set_epoch(epoch, start_batch=start_batch)
            self.dataset.epoch = epoch

    def set_start_step(self, step: int) -> None:
        """Streams only (world, latents): start at global step ``step`` (to resume a run exactly)."""
        if isinstance(self.dataset, (WorldDataset, LatentDataset)):
            self.dataset.start_step = step

    def __len__(self) -> int:
        if self.sampler is None:
            raise TypeError("the world stream is infinite and has no length")
        return len(self.sampler)

    def __iter__(self) -> Iterator[Batch]:
        for batch, dropped in self.loader:
            self.dropped_items += dropped
            if batch is None:
                self.empty_batches += 1
                continue
            yield batch


def build_dataloader(
    cfg: DataConfig, *, rank: int = 0, world_size: int = 1, pin_memory: bool = False
) -> BatchLoader:
    """The one data entry point of training: a ``BatchLoader`` for ``cfg`` on ``rank``.

    ``source="world"``: an infinite stream of batches, ``cfg.num_workers`` workers rendering.
    ``source="videos"``: one epoch per ``iter()``, batches from ``BucketBatchSampler`` (shuffled
    per epoch from ``cfg.seed``, sharded so every rank gets the same number of batches).
    """
    _check_config(cfg, rank, world_size)
    common: dict[str, Any] = {
        "num_workers": cfg.num_workers,
        "pin_memory": pin_memory,
        "worker_init_fn": _worker_init if cfg.num_workers > 0 else None,
        "multiprocessing_context": _worker_context() if cfg.num_workers > 0 else None,
    }
    if cfg.source in ("world", "latents"):
        stream = (WorldDataset if cfg.source == "world" else LatentDataset)(cfg, rank=rank, world_size=world_size)
        loader = DataLoader(stream, batch_size=None, collate_fn=_world_collate, **common)
        return BatchLoader(stream, loader, None)
    videos = VideoDataset(cfg)
    sampler = BucketBatchSampler(
        videos.bucket_of, cfg.batch_size, seed=cfg.seed, shuffle=True, drop_last=False,
        rank=rank, world_size=world_size,
    )
    loader = DataLoader(videos, batch_sampler=sampler, collate_fn=collate_clips, **common)
    return BatchLoader(videos, loader, sampler)


def _check_config(cfg: DataConfig, rank: int, world_size: int) -> None:
    if cfg.batch_size <= 0:
        raise ConfigError(f"data.batch_size must be positive, got {cfg.batch_size}")
    if cfg.num_workers < 0:
        raise ConfigError(f"data.num_workers must be >= 0, got {cfg.num_workers}")
    if not cfg.fps > 0:
        raise ConfigError(f"data.fps must be positive, got {cfg.fps}")
    if cfg.seed < 0:
        raise ConfigError(f"data.seed must be >= 0, got {cfg.seed}")
    zoom = cfg.zoom
    if not (
        isinstance(zoom, (list, tuple)) and len(zoom) == 2
        and all(isinstance(z, (int, float)) and not isinstance(z, bool) for z in zoom)
        and 1.0 <= zoom[0] <= zoom[1] <= MAX_ZOOM
    ):
        raise ConfigError(f"data.zoom must be [min, max] with 1 <= min <= max <= {MAX_ZOOM:g}, got {zoom!r}")
    if not (isinstance(cfg.hflip, (int, float)) and not isinstance(cfg.hflip, bool) and 0.0 <= cfg.hflip <= 1.0):
        raise ConfigError(f"data.hflip is a probability in [0, 1], got {cfg.hflip!r}")
    if cfg.source == "latents" and cfg.hflip:
        raise ConfigError("data.hflip does not apply to source='latents' (the autoencoder is not mirror-symmetric): "
                          "build mirrored latents instead, `kinema latents build ... --data.hflip=1 --out DIR`, and "
                          "train on both folders with --data.path=A" + os.pathsep + "B")
    if cfg.source != "videos" and list(zoom) != [1.0, 1.0]:
        raise ConfigError(f"data.zoom applies to source='videos' only (source is {cfg.source!r}); leave it [1, 1]")
    if world_size <= 0 or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in [0, world_size={world_size})")


def infinite(loader: BatchLoader, *, start_step: int = 0) -> Iterator[Batch]:
    """Batches forever, starting at loader step ``start_step`` (for step-based training/resume).

    Videos: epoch ``e`` covers steps ``[e * len(loader), (e + 1) * len(loader))``; each epoch
    calls ``set_epoch``. Resuming is exact as long as no item failed at load time (a skipped
    empty batch shifts later steps by one). World: the stream starts at ``start_step``.
    """
    if loader.is_stream:
        loader.set_start_step(start_step)
        yield from loader
        return
    per_epoch = len(loader)
    if per_epoch == 0:
        raise KinemaError("the dataset yields no batches (no usable clips on this rank)")
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        loader.set_epoch(epoch, start_batch=skip)
        yield from loader
        epoch, skip = epoch + 1, 0
