"""Latency and throughput metrics: pure functions, vLLM ``bench serve`` definitions.

Per request (times from send, one entry per content chunk in ``chunk_times_s``):

* TTFT  = t_first_chunk − t_send                                  (ms)
* E2EL  = t_last_chunk − t_send                                   (ms)
* TPOT  = (E2EL − TTFT) / (N − 1), N = output tokens, only when N > 1  (ms/token)
* ITL   = t_i − t_{i−1} for consecutive content chunks            (ms; per chunk, not per token)

Per load point (measure phase only; window = first send → last content chunk, in s):

* request_throughput  = completed / window                      (requests/s)
* output_tokens_per_s = Σ N / window                            (tokens/s)
* total_tokens_per_s  = (Σ prompt tokens + Σ N) / window        (tokens/s; NaN when prompt tokens are unknown)
* goodput             = #completed meeting every SLO / window   (requests/s)
* error_rate          = failed / (completed + failed)
* p99_send_lag_ms     = p99 of (sent − scheduled): waiting for the cap, or a late client (ms)

Statistics: mean and numpy's linear-interpolation percentiles p50/p90/p95/p99. TTFT, TPOT
and E2EL are request-weighted; ITL pools every chunk gap of every request (chunk-weighted),
exactly as vLLM does. Names of the same quantities in guidellm and aiperf: docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

STATS = ("mean", "p50", "p90", "p95", "p99")
LATENCIES = ("ttft", "tpot", "itl", "e2el")
SLO_KEYS = ("ttft_ms", "tpot_ms", "e2el_ms")


# ------------------------------------------------------------------ per request
def ttft_ms(chunk_times_s: Sequence[float]) -> float | None:
    """Send → first content chunk, ms. None when no content arrived."""
    return chunk_times_s[0] * 1e3 if len(chunk_times_s) else None


def e2el_ms(chunk_times_s: Sequence[float]) -> float | None:
    """Send → last content chunk, ms. None when no content arrived."""
    return chunk_times_s[-1] * 1e3 if len(chunk_times_s) else None


def tpot_ms(ttft: float | None, e2el: float | None, output_tokens: int | None) -> float | None:
    """(E2EL − TTFT) / (N − 1), ms per token; None when N ≤ 1 or a time is missing."""
    ttft, e2el, output_tokens = _val(ttft), _val(e2el), _val(output_tokens)
    if ttft is None or e2el is None or output_tokens is None or output_tokens <= 1:
        return None
    return (e2el - ttft) / (output_tokens - 1)


def itl_ms(chunk_times_s: Sequence[float]) -> list[float]:
    """Gaps between consecutive content chunks, ms (one fewer than chunks)."""
    return [(b - a) * 1e3 for a, b in zip(chunk_times_s, chunk_times_s[1:])]


def meets_slo(ttft: float | None, tpot: float | None, e2el: float | None, slo: dict | None) -> bool:
    """True when every SLO given (``ttft_ms``, ``tpot_ms``, ``e2el_ms``; absent = not checked) is met.

    As in vLLM, a request with N ≤ 1 (no TPOT) counts TPOT as 0; a missing TTFT or E2EL fails."""
    if not slo:
        return True
    values = {"ttft_ms": ttft, "tpot_ms": 0.0 if tpot is None or _nan(tpot) else tpot, "e2el_ms": e2el}
    for key in SLO_KEYS:
        limit = slo.get(key)
        if limit is None:
            continue
        v = values[key]
        if v is None or _nan(v) or v > limit:
            return False
    return True


def joules_per_output_token(energy_j: float, output_tokens: int) -> float | None:
    """Energy over the window divided by output tokens in it, J/token."""
    return energy_j / output_tokens if output_tokens else None


# ------------------------------------------------------------------ statistics
def stats(values: Iterable[float]) -> dict[str, float]:
    """mean, p50, p90, p95, p99 of the non-missing values (NaN for each when there are none)."""
    arr = np.asarray(values if isinstance(values, (list, np.ndarray)) else list(values), dtype=float)
    arr = arr[~np.isnan(arr)]  # None became NaN above
    if arr.size == 0:
        return {s: math.nan for s in STATS}
    p50, p90, p95, p99 = np.percentile(arr, [50, 90, 95, 99])
    return {"mean": float(arr.mean()), "p50": float(p50), "p90": float(p90), "p95": float(p95), "p99": float(p99)}


def window_s(sent_s: Sequence[float], last_chunk_s: Sequence[float]) -> float:
    """Measured window: first send → last content chunk (both on the run clock), s."""
    if not len(sent_s) or not len(last_chunk_s):
        return math.nan
    return float(max(last_chunk_s) - min(sent_s))


def _itls_ms(chunk_times: list) -> np.ndarray:
    """:func:`itl_ms` of every request at once (lists or arrays of chunk times), ms."""
    if not chunk_times:
        return np.zeros(0)
    times = [np.asarray(c, dtype=float) for c in chunk_times]
    flat = np.concatenate(times)
    gaps = np.diff(flat) * 1e3
    ends = np.cumsum([len(t) for t in times])[:-1]  # the gap from one request's last to the next's first
    keep = np.ones(len(gaps), dtype=bool)
    keep[ends[(ends > 0) & (ends < len(flat))] - 1] = False
    return gaps[keep]


def _nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _val(v):
    """None for missing values (None or NaN, as pandas gives them back), else v."""
    return None if v is None or _nan(v) else v


# ------------------------------------------------------------------ load points
def point_metrics(rows: Sequence[dict], slo: dict | None = None) -> dict:
    """Metrics of one load point from its measure-phase request rows (REQUESTS schema dicts)."""
    rows = [{k: _val(v) if not isinstance(v, (list, tuple, np.ndarray)) else v for k, v in r.items()}
            for r in rows]
    done = [r for r in rows if r.get("ok")]
    failed = len(rows) - len(done)
    ttfts = [r.get("ttft_ms") for r in done]
    e2els = [r.get("e2el_ms") for r in done]
    tpots = [tpot_ms(r.get("ttft_ms"), r.get("e2el_ms"), r.get("output_tokens")) for r in done]
    # a list from JSON Lines, an array from the store's Parquet copy (never "or []": an array has
    # no truth value), None once _val above has turned a missing value into None
    itls = _itls_ms([r["chunk_times_s"] for r in done if r.get("chunk_times_s") is not None])
    ends = [r["sent_s"] + (r.get("e2el_ms") or 0.0) / 1e3 for r in done]
    window = window_s([r["sent_s"] for r in rows], ends) if done else math.nan
    out_tokens = sum(int(r.get("output_tokens") or 0) for r in done)
    prompts = [r.get("prompt_tokens") for r in done]
    prompt_total = math.nan if any(p is None for p in prompts) else sum(prompts)
    good = sum(meets_slo(t, p, e, slo) for t, p, e in zip(ttfts, tpots, e2els))
    rate = (lambda x: x / window) if window and window > 0 else (lambda x: math.nan)
    out = {
        "completed": len(done),
        "failed": failed,
        "error_rate": failed / len(rows) if rows else math.nan,
        "duration_s": window,
        "request_throughput": rate(len(done)),
        "output_tokens_per_s": rate(out_tokens),
        "total_tokens_per_s": rate(out_tokens + prompt_total),
        "goodput": rate(good),
        "total_output_tokens": out_tokens,
        "mean_output_tokens": out_tokens / len(done) if done else math.nan,
        "token_source": ",".join(sorted({str(r.get("token_source")) for r in done})),
        # sent − scheduled: time waiting for the concurrency cap, or the client running late
        "p99_send_lag_ms": stats((r["sent_s"] - r["scheduled_s"]) * 1e3 for r in rows
                                 if r.get("scheduled_s") is not None)["p99"],
    }
    for name, values in (("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)):
        for s, v in stats(values).items():
            out[f"{s}_{name}_ms"] = v
    return out


def summarize(requests_df, slo: dict | None = None):
    """One row per load point (measure phase only) with the columns of contract item 8:
    load_point, concurrency, request_rate, completed, failed, error_rate, duration_s,
    request_throughput, output_tokens_per_s, total_tokens_per_s, goodput,
    {mean,p50,p90,p95,p99}_{ttft,tpot,itl,e2el}_ms, ... (plus run_id when present)."""
    import pandas as pd

    df = requests_df
    if "phase" in df.columns:
        df = df[df["phase"] == "measure"]
    keys = [k for k in ("run_id", "load_point") if k in df.columns]
    rows = []
    for key, group in df.groupby(keys, sort=False) if keys else [((), df)]:
        key = key if isinstance(key, tuple) else (key,)
        recs = group.to_dict("records")
        first = recs[0]
        rows.append({
            **dict(zip(keys, key)),
            "concurrency": first.get("concurrency"),
            "request_rate": first.get("request_rate"),
            **point_metrics(recs, slo),
        })
    out = pd.DataFrame(rows)
    if len(out):
        out = out.sort_values([c for c in ("run_id", "request_rate", "concurrency") if c in out.columns],
                              kind="stable").reset_index(drop=True)
    return out
