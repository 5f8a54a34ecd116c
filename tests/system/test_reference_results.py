"""The committed reference runs (data/results/) are evidence the report uses: each must be a
clean, consistent record. Every run is read back, its stored summary recomputed from its own
rows with today's code, and no run may be failed, degraded or errored beyond the threshold."""

from __future__ import annotations

import math

import pytest

from workbench.measure.evaluate import run_metrics
from workbench.measure.metrics import summarize
from workbench.paths import reference_results_dir
from workbench.results.schema import EVIDENCE_STATUSES, MAX_ERROR_RATE, SCHEMA_VERSION, FinetuneSummary
from workbench.results.store import load, validate

RESULTS = load([reference_results_dir()])
RUNS = RESULTS.runs.set_index("run_id", drop=False)


def test_the_reference_runs_load_and_match_the_schema():
    assert len(RUNS) >= 40
    validate(RESULTS)
    assert (RESULTS.runs["schema_version"] == SCHEMA_VERSION).all()
    assert RESULTS.runs["deployment"].map(lambda d: isinstance(d, dict) and d.get("kind") == "self-hosted").all()
    for run in RESULTS.runs.itertuples():
        assert run.run_dir.endswith(run.run_id)  # the directory is the run


@pytest.mark.parametrize("run_id", sorted(RUNS.index))
def test_no_reference_run_is_failed_degraded_or_errored(run_id):
    run = RUNS.loc[run_id]
    assert run["status"] in EVIDENCE_STATUSES and run["provenance"] == "measured"
    if run["kind"] == "quality":
        items = RESULTS.items[RESULTS.items["run_id"] == run_id]
        errored = items["error"].map(lambda e: isinstance(e, str) and bool(e)).sum()
        assert len(items) and errored / len(items) <= MAX_ERROR_RATE
    elif run["kind"] == "finetune":  # its record: the loss of every step and the typed summary
        summary = FinetuneSummary(**run["summary"])
        loss = RESULTS.samples[(RESULTS.samples["run_id"] == run_id) & (RESULTS.samples["metric"] == "train_loss")]
        assert summary.steps == len(loss) > 0 and summary.tokens_seen > 0 and summary.dev_curve
    else:
        req = RESULTS.requests[(RESULTS.requests["run_id"] == run_id) & (RESULTS.requests["phase"] == "measure")]
        assert len(req) and (~req["ok"].astype(bool)).sum() / len(req) <= MAX_ERROR_RATE


SUMMARY_KEYS = ("completed", "failed", "request_throughput", "output_tokens_per_s", "p50_ttft_ms", "p90_tpot_ms")


@pytest.mark.parametrize("run_id", sorted(RUNS.index[RUNS["kind"] == "load"]))
def test_a_load_run_summary_recomputes_from_its_rows(run_id):
    stored = {p["load_point"]: p for p in RUNS.loc[run_id, "summary"]["points"]}
    req = RESULTS.requests[RESULTS.requests["run_id"] == run_id]
    now = summarize(req, RUNS.loc[run_id, "params"].get("slo")).set_index("load_point")
    assert set(stored) == set(now.index)
    for point, row in now.iterrows():
        for key in SUMMARY_KEYS:
            a, b = float(stored[point][key]), float(row[key])
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9), (point, key, a, b)


@pytest.mark.parametrize("run_id", sorted(RUNS.index[RUNS["kind"] == "quality"]))
def test_a_quality_run_rescores_to_its_stored_metrics(run_id):
    stored = RUNS.loc[run_id, "summary"]["metrics"]
    now = run_metrics(run_id, RESULTS).set_index("metric")
    assert set(stored) == set(now.index)
    for metric, s in stored.items():
        assert s["value"] == pytest.approx(now.loc[metric, "value"], abs=1e-12), metric
        assert s["n"] == now.loc[metric, "n"] + now.loc[metric, "n_errors"] == now.loc[metric, "n"]
