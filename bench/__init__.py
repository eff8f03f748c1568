"""Benchmarks: speed, memory and quality figures, measured as ratios within one run."""
