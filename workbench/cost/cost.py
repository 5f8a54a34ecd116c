"""Cost model: pure functions from prices, token counts and capacity to $/request, $/Mtok and
monthly cost vs volume. Break-even and flip volumes between options are in
:mod:`workbench.cost.breakeven`.

Numbers in, numbers out: no I/O. Volume arguments accept scalars or numpy arrays (the result
has the same shape). A month is ``HOURS_PER_MONTH`` = 730 hours. Prices come from
:mod:`workbench.inputs.catalog` (the caller picks on-demand / spot / reserved); capacity at SLO comes
from a measured load sweep (:func:`capacity_from_sweep`) or a projection.

Self-hosted (GPU or CPU alike)::

    peak_rps   = requests_per_month / (730 * 3600) * peak_factor
    replicas   = max(min_replicas, ceil(peak_rps / capacity_rps))
    usd/month  = replicas * usd_per_hour * 730 + fixed_usd_per_month
                 + requests_per_month * variable_usd_per_request       (e.g. energy)

API::

    usd/request = (input - cached) * p_in + cached * p_cached + output * p_out   (x (1 - batch discount))
    usd/month   = requests_per_month * usd/request
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import WorkbenchError

HOURS_PER_MONTH = 730.0
"""The cost model's month (8,760 hours a year / 12), the one definition every stage uses."""
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0  # 30.42
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
KINDS = ("api", "self-hosted")


class CostError(WorkbenchError, ValueError):
    """Cost inputs that cannot be used; the message names the parameter (and option) and value."""


