"""Train the causal video autoencoder: ``kinema vae train --config FILE [--a.b=c ...]``.

Loss per step (video x in [-1, 1], reconstruction x̂ from a posterior sample):

    L = l1_weight · |x̂ - x|_w  +  ssim_weight · (1 - SSIM(x̂, x))  +  kl_weight · KL / latent size
        [+ edge_weight · |∇x̂ - ∇x|_w]  [+ adv_weight · hinge generator loss, from step adv_start]

``|x̂ - x|_w`` is the plain mean absolute error, or with ``object_weight`` > 0 on world clips the
mean weighted by ``1 + object_weight`` inside the objects' boxes (``batch["object_mask"]``): small
objects are a few percent of the pixels, so an unweighted loss lets the model blur them into blobs.
``edge_weight`` adds the same weighted mean on the horizontal and vertical pixel differences (a
gradient-difference term): a rounded corner or a soft edge costs little L1 but a lot of gradient.

A fresh model with ``vae.linear_path`` first fits its linear path to ``linear_fit_batches``
training batches (``VideoVAE.fit_linear_path``), so it starts as the best linear codec of its
compression and training learns the rest.

``train_part = "decoder"`` fine-tunes only the decoder of an ``init`` autoencoder: the encoder is
frozen and its latent scale/shift are kept, so the latents (and every diffusion model trained on
them) stay exactly valid while reconstructions get sharper.

The run folder (``out``) holds ``config.json`` (the resolved config), ``state.pt`` (everything
needed to resume exactly), ``vae.safetensors`` (the exported model, with the measured latent
scale/shift in its config), ``log.jsonl`` (one line per logged step) and ``samples/`` (side-by-side
input | reconstruction mp4s). Running the same command again resumes from ``state.pt``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm import tqdm

from kinema.config import DataConfig, save_config, to_dict
from kinema.data.dataset import build_dataloader, infinite, to_uint8_frames
from kinema.data.video_io import write_video
from kinema.errors import KinemaError
from kinema.eval.metrics import psnr, ssim
from kinema.models.discriminator import PatchDiscriminator, hinge_d_loss, hinge_g_loss
from kinema.models.vae import VAE_FILE, VideoVAE, load_vae, save_vae, vae_config, widen_latent
from kinema.train.checkpoint import STATE_FILE, load_state, restore_rng, rng_state, save_state
from kinema.train.optim import build_adamw, lr_at, set_lr

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class VAETrainConfig:
    """A VAE training run. ``vae`` overrides fields of the ``preset`` architecture."""

    preset: Literal["tiny", "world", "world4", "real"] = "world"
    vae: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    out: str = "runs/vae"
    steps: int = 2000
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    l1_weight: float = 1.0
    ssim_weight: float = 0.5
    kl_weight: float = 1e-4
    adv_weight: float = 0.0  # 0 disables the adversarial term
    adv_start: int = 0  # step at which the adversarial term turns on
    disc_lr: float = 2e-4
    bf16: bool = False  # bfloat16 autocast for the forward pass (CPU and GPU)
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    log_every: int = 25
    sample_every: int = 500
    ckpt_every: int = 250
    stats_batches: int = 8  # batches used to measure the latent scale/shift
    linear_fit_batches: int = 64  # batches whose principal components start a fresh linear path (vae.linear_path)
    save_dtype: Literal["float32", "bfloat16"] = "float32"  # dtype of the exported vae.safetensors
    seed: int = 0
    init: str = ""  # a vae.safetensors whose weights start a new run (same architecture, or fewer latent channels)
    train_part: Literal["all", "decoder"] = "all"  # "decoder": frozen encoder (needs init), latents unchanged
    object_weight: float = 0.0  # extra L1 weight inside world objects' boxes (world data only)
    edge_weight: float = 0.0  # weight of the gradient-difference term (sharp edges and corners); 0 = off

    def __post_init__(self) -> None:
        if self.train_part == "decoder" and not self.init:
            raise KinemaError("train_part = 'decoder' fine-tunes an existing autoencoder: set init to its "
                              "vae.safetensors (a fresh encoder would make meaningless latents)")
        if self.data.source == "latents":
            raise KinemaError("the autoencoder trains on videos: data.source must be world or videos, not latents")
        for name in ("object_weight", "edge_weight"):
            if not getattr(self, name) >= 0:
                raise KinemaError(f"{name} must be >= 0, got {getattr(self, name)}")


def _autocast(enabled: bool, device: torch.device) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def pixel_weight(object_mask: torch.Tensor, object_weight: float, *, grow: int = 2) -> torch.Tensor:
    """Object mask (B, T, H, W) bool -> L1 weight (B, 1, T, H, W): ``1 + object_weight`` inside the
    objects' boxes grown by ``grow`` pixels (their anti-aliased edges and shadows), 1 elsewhere."""
    m = object_mask.float().unsqueeze(1)  # (B, 1, T, H, W)
    if grow > 0:
        m = torch.nn.functional.max_pool3d(m, (1, 2 * grow + 1, 2 * grow + 1), stride=1, padding=(0, grow, grow))
    return 1.0 + object_weight * m


