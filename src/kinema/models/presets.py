"""Named sizes of the diffusion transformer: ``tiny`` (tests), ``S`` (CPU default), ``B``/``L``/``XL`` (GPU).

A preset fixes the architecture's width and depth; the latent channels and the text feature size
come from the autoencoder and the text encoder in use, so ``dit_config`` takes them as arguments::

    cfg = dit_config("S", in_channels=vae.cfg.latent_channels, text_dim=text_encoder.dim)

Parameter counts (patch 1x2x2, ``in_channels=8``, ``text_dim=384``; they change little with either):

=======  ====  =====  =====  ===  ========  =====================================================
preset   dim   depth  heads  hd   params    use
=======  ====  =====  =====  ===  ========  =====================================================
tiny       32      2      2   16    0.09 M  tests: milliseconds per forward
S         192      8      4   48    6.9 M   the procedural world on 2 CPU cores
B         768     12     12   64  159.7 M   GPU; DiT-B width/depth (+ cross-attention)
L        1024     24     16   64  560.5 M   GPU; DiT-L width/depth (+ cross-attention)
XL       1152     28     16   72  826.0 M   GPU; DiT-XL width/depth (+ cross-attention)
=======  ====  =====  =====  ===  ========  =====================================================

The counts exceed the DiT paper's (B 130 M, L 458 M, XL 675 M) by the per-block cross-attention
(3·dim² + biases) and the text embedders.
"""

from __future__ import annotations

from typing import Any

from kinema.config import from_dict
from kinema.errors import KinemaError
from kinema.models.dit import DiTConfig

__all__ = ["DIT_PRESETS", "dit_config"]

DIT_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"dim": 32, "depth": 2, "heads": 2},
    "S": {"dim": 192, "depth": 8, "heads": 4},
    "B": {"dim": 768, "depth": 12, "heads": 12},
    "L": {"dim": 1024, "depth": 24, "heads": 16},
    "XL": {"dim": 1152, "depth": 28, "heads": 16},
}


def dit_config(name: str, *, in_channels: int, text_dim: int, **overrides: Any) -> DiTConfig:
    """The preset ``name`` for latents with ``in_channels`` channels and ``text_dim`` text features,
    with ``overrides`` (any ``DiTConfig`` field) applied and checked like a config file.

    Raises ``KinemaError`` for an unknown preset (listing the valid ones), and ``ConfigError`` (a
    ``KinemaError``) for an unknown key (listing the valid keys) or a bad value.
    """
    if name not in DIT_PRESETS:
        raise KinemaError(f"unknown DiT preset {name!r}; choose one of: {', '.join(DIT_PRESETS)}")
    raw = {**DIT_PRESETS[name], "in_channels": in_channels, "text_dim": text_dim, **overrides}
    return from_dict(DiTConfig, raw, where=f"dit preset {name!r}")
