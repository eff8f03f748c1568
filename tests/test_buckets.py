"""Buckets: parsing, assignment rules and the bucketed, sharded batch sampler."""

from __future__ import annotations

import pytest

from kinema.data.buckets import (
    Bucket,
    BucketBatchSampler,
    assign_bucket,
    mix_seed,
    parse_bucket,
    parse_buckets,
)
from kinema.errors import KinemaError

# --------------------------------------------------------------------------- parsing


def test_parse_bucket_round_trip_and_aspect():
    b = parse_bucket("17x64x96")
    assert b == Bucket(frames=17, height=64, width=96)
    assert str(b) == "17x64x96"
    assert parse_bucket(str(b)) == b
    assert b.aspect == pytest.approx(1.5)
    assert b.area == 64 * 96
    assert parse_bucket(" 1 X 32 x 32 ").is_image


@pytest.mark.parametrize("text", ["17x64", "17x64x96x2", "axbxc", "17x-64x96", "17x64.5x96", "", "17 64 96"])
def test_parse_bucket_malformed(text):
    with pytest.raises(KinemaError, match="FRAMESxHEIGHTxWIDTH"):
        parse_bucket(text)


@pytest.mark.parametrize("text", ["0x64x64", "17x0x64", "17x64x0"])
def test_parse_bucket_non_positive(text):
    with pytest.raises(KinemaError, match="positive"):
        parse_bucket(text)


def test_parse_buckets_list_errors():
    assert parse_buckets(["9x32x32", "5x24x40"]) == [Bucket(9, 32, 32), Bucket(5, 24, 40)]
    with pytest.raises(KinemaError, match="empty"):
        parse_buckets([])
    with pytest.raises(KinemaError, match="twice"):
        parse_buckets(["9x32x32", "9x32x32"])
    with pytest.raises(KinemaError, match="'9x32'"):
        parse_buckets(["9x32x32", "9x32"])


def test_buckets_order_and_hash():
    assert sorted([Bucket(9, 32, 32), Bucket(5, 24, 40), Bucket(9, 24, 40)])[0] == Bucket(5, 24, 40)
    assert len({Bucket(9, 32, 32), parse_bucket("9x32x32")}) == 1


# --------------------------------------------------------------------------- assignment

SQUARE, WIDE, TALL = Bucket(9, 32, 32), Bucket(9, 24, 48), Bucket(9, 48, 24)


def test_assign_closest_aspect():
    buckets = [SQUARE, WIDE, TALL]
    assert assign_bucket(buckets, height=100, width=100, frames=50) == SQUARE
    assert assign_bucket(buckets, height=360, width=640, frames=50) == WIDE  # 16:9 -> 2:1
    assert assign_bucket(buckets, height=640, width=360, frames=50) == TALL
    assert assign_bucket(buckets, height=3, width=4, frames=50) == SQUARE  # 4:3 nearer 1:1 than 2:1


def test_assign_frames_must_fit():
    short, long = Bucket(5, 32, 32), Bucket(17, 32, 32)
    assert assign_bucket([short, long], height=32, width=32, frames=40) == long  # tie -> more frames
    assert assign_bucket([short, long], height=32, width=32, frames=16) == short
    assert assign_bucket([short, long], height=32, width=32, frames=17) == long
    assert assign_bucket([short, long], height=32, width=32, frames=4) is None
    assert assign_bucket([short, long], height=32, width=32, frames=None) == long  # unbounded stream


def test_assign_frame_fit_beats_aspect():
    # the only bucket with the right aspect is too long: the clip goes to a shorter one
    assert assign_bucket([Bucket(17, 24, 48), Bucket(5, 32, 32)], height=24, width=48, frames=9) == Bucket(5, 32, 32)


def test_assign_tie_prefers_larger_area():
    small, large = Bucket(9, 16, 16), Bucket(9, 32, 32)
    assert assign_bucket([small, large], height=64, width=64, frames=9) == large


def test_assign_images_only_to_one_frame_buckets():
    image = Bucket(1, 32, 32)
    assert assign_bucket([SQUARE, WIDE], height=32, width=32, frames=1) is None
    assert assign_bucket([SQUARE, image], height=32, width=32, frames=1) == image
    # a video prefers a multi-frame bucket even when the 1-frame bucket matches the aspect better
    assert assign_bucket([WIDE, image], height=32, width=32, frames=20) == WIDE
    # ... and fills the 1-frame bucket only when it is too short for every multi-frame bucket
    assert assign_bucket([WIDE, image], height=32, width=32, frames=5) == image


