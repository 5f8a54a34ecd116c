"""LLM-as-judge end to end against the fake OpenAI-compatible server: the rubric from the
workload spec, one judge call per item, grades with a CI, calls counted and priced from the
catalog, agreement with the reference metric (worked by hand)."""

from __future__ import annotations

import math

import pytest

from workbench.inputs.catalog import load_catalog
from workbench.inputs.targets import parse_targets
from workbench.inputs.workloads import load_workload
from workbench.measure import judge
from workbench.measure.evaluate import rescore
from workbench.serving.fakeserver import FakeConfig, FakeServer


def _judge_target(base_url: str):
    [t] = parse_targets(f"""targets:
  - name: fake-judge
    engine: external
    base_url: {base_url}
    model: fake
    deployment: {{kind: api, price_entry: gpt-4o-mini}}
""")
    return t


def test_judge_grades_counts_and_prices_every_call():
    wl = load_workload("incident-summarization")
    items = wl.items[:6]
    outputs = [it["reference"] for it in items]
    with FakeServer(FakeConfig(piece=" 4", chunks=1)) as fake:  # the fake judge answers "4" to everything
        r = judge.judge(_judge_target(fake.base_url), wl, items, outputs,
                        reference={"metric": "rougeL", "values": [0.2, 0.4, 0.5, 0.6, 0.7, 0.9]})
        assert fake.state.requests == 6  # one judge call per item
    assert r.grades == [0.75] * 6 and r.value == pytest.approx(0.75) and (r.calls, r.failed, r.unparsed) == (6, 0, 0)
    price = load_catalog().api("gpt-4o-mini")
    assert r.prompt_tokens > 0 and r.completion_tokens == 6
    assert r.usd == pytest.approx(r.prompt_tokens * price["input_cost_per_token"] + 6 * price["output_cost_per_token"])
    assert math.isnan(r.agreement["rho"]) and "constant" in r.agreement["why"]  # a constant judge agrees with nothing
    assert "6 calls" in r.summary() and "undefined" in r.summary()


def test_a_reply_without_a_grade_is_counted_never_scored():
    wl = load_workload("incident-summarization")
    with FakeServer(FakeConfig(piece=" excellent", chunks=1)) as fake:
        r = judge.judge(_judge_target(fake.base_url), wl, wl.items[:3], ["x"] * 3)
    assert r.grades == [None] * 3 and r.unparsed == 3 and math.isnan(r.value)


def test_agreement_by_hand():
    # ranks: judge 1 2 3 4 5, metric 1 2 3 5 4 -> sum d^2 = 2 -> rho = 1 - 6*2 / (5*24) = 0.9
    a = judge.agreement([0, 0.25, 0.5, 0.75, 1.0], [0.1, 0.2, 0.3, 0.5, 0.4], metric="rougeL")
    assert a["rho"] == pytest.approx(0.9) and a["n"] == 5 and a["ci_low"] <= 0.9 <= a["ci_high"]
    assert judge.agreement([0.5, None, 1.0], [0.1, 0.2, None])["why"] == "fewer than 3 items"


def test_a_workload_without_a_rubric_is_named():
    with pytest.raises(judge.JudgeError, match="ticket-classification.*no rubric"):
        judge.Rubric.of(load_workload("ticket-classification"))


def test_judge_run_grades_a_stored_quality_run(monkeypatch):
    """A committed reference run's outputs graded by the fake judge: one call per answered item;
    the agreement is against the run's own ROUGE-L per item."""
    from workbench.results.schema import EVIDENCE_STATUSES
    from workbench.results.store import load

    res = load()
    runs = res.runs[(res.runs.kind == "quality") & (res.runs.workload == "incident-summarization")
                    & res.runs.status.isin(EVIDENCE_STATUSES)]
    run_id = runs.run_id.iloc[0]
    with FakeServer(FakeConfig(piece=" 2", chunks=1)) as fake:
        r = judge.judge_run(run_id, _judge_target(fake.base_url), results=res)
        calls = fake.state.requests
    answered = rescore(load_workload("incident-summarization"), res.items[res.items.run_id == run_id])[0]
    assert r.calls == calls == len(answered) and r.value == pytest.approx(0.25)
    assert r.agreement["metric"] == "rougeL" and r.agreement["n"] == len(answered)
