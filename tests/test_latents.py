"""Precomputed latents: built from exactly the clips training would encode, streamed reproducibly,
refused by a run whose encoder differs, and trainable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kinema.cli import main
from kinema.config import DataConfig, load_config
from kinema.data.dataset import build_dataloader, infinite
from kinema.data.latents import LatentDataset, build_latents, encoder_fingerprint, read_index
from kinema.errors import ConfigError, KinemaError
from kinema.models.vae import load_vae, save_vae
from kinema.train.train_dit import DiTTrainConfig, DiTTrainer, train_dit

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "dit_tiny.toml"
WORLD = DataConfig(source="world", buckets=["5x16x16", "1x16x16"], batch_size=4, seed=3)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def built(vae_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("lat") / "latents"
    build_latents(load_vae(vae_path).eval(), WORLD, out, clips=6, bf16=False, progress=False)
    return out


def test_latents_are_the_clips_training_would_encode(vae_path, built):
    index = read_index(built)
    assert index["buckets"]["5x16x16"]["clips"] == 6 and index["buckets"]["1x16x16"]["latent"] == [4, 1, 4, 4]
    vae = load_vae(vae_path).eval()
    assert index["encoder"] == encoder_fingerprint(vae)
    one = DataConfig(source="world", buckets=["5x16x16"], batch_size=3, seed=3)
    stream = infinite(build_dataloader(one))
    videos = torch.cat([next(stream)["video"] for _ in range(2)])  # the world's first 6 clips of this bucket
    with torch.no_grad():
        want = vae.encode(videos).mode()  # (6, 4, 2, 4, 4)
    ds = LatentDataset(DataConfig(source="latents", path=str(built), buckets=["5x16x16"], batch_size=6))
    got = ds.data[ds.buckets[0]].latents.float()
    torch.testing.assert_close(got, want, atol=2e-3, rtol=2e-3)  # stored as float16
    captions = ds.data[ds.buckets[0]].detailed
    assert all(c.endswith(".") and len(c) > 20 for c in captions)


def test_building_more_appends_the_same_clips(vae_path, built, tmp_path):
    vae = load_vae(vae_path).eval()
    build_latents(vae, WORLD, tmp_path, clips=3, bf16=False, progress=False)
    build_latents(vae, WORLD, tmp_path, clips=6, bf16=False, progress=False)  # 3 more, in a second shard
    assert [s["clips"] for s in read_index(tmp_path)["buckets"]["5x16x16"]["shards"]] == [3, 3]
    cfg = DataConfig(source="latents", buckets=["5x16x16"], batch_size=2)
    a = LatentDataset(DataConfig(**{**cfg.__dict__, "path": str(tmp_path)}))
    b = LatentDataset(DataConfig(**{**cfg.__dict__, "path": str(built)}))
    assert torch.equal(a.data[a.buckets[0]].latents, b.data[b.buckets[0]].latents)
    assert a.data[a.buckets[0]].source == b.data[b.buckets[0]].source


def test_stream_is_reproducible_and_visits_every_clip_each_epoch(built):
    cfg = DataConfig(source="latents", path=str(built), buckets=["5x16x16", "1x16x16"], batch_size=2, seed=1)
    a, b = LatentDataset(cfg), LatentDataset(cfg)
    for s in range(8):
        x, y = a.batch_at(s), b.batch_at(s)
        assert torch.equal(x["latents"], y["latents"]) and x["source"] == y["source"] and x["bucket"] == y["bucket"]
    only = LatentDataset(DataConfig(source="latents", path=str(built), buckets=["5x16x16"], batch_size=2))
    epoch = [i for s in range(3) for i in only.indices(only.buckets[0], s)]
    assert sorted(epoch) == list(range(6))
    ranks = [LatentDataset(DataConfig(source="latents", path=str(built), buckets=["5x16x16"], batch_size=1),
                           rank=r, world_size=2) for r in range(2)]
    seen = [i for s in range(3) for r in ranks for i in r.indices(r.buckets[0], s)]
    assert sorted(seen) == list(range(6))  # two ranks split an epoch without overlap
    batch = a.batch_at(0)
    assert batch["latents"].dtype == torch.float32 and batch["latent_object_mask"].dtype == torch.bool


def test_bad_folders_and_buckets_are_reported(built, tmp_path):
    with pytest.raises(KinemaError, match="is not a latent dataset"):
        LatentDataset(DataConfig(source="latents", path=str(tmp_path), buckets=["5x16x16"]))
    with pytest.raises(ConfigError, match="has no bucket 9x16x16"):
        LatentDataset(DataConfig(source="latents", path=str(built), buckets=["9x16x16"]))


def test_training_on_latents_checks_the_encoder_and_learns(vae_path, built, tmp_path):
    extra = ["--sample_every=0", "--ckpt_every=100", "--data.source=latents", f"--data.path={built}"]
    cfg = load_config(DiTTrainConfig, CONFIG, [*extra, f"--vae={vae_path}", f"--out={tmp_path / 'run'}",
                                               "--steps=25", "--data.batch_size=4", "--object_weight=4"])
    train_dit(cfg, progress=False)
    losses = [json.loads(line)["loss"] for line in open(tmp_path / "run/log.jsonl")]
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5])

    trainer = DiTTrainer(cfg)  # the latents a batch gives are the normalised latents of its video
    batch = trainer.batches(cfg.data, 0).__next__()
    assert batch["latents"].shape[0] == 4
    x0 = trainer.encode(batch)
    torch.testing.assert_close(x0, trainer.vae.normalize(batch["latents"]))

    tuned = load_vae(vae_path)  # a decoder-only fine-tune keeps the latents valid ...
    with torch.no_grad():
        tuned.decoder.conv_out.bias.add_(0.1)
    save_vae(tuned, tmp_path / "dec.safetensors")
    DiTTrainer(load_config(DiTTrainConfig, CONFIG, [*extra, f"--vae={tmp_path / 'dec.safetensors'}",
                                                    f"--out={tmp_path / 'r2'}"]))
    with torch.no_grad():  # ... a changed encoder does not
        tuned.encoder.conv_out.bias.add_(0.1)
    save_vae(tuned, tmp_path / "enc.safetensors")
    with pytest.raises(ConfigError, match="were made by encoder .* rebuild them"):
        DiTTrainer(load_config(DiTTrainConfig, CONFIG, [*extra, f"--vae={tmp_path / 'enc.safetensors'}",
                                                        f"--out={tmp_path / 'r3'}"]))


def test_cli_builds_from_a_training_config(vae_path, tmp_path, capsys):
    rc = main(["latents", "build", "--config", str(CONFIG), "--out", str(tmp_path / "l"), "--clips", "2", "-q",
               f"--vae={vae_path}"])
    assert rc == 0 and "train on it with" in capsys.readouterr().out
    assert set(read_index(tmp_path / "l")["buckets"]) == {"5x16x16", "1x16x16"}
    rc = main(["latents", "build", "--config", str(CONFIG), "--out", str(tmp_path / "l"), "--clips", "2", "-q",
               f"--vae={vae_path}", "--data.seed=9"])
    assert rc == 2 and "use a new --out" in capsys.readouterr().err


def test_a_video_folder_builds_too(vae_path, tmp_path):
    from kinema.world.export import RenderArgs, render_folder

    render_folder(tmp_path / "clips", RenderArgs(clips=3, width=16, height=16, seconds=1.0, fps=8.0), progress=False)
    data = DataConfig(source="videos", path=str(tmp_path / "clips"), buckets=["5x16x16"], batch_size=2, crop="center")
    vae = load_vae(vae_path).eval()
    build_latents(vae, data, tmp_path / "lat", clips=3, bf16=False, progress=False)
    ds = LatentDataset(DataConfig(source="latents", path=str(tmp_path / "lat"), buckets=["5x16x16"], batch_size=3))
    d = ds.data[ds.buckets[0]]
    assert len(d) == 3 and not d.mask.any()  # real videos carry no object masks
    assert sorted(Path(s).name for s in d.source) == sorted(p.name for p in (tmp_path / "clips").rglob("*.mp4"))
    video = next(infinite(build_dataloader(DataConfig(**{**data.__dict__, "batch_size": 3}))))
    with torch.no_grad():
        want = vae.encode(video["video"]).mode()
    order = [d.source.index(s) for s in video["source"]]
    torch.testing.assert_close(d.latents[order].float(), want, atol=2e-3, rtol=2e-3)


def test_committed_autoencoders_keep_their_fingerprints():
    """Latent folders built on the committed autoencoders (hours of CPU each) stay valid: a new
    VAEConfig field must not change an existing encoder's fingerprint (``latents._LATER_FIELDS``)."""
    root = Path(__file__).resolve().parents[1] / "weights"
    default, world4 = load_vae(root / "default" / "vae.safetensors"), load_vae(root / "vae_world4.safetensors")
    assert encoder_fingerprint(default) == "c59bc82d78db6132"  # update only when the encoder itself changes
    assert encoder_fingerprint(world4) == "9c7be0b5fd381e3f"
    default.cfg.linear_path = True  # a field set otherwise does count
    assert encoder_fingerprint(default) != "c59bc82d78db6132"
