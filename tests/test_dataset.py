"""Datasets: the world stream and folders/manifests of real videos, batched by bucket."""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from kinema.config import DataConfig
from kinema.data.buckets import Bucket
from kinema.data.dataset import (
    VideoDataset,
    WorldDataset,
    build_dataloader,
    collate_clips,
    find_entries,
    infinite,
    plan_clips,
    to_model_video,
    to_uint8_frames,
)
from kinema.data.video_io import write_video
from kinema.errors import ConfigError, KinemaError

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
BUCKETS = ["9x32x32", "5x24x40", "1x32x32"]


# --------------------------------------------------------------------------- helpers


def _frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 (T, H, W, 3): a smooth gradient whose brightness changes over time (codec friendly)."""
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    out = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        phase = (i / max(t, 1) + seed * 0.13) % 1.0
        out[i, ..., 0] = 255 * (0.2 + 0.6 * xx * (1 - phase))
        out[i, ..., 1] = 255 * (0.2 + 0.6 * yy * phase)
        out[i, ..., 2] = 40 + 150 * phase
    return out


def _cfg(**kw) -> DataConfig:
    base = dict(source="videos", buckets=list(BUCKETS), fps=8.0, batch_size=2, crop="center", seed=0)
    base.update(kw)
    return DataConfig(**base)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """A folder of small videos of several sizes/lengths, a png, a corrupt and an empty file."""
    root = tmp_path_factory.mktemp("media")
    write_video(root / "square.mp4", _frames(12, 32, 32, 1), 8)  # 12 frames @ 8 -> 9x32x32
    write_video(root / "sub" / "wide.mp4", _frames(8, 24, 48, 2), 8)  # aspect 2 -> 5x24x40
    write_video(root / "sub" / "long.mkv", _frames(30, 40, 64, 3), 16)  # 1.875 s -> 15 frames @ 8
    write_video(root / "tiny.gif", _frames(3, 20, 20, 4), 8)  # 3 frames: too short for 5 -> 1 frame
    from PIL import Image

    Image.fromarray(_frames(1, 30, 30, 5)[0]).save(root / "still.png")
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(300))
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.md").write_text("not media")
    (root / "square.txt").write_text("a square clip\n")
    (root / "still.png.txt").write_text("a still image")
    return root


# --------------------------------------------------------------------------- pixels


def test_pixel_round_trip():
    frames = np.random.default_rng(0).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    video = to_model_video(frames)
    assert video.shape == (3, 3, 4, 5) and video.dtype == torch.float32
    assert video.min() >= -1 and video.max() <= 1
    assert torch.equal(to_model_video(np.full((1, 1, 1, 3), 255, np.uint8)), torch.ones(3, 1, 1, 1))
    assert np.array_equal(to_uint8_frames(video), frames)
    batched = to_uint8_frames(torch.stack([video, video]))
    assert batched.shape == (2, 3, 4, 5, 3)
    assert to_uint8_frames(torch.full((3, 1, 1, 1), 7.0)).max() == 255  # clipped
    with pytest.raises(KinemaError):
        to_model_video(np.zeros((4, 5, 3), np.uint8))


# --------------------------------------------------------------------------- videos: folder


def test_folder_dataset_buckets_and_skips(media, caplog):
    with caplog.at_level(logging.WARNING):
        ds = VideoDataset(_cfg(path=str(media)))
    by_name = {Path(c.entry.path).name: c.bucket for c in ds.clips}
    assert by_name == {
        "square.mp4": Bucket(9, 32, 32),
        "wide.mp4": Bucket(5, 24, 40),
        "long.mkv": Bucket(5, 24, 40),
        "tiny.gif": Bucket(1, 32, 32),  # too short for any multi-frame bucket
        "still.png": Bucket(1, 32, 32),
    }
    skipped = {Path(p).name: reason for p, reason in ds.skipped}
    assert set(skipped) == {"corrupt.mp4", "empty.mp4"}
    assert "empty" in skipped["empty.mp4"]
    assert "corrupt.mp4" in caplog.text and "empty.mp4" in caplog.text
    assert "have no caption" in caplog.text  # 3 of 5 uncaptioned, reported once
    captions = {Path(c.entry.path).name: c.entry.caption for c in ds.clips}
    assert captions["square.mp4"] == "a square clip" and captions["still.png"] == "a still image"


def test_folder_items_have_bucket_shapes(media):
    ds = VideoDataset(_cfg(path=str(media)))
    for i in range(len(ds)):
        item = ds[i]
        b = ds.bucket_of[i]
        assert item is not None, ds.clips[i].entry.path
        assert item["video"].shape == (3, b.frames, b.height, b.width)
        assert item["video"].dtype == torch.float32
        assert -1 <= item["video"].min() and item["video"].max() <= 1
        assert item["source"] == ds.clips[i].entry.path


def test_folder_loader_batches(media):
    loader = build_dataloader(_cfg(path=str(media)))
    batches = list(loader)
    assert len(batches) == len(loader) == 1 + 1 + 1  # 9x32x32: 1, 5x24x40: 2 -> 1, 1x32x32: 2 -> 1
    seen = []
    for batch in batches:
        b = batch["bucket"]
        assert batch["video"].shape[1:] == (3, b.frames, b.height, b.width)
        assert len(batch["caption"]) == len(batch["short_caption"]) == len(batch["source"]) == batch["video"].shape[0]
        seen += batch["source"]
    assert len(seen) == len(set(seen)) == 5
    assert loader.dropped_items == 0 and loader.empty_batches == 0


def test_parallel_probing_matches_serial(media):
    entries, _ = find_entries(media)
    entries = entries * 2  # > 8 entries: probed in threads
    buckets = [Bucket(9, 32, 32), Bucket(5, 24, 40), Bucket(1, 32, 32)]
    serial = plan_clips(entries, buckets, 8.0, threads=1)
    threaded = plan_clips(entries, buckets, 8.0, threads=4)
    assert serial == threaded
    assert len(threaded[0]) == 10 and len(threaded[1]) == 4


def test_json_list_manifest(media, tmp_path):
    manifest = tmp_path / "clips.json"
    manifest.write_text(json.dumps([{"path": str(media / "square.mp4"), "caption": "sq"}]))
    ds = VideoDataset(_cfg(path=str(manifest)))
    assert len(ds) == 1 and ds[0]["caption"] == "sq" and ds.bucket_of == [Bucket(9, 32, 32)]


def test_several_sources_joined_with_pathsep(media, tmp_path):
    """data.path = "A.json:FOLDER" (os.pathsep, as for latent folders) trains on both, A's entries first."""
    manifest = tmp_path / "clips.json"
    manifest.write_text(json.dumps([{"path": str(media / "square.mp4"), "caption": "sq"}]))
    alone, _ = find_entries(media / "sub")
    both, _ = find_entries(f"{manifest}{os.pathsep}{media / 'sub'}")
    assert [e.path for e in both] == [str(media / "square.mp4")] + [e.path for e in alone]
    ds = VideoDataset(_cfg(path=f"{manifest}{os.pathsep}{media / 'sub'}"))
    assert len(ds) == 1 + len(alone) and ds[0]["caption"] == "sq"
    with pytest.raises(KinemaError, match="missing"):
        find_entries(f"{manifest}{os.pathsep}{tmp_path / 'missing'}")


