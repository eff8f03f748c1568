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
4. The latent timeline (``kinema.conditioning``): which latent frames are given (encoded image or
   video prompts) and which are generated, for text-to-video, image-to-video, extension forward
   or backward, connecting two videos, loops and video-to-video editing.
5. Latent noise for the whole timeline from ``flow.get_noise`` with the seed, drawn on the CPU
   (same video on any device); the schedule shifted for one window's token count.
6. ``flow.denoise`` with batched CFG (``flow.guided``) under ``torch.inference_mode`` (and bf16
   autocast when the pipeline was built with ``dtype=torch.bfloat16``), window by window
   (``flow.plan_windows``) when the video is longer than the model's clip: each window sees the
   given and already-made latent frames in it clean. tqdm progress over all steps, callback.
7. Denormalise and decode with the VAE causally, one latent frame at a time (flat memory); paste
   the user's frames back unchanged (``Plan.assemble``); a loop then gets its closing transition.
8. Frames to uint8 ``(T, H, W, 3)``, written into one preallocated array as they are decoded.
9. Safety (``kinema.safety``): the prompt is checked before step 2; the frames are checked and
   watermarked after step 8 (the user's own frames stay exact), and ``save_result`` signs C2PA.

The sampling core is the module-level function ``_sample`` (model, noise, schedule, text cache,
optional conditioning frames); ``Pipeline._sample_plan`` runs it over the windows of a plan.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import tempfile
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

from kinema import __version__ as kinema_version
from kinema.atomic import atomic_path
from kinema.conditioning import Assembled, Plan, plan_connect, plan_edit, plan_extend, plan_image, plan_text
from kinema.data.dataset import to_model_video, to_uint8_frames
from kinema.data.video_io import check_rgb_frames, fit_frames, probe, read_video, write_video
from kinema.errors import KinemaError
from kinema.flow import default_shift, denoise, get_noise, get_schedule, guided, plan_windows, sdedit_start
from kinema.models.bundle import MODEL_JSON, Bundle, load_bundle
from kinema.models.dit import DiT, TextCache
from kinema.models.text import expand_prompt
from kinema.safety import Provenance, SafetyChecker, SafetyConfig, sign_output

__all__ = [
    "DEFAULT_MODEL",
    "SOLVERS",
    "GenerationResult",
    "GenerationSettings",
    "Pipeline",
    "check_output_path",
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

# (done, total, latents (B, C, t, h, w)) after each sampling step; done = 1 .. total (over all windows)
StepCallback = Callable[[int, int, Tensor], None]

Media = str | Path | np.ndarray
"""An image or video prompt: a file path, or uint8 RGB frames ``(T, H, W, 3)`` (an image: ``(H, W, 3)``)."""
DIRECTIONS = ("forward", "backward")


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
    mode: str = "text"  # text, image, extend-forward, extend-backward, connect, loop, edit
    kept: list[tuple[int, int]] = field(default_factory=list)  # output frame ranges that are the user's frames
    seams: list[int] = field(default_factory=list)  # frame i where i-1 and i come from different sources
    fidelity_psnr: float | None = None  # dB: decoded given frames vs the frames given (conditioning fidelity)
    provenance: Provenance | None = None  # what save_result signs into the file (C2PA); None = unsigned


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


# --------------------------------------------------------------------------- image and video prompts

_MEDIA_NAMES = {"text": (), "loop": (), "image": ("image",), "extend-forward": ("extend",),
                "extend-backward": ("extend",), "connect": ("connect[0]", "connect[1]"), "edit": ("edit",)}


def _check_mode(*, image: Media | None, extend: Media | None, direction: str, connect: tuple[Media, Media] | None,
                loop: bool, edit: Media | None) -> tuple[str, list[Media]]:
    """Which mode the arguments ask for, and its media in order; one mode at most."""
    asked = [name for name, v in (("image", image), ("extend", extend), ("connect", connect), ("edit", edit))
             if v is not None] + (["loop"] if loop else [])
    if len(asked) > 1:
        raise KinemaError(f"choose one of image, extend, connect, loop, edit; got {', '.join(asked)}")
    if not isinstance(loop, bool):
        raise KinemaError(f"loop must be True or False, got {loop!r}")
    if direction not in DIRECTIONS:
        raise KinemaError(f"direction must be 'forward' or 'backward', got {direction!r}")
    if image is not None:
        return "image", [image]
    if extend is not None:
        return f"extend-{direction}", [extend]
    if connect is not None:
        if not isinstance(connect, (tuple, list)) or len(connect) != 2:
            raise KinemaError("connect takes two videos (A, B): the transition starts as A ends and ends as B starts")
        return "connect", list(connect)
    if edit is not None:
        return "edit", [edit]
    return ("loop" if loop else "text"), []


def _loop_transition(latent_frames: int) -> int:
    """Latent frames of a loop's closing transition (about a third); the first clip gets the rest."""
    return max(1, latent_frames // 3)


def _media_path(media: object, name: str) -> Path:
    if not isinstance(media, (str, Path)):
        raise KinemaError(f"{name}: expected a file path or uint8 frames (T, H, W, 3), got {type(media).__name__}")
    p = Path(media).expanduser()
    if not p.is_file():
        raise KinemaError(f"{name}: {p} does not exist" if not p.exists() else f"{name}: {p} is not a file")
    return p


def _size_for_aspect(aspect: float, width: int, height: int, multiple: int) -> tuple[int, int]:
    """(w, h), multiples of ``multiple``, near the area ``width·height`` and as close as possible to ``aspect``."""
    area = width * height
    best: tuple[float, int, int] = (math.inf, width, height)
    for w in range(multiple, 4 * max(width, height) + 1, multiple):
        for h in range(multiple, 4 * max(width, height) + 1, multiple):
            cost = abs(math.log(w / h / aspect)) + 0.5 * abs(math.log(w * h / area))
            best = min(best, (cost, w, h))
    return best[1], best[2]


# --------------------------------------------------------------------------- the pipeline


class Pipeline:
    """Text-to-video from a model folder: ``Pipeline.from_pretrained(DIR)(prompt, ...)``.

    Holds the parts of a ``Bundle`` (``dit``, ``text``, ``vae``, ``info``) in eval mode on one
    device. ``dtype=torch.bfloat16`` runs the transformer (and its text projections) under bf16
    autocast; weights, the sampler update and the VAE stay fp32.
    """

    def __init__(self, bundle: Bundle, *, dtype: torch.dtype | str = torch.float32, folder: str | Path | None = None,
                 safety: SafetyConfig | None = None):
        self.info = bundle.info
        self.dit = bundle.dit.eval()
        self.text = bundle.text.eval()
        self.vae = bundle.vae.eval()
        self.dtype = _resolve_dtype(dtype)
        self.folder = None if folder is None else Path(folder)
        self.safety = SafetyChecker(safety)  # prompt + frame checks, watermark, C2PA (kinema.safety; all on by default)

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path = DEFAULT_MODEL,
        device: str | torch.device = "cpu",
        threads: int | None = None,
        dtype: torch.dtype | str = torch.float32,
        safety: SafetyConfig | None = None,
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
        return cls(load_bundle(p, device=device), dtype=dtype, folder=p, safety=safety)

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
        for name, text in zip(("prompt", "negative prompt"), texts, strict=False):
            n = self.text.num_tokens(text)
            if n > self.text.max_length:
                log.warning("the %s is %d tokens long but the text encoder reads only the first %d: its end "
                            "(...%s) is ignored; shorten it", name, n, self.text.max_length, text[-60:])
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
        image: Media | None = None,
        extend: Media | None = None,
        direction: str = "forward",
        connect: tuple[Media, Media] | None = None,
        loop: bool = False,
        edit: Media | None = None,
        strength: float = 0.6,
        window: int | None = None,
        overlap: int | None = None,
        progress: bool = True,
        callback: StepCallback | None = None,
    ) -> GenerationResult:
        """Generate a video (or, with ``frames=1``, an image) for ``prompt``.

        Image and video prompts (at most one mode; see ``kinema.conditioning`` for the timelines):
        ``image``: the first frame is this image. ``extend`` + ``direction`` (forward/backward):
        the result is the input unchanged plus ``seconds`` of new video after (before) it.
        ``connect=(a, b)``: ``a``, a transition of ``seconds``, then ``b``. ``loop``: the last
        frame flows into the first. ``edit`` + ``strength`` in (0, 1]: the input video re-imagined
        under the prompt (SDEdit; low strength keeps layout and motion). Media are paths or uint8
        frames, resampled to ``fps`` and cover-resized to ``width x height`` (default: the model's
        size area at the input's aspect ratio). Videos longer than ``window`` latent frames (the
        model's trained length by default) are made window by window, each seeing ``overlap``
        latent frames of the previous one clean.

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

        # 1. check and resolve the inputs; load the image/video prompts at the model's size and fps
        mode, media = _check_mode(image=image, extend=extend, direction=direction, connect=connect, loop=loop,
                                  edit=edit)
        if media and width is None and height is None:
            width, height = self._size_for(media[0])
        s = self.check_inputs(prompt, negative_prompt=negative_prompt, width=width, height=height, seconds=seconds,
                              frames=frames, fps=fps, steps=steps, guidance=guidance, solver=solver, shift=shift,
                              seed=seed, expand=expand, expander=expander)
        if mode == "edit" and not (_is_number(strength) and 0 < strength <= 1):
            raise KinemaError(f"strength must be a number in (0, 1] (about 0.3-0.5 keeps layout and motion; 1 "
                              f"ignores the input video), got {strength!r}")
        win, ov = self._windows(window, overlap)  # latent frames per window, and taken from the last one
        media = [self._load(m, s, name) for m, name in zip(media, _MEDIA_NAMES[mode], strict=True)]
        if mode == "edit":  # the edit keeps the input's length (at most the frames/seconds asked for)
            s = self._fit_edit_length(s, len(media[0]), limit=seconds is not None or frames is not None)

        # 1b. the content policy, before any compute (kinema.safety; raises PolicyError naming the category)
        tick = time.perf_counter()
        self.safety.check_prompt(s.prompt)
        timings["safety_prompt_s"] = time.perf_counter() - tick

        # 2. expand the prompt (recaptioning)
        tick = time.perf_counter()
        detailed = self.expand_prompt(s, expander)
        timings["expand_s"] = time.perf_counter() - tick

        with torch.inference_mode():
            # 3. encode the text once; the DiT's text keys/values once
            tick = time.perf_counter()
            text_cache = self.encode_prompt(detailed, s.negative_prompt, guidance=s.guidance)
            timings["text_s"] = time.perf_counter() - tick

            # 4. the latent timeline: given frames from the image/video prompts, the rest to generate
            tick = time.perf_counter()
            plan = self._plan(s, media, mode, float(strength), context=ov)
            timings["encode_s"] = time.perf_counter() - tick

            # 5. seeded noise for the whole timeline (CPU), the schedule shifted for one window's tokens
            generator = torch.Generator(device="cpu").manual_seed(s.seed)
            noise = get_noise((1, *plan.given.shape[1:]), generator=generator, device=self.device)  # (1, C, t, h, w)
            schedule = get_schedule(s.steps, shift=self._shift(s, shift, min(win, plan.latent_frames)))

            # 6. denoise window by window with batched CFG (one window when the video fits)
            tick = time.perf_counter()
            latents = self._sample_plan(plan, noise, schedule, text_cache, s, window=win, overlap=ov,
                                        progress=progress, callback=callback)
            timings["sample_s"] = time.perf_counter() - tick

            # 7-8. decode causally, chunk by chunk, into uint8 frames; paste the given frames back
            tick = time.perf_counter()
            out = plan.assemble(self.decode_latents(latents)[0])  # frames (T, H, W, 3)
            if mode == "loop":  # then a transition from the clip's end back to its start
                out = self._close_loop(out.frames, s, text_cache, generator, schedule, win, ov, progress, callback)
            video = out.frames
            timings["decode_s"] = time.perf_counter() - tick
        user_frames = [video[a:b].copy() for a, b in out.kept]
        # 9. safety: frame classifier (withholds flagged output), invisible watermark, provenance for C2PA
        tick = time.perf_counter()
        video, provenance = self.safety.finish(video, prompt=s.prompt, model=self.folder.name if self.folder else "kinema",
                                               version=f"{kinema_version}+step{self.info.train.get('steps', 0)}")
        for (a, b), kept in zip(out.kept, user_frames, strict=True):
            video[a:b] = kept  # the user's frames stay exactly as given: the watermark marks generated frames
        timings["safety_s"] = time.perf_counter() - tick
        timings["total_s"] = time.perf_counter() - t_start

        settings = {**dataclasses.asdict(s), "seconds": s.seconds, "detailed_prompt": detailed,
                    "latent_shape": list(s.latent_shape), "dtype": str(self.dtype).removeprefix("torch."),
                    "device": str(self.device), "model": str(self.folder) if self.folder else None,
                    "mode": mode, "window": win, "overlap": ov, "strength": float(strength) if mode == "edit" else None,
                    "output_frames": int(video.shape[0])}
        return GenerationResult(frames=video, fps=s.fps, prompt=s.prompt, detailed_prompt=detailed, seed=s.seed,
                                settings=settings, timings=timings, provenance=provenance, mode=mode, kept=out.kept,
                                seams=out.seams, fidelity_psnr=out.fidelity_psnr)

    # ----------------------------------------------------------------- image and video prompts

    def _size_for(self, media: Media) -> tuple[int, int]:
        """(width, height) for a prompt image/video: about the model's default area, at its aspect ratio."""
        if isinstance(media, np.ndarray):
            h, w = media.shape[-3:-1] if media.ndim >= 3 else (1, 1)
        else:
            info = probe(_media_path(media, "image/video prompt"))
            h, w = info.height, info.width
        d = self.info.defaults
        m = self.vae.cfg.spatial_factor * max(self.dit.cfg.patch[1:])
        return _size_for_aspect(w / max(h, 1), d.width, d.height, m)

    def _load(self, media: Media, s: GenerationSettings, name: str) -> np.ndarray:
        """A path or uint8 array -> uint8 frames ``(N, height, width, 3)`` at ``s.fps``."""
        size = (s.height, s.width)
        if isinstance(media, np.ndarray):
            frames = media[None] if media.ndim == 3 else media
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not frames.shape[0]:
                raise KinemaError(f"{name}: expected uint8 RGB frames (T, H, W, 3) or an image (H, W, 3), "
                                  f"got {media.dtype} {media.shape}")
            return fit_frames(frames, size)
        return read_video(_media_path(media, name), fps=s.fps, size=size)

    def _fit_edit_length(self, s: GenerationSettings, n: int, *, limit: bool) -> GenerationSettings:
        """Settings for editing an ``n``-frame input: its longest valid frame count (at most ``s.frames`` if ``limit``)."""
        ft, pt = self.vae.cfg.temporal_factor, self.dit.cfg.patch[0]
        frames = 1 + ft * (((min(n, s.frames) if limit else n) - 1) // (ft * pt) * pt)
        c, _, h, w = s.latent_shape
        t = 1 + (frames - 1) // ft
        return dataclasses.replace(s, frames=frames, latent_shape=(c, t, h, w), tokens=s.tokens // s.latent_shape[1] * t)

    def _plan(self, s: GenerationSettings, media: list[np.ndarray], mode: str, strength: float, *,
              context: int) -> Plan:
        """The latent timeline of a mode (``kinema.conditioning``); encodes the given frames.
        ``context``: latent frames of a given video the model sees (the window overlap)."""
        ft = self.vae.cfg.temporal_factor
        c, t, h, w = s.latent_shape
        dev = self.device
        if mode == "loop":
            if t < 2:
                raise KinemaError(f"a loop needs at least {1 + ft} frames (got frames={s.frames})")
            return plan_text((c, t - _loop_transition(t), h, w), device=dev, ft=ft)
        if mode == "text":
            return plan_text((c, t, h, w), device=dev, ft=ft)
        if mode == "image":
            if t < 2:
                raise KinemaError(f"image-to-video makes a video from the image: ask for at least {1 + ft} frames "
                                  f"(got frames={s.frames})")
            return plan_image(media[0][:1], s.latent_shape, encode=self.encode_video, device=dev, ft=ft)
        if mode == "edit":
            return plan_edit(media[0][:s.frames], strength, encode=self.encode_video, latent_shape=s.latent_shape, device=dev,
                             ft=ft)
        new = max(1, t - 1)  # ft·new frames: the asked-for seconds
        if mode == "connect":
            return plan_connect(media[0], media[1], new, context=context, encode=self.encode_video,
                                latent_shape=(c, h, w), device=dev, ft=ft)
        direction = mode.removeprefix("extend-")
        return plan_extend(media[0], t if direction == "backward" else new, context=context, direction=direction,
                           encode=self.encode_video, latent_shape=(c, h, w), device=dev, ft=ft)

    def _windows(self, window: int | None, overlap: int | None) -> tuple[int, int]:
        """(window, overlap) in latent frames: the model's trained clip length and half of it by default."""
        ft, pt = self.vae.cfg.temporal_factor, self.dit.cfg.patch[0]
        d = self.info.defaults
        if window is None:
            window = 1 + (frames_for_seconds(d.seconds, self.info.fps, temporal_factor=ft, patch_t=pt) - 1) // ft
            window = max(window, 2 * pt)
        if not _is_int(window) or window < 2 or window % pt:
            raise KinemaError(f"window must be an int >= 2 latent frames (a multiple of the DiT's temporal patch "
                              f"{pt}), got {window!r}")
        if overlap is None:
            overlap = max(pt, window // 2 // pt * pt)
        if not _is_int(overlap) or not 1 <= overlap < window or overlap % pt:
            raise KinemaError(f"overlap must be an int in [1, window={window}) latent frames (a multiple of {pt}), "
                              f"got {overlap!r}")
        return int(window), int(overlap)

    def _shift(self, s: GenerationSettings, asked: float | None, window: int) -> float:
        """The schedule shift: as asked, or (auto) for the tokens of one window rather than the whole video."""
        auto = (self.info.defaults.shift if asked is None else asked) == 0
        if not auto:
            return s.shift
        _, t, h, w = s.latent_shape
        pt, ph, pw = self.dit.cfg.patch
        return default_shift(min(t, window) // pt * (h // ph) * (w // pw))

    def _sample_plan(self, plan: Plan, noise: Tensor, schedule: list[float], text_cache: TextCache,
                     s: GenerationSettings, *, window: int, overlap: int, progress: bool,
                     callback: StepCallback | None) -> Tensor:
        """Denoise a plan's timeline window by window (``flow.plan_windows``): each window sees the
        given and already-made frames in it clean and generates the rest. noise ``(1, C, t, h, w)``."""
        x = plan.given.clone()  # (1, C, t, h, w)
        known = plan.mask.clone()  # (t,)
        # edits start part-way along the path from the source (SDEdit); everything else from noise
        init, sched = (noise, schedule) if plan.source is None else sdedit_start(
            plan.source, plan.strength, schedule, noise)  # (1, C, t, h, w), the schedule (tail)
        runs, covered = [], known.clone()  # the windows that have frames to make, in order
        for a, b in plan_windows(plan.latent_frames, window=window, overlap=overlap, reverse=plan.reverse):
            if not bool(covered[a:b].all()):
                runs.append((a, b))
                covered[a:b] = True
        per_window = len(sched) - 1
        total = len(runs) * per_window
        with tqdm(total=total, desc="sampling", unit="step", disable=not progress, leave=False) as bar:
            for k, (a, b) in enumerate(runs):
                given = known[a:b]  # (w,)

                def on_step(i: int, z: Tensor, base: int = k * per_window) -> None:
                    bar.update(1)
                    if callback is not None:
                        callback(base + i + 1, total, z)

                cond = bool(given.any())
                x[:, :, a:b] = _sample(self.dit, init[:, :, a:b], sched, text_cache, guidance=s.guidance,
                                       solver=s.solver, cond_latents=x[:, :, a:b] if cond else None,
                                       cond_mask=given[None] if cond else None, callback=on_step, dtype=self.dtype)
                known[a:b] = True
        return x

    def _close_loop(self, clip: np.ndarray, s: GenerationSettings, text_cache: TextCache,
                    generator: torch.Generator, schedule: list[float], window: int, overlap: int, progress: bool,
                    callback: StepCallback | None) -> Assembled:
        """A seamless loop from a clip: generate the transition from its end back to its start and
        return clip + transition (played on repeat, the transition flows into frame 0)."""
        ft = self.vae.cfg.temporal_factor
        c, t, h, w = s.latent_shape
        new = _loop_transition(t)
        plan = plan_connect(clip, clip, new, context=overlap, encode=self.encode_video, latent_shape=(c, h, w),
                            device=self.device, ft=ft)
        noise = get_noise((1, *plan.given.shape[1:]), generator=generator, device=self.device)
        latents = self._sample_plan(plan, noise, schedule, text_cache, s,
                                    window=window, overlap=overlap, progress=progress, callback=callback)
        joined = plan.assemble(self.decode_latents(latents)[0])  # clip + transition + clip
        frames = joined.frames[:len(clip) + ft * new]  # clip + transition; the loop point is back at frame 0
        return Assembled(frames=frames, kept=[], seams=[0, len(clip)], fidelity_psnr=joined.fidelity_psnr)

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
        check_rgb_frames(frames, "encode_video")
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


def check_output_path(path: str | Path, frames: int | None = None) -> Path:
    """The output path ``save_result`` will take, checked before any compute: a known suffix, one
    frame for an image suffix (``frames`` when known), and not an existing folder.

    Raises:
        KinemaError: naming the path and what to write instead.
    """
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        raise KinemaError(f"{p}: cannot write {p.suffix or '(no suffix)'!r}; use one of "
                          f"{', '.join(VIDEO_SUFFIXES + IMAGE_SUFFIXES)} (images for one-frame results)")
    if suffix in IMAGE_SUFFIXES and frames is not None and frames != 1:
        raise KinemaError(f"{p}: an image file holds one frame but this result has {frames}; write a video "
                          f"({', '.join(VIDEO_SUFFIXES)}) or generate with frames=1")
    if p.is_dir():
        raise KinemaError(f"{p} is a folder; name the output file, e.g. {p / ('out' + suffix)}")
    return p


def save_result(result: GenerationResult, path: str | Path) -> Path:
    """Write a result's frames to ``path`` atomically and return it; writes nothing else.

    ``.mp4``/``.mkv`` (H.264), ``.webm`` (VP9), ``.gif``: a video at ``result.fps`` (any frame
    count). ``.png``/``.jpg``/``.jpeg``/``.webp``: a single image, for one-frame results.
    """
    p = check_output_path(path, int(result.frames.shape[0]))
    if result.provenance is not None:  # write unsigned beside the target, then sign onto it atomically (C2PA)
        p.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".kinema-sign-", dir=p.parent) as tmp:
            unsigned = save_result(dataclasses.replace(result, provenance=None), Path(tmp) / p.name)
            sign_output(unsigned, result.provenance, dest=p)
        return p
    suffix = p.suffix.lower()
    frames = result.frames
    if suffix in VIDEO_SUFFIXES:
        return write_video(p, frames, result.fps)
    with atomic_path(p) as tmp:  # an image suffix: check_output_path made sure it is one frame
        Image.fromarray(frames[0]).save(tmp, format={".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix, suffix[1:].upper()))
    return p
