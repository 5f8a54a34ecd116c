"""API prices from genai-prices: the shipped catalog agrees with the installed feed wherever
both hold a model, `catalog refresh` reproduces the shipped rows, keeps history and leaves the
catalog untouched when it fails; `catalog show` lists what is in force."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from workbench.inputs import feeds, refresh
from workbench.inputs.catalog import CATALOG_DIR, CatalogError, load_catalog

SHIPPED_AS_OF = "2026-11-29"  # the date of the shipped refresh (as_of of the feed rows)


@pytest.fixture(autouse=True)
def _no_user_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_CATALOG_OVERRIDES", raising=False)
    monkeypatch.chdir(tmp_path)


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, d, ignore=shutil.ignore_patterns("README.md"))
    return d


def _priced(pid: str, ref: str) -> bool:
    try:
        calc_price(Usage(input_tokens=1), ref, provider_id=pid)
    except LookupError:
        return False
    return True


def _feed_ref(row) -> tuple[str, str] | None:
    """(provider id, model ref) under which genai-prices prices a catalog row, or None: the
    catalog's name without its provider prefix, else (feed rows) the feed id in ``source``."""
    pid = feeds.PROVIDERS.get(row["litellm_provider"])
    ref = row["model"].split("/", 1)[1] if "/" in row["model"] else row["model"]
    if pid and _priced(pid, ref):
        return pid, ref
    if row["source"].startswith(feeds.SOURCE_PREFIX):
        provider, model = row["source"].split("bundled data: ", 1)[1].split("/", 1)
        assert _priced(provider, model), row["source"]
        return provider, model
    return None


def _per_token(usage: Usage, ref, when, batch=False, part="input_price") -> float:
    stamp = dt.datetime.fromisoformat(when).replace(hour=12, tzinfo=dt.timezone.utc)
    calc = calc_price(usage, ref[1], provider_id=ref[0], genai_request_timestamp=stamp,
                      price_context={"processing": "batch"} if batch else None)
    return float(getattr(calc, part) / Decimal(1000))


def test_catalog_agrees_with_genai_prices_for_every_model_both_hold():
    """Independent of the row conversion: each price is recomputed with genai_prices.calc_price
    on 1000 tokens, for every catalog API row in force today that the feed can price."""
    today = dt.date.today().isoformat()
    shown = refresh.show("apis", today, load_catalog(overrides_dir=None))
    cat = load_catalog(overrides_dir=None)
    checked = 0
    for model in shown.model:
        row = cat.api(model, as_of=today)
        ref = _feed_ref(row)
        if ref is None:
            continue
        checked += 1
        k = Usage(input_tokens=1000)
        assert row["input_cost_per_token"] == pytest.approx(_per_token(k, ref, today)), model
        out = _per_token(Usage(input_tokens=0, output_tokens=1000), ref, today, part="output_price")
        assert row["output_cost_per_token"] == pytest.approx(out), model
        if row["cache_read_input_token_cost"] is not None:
            cached = _per_token(Usage(input_tokens=1000, cache_read_tokens=1000), ref, today)
            assert row["cache_read_input_token_cost"] == pytest.approx(cached), model
        if row["input_cost_per_token_batches"] is not None and row["source"].startswith(feeds.FEED):
            assert row["input_cost_per_token_batches"] == pytest.approx(
                _per_token(k, ref, today, batch=True)), model
    assert checked >= 60, checked


def test_show_apis_lists_current_frontier_and_hosted_open_models():
    shown = refresh.show("apis", SHIPPED_AS_OF, load_catalog(overrides_dir=None))
    current = shown[shown.source.str.startswith(feeds.FEED) & (shown.as_of >= "2026-01-01")]
    frontier = current[current.litellm_provider.isin(["openai", "anthropic", "gemini"])]
    hosted = current[current.model.isin(list(feeds.OPEN_WEIGHTS))]
    assert len(frontier) >= 20 and len(hosted) >= 10, (len(frontier), len(hosted))
    assert {"gpt-5", "gpt-4.1", "o3", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1",
            "gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash"} <= set(frontier.model)
    assert (current.source.str.len() > 0).all() and current.as_of.str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    gpt5 = shown.set_index("model").loc["gpt-5"]
    assert (gpt5.in_usd_mtok, gpt5.cached_in_usd_mtok, gpt5.out_usd_mtok, gpt5.batch_in_usd_mtok) == (
        1.25, 0.125, 10.0, 0.625)


