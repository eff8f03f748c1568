# The two commands the README opens with. Each sets up .venv on first use (scripts/setup.sh).
.PHONY: demo test setup lint

PY := .venv/bin/python

setup:
	@bash scripts/setup.sh

# The main job. Until the default model exists: render procedural-world clips.
demo: setup
	.venv/bin/kinema world render --out world_clips --clips 8 --width 96 --height 64 --seconds 2 --fps 8

test: setup
	$(PY) -m ruff check src tests
	$(PY) -m pytest -n 2 --durations=10

lint: setup
	$(PY) -m ruff check src tests
