"""Options and their quality (workbench.decide.options): published-proxy matching, worked by hand; a
measured run priced from what it recorded (its deployment) and the catalog alone."""

from __future__ import annotations

import pytest

from workbench.cost import cost
from workbench.decide import options, quality
from workbench.project.aic import AICell


def test_requests_per_month_uses_the_730_hour_month():
    assert cost.requests_per_month(24) == pytest.approx(730)


def test_published_evidence_keeps_its_own_name_and_scale():
    import pandas as pd

    q = pd.DataFrame({"model": ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "Llama-3-8B-Instruct",
                                "Llama-3-8B-Instruct", "text-embedding-3-small"],
                      "benchmark": ["mmlu", "mmlu", "mmlu", "ifeval", "mteb"], "score": [82.0, 88.7, 68.4, 77.0, 62.3],
                      "protocol": ["MMLU 0-shot", "MMLU 0-shot", "MMLU 5-shot", "IFEval strict", "MTEB avg"],
                      "as_of": ["2025-07-01"] * 5, "source": ["s"] * 5, "verified": [True, True, False, True, True]})
    assert quality.published_evidence("gpt-4o", "classification", q)[0].value == pytest.approx(88.7)
    assert quality.published_evidence("gpt-4o-mini", "routing", q)[0].value == pytest.approx(82.0)
    mmlu, ifeval = quality.published_evidence("groq/llama3-8b-8192", "summarization", q)
    assert (mmlu.value, mmlu.scale, mmlu.benchmark, mmlu.provenance) == (68.4, "of 100", "mmlu", "published")
    assert "unverified" in mmlu.source and mmlu.score == "MMLU 5-shot 68.4 (of 100)"
    assert not mmlu.in_workload_metric and ifeval.metric == "IFEval strict"
    assert quality.published_evidence("text-embedding-3-small", "retrieval", q)[0].benchmark == "mteb"
    assert quality.published_evidence("text-embedding-3-small", "classification", q) == []
    assert quality.published_evidence("gpt-4o", "retrieval", q) == []


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


def test_the_option_builder_takes_capacity_at_the_first_point_that_misses(tmp_path):
    """A stored sweep of ticket-classification (TTFT SLO 1000 ms) whose TTFT is 100, 150, 1500
    then 200 ms at concurrency 1, 2, 4, 8 (4 requests each, every one 1 s apart per worker):
    the option's capacity is that of concurrency 2, not the 8 that met the SLO again by luck."""
    from workbench.inputs.catalog import load_catalog
    from workbench.inputs.workloads import load_workload
    from workbench.measure.metrics import summarize
    from workbench.results.store import RunWriter, load

    with RunWriter(kind="load", target="noisy", engine="vllm", model="SmolLM2-135M-Instruct", hardware="CPU",
                   root=tmp_path, host={}, params={},
                   deployment={"kind": "self-hosted", "instance": "g5.xlarge", "count": 1}) as run:
        rid = 0
        for c, ttft_ms in ((1, 100.0), (2, 150.0), (4, 1500.0), (8, 200.0)):
            for i in range(4):
                sent = i // c * 1.0
                run.append("requests", {"request_id": rid, "phase": "measure", "load_point": f"concurrency={c}",
                                        "concurrency": c, "request_rate": float("inf"), "endpoint": "chat",
                                        "scheduled_s": sent, "sent_s": sent,
                                        "chunk_times_s": [ttft_ms / 1e3, ttft_ms / 1e3 + 0.3],
                                        "ttft_ms": ttft_ms, "e2el_ms": ttft_ms + 300, "prompt_tokens": 50,
                                        "output_tokens": 8, "token_source": "usage", "forced_length": False,
                                        "http_status": 200, "error": "", "ok": True})
                rid += 1
    results = load([tmp_path])
    per_point = summarize(results.requests, {"ttft_ms": 1000}).set_index("concurrency")["request_throughput"]
    built = options.build_options_detailed(load_workload("ticket-classification"), catalog=load_catalog(),
                                           results=results, candidates=())
    (opt,) = [o for o in built.options if "[noisy]" in o.name]
    assert opt.capacity_rps == pytest.approx(per_point[2])
    assert per_point[8] > 2 * per_point[2]  # the rule that takes any point meeting the SLO would say this


