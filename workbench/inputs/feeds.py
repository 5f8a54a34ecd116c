"""API prices from a maintained feed: pydantic's ``genai-prices`` (its data ships inside the
wheel, so this works offline), turned into rows of ``apis.csv``.

Why genai-prices and not LiteLLM's price JSON as the default: genai-prices is a small pydantic
package whose bundled data carries each price's **start date** (a change is a new dated price,
so history survives), tiered prices, cached-input prices and, since 0.2, batch prices as a
``processing=batch`` variant; LiteLLM's JSON has no dates and comes inside the heavy ``litellm``
package (not installed here: too heavy for a price table). For what the feed lacks, a user
drops a LiteLLM ``model_prices_and_context_window.json`` into the catalog overrides directory:
``catalog.import_litellm`` reads it as dated rows that win from the file's date on.

Which models are pulled: :data:`FEED_MODELS` (current frontier APIs and hosted open-model
endpoints, keyed by LiteLLM-style names like the rest of ``apis.csv``) plus every model
already in the catalog that the feed prices (e.g. ``gpt-4o``), so the catalog and the feed
agree wherever both hold a model. Prices are USD per token (the feed's per-million figures
divided by 1e6). A tiered price (e.g. above 200k prompt tokens) is recorded at its base tier,
with the tiers in ``notes``.

Dates: each of the feed's dated prices becomes a row with ``valid_from``/``valid_to``. For a
model that also has older hand-entered rows, the feed's undated price starts on the refresh
date (``as_of``), so the older rows stay as history — unless the feed's price equals the row
already in force, in which case no row is added.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from .catalog import CatalogError

FEED = "genai-prices"
SOURCE_PREFIX = FEED + " "

# litellm_provider (apis.csv) -> genai-prices provider id
PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google", "mistral": "mistral",
             "groq": "groq", "together_ai": "together", "fireworks_ai": "fireworks",
             "deepseek": "deepseek", "cerebras": "cerebras", "xai": "x-ai"}

# (catalog key, litellm_provider, feed model id, open weights served (models.csv name) or "")
FEED_MODELS: tuple[tuple[str, str, str, str], ...] = (
    # OpenAI: GPT-5 family, GPT-4.1 family, o-series
    ("gpt-5", "openai", "gpt-5", ""), ("gpt-5-mini", "openai", "gpt-5-mini", ""),
    ("gpt-5-nano", "openai", "gpt-5-nano", ""), ("gpt-5-pro", "openai", "gpt-5-pro", ""),
    ("gpt-5.1", "openai", "gpt-5.1", ""), ("gpt-5.2", "openai", "gpt-5.2", ""),
    ("gpt-5.4", "openai", "gpt-5.4", ""), ("gpt-5.4-mini", "openai", "gpt-5.4-mini", ""),
    ("gpt-5.4-nano", "openai", "gpt-5.4-nano", ""), ("gpt-5.5", "openai", "gpt-5.5", ""),
    ("gpt-4.1", "openai", "gpt-4.1", ""), ("gpt-4.1-mini", "openai", "gpt-4.1-mini", ""),
    ("gpt-4.1-nano", "openai", "gpt-4.1-nano", ""), ("o3", "openai", "o3", ""),
    ("o3-pro", "openai", "o3-pro", ""), ("o4-mini", "openai", "o4-mini", ""),
    # Anthropic: Claude 4.x and 5
    ("claude-haiku-4-5", "anthropic", "claude-haiku-4-5", ""),
    ("claude-sonnet-4-0", "anthropic", "claude-sonnet-4-0", ""),
    ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", ""),
    ("claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6", ""),
    ("claude-opus-4-1", "anthropic", "claude-opus-4-1", ""),
    ("claude-opus-4-5", "anthropic", "claude-opus-4-5", ""),
    ("claude-opus-4-7", "anthropic", "claude-opus-4-7", ""),
    ("claude-sonnet-5", "anthropic", "claude-sonnet-5", ""),
    ("claude-opus-5", "anthropic", "claude-opus-5", ""),
    # Google: Gemini 2.5 and 3.x
    ("gemini/gemini-2.5-pro", "gemini", "gemini-2.5-pro", ""),
    ("gemini/gemini-2.5-flash", "gemini", "gemini-2.5-flash", ""),
    ("gemini/gemini-2.5-flash-lite", "gemini", "gemini-2.5-flash-lite", ""),
    ("gemini/gemini-3-flash-preview", "gemini", "gemini-3-flash-preview", ""),
    ("gemini/gemini-3.1-pro-preview", "gemini", "gemini-3.1-pro-preview", ""),
    ("gemini/gemini-3.1-flash-lite", "gemini", "gemini-3.1-flash-lite", ""),
    ("gemini/gemini-3.5-flash", "gemini", "gemini-3.5-flash", ""),
    ("gemini/gemini-3.6-flash", "gemini", "gemini-3.6-flash", ""),
    # hosted open-weight models
    ("groq/openai/gpt-oss-120b", "groq", "openai/gpt-oss-120b", "gpt-oss-120b"),
    ("groq/openai/gpt-oss-20b", "groq", "openai/gpt-oss-20b", "gpt-oss-20b"),
    ("groq/llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile", "Llama-3.3-70B"),
    ("groq/llama-3.1-8b-instant", "groq", "llama-3.1-8b-instant", "Llama-3.1-8B"),
    ("groq/qwen/qwen3-32b", "groq", "qwen/qwen3-32b", "Qwen3-32B"),
    ("groq/meta-llama/llama-4-scout-17b-16e-instruct", "groq",
     "meta-llama/llama-4-scout-17b-16e-instruct", "Llama-4-Scout"),
    ("groq/meta-llama/llama-4-maverick-17b-128e-instruct", "groq",
     "meta-llama/llama-4-maverick-17b-128e-instruct", "Llama-4-Maverick"),
    ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "together_ai",
     "meta-llama/Llama-3.3-70B-Instruct-Turbo", "Llama-3.3-70B"),
    ("together_ai/meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "together_ai",
     "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "Llama-4-Maverick"),
    ("together_ai/meta-llama/Llama-4-Scout-17B-16E-Instruct", "together_ai",
     "meta-llama/Llama-4-Scout-17B-16E-Instruct", "Llama-4-Scout"),
    ("together_ai/openai/gpt-oss-120b", "together_ai", "openai/gpt-oss-120b", "gpt-oss-120b"),
    ("fireworks_ai/accounts/fireworks/models/gpt-oss-120b", "fireworks_ai", "gpt-oss-120b",
     "gpt-oss-120b"),
    ("fireworks_ai/accounts/fireworks/models/gpt-oss-20b", "fireworks_ai", "gpt-oss-20b",
     "gpt-oss-20b"),
    ("fireworks_ai/accounts/fireworks/models/qwen3-235b-a22b", "fireworks_ai", "qwen3-235b-a22b",
     "Qwen3-235B-A22B"),
    ("fireworks_ai/accounts/fireworks/models/gemma-3-27b-it", "fireworks_ai", "gemma-3-27b-it",
     "Gemma-3-27B"),
    ("fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct", "fireworks_ai",
     "llama-v3p1-8b-instruct", "Llama-3.1-8B"),
    ("fireworks_ai/accounts/fireworks/models/deepseek-v3-0324", "fireworks_ai", "deepseek-v3-0324",
     "DeepSeek-V3"),
    ("cerebras/gpt-oss-120b", "cerebras", "gpt-oss-120b", "gpt-oss-120b"),
    ("deepseek/deepseek-chat", "deepseek", "deepseek-chat", "DeepSeek-V3"),
)
"""Models pulled from the feed on every refresh. Add a tuple to price another one."""

OPEN_WEIGHTS = {key: open_model for key, _, _, open_model in FEED_MODELS if open_model}
"""Hosted open-model endpoint (catalog key) -> the open model it serves (models.csv name)."""


def feed_version() -> str:
    """The installed genai-prices version, e.g. ``0.2.3``; CatalogError when it is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("genai-prices")
    except PackageNotFoundError:
        raise CatalogError("genai-prices is not installed: `pip install genai-prices` "
                           "(the catalog refresh reads its bundled price data)") from None


