"""Defaults follow the market: the APIs priced by default are current ones from the catalog,
a user's own API rows are always priced, and every default candidate has published evidence."""

from __future__ import annotations

import pytest

from workbench.decide import options
from workbench.inputs.catalog import load_catalog
from workbench.inputs.workloads import load_workload


@pytest.fixture(autouse=True)
def _no_user_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_CATALOG_OVERRIDES", raising=False)
    monkeypatch.chdir(tmp_path)


def test_default_apis_are_current_catalog_rows():
    cat = load_catalog(overrides_dir=None)
    for name in options.DEFAULT_APIS:
        row = cat.api(name)  # raises if the catalog has no price in force today
        assert row["as_of"] >= "2025-09-01", (name, row["as_of"])


def test_default_options_price_the_default_apis_and_the_users_own(tmp_path):
    over = tmp_path / "over"
    over.mkdir()
    (over / "apis.csv").write_text(
        "model,litellm_provider,mode,input_cost_per_token,output_cost_per_token,as_of,source,verified\n"
        "my-gateway/gpt-5,openai,chat,1e-06,8e-06,2026-11-01,our negotiated rate,true\n")
    wl = load_workload("ticket-classification")
    built = options.build_options_detailed(wl, catalog=load_catalog(over), candidates=())
    apis = {m for src in built.sources.values() for m in src["models"]}
    chat_defaults = {m for m in options.DEFAULT_APIS if not m.startswith("text-embedding")}
    assert apis == chat_defaults | {"my-gateway/gpt-5"}
    assert "gpt-4o" not in apis  # history: one apis=[...] away
    built = options.build_options_detailed(wl, catalog=load_catalog(over), candidates=(), apis=["gpt-4o"])
    assert {m for src in built.sources.values() for m in src["models"]} == {"gpt-4o"}


def test_each_default_candidate_has_published_quality_rows():
    q = load_catalog(overrides_dir=None).quality
    for arch, proxy, _ in options.PROJECTED_CANDIDATES:
        rows = q[q.model == proxy]
        assert len(rows) and rows.benchmark.isin(["mmlu-pro", "gpqa-diamond", "ifeval", "bfcl", "mmlu"]).any(), proxy