@pytest.mark.parametrize("status, weights, counts", [
    ("completed", "real", True), ("failed", "real", False), ("degraded", "real", False),
    ("completed", "random weights", False),
])
def test_measured_quality_comes_only_from_runs_that_are_evidence(tmp_path, status, weights, counts):
    """Twenty intent-routing items answered right: a completed run of real weights is measured
    quality (1.0); the same answers in a failed or degraded run, or from random weights, are not."""
    from workbench.inputs.workloads import load_workload
    from workbench.results.store import RunWriter, load

    wl = load_workload("intent-routing")
    with RunWriter(kind="quality", target="t", engine="vllm", model="M", hardware="CPU", root=tmp_path,
                   host={}, workload=wl.name, weights=weights) as run:
        for it in wl.split("test")[:20]:
            run.append("items", {"workload": wl.name, "item_id": it["id"], "output": it["reference"],
                                 "parsed_ok": True, "scores": {}, "error": ""})
        run.finish(status)
    q = quality.measured_quality(load([tmp_path]), wl, targets=["t"])
    assert (q is not None) == counts
    if counts:
        assert q.value == 1.0 and q.n_items == 20 and q.provenance == "measured"


def test_a_gpu_aiconfigurator_lacks_gets_a_roofline_projection_labelled_so(tmp_path):
    # L4 is in the catalog, not in AIConfigurator's kernel databases: the roofline's capacity
    # stands, and the label names the engine, its published error and why AIConfigurator did not answer
    cap, label = options.projected_capacity(AICell("Llama-3-8B", "L4"), 500, 100, {"tpot_ms": 100},
                                            (3.5, "uncalibrated"), projection="auto")
    assert cap == 3.5
    assert label.startswith("projected by the roofline (uncalibrated); ")
    assert "published point" in label or "error unknown" in label
    assert label.endswith("AIConfigurator: AIConfigurator 0.12.0 has no measured kernel database for L4")
    cap, label = options.projected_capacity(AICell("Llama-3-8B", "H100-SXM"), 500, 100, None,
                                            (2.0, "projected (calibrated on 4 runs, median error 11%)"),
                                            projection="roofline")
    assert (cap, label.split(";")[0]) == (2.0, "projected by the roofline (calibrated on 4 runs, median error 11%)")
    assert label.endswith("AIConfigurator: not asked (projection=roofline)")


def test_aiconfigurator_answers_where_it_covers_the_cell():
    # Llama 3 8B on one H100 under vLLM: covered. A TPOT limit of 1 ms no engine meets: even one
    # request at a time misses it, which AIConfigurator says (0 requests/s) rather than failing
    cap, label = options.projected_capacity(AICell("Llama-3-8B", "H100-SXM"), 500, 100, {"tpot_ms": 1.0},
                                            (3.5, "uncalibrated"), projection="auto")
    assert cap == 0.0 and label.startswith("projected by AIConfigurator: one request at a time misses the SLO")


