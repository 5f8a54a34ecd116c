"""Readers of inference-perf, llmperf and lm-eval result files (the rest of
:mod:`workbench.results.import_formats`, same contract)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from .import_formats import Imported, ImportFormatError, Point, iso, label_of, need, stats_into

LLMPERF_VERSION = "2023-08-31"
"""The one ``version`` llmperf's summary files carry (llmperf ``token_benchmark_ray.py``)."""


def dispatch(path: Path, doc) -> Imported | None:
    """The reader for ``doc``, or None when no reader here knows it."""
    if isinstance(doc, dict) and "results_ttft_s_mean" in doc or (isinstance(doc, dict) and "results_num_completed_requests" in doc):
        return read_llmperf(doc)
    if isinstance(doc, dict) and isinstance(doc.get("results"), dict) and "n-shot" in doc:
        return read_lm_eval(doc, path)
    if isinstance(doc, dict) and isinstance(doc.get("successes"), dict) and "failures" in doc:
        return read_inference_perf(doc, path)
    return None


# ----------------------------------------------------------------------------- llmperf
def read_llmperf(doc: dict) -> Imported:
    """llmperf ``*_summary.json`` (flat; times in seconds). Its ``inter_token_latency_s`` is
    Σ gaps including TTFT / N ≈ E2EL / N, not our TPOT: kept under its own name."""
    if doc.get("version") != LLMPERF_VERSION:
        raise ImportFormatError(f"llmperf summary version {doc.get('version')!r}; this reader knows {LLMPERF_VERSION}")
    need(doc, ("model", "num_concurrent_requests", "results_num_completed_requests",
               "results_num_completed_requests_per_min", "results_mean_output_throughput_token_per_s",
               "results_ttft_s_mean", "results_end_to_end_latency_s_mean"), "llmperf summary")
    label, conc, rate = label_of(doc["num_concurrent_requests"], None)
    done = int(doc["results_num_completed_requests"])
    rps = float(doc["results_num_completed_requests_per_min"]) / 60.0
    agg = {"completed": done, "failed": int(doc.get("results_number_errors") or 0),
           "duration_s": done / rps if rps else math.nan, "request_throughput": rps,
           "output_tokens_per_s": float(doc["results_mean_output_throughput_token_per_s"]),
           "total_output_tokens": doc.get("results_number_output_tokens_mean", math.nan) * done}
    agg["error_rate"] = float(doc.get("results_error_rate") or 0.0)
    for ours, theirs in (("ttft", "ttft_s"), ("e2el", "end_to_end_latency_s")):
        stats_into(agg, ours, _llmperf_stats(doc, theirs), 1e3)
    native = {f"llmperf_inter_token_latency_s_{k}": v for k, v in _llmperf_stats(doc, "inter_token_latency_s").items()}
    return Imported(tool="llmperf", tool_version=str(doc["version"]), format="llmperf-summary",
                    model=str(doc["model"]), started_at=iso(doc.get("timestamp")),
                    points=[Point(label, conc, rate, agg, None, native)],
                    params={"mean_input_tokens": doc.get("mean_input_tokens"),
                            "mean_output_tokens": doc.get("mean_output_tokens")})


def _llmperf_stats(doc: dict, name: str) -> dict:
    pre = f"results_{name}_"
    out = {"mean": doc.get(pre + "mean")}
    out.update({k[len(pre + "quantiles_"):]: v for k, v in doc.items() if k.startswith(pre + "quantiles_")})
    return {k: v for k, v in out.items() if v is not None}


# ----------------------------------------------------------------------------- inference-perf
def read_inference_perf(doc: dict, path: Path) -> Imported:
    """inference-perf ``summary_lifecycle_metrics.json`` or ``stage_N_lifecycle_metrics.json``
    (latencies in **seconds** in these files). A summary with its ``stage_N`` files beside it
    gives one point per stage; the model comes from the ``config.yaml`` beside it, when there."""
    stages = sorted(path.parent.glob("stage_*_lifecycle_metrics.json")) if path.name.startswith("summary") else []
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in stages] or [doc]
    cfg = path.with_name("config.yaml")
    server = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("server") or {} if cfg.is_file() else {}
    return Imported(tool="inference-perf", tool_version="(version not recorded in the file)",
                    format="inference-perf-lifecycle-report", model=str(server.get("model_name") or "unknown"),
                    started_at=None, points=[_inference_perf_point(d, i) for i, d in enumerate(docs)],
                    params={"report": path.name, "stages": [p.name for p in stages] or None})


