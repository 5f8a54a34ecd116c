"""`workbench import`: the numbers of each tool's real result file (tests/data/<tool>/, made by
running the tool on the local engine; see tests/data/README.md) come back out of the store
unchanged, per-request rows reproduce the file's own statistics, and bad files write nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.cost import cost
from workbench.results import importers, store

DATA = Path(__file__).resolve().parents[1] / "data"
VLLM = next((DATA / "vllm_bench").glob("*.json"))
GUIDELLM = DATA / "guidellm" / "benchmarks.json"
AIPERF = DATA / "aiperf" / "profile_export_aiperf.json"
LLMPERF = next((DATA / "llmperf").glob("*_summary.json"))


def _import(tmp_path, *paths, **kw):
    ids, notes = importers.import_files(paths, root=tmp_path, **{"target": "local-vllm", **kw})
    res = store.load(tmp_path)
    store.validate(res)
    return ids, notes, res


def _points(res, run_id, use_rows=True):
    run = res.runs.set_index("run_id").loc[run_id].to_dict() | {"run_id": run_id}
    req = res.requests[res.requests.run_id == run_id] if use_rows else None
    return importers.load_points(run, req).iloc[0]


def test_vllm_bench_serve_file_comes_back_unchanged_and_its_rows_reproduce_it(tmp_path):
    f = json.loads(VLLM.read_text())
    ids, _, res = _import(tmp_path, VLLM)
    (rid,) = ids
    run = res.runs.set_index("run_id").loc[rid]
    sha = hashlib.sha256(VLLM.read_bytes()).hexdigest()
    assert run.provenance == f"measured (imported: vllm bench serve (version not recorded in the file), {VLLM.name}, sha256 {sha[:12]}…)"
    assert run.kind == "load" and run.summary["source"] == "requests" and run.deployment["instance"] == "local-cpu"
    agg = _points(res, rid, use_rows=False)
    assert (agg.completed, agg.failed) == (f["completed"], f["failed"])
    assert agg.request_throughput == f["request_throughput"] and agg.output_tokens_per_s == f["output_throughput"]
    assert agg.duration_s == f["duration"] and agg.total_tokens_per_s == f["total_token_throughput"]
    rows = _points(res, rid)
    for m in ("ttft", "tpot", "itl", "e2el"):
        assert agg[f"p50_{m}_ms"] == f[f"median_{m}_ms"] == f[f"p50_{m}_ms"]
        for s in ("mean", "p90", "p95", "p99"):
            file_value = f[f"{s}_{m}_ms"]
            assert agg[f"{s}_{m}_ms"] == file_value
            # per-request arrays are seconds in the file; the rows give back the file's ms statistics
            assert rows[f"{s}_{m}_ms"] == pytest.approx(file_value, rel=1e-9)
    assert rows.completed == f["completed"] and rows.total_output_tokens == f["total_output_tokens"]
    # our window (first send → last chunk) is inside vLLM's benchmark duration
    assert rows.request_throughput == pytest.approx(f["request_throughput"], rel=0.01)


def test_guidellm_itl_is_our_tpot_and_its_percentiles_are_nearest_rank(tmp_path):
    b = json.loads(GUIDELLM.read_text())["benchmarks"][0]
    m = {k: v["successful"] for k, v in b["metrics"].items() if isinstance(v, dict) and "successful" in v}
    ids, _, res = _import(tmp_path, GUIDELLM)
    (rid,) = ids
    run = res.runs.set_index("run_id").loc[rid]
    assert run.provenance.startswith("measured (imported: guidellm 0.8.1, benchmarks.json, sha256 ")
    agg = _points(res, rid, use_rows=False)
    assert agg.load_point == "concurrency=4" and agg.completed == b["metrics"]["request_totals"]["successful"] == 32
    assert agg.request_throughput == m["requests_per_second"]["mean"]
    assert agg.output_tokens_per_s == m["output_tokens_per_second"]["mean"]
    for ours, theirs, scale in (("ttft", "time_to_first_token_ms", 1), ("tpot", "inter_token_latency_ms", 1),
                                ("e2el", "request_latency", 1000)):
        assert agg[f"mean_{ours}_ms"] == m[theirs]["mean"] * scale
        for p in ("p50", "p90", "p95", "p99"):
            assert agg[f"{p}_{ours}_ms"] == m[theirs]["percentiles"][p] * scale
    # rows: our TPOT per request is guidellm's ITL per request (equal means); guidellm's percentiles
    # are nearest-rank (numpy "inverted_cdf"), ours interpolate linearly
    rows = _points(res, rid)
    assert rows.mean_tpot_ms == pytest.approx(m["inter_token_latency_ms"]["mean"], rel=1e-9)
    req = res.requests[res.requests.run_id == rid]
    ttft = req.ttft_ms.to_numpy(float)
    for p in ("p50", "p90", "p95", "p99"):
        assert np.percentile(ttft, float(p[1:]), method="inverted_cdf") == pytest.approx(
            m["time_to_first_token_ms"]["percentiles"][p], rel=1e-9)
    assert rows.p50_ttft_ms == pytest.approx(np.percentile(ttft, 50))


def test_aiperf_summary_and_its_per_request_records(tmp_path):
    f = json.loads(AIPERF.read_text())
    ids, _, res = _import(tmp_path, AIPERF)
    (rid,) = ids
    assert res.runs.set_index("run_id").loc[rid].provenance.startswith("measured (imported: aiperf 0.13.0, ")
    agg, rows = _points(res, rid, use_rows=False), _points(res, rid)
    assert agg.completed == f["request_count"]["avg"] == rows.completed == 32
    assert agg.request_throughput == f["request_throughput"]["avg"]
    assert agg.output_tokens_per_s == f["output_token_throughput"]["avg"]
    assert agg.duration_s == f["benchmark_duration"]["avg"]  # sec → s
    for ours, theirs in (("ttft", "time_to_first_token"), ("tpot", "inter_token_latency"),
                         ("itl", "inter_chunk_latency"), ("e2el", "request_latency")):
        assert f[theirs]["unit"] == "ms"
        for s, t in (("mean", "avg"), ("p50", "p50"), ("p90", "p90"), ("p99", "p99")):
            assert agg[f"{s}_{ours}_ms"] == f[theirs][t]
            assert rows[f"{s}_{ours}_ms"] == pytest.approx(f[theirs][t], rel=1e-9)


def test_llmperf_summary_is_aggregates_only_in_ms(tmp_path):
    f = json.loads(LLMPERF.read_text())
    ids, notes, res = _import(tmp_path, LLMPERF)
    (rid,) = ids
    assert "aggregates only" in notes[-1] and not len(res.requests)
    run = res.runs.set_index("run_id").loc[rid]
    assert run.summary["source"] == "aggregates" and run.model == "01-ai/Yi-1.5-34B-Chat"
    agg = _points(res, rid)
    assert agg.completed == f["results_num_completed_requests"] == 100
    assert agg.request_throughput == f["results_num_completed_requests_per_min"] / 60
    assert agg.output_tokens_per_s == f["results_mean_output_throughput_token_per_s"]
    assert agg.p50_ttft_ms == f["results_ttft_s_quantiles_p50"] * 1e3
    assert agg.p99_e2el_ms == f["results_end_to_end_latency_s_quantiles_p99"] * 1e3
    assert "p50_tpot_ms" not in agg  # llmperf's "inter token latency" is E2EL/N, not TPOT


def test_the_same_file_twice_is_a_no_op_with_a_note(tmp_path):
    first, _, _ = _import(tmp_path, VLLM)
    again, notes, res = _import(tmp_path, VLLM)
    assert again == [] and len(res.runs) == 1
    assert any("already imported" in n and first[0] in n for n in notes)


@pytest.mark.parametrize("make, problem", [
    (lambda t: t[: len(t) // 2], "not valid JSON"),
    (lambda t: '{"hello": 1}', "unknown format"),
    (lambda t: t.replace('"version": 2', '"version": 3', 1), "report version 3"),
])
def test_a_bad_file_is_one_clear_error_and_nothing_is_written(tmp_path, make, problem):
    bad = tmp_path / "in" / "benchmarks.json"
    bad.parent.mkdir()
    bad.write_text(make(GUIDELLM.read_text()))
    root = tmp_path / "store"
    with pytest.raises(importers.ImportError_) as e:
        importers.import_files([VLLM, bad], root=root, target="local-vllm")
    assert str(bad) in str(e.value) and problem in str(e.value)
    assert store.find_run_dirs(root) == []
    assert main(["import", str(bad), "--results-root", str(root)]) == 2


def test_deployment_flag_overrides_the_target(tmp_path):
    ids, _, res = _import(tmp_path, AIPERF, deployment="instance=g5.xlarge,accelerator=A10G,count=1,dtype=bf16")
    dep = res.runs.set_index("run_id").loc[ids[0]].deployment
    assert dep["instance"] == "g5.xlarge" and dep["engine"] == "vllm-cpu" and dep["count"] == 1
    with pytest.raises(importers.ImportError_, match="--deployment"):
        importers.parse_deployment("gpu=H100")


INFERENCE_PERF = DATA / "inference_perf" / "summary_lifecycle_metrics.json"
LM_EVAL = next((DATA / "lm_eval").glob("results_*.json"))


def test_inference_perf_seconds_become_ms_one_point_per_stage(tmp_path):
    stage = json.loads((DATA / "inference_perf" / "stage_0_lifecycle_metrics.json").read_text())
    ids, notes, res = _import(tmp_path, INFERENCE_PERF)
    (rid,) = ids  # the run had one stage
    run = res.runs.set_index("run_id").loc[rid]
    assert run.model == "SmolLM2-135M-Instruct" and "aggregates only" in notes[-1]
    agg = _points(res, rid)
    ok = stage["successes"]
    assert agg.load_point == "concurrency=4" and agg.completed == ok["count"] == 32
    assert agg.request_throughput == ok["throughput"]["requests_per_sec"]
    assert agg.output_tokens_per_s == ok["throughput"]["output_tokens_per_sec"]
    for ours, theirs in (("ttft", "time_to_first_token"), ("tpot", "time_per_output_token"),
                         ("itl", "inter_token_latency"), ("e2el", "request_latency")):
        assert agg[f"p50_{ours}_ms"] == ok["latency"][theirs]["median"] * 1e3
        assert agg[f"p99_{ours}_ms"] == ok["latency"][theirs]["p99"] * 1e3


def test_lm_eval_results_are_quality_evidence_labelled_and_levelled(tmp_path):
    f = json.loads(LM_EVAL.read_text())
    ids, _, res = _import(tmp_path, LM_EVAL)
    run = res.runs.set_index("run_id").loc[ids[0]]
    assert run.kind == "lm-eval" and run.provenance.startswith("measured (imported: lm-eval 0.4.13, ")
    (ev,) = importers.quality_evidence(res, "ticket-classification")
    assert (ev["task"], ev["n_shot"], ev["metric"], ev["filter"]) == ("ticket-classification", 3, "exact_match", "label")
    assert ev["value"] == f["results"]["ticket-classification"]["exact_match,label"]
    assert ev["stderr"] == f["results"]["ticket-classification"]["exact_match_stderr,label"]
    assert ev["n_samples"] == 48 and ev["label"] == "measured by lm-eval 0.4.13" and ev["evidence"] == "workload"
    (other,) = importers.quality_evidence(res, "intent-routing")
    assert other["evidence"] == "related-task"
    assert "related-task evidence, not this workload's metric" in importers.evidence_note(other)


def test_imported_runs_are_priced_beside_our_own_and_labelled_imported(tmp_path):
    from workbench.decide.decision import decide
    from workbench.decide.options import build_options_detailed
    from workbench.inputs.workloads import load_workload
    from workbench.paths import reference_results_dir

    importers.import_files([VLLM, GUIDELLM, AIPERF, INFERENCE_PERF, LM_EVAL], root=tmp_path, target="local-vllm")
    importers.import_files([LLMPERF], root=tmp_path, deployment="instance=g5.12xlarge,accelerator=A10G,count=4,engine=vllm")
    res = store.load([reference_results_dir(), tmp_path])
    # the crowded 2-core runs take ~15 s per request: an SLO they meet, to see them priced
    w = replace(load_workload("ticket-classification"), slo={"ttft_ms": 10_000, "e2el_ms": 60_000})
    built = build_options_detailed(w, results=res)
    names = {o.name: o for o in built.options if o.kind == "self-hosted"}
    for tool in ("vllm-bench", "guidellm", "aiperf", "inference-perf"):
        (name,) = [n for n in names if n.endswith(f"[local-vllm:{tool}]")]
        assert "local-cpu" in name and names[name].capacity_rps > 0
        assert "imported: " in names[name].provenance["capacity_rps"]
    (yi,) = [o for n, o in names.items() if n.endswith("[imported:llmperf]")]
    assert "g5.12xlarge" in yi.name and "imported: llmperf 2023-08-31" in yi.provenance["capacity_rps"]
    assert any(n.endswith("[local-vllm]") for n in names)  # our own sweep, beside them
    assert any("measured by lm-eval 0.4.13" in n for n in built.notes)
    table = decide(w, built.options).table
    assert {n for n in names if "imported" in names[n].provenance["capacity_rps"]} <= set(table.option)


def test_a_file_with_several_load_points_gives_one_run_each_priced_as_one_sweep(tmp_path):
    # `--append-result` JSON Lines: built from the real file written twice under two concurrency
    # labels (this checks the one-run-per-point path and the sweep, not the numbers)
    d = {k: v for k, v in json.loads(VLLM.read_text()).items() if k not in ("ttfts", "itls", "start_times")}
    jsonl = tmp_path / "in" / "appended.jsonl"
    jsonl.parent.mkdir()
    jsonl.write_text("".join(json.dumps({**d, "max_concurrency": c}) + "\n" for c in (2, 4)))
    ids, notes, res = _import(tmp_path / "store", jsonl)
    assert len(ids) == 2 and "aggregates only" in notes[-1]
    run = res.runs.set_index("run_id").loc[ids[1]].to_dict() | {"run_id": ids[1]}
    sweep = importers.sweep_points(res, run)
    assert sorted(sweep.load_point) == ["concurrency=2", "concurrency=4"]
    assert list(sweep.request_throughput) == [d["request_throughput"]] * 2


def test_a_failure_while_writing_leaves_no_run_behind(tmp_path, monkeypatch):
    real = importers._write_one
    calls = []

    def fail_on_second(**kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(**kw)

    monkeypatch.setattr(importers, "_write_one", fail_on_second)
    with pytest.raises(OSError):
        importers.import_files([INFERENCE_PERF, LM_EVAL], root=tmp_path, target="local-vllm")
    # the first file's run is whole and in place; the second file left nothing, staged or not
    assert len(store.find_run_dirs(tmp_path)) == 1
    assert list((tmp_path / importers.STAGING).iterdir()) == []


def test_lm_eval_results_are_related_evidence_in_the_decision_never_the_workload_metric(tmp_path):
    """An imported lm-eval score on the workload's own items (exact_match 0.229) reaches the
    decision as RELATED evidence on lm-eval's metric: the served model's option is indicative,
    not feasible, whatever the floor, and its quality column stays off the workload's axis."""
    from workbench.decide import options, quality
    from workbench.decide.decision import decide
    from workbench.inputs.workloads import load_workload

    f = json.loads(LM_EVAL.read_text())
    importers.import_files([LM_EVAL], root=tmp_path, target="local-vllm")
    res = store.load([tmp_path])
    w = load_workload("ticket-classification")
    (ev,) = quality.related_evidence(res, w)["SmolLM2-135M-Instruct"]
    score = f["results"]["ticket-classification"]["exact_match,label"]
    half = 1.96 * f["results"]["ticket-classification"]["exact_match_stderr,label"]
    assert (ev.provenance, ev.value, ev.metric) == ("related", score, "lm-eval ticket-classification 3-shot exact_match")
    assert (ev.ci_low, ev.ci_high) == pytest.approx((score - half, score + half))
    opt = cost.Option(name="SmolLM2 on local-cpu", kind="self-hosted", capacity_rps=100.0, usd_per_hour=0.01)
    built = options.Options([opt], {opt.name: {"targets": [], "models": ["SmolLM2-135M-Instruct"], "proxy": ""}}, [], {})
    q = quality.quality_estimates(replace(w, quality_floor={w.primary_metric: 0.0}), built, results=res,
                                  related=quality.related_evidence(res, w))
    assert q[opt.name].provenance == "related"
    d = decide(replace(w, quality_floor={w.primary_metric: 0.0}, slo={}), [opt], quality=q)
    row = d.table.set_index("option").loc[opt.name]
    assert not row.feasible and d.verified_choice is None and row.evidence == "related"


