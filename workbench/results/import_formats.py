"""Readers of other tools' result files: each turns one file into load points (or quality
evidence) in the workbench's own names and units. Field names and units per tool:
docs/metrics.md ("Importing other tools' results"); the sources are the tools' own code.

Every reader returns an :class:`Imported`. A load point carries the file's own aggregates,
renamed and converted to ours (``aggregates``), and the file's per-request records as REQUESTS
rows (``rows``) when the file has them. Names that mean something else in another tool are
mapped by meaning, not by name: guidellm's and aiperf's "ITL" is our (vLLM's) TPOT; aiperf's
"inter chunk latency" is our ITL.

Plain ``json`` is used, not the tools' own models: the tools live in environments of their own
(their dependencies clash with ours), and a reader must say which field is missing rather than
fail inside another project's validator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import WorkbenchError

STAT_KEYS = {"mean": "mean", "avg": "mean", "median": "p50", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}
"""Other tools' statistic names → ours (mean, p50, p90, p95, p99; others are kept as they are)."""


class ImportFormatError(WorkbenchError, ValueError):
    """A file that is not one of the known formats, or is one but truncated or of another version."""


@dataclass
class Point:
    """One load point of an imported file."""

    label: str
    """``concurrency=N`` or ``rate=R`` (as our sweeps label them)."""
    concurrency: int | None
    request_rate: float | None
    aggregates: dict
    """The file's own aggregates in our names and units (``metrics.point_metrics`` columns)."""
    rows: list[dict] | None = None
    """REQUESTS rows (without run_id), or None when the file has only aggregates."""
    native: dict = field(default_factory=dict)
    """Figures of the tool that have no counterpart of ours, under the tool's own names."""


@dataclass
class Imported:
    """What one file holds."""

    tool: str
    tool_version: str
    format: str
    model: str
    started_at: str | None
    points: list[Point] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    """Quality results (lm-eval): one dict per task and metric."""
    params: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- helpers
def need(doc: dict, keys, what: str) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise ImportFormatError(f"{what}: missing {', '.join(missing)} (truncated, or another version)")


def to_ms(value, unit: str) -> float | None:
    """A time in ``unit`` (ms, s/sec, us, ns) in ms."""
    if value is None:
        return None
    scale = {"ms": 1.0, "s": 1e3, "sec": 1e3, "seconds": 1e3, "us": 1e-3, "ns": 1e-6}.get(unit)
    if scale is None:
        raise ImportFormatError(f"unknown time unit {unit!r}")
    return float(value) * scale


def label_of(concurrency, rate) -> tuple[str, int | None, float | None]:
    if concurrency:
        return f"concurrency={int(concurrency)}", int(concurrency), None
    rate = float(rate) if rate not in (None, "inf") else math.inf
    return (f"rate={rate:g}" if math.isfinite(rate) else "concurrency=0"), None, rate


def stats_into(out: dict, ours: str, stats: dict, scale: float = 1.0) -> None:
    """``stats`` ({mean|avg|median|pNN: value}) into ``out`` as ``{stat}_{ours}_ms`` (× scale)."""
    for k, v in stats.items():
        s = STAT_KEYS.get(k)
        if s is not None and isinstance(v, (int, float)):
            out[f"{s}_{ours}_ms"] = float(v) * scale


def row(i, where: tuple, times: tuple, *, ttft_ms, e2el_ms, tokens: tuple, chunk_times_s=(), error="") -> dict:
    """A REQUESTS row of an imported request. ``where``: (load point label, concurrency, rate);
    ``times``: (sent_s, scheduled_s or None); ``tokens``: (prompt, output) as the tool counted them."""
    (label, concurrency, rate), (sent_s, scheduled_s), (prompt_tokens, output_tokens) = where, times, tokens
    ok = not error
    return {
        "request_id": i, "phase": "measure", "load_point": label, "concurrency": concurrency or 0,
        "request_rate": rate if rate is not None else math.inf, "endpoint": "chat", "item_id": None,
        "scheduled_s": sent_s if scheduled_s is None else scheduled_s, "sent_s": sent_s,
        "chunk_times_s": list(chunk_times_s), "ttft_ms": ttft_ms if ok else None,
        "e2el_ms": e2el_ms if ok else None, "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens if ok else None, "token_source": "imported" if ok else "none",
        "max_tokens": None, "forced_length": False, "http_status": None, "error": str(error or ""),
        "ok": ok, "attempt": 0,
    }