def test_too_short_without_image_bucket(media):
    ds = VideoDataset(_cfg(path=str(media), buckets=["9x32x32", "5x24x40"]))
    skipped = {Path(p).name: reason for p, reason in ds.skipped}
    assert "too short" in skipped["tiny.gif"]
    assert "1-frame bucket" in skipped["still.png"]


def test_random_crop_and_start_are_seeded(media):
    cfg = _cfg(path=str(media / "sub"), crop="random", seed=3)
    a, b = VideoDataset(cfg), VideoDataset(cfg)
    long_index = next(i for i, c in enumerate(a.clips) if c.entry.path.endswith("long.mkv"))
    assert torch.equal(a[long_index]["video"], b[long_index]["video"])
    videos = set()
    for epoch in range(6):
        a.epoch = epoch
        videos.add(a[long_index]["video"].sum().item())
    assert len(videos) > 1  # start point / crop change with the epoch


def test_zoom_is_a_seeded_scale_augmentation(media):
    cfg = _cfg(path=str(media / "sub"), crop="center", seed=3)
    plain = VideoDataset(cfg)
    long_index = next(i for i, c in enumerate(plain.clips) if c.entry.path.endswith("long.mkv"))
    same = VideoDataset(_cfg(path=str(media / "sub"), crop="center", seed=3, zoom=[1.0, 1.0]))
    assert torch.equal(plain[long_index]["video"], same[long_index]["video"])  # [1, 1] is off
    fixed = VideoDataset(_cfg(path=str(media / "sub"), crop="center", seed=3, zoom=[2.0, 2.0]))
    ranged = [VideoDataset(_cfg(path=str(media / "sub"), crop="center", seed=3, zoom=[1.0, 3.0])) for _ in range(2)]
    assert not torch.equal(plain[long_index]["video"], fixed[long_index]["video"])  # a closer view
    assert torch.equal(ranged[0][long_index]["video"], ranged[1][long_index]["video"])  # seeded
    views = set()
    for epoch in range(6):
        ranged[0].epoch = epoch
        views.add(ranged[0][long_index]["video"].sum().item())
    assert len(views) > 1  # the zoom changes with the epoch (the centre crop alone would not)


