"""Config loading: files, overrides, strict keys, types, round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from kinema.config import DataConfig, load_config, parse_override, save_config
from kinema.errors import ConfigError


@dataclasses.dataclass
class Inner:
    width: int = 8
    rate: float = 0.5
    mode: Literal["a", "b"] = "a"


@dataclasses.dataclass
class Outer:
    name: str = "run"
    inner: Inner = dataclasses.field(default_factory=Inner)
    sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    pair: tuple[int, int] = (3, 4)
    flag: bool = False
    maybe: int | None = None


def test_defaults_without_file():
    assert load_config(Outer) == Outer()


def test_file_and_overrides(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('name = "x"\nsizes = [5]\n[inner]\nwidth = 16\n')
    cfg = load_config(Outer, f, ["--inner.rate=2", "--inner.mode=b", "--flag=true", "--maybe=7", "pair=[1, 9]"])
    assert cfg.name == "x" and cfg.sizes == [5]
    assert cfg.inner == Inner(width=16, rate=2.0, mode="b")
    assert cfg.flag is True and cfg.maybe == 7 and cfg.pair == (1, 9)
    assert isinstance(cfg.inner.rate, float)


def test_bare_string_override():
    assert load_config(Outer, None, ["--name=hello world"]).name == "hello world"
    assert parse_override("--a.b=[1,2]") == ("a.b", [1, 2])


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["--nope=1"], r"unknown key\(s\) nope; valid keys are: flag, inner, maybe, name, pair, sizes"),
        (["--inner.depth=3"], r"inner: unknown key\(s\) depth; valid keys are: mode, rate, width"),
        (["--inner.width=1.5"], r"inner.width: expected an integer"),
        (["--inner.mode=c"], r"inner.mode: 'c' is not one of 'a', 'b'"),
        (["--flag=1"], r"flag: expected true or false"),
        (["--sizes=3"], r"sizes: expected a list"),
        (["--pair=[1]"], r"pair: expected 2 items"),
        (["--inner=3"], r"inner: expected a table"),
        (["novalue"], r"must look like --key.path=value"),
    ],
)
def test_errors_name_the_problem(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(Outer, None, overrides)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="bad.toml is not valid toml"):
        load_config(Outer, bad)


def test_save_and_reload_round_trip(tmp_path):
    cfg = load_config(Outer, None, ["--inner.width=3", "--pair=[7, 8]", "--maybe=2"])
    save_config(cfg, tmp_path / "cfg.json")
    assert load_config(Outer, tmp_path / "cfg.json") == cfg


def test_data_config_strict():
    cfg = load_config(DataConfig, None, ['--buckets=["9x32x32", "1x32x48"]', "--source=videos"])
    assert cfg.buckets == ["9x32x32", "1x32x48"] and cfg.source == "videos"
    with pytest.raises(ConfigError, match="source: 'youtube' is not one of 'world', 'videos'"):
        load_config(DataConfig, None, ["--source=youtube"])


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[1] / "configs").glob("*.toml")))
def test_every_shipped_config_loads(name: str) -> None:
    """Each recipe in configs/ parses and fills its trainer's config (a stray line once broke one)."""
    from kinema.train.train_dit import DiTTrainConfig
    from kinema.train.train_vae import VAETrainConfig

    path = Path(__file__).parents[1] / "configs" / name
    cls = VAETrainConfig if name.startswith("vae") else DiTTrainConfig
    cfg = load_config(cls, path)
    assert cfg.steps > 0 and cfg.out
