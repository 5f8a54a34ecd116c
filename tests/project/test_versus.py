"""Projections against published points: cells, batches, metric conversions, errors worked by
hand, reasons instead of failures, and the error label of an option."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from workbench.project import versus
from workbench.project.roofline import Efficiency, max_sequences, serving_point


def _row(**kw):
    row = dict(id="p1", model="Llama-3-8B", gpu="H100-SXM", gpu_count=1, tp=1, engine="vllm",
               engine_version="0.x", quantization="bf16", kv_dtype="bf16", input_tokens=128, output_tokens=128,
               concurrency=8, mode="static-batch", metric="output_tokens_per_s", value=1000.0)
    row.update(kw)
    return row


def test_a_2026_model_gets_its_own_catalog_row():
    cell, note = versus.roofline_cell(_row(model="Llama-3.1-8B"))
    assert cell.arch.name == "Llama-3.1-8B" and note == ""
    assert cell.batched_prefill  # a static batch: the prompts arrive together


def test_a_point_neither_catalog_knows_gets_a_reason_not_an_error():
    assert versus.roofline_cell(_row(model="Grok-9-1T")) == (None, "Grok-9-1T: not in catalog")
    assert versus.roofline_cell(_row(gpu="TPU-v9")) == (None, "TPU-v9: not in catalog")
    cell, why = versus.roofline_cell(_row(quantization="int3-magic"))
    assert cell is None and why.startswith("roofline: unknown quantization")


def test_offline_batch_is_what_fits_and_closed_loop_prefills_one_by_one():
    row = _row(mode="offline", concurrency=None, input_tokens=1000, output_tokens=1000)
    cell, _ = versus.roofline_cell(row)
    assert versus.batch_for(row, cell) == min(2048, max_sequences(cell, 2000))
    assert versus.batch_for(_row(concurrency=25), cell) == 25
    assert not versus.roofline_cell(_row(mode="closed-loop"))[0].batched_prefill


def test_metric_conversions():
    point = {"output_tokens_per_s": 800.0, "ttft_ms": 5.0}
    assert versus.metric_of(point, _row(metric="output_tokens_per_s_per_gpu", gpu_count=2)) == 400.0
    assert versus.metric_of(point, _row(metric="ttft_ms")) == 5.0
    # a static batch of 8 × 128 tokens in 0.5 s is 2048 tok/s
    fit = versus.as_fit_point(_row(metric="e2el_ms", value=500.0), 8)
    assert fit["output_tokens_per_s"] == pytest.approx(2048) and fit["concurrency"] == 8
    assert versus.as_fit_point(_row(metric="output_tokens_per_s_per_gpu", gpu_count=4, value=100.0), 8)[
        "output_tokens_per_s"] == 400.0


def test_compare_reports_the_uncalibrated_error_worked_by_hand():
    rows = [_row(id="a", value=1000.0), _row(id="b", concurrency=32, value=3000.0),
            _row(id="c", model="Grok-9-1T")]
    table = versus.compare(pd.DataFrame(rows), use_aic=False).set_index("id")
    cell, _ = versus.roofline_cell(rows[0])
    proj = serving_point(replace(cell, eff=Efficiency()), 128, 128, 8)["output_tokens_per_s"]
    assert table.loc["a", "roofline"] == pytest.approx(proj)
    assert table.loc["a", "roofline_error_pct"] == pytest.approx(100 * (proj - 1000) / 1000)
    assert not math.isnan(table.loc["a", "roofline_loo_error_pct"])  # fitted on b (c has no cell)
    assert math.isnan(table.loc["c", "roofline_error_pct"]) and table.loc["c", "roofline_note"].endswith(
        "not in catalog")
    s = versus.summarize(table.reset_index()).set_index("projector")
    assert s.loc["roofline", "points"] == 2 and s.loc["roofline", "of"] == 3
    assert s.loc["roofline", "worst_error_pct"] == pytest.approx(table.roofline_error_pct.abs().max())


def test_error_label_prefers_the_engine_on_that_gpu(tmp_path):
    f = tmp_path / "e.csv"
    pd.DataFrame([
        {"projector": "roofline", "engine": "vllm", "gpu": "H200", "points": 3, "of": 3,
         "median_error_pct": 25.4, "worst_error_pct": 30.6},
        {"projector": "roofline", "engine": "vllm", "gpu": "*", "points": 5, "of": 5,
         "median_error_pct": 20.0, "worst_error_pct": 40.0}]).to_csv(f, index=False)
    assert versus.error_label("roofline", "vllm", "H200", f) == (
        "median error 25% (worst 31%) on 3 published points of vllm on H200")
    assert versus.error_label("roofline", "vllm", "L4", f) == (
        "median error 20% (worst 40%) on 5 published points of vllm on other GPUs")
    assert "error unknown" in versus.error_label("roofline", "sglang", "L4", f)
    assert "not run" in versus.error_label("roofline", "vllm", "L4", tmp_path / "none.csv")
