"""Shape buckets: every training batch holds clips of one ``(frames, height, width)``.

A run lists its buckets as ``FRAMESxHEIGHTxWIDTH`` strings (``"17x64x96"``), so one run trains on
several durations, resolutions and aspect ratios without padding or cropping to one shape.

- ``parse_bucket`` / ``parse_buckets`` turn the strings into ``Bucket`` values.
- ``assign_bucket`` picks the bucket a source of a given size and length goes to.
- ``BucketBatchSampler`` yields batches of dataset indices that share one bucket, shuffled per
  epoch from a seed and sharded over data-parallel ranks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Sampler

from kinema.errors import KinemaError

_BUCKET_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Bucket:
    """One batch shape: ``frames`` x ``height`` x ``width`` pixels (a video of shape ``(C, T, H, W)``)."""

    frames: int
    height: int
    width: int

    @property
    def aspect(self) -> float:
        """Width over height (``> 1`` is landscape)."""
        return self.width / self.height

    @property
    def area(self) -> int:
        """Pixels per frame, ``height * width``."""
        return self.height * self.width

    @property
    def is_image(self) -> bool:
        """A 1-frame bucket, which holds still images (and single frames of videos)."""
        return self.frames == 1

    def __str__(self) -> str:
        return f"{self.frames}x{self.height}x{self.width}"


def parse_bucket(text: str) -> Bucket:
    """``"17x64x96"`` -> ``Bucket(frames=17, height=64, width=96)``; ``KinemaError`` if malformed."""
    match = _BUCKET_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise KinemaError(
            f"bucket {text!r} is not FRAMESxHEIGHTxWIDTH with whole numbers (for example '17x64x96')"
        )
    frames, height, width = (int(g) for g in match.groups())
    if min(frames, height, width) <= 0:
        raise KinemaError(f"bucket {text!r} must have positive frames, height and width")
    return Bucket(frames, height, width)


def parse_buckets(texts: Sequence[str]) -> list[Bucket]:
    """Parse a list of bucket strings; rejects an empty list and duplicates (order is kept)."""
    if isinstance(texts, str):
        texts = [texts]
    if not texts:
        raise KinemaError("buckets is empty: list at least one FRAMESxHEIGHTxWIDTH bucket, e.g. ['17x64x64']")
    buckets = [parse_bucket(t) for t in texts]
    seen: set[Bucket] = set()
    for text, bucket in zip(texts, buckets, strict=True):
        if bucket in seen:
            raise KinemaError(f"bucket {text!r} is listed twice in buckets {list(texts)}")
        seen.add(bucket)
    return buckets


def assign_bucket(
    buckets: Sequence[Bucket], *, height: int, width: int, frames: int | None
) -> Bucket | None:
    """The bucket for a source of ``height x width`` pixels and ``frames`` frames, or ``None``.

    ``frames`` counts the frames the source has *at the training frame rate*; ``None`` means
    unbounded (a stream such as the procedural world). Rules:

    1. A still image (``frames == 1``) only goes to 1-frame buckets.
    2. A video (``frames > 1`` or ``None``) goes to a multi-frame bucket with ``bucket.frames <=
       frames`` when one exists; only when none fits (the video is shorter than every
       multi-frame bucket) can it fill a 1-frame bucket with one of its frames.
    3. Among the candidates, the one whose aspect ratio is closest to the source's (distance
       ``|log(aspect_bucket / aspect_source)|``) wins; ties go to more frames, then larger area.

    Resolution does not restrict the choice: the reader resizes to cover the bucket, then crops.
    """
    if height <= 0 or width <= 0:
        raise KinemaError(f"source size must be positive, got {height}x{width}")
    if frames is not None and frames <= 0:
        return None
    stills = [b for b in buckets if b.is_image]
    if frames == 1:
        candidates = stills
    else:
        candidates = [b for b in buckets if not b.is_image and (frames is None or b.frames <= frames)]
        candidates = candidates or stills
    if not candidates:
        return None
    src_log_aspect = math.log(width / height)

    def key(b: Bucket) -> tuple[float, int, int]:
        distance = round(abs(math.log(b.aspect) - src_log_aspect), 9)  # round: exact ties stay ties
        return (distance, -b.frames, -b.area)

    return min(candidates, key=key)


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices in which every index has the same bucket.

    ``bucket_of[i]`` is the bucket of dataset item ``i``. Each epoch (``set_epoch``), the indices of
    each bucket are shuffled and cut into batches of ``batch_size`` (the last, smaller batch of a
    bucket is kept unless ``drop_last``), then the order of all batches is shuffled. Everything
    is drawn from a generator seeded with ``(seed, epoch)``, so the order is reproducible.

    Sharding: every rank computes the same global batch list and takes batches ``rank,
    rank + world_size, ...``. So every rank yields the same number of batches (what
    data-parallel training needs), the list is first cut to a multiple of ``world_size``
    (``drop_last``) or padded with batches from its start (otherwise; then a few batches are
    seen twice in that epoch).
    """

    def __init__(
        self,
        bucket_of: Sequence[Bucket],
        batch_size: int,
        *,
        seed: int,
        shuffle: bool = True,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size <= 0:
            raise KinemaError(f"batch_size must be positive, got {batch_size}")
        if world_size <= 0 or not 0 <= rank < world_size:
            raise KinemaError(f"rank {rank} is not in [0, world_size={world_size})")
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_batch = 0
        groups: dict[Bucket, list[int]] = {}
        for index, bucket in enumerate(bucket_of):
            groups.setdefault(bucket, []).append(index)
        self.groups: dict[Bucket, list[int]] = dict(sorted(groups.items()))

    def set_epoch(self, epoch: int, *, start_batch: int = 0) -> None:
        """Choose the shuffle of ``epoch`` (call before iterating, as with ``DistributedSampler``).

        ``start_batch`` skips this rank's first batches of the epoch (to resume mid-epoch) without
        touching the data; ``len()`` still counts the whole epoch.
        """
        if start_batch < 0:
            raise KinemaError(f"start_batch must be >= 0, got {start_batch}")
        self.epoch = epoch
        self.start_batch = start_batch

    def _global_batch_count(self) -> int:
        per_bucket = (
            len(ix) // self.batch_size if self.drop_last else math.ceil(len(ix) / self.batch_size)
            for ix in self.groups.values()
        )
        return sum(per_bucket)

    def __len__(self) -> int:
        """Batches this rank yields per epoch."""
        total = self._global_batch_count()
        if self.drop_last:
            return total // self.world_size
        return math.ceil(total / self.world_size)

    def global_batches(self) -> list[list[int]]:
        """All ranks' batches of the current epoch, in order, before sharding."""
        generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        batches: list[list[int]] = []
        for indices in self.groups.values():
            if self.shuffle:
                order = torch.randperm(len(indices), generator=generator).tolist()
                indices = [indices[i] for i in order]
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start : start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            order = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[i] for i in order]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.global_batches()
        per_rank = len(self)
        needed = per_rank * self.world_size
        if needed > len(batches) and batches:  # pad by wrapping around
            batches = batches + [batches[i % len(batches)] for i in range(needed - len(batches))]
        yield from batches[self.rank : needed : self.world_size][self.start_batch :]


def mix_seed(*parts: int) -> int:
    """A 63-bit generator seed from several integers (well mixed: nearby inputs give unrelated seeds).

    ``mix_seed(seed, epoch)`` seeds an epoch's shuffle; the dataset uses it for per-step and
    per-item generators. Negative parts are taken modulo ``2**64``.
    """
    entropy = [int(p) % 2**64 for p in parts]
    lo, hi = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return ((int(hi) << 32) | int(lo)) & (2**63 - 1)
