"""A trained text-to-video model on disk: one folder with everything generation needs.

    DIR/model.json          format, text encoder config, fps, sampling defaults, provenance
    DIR/dit.safetensors     the diffusion transformer (EMA weights; config in its metadata)
    DIR/text.safetensors    the built-in text encoder's weights (only for text.kind = "builtin")
    DIR/vae.safetensors     the autoencoder whose latents the transformer was trained on

Training exports this folder; ``Pipeline.from_pretrained(DIR)`` reads it. Frozen pretrained
text encoders (MiniLM, local HF folders) are rebuilt from ``model.json``'s text config, never
copied into the folder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from kinema.atomic import atomic_path, atomic_write_text
from kinema.config import from_dict
from kinema.errors import KinemaError
from kinema.models.dit import DiT, load_dit, save_dit
from kinema.models.text import BuiltinTextEncoder, TextConfig, TextEncoder, build_text_encoder
from kinema.models.vae import VAE_FILE, VideoVAE, load_vae, save_vae
from kinema.models.weights import load_checked

BUNDLE_FORMAT = "kinema.model"
MODEL_JSON, DIT_FILE, TEXT_FILE = "model.json", "dit.safetensors", "text.safetensors"


@dataclass
class SamplingDefaults:
    """What ``kinema generate`` uses when the user does not say."""

    width: int = 64
    height: int = 64
    seconds: float = 2.0
    steps: int = 30
    guidance: float = 4.0
    solver: Literal["euler", "heun", "midpoint"] = "heun"
    shift: float = 0.0  # 0 = resolution-dependent shift (flow.schedule.resolution_shift)


@dataclass
class ModelInfo:
    """``model.json``: how to rebuild and run the model."""

    format: str = BUNDLE_FORMAT
    text: TextConfig = field(default_factory=TextConfig)
    fps: float = 8.0
    caption_field: str = "detailed_caption"  # what it was trained on (recaptioning)
    defaults: SamplingDefaults = field(default_factory=SamplingDefaults)
    train: dict[str, Any] = field(default_factory=dict)  # provenance: steps, config, figures


@dataclass
class Bundle:
    """The loaded parts of a model folder."""

    info: ModelInfo
    dit: DiT
    text: TextEncoder
    vae: VideoVAE


def save_bundle(out: str | Path, *, info: ModelInfo, dit: DiT, text: TextEncoder, vae: VideoVAE,
                dtype: torch.dtype = torch.float32) -> Path:
    """Write a model folder (each file atomically; ``model.json`` last, so a folder with a
    ``model.json`` is complete). ``dtype=torch.bfloat16`` halves the weights on disk."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_dit(dit, out / DIT_FILE, dtype=dtype)
    if isinstance(text, BuiltinTextEncoder):
        tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in text.state_dict().items()}
        with atomic_path(out / TEXT_FILE) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "kinema.text", **text.tokenizer_metadata()})
    save_vae(vae, out / VAE_FILE, dtype=dtype)
    atomic_write_text(out / MODEL_JSON, json.dumps(dataclasses.asdict(info), indent=2) + "\n")
    return out


def read_info(folder: str | Path) -> ModelInfo:
    """Parse ``folder/model.json``; ``KinemaError`` naming the problem."""
    p = Path(folder)
    if not p.is_dir():
        raise KinemaError(f"model folder {p} does not exist (expected {MODEL_JSON}, {DIT_FILE}, {VAE_FILE})")
    f = p / MODEL_JSON
    if not f.is_file():
        raise KinemaError(f"{p} is not a kinema model folder: it has no {MODEL_JSON}")
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise KinemaError(f"{f} is not valid JSON: {e}") from None
    if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
        raise KinemaError(f"{f} is not a kinema model description (format must be {BUNDLE_FORMAT!r})")
    return from_dict(ModelInfo, raw, where=str(f))


def load_bundle(folder: str | Path, device: str | torch.device = "cpu") -> Bundle:
    """Load every part of a model folder (fp32 weights on ``device``)."""
    p = Path(folder)
    info = read_info(p)
    dit = load_dit(p / DIT_FILE, device=device).eval()
    vae = load_vae(p / VAE_FILE, device=device).eval()
    text = build_text_encoder(info.text)
    if isinstance(text, BuiltinTextEncoder):
        _load_text_weights(text, p / TEXT_FILE)
    text = text.to(device).eval()
    if dit.cfg.in_channels != vae.cfg.latent_channels or dit.cfg.text_dim != text.dim:
        raise KinemaError(
            f"{p}: parts do not fit: DiT takes {dit.cfg.in_channels} latent channels and {dit.cfg.text_dim}-d text, "
            f"the VAE gives {vae.cfg.latent_channels} channels and the text encoder {text.dim}-d features"
        )
    return Bundle(info=info, dit=dit, text=text, vae=vae)


def _load_text_weights(text: BuiltinTextEncoder, path: Path) -> None:
    if not path.is_file():
        raise KinemaError(f"{path} is missing: a model with the built-in text encoder needs its weights")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise KinemaError(f"cannot read text encoder weights {path}: {e}") from None
    expected = text.tokenizer_metadata()
    if any(meta.get(k) != v for k, v in expected.items()):
        raise KinemaError(f"{path} was trained with tokenizer {meta.get('tokenizer_version')!r} "
                          f"({meta.get('tokenizer_fingerprint')}); this kinema has {expected}")
    load_checked(text, tensors, path)