def _providers() -> dict[str, Any]:
    feed_version()
    from genai_prices.data import providers  # the bundled data; no network

    return {p.id: p for p in providers}


def _resolve(providers: dict[str, Any], litellm_provider: str, model_id: str, exact: bool):
    """(provider, model) of the feed, or None. ``exact``: the feed's own id; otherwise the
    feed's matching rules (as ``genai_prices.calc_price`` would resolve the name)."""
    pid = PROVIDERS.get(litellm_provider)
    provider = providers.get(pid) if pid else None
    if provider is None:
        return None
    if exact:
        hit = next((m for m in provider.models if m.id == model_id), None)
    else:
        hit = next((m for m in provider.models if m.is_match(model_id)), None)
    return (provider, hit) if hit is not None else None


def _per_token(value, what: str) -> tuple[float | None, str]:
    """A feed price (USD/Mtok, Decimal or tiered) as USD/token, plus a note on its tiers."""
    from genai_prices.types import TieredPrices

    if value is None:
        return None, ""
    if isinstance(value, TieredPrices):
        tiers = "; ".join(f"{what} {t.price}/Mtok above {t.start:,} tokens" for t in value.tiers)
        return float(Decimal(value.base) / Decimal(1_000_000)), tiers
    return float(Decimal(value) / Decimal(1_000_000)), ""