def test_hflip_mirrors_videos_with_their_captions(media, tmp_path):
    (tmp_path / "a.mp4").write_bytes((media / "square.mp4").read_bytes())
    (tmp_path / "a.txt").write_text("a red circle on the left moves right")
    plain = VideoDataset(_cfg(path=str(tmp_path), seed=3))[0]
    flipped = VideoDataset(_cfg(path=str(tmp_path), seed=3, hflip=1.0))[0]
    assert torch.equal(flipped["video"], plain["video"].flip(-1))
    assert (flipped["caption"], flipped["short_caption"]) == ("a red circle on the right moves left",) * 2
    assert flipped["source"] == plain["source"] + ":mirrored"
    half = VideoDataset(_cfg(path=str(tmp_path), seed=3, hflip=0.5))
    seen = set()
    for epoch in range(12):  # a fresh coin per epoch, the same coin for the same epoch
        half.epoch = epoch
        seen.add(half[0]["caption"])
        assert half[0]["caption"] == half[0]["caption"]
    assert seen == {"a red circle on the left moves right", "a red circle on the right moves left"}


# --------------------------------------------------------------------------- videos: manifests


def _write_manifests(media: Path, root: Path) -> tuple[Path, Path]:
    rel = f"../{media.name}"  # relative to the manifest's folder
    rows = [
        {"path": f"{rel}/square.mp4", "caption": "square", "detailed_caption": "a detailed square", "start": "", "end": ""},
        {"path": str(media / "sub" / "long.mkv"), "caption": "long part", "detailed_caption": "", "start": "0.5", "end": "1.5"},
        {"path": f"{rel}/sub/long.mkv", "caption": "too short part", "detailed_caption": "", "start": "1.0", "end": "1.25"},
        {"path": f"{rel}/missing.mp4", "caption": "gone", "detailed_caption": "", "start": "", "end": ""},
        {"path": f"{rel}/square.mp4", "caption": "bad start", "detailed_caption": "", "start": "abc", "end": ""},
    ]
    csv_path = root / "manifest.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    jsonl_path = root / "manifest.jsonl"
    lines = []
    for row in rows:
        obj = {k: v for k, v in row.items() if v != ""}
        for key in ("start", "end"):
            if key in obj and obj[key] != "abc":
                obj[key] = float(obj[key])
        lines.append(json.dumps(obj))
    lines.insert(2, "{not json")
    jsonl_path.write_text("\n".join(lines) + "\n\n")
    return csv_path, jsonl_path


