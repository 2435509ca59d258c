# cardline: `make demo` runs the main job, `make test` the whole suite; both set up first.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

setup:
	@scripts/setup.sh

demo: setup
	@$(BIN)/cardline demo

test: setup
	@scripts/ensure-postgres.sh
	$(BIN)/ruff check line inventory printers sim flows schema tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check line inventory printers sim flows schema tests bench
	$(BIN)/mypy

bench: setup
	@scripts/ensure-postgres.sh
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/line.py
	$(BIN)/python bench/stock.py
	$(BIN)/python bench/flows.py
	$(BIN)/python bench/sim.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
