"""Metric functions against values worked by hand (vLLM bench serve definitions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench.measure import metrics as m


def row(sent_s, chunks, output_tokens, prompt_tokens=10, ok=True, load_point="concurrency=2",
        phase="measure", token_source="usage", concurrency=2):
    return {
        "run_id": "r", "load_point": load_point, "phase": phase, "concurrency": concurrency,
        "request_rate": math.inf, "sent_s": sent_s, "chunk_times_s": chunks,
        "ttft_ms": chunks[0] * 1e3 if chunks else None, "e2el_ms": chunks[-1] * 1e3 if chunks else None,
        "output_tokens": output_tokens if ok else None, "prompt_tokens": prompt_tokens if ok else None,
        "token_source": token_source if ok else "none", "ok": ok, "scheduled_s": sent_s - 0.01,
    }


# two finished requests whose chunks carry several tokens each, and one failure
ROWS = [
    row(0.0, [0.1, 0.3, 0.5], 5, prompt_tokens=10),  # TTFT 100, E2EL 500, TPOT 400/4 = 100, ITL 200, 200
    row(0.2, [0.2, 0.4], 3, prompt_tokens=20),  # TTFT 200, E2EL 400, TPOT 200/2 = 100, ITL 200; ends at 0.6
    row(0.3, [], None, ok=False),
]


def test_per_request_definitions():
    assert m.ttft_ms([0.1, 0.3, 0.5]) == pytest.approx(100)
    assert m.e2el_ms([0.1, 0.3, 0.5]) == pytest.approx(500)
    assert m.itl_ms([0.1, 0.3, 0.5]) == pytest.approx([200, 200])
    # 5 tokens in 3 chunks: TPOT divides by tokens, ITL by chunks
    assert m.tpot_ms(100, 500, 5) == pytest.approx(100)
    assert m.tpot_ms(100, 500, 1) is None and m.tpot_ms(None, 500, 5) is None
    assert m.ttft_ms([]) is None and m.itl_ms([0.1]) == []


def test_stats_use_linear_interpolation():
    s = m.stats([100, 200])
    assert s == pytest.approx({"mean": 150, "p50": 150, "p90": 190, "p95": 195, "p99": 199})
    assert all(math.isnan(v) for v in m.stats([None, float("nan")]).values())


def test_inter_token_gaps_never_span_two_requests():
    # one request with no chunks, one with one chunk (no gap), lists and arrays mixed
    times = [[0.0, 0.1, 0.3], [], [5.0], np.array([1.0, 1.5]), [2.0, 2.0, 2.25]]
    assert list(m._itls_ms(times)) == pytest.approx([100, 200, 500, 0, 250])
    assert list(m._itls_ms(times)) == pytest.approx([g for t in times for g in m.itl_ms(list(t))])
    assert list(m._itls_ms([[], [1.0]])) == [] and list(m._itls_ms([])) == []


def test_point_metrics_hand_computed():
    p = m.point_metrics(ROWS)
    # window = last chunk (0.2 + 0.4 = 0.6) - first send (0.0)
    assert p["duration_s"] == pytest.approx(0.6)
    assert (p["completed"], p["failed"]) == (2, 1)
    assert p["error_rate"] == pytest.approx(1 / 3)
    assert p["request_throughput"] == pytest.approx(2 / 0.6)
    assert p["output_tokens_per_s"] == pytest.approx(8 / 0.6)
    assert p["total_tokens_per_s"] == pytest.approx((8 + 30) / 0.6)
    assert p["mean_ttft_ms"] == pytest.approx(150) and p["p90_ttft_ms"] == pytest.approx(190)
    assert p["mean_tpot_ms"] == pytest.approx(100)
    assert p["mean_itl_ms"] == pytest.approx(200) and p["p99_itl_ms"] == pytest.approx(200)
    assert p["p50_e2el_ms"] == pytest.approx(450)
    assert p["goodput"] == pytest.approx(2 / 0.6)  # no SLO: every completed request is good
    assert p["p99_send_lag_ms"] == pytest.approx(10)


def test_goodput_under_slos():
    assert m.point_metrics(ROWS, {"ttft_ms": 150})["goodput"] == pytest.approx(1 / 0.6)
    assert m.point_metrics(ROWS, {"tpot_ms": 100, "e2el_ms": 500})["goodput"] == pytest.approx(2 / 0.6)
    assert m.point_metrics(ROWS, {"e2el_ms": 450})["goodput"] == pytest.approx(1 / 0.6)
    # one output token: no TPOT, counted as 0 for goodput (vLLM)
    assert m.meets_slo(100, None, 100, {"tpot_ms": 1})
    assert not m.meets_slo(None, None, None, {"ttft_ms": 1})


def test_stream_without_usage_counts_chunks():
    r = row(0.0, [0.1, 0.2, 0.3, 0.4], 4, prompt_tokens=None, token_source="chunks")
    p = m.point_metrics([r])
    assert p["mean_tpot_ms"] == pytest.approx(100)  # (400 - 100) / 3
    assert p["token_source"] == "chunks"
    assert math.isnan(p["total_tokens_per_s"])  # prompt tokens unknown: not guessed
    assert p["output_tokens_per_s"] == pytest.approx(4 / 0.4)


def test_summarize_excludes_warmup_and_survives_a_pandas_round_trip():
    rows = ROWS + [row(0.0, [5.0], 1, phase="warmup"),
                   row(1.0, [0.1, 0.2], 2, load_point="concurrency=1", concurrency=1)]
    df = pd.DataFrame(rows)  # None -> NaN, as the store gives them back
    s = m.summarize(df)
    assert list(s["load_point"]) == ["concurrency=1", "concurrency=2"]
    two = s.iloc[1]
    assert two["completed"] == 2 and two["failed"] == 1
    assert two["request_throughput"] == pytest.approx(2 / 0.6)
    one = s.iloc[0]
    assert one["duration_s"] == pytest.approx(0.2) and one["output_tokens_per_s"] == pytest.approx(10)
    for col in ("request_throughput", "output_tokens_per_s", "total_tokens_per_s", "goodput", "error_rate",
                "concurrency", "request_rate", "completed", "failed",
                *(f"{s_}_{l}_ms" for s_ in m.STATS for l in m.LATENCIES)):
        assert col in s.columns


def test_joules_per_output_token():
    assert m.joules_per_output_token(300.0, 1000) == pytest.approx(0.3)
    assert m.joules_per_output_token(300.0, 0) is None


def test_cases_that_tell_the_rules_apart():
    """Each expected value worked by hand, on rows where the plausible wrong rule gives another:
    - the window starts at the first send of any request (here a failure, sent at 0.0), not the
      first completed one (0.1): 2 completed / (0.8 − 0.0) = 2.5 req/s, not 2 / 0.7;
    - ITL pools every gap of every request (chunk-weighted, as vLLM): gaps 100, 400 | 200 →
      mean 233.3, p50 200; per-request means would give (250 + 200) / 2 = 225;
    - the send lag counts every request, the failed one too: lags 30, 0, 10 ms → p99 29.6
      (numpy linear), not 9.9 over the completed ones."""
    rows = [
        {**row(0.0, [], None, ok=False), "scheduled_s": -0.03},  # failed, sent first, 30 ms late
        {**row(0.1, [0.1, 0.2, 0.6], 4), "scheduled_s": 0.1},     # ends 0.7; gaps 100, 400
        {**row(0.5, [0.1, 0.3], 2), "scheduled_s": 0.49},         # ends 0.8; gap 200; 10 ms late
    ]
    p = m.point_metrics(rows)
    assert p["duration_s"] == pytest.approx(0.8)
    assert p["request_throughput"] == pytest.approx(2 / 0.8)
    assert p["mean_itl_ms"] == pytest.approx(700 / 3) and p["p50_itl_ms"] == pytest.approx(200)
    assert p["p99_send_lag_ms"] == pytest.approx(10 + 0.98 * 20)
    assert p["error_rate"] == pytest.approx(1 / 3)