@pytest.fixture(scope="module")
def manifests(media) -> tuple[Path, Path]:
    root = media.parent / "manifests"
    root.mkdir(exist_ok=True)
    return _write_manifests(media, root)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_manifest_dataset(manifests, kind):
    path = manifests[0] if kind == "csv" else manifests[1]
    ds = VideoDataset(_cfg(path=str(path), buckets=["9x32x32", "5x24x40"]))
    assert [c.entry.caption for c in ds.clips] == ["square", "long part"]
    assert [c.bucket for c in ds.clips] == [Bucket(9, 32, 32), Bucket(5, 24, 40)]
    assert ds.clips[1].span_start == 0.5 and ds.clips[1].span_seconds == pytest.approx(1.0)
    reasons = " | ".join(r for _, r in ds.skipped)
    assert "too short" in reasons and "file not found" in reasons and "'abc'" in reasons
    assert len(ds.skipped) == (3 if kind == "csv" else 4)  # + the invalid JSON line
    item = ds[0]
    assert item["caption"] == "a detailed square" and item["short_caption"] == "square"
    assert ds[1]["caption"] == "long part"  # no detailed caption: falls back to the short one
    short = VideoDataset(_cfg(path=str(path), buckets=["9x32x32", "5x24x40"], caption_field="caption"))
    assert short[0]["caption"] == "square"
    loader = build_dataloader(_cfg(path=str(path), buckets=["9x32x32", "5x24x40"], batch_size=4))
    assert sorted(str(b["bucket"]) for b in loader) == ["5x24x40", "9x32x32"]


def test_manifest_start_reads_from_start(media, manifests):
    """The manifest's start picks the frames: same as reading the file from that time."""
    from kinema.data.video_io import read_video

    ds = VideoDataset(_cfg(path=str(manifests[0]), buckets=["5x24x40"]))
    long_item = next(ds[i] for i in range(len(ds)) if ds.clips[i].entry.caption == "long part")
    expected = read_video(media / "sub" / "long.mkv", fps=8, start=0.5, num_frames=5, size=(24, 40))
    assert torch.equal(long_item["video"], to_model_video(expected))


def test_manifest_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,caption\na.mp4,x\n")
    with pytest.raises(KinemaError, match="no 'path' column"):
        VideoDataset(_cfg(path=str(bad)))
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"file": "a.mp4"}\n')
    with pytest.raises(KinemaError, match="no 'path'"):
        VideoDataset(_cfg(path=str(bad_jsonl)))
    with pytest.raises(KinemaError, match="does not exist"):
        VideoDataset(_cfg(path=str(tmp_path / "nope")))
    with pytest.raises(KinemaError, match="empty"):
        VideoDataset(_cfg(path=""))
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty_dir" / "readme.txt").write_text("hi")
    with pytest.raises(KinemaError, match="no video or image files"):
        VideoDataset(_cfg(path=str(tmp_path / "empty_dir")))
    txt = tmp_path / "list.txt"
    txt.write_text("a.mp4\n")
    with pytest.raises(KinemaError, match="csv"):
        VideoDataset(_cfg(path=str(txt)))
    only_missing = tmp_path / "missing.csv"
    only_missing.write_text("path,caption\nnope.mp4,x\n")
    with pytest.raises(KinemaError, match="no usable clips"):
        VideoDataset(_cfg(path=str(only_missing)))


def test_bad_buckets_and_config(media):
    with pytest.raises(KinemaError, match="FRAMESxHEIGHTxWIDTH"):
        build_dataloader(_cfg(path=str(media), buckets=["9x32"]))
    with pytest.raises(ConfigError, match="batch_size"):
        build_dataloader(_cfg(path=str(media), batch_size=0))
    with pytest.raises(ConfigError, match="rank"):
        build_dataloader(_cfg(path=str(media)), rank=2, world_size=2)
    with pytest.raises(ConfigError, match=r"data.zoom must be \[min, max\]"):
        build_dataloader(_cfg(path=str(media), zoom=[2.0, 1.0]))
    with pytest.raises(ConfigError, match="data.zoom applies to source='videos' only"):
        build_dataloader(DataConfig(source="world", zoom=[1.0, 2.0]))


# --------------------------------------------------------------------------- videos: render layout, workers, failures