def cumulative(first_s: float, gaps_s) -> list[float]:
    """Chunk arrival times from send: the first chunk, then each gap added."""
    out = [first_s]
    for g in gaps_s or ():
        out.append(out[-1] + g)
    return out


def iso(ts) -> str | None:
    """A timestamp (epoch seconds, or an ISO string) as ISO 8601 UTC."""
    if ts is None:
        return None
    if isinstance(ts, (int, float)):
        return datetime.fromtimestamp(ts, timezone.utc).isoformat()
    try:
        d = datetime.fromisoformat(str(ts))
    except ValueError:
        try:
            d = datetime.strptime(str(ts), "%Y%m%d-%H%M%S")
        except ValueError:
            return None
    return (d if d.tzinfo else d.replace(tzinfo=timezone.utc)).isoformat()


# ----------------------------------------------------------------------------- vLLM bench serve
VLLM_KEYS = ("duration", "completed", "request_throughput", "output_throughput", "model_id")


def is_vllm(doc) -> bool:
    return isinstance(doc, dict) and "backend" in doc and "request_throughput" in doc and "output_throughput" in doc


def read_vllm(docs: list[dict]) -> Imported:
    """``vllm bench serve --save-result`` JSON (one run), ``--append-result`` JSON Lines or a
    ``vllm bench sweep`` summary.json (one run per line / entry): one point each. Aggregate
    times are ms; the per-request arrays (``--save-detailed``) are seconds."""
    points = [_vllm_point(d, i) for i, d in enumerate(docs)]
    first = docs[0]
    version = str(first.get("vllm_version") or first.get("version") or "(version not recorded in the file)")
    return Imported(tool="vllm bench serve", tool_version=version, format="vllm-bench-serve",
                    model=str(first["model_id"]), started_at=iso(first.get("date")), points=points,
                    params={k: first.get(k) for k in ("backend", "endpoint_type", "label", "tokenizer_id",
                                                      "num_prompts", "burstiness")})


def _vllm_point(d: dict, i: int) -> Point:
    need(d, VLLM_KEYS, f"vLLM result {i}")
    label, conc, rate = label_of(d.get("max_concurrency"), d.get("request_rate"))
    agg = {
        "completed": int(d["completed"]), "failed": int(d.get("failed") or 0),
        "duration_s": float(d["duration"]), "request_throughput": float(d["request_throughput"]),
        "output_tokens_per_s": float(d["output_throughput"]),
        "total_tokens_per_s": float(d.get("total_token_throughput", math.nan)),
        "total_output_tokens": d.get("total_output_tokens"),
    }
    if d.get("request_goodput") is not None:
        agg["goodput"] = float(d["request_goodput"])
    for m in ("ttft", "tpot", "itl", "e2el"):
        stats_into(agg, m, {k[: -len(f"_{m}_ms")]: v for k, v in d.items() if k.endswith(f"_{m}_ms")})
    agg["error_rate"] = agg["failed"] / max(1, agg["completed"] + agg["failed"])
    rows = None
    if d.get("ttfts") is not None and d.get("start_times") is not None:
        t0 = min(d["start_times"])
        queue = d.get("queue_times") or [0.0] * len(d["ttfts"])
        rows = []
        for j, (st, ttft, itl, lat) in enumerate(zip(d["start_times"], d["ttfts"], d["itls"], d["latencies"])):
            err = (d.get("errors") or [""] * len(d["ttfts"]))[j]
            rows.append(row(j, (label, conc, rate), (st - t0, st - t0 - (queue[j] or 0.0)), ttft_ms=ttft * 1e3,
                            e2el_ms=lat * 1e3, tokens=(d["input_lens"][j], d["output_lens"][j]),
                            chunk_times_s=cumulative(ttft, itl) if not err else (), error=err))
    native = {k: d[k] for k in ("max_output_tokens_per_s", "max_concurrent_requests", "total_input_tokens") if k in d}
    return Point(label, conc, rate, agg, rows, native)


# ----------------------------------------------------------------------------- guidellm
def is_guidellm(doc) -> bool:
    return isinstance(doc, dict) and "benchmarks" in doc and "guidellm_version" in (doc.get("metadata") or {})


