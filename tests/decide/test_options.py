"""Options and their quality (workbench.decide.options): published-proxy matching, worked by hand; a
measured run priced from what it recorded (its deployment) and the catalog alone."""

from __future__ import annotations

import pytest

from workbench.cost import cost
from workbench.decide import options


def test_requests_per_month_uses_the_730_hour_month():
    assert cost.requests_per_month(24) == pytest.approx(730)


def test_published_proxy_matching():
    import pandas as pd

    q = pd.DataFrame({"model": ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "Llama-3-8B-Instruct"],
                      "benchmark": ["mmlu"] * 3, "score": [82.0, 88.7, 68.4], "protocol": ["p"] * 3,
                      "as_of": ["2025-07-01"] * 3, "source": ["s"] * 3, "verified": [True, True, False]})
    assert options.published_proxy("gpt-4o", "classification", q).value == pytest.approx(0.887)
    assert options.published_proxy("gpt-4o-mini", "routing", q).value == pytest.approx(0.82)
    p = options.published_proxy("groq/llama3-8b-8192", "extraction", q)
    assert p.value == pytest.approx(0.684) and "unverified" in p.source and p.provenance == "published"
    assert options.published_proxy("text-embedding-3-small", "retrieval", q) is None


def _sweep_run(root, target: str, deployment: dict | None, hardware: str = "AMD EPYC 7B13"):
    """A stored load run of 4 requests at concurrency 1, each 100 ms end to end (10 requests/s)."""
    from workbench.results.store import RunWriter

    with RunWriter(kind="load", target=target, engine="vllm", model="SmolLM2-135M-Instruct", hardware=hardware,
                   root=root, host={}, deployment=deployment, params={}) as run:
        for i in range(4):
            run.append("requests", {"request_id": i, "phase": "measure", "load_point": "concurrency=1",
                                    "concurrency": 1, "request_rate": float("inf"), "endpoint": "chat",
                                    "scheduled_s": i * 0.1, "sent_s": i * 0.1,
                                    "chunk_times_s": [0.02, 0.1], "ttft_ms": 20.0, "e2el_ms": 100.0,
                                    "prompt_tokens": 50, "output_tokens": 8, "token_source": "usage",
                                    "forced_length": False, "http_status": 200, "error": "", "ok": True})
    return run.run_id


def test_a_measured_run_is_priced_from_its_recorded_deployment(tmp_path, monkeypatch):
    """The option's instance is the one the run recorded, whatever targets.yaml says today (a
    target of that name does not even exist): decide reads results and the catalog only."""
    from workbench.inputs.catalog import load_catalog
    from workbench.inputs.workloads import load_workload
    from workbench.results.store import load

    monkeypatch.setenv("WORKBENCH_TARGETS", str(tmp_path / "none.yaml"))  # a targets file that does not exist
    run_id = _sweep_run(tmp_path, "gone-target", {"kind": "self-hosted", "instance": "g5.xlarge", "count": 1})
    _sweep_run(tmp_path / "cpu", "cpu-target", {"kind": "self-hosted", "instance": None, "count": 1})
    results, wl, catalog = load([tmp_path]), load_workload("ticket-classification"), load_catalog()
    assert results.runs.set_index("run_id").loc[run_id, "schema_version"] == 2
    built = options.build_options_detailed(wl, catalog=catalog, results=results, candidates=())
    (opt,) = [o for o in built.options if "[gone-target]" in o.name]
    assert "g5.xlarge" in opt.name and opt.usd_per_hour == catalog.instance("g5.xlarge")["usd_per_hour"]
    assert f"run {run_id}" in opt.provenance["capacity_rps"]
    # a run that names no instance and ran on no catalog GPU is left out, with a note saying why
    built = options.build_options_detailed(wl, catalog=catalog, results=load([tmp_path / "cpu"]), candidates=())
    assert not [o for o in built.options if "[cpu-target]" in o.name]
    assert any("cpu-target: no price in the catalog" in n and "hardware AMD EPYC 7B13" in n for n in built.notes)


def test_token_profile_assumed_and_measured():
    import pandas as pd

    from workbench.decide.options import token_profile
    from workbench.inputs.workloads import load_workload

    wl = load_workload("intent-routing")
    empty = type("R", (), {"items": pd.DataFrame(columns=["run_id", "workload", "prompt_tokens", "output_tokens"])})()
    p = token_profile(wl, empty)
    assert p["provenance"] == "assumed" and p["n"] == len(wl.items)
    assert 0 < p["prompt_tokens_p50"] <= p["prompt_tokens_p90"] and p["output_tokens_mean"] > 0
    items = pd.DataFrame({"run_id": ["r1"] * 4 + ["r2"], "workload": ["intent-routing"] * 4 + ["other"],
                          "prompt_tokens": [100, 110, 120, 130, 999], "output_tokens": [2, 2, 4, None, 9]})
    p = token_profile(wl, type("R", (), {"items": items})())
    assert p["provenance"] == "measured" and p["source"] == ["r1"] and p["n"] == 4
    assert p["prompt_tokens_mean"] == 115 and p["prompt_tokens_p50"] == 115
    assert p["output_tokens_mean"] == 2.0  # a missing count is 0 output tokens
    runs = pd.DataFrame({"run_id": ["r1", "r2"], "target": ["a", "b"]})
    res = type("R", (), {"items": items, "runs": runs})()
    assert token_profile(wl, res, target="a")["prompt_tokens_mean"] == 115
    assert token_profile(wl, res, target="b")["provenance"] == "assumed"  # b never ran this workload
