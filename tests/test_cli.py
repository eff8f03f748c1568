"""The command line: world render layout, info, clean errors."""

from __future__ import annotations

import csv
import json

import pytest

from kinema.cli import main
from kinema.data.video_io import probe


def test_world_render_layout(tmp_path, capsys):
    out = tmp_path / "clips"
    assert main(["world", "render", "--out", str(out), "--clips", "3", "--width", "48", "--height", "32",
                 "--seconds", "1", "--fps", "8", "--split", "test", "--seed", "5", "-q"]) == 0
    rows = list(csv.DictReader(open(out / "captions.csv")))
    assert [r["path"] for r in rows] == [f"videos/{i:05d}.mp4" for i in range(3)]
    for i, row in enumerate(rows):
        info = probe(out / row["path"])
        assert (info.frames, info.width, info.height, info.fps) == (8, 48, 32, 8.0)
        assert row["caption"] and len(row["detailed_caption"]) > len(row["caption"])
        truth = json.loads((out / "truth" / f"{i:05d}.json").read_text())
        assert truth["split"] == "test" and truth["held_out"] and len(truth["frames"]) == 8
    assert json.loads((out / "render.json").read_text())["seed"] == 5
    assert "wrote 3 clips" in capsys.readouterr().out


def test_world_render_is_reproducible(tmp_path):
    for name in ("a", "b"):
        main(["world", "render", "--out", str(tmp_path / name), "--clips", "2", "--width", "32", "--height", "32",
              "--seconds", "0.5", "-q"])
    assert (tmp_path / "a/captions.csv").read_text() == (tmp_path / "b/captions.csv").read_text()
    assert (tmp_path / "a/truth/00001.json").read_bytes() == (tmp_path / "b/truth/00001.json").read_bytes()


def test_info_prints_metadata(tmp_path, capsys):
    main(["world", "render", "--out", str(tmp_path), "--clips", "1", "--width", "32", "--height", "32",
          "--seconds", "1", "-q"])
    capsys.readouterr()
    assert main(["info", str(tmp_path / "videos/00000.mp4")]) == 0
    assert "8 frames, 8 fps, 32x32, 1.00 s, codec h264" in capsys.readouterr().out
    assert main(["info", "--json", str(tmp_path / "videos/00000.mp4")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["frames"] == 8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "/nonexistent/video.mp4"], "/nonexistent/video.mp4"),
        (["world", "render", "--out", "{tmp}/x", "--clips", "0"], "--clips must be positive"),
        (["world", "render", "--out", "{tmp}/x", "--width", "0", "-q"], "width"),
        (["vae", "train", "--config", "{tmp}/missing.toml"], "missing.toml does not exist"),
        (["vae", "train", "--nope=1"], "unknown key(s) nope"),
        (["vae", "eval", "--checkpoint", "{tmp}/none.safetensors"], "none.safetensors does not exist"),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kinema: error:") and message in err and "Traceback" not in err


def test_overrides_only_where_accepted(capsys):
    with pytest.raises(SystemExit):
        main(["info", "x.mp4", "--a=1"])
    assert "unrecognized arguments: --a=1" in capsys.readouterr().err


def test_generate_writes_video_and_image(tmp_path, capsys):
    from test_pipeline import _save_model

    model = _save_model(tmp_path / "model")
    assert main(["generate", "a red circle moves right", "-o", str(tmp_path / "v.mp4"), "--checkpoint", str(model),
                 "--width", "24", "--height", "16", "--frames", "5", "--steps", "2", "-q"]) == 0
    info = probe(tmp_path / "v.mp4")
    assert (info.frames, info.width, info.height) == (5, 24, 16)
    out = capsys.readouterr().out
    assert "wrote" in out and "detailed prompt: " in out  # the world grammar expanded the short prompt
    assert main(["generate", "a blue star", "-o", str(tmp_path / "i.png"), "--checkpoint", str(model),
                 "--frames", "1", "--steps", "1", "-q"]) == 0
    assert probe(tmp_path / "i.png").frames == 1
    assert main(["generate", "x", "-o", str(tmp_path / "bad.mp4"), "--checkpoint", str(model), "--width", "20"]) == 2
    assert "nearest valid widths: 16 or 24" in capsys.readouterr().err
    # an image suffix alone asks for one frame
    assert main(["generate", "a blue star", "-o", str(tmp_path / "j.jpg"), "--checkpoint", str(model),
                 "--width", "24", "--height", "16", "--steps", "1", "-q"]) == 0
    assert probe(tmp_path / "j.jpg").frames == 1


@pytest.mark.parametrize(
    ("output", "extra", "message"),
    [
        ("v.xyz", [], "v.xyz: cannot write '.xyz'; use one of .mp4"),
        ("v.png", ["--frames", "9"], "v.png: an image file holds one frame but this result has 9"),
        ("dir.mp4", [], "dir.mp4 is a folder; name the output file"),
    ],
)
def test_generate_checks_the_output_before_any_compute(tmp_path, capsys, monkeypatch, output, extra, message):
    """A bad output path fails in the CLI before the model is even loaded, naming the user's path."""
    from kinema.pipeline import Pipeline

    (tmp_path / "dir.mp4").mkdir()
    loaded = []
    monkeypatch.setattr(Pipeline, "from_pretrained", classmethod(lambda cls, *a, **k: loaded.append(a)))
    assert main(["generate", "a red circle", "-o", str(tmp_path / output), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kinema: error:") and message in err and str(tmp_path) in err
    assert ".kinema-sign-" not in err and not loaded


def test_train_then_generate_end_to_end(tmp_path, capsys):
    """The README flow on a tiny model: `kinema train` exports a model folder `kinema generate` reads."""
    import torch

    from kinema.models.vae import VideoVAE, save_vae, vae_config

    save_vae(VideoVAE(vae_config("tiny")), tmp_path / "vae.safetensors")
    threads = torch.get_num_threads()
    try:
        assert main(["train", "--config", "configs/dit_tiny.toml", f"--vae={tmp_path / 'vae.safetensors'}",
                     f"--out={tmp_path / 'run'}", "--steps=3", "--stop-after", "2", "--sample_every=0", "-q"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "wrote" in capsys.readouterr().out
    from kinema.train.checkpoint import load_state

    assert load_state(tmp_path / "run" / "state.pt")["step"] == 2  # stopped early, resumable; the schedule is 3 long
    assert main(["train", "--config", "configs/dit_tiny.toml", f"--out={tmp_path / 'run'}", "--stop-after", "0"]) == 2
    assert "stop_after must be a step >= 1" in capsys.readouterr().err
    assert main(["generate", "a green square", "-o", str(tmp_path / "g.gif"), "--checkpoint",
                 str(tmp_path / "run" / "model"), "--steps", "2", "-q"]) == 0
    assert probe(tmp_path / "g.gif").frames >= 1
    assert main(["train", "--config", "configs/dit_tiny.toml", "--vae=/nonexistent.safetensors",
                 f"--out={tmp_path / 'run2'}"]) == 2
    assert "nonexistent.safetensors" in capsys.readouterr().err
