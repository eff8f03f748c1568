"""Data parallelism: single-process no-ops, and a 2-process CPU (gloo) DiT training run under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from kinema import parallel
from kinema.config import DataConfig
from kinema.data.dataset import WorldDataset
from kinema.errors import KinemaError
from kinema.models.bundle import load_bundle
from kinema.models.vae import VideoVAE, save_vae, vae_config

ROOT = Path(__file__).resolve().parents[1]


def test_single_process_is_a_no_op(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    rank, world, device = parallel.init_distributed()
    assert (rank, world) == (0, 1) and device.type in ("cpu", "cuda")
    assert parallel.is_main() and parallel.world_size() == 1
    model = nn.Linear(2, 2)
    for kind in ("none", "ddp", "fsdp"):
        assert parallel.wrap_model(model, kind) is model
    with parallel.no_sync(model):
        model(torch.ones(1, 2)).sum().backward()
    t = torch.tensor([3.0])
    assert parallel.all_reduce_mean(t) is t and t.item() == 3.0
    assert parallel.all_gather_object({"a": 1}) == [{"a": 1}]
    parallel.barrier()
    parallel.cleanup()
    with pytest.raises(KinemaError, match="parallel kind"):
        parallel.wrap_model(model, "tp")  # type: ignore[arg-type]


def test_torchrun_two_processes_train_on_different_data(tmp_path):
    torch.manual_seed(0)
    save_vae(VideoVAE(vae_config("tiny")), tmp_path / "vae.safetensors")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "kinema.train.train_dit", "--config", str(ROOT / "configs" / "dit_tiny.toml"), "-q",
           f"--vae={tmp_path / 'vae.safetensors'}", f"--out={tmp_path / 'run'}", "--steps=2", "--threads=1",
           "--data.batch_size=1", "--log_sources=true", "--sample_every=0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.count("wrote") == 1  # only rank 0 reports

    bundle = load_bundle(tmp_path / "run" / "model")
    assert bundle.dit.cfg.dim == 32 and bundle.info.train["steps"] == 2
    logs = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    assert [r["step"] for r in logs] == [1, 2]
    # each rank got its own shard; together they are a 1-process run with twice the batch
    one = WorldDataset(DataConfig(buckets=["5x16x16", "1x16x16"], batch_size=2))
    for r in logs:
        rank0, rank1 = r["sources"]
        assert len(rank0) == len(rank1) == 1 and set(rank0).isdisjoint(rank1)
        assert rank0 + rank1 == [f"world:{s}" for s in one.clip_seeds(r["step"] - 1)]
