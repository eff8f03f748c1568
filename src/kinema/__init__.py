"""Kinema: an open, Sora-style text-to-video system."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Pipeline", "__version__"]

if TYPE_CHECKING:
    from kinema.pipeline import Pipeline


def __getattr__(name: str) -> Any:
    """Lazy exports, so ``import kinema`` stays light (no torch until a model is used)."""
    if name == "Pipeline":
        from kinema.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'kinema' has no attribute {name!r}")