def test_assign_bad_size():
    with pytest.raises(KinemaError):
        assign_bucket([SQUARE], height=0, width=10, frames=9)


# --------------------------------------------------------------------------- sampler


def _bucket_of(n_per: tuple[int, ...] = (7, 5, 3)) -> list[Bucket]:
    shapes = [Bucket(9, 32, 32), Bucket(5, 24, 40), Bucket(1, 32, 32)]
    out = []
    for i in range(max(n_per)):  # interleave so indices of a bucket are not contiguous
        for shape, n in zip(shapes, n_per, strict=False):
            if i < n:
                out.append(shape)
    return out


def test_sampler_batches_are_single_bucket_and_cover_everything():
    bucket_of = _bucket_of()
    sampler = BucketBatchSampler(bucket_of, 2, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 4 + 3 + 2
    for batch in batches:
        assert len({bucket_of[i] for i in batch}) == 1
        assert 1 <= len(batch) <= 2
    assert sorted(i for b in batches for i in b) == list(range(len(bucket_of)))


def test_sampler_drop_last():
    bucket_of = _bucket_of()
    sampler = BucketBatchSampler(bucket_of, 2, seed=0, drop_last=True)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 + 2 + 1
    assert all(len(b) == 2 for b in batches)


def test_sampler_deterministic_per_seed_and_epoch():
    bucket_of = _bucket_of((20, 20, 20))
    a, b = BucketBatchSampler(bucket_of, 3, seed=1), BucketBatchSampler(bucket_of, 3, seed=1)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(BucketBatchSampler(bucket_of, 3, seed=2)) != first
    unshuffled = list(BucketBatchSampler(bucket_of, 3, seed=1, shuffle=False))
    assert unshuffled[0] == [2, 5, 8]  # sorted bucket order (1x32x32 first), then index order


@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("world_size", [2, 3])
def test_sampler_rank_sharding(world_size, drop_last):
    bucket_of = _bucket_of((11, 7, 4))
    samplers = [
        BucketBatchSampler(bucket_of, 2, seed=5, drop_last=drop_last, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    for s in samplers:
        s.set_epoch(3)
    shards = [list(s) for s in samplers]
    lengths = {len(s) for s in shards}
    assert lengths == {len(samplers[0])}  # every rank: same number of batches, len() is right
    total = samplers[0]._global_batch_count()
    if drop_last:
        # disjoint: no index on two ranks
        seen = [i for shard in shards for batch in shard for i in batch]
        assert len(seen) == len(set(seen))
        assert len(samplers[0]) == total // world_size
    else:
        # padded by wrap-around: every item appears, each rank's batches are distinct batches
        seen = {i for shard in shards for batch in shard for i in batch}
        assert seen == set(range(len(bucket_of)))
        assert len(samplers[0]) == -(-total // world_size)
    for shard in shards:
        for batch in shard:
            assert len({bucket_of[i] for i in batch}) == 1


def test_sampler_disjoint_when_divisible():
    bucket_of = [Bucket(9, 32, 32)] * 8 + [Bucket(5, 24, 40)] * 8
    shards = [list(BucketBatchSampler(bucket_of, 4, seed=0, rank=r, world_size=2)) for r in range(2)]
    a = {i for b in shards[0] for i in b}
    b = {i for b in shards[1] for i in b}
    assert not a & b and len(a | b) == 16


def test_sampler_errors():
    with pytest.raises(KinemaError):
        BucketBatchSampler([SQUARE], 0, seed=0)
    with pytest.raises(KinemaError):
        BucketBatchSampler([SQUARE], 1, seed=0, rank=2, world_size=2)


def test_mix_seed_is_stable_and_spreads():
    assert mix_seed(0, 1) == mix_seed(0, 1)
    assert len({mix_seed(0, e) for e in range(100)}) == 100
    assert mix_seed(1, 0) != mix_seed(0, 1)
    assert 0 <= mix_seed(-5, 2**70) < 2**63


def test_sampler_start_batch_resumes_mid_epoch():
    bucket_of = _bucket_of((10, 10, 10))
    sampler = BucketBatchSampler(bucket_of, 3, seed=0, rank=1, world_size=2)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start_batch=3)
    assert list(sampler) == full[3:]
    assert len(sampler) == len(full)
