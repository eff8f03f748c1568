"""Evaluation: video metrics and (later) WorldBench."""
