"""Secret hygiene: a recognizable fake key in $OPENAI_API_KEY, an external target naming that variable
(api_key_env) and pointing at the local llama.cpp engine (through the fault proxy, which checks the
key really was sent); then measure and evaluate (CLI, logs captured), the measure and decide
notebooks (papermill), the report HTML and the dashboard build. Every file produced — results,
executed notebooks, HTML, logs, the engine's log — is scanned for the key: zero hits."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.errors import WorkbenchError
from workbench.serving.faultproxy import FaultProxy

TARGET = "keyed-llamacpp"


def _scan(paths, needles: list[str]) -> list[str]:
    """Files (under ``paths``) containing any needle, as bytes or JSON-escaped."""
    hits = []
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for f in files:
            data = f.read_bytes()
            if any(n.encode() in data or json.dumps(n)[1:-1].encode() in data for n in needles):
                hits.append(str(f))
    return hits


def _engine_log(engine) -> Path | None:
    from workbench.serving import detached

    if engine.log_path:
        return Path(engine.log_path)
    state = detached.detached_engine(engine.target.name) or {}
    return Path(state["log"]) if state.get("log") else None


@pytest.mark.engines
def test_an_api_key_never_leaves_the_environment(llamacpp_engine, tmp_path, monkeypatch):
    key = f"sk-wbtest-{secrets.token_hex(16)}"
    results, reports, logs = tmp_path / "results", tmp_path / "reports", tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("WORKBENCH_RESULTS_DIR", str(results))
    monkeypatch.setenv("WORKBENCH_REPORTS_DIR", str(reports))
    engine_log = _engine_log(llamacpp_engine)
    log_size0 = engine_log.stat().st_size if engine_log and engine_log.is_file() else 0

    with FaultProxy(llamacpp_engine.base_url) as proxy:
        targets = tmp_path / "targets.yaml"
        targets.write_text(yaml.safe_dump({"targets": [{
            "name": TARGET, "engine": "external", "base_url": proxy.base_url, "model": llamacpp_engine.target.model,
            "api_key_env": "OPENAI_API_KEY",
            "capabilities": {"ignore_eos": False, "min_tokens": False, "stream_usage": False},
            "deployment": {"kind": "api", "provider": "openai", "price_entry": "gpt-4o-mini"}}]}), encoding="utf-8")
        monkeypatch.setenv("WORKBENCH_TARGETS", str(targets))

        # measure and evaluate from the command line (output kept as logs), while papermill runs
        # the measure notebook live against the same target
        from workbench.present import report

        procs = {}
        for name, argv in {
            "measure": ["measure", "--target", TARGET, "--profile", "concurrency=1", "--requests", "2", "--warmup", "0",
                        "--max-tokens", "4", "--input-tokens", "16", "--no-progress"],
            "evaluate": ["evaluate", "--target", TARGET, "--workload", "ticket-classification", "--limit", "1",
                         "--concurrency", "1", "--no-progress"],
        }.items():
            log = open(logs / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115 (closed after wait)
            procs[name] = (subprocess.Popen([sys.executable, "-m", "workbench.cli", *argv], stdout=log,
                                            stderr=subprocess.STDOUT, cwd=tmp_path), log)
        nb = report.execute("measure", {"target": TARGET, "profile": "concurrency=1", "requests_per_point": 1,
                                        "max_tokens": 4, "results_root": str(results)}, out_dir=reports)
        for name, (p, log) in procs.items():
            assert p.wait(timeout=300) == 0, (logs / f"{name}.log").read_text()
            log.close()
        html = report.run_report({"workloads": ["ticket-classification"], "results_paths": [str(results)]},
                                 out_dir=reports)["html"]
    assert f"Bearer {key}" in proxy.authorizations  # the key was really used on every path
    assert len(proxy.exchanges) >= 5

    # the dashboard, built on those results and saved as a standalone page
    from ipywidgets.embed import embed_minimal_html

    from workbench.present.dashboard import build_dashboard

    dash = build_dashboard("ticket-classification", results_paths=[str(results)])
    embed_minimal_html(reports / "dashboard.html", views=[dash.widget], title="dashboard")

    produced = [p for p in tmp_path.rglob("*") if p.is_file() and p != targets]
    kinds = {p.suffix for p in produced}
    assert {".jsonl", ".json", ".ipynb", ".html", ".log"} <= kinds, kinds
    assert len(list(results.glob("*/run.json"))) >= 3 and Path(html).is_file() and nb.is_file()
    scanned = [tmp_path]
    if engine_log and engine_log.is_file():  # only what the engine wrote during this test
        tail = tmp_path.parent / f"{tmp_path.name}-engine-tail.log"
        with open(engine_log, "rb") as f:
            f.seek(log_size0)
            tail.write_bytes(f.read())
        scanned.append(tail)
    assert _scan(scanned, [key, key.removeprefix("sk-wbtest-")]) == []
    # and the papermill parameters of the executed notebook name the target, never a key
    params = json.loads(nb.read_text())["metadata"]["papermill"]["parameters"]
    assert params["target"] == TARGET and key not in json.dumps(params)
    # runs record the variable's name only
    runs = [json.loads(p.read_text()) for p in results.glob("*/run.json")]
    assert {r["target"] for r in runs} == {TARGET}


def test_notebook_parameters_refuse_a_key(tmp_path, monkeypatch):
    from workbench.present import report

    key = f"sk-wbtest-{secrets.token_hex(16)}"
    with pytest.raises(WorkbenchError, match="API key"):
        report.execute("measure", {"target": key}, out_dir=tmp_path)
    monkeypatch.setenv("MY_SERVICE_API_KEY", "plainvalue0123456789")  # not key-shaped: caught by value
    with pytest.raises(WorkbenchError, match=r"\$MY_SERVICE_API_KEY"):
        report.execute("measure", {"workload": "plainvalue0123456789"}, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_key_in_the_targets_file_is_refused(tmp_path):
    from workbench.inputs.targets import load_targets

    f = tmp_path / "targets.yaml"
    f.write_text("targets:\n  - {name: t, engine: external, base_url: 'http://127.0.0.1:1/v1', model: m,\n"
                 "     api_key_env: 'sk-wbtest-0123456789abcdef'}\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="NAME of an environment variable") as info:
        load_targets(f)
    assert "0123456789abcdef" not in str(info.value)  # the error does not echo the key either


def test_run_metadata_refuses_a_key(tmp_path, monkeypatch):
    from workbench.results.store import RunWriter

    key = f"sk-wbtest-{secrets.token_hex(16)}"
    with pytest.raises(WorkbenchError, match="API key"):
        RunWriter(kind="load", target="t", engine="external", model="m", root=tmp_path, params={"note": key})
    assert not any(key.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