def test_a_catalog_mmlu_proxy_on_a_rouge_workload_is_a_candidate_never_feasible():
    """The report's own path: quality_estimates over the real catalog gives a projected
    Llama-3-8B its MMLU row (indicative), decide fails it on the ROUGE-L floor and lists it among
    the candidates with its saving at stake against the measured option S."""
    from types import SimpleNamespace

    from workbench.cost.cost import Option
    from workbench.decide import decision

    w = SimpleNamespace(name="incident-summarization", task="summarization", primary_metric="rougeL",
                        quality_floor={"rougeL": 0.4}, daily_volume=1000, peak_factor=1.0, slo={}, privacy="any")
    llama = Option(name="Llama-3-8B · vllm bf16 · 1x_L4", kind="self-hosted", capacity_rps=5.0, usd_per_hour=0.5)
    s = Option(name="S", kind="self-hosted", capacity_rps=5.0, usd_per_hour=2.0)
    built = options.Options([llama, s], {llama.name: {"targets": [], "models": ["Llama-3-8B", "Llama-3-8B-Instruct"],
                                                      "proxy": "Llama-3-8B-Instruct"}}, [], {})
    q = quality.quality_estimates(w, built)
    assert q[llama.name].provenance == "published" and q[llama.name].metric.startswith("MMLU")
    q["S"] = quality.QualityEstimate(0.45, 0.41, 0.49, "measured", "run s", "rougeL")
    d = decision.decide(w, [llama, s], quality=q)
    row = d.table.set_index("option").loc[llama.name]
    assert not row.feasible and row.quality != row.quality  # NaN: nothing on the ROUGE-L axis
    assert d.verified_choice == "S"
    c = d.candidates.set_index("option")
    assert c.loc[llama.name, "saving_usd_per_month"] == pytest.approx((2.0 - 0.5) * 730)


def test_measure_next_names_the_command_and_what_it_needs():
    import pandas as pd

    from workbench.decide import candidates
    from workbench.inputs.targets import load_targets

    cands = pd.DataFrame([
        {"option": "gpt-4o-mini", "kind": "api", "role": candidates.CHEAPER, "usd_per_month": 20.0,
         "saving_usd_per_month": 300.0, "must_reach": "macro_f1 ≥ 0.8", "evidence": "published", "indicative": "",
         "indicative_rank": 0.5, "expected_saving_usd_per_month": 150.0},
        {"option": "Llama-3-8B · vllm bf16 · 1x_L4_SECURE", "kind": "self-hosted", "role": candidates.CHEAPER,
         "usd_per_month": 321.0, "saving_usd_per_month": 100.0, "must_reach": "macro_f1 ≥ 0.8", "evidence": "published",
         "indicative": "", "indicative_rank": 1.0, "expected_saving_usd_per_month": 100.0},
        {"option": "groq/llama3-8b-8192", "kind": "api", "role": candidates.CHEAPER, "usd_per_month": 5.0,
         "saving_usd_per_month": 315.0, "must_reach": "macro_f1 ≥ 0.8", "evidence": "none", "indicative": "",
         "indicative_rank": float("nan"), "expected_saving_usd_per_month": float("nan")}])
    sources = {"gpt-4o-mini": {"targets": [], "models": ["gpt-4o-mini"]},
               "groq/llama3-8b-8192": {"targets": [], "models": ["groq/llama3-8b-8192"]},
               "Llama-3-8B · vllm bf16 · 1x_L4_SECURE": {"targets": [], "models": ["Llama-3-8B", "Llama-3-8B-Instruct"]}}
    class Catalog:  # the provider column of apis.csv, for these two rows (the catalog's rows change)
        def api(self, model):
            return {"model": model, "litellm_provider": {"gpt-4o-mini": "openai", "groq/llama3-8b-8192": "groq"}[model]}

    m = candidates.measure_next(cands, sources, "ticket-classification", targets=load_targets(), catalog=Catalog())
    assert m.option.tolist() == ["gpt-4o-mini", "Llama-3-8B · vllm bf16 · 1x_L4_SECURE", "groq/llama3-8b-8192"]
    api = m.iloc[0]
    assert api.command == "workbench evaluate --target gpt-4o-mini --workload ticket-classification"
    assert "$OPENAI_API_KEY" in api.needs and "api_key_env: OPENAI_API_KEY" in api.target_yaml
    assert "https://api.groq.com/openai/v1" in m.iloc[2].target_yaml and "model: llama3-8b-8192" in m.iloc[2].target_yaml
    assert "Llama-3-8B-Instruct" in m.iloc[1].needs and "instance: 1x_L4_SECURE" in m.iloc[1].target_yaml
    none = candidates.measure_next(cands.iloc[:0], {}, "policy-retrieval", targets={}, catalog=None)
    assert len(none) == 1 and none.command.iloc[0] == "workbench evaluate --target YOUR-TARGET --workload policy-retrieval"
