# The two commands the README opens with. Each sets up .venv on first use (scripts/setup.sh).
.PHONY: demo test setup lint

PY := .venv/bin/python

setup:
	@bash scripts/setup.sh

# The main job: a video from the embedded default model (weights/default), signed and watermarked.
demo: setup
	.venv/bin/kinema generate "a red circle moves to the right" -o demo.mp4 --seconds 2 --seed 0

test: setup
	$(PY) -m ruff check src tests
	$(PY) -m pytest -n 2 --durations=10

lint: setup
	$(PY) -m ruff check src tests