def _periods(model) -> list[tuple[str, str]]:
    """(valid_from, valid_to) of each dated price of a feed model, oldest first; '' = open.
    Time-of-day prices (off-peak discounts) are not periods: the all-day price stands."""
    from genai_prices.types import StartDateConstraint

    conds = model.prices if isinstance(model.prices, list) else []
    starts = sorted({c.constraint.start_date.isoformat() for c in conds
                     if isinstance(c.constraint, StartDateConstraint)})
    if not conds or any(c.constraint is None for c in conds):
        starts = ["", *starts]
    return [(s, starts[i + 1] if i + 1 < len(starts) else "") for i, s in enumerate(starts)]


def _probe(start: str, end: str, as_of: str) -> str:
    """A day inside the period [start, end) at which to read the feed's prices."""
    if start:
        return start
    if end and end <= as_of:
        return (dt.date.fromisoformat(end) - dt.timedelta(days=1)).isoformat()
    return as_of


def _row(key: str, litellm_provider: str, mode: str, provider, model, when: str, as_of: str,
         open_model: str) -> dict[str, Any]:
    """One apis.csv row for the feed's price in force on ``when`` (YYYY-MM-DD)."""
    stamp = dt.datetime.fromisoformat(when).replace(hour=12, tzinfo=dt.timezone.utc)  # peak hours
    std = model.get_prices(stamp)
    batch = model.get_prices(stamp, {"processing": "batch"})
    notes = []
    inp, n1 = _per_token(std.input_mtok, "input")
    out, n2 = _per_token(std.output_mtok, "output")
    cached, n3 = _per_token(std.cache_read_mtok, "cached input")
    b_in = _per_token(batch.input_mtok, "")[0] if batch != std else None
    b_out = _per_token(batch.output_mtok, "")[0] if batch != std else None
    if inp is None:
        raise CatalogError(f"{FEED}: {provider.id}/{model.id}: no input price in the feed")
    if out is None:
        if mode != "embedding":
            raise CatalogError(f"{FEED}: {provider.id}/{model.id}: no output price in the feed")
        out, b_out = 0.0, (0.0 if b_in is not None else None)
    notes += [n for n in (n1, n2, n3) if n]
    if open_model:
        notes.append(f"hosted open weights: {open_model}")
    if model.deprecated:
        notes.append("deprecated by the provider")
    return {"model": key, "litellm_provider": litellm_provider, "mode": mode,
            "input_cost_per_token": inp, "output_cost_per_token": out,
            "cache_read_input_token_cost": cached, "input_cost_per_token_batches": b_in,
            "output_cost_per_token_batches": b_out, "max_input_tokens": model.context_window,
            "max_output_tokens": None, "valid_from": None, "valid_to": None, "as_of": as_of,
            "source": f"{SOURCE_PREFIX}{feed_version()} bundled data: {provider.id}/{model.id}",
            "verified": True, "notes": "; ".join(notes)}