def test_render_layout_folder(tmp_path):
    """A ``kinema world render`` folder (captions.csv, paths relative to it) read by folder path."""
    from kinema.world.export import RenderArgs, render_folder

    render_folder(tmp_path, RenderArgs(clips=3, width=48, height=32, seconds=1.25, fps=8), progress=False)
    write_video(tmp_path / "videos" / "extra.mp4", _frames(10, 32, 48), 8)  # not listed: not used
    loader = build_dataloader(_cfg(path=str(tmp_path), buckets=["9x32x48"], batch_size=3))
    (batch,) = list(loader)
    assert batch["video"].shape == (3, 3, 9, 32, 48)
    with (tmp_path / "captions.csv").open() as f:
        rows = {str(tmp_path / r["path"]): r for r in csv.DictReader(f)}
    assert sorted(batch["source"]) == sorted(rows)
    for source, caption, short in zip(batch["source"], batch["caption"], batch["short_caption"], strict=True):
        assert caption == rows[source]["detailed_caption"] and short == rows[source]["caption"]


def test_num_workers_gives_same_batches(media):
    cfg = _cfg(path=str(media), crop="random", batch_size=1)
    serial = build_dataloader(cfg)
    parallel = build_dataloader(replace(cfg, num_workers=2))
    for epoch in (0, 1):
        serial.set_epoch(epoch)
        parallel.set_epoch(epoch)
        a, b = list(serial), list(parallel)
        assert [x["source"] for x in a] == [x["source"] for x in b]
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x["video"], y["video"])


def test_rank_sharding_equal_and_disjoint(media):
    cfg = _cfg(path=str(media), batch_size=1)
    loaders = [build_dataloader(cfg, rank=r, world_size=2) for r in range(2)]
    assert len(loaders[0]) == len(loaders[1]) == 3  # 5 batches -> padded to 6
    sources = [[s for batch in loader for s in batch["source"]] for loader in loaders]
    assert len(set(sources[0]) | set(sources[1])) == 5


def test_load_time_failure_is_skipped(tmp_path, caplog):
    write_video(tmp_path / "a.mp4", _frames(10, 32, 32), 8)
    write_video(tmp_path / "b.mp4", _frames(10, 32, 32, 1), 8)
    write_video(tmp_path / "c.mp4", _frames(6, 24, 40, 2), 8)
    loader = build_dataloader(_cfg(path=str(tmp_path), buckets=["9x32x32", "5x24x40"], batch_size=2))
    (tmp_path / "a.mp4").write_bytes(b"garbage" * 10)  # changed after probing
    (tmp_path / "c.mp4").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        batches = list(loader)
    assert [len(b["source"]) for b in batches] == [1]
    assert batches[0]["source"] == [str(tmp_path / "b.mp4")]
    assert loader.dropped_items == 2 and loader.empty_batches == 1
    assert "a.mp4 at load time" in caplog.text


def test_collate_drops_none():
    item = {"video": torch.zeros(3, 1, 2, 2), "caption": "c", "short_caption": "s", "source": "x",
            "bucket": Bucket(1, 2, 2)}
    batch, dropped = collate_clips([item, None, item])
    assert dropped == 1 and batch["video"].shape == (2, 3, 1, 2, 2) and batch["bucket"] == Bucket(1, 2, 2)
    assert collate_clips([None]) == (None, 1)


def test_infinite_crosses_epochs_and_resumes(media):
    cfg = _cfg(path=str(media / "sub"), buckets=["5x24x40"], batch_size=1)
    loader = build_dataloader(cfg)
    assert len(loader) == 2
    stream = infinite(loader)
    first = [next(stream)["source"][0] for _ in range(5)]
    assert sorted(first[:2]) == sorted(first[2:4])  # each epoch sees every clip
    resumed = infinite(build_dataloader(cfg), start_step=3)
    assert [next(resumed)["source"][0] for _ in range(2)] == first[3:5]


@pytest.mark.skipif(not (OPENCV_DATA / "vtest.avi").is_file(), reason="opencv-doc sample videos not installed")
def test_real_video_through_folder(tmp_path):
    (tmp_path / "vtest.avi").symlink_to(OPENCV_DATA / "vtest.avi")
    (tmp_path / "vtest.txt").write_text("people walking in a hall")
    entries, _ = find_entries(tmp_path)
    assert len(entries) == 1
    loader = build_dataloader(_cfg(path=str(tmp_path), buckets=["9x48x64", "9x64x48"], crop="random", seed=1))
    (batch,) = list(loader)
    assert batch["bucket"] == Bucket(9, 48, 64)  # 768x576 landscape
    assert batch["video"].shape == (1, 3, 9, 48, 64)
    assert batch["caption"] == ["people walking in a hall"]
    assert batch["video"].std() > 0.05  # real content, not a flat frame