def checked(value: Any, name: str, *, positive: bool = False, where: str = "") -> np.ndarray:
    """``value`` as a float array, checked finite and >= 0 (> 0 when ``positive``); a
    CostError naming ``name`` (and ``where``) otherwise. Every cost input passes through it."""
    prefix = f"{where}: " if where else ""
    if value is None:
        raise CostError(f"{prefix}{name}: missing (got None)")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise CostError(f"{prefix}{name}: must be a number, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise CostError(f"{prefix}{name}: must be finite, got {value!r}")
    if positive and not np.all(arr > 0):
        raise CostError(f"{prefix}{name}: must be > 0, got {value!r}")
    if not np.all(arr >= 0):
        raise CostError(f"{prefix}{name}: must be >= 0, got {value!r}")
    return arr


def _out(arr: np.ndarray):
    return arr.item() if arr.ndim == 0 else arr


# --- API ---------------------------------------------------------------------------------

def api_usd_per_request(input_tokens, output_tokens, *, input_usd_per_token,
                        output_usd_per_token, cached_input_tokens=0,
                        cached_input_usd_per_token=None, batch=False, batch_discount=0.5):
    """USD per request of a per-token API.

    ``(input_tokens - cached_input_tokens) * input_usd_per_token
    + cached_input_tokens * cached_input_usd_per_token + output_tokens * output_usd_per_token``,
    times ``(1 - batch_discount)`` when ``batch``. Cached tokens are part of ``input_tokens``;
    with no cached price they cost the full input price. Use the catalog's explicit
    ``*_batches`` prices with ``batch=False`` when it has them.
    """
    n_in = checked(input_tokens, "input_tokens")
    n_out = checked(output_tokens, "output_tokens")
    n_cached = checked(cached_input_tokens, "cached_input_tokens")
    if np.any(n_cached > n_in):
        raise CostError(f"cached_input_tokens: {cached_input_tokens!r} exceeds input_tokens {input_tokens!r}")
    p_in = checked(input_usd_per_token, "input_usd_per_token")
    p_out = checked(output_usd_per_token, "output_usd_per_token")
    p_cached = p_in if cached_input_usd_per_token is None else checked(
        cached_input_usd_per_token, "cached_input_usd_per_token")
    usd = (n_in - n_cached) * p_in + n_cached * p_cached + n_out * p_out
    if batch:
        d = float(checked(batch_discount, "batch_discount"))
        if d > 1:
            raise CostError(f"batch_discount: must be a fraction in [0, 1], got {batch_discount!r}")
        usd = usd * (1.0 - d)
    return _out(usd)


def requests_per_month(daily_requests):
    """Monthly volume from a daily one: daily × 730/24 (requests/month)."""
    return _out(checked(daily_requests, "daily_requests") * DAYS_PER_MONTH)


def api_usd_per_month(requests_per_month, usd_per_request):
    """USD per month of an API: ``requests_per_month * usd_per_request``."""
    return _out(checked(requests_per_month, "requests_per_month") * checked(usd_per_request, "usd_per_request"))


def blended_usd_per_mtok(input_usd_per_mtok, output_usd_per_mtok, input_weight=3.0, output_weight=1.0):
    """Artificial Analysis' blended price, USD per 1M tokens:
    ``(3 * input + 1 * output) / 4`` by default. For comparisons only; costs use real token mixes."""
    w_in, w_out = float(checked(input_weight, "input_weight")), float(checked(output_weight, "output_weight"))
    if w_in + w_out == 0:
        raise CostError("input_weight + output_weight: must be > 0")
    return _out((w_in * checked(input_usd_per_mtok, "input_usd_per_mtok")
                 + w_out * checked(output_usd_per_mtok, "output_usd_per_mtok")) / (w_in + w_out))


# --- self-hosted -------------------------------------------------------------------------

def peak_requests_per_s(requests_per_month, peak_factor=1.0):
    """Peak arrival rate, requests/s: ``requests_per_month / (730 * 3600) * peak_factor``."""
    pf = checked(peak_factor, "peak_factor", positive=True)
    return _out(checked(requests_per_month, "requests_per_month") / SECONDS_PER_MONTH * pf)


def replicas_needed(requests_per_month, *, capacity_rps, peak_factor=1.0, min_replicas=1):
    """Replicas to serve the peak: ``max(min_replicas, ceil(peak_rps / capacity_rps))``.

    ``capacity_rps`` is requests/s one replica sustains within the SLO (measured or projected).
    Returns integers (an int64 array for array volumes).
    """
    cap, min_reps, pf = _replica_inputs(capacity_rps, min_replicas, peak_factor)
    volume = checked(requests_per_month, "requests_per_month")
    return _out(_self_hosted(volume, cap, 0.0, pf, min_reps, 0.0, 0.0)[0])


def _replica_inputs(capacity_rps, min_replicas, peak_factor) -> tuple[np.ndarray, int, np.ndarray]:
    cap = checked(capacity_rps, "capacity_rps (requests/s one replica sustains at the SLO)", positive=True)
    if isinstance(min_replicas, bool) or int(min_replicas) != min_replicas or min_replicas < 0:
        raise CostError(f"min_replicas: must be a whole number >= 0, got {min_replicas!r}")
    return cap, int(min_replicas), checked(peak_factor, "peak_factor", positive=True)


def _self_hosted(volume, capacity_rps, usd_per_hour, peak_factor, min_replicas,
                 fixed_usd_per_month, variable_usd_per_request):
    """``(replicas, usd_per_month)`` of already checked inputs (arrays broadcast: one row per
    option in :func:`monthly_cost_arrays`). The one place the self-hosted formula is computed,
    so every caller gets the same floats."""
    peak = volume / SECONDS_PER_MONTH * peak_factor
    # tolerance so that a volume computed as k * capacity does not round up to k + 1
    reps = np.maximum(np.ceil(peak / capacity_rps * (1 - 1e-12)), min_replicas).astype(np.int64)
    usd = (reps.astype(float) * usd_per_hour * HOURS_PER_MONTH + fixed_usd_per_month
           + volume * variable_usd_per_request)
    return reps, usd


def self_hosted_usd_per_month(requests_per_month, *, capacity_rps, usd_per_hour, peak_factor=1.0,
                              min_replicas=1, fixed_usd_per_month=0.0, variable_usd_per_request=0.0):
    """USD per month of a self-hosted deployment (GPU or CPU instances alike):
    ``replicas * usd_per_hour * 730 + fixed_usd_per_month + requests_per_month * variable_usd_per_request``.

    Idle capacity is paid for: replicas run all month, sized for the peak. ``usd_per_hour`` is
    one replica's instance price (on-demand, spot or reserved, chosen by the caller);
    ``variable_usd_per_request`` holds per-request costs such as energy.
    """
    volume = checked(requests_per_month, "requests_per_month")
    cap, min_reps, pf = _replica_inputs(capacity_rps, min_replicas, peak_factor)
    return _out(_self_hosted(volume, cap, checked(usd_per_hour, "usd_per_hour"), pf, min_reps,
                             checked(fixed_usd_per_month, "fixed_usd_per_month"),
                             checked(variable_usd_per_request, "variable_usd_per_request"))[1])


def usd_per_request_at_volume(usd_per_month, requests_per_month):
    """Effective USD per request: ``usd_per_month / requests_per_month`` (inf at zero volume
    when anything is paid, 0 when nothing is)."""
    cost = checked(usd_per_month, "usd_per_month")
    volume = checked(requests_per_month, "requests_per_month")
    cost, volume = np.broadcast_arrays(cost, volume)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(volume > 0, cost / np.where(volume > 0, volume, 1), np.where(cost > 0, np.inf, 0.0))
    return _out(out)


def usd_per_mtok(usd_per_request, tokens_per_request):
    """USD per million tokens: ``usd_per_request / tokens_per_request * 1e6``."""
    return _out(checked(usd_per_request, "usd_per_request")
                / checked(tokens_per_request, "tokens_per_request", positive=True) * 1e6)


def usd_per_mtok_at_full_load(usd_per_hour, tokens_per_s):
    """USD per million tokens of a replica kept busy: ``usd_per_hour / (3600 * tokens_per_s) * 1e6``
    (a lower bound: real volumes leave capacity idle)."""
    return _out(checked(usd_per_hour, "usd_per_hour")
                / (3600.0 * checked(tokens_per_s, "tokens_per_s", positive=True)) * 1e6)


def energy_usd_per_token(joules_per_token, usd_per_kwh):
    """USD of electricity per token: ``joules_per_token / 3.6e6 * usd_per_kwh`` (1 kWh = 3.6 MJ)."""
    return _out(checked(joules_per_token, "joules_per_token") / 3.6e6 * checked(usd_per_kwh, "usd_per_kwh"))


# --- options and curves ------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One way to serve a workload, priced per month as a function of volume.

    kind "api": ``usd_per_request`` (see :func:`api_usd_per_request`).
    kind "self-hosted": ``capacity_rps`` (requests/s per replica at the SLO), ``usd_per_hour``
    (per replica), ``peak_factor``, ``min_replicas``, ``fixed_usd_per_month`` (ops),
    ``variable_usd_per_request`` (energy, ...). ``fixed_usd_per_month`` also applies to APIs.
    ``training_usd_per_month``: a fine-tuned option's training, amortized over its retraining
    period (:mod:`workbench.cost.training`), a fixed monthly amount kept apart from
    ``fixed_usd_per_month`` so that serving and training show as separate line items.
    ``tokens_per_request`` (optional) enables $/Mtok. ``provenance`` maps each input's name to
    its label, e.g. ``{"capacity_rps": "measured (run 2024...)", "usd_per_hour": "published (...)"}``.
    """

    name: str
    kind: str
    usd_per_request: float | None = None
    capacity_rps: float | None = None
    usd_per_hour: float | None = None
    peak_factor: float = 1.0
    min_replicas: int = 1
    fixed_usd_per_month: float = 0.0
    variable_usd_per_request: float = 0.0
    tokens_per_request: float | None = None
    provenance: Mapping[str, str] = field(default_factory=dict)
    training_usd_per_month: float = 0.0

    def __post_init__(self):
        where = f"option {self.name!r}"
        if self.kind not in KINDS:
            raise CostError(f"{where}: field 'kind': must be 'api' or 'self-hosted', got {self.kind!r}")
        if self.kind == "api":
            checked(self.usd_per_request, "usd_per_request", where=where)
        else:
            checked(self.capacity_rps, "capacity_rps (requests/s one replica sustains at the SLO)",
                 positive=True, where=where)
            checked(self.usd_per_hour, "usd_per_hour", where=where)
            checked(self.peak_factor, "peak_factor", positive=True, where=where)
            m = self.min_replicas
            if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 0:
                raise CostError(f"{where}: min_replicas: must be a whole number >= 0, got {m!r}")
        checked(self.fixed_usd_per_month, "fixed_usd_per_month", where=where)
        checked(self.training_usd_per_month, "training_usd_per_month", where=where)
        checked(self.variable_usd_per_request, "variable_usd_per_request", where=where)
        if self.tokens_per_request is not None:
            checked(self.tokens_per_request, "tokens_per_request", positive=True, where=where)

    @property
    def fixed_total_usd_per_month(self) -> float:
        """Every fixed monthly amount: ``fixed_usd_per_month + training_usd_per_month``."""
        return float(self.fixed_usd_per_month) + float(self.training_usd_per_month)

    @property
    def usd_per_request_variable(self) -> float:
        """Slope of the monthly cost, USD per request."""
        if self.kind == "api":
            return float(self.usd_per_request) + self.variable_usd_per_request
        return float(self.variable_usd_per_request)

    @property
    def step_requests_per_month(self) -> float | None:
        """Volume one more replica adds: ``capacity_rps * 730 * 3600 / peak_factor`` (None for APIs)."""
        if self.kind == "api":
            return None
        return self.capacity_rps * SECONDS_PER_MONTH / self.peak_factor

    def replicas(self, requests_per_month):
        """Replicas at each volume (see :func:`replicas_needed`); 0 for an API."""
        volume = checked(requests_per_month, "requests_per_month")
        if self.kind == "api":
            return _out(np.zeros_like(volume, dtype=np.int64))
        return _out(self._self_hosted(volume)[0])

    def usd_per_month(self, requests_per_month):
        """Monthly cost in USD at each volume (requests/month)."""
        volume = checked(requests_per_month, "requests_per_month")
        if self.kind == "api":
            return _out(volume * self.usd_per_request_variable + self.fixed_total_usd_per_month)
        return _out(self._self_hosted(volume)[1])

    def _self_hosted(self, volume):
        # fields were checked in __post_init__: see self_hosted_usd_per_month for the formula
        return _self_hosted(volume, float(self.capacity_rps), float(self.usd_per_hour),
                            float(self.peak_factor), int(self.min_replicas),
                            self.fixed_total_usd_per_month, float(self.variable_usd_per_request))

    def provenance_label(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.provenance.items())


def _price_label(row: Mapping[str, Any]) -> str:
    source = str(row.get("source") or "")
    kind = "assumed" if source.lower().startswith("assumed") else "published"
    flag = "" if row.get("verified") else ", unverified"
    return f"{kind} ({source}; as of {row.get('as_of')}{flag})"


def _price(row: Mapping[str, Any], col: str, what: str) -> float:
    value = row.get(col)
    where = f"{row.get('catalog_file') or 'catalog'}: {what}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise CostError(f"{where}: field {col!r}: missing price")
    return float(checked(value, f"field {col!r}", where=where))


def api_option(price: Mapping[str, Any], *, input_tokens: float, output_tokens: float,
               cached_input_tokens: float = 0.0, batch: bool = False, name: str | None = None,
               tokens_provenance: str = "assumed") -> Option:
    """An API option from a catalog price row (``Catalog.api(model)``: LiteLLM fields) and a
    request's token counts. Batch uses the row's ``*_batches`` prices when present, else 50% off."""
    what = f"API model {price.get('model')!r}"
    p_in, p_out = _price(price, "input_cost_per_token", what), _price(price, "output_cost_per_token", what)
    cached = price.get("cache_read_input_token_cost")
    b_in, b_out = price.get("input_cost_per_token_batches"), price.get("output_cost_per_token_batches")
    has_batch = batch and b_in is not None and b_out is not None
    usd = api_usd_per_request(
        input_tokens, output_tokens,
        input_usd_per_token=_price(price, "input_cost_per_token_batches", what) if has_batch else p_in,
        output_usd_per_token=_price(price, "output_cost_per_token_batches", what) if has_batch else p_out,
        cached_input_tokens=cached_input_tokens,
        cached_input_usd_per_token=None if cached is None else _price(price, "cache_read_input_token_cost", what),
        batch=batch and not has_batch)
    return Option(name=name or str(price.get("model")), kind="api", usd_per_request=float(usd),
                  tokens_per_request=float(input_tokens) + float(output_tokens) or None,
                  provenance={"usd_per_token": _price_label(price), "tokens": tokens_provenance})


def self_hosted_option(instance: Mapping[str, Any], *, capacity_rps: float, capacity_provenance: str,
                       name: str | None = None, **fields: Any) -> Option:
    """A self-hosted option from a catalog instance row (``Catalog.instance(...)``) and the
    capacity one replica sustains at the SLO, with where that capacity came from
    (e.g. "measured (run ...)", "projected (calibrated on 3 runs, median error 12%)").
    ``fields``: other :class:`Option` fields (peak_factor, min_replicas, fixed_usd_per_month,
    variable_usd_per_request, tokens_per_request)."""
    what = f"instance {instance.get('instance')!r} ({instance.get('pricing')})"
    return Option(
        name=name or f"{instance.get('instance')} ({instance.get('pricing')})", kind="self-hosted",
        capacity_rps=capacity_rps, usd_per_hour=_price(instance, "usd_per_hour", what), **fields,
        provenance={"capacity_rps": capacity_provenance, "usd_per_hour": _price_label(instance)})


def monthly_cost_arrays(options: Sequence[Option], volumes) -> tuple[np.ndarray, np.ndarray]:
    """``(usd_per_month, replicas)``, each of shape (options, volumes): every option's
    :meth:`Option.usd_per_month` and :meth:`Option.replicas` (0 for APIs) at every volume
    (requests/month), computed for all options at once (the same floats, one numpy pass)."""
    vol = np.atleast_1d(checked(volumes, "volumes")).astype(float)
    usd = np.empty((len(options), len(vol)))
    reps = np.zeros((len(options), len(vol)), dtype=np.int64)
    api = [i for i, o in enumerate(options) if o.kind == "api"]
    hosted = [i for i, o in enumerate(options) if o.kind != "api"]
    if api:
        slope = np.array([[options[i].usd_per_request_variable] for i in api])
        usd[api] = vol * slope + np.array([[options[i].fixed_total_usd_per_month] for i in api])
    if hosted:
        cols = [np.array([[float(getattr(options[i], f))] for i in hosted]) for f in (
            "capacity_rps", "usd_per_hour", "peak_factor", "min_replicas", "fixed_total_usd_per_month",
            "variable_usd_per_request")]
        reps[hosted], usd[hosted] = _self_hosted(vol, *cols)
    return usd, reps


def monthly_cost_curves(options: Sequence[Option], volumes):
    """Tidy DataFrame, one row per option x volume: option, kind, requests_per_month,
    usd_per_month, replicas (<NA> for APIs), usd_per_request (effective, idle capacity
    included), usd_per_mtok (NaN without tokens_per_request), provenance.
    Rows are option-major in the order of ``options``, volumes in the order given."""
    import pandas as pd

    vol = np.atleast_1d(checked(volumes, "volumes")).astype(float)
    cols = ["option", "kind", "requests_per_month", "usd_per_month", "replicas",
            "usd_per_request", "usd_per_mtok", "provenance"]
    if not len(options):
        return pd.DataFrame(columns=cols)
    usd, reps = monthly_cost_arrays(options, vol)
    per_req = usd_per_request_at_volume(usd, vol)
    tokens = np.array([[o.tokens_per_request or np.nan] for o in options], dtype=float)
    is_api = np.repeat([o.kind == "api" for o in options], len(vol))

    def each(values):
        return np.repeat(np.array(values, dtype=object), len(vol))

    return pd.DataFrame({
        "option": each([o.name for o in options]), "kind": each([o.kind for o in options]),
        "requests_per_month": np.tile(vol, len(options)), "usd_per_month": usd.ravel(),
        "replicas": pd.arrays.IntegerArray(reps.ravel(), is_api),
        "usd_per_request": per_req.ravel(), "usd_per_mtok": (per_req / tokens * 1e6).ravel(),
        "provenance": each([o.provenance_label() for o in options])}, columns=cols)


# --- measured capacity -------------------------------------------------------------------

_SLO_METRICS = ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms")
CAPACITY_MAX_ERROR_RATE = 0.01
"""A load point whose requests failed more often than this does not meet the SLO (a failed
request is not a slow one, but a point that sheds load has not sustained it)."""


def capacity_from_sweep(summary_df, slo: Mapping[str, float] | None, *, percentile: str = "p90",
                        max_error_rate: float = CAPACITY_MAX_ERROR_RATE) -> float:
    """Requests/s one replica sustains within the SLO, from a measured load sweep: THE capacity
    rule of the workbench (the option builder, hence the report, the dashboard and the claims,
    take it from here).

    Walk the load points from the lightest offered load up (request rate for a rate sweep, else
    concurrency) and stop at the first point that misses; the capacity is the achieved
    ``request_throughput`` of the last point that met the SLO (0.0 when even the lightest
    missed). A point meets it when every latency the ``slo`` names — ``ttft_ms`` / ``tpot_ms`` /
    ``itl_ms`` / ``e2el_ms`` read at ``percentile``, or an explicit column such as
    ``p99_ttft_ms`` — is within its limit (ms), at most ``max_error_rate`` of its requests
    failed, and some completed. Why stop at the first miss: a noisy sweep must not buy capacity
    it never sustained — a heavier point that met the SLO after a lighter one missed is luck,
    and the replicas priced on it would miss the SLO at the load in between.

    ``summary_df`` has one row per load point (``workbench.measure.metrics.summarize``).
    """
    if summary_df is None or len(summary_df) == 0:
        return 0.0
    cols = set(summary_df.columns)
    if "request_throughput" not in cols:
        raise CostError("capacity_from_sweep: summary has no 'request_throughput' column "
                        f"(columns: {', '.join(map(str, summary_df.columns))})")
    limits = {}
    for key, limit in (slo or {}).items():
        if limit is None:
            continue
        col = f"{percentile}_{key}" if key in _SLO_METRICS else key
        if col not in cols:
            raise CostError(f"capacity_from_sweep: SLO {key!r} needs column {col!r}, which the "
                            f"summary lacks (columns: {', '.join(map(str, summary_df.columns))})")
        limits[col] = float(checked(limit, f"slo[{key!r}]"))
    capacity = 0.0
    for point in _by_offered_load(summary_df):
        if not _meets(point, limits, max_error_rate):
            break
        capacity = float(point["request_throughput"])
    return capacity


def _by_offered_load(summary_df) -> list[dict]:
    rows = summary_df.to_dict("records")
    rates = [r.get("request_rate") for r in rows]
    is_rate = any(isinstance(x, (int, float)) and math.isfinite(x) for x in rates if x is not None)
    key = "request_rate" if is_rate else "concurrency"
    if key not in summary_df.columns:
        return rows
    return sorted(rows, key=lambda r: r[key] if r.get(key) is not None and r[key] == r[key] else math.inf)


def _meets(point: dict, limits: dict[str, float], max_error_rate: float) -> bool:
    if "completed" in point and not (point["completed"] or 0):
        return False
    err = point.get("error_rate")
    if err is not None and err == err and err > max_error_rate:
        return False
    thr = point["request_throughput"]
    if thr is None or not math.isfinite(float(thr)):
        return False
    return all(point[col] is not None and point[col] == point[col] and point[col] <= lim
               for col, lim in limits.items())