def read_guidellm(doc: dict) -> Imported:
    """guidellm ``benchmarks.json`` (report version 2): one point per benchmark."""
    meta = doc["metadata"]
    if meta.get("version") != 2:
        raise ImportFormatError(f"guidellm report version {meta.get('version')!r}; this reader knows version 2")
    if not doc["benchmarks"]:
        raise ImportFormatError("guidellm report with no benchmarks")
    points = [_guidellm_point(b, i) for i, b in enumerate(doc["benchmarks"])]
    backend = doc["benchmarks"][0].get("config", {}).get("backend", {})
    return Imported(tool="guidellm", tool_version=str(meta["guidellm_version"]), format="guidellm-benchmarks-v2",
                    model=str(backend.get("model") or "unknown"), started_at=iso(doc["benchmarks"][0].get("start_time")),
                    points=points, params={"target_url": backend.get("target"), "request_format": backend.get("request_format")})


def _ok(dist: dict, what: str) -> dict:
    part = (dist or {}).get("successful")
    if not isinstance(part, dict):
        raise ImportFormatError(f"guidellm {what}: no 'successful' distribution")
    return part


def _guidellm_point(b: dict, i: int) -> Point:
    need(b, ("config", "metrics", "duration"), f"guidellm benchmark {i}")
    m = b["metrics"]
    need(m, ("request_totals", "requests_per_second", "time_to_first_token_ms", "inter_token_latency_ms",
             "request_latency", "output_tokens_per_second"), f"guidellm benchmark {i} metrics")
    strat = b["config"].get("strategy", {})
    kind = strat.get("type_")
    conc = strat.get("streams") if kind == "concurrent" else (1 if kind == "synchronous" else None)
    label, conc, rate = label_of(conc, strat.get("rate") if kind in ("constant", "poisson", "async") else None)
    totals = m["request_totals"]
    agg = {"completed": int(totals["successful"]), "failed": int(totals["errored"]),
           "duration_s": float(b["duration"]),
           "request_throughput": _ok(m["requests_per_second"], "requests_per_second")["mean"],
           "output_tokens_per_s": _ok(m["output_tokens_per_second"], "output_tokens_per_second")["mean"],
           "total_tokens_per_s": _ok(m.get("tokens_per_second"), "tokens_per_second")["mean"],
           "total_output_tokens": _ok(m.get("output_token_count"), "output_token_count").get("total_sum")}
    agg["error_rate"] = agg["failed"] / max(1, agg["completed"] + agg["failed"])
    for ours, theirs, scale in (("ttft", "time_to_first_token_ms", 1.0), ("tpot", "inter_token_latency_ms", 1.0),
                                ("e2el", "request_latency", 1e3)):
        d = _ok(m[theirs], theirs)
        stats_into(agg, ours, {"mean": d["mean"], **d.get("percentiles", {})}, scale)
    native = {"guidellm_time_per_output_token_ms_p50": _ok(m.get("time_per_output_token_ms"), "tpot")
              .get("percentiles", {}).get("p50"), "incomplete": int(totals.get("incomplete") or 0)}
    reqs = b.get("requests") or {}
    rows = None
    if reqs.get("successful") is not None:
        recs = [(r, "") for r in reqs["successful"]] + [(r, r.get("info", {}).get("error") or "error")
                                                          for r in reqs.get("errored") or []]
        t0 = b.get("start_time") or min(r["request_start_time"] for r, _ in recs)
        rows = [_guidellm_row(j, r, err, t0, label, conc, rate) for j, (r, err) in enumerate(recs)]
    return Point(label, conc, rate, agg, rows, native)


def _guidellm_row(j, r, err, t0, label, conc, rate) -> dict:
    timings = (r.get("info") or {}).get("timings") or {}
    start = r.get("request_start_time") or timings.get("request_start")
    last = timings.get("last_token_iteration")
    # our E2EL ends at the last content chunk (guidellm's request_latency ends at the response's end)
    e2el = (last - start) * 1e3 if last and start else (r.get("request_latency") or 0) * 1e3
    return row(j, (label, conc, rate), (start - t0, (timings.get("targeted_start") or start) - t0),
               ttft_ms=r.get("time_to_first_token_ms"), e2el_ms=e2el,
               tokens=(r.get("prompt_tokens"), r.get("output_tokens")), error=err)


