"""Typed dataclass configs: load from TOML/JSON, apply ``--a.b=c`` overrides, strict keys.

Every run recipe is a tree of dataclasses. Defaults live on the fields only. ``load_config``
reads a file (TOML or JSON), applies command-line overrides, and builds the tree with strict
checking: an unknown key is an error that lists the valid ones, a value of the wrong type is an
error that names the key and the expected type, a ``Literal`` field only takes its choices.

    cfg = load_config(DataConfig, "configs/tiny.toml", ["--buckets=[\"9x32x32\"]", "--batch_size=2"])

Overrides are ``key.path=value``; the value is parsed as TOML when it can be (so ``2``,
``0.5``, ``true``, ``["a", "b"]`` work) and otherwise taken as a bare string.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import tomllib

from kinema.atomic import atomic_write_text
from kinema.errors import ConfigError

C = TypeVar("C")


# --------------------------------------------------------------------------- data


@dataclasses.dataclass
class DataConfig:
    """Where training clips come from and in which shapes they are batched.

    ``source="world"`` streams procedural-world clips rendered on the fly; ``source="videos"``
    reads a folder or a manifest (CSV/JSONL with ``path, caption`` and optional
    ``detailed_caption, start, end``); ``source="latents"`` reads a folder of precomputed
    autoencoder latents (``kinema latents build``; DiT training only). ``buckets`` are ``FRAMESxHEIGHTxWIDTH`` strings; each
    batch has one bucket's shape, so one run trains on several durations, resolutions and
    aspect ratios. A bucket with 1 frame takes still images (and single frames of videos).
    """

    source: Literal["world", "videos", "latents"] = "world"
    path: str = ""  # folder(s) or manifest file(s) (source="videos"), or latent dataset folder(s) (source="latents");
    # several joined with os.pathsep, e.g. "runs/latents_world:runs/latents_world_mirror", train on all their clips
    buckets: list[str] = dataclasses.field(default_factory=lambda: ["17x64x64"])
    bucket_weights: list[float] = dataclasses.field(default_factory=list)  # world: sampling weights; empty = equal
    fps: float = 8.0  # clips are resampled to this frame rate
    split: Literal["train", "test"] = "train"  # world split
    caption_field: Literal["detailed_caption", "caption"] = "detailed_caption"  # recaptioning: train on detailed
    batch_size: int = 4
    num_workers: int = 0
    crop: Literal["center", "random"] = "random"
    # videos: each clip is read at a zoom drawn uniformly from [min, max] (1 = the frame's shorter
    # side fits the bucket, 2 = a crop spanning half of it): scale augmentation; [1, 1] = off
    zoom: list[float] = dataclasses.field(default_factory=lambda: [1.0, 1.0])
    # world/videos: the probability a clip is mirrored left-right together with its captions
    # (left <-> right, clockwise <-> counterclockwise; kinema.data.mirror); 0 = off
    hflip: float = 0.0
    seed: int = 0


# --------------------------------------------------------------------------- loading


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None) -> C:
    """Build a ``cls`` from an optional TOML/JSON file and ``--a.b=c`` overrides.

    Raises ``ConfigError`` naming the file, key and problem on any bad input.
    """
    raw: dict[str, Any] = read_config_file(path) if path is not None else {}
    for item in overrides or []:
        key, value = parse_override(item)
        _set_path(raw, key, value)
    return from_dict(cls, raw, where=str(path) if path is not None else "config")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or JSON (``.json``) config file into a plain dict."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"config file {p} is not valid {p.suffix.lstrip('.') or 'toml'}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table of keys, not {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``--a.b=value`` into ``("a.b", parsed value)``; values parse as TOML or stay strings."""
    body = item[2:] if item.startswith("--") else item
    if "=" not in body:
        raise ConfigError(f"override {item!r} must look like --key.path=value")
    key, text = body.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return key, value


def _set_path(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {part} is a value, not a table")
        node = child
    node[leaf] = value


def from_dict(cls: type[C], raw: dict[str, Any], where: str = "config") -> C:
    """Build dataclass ``cls`` from ``raw`` strictly (unknown keys and bad types are errors)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid keys are: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}" if where != "config" else name)
              for name, value in raw.items()}
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{where}: {e}") from None
    return obj


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check/convert ``value`` against annotation ``tp``; raise ``ConfigError`` naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=key)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(repr(a) for a in args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} does not match {_type_name(tp)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list ({_type_name(tp)}), got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported config type {_type_name(tp)}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


# --------------------------------------------------------------------------- saving


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain dicts/lists (JSON- and TOML-friendly)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as JSON (atomically); ``load_config`` reads it back."""
    atomic_write_text(path, json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")
