"""``workbench export``: stored runs out, for the tools around us.

- ``--format benchmark-report``: llm-d's Benchmark Report v0.2 (schema
  ``tests/data/llm_d/br_v0_2_json_schema.json``, from llm-d/llm-d-benchmark), one JSON file per
  run and load point (a multi-rate run gives one report per rate, as llm-d-benchmark expects);
  the tests validate every report against that schema.
- ``--format csv|parquet``: one row per run and load point (``metrics.summarize`` columns plus
  the run's target, model, provenance and deployment), for spreadsheets and DuckDB. Parquet is
  written by pandas through pyarrow, imported only when asked for.

Only what was measured goes out: a statistic that is missing (NaN) is left out of the report,
never written as zero.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from ..errors import WorkbenchError
from . import store
from .importers import imported_label, load_points

BR_VERSION = "0.2"
FORMATS = ("benchmark-report", "csv", "parquet")
_LATENCY = (("time_to_first_token", "ttft"), ("time_per_output_token", "tpot"),
            ("inter_token_latency", "itl"), ("request_latency", "e2el"))


class ExportError(WorkbenchError, ValueError):
    pass


def _num(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _stats(point, name: str, units: str) -> dict | None:
    """A BR ``Statistics`` from our ``{mean,p50,p90,p95,p99}_{name}_ms`` columns (None without a mean)."""
    mean = _num(point.get(f"mean_{name}_ms"))
    if mean is None:
        return None
    out = {"units": units, "mean": mean}
    for p in ("p50", "p90", "p95", "p99"):
        v = _num(point.get(f"{p}_{name}_ms"))
        if v is not None:
            out[p] = v
    return out


def _rate(value, units: str) -> dict | None:
    v = _num(value)
    return None if v is None else {"units": units, "mean": v}


def _stack(run) -> list[dict]:
    dep = run.get("deployment") if isinstance(run.get("deployment"), dict) else {}
    count = int(dep.get("count") or _num(run.get("hardware_count")) or 1)
    cfg = json.dumps(dep, sort_keys=True, default=str)
    return [{
        "metadata": {"label": str(run.get("target")), "cfg_id": hashlib.sha256(cfg.encode()).hexdigest()[:16]},
        "standardized": {"kind": "inference_engine", "tool": str(dep.get("engine") or run.get("engine")),
                         "tool_version": str(run.get("engine_version") or "unknown"), "role": "replica",
                         "replicas": 1, "model": {"name": str(run.get("model"))},
                         "accelerator": {"model": str(dep.get("accelerator") or run.get("hardware")), "count": count,
                                         "parallelism": {"tp": count}}},
        "native": {"config": dep or None},
    }]


def _load(run, point) -> dict:
    params = run.get("params") if isinstance(run.get("params"), dict) else {}
    imp = params.get("imported") or {}
    std = {"tool": imp.get("tool") or "workbench measure",
           "tool_version": imp.get("version") or str(run.get("workbench_version")),
           "source": "sampled" if str(params.get("content") or "").startswith("workload") else
           ("random" if params.get("content") == "synthetic" else "unknown"),
           "input_seq_len": {"distribution": "other", "value": _num(params.get("input_tokens")) or 0}}
    conc, rate = _num(point.get("concurrency")), _num(point.get("request_rate"))
    if conc:
        std["concurrency"] = int(conc)
    elif rate:
        std["rate_qps"] = rate
    return {"metadata": {"description": str(point.get("load_point"))}, "standardized": std,
            "native": {"args": {k: v for k, v in params.items() if k != "imported"} or None}}


def benchmark_report(run, point) -> dict:
    """The Benchmark Report v0.2 of one load point of a stored run (a dict; ``point``: one row of
    :func:`importers.load_points`)."""
    latency = {br: s for br, ours in _LATENCY if (s := _stats(point, ours, "ms")) is not None}
    throughput = {k: s for k, s in (("output_token_rate", _rate(point.get("output_tokens_per_s"), "tokens/s")),
                                    ("total_token_rate", _rate(point.get("total_tokens_per_s"), "tokens/s")),
                                    ("request_rate", _rate(point.get("request_throughput"), "queries/s"))) if s}
    done, failed = int(_num(point.get("completed")) or 0), int(_num(point.get("failed")) or 0)
    label = imported_label(run)
    when = {k: str(run.get(c)) for k, c in (("start", "started_at"), ("end", "ended_at"))
            if run.get(c) is not None and str(run.get(c)) not in ("NaT", "None")}
    return {
        "version": BR_VERSION,
        "run": {"uid": f"{run.get('run_id')}/{point.get('load_point')}", "eid": str(run.get("run_id")),
                "time": when or None, "description": str(run.get("provenance")),
                "keywords": ["workbench", "imported" if label else "measured"]},
        "scenario": {"stack": _stack(run), "load": _load(run, point)},
        "results": {"request_performance": {"aggregate": {
            "requests": {"total": done + failed, "failures": failed},
            "latency": latency or None, "throughput": throughput or None}}},
    }


def _points(results, run_ids):
    runs = results.runs.set_index("run_id", drop=False)
    for rid in run_ids:
        if rid not in runs.index:
            raise ExportError(f"no run {rid!r} in the results store")
        run = runs.loc[rid].to_dict()
        pts = load_points(run, results.requests_of(rid))
        if not len(pts):
            raise ExportError(f"run {rid} has no load points to export (kind {run.get('kind')!r})")
        for _, p in pts.iterrows():
            yield run, p.to_dict()


def export(run_ids, fmt: str, output: str | Path, *, root=None) -> list[Path]:
    """Write ``run_ids`` (from the store under ``root``, default: reference + local results)
    as ``fmt`` to ``output`` (a folder for benchmark reports, a file for csv/parquet)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; formats are {', '.join(FORMATS)}")
    results = store.load(root)
    output = Path(output)
    pairs = list(_points(results, run_ids))
    if fmt == "benchmark-report":
        output.mkdir(parents=True, exist_ok=True)
        paths = []
        for run, p in pairs:
            path = output / f"{run['run_id']}--{str(p.get('load_point')).replace('=', '-')}.json"
            path.write_text(json.dumps(benchmark_report(run, p), indent=1), encoding="utf-8")
            paths.append(path)
        return paths
    return [_table(pairs, fmt, output)]


def _table(pairs, fmt: str, output: Path) -> Path:
    import pandas as pd

    rows = [{"run_id": run["run_id"], "target": run.get("target"), "model": run.get("model"),
             "provenance": run.get("provenance"), "instance": (run.get("deployment") or {}).get("instance")
             if isinstance(run.get("deployment"), dict) else None,
             **{k: v for k, v in p.items() if k != "run_id"}} for run, p in pairs]
    df = pd.DataFrame(rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        df.to_csv(output, index=False)
    else:
        df.to_parquet(output, index=False)  # pyarrow, loaded here only
    return output


def add_cli_arguments(p) -> None:
    p.add_argument("runs", nargs="+", help="run ids")
    p.add_argument("--format", choices=FORMATS, default="benchmark-report")
    p.add_argument("--output", default=None, help="folder (benchmark-report) or file (csv, parquet); "
                   "default: exports/ or exports/runs.<csv|parquet>")
    p.add_argument("--results-root", default=None, help="results store (default: data/results and results/)")


def cli(args) -> int:
    out = args.output or ("exports" if args.format == "benchmark-report" else f"exports/runs.{args.format}")
    for path in export(args.runs, args.format, out, root=args.results_root):
        print(path)
    return 0
