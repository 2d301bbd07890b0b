# flyer: `make demo` runs the whole pipeline on the simulated market; `make test` runs the tests.
# Both create .venv when missing and (re)install when pyproject.toml changes.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test typecheck bench clean
# the packages: data/ factors/ models/ backtest/ risk/ install as flyer.*; mypy cannot follow that
# mapping, so it checks a tree of symlinks (.typecheck/flyer) laid out as the installed package
PACKAGES := data factors models backtest risk

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/flyer warmup  # numba kernels compiled once into the disk cache, not per process
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flyer demo

test: $(STAMP) typecheck
	$(BIN)/python -m pytest -n 2 -q

typecheck: $(STAMP)
	$(BIN)/ruff check flyer $(PACKAGES) tests bench
	rm -rf .typecheck/flyer && mkdir -p .typecheck/flyer
	for f in flyer/*; do ln -s ../../$$f .typecheck/flyer/; done
	for p in $(PACKAGES); do ln -s ../../$$p .typecheck/flyer/$$p; done
	cd .typecheck && ../$(BIN)/mypy --config-file ../pyproject.toml -p flyer

bench: $(STAMP)
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .typecheck
