"""Precomputed autoencoder latents: encode a training set once, train the DiT on it many times.

On a CPU the frozen autoencoder's encode costs about three times the small DiT's forward and
backward on the same batch (world clips, 17x64x64, batch 8: ~1.0 s against ~0.3 s), and
rendering adds more. A latent dataset removes both from every step::

    kinema latents build --config configs/dit_world.toml --out runs/latents_world --clips 8192
    kinema train --config configs/dit_world.toml --data.source=latents --data.path=runs/latents_world

Layout of a latent dataset folder::

    index.json                   format, the encoder's fingerprint, latent grid per bucket, counts
    <bucket>/shard_00000.safetensors   latents (N, C, t, h, w) float16: the posterior means, raw
                                       (the DiT's run normalises them with its VAE's scale/shift)
                                 object_mask (N, t, h, w) uint8: latent positions that hold an
                                       object (world clips; all 0 for real videos)
                                 metadata: JSON lists "caption", "detailed_caption", "source"

Clips come from ``build_dataloader`` (world or video folders, any buckets), so a dataset holds
exactly what on-the-fly training would have encoded: world clip ``k`` of a bucket is the clip the
world stream renders at position ``k``. ``build`` is incremental: asking for more clips appends
shards, and a dataset is refused by a run whose autoencoder has a different *encoder* (its
fingerprint is in ``index.json``; a decoder-only fine-tune keeps the latents valid).

``LatentDataset`` streams whole batches like the world source: the bucket of global step ``s`` is
drawn by the bucket weights from ``(seed, s)`` and the clips of a bucket are visited in a fresh
permutation each epoch, all a pure function of ``(seed, rank, world_size, s)`` (exact resume).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from einops import reduce
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info
from tqdm import tqdm

from kinema.atomic import atomic_path, atomic_write_text
from kinema.config import DataConfig
from kinema.data.buckets import Bucket, mix_seed, parse_buckets
from kinema.errors import ConfigError, KinemaError

__all__ = [
    "LATENTS_FORMAT",
    "INDEX_FILE",
    "encoder_fingerprint",
    "latent_object_mask",
    "build_latents",
    "read_index",
    "latent_folders",
    "LatentDataset",
]

logger = logging.getLogger(__name__)

LATENTS_FORMAT = "kinema.latents"
INDEX_FILE = "index.json"
SHARD_CLIPS = 1024  # clips per shard file


# VAEConfig fields added after latent folders were first built, with the value that means "as before":
# they enter the fingerprint only when set otherwise, so the folders built before them stay valid
_LATER_FIELDS = {"linear_path": False}


def encoder_fingerprint(vae: torch.nn.Module) -> str:
    """SHA-256 (hex, 16 chars) of the encoder's weights and the latent layout: equal exactly when two
    autoencoders map every video to the same latents (decoders and latent scale/shift may differ)."""
    h = hashlib.sha256()
    cfg = vae.cfg  # type: ignore[attr-defined]
    layout = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("scale", "shift")
              and not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}
    h.update(json.dumps(layout, sort_keys=True).encode())
    for name, t in sorted(vae.encoder.state_dict().items()):  # type: ignore[attr-defined]
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def latent_object_mask(mask: Tensor, temporal_factor: int, spatial_factor: int) -> Tensor:
    """Pixel object mask (B, T, H, W) bool -> latent mask (B, t, h, w) bool: a latent position is an
    object's if any pixel it encodes is (frame 0 alone, then groups of ``temporal_factor`` frames,
    ``spatial_factor`` squares), as the causal VAE packs them."""
    ft, sf = temporal_factor, spatial_factor
    first = mask[:, :1].float()  # (B, 1, H, W)
    rest = reduce(mask[:, 1:].float(), "b (t f) h w -> b t h w", "max", f=ft) if mask.shape[1] > 1 else first[:, :0]
    both = torch.cat([first, rest], dim=1)  # (B, t, H, W)
    return reduce(both, "b t (h p) (w q) -> b t h w", "max", p=sf, q=sf) > 0


# --------------------------------------------------------------------------- building


def read_index(folder: str | Path) -> dict[str, Any]:
    """``index.json`` of a latent dataset, checked. Raises ``KinemaError`` naming the problem."""
    p = Path(folder) / INDEX_FILE
    if not p.is_file():
        raise KinemaError(f"{folder} is not a latent dataset (no {INDEX_FILE}); build one with "
                          f"`kinema latents build --config FILE --out {folder} --clips N`")
    try:
        index = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise KinemaError(f"cannot read {p}: {e}") from None
    if index.get("format") != LATENTS_FORMAT:
        raise KinemaError(f"{p} is not a kinema latent dataset index (format {index.get('format')!r})")
    return index


def latent_folders(path: str) -> list[Path]:
    """The latent dataset folders ``data.path`` names: one, or several joined with ``os.pathsep``."""
    folders = [Path(p) for p in path.split(os.pathsep) if p]
    if not folders:
        raise ConfigError("data.path names no latent dataset folder (source='latents')")
    return folders


def _shard_name(k: int) -> str:
    return f"shard_{k:05d}.safetensors"


@torch.no_grad()
def build_latents(vae: torch.nn.Module, data: DataConfig, out: str | Path, *, clips: int, bf16: bool = True,
                  progress: bool = True) -> dict[str, Any]:
    """Encode ``clips`` clips of every bucket of ``data`` with ``vae`` into the dataset folder ``out``
    (appending to what is there, if it was built by the same encoder from the same data). Returns
    the index. Each bucket's clips are what the data stream yields for that bucket alone, in order.
    """
    if clips < 1:
        raise ConfigError(f"clips must be >= 1, got {clips}")
    from kinema.data.dataset import build_dataloader, infinite  # here: dataset imports nothing from us

    out = Path(out)
    fp = encoder_fingerprint(vae)
    source = {"source": data.source, "path": data.path, "seed": data.seed, "split": data.split, "fps": data.fps,
              "crop": data.crop}
    if data.hflip:  # only when set: datasets built before hflip existed keep matching their index
        source["hflip"] = data.hflip
    index: dict[str, Any] = {"format": LATENTS_FORMAT, "encoder": fp, "data": source,
                             "latent_channels": vae.cfg.latent_channels, "buckets": {}}  # type: ignore[attr-defined]
    if (out / INDEX_FILE).exists():
        old = read_index(out)
        if old["encoder"] != fp or old["data"] != source:
            raise KinemaError(f"{out} was built by encoder {old['encoder']} from {old['data']}; this is encoder {fp} "
                              f"from {source}: use a new --out")
        index["buckets"] = old["buckets"]
    ft, sf = vae.cfg.temporal_factor, vae.cfg.spatial_factor  # type: ignore[attr-defined]
    device = next(vae.parameters()).device
    for bucket in parse_buckets(data.buckets):
        key = str(bucket)
        entry = index["buckets"].setdefault(key, {"clips": 0, "shards": [], "latent": None})
        have = entry["clips"]
        if have >= clips:
            continue
        one = dataclasses.replace(data, buckets=[key], bucket_weights=[], batch_size=min(data.batch_size, 16),
                                  caption_field="detailed_caption")
        stream = infinite(build_dataloader(one), start_step=have // one.batch_size)
        skip = have % one.batch_size
        buf: dict[str, list] = {"latents": [], "object_mask": [], "caption": [], "detailed_caption": [], "source": []}
        bar = tqdm(total=clips, initial=have, desc=f"latents {key}", unit="clip", disable=not progress)
        while have < clips:
            batch = next(stream)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                z = vae.encode(batch["video"].to(device)).mode().float()  # type: ignore[attr-defined]  # (B, C, t, h, w)
            mask = batch.get("object_mask")
            lm = (latent_object_mask(mask, ft, sf) if mask is not None
                  else torch.zeros(z.shape[0], *z.shape[2:], dtype=torch.bool))  # (B, t, h, w)
            n = min(z.shape[0] - skip, clips - have)
            sl = slice(skip, skip + n)
            buf["latents"].append(z[sl].cpu())
            buf["object_mask"].append(lm[sl].cpu())
            buf["caption"] += list(batch["short_caption"][sl])
            buf["detailed_caption"] += list(batch["caption"][sl])  # detailed (or the short one if none)
            buf["source"] += list(batch["source"][sl])
            have, skip = have + n, 0
            bar.update(n)
            if len(buf["caption"]) >= SHARD_CLIPS or have == clips:
                _write_shard(out / key, entry, buf)
                entry["clips"] = have
                entry["latent"] = list(z.shape[1:])
                buf = {k: [] for k in buf}
                _write_index(out, index)  # after every shard: an interrupted build resumes from here
        bar.close()
    _write_index(out, index)
    return index


def _write_shard(folder: Path, entry: dict[str, Any], buf: dict[str, list]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = _shard_name(len(entry["shards"]))
    tensors = {"latents": torch.cat(buf["latents"]).to(torch.float16).contiguous(),
               "object_mask": torch.cat(buf["object_mask"]).to(torch.uint8).contiguous()}
    meta = {k: json.dumps(buf[k]) for k in ("caption", "detailed_caption", "source")}
    with atomic_path(folder / name) as tmp:
        save_file(tensors, str(tmp), metadata={"format": LATENTS_FORMAT, **meta})
    entry["shards"].append({"file": name, "clips": len(buf["caption"])})


def _write_index(out: Path, index: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / INDEX_FILE, json.dumps(index, indent=1))


# --------------------------------------------------------------------------- training stream


class _Bucket:
    """All clips of one bucket, in memory: latents (N, C, t, h, w) fp16, masks (N, t, h, w), captions;
    from one or several dataset folders (``parts``: each bucket folder with its index entry)."""

    def __init__(self, parts: list[tuple[Path, dict[str, Any]]]) -> None:
        lat, masks, self.caption, self.detailed, self.source = [], [], [], [], []
        paths = [folder / shard["file"] for folder, entry in parts for shard in entry["shards"]]
        for path in paths:
            try:
                with safe_open(str(path), framework="pt") as f:
                    meta = f.metadata() or {}
                    lat.append(f.get_tensor("latents"))
                    masks.append(f.get_tensor("object_mask"))
            except Exception as e:  # noqa: BLE001 - safetensors raises several types
                raise KinemaError(f"cannot read latent shard {path}: {e}") from None
            self.caption += json.loads(meta.get("caption", "[]"))
            self.detailed += json.loads(meta.get("detailed_caption", "[]"))
            self.source += json.loads(meta.get("source", "[]"))
        where = " and ".join(str(folder) for folder, _ in parts)
        if not lat:
            raise KinemaError(f"{where} holds no shards")
        self.latents = torch.cat(lat)
        self.mask = torch.cat(masks).bool()
        if not (len(self.caption) == len(self.detailed) == len(self.source) == self.latents.shape[0] == self.mask.shape[0]):
            raise KinemaError(f"latent shards in {where} disagree on their clip counts (a broken build?)")

    def __len__(self) -> int:
        return self.latents.shape[0]


class LatentDataset(IterableDataset):
    """Batches from a latent dataset folder (``DataConfig(source="latents", path=FOLDER)``), or from
    several joined with ``os.pathsep`` (``A:B``: each bucket holds the clips of every folder that has
    it, in that order; all must come from one encoder), e.g. a dataset and its mirrored twin.

    Yields dicts like the other sources but with ``latents`` (B, C, t, h, w) fp32 (raw posterior
    means) and ``latent_object_mask`` (B, t, h, w) bool instead of ``video``/``object_mask``;
    ``caption`` follows ``cfg.caption_field``. Step ``s`` is a pure function of
    ``(cfg, rank, world_size, s)`` (see the module docstring); ``start_step`` resumes the stream.
    """

    def __init__(self, cfg: DataConfig, *, rank: int = 0, world_size: int = 1, start_step: int = 0) -> None:
        from kinema.data.dataset import _bucket_weights  # one validation of bucket weights

        self.cfg = cfg
        self.folders = latent_folders(cfg.path)
        indexes = [read_index(f) for f in self.folders]
        self.folder, self.index = self.folders[0], indexes[0]
        for f, idx in zip(self.folders[1:], indexes[1:], strict=True):
            if (idx["encoder"], idx["latent_channels"]) != (self.index["encoder"], self.index["latent_channels"]):
                raise ConfigError(f"latent datasets {self.folder} and {f} come from different encoders "
                                  f"({self.index['encoder']} and {idx['encoder']}): train on one encoder's latents")
        self.buckets: list[Bucket] = parse_buckets(cfg.buckets)
        self.weights = _bucket_weights(cfg.bucket_weights, self.buckets)
        missing = [str(b) for b in self.buckets if not any(str(b) in idx["buckets"] for idx in indexes)]
        if missing:
            have = ", ".join(sorted({k for idx in indexes for k in idx["buckets"]})) or "none"
            raise ConfigError(f"latent dataset {cfg.path} has no bucket {', '.join(missing)} (it has: {have}); "
                              f"add them with `kinema latents build --out {self.folder} --data.buckets=[...]`")
        self.data = {b: _Bucket([(f / str(b), idx["buckets"][str(b)])
                                 for f, idx in zip(self.folders, indexes, strict=True) if str(b) in idx["buckets"]])
                     for b in self.buckets}
        self.rank, self.world_size, self.start_step = rank, world_size, start_step

    @property
    def encoder(self) -> str:
        """The fingerprint of the encoder that made these latents (``encoder_fingerprint``)."""
        return str(self.index["encoder"])

    def bucket_at(self, step: int) -> Bucket:
        """The bucket of global step ``step`` (the same on every rank)."""
        if len(self.buckets) == 1:
            return self.buckets[0]
        g = torch.Generator().manual_seed(mix_seed(self.cfg.seed, step))
        return self.buckets[int(torch.multinomial(self.weights, 1, generator=g))]

    def indices(self, bucket: Bucket, step: int) -> list[int]:
        """Clip indices of this rank's batch at ``step``: position ``p`` of the bucket's stream is
        clip ``perm_e[p % N]`` with a fresh permutation per epoch ``e = p // N``."""
        n = len(self.data[bucket])
        first = (step * self.world_size + self.rank) * self.cfg.batch_size
        out, perms = [], {}
        for p in range(first, first + self.cfg.batch_size):
            epoch, k = divmod(p, n)
            if epoch not in perms:
                g = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 0x1A7E, bucket.frames, bucket.height, bucket.width, epoch))
                perms[epoch] = torch.randperm(n, generator=g)
            out.append(int(perms[epoch][k]))
        return out

    def batch_at(self, step: int) -> dict[str, Any]:
        b = self.bucket_at(step)
        d, idx = self.data[b], self.indices(b, step)
        pick = torch.tensor(idx)
        detailed = self.cfg.caption_field == "detailed_caption"
        return {
            "latents": d.latents[pick].float(),  # (B, C, t, h, w)
            "latent_object_mask": d.mask[pick],  # (B, t, h, w)
            "caption": [(d.detailed[i] or d.caption[i]) if detailed else d.caption[i] for i in idx],
            "short_caption": [d.caption[i] for i in idx],
            "source": [d.source[i] for i in idx],
            "bucket": b,
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        k = 0
        while True:
            yield self.batch_at(self.start_step + k * workers + worker)
            k += 1
