"""Shared test fixtures."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is fastest (and on a loaded machine, far faster).
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vae_path(tmp_path_factory):
    """A tiny, untrained autoencoder saved once per module (4x4x4 compression, 4 latent channels)."""
    from kinema.models.vae import VideoVAE, save_vae, vae_config

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vae") / "vae.safetensors"
    save_vae(VideoVAE(vae_config("tiny")), path)
    return path