def _inference_perf_point(doc: dict, i: int) -> Point:
    ok = doc.get("successes")
    if not isinstance(ok, dict):
        raise ImportFormatError(f"inference-perf stage {i}: no 'successes' section")
    need(ok, ("count", "latency", "throughput"), f"inference-perf stage {i} successes")
    lat, thr, load = ok["latency"], ok["throughput"], doc.get("load_summary") or {}
    label, conc, rate = label_of(load.get("concurrency"), None if load.get("concurrency") else load.get("requested_rate"))
    done, rps = int(ok["count"]), thr.get("requests_per_sec")
    agg = {"completed": done, "failed": int((doc.get("failures") or {}).get("count") or 0),
           "duration_s": done / rps if rps else math.nan, "request_throughput": rps,
           "output_tokens_per_s": thr.get("output_tokens_per_sec"),
           "total_tokens_per_s": thr.get("total_tokens_per_sec", math.nan)}
    agg["error_rate"] = agg["failed"] / max(1, done + agg["failed"])
    for ours, theirs in (("ttft", "time_to_first_token"), ("tpot", "time_per_output_token"),
                         ("itl", "inter_token_latency"), ("e2el", "request_latency")):
        if isinstance(lat.get(theirs), dict):
            stats_into(agg, ours, lat[theirs], 1e3)  # seconds → ms
    native = {"normalized_time_per_output_token_s": lat.get("normalized_time_per_output_token"),
              "achieved_rate": load.get("achieved_rate"), "requested_rate": load.get("requested_rate")}
    return Point(label, conc, rate, agg, None, native)


# ----------------------------------------------------------------------------- lm-eval
def read_lm_eval(doc: dict, path: Path) -> Imported:
    """lm-eval ``results_*.json``: one evidence record per task and metric, labelled "measured
    by lm-eval" and ``evidence: related-task`` (the decision calls it ``workload`` evidence
    only for a workload of the same name as the task)."""
    cfg = doc.get("config") or {}
    version = str(doc.get("lm_eval_version") or cfg.get("lm_eval_version") or "unknown")
    model = str(doc.get("model_name") or cfg.get("model_args") or cfg.get("model") or "unknown")
    evidence = []
    for task, metrics in doc["results"].items():
        if not isinstance(metrics, dict):
            raise ImportFormatError(f"lm-eval results[{task!r}] is not a mapping")
        n = (doc.get("n-samples") or {}).get(task) or {}
        for key, value in metrics.items():
            name, comma, filt = key.partition(",")  # metrics are "<metric>,<filter>"
            if not comma or name.endswith("_stderr") or not isinstance(value, (int, float)):
                continue
            stderr = metrics.get(f"{name}_stderr,{filt}")
            evidence.append({
                "tool": "lm-eval", "version": version, "task": task, "n_shot": (doc.get("n-shot") or {}).get(task),
                "metric": name, "filter": filt or None, "value": float(value),
                "stderr": float(stderr) if isinstance(stderr, (int, float)) else None,
                "n_samples": n.get("effective"), "higher_is_better": ((doc.get("higher_is_better") or {})
                                                                      .get(task) or {}).get(name),
                "evidence": "related-task", "label": f"measured by lm-eval {version}",
            })
    if not evidence:
        raise ImportFormatError("lm-eval results with no numeric metric")
    return Imported(tool="lm-eval", tool_version=version, format="lm-eval-results", model=model,
                    started_at=iso(doc.get("date")), evidence=evidence,
                    params={"lm_eval_model": cfg.get("model"), "limit": cfg.get("limit")})
