"""The one inference path: prompt -> video frames, from a model folder (``kinema.models.bundle``).

    pipe = Pipeline.from_pretrained("weights/default")          # or a folder written by training
    result = pipe("a red ball bounces", seconds=2, seed=7)      # GenerationResult
    save_result(result, "out.mp4")                              # .mp4 / .mkv / .webm / .gif, .png for 1 frame

``Pipeline.__call__`` runs in numbered steps (as diffusers' Wan pipeline does):

1. ``check_inputs``: every argument is checked and resolved against the model's defaults into a
   ``GenerationSettings``; a bad one raises a ``KinemaError`` that says which values would work.
2. Expand the prompt (recaptioning): the short user prompt becomes the detailed caption form the
   model was trained on (``models.text.expand_prompt``; the world grammar or any ``str -> str``).
3. Encode the text once: [prompt; negative prompt] in one batch for classifier-free guidance (the
   prompt alone when ``guidance == 1``), and the DiT's text keys/values once (``encode_text_kv``).
4. Latent noise from ``flow.get_noise`` with the seed, drawn on the CPU (same video on any device).
5. The schedule, shifted for the token count (``flow.default_shift``).
6. ``flow.denoise`` with batched CFG (``flow.guided``) under ``torch.inference_mode`` (and bf16
   autocast when the pipeline was built with ``dtype=torch.bfloat16``); tqdm progress, callback.
7. Denormalise and decode with the VAE causally, one latent frame at a time (flat memory).
8. Frames to uint8 ``(T, H, W, 3)``, written into one preallocated array as they are decoded.

The sampling core is the module-level function ``_sample`` (model, noise, schedule, text cache,
optional conditioning frames): image-to-video, extension and interpolation are built on it by
passing ``cond_latents``/``cond_mask`` (clean latents of the given frames, e.g. from
``Pipeline.encode_video``) without changing the text-to-video path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from kinema.atomic import atomic_path
from kinema.data.dataset import to_model_video, to_uint8_frames
from kinema.data.video_io import write_video
from kinema.errors import KinemaError
from kinema.flow import default_shift, denoise, get_noise, get_schedule, guided
from kinema.models.bundle import MODEL_JSON, Bundle, load_bundle
from kinema.models.dit import DiT, TextCache
from kinema.models.text import expand_prompt

__all__ = [
    "DEFAULT_MODEL",
    "SOLVERS",
    "GenerationResult",
    "GenerationSettings",
    "Pipeline",
    "frames_for_seconds",
    "save_result",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "weights" / "default"
"""The committed default model folder (``<repo>/weights/default``)."""

SOLVERS = ("euler", "heun", "midpoint")
MAX_SIDE = 4096  # pixels per side
MAX_TOKENS = 1 << 20  # DiT tokens per video (≈ 1080p for 16 s at 8x8x4 compression and 2x2 patches)
MAX_FPS = 240.0
TRAIN_HINT = "train one with `kinema train --config configs/dit_world.toml`"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".gif")

# (done, total, latents (B, C, t, h, w)) after each sampling step; done = 1 .. total
StepCallback = Callable[[int, int, Tensor], None]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class GenerationSettings:
    """Everything a generation used, resolved (no ``None``): what ``check_inputs`` returns."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    frames: int
    fps: float
    steps: int
    guidance: float
    solver: str
    shift: float  # the value used (resolved from the token count when the default says "auto")
    seed: int
    expand: bool
    latent_shape: tuple[int, int, int, int]  # (C, t, h, w)
    tokens: int  # DiT tokens per video

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


@dataclass
class GenerationResult:
    """One generated video.

    ``frames``: uint8 ``(T, H, W, 3)`` RGB (``T == 1`` is an image). ``prompt`` is what the user
    asked for and ``detailed_prompt`` what the model was conditioned on (after expansion).
    ``settings``: every value used, JSON-serialisable (for metadata). ``timings``: seconds per stage.
    """

    frames: np.ndarray
    fps: float
    prompt: str
    detailed_prompt: str
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- small pure helpers


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _frame_counts_near(frames: int, ft: int, pt: int) -> tuple[int, int]:
    """Valid frame counts (``1 + ft·(t - 1)`` with ``t`` latent frames a multiple of ``pt``) just
    below (or the smallest, if none) and just above ``frames``."""
    t = (frames - 1) / ft + 1  # latent frames, fractional
    lo_t = max(pt, math.floor(t / pt) * pt)
    hi_t = max(pt, math.ceil(t / pt) * pt)
    if hi_t == lo_t and 1 + ft * (lo_t - 1) <= frames:
        hi_t = lo_t + pt
    return 1 + ft * (lo_t - 1), 1 + ft * (hi_t - 1)


