"""Train the diffusion transformer on autoencoder latents (flow matching, text-conditioned).

    kinema train --config configs/dit_world.toml [--a.b=c ...]              # one process
    torchrun --nproc_per_node N -m kinema.train.train_dit --config FILE     # data-parallel

One optimisation step is ``grad_accum`` micro-batches. Per micro-batch (the convention of
``kinema.flow.path``: time 0 = data, 1 = noise, target ``v = noise - x0``)::

    x0    = vae.normalize(vae.encode(video).mode())        (B, C, t, h, w), no grad
    time  = sample_times(B, shift=s)                        (B,) logit-normal, shifted for the token count
    mask  = sample_cond_mask(B, t)                          (B, t) bool: frames given clean (i2v, extend, ...)
    noise = get_noise(x0.shape, generator=run's CPU generator)
    ft    = frame_times(time, mask)                         (B, t), given frames at time 0
    v     = dit(interpolate(x0, noise, ft), ft, text(captions after dropout), mask)
    loss  = masked_mse(v, velocity_target(x0, noise), mask) (given frames excluded)
          + motion_weight · motion_mse(...)                (frame-to-frame change of the error; optional)
          + mirror_contrast_weight · contrast_nll(...)     (true caption against its left-right mirror; optional)

and ``(loss / grad_accum).backward()`` with the data-parallel gradient sync skipped on all but the
last micro-batch. The text encoder trains jointly when it is the built-in one (frozen pretrained
encoders run under ``no_grad``). An EMA of the trained weights (fp32) is what gets exported.

The run folder (``out``; only rank 0 writes) holds ``config.json`` (the resolved config),
``state.pt`` (model, EMA, optimizer, step, every rank's RNG: resume is exact), ``model/`` (the
exported model folder of ``kinema.models.bundle``, EMA weights, re-exported at every checkpoint),
``log.jsonl`` (one line per logged step: loss, lr, grad norm, tokens/s, GFLOP/s) and
``samples/step_XXXXXXX_i.mp4`` (the EMA model's videos for ``sample_prompts``). Running the same
command again resumes from ``state.pt``.

Data-parallel runs (``kinema.parallel``): each rank reads its own shard
(``build_dataloader(rank=, world_size=)``) and draws its own noise; DDP (or FSDP on CUDA) keeps the
weights identical, so the EMA is too.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import math
import sys
import time as timer
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from tqdm import tqdm

from kinema import parallel
from kinema.config import DataConfig, load_config, save_config, to_dict
from kinema.data.buckets import Bucket, mix_seed, parse_buckets
from kinema.data.dataset import build_dataloader, infinite, to_uint8_frames
from kinema.data.latents import encoder_fingerprint, latent_folders, latent_object_mask, read_index
from kinema.data.mirror import mirror_caption
from kinema.data.video_io import write_video
from kinema.errors import ConfigError, KinemaError
from kinema.flow import (
    CondMaskConfig,
    contrast_nll,
    default_shift,
    denoise,
    frame_times,
    get_noise,
    get_schedule,
    guided,
    interpolate,
    masked_mse,
    motion_mse,
    sample_cond_mask,
    sample_mse,
    sample_times,
    velocity_target,
)
from kinema.models.bundle import ModelInfo, SamplingDefaults, save_bundle
from kinema.models.dit import DiT, DiTConfig
from kinema.models.presets import dit_config
from kinema.models.text import TextConfig, TextEncoder, TokenIdentityHead, build_text_encoder, expand_prompt
from kinema.models.vae import VideoVAE, load_vae
from kinema.train.checkpoint import STATE_FILE, load_state, restore_rng, rng_state, save_state
from kinema.train.optim import build_adamw, lr_at, set_lr

__all__ = [
    "CurriculumStage",
    "DiTTrainConfig",
    "Denoiser",
    "MicroBatch",
    "DiTTrainer",
    "drop_captions",
    "flow_loss",
    "flow_losses",
    "mirror_rows",
    "train_dit",
    "main",
]

logger = logging.getLogger(__name__)

MODEL_DIR = "model"
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


# --------------------------------------------------------------------------- config


@dataclass
class CurriculumStage:
    """From step ``start`` on, train on ``buckets`` (with ``bucket_weights``) instead of ``data.buckets``."""

    start: int
    buckets: list[str]
    bucket_weights: list[float] = field(default_factory=list)


@dataclass
class DiTTrainConfig:
    """A DiT training run. ``dit`` overrides fields of the ``preset`` architecture (``kinema.models.presets``).

    ``vae`` is the path of a trained autoencoder (``vae.safetensors``); its latents are what the DiT
    learns. Every bucket (and every curriculum stage's) must have ``1 + ft·k`` frames and sides
    divisible by the VAE's spatial factor times the DiT patch. ``shift = 0`` picks the time shift
    per batch from its token count (``flow.default_shift``, as the pipeline does at inference).
    ``latent_cache`` keeps the VAE latents of ``source="videos"`` clips in memory (keyed by file,
    bucket and crop; needs ``data.crop="center"``); it has no effect on the world source, whose
    clips are all new and encoded on the fly: caching only pays on a finite dataset. For the world,
    precompute latents once instead (``kinema latents build``, then ``data.source = "latents"``):
    the run checks that they come from its VAE's encoder.
    ``parallel`` is used when launched on several processes (FSDP only on CUDA).
    ``peak_tflops`` > 0 also logs MFU against that peak (e.g. 989 for an H100's bf16 dense).
    """

    preset: str = "S"
    dit: dict[str, Any] = field(default_factory=dict)
    text: TextConfig = field(default_factory=TextConfig)
    vae: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    curriculum: list[CurriculumStage] = field(default_factory=list)
    cond: CondMaskConfig = field(default_factory=CondMaskConfig)
    out: str = "runs/dit"
    steps: int = 3000
    lr: float = 5e-4
    min_lr_ratio: float = 0.1
    warmup: int = 200
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    grad_accum: int = 1  # micro-batches (of data.batch_size clips each) per optimisation step
    ema_decay: float = 0.999  # warmed up: min(ema_decay, (1 + step) / (10 + step))
    text_dropout: float = 0.1  # probability of training a clip on "" (classifier-free guidance)
    latent_crop: float = 0.0  # probability a batch (>= 3 latent frames) drops its first latent frame (see prepare)
    object_weight: float = 0.0  # world clips: latents where objects are count 1 + this in the loss (see prepare)
    motion_weight: float = 0.0  # adds this x flow.motion_mse (errors that change between latent frames); 0 = off
    text_identity_weight: float = 0.0  # adds this x the built-in text's token-identity loss (keeps words apart); 0 = off
    # adds this x flow.contrast_nll between each caption and its left-right mirror (see flow_losses); 0 = off
    mirror_contrast_weight: float = 0.0
    mirror_contrast_temp: float = 0.1  # relative error gap at which the contrast is mostly satisfied
    mirror_contrast_share: float = 0.5  # rows per micro-batch run again mirrored (a fixed count: fixed shapes)
    time_mean: float = 0.0  # logit-normal training times
    time_std: float = 1.0
    shift: float = 0.0  # 0 = flow.default_shift(tokens)
    bf16: bool = False  # bfloat16 autocast: DiT (+ built-in text encoder) forward and the VAE encode
    checkpointing: bool = False  # recompute each DiT block in backward (saves activation memory)
    compile: bool = False  # torch.compile the trained DiT (one compile per bucket shape; pays on long runs)
    parallel: Literal["ddp", "fsdp"] = "ddp"
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    log_every: int = 25
    log_sources: bool = False  # also log every rank's clip sources (checks data sharding)
    sample_every: int = 500  # 0: no samples
    ckpt_every: int = 250
    sample_prompts: list[str] = field(default_factory=lambda: [
        "a red circle moves left", "a blue square bounces", "a yellow triangle grows"])
    sample_steps: int = 20
    sample_guidance: float = 4.0
    latent_cache: bool = False
    peak_tflops: float = 0.0
    save_dtype: Literal["float32", "bfloat16"] = "float32"  # dtype of the exported model folder
    seed: int = 0
    init: str = ""  # a model folder (e.g. weights/default) whose weights start a new run; fresh optimizer

    def __post_init__(self) -> None:
        positive = {"steps": self.steps, "grad_accum": self.grad_accum, "log_every": self.log_every,
                    "ckpt_every": self.ckpt_every, "sample_steps": self.sample_steps}
        bad = [f"{k}={v}" for k, v in positive.items() if v < 1]
        if bad:
            raise ConfigError(f"these must be >= 1: {', '.join(bad)}")
        if not self.lr > 0 or self.warmup < 0 or self.sample_every < 0:
            raise ConfigError(f"need lr > 0, warmup >= 0, sample_every >= 0; got lr={self.lr}, "
                              f"warmup={self.warmup}, sample_every={self.sample_every}")
        if not 0.0 <= self.text_dropout <= 1.0:
            raise ConfigError(f"text_dropout is a probability in [0, 1], got {self.text_dropout}")
        if not self.object_weight >= 0:
            raise ConfigError(f"object_weight must be >= 0 (0 = off), got {self.object_weight}")
        if not self.motion_weight >= 0:
            raise ConfigError(f"motion_weight must be >= 0 (0 = off), got {self.motion_weight}")
        if not self.text_identity_weight >= 0:
            raise ConfigError(f"text_identity_weight must be >= 0 (0 = off), got {self.text_identity_weight}")
        if not (self.mirror_contrast_weight >= 0 and self.mirror_contrast_temp > 0
                and 0 < self.mirror_contrast_share <= 1):
            raise ConfigError(f"need mirror_contrast_weight >= 0 (0 = off), mirror_contrast_temp > 0 and "
                              f"mirror_contrast_share in (0, 1]; got {self.mirror_contrast_weight}, "
                              f"{self.mirror_contrast_temp} and {self.mirror_contrast_share}")
        if not 0.0 <= self.latent_crop <= 1.0:
            raise ConfigError(f"latent_crop is a probability in [0, 1], got {self.latent_crop}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1) (0.999 is typical), got {self.ema_decay}")
        if self.shift < 0 or not self.time_std > 0:
            raise ConfigError(f"need shift >= 0 (0 = by token count) and time_std > 0; got shift={self.shift}, "
                              f"time_std={self.time_std}")
        starts = [s.start for s in self.curriculum]
        if any(s < 0 for s in starts) or starts != sorted(set(starts)):
            raise ConfigError(f"curriculum stages need distinct, increasing start steps >= 0, got {starts}")


# --------------------------------------------------------------------------- the loss, as pure functions


def drop_captions(captions: Sequence[str], p: float, generator: torch.Generator) -> list[str]:
    """Each caption replaced by ``""`` with probability ``p`` (classifier-free guidance training).

    Always draws ``len(captions)`` numbers from ``generator`` (so the stream does not depend on ``p``).
    """
    drop = torch.rand(len(captions), generator=generator) < p  # (B,)
    return ["" if d else c for c, d in zip(captions, drop.tolist(), strict=True)]


def flow_loss(model: Callable[[Tensor, Tensor, Tensor], Tensor], x0: Tensor, noise: Tensor, time: Tensor,
              cond_mask: Tensor, weight: Tensor | None = None, motion_weight: float = 0.0) -> Tensor:
    """The flow-matching loss of one micro-batch (a 0-d fp32 tensor).

    ``model(xt, frame_time, cond_mask) -> v``; x0, noise: (B, C, t, h, w); time: (B,);
    cond_mask: (B, t) bool, True = frame given clean. Given frames sit at time 0 (so ``xt`` holds
    them exactly) and are left out of the mean. ``weight`` (B, t, h, w): a weighted mean (``masked_mse``).
    ``motion_weight`` > 0 adds that multiple of ``motion_mse`` (the error's change between
    consecutive generated latent frames, same weights).
    """
    return flow_losses(model, x0, noise, time, cond_mask, weight, motion_weight)[0]


def flow_losses(model: Callable[[Tensor, Tensor, Tensor], Tensor], x0: Tensor, noise: Tensor, time: Tensor,
                cond_mask: Tensor, weight: Tensor | None = None, motion_weight: float = 0.0,
                alt_rows: Tensor | None = None, contrast_temp: float = 0.1,
                alt_count: int | None = None) -> tuple[Tensor, Tensor | None]:
    """``flow_loss``, plus the caption contrast when ``alt_rows`` is given: ``(loss, contrast or None)``.

    ``alt_rows`` (k,) long: rows of the batch that also have an alternative caption. The model is
    then called once on ``B + k`` rows, the batch followed by those rows again (same ``xt``,
    times and mask), and ``model`` must read the alternative captions for the last ``k`` rows
    (the caller's closure supplies them). The contrast is ``flow.contrast_nll`` of those rows'
    errors (``sample_mse``, same weights) under their true and alternative captions, over the
    first ``alt_count`` of them (default all; the rest pad the batch to a fixed size). The plain
    loss uses the first ``B`` rows only, so it is the same as without ``alt_rows``.
    """
    ft = frame_times(time, cond_mask)  # (B, t), 0 on given frames
    xt = interpolate(x0, noise, ft)  # (B, C, t, h, w)
    b = x0.shape[0]
    if alt_rows is None or alt_rows.numel() == 0:
        v, v_alt = model(xt, ft, cond_mask), None  # (B, C, t, h, w) fp32
    else:
        v_all = model(torch.cat([xt, xt[alt_rows]]), torch.cat([ft, ft[alt_rows]]),
                      torch.cat([cond_mask, cond_mask[alt_rows]]))
        v, v_alt = v_all[:b], v_all[b:]  # (B, C, t, h, w), (k, C, t, h, w)
    target = velocity_target(x0, noise)
    loss = masked_mse(v, target, cond_mask, weight)
    if motion_weight > 0:
        loss = loss + motion_weight * motion_mse(v, target, cond_mask, weight)
    if v_alt is None:
        return loss, None
    r = alt_rows[:alt_count]  # (n,), the real ones
    w = None if weight is None else weight[r]
    err_true = sample_mse(v[r], target[r], cond_mask[r], w)  # (n,)
    err_alt = sample_mse(v_alt[: len(r)], target[r], cond_mask[r], w)  # (n,)
    return loss, contrast_nll(err_true, err_alt, contrast_temp)


def mirror_rows(captions: Sequence[str], k: int | None = None) -> tuple[list[int], list[str], int]:
    """The rows whose caption reads differently mirrored (left/right, clockwise words), those
    mirrored captions, and how many there are: the alternatives of the mirror contrast
    (``mirror_contrast_weight``). With ``k``: exactly ``k`` rows, the first ``k`` such rows,
    padded (when there are fewer) with row 0 and its own caption; the count says how many are real."""
    rows, alts = [], []
    for i, c in enumerate(captions):
        m = mirror_caption(c)
        if m != c:
            rows.append(i)
            alts.append(m)
    if k is None:
        return rows, alts, len(rows)
    n = min(k, len(rows))
    pad = k - n
    return rows[:n] + [0] * pad, alts[:n] + [captions[0]] * pad, n


class Denoiser(nn.Module):
    """What training optimises: the DiT and the text encoder it reads, as one module (the unit that
    data parallelism wraps). ``forward(xt, time, captions, cond_mask) -> v (B, C, t, h, w)``.

    A trainable (built-in) text encoder is a submodule, trained jointly; a frozen pretrained one is
    kept outside the module tree (no parameters, no state) and run under ``no_grad``.
    ``identity_head`` (training only, ``text_identity_weight``): in training mode each forward also
    leaves the text's token-identity loss in ``identity_loss`` (``models.text.TokenIdentityHead``).
    """

    def __init__(self, dit: DiT, text: TextEncoder, identity_head: TokenIdentityHead | None = None) -> None:
        super().__init__()
        self.dit = dit
        self.text = text if text.trainable else None
        self._frozen = [] if text.trainable else [text]  # a list keeps it out of the module tree
        if identity_head is not None and self.text is None:
            raise ConfigError("text_identity_weight needs a trainable (built-in) text encoder")
        self.identity_head = identity_head
        self.identity_loss: Tensor | None = None
        self.last_text_len = 0  # tokens of the last batch's text (for the FLOP count)
        self.pad_text = False  # pad the text to the encoder's max_length (one shape for torch.compile)

    @property
    def text_encoder(self) -> TextEncoder:
        return self.text if self.text is not None else self._frozen[0]

    def encode_text(self, captions: list[str]) -> tuple[Tensor, Tensor]:
        """captions (B strings) -> features (B, L, D_txt) fp32, mask (B, L) bool."""
        if self.text is not None:
            return self.text(captions)
        with torch.no_grad():
            return self._frozen[0](captions)

    def forward(self, xt: Tensor, time: Tensor, captions: list[str], cond_mask: Tensor) -> Tensor:
        txt, txt_mask = self.encode_text(captions)  # (B, L, D_txt), (B, L)
        self.last_text_len = txt.shape[1]
        if self.identity_head is not None and self.training:
            ids, _ = self.text.tokenizer.batch(list(captions), self.text.max_length)  # (B, L), as encode_text
            self.identity_loss = self.identity_head.loss(ids, txt, txt_mask)
        extra = self.text_encoder.max_length - txt.shape[1] if self.pad_text else 0
        if extra > 0:  # padded tokens are masked out: the same output, one text shape for every batch
            txt = torch.nn.functional.pad(txt, (0, 0, 0, extra))  # (B, max_length, D_txt)
            txt_mask = torch.nn.functional.pad(txt_mask, (0, extra), value=False)  # (B, max_length)
        return self.dit(xt, time, txt, txt_mask, cond_mask)  # (B, C, t, h, w) fp32


def _ema_copy(net: Denoiser) -> Denoiser:
    """A frozen copy of ``net``'s trainable parts (the frozen text encoder is shared, not copied)."""
    text = copy.deepcopy(net.text) if net.text is not None else net.text_encoder
    return Denoiser(copy.deepcopy(net.dit), text, copy.deepcopy(net.identity_head)).requires_grad_(False).eval()


@dataclass
class MicroBatch:
    """One micro-batch with its randomness drawn: everything ``flow_loss`` needs."""

    x0: Tensor  # (B, C, t, h, w) normalised clean latents
    noise: Tensor  # (B, C, t, h, w)
    time: Tensor  # (B,)
    cond_mask: Tensor  # (B, t) bool, True = given frame
    captions: list[str]  # after text dropout
    sources: list[str]
    bucket: str
    weight: Tensor | None = None  # (B, t, h, w) loss weight (object_weight), None = plain mean


# --------------------------------------------------------------------------- sampling (for progress videos)


@torch.no_grad()
def _sample_videos(dit: DiT, text: TextEncoder, vae: VideoVAE, captions: list[str], *,
                   latent: tuple[int, int, int], steps: int, guidance: float, shift: float, seed: int,
                   bf16: bool) -> Tensor:
    """Text-to-video for ``captions`` at a latent grid ``latent = (t, h, w)``: Heun with batched
    CFG, noise from ``seed``, decoded by ``vae``. Returns video (B, C, T, H, W) in about [-1, 1].

    A small stand-in for ``kinema.pipeline``'s sampler (which will replace it)."""
    device = next(dit.parameters()).device
    n = len(captions)
    texts = captions + ([""] * n if guidance != 1.0 else [])
    txt, txt_mask = text(texts)  # (n or 2n, L, D_txt)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        cache = dit.encode_text_kv(txt, txt_mask)

    def model_batched(x: Tensor, t: Tensor) -> Tensor:  # x (n or 2n, C, t, h, w)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return dit(x, t, text_cache=cache)

    noise = get_noise((n, vae.cfg.latent_channels, *latent), seed=seed, device=device)
    z = denoise(guided(model_batched, guidance), noise, get_schedule(steps, shift=shift), solver="heun")
    return vae.decode(vae.denormalize(z), chunk=True)  # (n, C, T, H, W)


def _shift_for(tokens: int, shift: float) -> float:
    """The configured shift, or the resolution-dependent one for ``tokens`` DiT tokens per clip."""
    return shift if shift > 0 else default_shift(tokens)


# --------------------------------------------------------------------------- checks


def _check_buckets(where: str, buckets: Sequence[Bucket], vae: VideoVAE, dit_cfg: DiTConfig) -> None:
    """Every bucket must encode to a latent grid the DiT patch divides."""
    ft, sf = vae.cfg.temporal_factor, vae.cfg.spatial_factor
    pt, ph, pw = dit_cfg.patch
    problems = []
    for b in buckets:
        if (b.frames - 1) % ft:
            lo = 1 + (b.frames - 1) // ft * ft
            problems.append(f"{b}: {b.frames} frames; the VAE (temporal factor {ft}) takes 1 + {ft}·k frames "
                            f"(use {lo} or {lo + ft})")
        elif (1 + (b.frames - 1) // ft) % pt:
            problems.append(f"{b}: {1 + (b.frames - 1) // ft} latent frames is not a multiple of the DiT's "
                            f"temporal patch {pt}")
        if b.height % (sf * ph) or b.width % (sf * pw):
            problems.append(f"{b}: height and width must be multiples of {sf * ph} and {sf * pw} "
                            f"(VAE spatial factor {sf} x DiT patch {ph}x{pw})")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def _load_vae(path: str) -> VideoVAE:
    if not path:
        raise ConfigError("vae is required: the path of a trained autoencoder .safetensors "
                          "(train one with `kinema vae train --config configs/vae_world.toml`)")
    if not Path(path).is_file():
        raise KinemaError(f"vae {path} does not exist: train an autoencoder first "
                          "(`kinema vae train --config configs/vae_world.toml` writes runs/vae_world/vae.safetensors)")
    return load_vae(path)


# --------------------------------------------------------------------------- the trainer


class DiTTrainer:
    """State and steps of one DiT training run (see the module docstring for the run folder)."""

    def __init__(self, cfg: DiTTrainConfig, device: torch.device | None = None) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.rank, self.world_size = parallel.rank(), parallel.world_size()
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        if cfg.latent_cache and cfg.data.source == "videos" and cfg.data.crop != "center":
            raise ConfigError('latent_cache needs data.crop = "center" (a cached latent would freeze one random crop)')
        if cfg.latent_cache and cfg.data.source == "world":
            logger.info("latent_cache has no effect on the world source (every clip is new)")

        # 1. the frozen autoencoder, the text encoder, the DiT (same init on every rank)
        self.vae = _load_vae(cfg.vae).to(self.device).eval().requires_grad_(False)
        if cfg.data.source == "latents":
            mine = encoder_fingerprint(self.vae)
            for folder in latent_folders(cfg.data.path):
                made_by = read_index(folder)["encoder"]
                if made_by != mine:
                    raise ConfigError(f"the latents in {folder} were made by encoder {made_by}, but vae {cfg.vae} "
                                      f"has encoder {mine}: rebuild them with `kinema latents build` for this VAE")
        if not any(s != 1.0 for s in self.vae.cfg.scale) and not any(s != 0.0 for s in self.vae.cfg.shift):
            logger.warning("%s has no latent statistics (scale 1, shift 0): is it trained?", cfg.vae)
        torch.manual_seed(cfg.seed)
        text = build_text_encoder(cfg.text).to(self.device)
        self.dit_cfg = dit_config(cfg.preset, in_channels=self.vae.cfg.latent_channels, text_dim=text.dim, **cfg.dit)
        for where, buckets in self._stages():
            _check_buckets(where, parse_buckets(buckets), self.vae, self.dit_cfg)
        dit = DiT(self.dit_cfg).to(self.device)
        if cfg.init:
            _init_from(cfg.init, dit, text)
        dit.gradient_checkpointing = cfg.checkpointing
        self.net = Denoiser(dit, text, self._identity_head(text))
        self.ema = _ema_copy(self.net)
        if cfg.compile:  # in place: parameter names and state dicts stay those of the eager module
            # one graph per latent shape (buckets, and buckets less a frame under latent_crop): the text
            # is padded to a fixed length so caption lengths do not multiply the graphs
            self.net.pad_text = True
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 32)
            dit.compile(dynamic=False)

        # 2. parallelism from outside (the EMA is sharded like the model under FSDP), then the optimizer
        self.kind: parallel.ParallelKind = cfg.parallel if self.world_size > 1 else "none"
        self.model = parallel.wrap_model(self.net, self.kind, self.device)
        self.ema_model = parallel.wrap_model(self.ema, "fsdp") if self.kind == "fsdp" else self.ema
        self.opt = build_adamw(self.model, cfg.lr, cfg.weight_decay, cfg.betas)

        self.generator = torch.Generator().manual_seed(mix_seed(cfg.seed, self.rank))  # CPU: noise, times, masks
        self.latents: dict[tuple[str, str, str], Tensor] = {}  # latent_cache
        self.step = 0
        self.last_loss = float("nan")

    def _identity_head(self, text: TextEncoder) -> TokenIdentityHead | None:
        """The training-only token-identity head when ``text_identity_weight`` > 0 (seeded by the run)."""
        if self.cfg.text_identity_weight <= 0:
            return None
        if not text.trainable:
            raise ConfigError("text_identity_weight needs a trainable (built-in) text encoder")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mix_seed(self.cfg.seed, 7))
            return TokenIdentityHead(text.dim, text.tokenizer.vocab_size).to(self.device)

    def _stages(self) -> list[tuple[str, list[str]]]:
        return [("data.buckets", self.cfg.data.buckets)] + [
            (f"curriculum[{i}].buckets", s.buckets) for i, s in enumerate(self.cfg.curriculum)]

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """Everything needed to resume exactly (collective under data parallelism; use rank 0's)."""
        return {
            "step": self.step,
            "config": json.dumps(to_dict(self.cfg), sort_keys=True),
            "dit_config": json.dumps(dataclasses.asdict(self.dit_cfg)),
            "model": get_model_state_dict(self.model, options=_FULL),  # dit.* (+ text.* when trained)
            "ema": get_model_state_dict(self.ema_model, options=_FULL),
            "optimizer": get_optimizer_state_dict(self.model, self.opt, options=_FULL),
            "rng": parallel.all_gather_object(rng_state(self.generator)),  # one per rank
            "last_loss": self.last_loss,
        }

    def load(self, state: dict[str, Any]) -> None:
        saved, now = json.loads(state["config"]), to_dict(self.cfg)
        if (saved.get("text_identity_weight", 0.0) > 0) != (self.cfg.text_identity_weight > 0):
            raise KinemaError(f"cannot resume {self.out}: text_identity_weight was {saved.get('text_identity_weight', 0.0)}, "
                              f"now {self.cfg.text_identity_weight} (the identity head is part of the run's state); "
                              "keep it on (any value > 0) or off, or use a new --out")
        for key in ("preset", "dit", "text"):
            if saved.get(key) != now[key]:
                raise KinemaError(f"cannot resume {self.out}: its {key} was {saved.get(key)!r}, the config now says "
                                  f"{now[key]!r}; use a new --out or the original config")
        if json.loads(state["dit_config"]) != json.loads(json.dumps(dataclasses.asdict(self.dit_cfg))):
            raise KinemaError(f"cannot resume {self.out}: its DiT was {state['dit_config']}, now "
                              f"{dataclasses.asdict(self.dit_cfg)} (a different VAE or text encoder?)")
        load = StateDictOptions(full_state_dict=True)
        set_model_state_dict(self.model, state["model"], options=load)
        set_model_state_dict(self.ema_model, state["ema"], options=load)
        set_optimizer_state_dict(self.model, self.opt, state["optimizer"], options=load)
        rngs = state["rng"]
        if len(rngs) == self.world_size:
            restore_rng(rngs[self.rank], self.generator)
        else:
            logger.warning("resuming a %d-process run on %d processes: noise streams start afresh",
                           len(rngs), self.world_size)
            restore_rng(rngs[0], self.generator)
            self.generator.manual_seed(mix_seed(self.cfg.seed, self.rank, int(state["step"])))
        self.step = int(state["step"])
        self.last_loss = float(state.get("last_loss", float("nan")))

    def ema_parts(self) -> Denoiser | None:
        """The EMA model as a plain module on rank 0 (None elsewhere). Collective under FSDP."""
        if self.kind != "fsdp":
            return self.ema if parallel.is_main() else None
        full = get_model_state_dict(self.ema_model, options=_FULL)
        if not parallel.is_main():
            return None
        text = self.net.text_encoder if self.net.text is None else build_text_encoder(self.cfg.text)
        net = Denoiser(DiT(self.dit_cfg), text, self._identity_head(text))
        net.load_state_dict(full)  # dit.* (+ text.*), gathered from the shards
        return net.to(self.device).requires_grad_(False).eval()

    def export(self, ema: Denoiser) -> Path:
        """Write the model folder (EMA weights) for ``kinema.pipeline``."""
        cfg, b = self.cfg, parse_buckets(self.cfg.data.buckets)[0]
        info = ModelInfo(
            text=cfg.text, fps=cfg.data.fps, caption_field=cfg.data.caption_field,
            defaults=SamplingDefaults(width=b.width, height=b.height, seconds=max(b.frames - 1, 1) / cfg.data.fps,
                                      guidance=cfg.sample_guidance, shift=cfg.shift),
            train={"steps": self.step, "loss": self.last_loss, "config": to_dict(cfg)},
        )
        dtype = torch.bfloat16 if cfg.save_dtype == "bfloat16" else torch.float32
        return save_bundle(self.out / MODEL_DIR, info=info, dit=ema.dit, text=ema.text_encoder, vae=self.vae,
                           dtype=dtype)

    def save(self) -> None:
        """Export the model folder and write ``state.pt`` (rank 0; atomic)."""
        ema, state = self.ema_parts(), self.state()
        if ema is not None:
            self.export(ema)
            save_state(self.out / STATE_FILE, state)
        parallel.barrier()

    # ------------------------------------------------------------------ data

    def stage_at(self, step: int) -> int:
        """Index of the curriculum stage that ``step`` trains in (-1: before any, ``data.buckets``)."""
        return max((i for i, s in enumerate(self.cfg.curriculum) if s.start <= step), default=-1)

    def data_for(self, stage: int) -> DataConfig:
        """The data config of a curriculum stage (-1: ``data`` itself)."""
        if stage < 0:
            return self.cfg.data
        s = self.cfg.curriculum[stage]
        return dataclasses.replace(self.cfg.data, buckets=s.buckets, bucket_weights=s.bucket_weights)

    def batches(self, data: DataConfig, start_step: int) -> Iterator[dict]:
        """This rank's batches from loader step ``start_step`` (``grad_accum`` loader steps per step)."""
        loader = build_dataloader(data, rank=self.rank, world_size=self.world_size,
                                  pin_memory=self.device.type == "cuda")
        return infinite(loader, start_step=start_step)

    @torch.no_grad()
    def encode_video(self, video: Tensor) -> Tensor:
        """Video (B, 3, T, H, W) in [-1, 1] -> normalised latents (B, C, t, h, w) fp32 on the device (the
        posterior mean; under bf16 autocast when ``cfg.bf16``: 3.5x faster on a CPU with AVX512-BF16)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            z = self.vae.encode(video.to(self.device, non_blocking=True)).mode()  # (B, C, t, h, w)
        return self.vae.normalize(z.float())

    def latent_object_mask(self, mask: Tensor) -> Tensor:
        """Pixel object mask (B, T, H, W) bool -> latent mask (B, t, h, w) (``data.latents.latent_object_mask``)."""
        return latent_object_mask(mask, self.vae.cfg.temporal_factor, self.vae.cfg.spatial_factor)

    def encode(self, batch: dict) -> Tensor:
        """A batch's latents (B, C, t, h, w): precomputed (``latents`` source), else encoded here,
        through the in-memory latent cache when it is on."""
        if "latents" in batch:
            return self.vae.normalize(batch["latents"].to(self.device, torch.float32))
        video = batch["video"]
        if not (self.cfg.latent_cache and self.cfg.data.source == "videos"):
            return self.encode_video(video)
        keys = [(src, str(batch["bucket"]), self.cfg.data.crop) for src in batch["source"]]
        missing = [i for i, k in enumerate(keys) if k not in self.latents]
        if missing:
            z = self.encode_video(video[missing])
            for i, zi in zip(missing, z, strict=True):
                self.latents[keys[i]] = zi.cpu()
        return torch.stack([self.latents[k] for k in keys]).to(self.device)

    def prepare(self, batch: dict) -> MicroBatch:
        """Encode a batch and draw its randomness (text dropout, times, masks, noise) from the run's generator."""
        cfg, g = self.cfg, self.generator
        x0 = self.encode(batch)  # (B, C, t, h, w)
        weight = None
        if cfg.object_weight > 0:
            if batch.get("latent_object_mask") is not None:
                objects = batch["latent_object_mask"]  # (B, t, h, w), precomputed
            elif batch.get("object_mask") is not None:
                objects = self.latent_object_mask(batch["object_mask"])
            else:
                objects = None
            weight = None if objects is None else 1.0 + cfg.object_weight * objects.float()  # (B, t, h, w)
        if cfg.latent_crop > 0 and x0.shape[2] >= 3 and float(torch.rand((), generator=g)) < cfg.latent_crop:
            # start the clip mid-video (a 4-frame latent first, not the lone first frame): what every
            # window after the first of a long video looks like (pipeline windows, flow.plan_windows)
            x0 = x0[:, :, 1:]
            weight = None if weight is None else weight[:, 1:]
        b, _, t, h, w = x0.shape
        captions = drop_captions(batch["caption"], cfg.text_dropout, g)
        shift = _shift_for(t * h * w // math.prod(self.dit_cfg.patch), cfg.shift)
        time = sample_times(b, generator=g, mean=cfg.time_mean, std=cfg.time_std, shift=shift)  # (B,)
        cond_mask = sample_cond_mask(b, t, generator=g, probs=cfg.cond)  # (B, t)
        noise = get_noise(x0.shape, generator=g, device=self.device)  # (B, C, t, h, w)
        return MicroBatch(x0=x0, noise=noise, time=time.to(self.device), cond_mask=cond_mask.to(self.device),
                          captions=captions, sources=list(batch["source"]), bucket=str(batch["bucket"]),
                          weight=None if weight is None else weight.to(self.device))

    # ------------------------------------------------------------------ steps

    def accumulate(self, micros: Sequence[MicroBatch]) -> float:
        """Zero the gradients, then forward/backward every micro-batch with ``loss / len(micros)``
        (gradient sync only on the last). Leaves the step's gradient in ``.grad``; returns the mean loss."""
        self.opt.zero_grad(set_to_none=True)
        cfg = self.cfg
        total, identity, contrast = 0.0, 0.0, 0.0
        for i, mb in enumerate(micros):
            rows, alts, n_alt = [], [], 0
            if cfg.mirror_contrast_weight > 0:
                rows, alts, n_alt = mirror_rows(mb.captions, self.contrast_rows(len(mb.captions)))

            def model(xt: Tensor, ft: Tensor, mask: Tensor, captions: list[str] = mb.captions + alts) -> Tensor:
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                    return self.model(xt, ft, captions, mask)

            with parallel.no_sync(self.model, enabled=i < len(micros) - 1):
                loss, con = flow_losses(model, mb.x0, mb.noise, mb.time, mb.cond_mask, mb.weight, cfg.motion_weight,
                                        torch.tensor(rows, dtype=torch.long, device=self.device) if rows else None,
                                        cfg.mirror_contrast_temp, n_alt)
                total_loss = loss
                if self.net.identity_head is not None:
                    total_loss = loss + cfg.text_identity_weight * self.net.identity_loss
                if con is not None:
                    total_loss = total_loss + cfg.mirror_contrast_weight * con
                (total_loss / len(micros)).backward()
            total += loss.item()
            contrast += 0.0 if con is None else con.item()
            if self.net.identity_head is not None:
                identity += self.net.identity_loss.item()
        self.last_identity_loss = identity / len(micros)
        self.last_contrast = contrast / len(micros)
        return total / len(micros)

    def contrast_rows(self, batch: int) -> int:
        """Rows of a ``batch``-clip micro-batch that run again with the mirrored caption (``mirror_contrast_share``)."""
        return max(1, math.ceil(self.cfg.mirror_contrast_share * batch))

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """EMA of the trained weights, warmed up: decay min(ema_decay, (1 + step) / (10 + step))."""
        decay = min(self.cfg.ema_decay, (1 + step) / (10 + step))
        for e, p in zip(self.ema_model.parameters(), self.model.parameters(), strict=True):
            e.lerp_(p.detach(), 1.0 - decay)

    def train_step(self, micros: Sequence[MicroBatch]) -> dict[str, float]:
        """One optimisation step over ``micros``; returns the logged values (loss averaged over ranks)."""
        cfg = self.cfg
        set_lr(self.opt, lr_at(self.step, base=cfg.lr, warmup=cfg.warmup, total=cfg.steps,
                               min_ratio=cfg.min_lr_ratio))
        loss = self.accumulate(micros)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        if hasattr(grad_norm, "full_tensor"):  # FSDP2: a DTensor
            grad_norm = grad_norm.full_tensor()
        self.opt.step()
        self.update_ema(self.step + 1)
        mean_loss = float(parallel.all_reduce_mean(torch.tensor([loss], device=self.device)))
        out = {"loss": mean_loss, "grad_norm": float(grad_norm), "lr": self.opt.param_groups[0]["lr"]}
        if self.net.identity_head is not None:
            out["text_identity"] = self.last_identity_loss
        if self.cfg.mirror_contrast_weight > 0:
            out["mirror_contrast"] = self.last_contrast
        return out

    def sample_captions(self) -> tuple[list[str], Bucket]:
        """The sample prompts (expanded to detailed captions when the model trains on those) and the shape."""
        cfg, b = self.cfg, parse_buckets(self.cfg.data.buckets)[0]
        if cfg.data.caption_field != "detailed_caption":
            return list(cfg.sample_prompts), b
        return [expand_prompt(p, seed=i, width=b.width, height=b.height, fps=cfg.data.fps, num_frames=b.frames)
                for i, p in enumerate(cfg.sample_prompts)], b

    def write_samples(self) -> list[Path]:
        """The EMA model's videos for ``sample_prompts`` at the first bucket's shape (rank 0 writes)."""
        ema = self.ema_parts()
        if ema is None or not self.cfg.sample_prompts:
            return []
        cfg = self.cfg
        captions, b = self.sample_captions()
        latent = self.vae.latent_shape(b.frames, b.height, b.width)
        tokens = math.prod(latent) // math.prod(self.dit_cfg.patch)
        video = _sample_videos(ema.dit, ema.text_encoder, self.vae, captions, latent=latent, steps=cfg.sample_steps,
                               guidance=cfg.sample_guidance, shift=_shift_for(tokens, cfg.shift), seed=cfg.seed,
                               bf16=cfg.bf16)
        paths = []
        for i, frames in enumerate(to_uint8_frames(video)):
            paths.append(write_video(self.out / "samples" / f"step_{self.step:07d}_{i}.mp4", frames, fps=cfg.data.fps))
        return paths

    def fit(self, *, stop_after: int | None = None, progress: bool = True) -> Path:
        """Train until ``cfg.steps`` (or ``stop_after``), checkpointing as configured. Returns the model folder."""
        cfg, main = self.cfg, parallel.is_main()
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out / "config.json")
        end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
        bar = tqdm(total=cfg.steps, initial=self.step, desc="dit", unit="step", disable=not (progress and main))
        log = open(self.out / "log.jsonl", "a", encoding="utf-8") if main else None
        stage, batches = None, iter(())
        window = _Window()
        try:
            while self.step < end:
                t0 = timer.perf_counter()
                if self.stage_at(self.step) != stage:  # start, resume, or a new curriculum stage
                    stage = self.stage_at(self.step)
                    batches = self.batches(self.data_for(stage), start_step=self.step * cfg.grad_accum)
                micros = [self.prepare(next(batches)) for _ in range(cfg.grad_accum)]
                logs = self.train_step(micros)
                self.step += 1
                if not math.isfinite(logs["loss"]):
                    raise KinemaError(f"loss became {logs['loss']} at step {self.step}; lower lr or turn off bf16")
                self.last_loss = logs["loss"]
                window.add(self, micros, logs, timer.perf_counter() - t0)
                bar.update(1)
                bar.set_postfix(loss=f"{logs['loss']:.4f}")
                if self.step % cfg.log_every == 0 or self.step == end:
                    record = window.record(self, micros)
                    if log is not None:
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                    window = _Window()
                if cfg.sample_every > 0 and self.step % cfg.sample_every == 0:
                    self.write_samples()
                if self.step % cfg.ckpt_every == 0 and self.step != end:
                    self.save()
        finally:
            bar.close()
            if log is not None:
                log.close()
        self.save()
        if cfg.sample_every > 0 and self.step % cfg.sample_every != 0:
            self.write_samples()
        return self.out / MODEL_DIR


class _Window:
    """Sums over the steps since the last log line (losses, tokens, FLOPs, seconds)."""

    def __init__(self) -> None:
        self.steps, self.loss, self.grad_norm, self.tokens, self.flops, self.seconds = 0, 0.0, 0.0, 0, 0.0, 0.0
        self.identity, self.contrast = 0.0, 0.0

    def add(self, trainer: DiTTrainer, micros: Sequence[MicroBatch], logs: dict[str, float], seconds: float) -> None:
        patch = math.prod(trainer.dit_cfg.patch)
        for mb in micros:
            b, _, t, h, w = mb.x0.shape
            if trainer.cfg.mirror_contrast_weight > 0:  # the alternative-caption rows run too
                b += trainer.contrast_rows(b)
            n = t * h * w // patch  # tokens per clip
            per_token = trainer.net.dit.flops_per_token(n, trainer.net.last_text_len)
            self.tokens += b * n * trainer.world_size
            self.flops += 3 * per_token * b * n * trainer.world_size  # forward + backward
        self.steps += 1
        self.loss += logs["loss"]
        self.identity += logs.get("text_identity", 0.0)
        self.contrast += logs.get("mirror_contrast", 0.0)
        self.grad_norm += logs["grad_norm"]
        self.seconds += seconds
        self.lr = logs["lr"]

    def record(self, trainer: DiTTrainer, micros: Sequence[MicroBatch]) -> dict[str, Any]:
        s = max(self.seconds, 1e-9)
        rec: dict[str, Any] = {
            "step": trainer.step, "loss": self.loss / self.steps, "lr": self.lr,
            "grad_norm": self.grad_norm / self.steps, "bucket": micros[-1].bucket,
            "s_per_step": s / self.steps, "tokens_per_s": self.tokens / s, "gflop_per_s": self.flops / s / 1e9,
        }
        if trainer.net.identity_head is not None:
            rec["text_identity"] = self.identity / self.steps
        if trainer.cfg.mirror_contrast_weight > 0:
            rec["mirror_contrast"] = self.contrast / self.steps
        if trainer.cfg.peak_tflops > 0:
            rec["mfu"] = self.flops / s / (trainer.cfg.peak_tflops * 1e12 * trainer.world_size)
        if trainer.cfg.log_sources:
            rec["sources"] = parallel.all_gather_object([src for mb in micros for src in mb.sources])
        return rec


# --------------------------------------------------------------------------- entry points


# the DiT's only tensors whose shapes follow the latent format (channels x patch): a run on another
# autoencoder starts them afresh (the output projection at zero, so it starts by predicting 0)
LATENT_IO_PREFIXES = ("x_embedder.", "final_layer.linear.")


def _init_from(folder: str, dit: DiT, text: torch.nn.Module) -> None:
    """Copy the DiT (and built-in text encoder) weights of a model folder into a new run's modules.

    Three differences from the folder's DiT are allowed: a frame-position embedding the folder lacks
    (added at zero, so the run starts as the folder's model); more blocks (``depth`` above the
    folder's: the added blocks go after its blocks with the model's own initialisation, whose
    adaLN-Zero gates and cross-attention projection are zero, so each starts as the identity and the
    run again starts as the folder's model); and another latent format (a new autoencoder:
    ``in_channels`` or ``patch`` differ), for which every tensor but the patch embedding and the
    output projection is copied (``LATENT_IO_PREFIXES``; those two start afresh). The built-in
    text encoder may take longer texts (a larger ``text.max_length``): its positions up to the
    folder's length are copied and the rest keep their fresh initialisation, so texts that fit the
    folder's length still encode exactly as before.
    """
    from kinema.models.bundle import load_bundle

    bundle = load_bundle(folder)
    old, new = bundle.dit.cfg, dit.cfg
    grows = old.frame_pos == 0 and new.frame_pos > 0
    deeper = new.depth > old.depth
    new_latent = (old.in_channels, old.patch) != (new.in_channels, new.patch)  # patch: a tuple (DiTConfig)
    if dataclasses.replace(old, frame_pos=new.frame_pos if grows else old.frame_pos,
                           depth=new.depth if deeper else old.depth,
                           in_channels=new.in_channels, patch=new.patch) != new:
        raise KinemaError(f"cannot start from {folder}: its DiT config {old} differs from this run's "
                          f"{new}; match preset/dit/text to the folder's model.json (only the latent "
                          f"format, in_channels and patch, an added frame_pos and a larger depth may differ)")
    state = bundle.dit.state_dict()
    if new_latent:
        state = {k: v for k, v in state.items() if not k.startswith(LATENT_IO_PREFIXES)}
    missing, unexpected = dit.load_state_dict(state, strict=False)
    added_blocks = tuple(f"blocks.{i}." for i in range(old.depth, new.depth))
    fresh = (("frame_pos_embedder.",) if grows else ()) + (LATENT_IO_PREFIXES if new_latent else ()) + added_blocks
    if unexpected or any(not k.startswith(fresh) for k in missing):
        raise KinemaError(f"cannot start from {folder}: weights do not match (missing {missing}, unexpected {unexpected})")
    if grows:
        logger.info("added a frame-position embedding (frame_pos=%d, zero-initialised) to %s's DiT",
                    new.frame_pos, folder)
    if deeper:
        logger.info("added %d blocks (depth %d -> %d, each starting as the identity) to %s's DiT",
                    new.depth - old.depth, old.depth, new.depth, folder)
    if new_latent:
        logger.info("new latent format (%d channels, patch %s; %s's DiT had %d, %s): the patch embedding "
                    "and output projection start afresh, the rest is copied", new.in_channels,
                    "x".join(map(str, new.patch)), folder, old.in_channels, "x".join(map(str, old.patch)))
    if text.trainable:
        text_state = bundle.text.state_dict()
        old_len, new_len = (text_state["pos"].shape[0], text.pos.shape[0]) if "pos" in text_state else (0, 0)
        if new_len > old_len > 0:  # a longer text.max_length: the added positions keep their fresh init
            text_state["pos"] = torch.cat([text_state["pos"], text.pos.detach()[old_len:].to(text_state["pos"])])
            logger.info("text.max_length %d -> %d: positions %d.. start from the encoder's own init",
                        old_len, new_len, old_len)
        try:
            text.load_state_dict(text_state)
        except RuntimeError as e:
            raise KinemaError(f"cannot start from {folder}: its text encoder differs from this run's: {e}") from None
    logger.info("initialised from %s", folder)


def train_dit(cfg: DiTTrainConfig, *, resume: bool = True, stop_after: int | None = None,
              progress: bool = True) -> Path:
    """Train (or resume, if ``cfg.out`` holds a ``state.pt``) and return the exported model folder.

    Under ``torchrun`` it joins the process group (``kinema.parallel.init_distributed``) and
    leaves it at the end if it joined it.
    """
    joined = dist.is_available() and not dist.is_initialized()
    _, world, device = parallel.init_distributed()
    try:
        trainer = DiTTrainer(cfg, device=device)
        state_path = Path(cfg.out) / STATE_FILE
        if resume and state_path.exists():
            trainer.load(load_state(state_path))
            logger.info("resuming %s from step %d", cfg.out, trainer.step)
        return trainer.fit(stop_after=stop_after, progress=progress)
    finally:
        if joined and world > 1:
            parallel.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kinema.train.train_dit --config FILE [--a.b=c ...] [--no-resume] [-q]`` (torchrun-able)."""
    parser = argparse.ArgumentParser(prog="python -m kinema.train.train_dit", allow_abbrev=False,
                                     description="Train the diffusion transformer; extra --a.b=c override the config.")
    parser.add_argument("--config", default=None, help="TOML/JSON config (configs/dit_*.toml)")
    parser.add_argument("--no-resume", action="store_true", help="start over even if the run folder has a state")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                        help="stop (checkpointed, resumable) at this step; the schedule still runs to `steps`")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    ns, overrides = parser.parse_known_args(argv)
    stray = [o for o in overrides if not o.startswith("--") or "=" not in o]
    if stray:
        parser.error(f"overrides must look like --key.path=value, got {' '.join(stray)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        run(ns.config, overrides, resume=not ns.no_resume, progress=not ns.quiet, stop_after=ns.stop_after)
    except KinemaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def run(config: str | None, overrides: Sequence[str], *, resume: bool = True, progress: bool = True,
        stop_after: int | None = None) -> Path:
    """Join the process group (torchrun) if any, train, leave it; rank 0 prints the export path.
    The entry point of both ``kinema train`` and ``python -m kinema.train.train_dit``. ``stop_after``
    ends the run early at that step (checkpointed; the learning-rate schedule is still ``steps``
    long, so an A/B run stopped early compares with the same step of a full run)."""
    if stop_after is not None and stop_after < 1:
        raise ConfigError(f"stop_after must be a step >= 1, got {stop_after}")
    parallel.init_distributed()
    try:
        cfg = load_config(DiTTrainConfig, config, list(overrides))
        path = train_dit(cfg, resume=resume, progress=progress, stop_after=stop_after)
        if parallel.is_main():
            print(f"wrote {path}")
        return path
    finally:
        parallel.cleanup()


if __name__ == "__main__":
    sys.exit(main())
