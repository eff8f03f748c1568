"""Training loops: the autoencoder (``train_vae``) and, later, the diffusion transformer."""