# --------------------------------------------------------------------------- world


def _world_cfg(**kw) -> DataConfig:
    base = dict(source="world", buckets=["5x24x40"], fps=8.0, batch_size=2, seed=0)
    base.update(kw)
    return DataConfig(**base)


def test_world_batches_shapes_and_captions():
    loader = build_dataloader(_world_cfg())
    batch = next(iter(loader))
    assert batch["video"].shape == (2, 3, 5, 24, 40) and batch["video"].dtype == torch.float32
    assert -1 <= batch["video"].min() and batch["video"].max() <= 1
    assert batch["bucket"] == Bucket(5, 24, 40)
    assert all(s.startswith("world:") for s in batch["source"])
    assert len(set(batch["source"])) == 2
    # default caption_field is the detailed caption
    assert all(len(c) >= len(s) for c, s in zip(batch["caption"], batch["short_caption"], strict=True))
    assert batch["caption"] != batch["short_caption"]
    short = next(iter(build_dataloader(_world_cfg(caption_field="caption"))))
    assert short["caption"] == short["short_caption"] == batch["short_caption"]


def test_world_deterministic_and_rank_distinct():
    a = WorldDataset(_world_cfg(seed=4)).batch_at(3)
    b = WorldDataset(_world_cfg(seed=4)).batch_at(3)
    assert torch.equal(a["video"], b["video"]) and a["source"] == b["source"]
    other_seed = WorldDataset(_world_cfg(seed=5)).batch_at(3)
    assert other_seed["source"] != a["source"]
    r0 = WorldDataset(_world_cfg(seed=4), rank=0, world_size=2).batch_at(3)
    r1 = WorldDataset(_world_cfg(seed=4), rank=1, world_size=2).batch_at(3)
    assert not set(r0["source"]) & set(r1["source"])


def test_world_multi_bucket_weights():
    ds = WorldDataset(_world_cfg(buckets=["5x24x40", "9x32x32", "1x32x32"], bucket_weights=[1, 1, 0]))
    shapes = {ds.bucket_at(s) for s in range(40)}
    assert shapes == {Bucket(5, 24, 40), Bucket(9, 32, 32)}
    with pytest.raises(ConfigError, match="bucket_weights"):
        WorldDataset(_world_cfg(buckets=["5x24x40", "9x32x32"], bucket_weights=[1.0]))
    with pytest.raises(ConfigError, match="bucket_weights"):
        WorldDataset(_world_cfg(buckets=["5x24x40", "9x32x32"], bucket_weights=[0, 0]))


def test_world_num_workers_same_stream():
    """A multi-bucket run yields several shapes; workers and resuming do not change the stream."""
    cfg = _world_cfg(buckets=["5x24x40", "1x32x32"], batch_size=1)
    serial = infinite(build_dataloader(cfg))
    parallel = infinite(build_dataloader(replace(cfg, num_workers=2)))
    a = [next(serial) for _ in range(6)]
    b = [next(parallel) for _ in range(6)]
    assert {x["bucket"] for x in a} == {Bucket(5, 24, 40), Bucket(1, 32, 32)}
    for x in a:
        assert x["video"].shape[2:] == (x["bucket"].frames, x["bucket"].height, x["bucket"].width)
    for x, y in zip(a, b, strict=True):
        assert x["source"] == y["source"] and torch.equal(x["video"], y["video"])
    resumed = infinite(build_dataloader(cfg), start_step=2)
    assert next(resumed)["source"] == a[2]["source"]
    assert len({s for x in a for s in x["source"]}) == 6  # every step renders new clips


def test_world_rejects_negative_seed():
    with pytest.raises(ConfigError, match="seed"):
        build_dataloader(_world_cfg(seed=-1))


def test_empty_manifest(tmp_path):
    manifest = tmp_path / "empty.csv"
    manifest.write_text("path,caption\n")
    with pytest.raises(KinemaError, match="lists no entries"):
        VideoDataset(_cfg(path=str(manifest)))
