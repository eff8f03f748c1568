"""Left-right mirroring (data.hflip): the video and its captions change together, per clip and
reproducibly, on every source; latent datasets take a mirrored twin folder."""

from __future__ import annotations

import os

import pytest
import torch

from kinema.config import DataConfig
from kinema.data.dataset import WorldDataset, build_dataloader
from kinema.data.latents import LatentDataset, build_latents, read_index
from kinema.data.mirror import mirror_caption, mirrored
from kinema.errors import ConfigError, KinemaError
from kinema.models.vae import load_vae
from kinema.world import render_clip

pytestmark = pytest.mark.usefixtures("one_thread")

WORLD = DataConfig(source="world", buckets=["5x16x24"], batch_size=4, seed=3)


def test_mirror_caption_swaps_left_right_and_rotation_only():
    text = ("A small blue hexagon in the top left and a medium yellow circle on the right. The blue hexagon is "
            "left of the yellow circle. The blue hexagon moves up-right slowly. The star rotates counterclockwise. "
            "The camera pans left. Left, RIGHT. The brightly lit circle falls down.")
    want = ("A small blue hexagon in the top right and a medium yellow circle on the left. The blue hexagon is "
            "right of the yellow circle. The blue hexagon moves up-left slowly. The star rotates clockwise. "
            "The camera pans right. Right, LEFT. The brightly lit circle falls down.")
    assert mirror_caption(text) == want
    assert mirror_caption(want) == text  # an involution on the world's words
    with pytest.raises(KinemaError, match="a caption must be a str"):
        mirror_caption(None)  # type: ignore[arg-type]


def test_mirrored_is_a_seeded_coin():
    assert not any(mirrored(0.0, 0, k) for k in range(50)) and all(mirrored(1.0, 0, k) for k in range(50))
    draws = [mirrored(0.5, 7, k) for k in range(400)]
    assert draws == [mirrored(0.5, 7, k) for k in range(400)]
    assert 150 < sum(draws) < 250
    assert draws != [mirrored(0.5, 8, k) for k in range(400)]


def test_world_clips_mirror_with_their_captions_and_masks():
    plain, flipped = WorldDataset(WORLD).batch_at(2), WorldDataset(DataConfig(**{**WORLD.__dict__, "hflip": 1.0})).batch_at(2)
    assert torch.equal(flipped["video"], plain["video"].flip(-1))
    assert torch.equal(flipped["object_mask"], plain["object_mask"].flip(-1))
    assert flipped["caption"] == [mirror_caption(c) for c in plain["caption"]]
    assert flipped["short_caption"] == [mirror_caption(c) for c in plain["short_caption"]]
    assert flipped["source"] == [s + ":mirrored" for s in plain["source"]]
    # the mirrored clip is the world's own render of that seed, flipped pixel for pixel
    seed = int(plain["source"][0].split(":")[1])
    clip = render_clip(seed, width=24, height=16, fps=8.0, num_frames=5)
    assert torch.equal(torch.from_numpy(clip.frames[:, :, ::-1].copy()).float(),
                       ((flipped["video"][0].permute(1, 2, 3, 0) + 1) * 127.5).round())
    half = DataConfig(**{**WORLD.__dict__, "hflip": 0.5, "batch_size": 16})
    sources = WorldDataset(half).batch_at(0)["source"]
    assert sources == WorldDataset(half).batch_at(0)["source"]  # reproducible
    assert 0 < sum(s.endswith(":mirrored") for s in sources) < 16


def test_hflip_is_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"data.hflip is a probability in \[0, 1\], got 1.5"):
        build_dataloader(DataConfig(source="world", hflip=1.5))
    with pytest.raises(ConfigError, match="not mirror-symmetric"):
        build_dataloader(DataConfig(source="latents", path=str(tmp_path), hflip=1.0))


def test_mirrored_latents_twin_trains_with_the_original(vae_path, tmp_path):
    vae = load_vae(vae_path).eval()
    a, b = tmp_path / "plain", tmp_path / "mirror"
    build_latents(vae, DataConfig(source="world", buckets=["5x16x16", "1x16x16"], batch_size=4, seed=3), a, clips=4,
                  bf16=False, progress=False)
    build_latents(vae, DataConfig(source="world", buckets=["5x16x16"], batch_size=4, seed=3, hflip=1.0), b, clips=4,
                  bf16=False, progress=False)
    assert read_index(b)["data"]["hflip"] == 1.0 and "hflip" not in read_index(a)["data"]
    both = LatentDataset(DataConfig(source="latents", path=f"{a}{os.pathsep}{b}", buckets=["5x16x16", "1x16x16"],
                                    batch_size=2))
    video_bucket, image_bucket = both.buckets
    d = both.data[video_bucket]
    assert len(d) == 8 and len(both.data[image_bucket]) == 4  # the image bucket is only in the first folder
    assert d.source[4:] == [s + ":mirrored" for s in d.source[:4]]
    assert d.detailed[4:] == [mirror_caption(c) for c in d.detailed[:4]]
    assert not torch.equal(d.latents[4:], d.latents[:4])  # encoded from mirrored pixels, not copied
    with pytest.raises(ConfigError, match="has no bucket 9x16x16"):
        LatentDataset(DataConfig(source="latents", path=f"{a}{os.pathsep}{b}", buckets=["9x16x16"]))
