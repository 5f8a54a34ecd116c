"""The report's first table and its notes, on the embedded default (the committed reference
results in data/results, the catalog, the six bundled workloads)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from workbench.decide import pipeline, summary
from workbench.inputs.workloads import list_workloads

RUN_ID = re.compile(r"\d{8}T\d{6}")


@pytest.fixture(scope="module")
def ctx():
    return pipeline.decide_workloads()


def test_the_top_table_has_every_workload_an_evidence_level_and_what_to_measure_next(ctx):
    t = summary.top_table(ctx.decisions)
    assert sorted(t.workload) == sorted(list_workloads()) and len(t) == 6
    for r in t.itertuples():
        assert r.evidence and r.evidence.split(" ")[0] in ("measured:", "assumed", "none")
        if r.verified_choice == "none yet":
            assert r.measure_next.startswith("workbench evaluate --target ") and f"--workload {r.workload}" in r.measure_next
            assert pd.isna(r.usd_per_month)  # no cost without a verified choice (None, or NaN beside one)
        else:
            assert r.evidence.startswith("measured")
    # no published score verifies anything: every verified choice rests on a stored run
    for d in ctx.decisions:
        if d.verified_choice:
            assert d.table.set_index("option").loc[d.verified_choice, "evidence"] == "measured"
        assert not (d.table.feasible & d.table.evidence.isin(["published", "related"])).any()
        assert d.table[d.table.evidence == "published"].quality.isna().all()  # never on the metric's axis


def test_an_api_without_a_key_says_which_variable_to_set(ctx):
    d = next(d for d in ctx.decisions if d.workload == "ticket-classification")  # privacy any: APIs are candidates
    api = d.measure_next[d.measure_next.kind == "api"]
    assert len(api) and all(re.search(r"set \$[A-Z_]+_API_KEY", n) for n in api.needs)
    assert all("api_key_env:" in y for y in api.target_yaml)
    assert (d.candidates.saving_usd_per_month >= 0).all() and d.candidates.must_reach.iloc[0] == "accuracy ≥ 0.85, macro_f1 ≥ 0.8"


def test_notes_are_grouped_by_cause_and_headlines_name_no_run(ctx):
    groups = summary.notes_by_cause(ctx)
    assert groups and sum(map(len, groups.values())) == sum(len(ctx.built[d.workload].notes) for d in ctx.decisions) + len(ctx.skipped)
    assert not any(RUN_ID.search(cause) for cause in groups)
    assert any(RUN_ID.search(n) for items in groups.values() for _, n in items)  # the details keep the ids