def test_the_2024_rows_stay_as_history_reachable_with_as_of():
    cat = load_catalog(overrides_dir=None)
    old = refresh.show("apis", "2024-08-01", cat).set_index("model")
    assert old.loc["gpt-4o", "in_usd_mtok"] == 5.0 and "gpt-5" in set(refresh.show("apis", SHIPPED_AS_OF, cat).model)
    assert "claude-haiku-4-5" not in old.index or old.loc["claude-haiku-4-5", "valid_from"] == ""
    # a dated change inside the feed: o3 cost 10/40 before 2025-06-10, 2/8 after
    assert cat.api("o3", as_of="2025-06-01")["input_cost_per_token"] == pytest.approx(10e-6)
    assert cat.api("o3", as_of="2025-06-10")["input_cost_per_token"] == pytest.approx(2e-6)
    # a feed price that differs from a hand-entered row applies from the refresh date only
    assert cat.api("mistral/mistral-large-2407", as_of="2026-11-28")["input_cost_per_token"] == pytest.approx(3e-6)
    assert cat.api("mistral/mistral-large-2407", as_of=SHIPPED_AS_OF)["input_cost_per_token"] == pytest.approx(2e-6)


def test_refresh_reproduces_the_shipped_rows_and_keeps_known_starts(tmp_path):
    d = _copy(tmp_path)
    refresh.refresh_catalog(d, as_of=SHIPPED_AS_OF)
    assert (d / "apis.csv").read_bytes() == (CATALOG_DIR / "apis.csv").read_bytes()
    refresh.refresh_catalog(d, as_of="2026-12-15")  # a later refresh: same feed, same prices
    cat = load_catalog(overrides_dir=None, catalog_dir=d)
    row = cat.api("mistral/mistral-large-2407", as_of="2026-12-15")
    assert row["valid_from"] == SHIPPED_AS_OF and row["as_of"] == "2026-12-15"


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_a_failed_refresh_leaves_the_catalog_untouched(tmp_path, monkeypatch):
    d = _copy(tmp_path)
    before = _snapshot(d)
    # 1. the feed lacks a model the refresh asks for
    monkeypatch.setattr(feeds, "FEED_MODELS", feeds.FEED_MODELS + (("gpt-9", "openai", "gpt-9", ""),))
    with pytest.raises(CatalogError, match="no model 'gpt-9'"):
        refresh.refresh_catalog(d, as_of=SHIPPED_AS_OF)
    assert _snapshot(d) == before
    monkeypatch.undo()
    # 2. the new rows do not validate (a negative price): caught before anything is moved
    real = feeds.feed_api_rows

    def broken(existing, as_of):
        rows = real(existing, as_of)
        rows[0] = {**rows[0], "input_cost_per_token": -1.0}
        return rows

    monkeypatch.setattr(feeds, "feed_api_rows", broken)
    with pytest.raises(CatalogError, match="input_cost_per_token"):
        refresh.refresh_catalog(d, as_of=SHIPPED_AS_OF)
    assert _snapshot(d) == before
    # 3. a bad SkyPilot file
    monkeypatch.undo()
    bad = tmp_path / "vms.csv"
    bad.write_text("InstanceType,Price,Region\nx,1.0,us-east-1\n")
    with pytest.raises(CatalogError, match="missing column"):
        refresh.refresh_catalog(d, as_of=SHIPPED_AS_OF, skypilot=[("aws", bad)])
    assert _snapshot(d) == before


def test_refresh_adds_skypilot_instances_and_the_cli_prints_them(tmp_path, capsys):
    from workbench.cli import main

    d = _copy(tmp_path)
    vms = Path(__file__).parents[1] / "data" / "skypilot" / "lambda_vms_excerpt.csv"
    assert main(["catalog", "refresh", "--catalog-dir", str(d), "--as-of", "2026-12-01",
                 "--skypilot", "lambda", str(vms)]) == 0
    assert "apis.csv" in capsys.readouterr().out
    cat = load_catalog(overrides_dir=None, catalog_dir=d)
    row = cat.instance("gpu_1x_h100_sxm5", as_of="2026-12-01")
    assert (row["gpu"], row["usd_per_hour"], row["source"].startswith("SkyPilot")) == ("H100-SXM", 4.29, True)
    shown = refresh.show("instances", "2026-12-01", cat)
    shown = shown[shown.pricing == "on-demand"].set_index("instance")
    assert shown.loc["gpu_2x_h100_sxm5", "usd_per_gpu_hour"] == pytest.approx(4.19)


def test_show_cli_and_its_bad_table(capsys):
    from workbench.cli import main

    assert main(["catalog", "show", "gpus"]) == 0
    out = capsys.readouterr().out
    assert "H100-SXM" in out and "rows in force on" in out
    with pytest.raises(CatalogError, match="table: must be one of"):
        refresh.show("prices")