# ----------------------------------------------------------------------------- aiperf
AIPERF_SCHEMAS = ("1.4",)


def is_aiperf(doc) -> bool:
    return isinstance(doc, dict) and "aiperf_version" in doc or (
        isinstance(doc, dict) and isinstance(doc.get("time_to_first_token"), dict) and "input_config" in doc)


def read_aiperf(doc: dict, jsonl: list[dict] | None) -> Imported:
    """aiperf ``profile_export_aiperf.json`` (schema 1.4), with the per-request
    ``profile_export.jsonl`` beside it when present. Every metric carries its unit."""
    if str(doc.get("schema_version")) not in AIPERF_SCHEMAS:
        raise ImportFormatError(f"aiperf schema_version {doc.get('schema_version')!r}; this reader knows "
                                f"{', '.join(AIPERF_SCHEMAS)}")
    need(doc, ("request_count", "request_throughput", "time_to_first_token", "benchmark_duration",
               "output_token_throughput"), "aiperf summary")
    cfg = doc.get("input_config") or {}
    phase = next((p for p in cfg.get("phases", []) if p.get("kind") == "profiling"), {})
    label, conc, rate = label_of(phase.get("concurrency"), phase.get("request_rate"))
    agg = {"completed": int(doc["request_count"]["avg"]),
           "failed": int((doc.get("error_request_count") or {}).get("avg") or 0),
           "duration_s": to_ms(doc["benchmark_duration"]["avg"], doc["benchmark_duration"]["unit"]) / 1e3,
           "request_throughput": doc["request_throughput"]["avg"],
           "output_tokens_per_s": doc["output_token_throughput"]["avg"],
           "total_tokens_per_s": (doc.get("total_token_throughput") or {}).get("avg", math.nan),
           "total_output_tokens": (doc.get("total_output_tokens") or {}).get("avg")}
    agg["error_rate"] = agg["failed"] / max(1, agg["completed"] + agg["failed"])
    for ours, theirs in (("ttft", "time_to_first_token"), ("tpot", "inter_token_latency"),
                         ("itl", "inter_chunk_latency"), ("e2el", "request_latency")):
        if theirs in doc:
            scale = to_ms(1.0, doc[theirs]["unit"])
            stats_into(agg, ours, doc[theirs], scale)
    rows = [_aiperf_row(j, r, jsonl, label, conc, rate) for j, r in enumerate(jsonl)] if jsonl else None
    models = [m.get("name") for m in (cfg.get("models") or {}).get("items", [])]
    return Imported(tool="aiperf", tool_version=str(doc.get("aiperf_version") or "unknown"),
                    format=f"aiperf-profile-export-{doc.get('schema_version')}", model=models[0] if models else "unknown",
                    started_at=iso(doc.get("start_time")), points=[Point(label, conc, rate, agg, rows)],
                    params={"endpoint": cfg.get("endpoint"), "cli_command": (doc.get("run_info") or {}).get("cli_command")})


def _aiperf_row(j, r, all_rows, label, conc, rate) -> dict:
    md, m = r.get("metadata") or {}, r.get("metrics") or {}
    t0 = min(x["metadata"]["request_start_ns"] for x in all_rows)
    val = lambda k: (m.get(k) or {}).get("value")  # noqa: E731
    ttft = to_ms(val("time_to_first_token"), (m.get("time_to_first_token") or {}).get("unit", "ms"))
    icl = [to_ms(g, m["inter_chunk_latency"]["unit"]) / 1e3 for g in (val("inter_chunk_latency") or [])]
    err = r.get("error")
    return row(j, (label, conc, rate), ((md["request_start_ns"] - t0) / 1e9,
                                        ((md.get("credit_issued_ns") or md["request_start_ns"]) - t0) / 1e9),
               ttft_ms=ttft, e2el_ms=to_ms(val("request_latency"), (m.get("request_latency") or {}).get("unit", "ms")),
               tokens=(val("usage_prompt_tokens") or val("input_sequence_length"), val("output_sequence_length")),
               chunk_times_s=cumulative(ttft / 1e3, icl) if ttft is not None else (),
               error=(err.get("message") or "error") if isinstance(err, dict) else (err or ""))
