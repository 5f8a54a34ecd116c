"""`workbench export`: Benchmark Reports that validate against llm-d's published JSON Schema
(tests/data/llm_d/, see its README), and CSV / Parquet tables that read back the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from workbench.cli import main
from workbench.paths import reference_results_dir
from workbench.results import exporters, importers, store

DATA = Path(__file__).resolve().parents[1] / "data"
SCHEMA = json.loads((DATA / "llm_d" / "br_v0_2_json_schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
FILES = [next((DATA / "vllm_bench").glob("*.json")), DATA / "guidellm" / "benchmarks.json",
         DATA / "aiperf" / "profile_export_aiperf.json", next((DATA / "llmperf").glob("*_summary.json"))]


@pytest.fixture
def store_root(tmp_path):
    """Every imported fixture plus one of our own reference load sweeps."""
    root = tmp_path / "store"
    importers.import_files(FILES, root=root, target="local-vllm")
    native = sorted(d for d in reference_results_dir().iterdir() if "-load-local-vllm-" in d.name)[-1]
    (root / native.name).symlink_to(native)
    return root


def test_every_exported_report_validates_against_the_published_schema(store_root, tmp_path):
    res = store.load(store_root)
    paths = exporters.export(list(res.runs.run_id), "benchmark-report", tmp_path / "br", root=store_root)
    n_points = sum(len(importers.load_points(r, res.requests[res.requests.run_id == r["run_id"]]))
                   for r in res.runs.to_dict("records"))
    assert len(paths) == n_points > len(FILES)  # our sweep gives one report per load point
    for p in paths:
        VALIDATOR.validate(json.loads(p.read_text()))


def test_report_numbers_are_the_runs_numbers(store_root, tmp_path):
    res = store.load(store_root)
    rid = res.runs[res.runs.target == "local-vllm:vllm-bench"].run_id.iloc[0]
    (path,) = exporters.export([rid], "benchmark-report", tmp_path / "br", root=store_root)
    br = json.loads(path.read_text())
    f = json.loads(FILES[0].read_text())
    agg = br["results"]["request_performance"]["aggregate"]
    assert agg["requests"] == {"total": f["completed"] + f["failed"], "failures": f["failed"]}
    assert agg["latency"]["time_to_first_token"]["units"] == "ms"
    assert agg["latency"]["time_to_first_token"]["p99"] == pytest.approx(f["p99_ttft_ms"], rel=1e-9)
    assert agg["latency"]["time_per_output_token"]["p50"] == pytest.approx(f["median_tpot_ms"], rel=1e-9)
    assert agg["throughput"]["output_token_rate"]["units"] == "tokens/s"
    assert br["scenario"]["load"]["standardized"]["concurrency"] == 4
    assert br["run"]["description"].startswith("measured (imported: vllm bench serve")
    assert br["scenario"]["stack"][0]["standardized"]["accelerator"]["model"] == "CPU"


def test_the_validator_refuses_a_report_that_breaks_the_schema(store_root, tmp_path):
    res = store.load(store_root)
    path = exporters.export([res.runs.run_id.iloc[0]], "benchmark-report", tmp_path / "br", root=store_root)[0]
    br = json.loads(path.read_text())
    assert VALIDATOR.is_valid(br)
    br["results"]["request_performance"]["aggregate"]["latency"]["time_to_first_token"]["units"] = "minutes"
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(br)
    del br["run"]
    assert not VALIDATOR.is_valid(br)


@pytest.mark.parametrize("fmt, read", [("csv", pd.read_csv), ("parquet", pd.read_parquet)])
def test_csv_and_parquet_read_back_the_same_numbers(store_root, tmp_path, fmt, read):
    res = store.load(store_root)
    ids = list(res.runs.run_id)
    (path,) = exporters.export(ids, fmt, tmp_path / f"runs.{fmt}", root=store_root)
    df = read(path)
    assert set(df.run_id) == set(ids)
    llmperf = df[df.target == "local-vllm:llmperf"].iloc[0]
    f = json.loads(FILES[3].read_text())
    assert llmperf.p50_ttft_ms == pytest.approx(f["results_ttft_s_quantiles_p50"] * 1e3, rel=1e-12)
    assert llmperf.instance == "local-cpu"


def test_cli_exports_and_names_a_missing_run(store_root, tmp_path, capsys):
    rid = store.load(store_root).runs.run_id.iloc[0]
    assert main(["export", rid, "--format", "csv", "--output", str(tmp_path / "x.csv"),
                 "--results-root", str(store_root)]) == 0
    assert main(["export", "no-such-run", "--results-root", str(store_root)]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
