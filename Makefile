# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= What did Pompeo demand?

.PHONY: install demo test test-fast lint bench eval clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch==2.13.0 is pinned here, not in pyproject.toml: on these machines pip takes the CPU
# build from local disk, where an unpinned torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0 -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	CITEBOT_DATA_DIR=$${CITEBOT_DATA_DIR:-data} $(BIN)/citebot ask "$(QUESTION)"

# pytest exits 5 when it collects no tests; that is not a failure of the code.
test: install
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# The inner loop: the suite less the tests marked slow (`make test`, which CI runs, has them all),
# one worker per core (a module's tests stay on one worker: they share its model and servers).
# `make test` stays serial: its load and crash tests time themselves against an idle machine.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadfile; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/run.py

eval: install
	$(BIN)/citebot eval ../shared/eval/squad-v1.1-dev-even.json --sample 2000

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .mypy_cache
