"""Video data: decoding/encoding, datasets and bucketed batches."""
