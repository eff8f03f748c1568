"""Kinema models: the causal video autoencoder, the diffusion transformer, text encoders and their layers."""