def _weighted_mean(err: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return err.mean() if weight is None else (err * weight).mean() / weight.expand_as(err).mean()


def edge_error(x: torch.Tensor, recon: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient-difference error: mean ``|∇x̂ - ∇x|`` over horizontal and vertical neighbour pairs.
    x, recon: (B, C, T, H, W); weight: optional (B, 1, T, H, W) per-pixel weight (each pair takes
    the larger of its two pixels' weights). Zero for a reconstruction off by a constant."""
    def grads(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return v[..., :, 1:] - v[..., :, :-1], v[..., 1:, :] - v[..., :-1, :]

    (gx, gy), (rx, ry) = grads(x), grads(recon)
    wx = wy = None
    if weight is not None:
        wx = torch.maximum(weight[..., :, 1:], weight[..., :, :-1])
        wy = torch.maximum(weight[..., 1:, :], weight[..., :-1, :])
    return 0.5 * (_weighted_mean((rx - gx).abs(), wx) + _weighted_mean((ry - gy).abs(), wy))


def vae_loss(
    cfg: VAETrainConfig, x: torch.Tensor, recon: torch.Tensor, kl: torch.Tensor, latent_numel: int,
    weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction + structure + KL (+ edge) loss. x, recon: (B, C, T, H, W); kl: (B,) summed per
    sample; weight: optional per-pixel L1 weight (B, 1, T, H, W) (``pixel_weight``)."""
    recon = recon.float()
    err = (recon - x).abs()
    l1 = err.mean()
    rec = _weighted_mean(err, weight)
    s = ssim(recon, x).mean()
    kl_term = kl.mean() / latent_numel
    loss = cfg.l1_weight * rec + cfg.ssim_weight * (1 - s) + cfg.kl_weight * kl_term
    logs = {"l1": l1.item(), "ssim": s.item(), "kl": kl_term.item()}
    if cfg.edge_weight > 0:
        edge = edge_error(x, recon, weight)
        loss = loss + cfg.edge_weight * edge
        logs["edge"] = edge.item()
    return loss, logs


@torch.no_grad()
def measure_latent_stats(model: VideoVAE, batches: Iterator[dict], n: int) -> tuple[list[float], list[float]]:
    """Per-channel shift (mean) and scale (1/std) of posterior means over ``n`` batches."""
    zs = []
    for _ in range(n):
        x = next(batches)["video"]
        z = model.encode(x).mode()  # (B, z, t, h, w)
        zs.append(z.transpose(0, 1).flatten(1))  # (z, B*t*h*w)
    allz = torch.cat(zs, dim=1)
    mean, std = allz.mean(1), allz.std(1).clamp_min(1e-4)
    return mean.tolist(), (1.0 / std).tolist()


def _side_by_side(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) pair -> one video (1, C, T, B*H, 2*W): rows are samples, input | recon."""
    pair = torch.cat([x, recon.clamp(-1, 1)], dim=4)  # (B, C, T, H, 2W)
    return torch.cat(list(pair), dim=2).unsqueeze(0)  # (1, C, T, B*H, 2W)


class VAETrainer:
    """State and steps of one VAE training run (see the module docstring for the run folder)."""

    def __init__(self, cfg: VAETrainConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = VideoVAE(vae_config(cfg.preset, **cfg.vae)).to(self.device)
        if cfg.init:
            self._init_from(cfg.init)
        if cfg.train_part == "decoder":
            self.model.encoder.requires_grad_(False)
        self.opt = build_adamw(self.model, cfg.lr, cfg.weight_decay, cfg.betas)
        self.disc: PatchDiscriminator | None = None
        self.disc_opt: torch.optim.Optimizer | None = None
        if cfg.adv_weight > 0:
            self.disc = PatchDiscriminator(self.model.cfg.in_channels).to(self.device)
            self.disc_opt = torch.optim.AdamW(self.disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.9))
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0

    def _init_from(self, path: str) -> None:
        """Start from the weights (and latent statistics) of a saved VAE of the same architecture.

        A config with more latent channels than ``path`` starts from ``widen_latent`` of it (the same
        reconstructions, new channels free to learn); the encoder then changes, so it needs
        ``train_part = "all"``.
        """
        src = load_vae(path)
        want = self.model.cfg.latent_channels
        if want > src.cfg.latent_channels:
            if self.cfg.train_part != "all":
                raise KinemaError(f"widening {path} from {src.cfg.latent_channels} to {want} latent channels "
                                  "trains the encoder too: use train_part = 'all'")
            src = widen_latent(src, want)
        mine = {k: v for k, v in dataclasses.asdict(self.model.cfg).items() if k not in ("scale", "shift")}
        theirs = {k: v for k, v in dataclasses.asdict(src.cfg).items() if k not in ("scale", "shift")}
        if mine != theirs:
            diff = sorted(k for k in mine if mine[k] != theirs[k])
            raise KinemaError(f"cannot start from {path}: its architecture differs in {', '.join(diff)}"
                              + (" (a wider latent can start from a narrower one, not the reverse)"
                                 if "latent_channels" in diff else ""))
        self.model.load_state_dict(src.state_dict())
        self.model.cfg.scale, self.model.cfg.shift = list(src.cfg.scale), list(src.cfg.shift)

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step,
            "config": json.dumps(to_dict(self.cfg), sort_keys=True),
            "model": self.model.state_dict(),
            "vae_config": json.dumps(dataclasses.asdict(self.model.cfg)),
            "optimizer": self.opt.state_dict(),
            "rng": rng_state(self.generator),
        }
        if self.disc is not None and self.disc_opt is not None:
            state["disc"] = self.disc.state_dict()
            state["disc_optimizer"] = self.disc_opt.state_dict()
        return state

    def load(self, state: dict[str, Any]) -> None:
        saved = json.loads(state["config"])
        for key in ("preset", "vae", "adv_weight", "train_part"):
            if saved.get(key) != to_dict(self.cfg)[key]:
                raise KinemaError(
                    f"cannot resume {self.out}: its {key} was {saved.get(key)!r}, the config now says "
                    f"{to_dict(self.cfg)[key]!r}; use a new --out or the original config"
                )
        self.model.load_state_dict(state["model"])
        vcfg = json.loads(state["vae_config"])
        self.model.cfg.scale, self.model.cfg.shift = vcfg["scale"], vcfg["shift"]
        self.opt.load_state_dict(state["optimizer"])
        if self.disc is not None and self.disc_opt is not None:
            self.disc.load_state_dict(state["disc"])
            self.disc_opt.load_state_dict(state["disc_optimizer"])
        restore_rng(state["rng"], self.generator)
        self.step = int(state["step"])

    def save(self) -> None:
        """Measure latent stats (kept as they are when only the decoder trains), export
        ``vae.safetensors``, then write ``state.pt`` (all atomic)."""
        if self.cfg.train_part == "all":
            stats_cfg = dataclasses.replace(self.cfg.data, seed=self.cfg.data.seed + 7919, crop="center")
            self.model.eval()
            shift, scale = measure_latent_stats(self.model, self._batches(stats_cfg), self.cfg.stats_batches)
            self.model.train()
            self.model.cfg.shift, self.model.cfg.scale = shift, scale
        dtype = torch.bfloat16 if self.cfg.save_dtype == "bfloat16" else torch.float32
        save_vae(self.model, self.out / VAE_FILE, dtype=dtype)
        save_state(self.out / STATE_FILE, self.state())

    # ------------------------------------------------------------------ steps

    def _batches(self, data: DataConfig, start_step: int = 0) -> Iterator[dict]:
        return infinite(build_dataloader(data), start_step=start_step)

    def train_step(self, x: torch.Tensor, object_mask: torch.Tensor | None = None) -> dict[str, float]:
        """One optimisation step on video x (B, C, T, H, W) (object_mask (B, T, H, W) for
        ``object_weight``); returns the logged values."""
        cfg = self.cfg
        set_lr(self.opt, lr_at(self.step, base=cfg.lr, warmup=cfg.warmup, total=cfg.steps,
                               min_ratio=cfg.min_lr_ratio))
        with _autocast(cfg.bf16, self.device):
            if cfg.train_part == "decoder":
                with torch.no_grad():
                    post = self.model.encode(x)  # the frozen encoder: no graph, no gradients
                recon = self.model.decode(post.sample(self.generator))  # (B, C, T, H, W)
            else:
                recon, post = self.model(x, self.generator)  # (B, C, T, H, W)
        weight = None
        if cfg.object_weight > 0 and object_mask is not None:
            weight = pixel_weight(object_mask.to(self.device), cfg.object_weight)  # (B, 1, T, H, W)
        loss, logs = vae_loss(cfg, x, recon, post.kl(), post.mean[0].numel(), weight)
        adv_on = self.disc is not None and self.step >= cfg.adv_start
        if adv_on:
            assert self.disc is not None
            g = hinge_g_loss(self.disc(recon.float()))
            loss = loss + cfg.adv_weight * g
            logs["g"] = g.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        if adv_on:
            assert self.disc is not None and self.disc_opt is not None
            d = hinge_d_loss(self.disc(x), self.disc(recon.detach().float()))
            self.disc_opt.zero_grad(set_to_none=True)
            d.backward()
            self.disc_opt.step()
            logs["d"] = d.item()
        logs.update(loss=loss.item(), grad_norm=float(grad_norm), lr=self.opt.param_groups[0]["lr"],
                    psnr=psnr(recon.detach().float(), x).mean().item())
        return logs

    def fit_linear_path(self) -> None:
        """Start a fresh model's linear path as the principal components of ``linear_fit_batches``
        training batches (their own seed): the model then begins as the best linear codec."""
        fit_cfg = dataclasses.replace(self.cfg.data, seed=self.cfg.data.seed + 3571)
        batches = self._batches(fit_cfg)
        self.model.fit_linear_path(next(batches)["video"].to(self.device) for _ in range(self.cfg.linear_fit_batches))
        logger.info("linear path: principal components of %d batches", self.cfg.linear_fit_batches)

    @torch.no_grad()
    def write_sample(self, x: torch.Tensor) -> Path:
        """Reconstruct x (B, C, T, H, W) and write input | reconstruction side by side."""
        self.model.eval()
        recon = self.model.decode(self.model.encode(x).mode())
        self.model.train()
        path = self.out / "samples" / f"step_{self.step:07d}.mp4"
        write_video(path, to_uint8_frames(_side_by_side(x, recon))[0], fps=self.cfg.data.fps)
        return path

    def fit(self, *, stop_after: int | None = None, progress: bool = True) -> Path:
        """Train until ``cfg.steps`` (or ``stop_after``), checkpointing as configured. Returns the export."""
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, self.out / "config.json")
        batches = self._batches(cfg.data, start_step=self.step)
        sample_cfg = dataclasses.replace(cfg.data, seed=cfg.data.seed + 104729, crop="center",
                                         batch_size=min(cfg.data.batch_size, 2),
                                         split="test" if cfg.data.source == "world" else cfg.data.split)
        sample_x = next(self._batches(sample_cfg))["video"].to(self.device)
        if self.step == 0 and self.model.cfg.linear_path and not cfg.init:
            self.fit_linear_path()
        end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
        bar = tqdm(total=cfg.steps, initial=self.step, desc="vae", unit="step", disable=not progress)
        t0, seen = time.perf_counter(), 0
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as log:
            while self.step < end:
                batch = next(batches)
                x = batch["video"].to(self.device)
                logs = self.train_step(x, batch.get("object_mask"))
                self.step += 1
                seen += x.shape[0] * x.shape[2]
                if not math.isfinite(logs["loss"]):
                    raise KinemaError(f"loss became {logs['loss']} at step {self.step}; lower lr or use float32")
                bar.update(1)
                bar.set_postfix(loss=f"{logs['loss']:.4f}", psnr=f"{logs['psnr']:.1f}")
                if self.step % cfg.log_every == 0 or self.step == end:
                    elapsed = time.perf_counter() - t0
                    record = {"step": self.step, **logs, "bucket": str(batch["bucket"]),
                              "frames_per_s": seen / max(elapsed, 1e-9)}
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                if cfg.sample_every > 0 and self.step % cfg.sample_every == 0:
                    self.write_sample(sample_x)
                if self.step % cfg.ckpt_every == 0 and self.step != end:
                    self.save()
        bar.close()
        self.save()
        self.write_sample(sample_x)
        return self.out / VAE_FILE


def train_vae(cfg: VAETrainConfig, *, resume: bool = True, stop_after: int | None = None,
              progress: bool = True) -> Path:
    """Train (or resume, if ``cfg.out`` holds a ``state.pt``) and return the exported weights' path."""
    trainer = VAETrainer(cfg)
    state_path = Path(cfg.out) / STATE_FILE
    if resume and state_path.exists():
        trainer.load(load_state(state_path))
        logger.info("resuming %s from step %d", cfg.out, trainer.step)
    return trainer.fit(stop_after=stop_after, progress=progress)