def test_an_imported_run_that_misses_the_slo_says_it_was_imported(tmp_path):
    """guidellm's run on the crowded 2-core machine (TTFT p50 1.3 s) misses ticket-classification's
    1 s TTFT limit: the note that leaves it out names the tool, its version and the file."""
    from workbench.decide.options import MISSES_SLO, build_options_detailed
    from workbench.inputs.workloads import load_workload

    importers.import_files([GUIDELLM], root=tmp_path, target="local-vllm")
    built = build_options_detailed(load_workload("ticket-classification"), results=store.load([tmp_path]))
    (note,) = [n for n in built.notes if n.cause == MISSES_SLO and "guidellm" in n]
    assert "(imported: guidellm 0.8.1, benchmarks.json)" in note and "infeasible on latency" in note


def test_an_imported_run_gets_its_parquet_copy_in_place(tmp_path):
    """Runs are staged, then renamed into the store: their Parquet copy is made where they end
    up (read back by load), and nothing is left in the staging folder."""
    from workbench.results import columnar

    (rid,) = importers.import_files([GUIDELLM], root=tmp_path, target="local-vllm")[0]
    files = columnar.mirrored_files(tmp_path / rid)
    assert files and all(p.is_file() and tmp_path / "parquet" in p.parents for p in files.values())
    assert not (tmp_path / importers.STAGING / "parquet").exists()
    n = len((tmp_path / rid / "requests.jsonl").read_text().splitlines())
    assert n > 0 and len(store.load([tmp_path]).requests) == n
