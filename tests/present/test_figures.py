"""Figures are checked through their data (fig.to_plotly_json()), not pixels."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from workbench.cost.cost import Option
from workbench.decide.decision import decide, portfolio
from workbench.decide.quality import QualityEstimate as Q
from workbench.present import figures
from workbench.results.schema import METRICS

A = Option(name="A", kind="api", usd_per_request=0.001, provenance={"usd_per_token": "published (p)"})
B = Option(name="B", kind="api", usd_per_request=0.0005, provenance={"usd_per_token": "published (p)"})
S = Option(name="S", kind="self-hosted", capacity_rps=1.0, usd_per_hour=1.0,
           provenance={"capacity_rps": "projected (calibrated on 2 runs, median error 9%)"})
W = SimpleNamespace(name="w", primary_metric="accuracy", quality_floor={"accuracy": 0.8},
                    daily_volume=1_000_000 / (730 / 24), peak_factor=1.0, slo={}, privacy="any")
QUAL = {"A": Q(0.9, 0.85, 0.95, "measured", "run a"),
        "B": Q(70.0, provenance="published", metric="MMLU 5-shot", scale="of 100", benchmark="mmlu", source="card"),
        "S": Q(0.82, 0.78, 0.86, "assumed", "guess")}


@pytest.fixture(scope="module")
def decision():
    return decide(W, [A, B, S], quality=QUAL, volumes=[1e3, 1e5, 5e5, 1e6, 2e6, 3e6, 1e7])


def traces(fig):
    return fig.to_plotly_json()["data"]


def test_cost_curves_data(decision):
    fig = figures.cost_curves(decision)
    j = fig.to_plotly_json()
    assert j["layout"]["xaxis"]["type"] == "log" and j["layout"]["yaxis"]["type"] == "log"
    assert j["layout"]["xaxis"]["title"]["text"] == METRICS["requests_per_month"].title
    assert j["layout"]["yaxis"]["title"]["text"] == METRICS["usd_per_month"].title
    lines = {t["meta"]["option"]: t for t in j["data"] if t.get("meta", {}).get("option")}
    assert set(lines) == {"A", "B", "S"}
    s = lines["S"]
    assert s["line"]["shape"] == "hv"  # replica steps drawn as steps
    # S: 1 replica ($730) up to 2.628e6 requests/month, 2 replicas ($1460) at 3e6, 4 at 1e7
    assert list(s["y"]) == pytest.approx([730, 730, 730, 730, 730, 1460, 2920])
    assert "[projected]" in s["name"] and s["line"]["dash"] == "dash"
    assert "[measured]" not in lines["A"]["name"] and "[published]" in lines["A"]["name"]
    assert lines["B"]["name"] == figures.INFEASIBLE and lines["B"]["line"]["color"] == "lightgrey"
    flips = [t for t in j["data"] if t.get("meta", {}).get("flips")]
    assert len(flips) == 1 and list(flips[0]["x"]) == pytest.approx([730_000])
    assert "A → S" in flips[0]["text"][0]
    # the expected volume is marked
    assert any(sh.get("x0") == pytest.approx(1e6) for sh in j["layout"]["shapes"])


def test_pareto_front_by_hand():
    # (cost, quality): (1, .5) (2, .9) (3, .7) (4, .95) (0.5, None) -> front 0, 1, 3
    assert figures.pareto_front([1, 2, 3, 4, 0.5], [0.5, 0.9, 0.7, 0.95, None]) == [0, 1, 3]


def test_quality_vs_cost_data(decision):
    j = figures.quality_vs_cost(decision).to_plotly_json()
    by_name = {t["name"]: t for t in j["data"]}
    m = by_name["quality measured"]
    assert list(m["text"]) == ["A"] and list(m["y"]) == [0.9]
    assert list(m["error_y"]["array"]) == pytest.approx([0.05]) and list(m["error_y"]["arrayminus"]) == pytest.approx([0.05])
    assert "quality assumed" in by_name and "quality published" not in by_name
    # B's MMLU 70 (of 100) is on its own axis (y2), never on the accuracy axis
    mmlu = by_name["mmlu [published, indicative]"]
    assert list(mmlu["y"]) == [70.0] and list(mmlu["text"]) == ["B"] and mmlu["yaxis"] == "y2"
    assert all(t.get("yaxis", "y") == "y" for t in j["data"] if t["name"].startswith("quality"))
    # Pareto over the measured and assumed points (S $730, .82) (A $1000, .9): both on it
    assert by_name["Pareto frontier"]["meta"]["pareto"] == ["S", "A"]
    assert any(sh.get("y0") == 0.8 for sh in j["layout"]["shapes"])  # the floor


def test_infeasible_options_share_one_legend_entry():
    low = {"A": Q(0.5, 0.4, 0.6, "measured", "run a"), "B": QUAL["B"], "S": QUAL["S"]}
    d = decide(W, [A, B, S], quality=low, volumes=[1e3, 1e6, 1e7])
    lines = [t for t in traces(figures.cost_curves(d)) if t.get("meta", {}).get("option")]
    grey = [t for t in lines if t["name"] == figures.INFEASIBLE]
    assert {t["meta"]["option"] for t in grey} == {"A", "B"}
    assert [t.get("showlegend", True) for t in grey] == [True, False]


def test_latency_vs_throughput_data():
    summary = pd.DataFrame({"target": ["t", "t"], "load_point": ["concurrency=1", "concurrency=8"],
                            "output_tokens_per_s": [10.0, 40.0], "p50_ttft_ms": [50.0, 120.0],
                            "p90_ttft_ms": [60.0, 200.0]})
    j = figures.latency_vs_throughput(summary).to_plotly_json()
    assert [t["name"] for t in j["data"]] == ["t p50", "t p90"]
    assert list(j["data"][1]["y"]) == [60.0, 200.0] and list(j["data"][1]["x"]) == [10.0, 40.0]
    assert j["layout"]["yaxis"]["title"]["text"] == METRICS["ttft_ms"].title


def test_telemetry_over_time_data():
    s = pd.DataFrame({"run_id": ["r1"] * 4, "t_s": [0.0, 0.5, 0.0, 0.5], "source": ["process"] * 4,
                      "device": ["vllm"] * 4, "metric": ["rss_gib", "rss_gib", "power_w", "power_w"],
                      "value": [2.0, 2.5, 100.0, 120.0]})
    j = figures.telemetry_over_time(s).to_plotly_json()
    assert [t["meta"]["metric"] for t in j["data"]] == ["power_w", "rss_gib"]
    assert list(j["data"][0]["y"]) == [100.0, 120.0]
    assert figures.telemetry_over_time(s.iloc[:0]).to_plotly_json()["layout"]["title"]["text"] == "telemetry: no samples"


def test_portfolio_bars_data(decision):
    pf = portfolio([decision])
    j = figures.portfolio_bars(pf).to_plotly_json()
    assert [t["type"] for t in j["data"]] == ["bar"] * 3
    assert list(j["data"][0]["y"]) == pytest.approx([730.0]) and list(j["data"][1]["y"]) == pytest.approx([1000.0])
    assert "TOTAL" not in list(j["data"][0]["x"])
