"""Decision: gates, choice, runner-up, savings, flips, routed mix and portfolio, against numbers
worked by hand. Options are cost.Option values; the workload is a plain stand-in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workbench.cost import cost
from workbench.cost.cost import Option
from workbench.decide import candidates, decision
from workbench.decide.quality import QualityEstimate as Q

MONTH_S = 730 * 3600  # 2,628,000 s


def workload(privacy="any", daily=1_000_000 / (730 / 24)):
    return SimpleNamespace(name="w", primary_metric="accuracy", quality_floor={"accuracy": 0.8},
                           daily_volume=daily, peak_factor=1.0, slo={"e2el_ms": 1000}, privacy=privacy)


# A: API at $0.001/request; B: API at $0.0005/request; S: one replica ($1/h) serves 1 request/s.
A = Option(name="A", kind="api", usd_per_request=0.001, provenance={"usd_per_token": "published (x)"})
B = Option(name="B", kind="api", usd_per_request=0.0005)
S = Option(name="S", kind="self-hosted", capacity_rps=1.0, usd_per_hour=1.0,
           provenance={"capacity_rps": "measured (run r1)"})
QUAL = {"A": Q(0.9, 0.85, 0.95, "measured", "run a"), "B": Q(0.7, 0.6, 0.8, "measured", "run b"),
        "S": Q(0.82, 0.78, 0.86, "measured", "run s")}


def test_requests_per_month_uses_the_730_hour_month():
    assert cost.requests_per_month(24) == pytest.approx(730)


def test_choice_runner_up_savings_and_gates():
    d = decision.decide(workload(), [A, B, S], quality=QUAL)
    assert d.volume == pytest.approx(1_000_000)
    t = d.table.set_index("option")
    # S: ceil(1e6 / 2.628e6) = 1 replica -> 1 $/h * 730 h = $730; A: 1e6 * 0.001 = $1000
    assert t.loc["S", "usd_per_month"] == pytest.approx(730.0)
    assert t.loc["S", "replicas"] == 1
    assert t.loc["A", "usd_per_month"] == pytest.approx(1000.0)
    assert t.loc["A", "usd_per_request"] == pytest.approx(0.001)
    assert (d.choice, d.runner_up) == ("S", "A")
    assert d.savings_usd_per_month == pytest.approx(270.0)
    # B is cheapest ($500) but fails the floor 0.8 with 0.7: infeasible, the reason says so
    assert not t.loc["B", "feasible"] and "quality" in t.loc["B", "reason"] and "0.7 < floor 0.8" in t.loc["B", "reason"]
    # S meets the floor on its point estimate; its CI lower bound (0.78) is named
    assert t.loc["S", "feasible"] and "CI lower bound 0.78 < floor 0.8" in t.loc["S", "reason"]
    assert t.loc["S", "quality_ci_low"] == 0.78 and t.loc["S", "quality_provenance"].startswith("measured")
    assert t.loc["B", "evidence"] == "measured" and d.verified_choice == "S"
    assert "latency assumed" in t.loc["A", "reason"]


def test_flip_volume_and_win_ranges():
    d = decision.decide(workload(), [A, B, S], quality=QUAL)
    # A (0.001 V) vs S ($730 flat up to 2.628e6): equal at V = 730,000; S stays cheaper above
    assert len(d.flips) == 1
    v, frm, to = d.flips[0]
    assert (frm, to) == ("A", "S") and v == pytest.approx(730_000)
    r = d.win_ranges
    assert r.option.tolist() == ["A", "S"]
    assert r.from_requests_per_month.iloc[1] == pytest.approx(730_000)
    assert r.to_requests_per_month.iloc[0] == pytest.approx(730_000)
    assert r.from_requests_per_month.iloc[0] == pytest.approx(1e3)  # the grid's low end
    assert r.to_requests_per_month.iloc[-1] == pytest.approx(1e9)


def test_privacy_excludes_apis_and_missing_quality_is_infeasible():
    d = decision.decide(workload("internal-only"), [A, S], quality={"S": QUAL["S"]}, route_fraction=0.5)
    t = d.table.set_index("option")
    assert d.choice == "S" and d.runner_up is None and d.savings_usd_per_month is None
    assert not t.loc["A", "privacy_ok"] and "privacy" in t.loc["A", "reason"]
    assert "not measured on this workload" in t.loc["A", "reason"]  # no quality for A: never silently feasible
    assert not any(t.kind == "routed")  # no routing off our network either


def test_latency_gate_from_a_measurement():
    d = decision.decide(workload(), [A, S], quality=QUAL, latency={"S": (False, "p90 e2el 2400 ms")})
    t = d.table.set_index("option")
    assert not t.loc["S", "feasible"] and "p90 e2el 2400 ms" in t.loc["S", "reason"]
    assert d.choice == "A" and d.flips == []


def test_routed_mix_by_hand():
    m = decision.routed_mix(0.3, api_usd_per_request=0.002, self_usd_per_request=0.0005,
                          api_quality=0.9, self_quality=0.8)
    assert m["usd_per_request"] == pytest.approx(0.3 * 0.002 + 0.7 * 0.0005)  # 0.00095
    assert m["quality"] == pytest.approx(0.83)
    assert decision.routed_mix(0.5, api_usd_per_request=1, self_usd_per_request=0)["quality"] is None
    with pytest.raises(decision.DecisionError, match="route_fraction"):
        decision.routed_mix(1.5, api_usd_per_request=1, self_usd_per_request=1)


def test_routed_option_in_the_decision():
    d = decision.decide(workload(), [A, B, S], quality=QUAL, route_fraction=0.25)
    t = d.table.set_index("option")
    name = "routed 25% A / 75% S"
    # A on 250k requests = $250; S on 750k requests: 1 replica = $730 -> $980
    assert t.loc[name, "usd_per_month"] == pytest.approx(980.0)
    assert t.loc[name, "quality"] == pytest.approx(0.25 * 0.9 + 0.75 * 0.82)  # 0.84
    assert t.loc[name, "quality_ci_low"] == pytest.approx(0.25 * 0.85 + 0.75 * 0.78)  # 0.7975
    assert t.loc[name, "kind"] == "routed" and t.loc[name, "feasible"]
    assert d.choice == "S" and d.runner_up == name
    c = d.curves[d.curves.option == name]
    assert len(c) == len(d.curves[d.curves.option == "A"])


def test_portfolio_totals():
    d1 = decision.decide(workload(), [A, B, S], quality=QUAL)
    d2 = decision.decide(workload("internal-only"), [A, S], quality=QUAL)
    d2.workload = "w2"
    pf = decision.portfolio([d1, d2])
    assert pf.workload.tolist() == ["w", "w2", "TOTAL"]
    assert pf.frontier_api.iloc[0] == "A"  # the API with the highest quality
    total = pf.set_index("workload").loc["TOTAL"]
    assert total.chosen_usd_per_month == pytest.approx(730 + 730)
    assert total.frontier_api_usd_per_month == pytest.approx(1000 + 1000)
    assert total.self_hosted_usd_per_month == pytest.approx(730 + 730)
    assert pf.set_index("workload").loc["w2", "frontier_api_feasible"] == False  # (privacy)


def summarization(privacy="any"):
    return SimpleNamespace(name="incident-summarization", primary_metric="rougeL", quality_floor={"rougeL": 0.4},
                           daily_volume=1_000_000 / (730 / 24), peak_factor=1.0, slo={"e2el_ms": 1000}, privacy=privacy)


MMLU = Q(68.4, provenance="published", metric="MMLU 5-shot", scale="of 100", benchmark="mmlu",
         source="Llama-3-8B-Instruct, model card, 2024-04-18")


def test_a_published_proxy_never_meets_a_floor_on_another_metric():
    """B ($500) has only an MMLU score: 68.4 of 100 is not a ROUGE-L of 0.684. It is not
    feasible; the verified choice is S ($730, measured ROUGE-L 0.82), and B is a candidate with
    $230/month at stake if it reaches ROUGE-L ≥ 0.4."""
    quality = {"A": Q(0.9, 0.85, 0.95, "measured", "run a", "rougeL"), "B": MMLU,
               "S": Q(0.82, 0.78, 0.86, "measured", "run s", "rougeL")}
    d = decision.decide(summarization(), [A, B, S], quality=quality)
    t = d.table.set_index("option")
    assert not t.loc["B", "feasible"]
    assert "not measured on this workload" in t.loc["B", "reason"] and "MMLU 5-shot 68.4 (of 100)" in t.loc["B", "reason"]
    assert t.loc["B", "quality"] is None or t.loc["B", "quality"] != t.loc["B", "quality"]  # not on the ROUGE-L axis
    assert t.loc["B", "evidence"] == "published" and t.loc["B", "indicative_score"] == 68.4
    assert (d.choice, d.verified_choice, d.evidence) == ("S", "S", "measured")
    c = d.candidates.set_index("option")
    assert list(c.index) == ["B"]  # A and S are measured: settled
    assert c.loc["B", "saving_usd_per_month"] == pytest.approx(730 - 500)
    assert c.loc["B", "must_reach"] == "rougeL ≥ 0.4" and c.loc["B", "evidence"] == "published"


def test_with_nothing_measured_the_strongest_candidate_comes_first():
    """Nothing measured: no verified choice ("none yet"); every option is a candidate against
    the strongest one by its indicative evidence (A, MMLU 88.7 > B's 68.4), whose saving is 0."""
    quality = {"A": Q(88.7, provenance="published", metric="MMLU", scale="of 100", benchmark="mmlu"), "B": MMLU}
    d = decision.decide(summarization(), [A, B], quality=quality)
    assert d.choice is None and d.verified_choice is None and d.evidence == "none yet"
    c = d.candidates.set_index("option")
    assert c.loc["A", "role"] == candidates.STRONGEST and c.loc["A", "saving_usd_per_month"] == 0
    assert c.loc["B", "saving_usd_per_month"] == pytest.approx(1000 - 500)
    assert (c.loc["A", "indicative_rank"], c.loc["B", "indicative_rank"]) == (1.0, 0.0)


def test_an_assumed_quality_passes_labelled_but_verifies_nothing():
    quality = {"B": Q(0.5, provenance="assumed", metric="rougeL", source="assume_quality"),
               "S": Q(0.82, 0.78, 0.86, "measured", "run s", "rougeL")}
    d = decision.decide(summarization(), [A, B, S], quality=quality)
    t = d.table.set_index("option")
    assert t.loc["B", "feasible"] and "quality assumed, not verified" in t.loc["B", "reason"]
    assert (d.choice, d.verified_choice) == ("B", "S")
    assert "B" in set(d.candidates.option)  # the assumption is what to measure next