PRICE_COLUMNS = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
                 "input_cost_per_token_batches", "output_cost_per_token_batches")


def _same_price(feed: dict, row: dict) -> bool:
    """Whether ``row`` has the feed's prices (a price the feed lacks, e.g. an embedding's batch
    price, is not a disagreement)."""
    return bool(row) and all(_close(feed[c], row.get(c)) for c in PRICE_COLUMNS if feed[c] is not None)


def _close(x, y) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return abs(float(x) - float(y)) <= 1e-12 + 1e-9 * abs(float(y))


def _in_force(rows: list[dict], when: str) -> dict | None:
    live = [r for r in rows if (r["valid_from"] or "") <= when and (not r["valid_to"] or r["valid_to"] > when)]
    return max(live, key=lambda r: (r["valid_from"] or "", r["as_of"]), default=None)


def feed_api_rows(existing: list[dict[str, Any]], as_of: str) -> list[dict[str, Any]]:
    """The feed's rows for :data:`FEED_MODELS` and for every model of ``existing`` (apis.csv
    rows not from the feed) that the feed prices. Rows of a model with hand-entered history
    start no earlier than that history's latest ``valid_from`` (see the module docstring)."""
    providers = _providers()
    hand: dict[str, list[dict]] = {}
    for r in existing:
        hand.setdefault(r["model"], []).append(r)
    wanted = [(k, lp, mid, om, True) for k, lp, mid, om in FEED_MODELS]
    wanted += [(k, rows[0]["litellm_provider"], k.split("/", 1)[-1], "", False)
               for k, rows in hand.items() if k not in {w[0] for w in wanted}]
    out = []
    for key, lp, model_id, open_model, exact in wanted:
        hit = _resolve(providers, lp, model_id, exact)
        if hit is None:
            if exact:
                raise CatalogError(f"{FEED} {feed_version()}: no model {model_id!r} for provider "
                                   f"{PROVIDERS.get(lp, lp)!r} (FEED_MODELS entry {key!r})")
            continue
        mode = hand[key][0]["mode"] if key in hand else "chat"
        out += _model_rows(key, lp, mode, *hit, as_of, open_model, hand.get(key, []))
    return out


def _model_rows(key, lp, mode, provider, model, as_of, open_model, history) -> list[dict]:
    """Rows of one model: every dated price of the feed; with hand-entered ``history``, only
    from its latest ``valid_from`` (``floor``) on, and the price straddling the floor only
    where it differs from the row in force (from the refresh date: its start is unknown)."""
    floor = max((r["valid_from"] or "" for r in history), default="")
    rows = []
    for start, end in _periods(model):
        if history and end and end <= floor:
            continue  # the hand-entered rows already cover this period
        row = _row(key, lp, mode, provider, model, _probe(start, end, as_of), as_of, open_model)
        if history and start <= floor:
            if _same_price(row, _in_force(history, max(as_of, floor) if not end else floor) or {}):
                continue  # the feed agrees with the row already in force
            if end and end <= as_of:
                continue  # a different price that ended before we saw it: its start is unknown
            start = as_of
        row["valid_from"], row["valid_to"] = start or None, end or None
        rows.append(row)
    return rows
