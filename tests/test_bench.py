"""The benchmark harness: interleaved timing, per-child peak memory, the kinema model spec, FLOP
counting and the markdown report (the diffusers peers are not needed here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.dit import count_flops
from bench.peers import Work, kinema_dit
from bench.report import write_markdown
from bench.timing import interleaved, median, run_measured
from einops import rearrange


def test_interleaved_runs_cases_round_by_round() -> None:
    calls: list[str] = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4  # one warm-up round, then 3 timed rounds, alternating
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="repeats"):
        interleaved({"a": lambda: None}, repeats=0)


def test_run_measured_reports_the_childs_own_peak() -> None:
    root = str(Path(__file__).resolve().parents[1])
    report = "import sys; from bench.peak import peak_rss_mb; print(f'BENCH_PEAK_MB={peak_rss_mb()}', file=sys.stderr)"
    grow = "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
    small = run_measured([sys.executable, "-c", "print('ok'); " + report], env={"PYTHONPATH": root})
    big = run_measured([sys.executable, "-c", grow + report], env={"PYTHONPATH": root})
    assert small["returncode"] == 0 and small["stdout"].strip() == "ok"
    assert small["peak_rss_mb"] < 100  # its own peak, not this (torch-sized) process's size at fork
    assert big["peak_rss_mb"] > small["peak_rss_mb"] + 150
    failed = run_measured([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert failed["returncode"] == 3


def test_kinema_spec_and_flop_count() -> None:
    torch.set_num_threads(1)
    work = Work(channels=4, frames=2, height=4, width=4, text_len=5, text_dim=12)
    assert work.tokens == 2 * 2 * 2
    spec = kinema_dit(work, "tiny")
    inp = work.inputs()
    out = spec.call(inp)
    assert out.shape == inp["x"].shape and out.abs().sum() > 0  # perturbed away from the zero init
    target = torch.zeros_like(out)
    fwd, train = count_flops(spec, inp, target)
    assert fwd > 0 and 2.5 * fwd < train < 3.5 * fwd  # backward costs about twice the forward
    assert all(p.grad is None for p in spec.model.parameters())


def test_markdown_report(tmp_path) -> None:
    row = {
        "work": "320",
        "tokens": 320,
        "model": "kinema",
        "params": 6.8e6,
        "depth": 8,
        "width": 192,
        "mode": "fp32",
        "phase": "forward",
        "ms": 10.0,
        "tokens_s": 32000.0,
        "gflop": 1.0,
        "gflops": 100.0,
        "mfu": 0.5,
        "speedup_vs_best_peer": 1.25,
    }
    result = {
        "env": {
            "command": "python -m bench --quick",
            "date": "today",
            "cpu": "CPU",
            "cores": 2,
            "torch": "2.x",
            "threads": 1,
            "load": "load 1",
        },
        "machine": {"n": 64, "fp32_blas": 50.0, "fp32_onednn": 100.0, "bf16": 200.0, "fp32_peak": 100.0},
        "transformers": [row, {**row, "model": "wan", "ms": 12.5, "speedup_vs_best_peer": None}],
        "long": {"skipped": "no long mode"},
    }
    path = tmp_path / "R.md"
    write_markdown(result, path, None)
    text = path.read_text()
    assert "2.00x" in text and "**1.25x**" in text and "| wan |" in text and "Skipped: no long mode" in text


def test_compiled_section_in_the_report(tmp_path) -> None:
    from bench.report import vs_fastest_fp32_peer

    def row(model, mode, ms):
        return {"work": "320", "tokens": 320, "model": model, "mode": mode, "phase": "train", "ms": ms}

    transformers = [row("kinema", "fp32", 300.0), row("kinema", "bf16", 200.0), row("wan", "fp32", 400.0),
                    row("mochi", "fp32", 250.0), row("mochi", "bf16", 100.0)]
    compiled = {"work": "320", "tokens": 320, "preset": "S", "eager_ms": 210.0, "compiled_ms": 140.0,
                "speedup": 1.5, "compile_s": 90.0, "loss_rel_diff": 1e-3, "grad_rel_diff": 5e-3}
    # fastest fp32 peer 250 ms / kinema eager bf16 200 ms, times the compiled speed-up 1.5
    assert vs_fastest_fp32_peer(compiled, transformers) == pytest.approx(250 / 200 * 1.5)
    assert vs_fastest_fp32_peer(compiled, []) is None
    result = {"env": {"command": "c", "date": "d", "cpu": "CPU", "cores": 2, "torch": "2", "threads": 1,
                      "load": "l"}, "compiled": [compiled]}
    write_markdown(result, tmp_path / "R.md", None)
    text = (tmp_path / "R.md").read_text()
    assert "compiled" in text and "**1.50x**" in text and "| - |" in text


def test_default_work_section(tmp_path) -> None:
    from bench.default import SAMPLE_WORK, TRAIN_WORK, _cached_spec, _finish

    # the default model's work: 17x64x64 clips = 8x5x8x8 latents = 80 tokens; batch 16 to train, 2 to sample
    assert TRAIN_WORK.tokens == SAMPLE_WORK.tokens == 80 and (TRAIN_WORK.batch, SAMPLE_WORK.batch) == (16, 2)
    torch.set_num_threads(1)
    work = Work(channels=4, frames=2, height=4, width=4, batch=2, text_len=5, text_dim=12)
    kin = kinema_dit(work, "tiny")
    kin.model.eval()
    inp = work.inputs()
    with torch.no_grad():
        # the text-cached call is the same function as the plain one
        assert torch.allclose(_cached_spec(kin, inp, "fp32").call(inp), kin.call(inp), atol=1e-6)

    def row(model, mode, ms):
        return {"phase": "sample", "model": model, "params": 5e6, "depth": 6, "width": 192, "mode": mode,
                "batch": 2, "tokens": 80, "ms": ms, "tokens_s": 160 / ms * 1e3, "gflop": 1.0, "gflops": 10.0,
                "mfu": None}

    rows = [row("kinema (text cached, fp32)", "fp32", 20.0), row("kinema (compiled)", "bf16+compile", 8.0),
            row("wan", "fp32", 50.0), row("latte", "fp32", 40.0), row("wan", "bf16", 16.0)]
    _finish(rows, lambda msg: None)
    assert [r["speedup_vs_fastest_peer_fp32"] for r in rows] == pytest.approx([2.0, 5.0, 0.8, 1.0, 2.5])
    # same precision: fp32 against the fastest fp32 peer (latte), bf16+compile against the bf16 peer
    assert [r["speedup_same_precision"] for r in rows] == [pytest.approx(2.0), pytest.approx(2.0), None, None, None]
    result = {"env": {"command": "c", "date": "d", "cpu": "CPU", "cores": 2, "torch": "2", "threads": 1,
                      "load": "l"}, "default": {"sample": rows}}
    write_markdown(result, tmp_path / "R.md", None)
    text = (tmp_path / "R.md").read_text()
    assert "default model's own work" in text and "| 2 x 80 |" in text and "**2.00x**" in text


def test_linear_codec_keeps_the_autoencoders_numbers_and_fits_its_data() -> None:
    from bench.linear_codec import LinearCodec, frame_motion, frame_psnr, total_psnr

    from kinema.models.vae import vae_config

    cfg = vae_config("tiny")  # 4x4x4 blocks, 4 numbers each: 1 + 4k frames of 16x16 -> (1 + k) x 4 x 4 x 4
    g = np.random.default_rng(0)
    basis = g.uniform(-60, 60, size=(3, 4 * 4 * 4 * 3))  # every group block = grey level + 3 patterns

    def clip(n: int) -> np.ndarray:
        groups = 128 + basis.T @ g.uniform(-1, 1, size=(3, n * 16))  # (192, n·16) block values
        rest = rearrange(groups, "(f p q c) (n h w) -> (n f) (h p) (w q) c", f=4, p=4, q=4, h=4, w=4)
        return np.concatenate([rest[:1], rest]).clip(0, 255).round().astype(np.uint8)  # frame 0 = frame 1

    train = [clip(4) for _ in range(8)]
    codec = LinearCodec(cfg, train)
    held_out = clip(2)
    exact = frame_psnr(held_out, codec.reconstruct(held_out))
    assert exact[1:].min() > 45  # a rank-3 block family: 4 components keep it (up to uint8 rounding)
    noise = g.integers(0, 256, size=held_out.shape, dtype=np.uint8)
    assert frame_psnr(noise, codec.reconstruct(noise)).max() < 15  # but not noise
    assert abs(total_psnr(np.array([20.0, 20.0])) - 20.0) < 1e-9
    assert abs(total_psnr(np.array([10.0, 40.0])) - 10 * np.log10(2 / 0.1001)) < 1e-6  # mean of the MSEs
    motion = frame_motion(np.stack([np.zeros((2, 2, 3)), np.full((2, 2, 3), 51)]).astype(np.uint8))
    np.testing.assert_allclose(motion, [0.0, 0.2])