def frames_for_seconds(seconds: float, fps: float, *, temporal_factor: int, patch_t: int = 1) -> int:
    """The valid frame count nearest to ``round(seconds · fps)`` (at least one latent frame).

    Valid counts are ``1 + ft·(t - 1)`` where ``t`` (latent frames) is a multiple of the DiT's
    temporal patch ``pt`` (any ``t >= 1`` for the usual ``pt = 1``): 1, 5, 9, 13, ... for ``ft = 4``.
    Halves round up (2 s at 8 fps = 16 frames -> 17).
    """
    n = _round_half_up(seconds * fps)
    t = (n - 1) / temporal_factor + 1  # latent frames, fractional
    t_int = max(patch_t, _round_half_up(t / patch_t) * patch_t)
    return 1 + temporal_factor * (t_int - 1)


def _sizes_near(size: int, multiple: int) -> tuple[int, int]:
    lo = max(multiple, size // multiple * multiple)
    hi = lo + multiple if lo >= size else max(multiple, -(-size // multiple) * multiple)
    return lo, hi


def _either(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo} or {hi}"


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(x)


def _resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    names = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
    resolved = names.get(dtype.lower()) if isinstance(dtype, str) else dtype
    if resolved not in (torch.float32, torch.bfloat16):
        raise KinemaError(f"dtype must be torch.float32 ('fp32') or torch.bfloat16 ('bf16'), got {dtype!r}")
    return resolved


def _autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """bf16 autocast on the model's device, or nothing for fp32 (weights always stay fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --------------------------------------------------------------------------- sampling core


def _slice_cache(cache: TextCache, n: int) -> TextCache:
    """The first ``n`` rows of a ``TextCache``."""
    return TextCache(kv=[(k[:n], v[:n]) for k, v in cache.kv], mask=cache.mask[:n], pooled=cache.pooled[:n])


def _sample(
    dit: DiT,
    noise: Tensor,
    schedule: list[float],
    text_cache: TextCache,
    *,
    guidance: float,
    solver: str = "euler",
    cond_latents: Tensor | None = None,
    cond_mask: Tensor | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Integrate the DiT's velocity from ``noise`` along ``schedule``; returns normalised latents.

    noise: ``(B, C, t, h, w)`` at ``schedule[0]``. text_cache: a ``TextCache`` of batch ``B``
    (prompt rows; enough for ``guidance == 1``) or ``2B`` (prompt rows, then unconditional /
    negative rows) for classifier-free guidance, computed once by ``DiT.encode_text_kv``.
    cond_latents ``(B, C, t, h, w)`` (normalised) with cond_mask ``(B, t)`` bool: frames that are
    given (image/video prompts); the DiT also gets the mask (its "given" embedding). ``callback(i,
    x)`` as in ``flow.denoise``. ``dtype=torch.bfloat16`` runs the DiT under bf16 autocast (the
    sampler update stays fp32). Call it under ``torch.inference_mode()``.
    """
    batch = noise.shape[0]
    need = batch if guidance == 1.0 else 2 * batch
    if text_cache.batch < need:
        raise KinemaError(f"the text cache holds {text_cache.batch} rows; guidance={guidance} needs {need} "
                          f"(prompt rows, then negative-prompt rows)")
    mask = None if cond_mask is None else cond_mask.to(device=noise.device, dtype=torch.bool)

    def model_batched(x: Tensor, times: Tensor) -> Tensor:  # x (n, C, t, h, w), times (n, t); n = B or 2B
        n = x.shape[0]
        cache = text_cache if text_cache.batch == n else _slice_cache(text_cache, n)
        dit_mask = None if mask is None else mask.repeat(n // batch, 1)  # (n, t)
        with _autocast(x.device, dtype):
            return dit(x, times, cond_mask=dit_mask, text_cache=cache)  # (n, C, t, h, w) fp32

    return denoise(guided(model_batched, guidance), noise, schedule, solver=solver,  # type: ignore[arg-type]
                   cond_latents=cond_latents, cond_mask=mask, callback=callback)


# --------------------------------------------------------------------------- the pipeline


class Pipeline:
    """Text-to-video from a model folder: ``Pipeline.from_pretrained(DIR)(prompt, ...)``.

    Holds the parts of a ``Bundle`` (``dit``, ``text``, ``vae``, ``info``) in eval mode on one
    device. ``dtype=torch.bfloat16`` runs the transformer (and its text projections) under bf16
    autocast; weights, the sampler update and the VAE stay fp32.
    """

    def __init__(self, bundle: Bundle, *, dtype: torch.dtype | str = torch.float32, folder: str | Path | None = None):
        self.info = bundle.info
        self.dit = bundle.dit.eval()
        self.text = bundle.text.eval()
        self.vae = bundle.vae.eval()
        self.dtype = _resolve_dtype(dtype)
        self.folder = None if folder is None else Path(folder)

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path = DEFAULT_MODEL,
        device: str | torch.device = "cpu",
        threads: int | None = None,
        dtype: torch.dtype | str = torch.float32,
    ) -> Pipeline:
        """Load a model folder (``model.json``, ``dit/text/vae.safetensors``) onto ``device``.

        ``threads`` sets torch's intra-op CPU threads (process-wide). ``dtype``: ``torch.float32``
        (default) or ``torch.bfloat16`` (autocast; ``"fp32"``/``"bf16"`` work too). Raises
        ``KinemaError`` when the folder is missing (saying how to train one) or broken.
        """
        dtype = _resolve_dtype(dtype)
        if threads is not None:
            if not _is_int(threads) or threads < 1:
                raise KinemaError(f"threads must be a positive int, got {threads!r}")
            torch.set_num_threads(int(threads))
        p = Path(folder).expanduser()
        if not (p / MODEL_JSON).is_file():
            what = "the default model" if p.resolve() == DEFAULT_MODEL else "model folder"
            state = "does not exist" if not p.exists() else f"has no {MODEL_JSON}"
            raise KinemaError(
                f"{what} {p} {state}: {TRAIN_HINT} (it exports a model folder) and pass that folder with "
                f"--checkpoint DIR, or put it at {DEFAULT_MODEL}"
            )
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise KinemaError(f"unknown device {device!r}: {e}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise KinemaError(f"device {device} was asked for but this torch sees no CUDA GPU; use device='cpu'")
        return cls(load_bundle(p, device=device), dtype=dtype, folder=p)

    @property
    def device(self) -> torch.device:
        return next(self.dit.parameters()).device

    # ----------------------------------------------------------------- step 1: inputs

    def check_inputs(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        width: int | None = None,
        height: int | None = None,
        seconds: float | None = None,
        frames: int | None = None,
        fps: float | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        solver: str | None = None,
        shift: float | None = None,
        seed: int = 0,
        expand: bool | None = None,
        expander: Callable[[str], str] | None = None,
    ) -> GenerationSettings:
        """Check every argument and resolve ``None`` from the model's defaults (``model.json``).

        Raises ``KinemaError`` naming the argument and the values that would work.
        """
        d = self.info.defaults
        ft, sf = self.vae.cfg.temporal_factor, self.vae.cfg.spatial_factor
        pt, ph, pw = self.dit.cfg.patch

        if not isinstance(prompt, str) or not prompt.strip():
            raise KinemaError("the prompt is empty: describe the video, e.g. \"a red ball bounces on a blue floor\"")
        if not isinstance(negative_prompt, str):
            raise KinemaError(f"negative_prompt must be a str, got {type(negative_prompt).__name__}")
        if not _is_int(seed) or not 0 <= int(seed) < 2**63:
            raise KinemaError(f"seed must be an int in [0, 2**63), got {seed!r}")
        if expander is not None and not callable(expander):
            raise KinemaError(f"expander must be a callable str -> str, got {type(expander).__name__}")

        width = d.width if width is None else width
        height = d.height if height is None else height
        for name, v, p in (("width", width, pw), ("height", height, ph)):
            m = sf * p
            if not _is_int(v) or v < 1:
                raise KinemaError(f"{name} must be a positive int (pixels, a multiple of {m}), got {v!r}")
            if v > MAX_SIDE:
                raise KinemaError(f"{name}={v} is too large: at most {MAX_SIDE} pixels")
            if v % m:
                lo, hi = _sizes_near(int(v), m)
                raise KinemaError(
                    f"{name}={v} is not a multiple of {m} (the VAE's spatial factor {sf} x the DiT patch {p}); "
                    f"nearest valid {name}s: {_either(lo, hi)}"
                )

        fps = self.info.fps if fps is None else fps
        if not _is_number(fps) or not 0 < fps <= MAX_FPS:
            raise KinemaError(f"fps must be a number in (0, {MAX_FPS:g}], got {fps!r}")
        if frames is not None and seconds is not None:
            raise KinemaError(f"pass seconds or frames, not both (got seconds={seconds}, frames={frames})")
        if frames is None:
            seconds = d.seconds if seconds is None else seconds
            if not _is_number(seconds) or seconds <= 0:
                raise KinemaError(f"seconds must be a positive number, got {seconds!r}")
            frames = frames_for_seconds(float(seconds), float(fps), temporal_factor=ft, patch_t=pt)
        elif not _is_int(frames) or frames < 1:
            raise KinemaError(f"frames must be a positive int (1 = an image), got {frames!r}")
        else:
            lo, hi = _frame_counts_near(int(frames), ft, pt)
            if int(frames) != lo:
                valid = ", ".join(str(1 + ft * (pt * j - 1)) for j in (1, 2, 3))
                raise KinemaError(
                    f"frames={frames} is not a count the model can make ({valid}, ...: the VAE packs the first "
                    f"frame, then each {ft} frames, into one latent frame); nearest valid counts: {_either(lo, hi)}"
                )
        frames = int(frames)
        t, h, w = 1 + (frames - 1) // ft, int(height) // sf, int(width) // sf
        tokens = (t // pt) * (h // ph) * (w // pw)
        if tokens > MAX_TOKENS:
            raise KinemaError(
                f"{frames} frames of {width}x{height} make {tokens} transformer tokens; the limit is {MAX_TOKENS}: "
                f"lower the resolution or make the clip shorter"
            )

        steps = d.steps if steps is None else steps
        if not _is_int(steps) or steps < 1:
            raise KinemaError(f"steps must be an int >= 1 (typically 20-50), got {steps!r}")
        guidance = d.guidance if guidance is None else guidance
        if not _is_number(guidance) or guidance < 0:
            raise KinemaError(f"guidance must be a number >= 0 (1 turns guidance off; typically 3-7), got {guidance!r}")
        solver = d.solver if solver is None else solver
        if solver not in SOLVERS:
            raise KinemaError(f"unknown solver {solver!r}; choose one of: {', '.join(SOLVERS)}")
        shift = d.shift if shift is None else shift
        if not _is_number(shift) or shift < 0:
            raise KinemaError(f"shift must be a number > 0 (or 0 for the resolution-dependent default), got {shift!r}")
        if shift == 0:
            shift = default_shift(tokens)
        if expand is None:  # as the model was trained: detailed captions -> expand (or an explicit expander)
            expand = expander is not None or self.info.caption_field == "detailed_caption"

        return GenerationSettings(
            prompt=prompt, negative_prompt=negative_prompt, width=int(width), height=int(height), frames=frames,
            fps=float(fps), steps=int(steps), guidance=float(guidance), solver=str(solver), shift=float(shift),
            seed=int(seed), expand=bool(expand), latent_shape=(self.vae.cfg.latent_channels, t, h, w), tokens=tokens,
        )

    # ----------------------------------------------------------------- steps 2-3: text

    def expand_prompt(self, s: GenerationSettings, expander: Callable[[str], str] | None = None) -> str:
        """The detailed caption for ``s.prompt`` (recaptioning), or the prompt itself when ``s.expand`` is off."""
        if not s.expand:
            return s.prompt
        try:
            out = expand_prompt(s.prompt, seed=s.seed, expander=expander, width=s.width, height=s.height,
                                fps=s.fps, num_frames=s.frames)
        except KinemaError as e:
            if expander is not None:  # the caller's expander: its errors are theirs to see
                raise
            log.warning("the world grammar could not expand the prompt (%s); using it as given", e)
            return s.prompt
        return out if out.strip() else s.prompt

    def encode_prompt(self, prompt: str, negative_prompt: str = "", *, guidance: float) -> TextCache:
        """Text -> the DiT's ``TextCache``, computed once: batch 1 (prompt) for ``guidance == 1``,
        else batch 2 (prompt, negative prompt) for batched classifier-free guidance."""
        texts = [prompt] if guidance == 1.0 else [prompt, negative_prompt]
        feats, mask = self.text(texts)  # (n, L, D_txt), (n, L)
        with _autocast(self.device, self.dtype):
            return self.dit.encode_text_kv(feats, mask)

    # ----------------------------------------------------------------- generation

    def __call__(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        width: int | None = None,
        height: int | None = None,
        seconds: float | None = None,
        frames: int | None = None,
        fps: float | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        solver: str | None = None,
        shift: float | None = None,
        seed: int = 0,
        expand: bool | None = None,
        expander: Callable[[str], str] | None = None,
        progress: bool = True,
        callback: StepCallback | None = None,
    ) -> GenerationResult:
        """Generate a video (or, with ``frames=1``, an image) for ``prompt``.

        ``None`` means the model's default (``model.json``); give ``seconds`` or ``frames``, not
        both (``seconds`` becomes the nearest valid frame count at ``fps``). ``guidance == 1``
        turns classifier-free guidance off; ``negative_prompt`` replaces the empty unconditional
        text. ``shift`` 0 = resolution-dependent. ``expand``: None = as the model was trained
        (expand when it was trained on detailed captions), True/False to force; ``expander`` is
        any ``str -> str`` (e.g. a language model). ``callback(done, total, latents)`` runs after
        each step. The same arguments and seed give the same frames.
        """
        t_start = time.perf_counter()
        timings: dict[str, float] = {}

        # 1. check and resolve the inputs
        s = self.check_inputs(prompt, negative_prompt=negative_prompt, width=width, height=height, seconds=seconds,
                              frames=frames, fps=fps, steps=steps, guidance=guidance, solver=solver, shift=shift,
                              seed=seed, expand=expand, expander=expander)

        # 2. expand the prompt (recaptioning)
        tick = time.perf_counter()
        detailed = self.expand_prompt(s, expander)
        timings["expand_s"] = time.perf_counter() - tick

        with torch.inference_mode():
            # 3. encode the text once; the DiT's text keys/values once
            tick = time.perf_counter()
            text_cache = self.encode_prompt(detailed, s.negative_prompt, guidance=s.guidance)
            timings["text_s"] = time.perf_counter() - tick

            # 4. seeded latent noise, drawn on the CPU
            noise = get_noise((1, *s.latent_shape), seed=s.seed, device=self.device)  # (1, C, t, h, w)

            # 5. the schedule, shifted for the token count
            schedule = get_schedule(s.steps, shift=s.shift)

            # 6. denoise with batched CFG
            tick = time.perf_counter()
            latents = self._denoise(noise, schedule, text_cache, s, progress=progress, callback=callback)
            timings["sample_s"] = time.perf_counter() - tick

            # 7-8. decode causally, chunk by chunk, into uint8 frames
            tick = time.perf_counter()
            video = self.decode_latents(latents)[0]  # (T, H, W, 3)
            timings["decode_s"] = time.perf_counter() - tick
        timings["total_s"] = time.perf_counter() - t_start

        settings = {**dataclasses.asdict(s), "seconds": s.seconds, "detailed_prompt": detailed,
                    "latent_shape": list(s.latent_shape), "dtype": str(self.dtype).removeprefix("torch."),
                    "device": str(self.device), "model": str(self.folder) if self.folder else None}
        return GenerationResult(frames=video, fps=s.fps, prompt=s.prompt, detailed_prompt=detailed, seed=s.seed,
                                settings=settings, timings=timings)

    def _denoise(self, noise: Tensor, schedule: list[float], text_cache: TextCache, s: GenerationSettings, *,
                 progress: bool, callback: StepCallback | None, cond_latents: Tensor | None = None,
                 cond_mask: Tensor | None = None) -> Tensor:
        """``_sample`` with a tqdm bar over steps and the user callback."""
        total = len(schedule) - 1
        with tqdm(total=total, desc="sampling", unit="step", disable=not progress, leave=False) as bar:
            def on_step(i: int, x: Tensor) -> None:
                bar.update(1)
                if callback is not None:
                    callback(i + 1, total, x)

            return _sample(self.dit, noise, schedule, text_cache, guidance=s.guidance, solver=s.solver,
                           cond_latents=cond_latents, cond_mask=cond_mask, callback=on_step, dtype=self.dtype)

    # ----------------------------------------------------------------- VAE helpers

    def iter_decode(self, latents: Tensor) -> Iterator[np.ndarray]:
        """Normalised latents ``(B, C, t, h, w)`` -> uint8 frame chunks ``(B, T_i, H, W, 3)``, one
        latent frame at a time (1 frame, then ``ft`` frames per chunk); memory is flat in ``t``."""
        with torch.inference_mode():
            z = self.vae.denormalize(latents.float())  # (B, C, t, h, w) as the VAE made them
            for part in self.vae.iter_decode(z, chunk_latents=1):  # (B, 3, T_i, H, W) ~[-1, 1]
                yield to_uint8_frames(part)  # (B, T_i, H, W, 3)

    def decode_latents(self, latents: Tensor) -> np.ndarray:
        """Normalised latents ``(B, C, t, h, w)`` -> uint8 frames ``(B, T, H, W, 3)`` with
        ``T = 1 + ft·(t - 1)``, decoded chunk by chunk into one preallocated array."""
        b, _, t, h, w = latents.shape
        frames, height, width = self.vae.video_shape(t, h, w)
        out = np.empty((b, frames, height, width, 3), dtype=np.uint8)
        pos = 0
        for part in self.iter_decode(latents):
            out[:, pos:pos + part.shape[1]] = part
            pos += part.shape[1]
        return out

    def encode_video(self, frames: np.ndarray) -> Tensor:
        """uint8 RGB frames ``(T, H, W, 3)`` -> normalised latents ``(1, C, t, h, w)`` on the device
        (the posterior mean, encoded causally in chunks), ready as ``cond_latents`` for ``_sample``.

        ``T`` must be ``1 + ft·k`` and ``H, W`` multiples of the VAE's spatial factor.
        """
        ft, sf = self.vae.cfg.temporal_factor, self.vae.cfg.spatial_factor
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            desc = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
            raise KinemaError(f"encode_video takes uint8 RGB frames (T, H, W, 3), got {desc}")
        n, height, width = frames.shape[:3]
        if n < 1 or (n - 1) % ft:
            lo, hi = _frame_counts_near(max(n, 1), ft, 1)
            raise KinemaError(f"encode_video takes 1 + {ft}·k frames (1, {1 + ft}, {1 + 2 * ft}, ...); got {n}: "
                              f"nearest valid counts: {_either(lo, hi)}")
        if height % sf or width % sf or not height or not width:
            raise KinemaError(f"encode_video needs height and width divisible by {sf}; got {height}x{width}: crop to "
                              f"{_sizes_near(height, sf)[0]}x{_sizes_near(width, sf)[0]}")
        x = to_model_video(frames)[None].to(self.device)  # (1, 3, T, H, W) in [-1, 1]
        with torch.inference_mode():
            z = self.vae.encode(x, chunk=True).mode()  # (1, C, t, h, w)
            return self.vae.normalize(z)


# --------------------------------------------------------------------------- saving


def save_result(result: GenerationResult, path: str | Path) -> Path:
    """Write a result's frames to ``path`` atomically and return it; writes nothing else.

    ``.mp4``/``.mkv`` (H.264), ``.webm`` (VP9), ``.gif``: a video at ``result.fps`` (any frame
    count). ``.png``/``.jpg``/``.jpeg``/``.webp``: a single image, for one-frame results.
    """
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    frames = result.frames
    if suffix in VIDEO_SUFFIXES:
        return write_video(p, frames, result.fps)
    if suffix in IMAGE_SUFFIXES:
        if frames.shape[0] != 1:
            raise KinemaError(
                f"{p}: an image file holds one frame but this result has {frames.shape[0]}; write a video "
                f"({', '.join(VIDEO_SUFFIXES)}) or generate with frames=1"
            )
        with atomic_path(p) as tmp:
            Image.fromarray(frames[0]).save(tmp, format={".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix, suffix[1:].upper()))
        return p
    raise KinemaError(f"{p}: cannot write {p.suffix or '(no suffix)'!r}; use one of "
                      f"{', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)} (images for one-frame results)")
