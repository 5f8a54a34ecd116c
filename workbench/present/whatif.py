"""What-if scenarios over the report's decision, without widgets (the dashboard's model).

Everything slow happens once, in :func:`load_data`: workloads, catalog, results and the
priced options of each workload (:func:`workbench.decide.pipeline.price_workload`). A :class:`Scenario`
holds the control values; :func:`apply_scenario` applies it to those options (instance price
and pricing type, minimum replicas, peak factor, API price overrides) and :func:`evaluate`
calls :func:`workbench.decide.decision.decide` — the function the report calls — over
``VOLUME_POINTS`` log-spaced volumes. :func:`at_volume` moves a decision to another expected
volume without deciding again. :mod:`workbench.present.dashboard` draws it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..cost import cost
from ..decide import decision, pipeline
from ..decide.candidates import candidates as find_candidates
from ..errors import DashboardError
from ..inputs.workloads import load_workload

VOLUME_POINTS = 200
VOLUME_MIN_REQUESTS_PER_MONTH = 1e3
VOLUME_MAX_REQUESTS_PER_MONTH = 1e9
SLO_KEYS = ("e2el_ms", "ttft_ms", "tpot_ms")
OVERRIDE = "assumed (set in dashboard)"


# ----------------------------------------------------------------------------- data and scenario
@dataclass
class DashboardData:
    """What the dashboard computes over, loaded once.

    ``options`` maps a workload name to its priced options (``cost.Option``, built for the
    workload's own SLO), ``quality`` to ``{option: quality.QualityEstimate}``,
    ``token_profiles`` to ``{prompt_tokens_mean, output_tokens_mean, provenance}``.
    With ``inputs`` (a :class:`workbench.decide.pipeline.Inputs`: results, catalog, calibration fits,
    pricing, ...), a workload's entries are built on first use, and again once per distinct SLO
    when the SLO is changed (capacity at SLO changes), with the report's own call,
    :func:`workbench.decide.pipeline.price_workload`.
    """

    workloads: dict
    options: dict = field(default_factory=dict)
    token_profiles: dict = field(default_factory=dict)
    quality: dict = field(default_factory=dict)
    catalog: object = None
    inputs: object = None  # workbench.decide.pipeline.Inputs
    left_out: dict = field(default_factory=dict)  # workload -> notes on stored runs that are not evidence
    _built: dict = field(default_factory=dict, repr=False)

    def ensure(self, name: str) -> None:
        """Build the workload's options, quality and token profile if not built yet."""
        if name in self.options or self.inputs is None:
            return
        options, quality, tokens, notes = self._build(self.workloads[name])
        self.options[name], self.quality[name] = options, quality
        self.left_out[name] = [n for n in notes if n.startswith("left out run")]
        self.token_profiles[name] = {"prompt_tokens_mean": tokens["input_tokens"],
                                     "output_tokens_mean": tokens["output_tokens"],
                                     "provenance": tokens["provenance"]}

    def _build(self, workload) -> tuple[list, dict, dict, list]:
        built, quality = pipeline.price_workload(workload, self.inputs)
        return built.options, quality, built.tokens, built.notes

    def inputs_for(self, workload) -> tuple[list, dict]:
        """``(options, quality)`` for the workload as given (its SLO may have been changed)."""
        name = workload.name
        self.ensure(name)
        if workload.slo == self.workloads[name].slo or self.inputs is None:
            return self.options[name], self.quality.get(name, {})
        key = (name, tuple(sorted(workload.slo.items())))
        if key not in self._built:
            self._built[key] = self._build(workload)[:2]
        return self._built[key]


def load_data(workloads="all", *, results_paths=None, pricing: str = "on-demand",
              include_projected: bool = True, apis=None,
              assume_quality: float | None = None) -> DashboardData:
    """Load workloads, catalog, results and the roofline calibration once
    (:func:`workbench.decide.pipeline.load_inputs`); each workload's options are built on first use.
    Parameters as in notebooks/decide.ipynb (the report)."""

    names = pipeline.workload_names(workloads)
    if not names:
        raise DashboardError("no workloads found under data/workloads/")
    inputs = pipeline.load_inputs(results_paths, pricing=pricing, include_projected=include_projected,
                                  apis=apis, assume_quality=assume_quality)
    return DashboardData(workloads={n: load_workload(n) for n in names}, catalog=inputs.catalog, inputs=inputs)


@dataclass(frozen=True)
class Scenario:
    """The control values: everything an architect can change in the dashboard.

    ``usd_per_hour`` maps a self-hosted option to ``(pricing, usd_per_hour, provenance)``;
    ``api_usd_per_mtok`` maps an API option to ``(input, output)`` USD per million tokens.
    ``route_fraction``: share of requests routed to an API in a routed mix (None: no mix).
    ``None`` elsewhere means "as the workload spec / catalog says".
    """

    workload: str
    volume_requests_per_month: float
    peak_factor: float
    min_replicas: int = 1
    quality_floor: float | None = None
    latency_slo_ms: float | None = None
    route_fraction: float | None = None
    usd_per_hour: dict = field(default_factory=dict)
    api_usd_per_mtok: dict = field(default_factory=dict)


def default_scenario(workload) -> Scenario:
    """The scenario the workload's spec describes: its volume, peak factor, floor and SLO."""
    return Scenario(
        workload=workload.name,
        volume_requests_per_month=float(workload.daily_volume) * cost.DAYS_PER_MONTH,
        peak_factor=float(workload.peak_factor),
        quality_floor=(workload.quality_floor or {}).get(workload.primary_metric),
        latency_slo_ms=next((workload.slo[k] for k in SLO_KEYS if k in (workload.slo or {})), None),
    )


def volume_grid(points: int = VOLUME_POINTS, lo: float = VOLUME_MIN_REQUESTS_PER_MONTH,
                hi: float = VOLUME_MAX_REQUESTS_PER_MONTH) -> np.ndarray:
    """``points`` log-spaced volumes from ``lo`` to ``hi`` requests/month."""
    return np.logspace(math.log10(lo), math.log10(hi), points)


def scenario_workload(workload, scenario: Scenario):
    """A copy of ``workload`` with the scenario's volume, peak factor, floor and SLO."""
    w = copy.copy(workload)
    w.daily_volume = scenario.volume_requests_per_month / cost.DAYS_PER_MONTH
    w.peak_factor = scenario.peak_factor
    if scenario.quality_floor is not None:
        w.quality_floor = {**(workload.quality_floor or {}),
                           workload.primary_metric: scenario.quality_floor}
    slo_key = next((k for k in SLO_KEYS if k in (workload.slo or {})), None)
    if scenario.latency_slo_ms is not None and slo_key:
        w.slo = {**workload.slo, slo_key: scenario.latency_slo_ms}
    return w


def apply_scenario(options: list, scenario: Scenario, token_profile: dict | None) -> list:
    """The options with the scenario's overrides: per-instance $/h (and pricing type),
    minimum replicas and peak factor on self-hosted options; API $/Mtok overrides on API
    options, repriced with :func:`workbench.cost.cost.api_usd_per_request` at the workload's mean
    tokens per request. Overridden inputs are labelled ``OVERRIDE`` in their provenance."""
    out = []
    for o in options:
        prov = dict(getattr(o, "provenance", None) or {})
        if o.kind == "self-hosted":
            changes = {"min_replicas": scenario.min_replicas, "peak_factor": scenario.peak_factor}
            price = scenario.usd_per_hour.get(o.name)
            if price is not None:
                changes["usd_per_hour"] = price[1]
                prov["usd_per_hour"] = f"{price[0]}: {price[2]}"
            for k in ("min_replicas", "peak_factor"):
                if getattr(o, k, changes[k]) != changes[k]:
                    prov[k] = OVERRIDE
            o = _replace(o, changes, prov)
        elif o.name in scenario.api_usd_per_mtok and token_profile:
            in_mtok, out_mtok = scenario.api_usd_per_mtok[o.name]
            usd = cost.api_usd_per_request(
                mean_tokens(token_profile, "prompt"), mean_tokens(token_profile, "output"),
                input_usd_per_token=in_mtok / 1e6, output_usd_per_token=out_mtok / 1e6)
            prov["usd_per_request"] = OVERRIDE
            o = _replace(o, {"usd_per_request": float(usd)}, prov)
        out.append(o)
    return out


def _fields(obj) -> set[str]:
    return {f.name for f in dataclasses.fields(obj)}


def _replace(option, changes: dict, provenance: dict):
    names = _fields(option)
    changes = {k: v for k, v in changes.items() if k in names}
    if "provenance" in names:
        changes["provenance"] = provenance
    return dataclasses.replace(option, **changes)


def mean_tokens(profile: dict, which: str) -> float:
    """Mean ``prompt`` or ``output`` tokens per request from a token profile (``options.token_profile``)."""
    return float(profile.get(f"{which}_tokens_mean", 0.0))


def scenario_inputs(data: DashboardData, scenario: Scenario) -> tuple:
    """``(workload, options, quality)`` with the scenario applied: what ``decide.decide`` is given."""
    workload = scenario_workload(data.workloads[scenario.workload], scenario)
    options, quality = data.inputs_for(workload)
    options = apply_scenario(options, scenario, data.token_profiles.get(scenario.workload))
    return workload, options, quality


def evaluate(data: DashboardData, scenario: Scenario, volumes: np.ndarray | None = None,
             inputs: tuple | None = None):
    """The decision for a scenario: :func:`workbench.decide.decision.decide` (the report's function)
    over the overridden options at the expected volume and over ``volumes`` (requests/month);
    without candidates (the dashboard shows the choice and its robustness, not what to measure)."""

    workload, options, quality = inputs or scenario_inputs(data, scenario)
    return decision.decide(workload, options, volume=scenario.volume_requests_per_month,
                         volumes=volume_grid() if volumes is None else volumes,
                         quality=quality, route_fraction=scenario.route_fraction, with_candidates=False)


def at_volume(decision, options: list, volume: float):
    """``decision`` moved to another expected volume (requests/month), for a volume-only change.

    What ``decide.decide`` computes over the volume grid (curves, flips, win ranges) and its
    gates (quality, latency, privacy) do not depend on the expected volume, so they are kept;
    each option's cost at ``volume`` comes from ``cost.monthly_cost_arrays`` (the numbers
    ``cost.monthly_cost_curves`` holds), a routed mix's from its two options at their shares
    of the volume, and the choice is again the cheapest feasible option. Returns None when
    ``decide.decide`` must run again: the routed mix would now combine other options (its
    pair is picked at the expected volume), or a row is neither an option nor the mix.
    A routed mix's flips are interpolated on the grid of the last full decision.
    """
    index = {}
    for i, o in enumerate(options):
        index.setdefault(o.name, i)
    table = decision.table
    names = table["option"].tolist()
    route = getattr(decision, "route", None)
    extra = [n for n in names if n not in index]
    if extra and (route is None or len(extra) != 1):
        return None
    usd_all, reps_all = cost.monthly_cost_arrays(options, [float(volume)])
    usd = {n: float(usd_all[i, 0]) for n, i in index.items()}
    reps = {n: None if options[i].kind == "api" else float(reps_all[i, 0]) for n, i in index.items()}
    if extra:
        routed = _routed_at(table, options, usd, route, float(volume))
        if routed is None:
            return None
        usd[extra[0]], reps[extra[0]] = routed
    table = table.copy()
    table["usd_per_month"] = [usd[n] for n in names]
    table["usd_per_request"] = [usd[n] / volume if volume else float("nan") for n in names]
    if "replicas" in table:
        table["replicas"] = [reps[n] for n in names]
    order = np.lexsort((table["usd_per_month"].to_numpy(), ~table["feasible"].to_numpy(dtype=bool)))
    table = table.take(order).reset_index(drop=True)  # as decide sorts: feasible, then cheapest
    feas = table[table["feasible"]]
    choice = feas["option"].iloc[0] if len(feas) else None
    runner = feas["option"].iloc[1] if len(feas) > 1 else None
    savings = float(feas["usd_per_month"].iloc[1] - feas["usd_per_month"].iloc[0]) if runner else None
    verified = feas[feas["evidence"] == "measured"]["option"] if "evidence" in feas else feas["option"].iloc[:0]
    verified_choice = verified.iloc[0] if len(verified) else None
    return dataclasses.replace(decision, volume=float(volume), table=table, choice=choice,
                               runner_up=runner, savings_usd_per_month=savings, verified_choice=verified_choice,
                               candidates=None if decision.candidates is None else
                               find_candidates(table, verified_choice, decision.floors))


def _routed_at(table, options: list, usd: dict, route: tuple, volume: float):
    """``(usd_per_month, replicas)`` of the routed mix at ``volume``: API(f·V) + self((1−f)·V),
    as ``decide`` prices it; None if ``decide.route_pair`` would now pick another pair."""

    rows = {r["option"]: r for r in table.to_dict("records")}
    pick = []
    for o in options:
        r = rows[o.name]
        q = r["quality"]
        pick.append({"option": o.name, "kind": o.kind, "feasible": bool(r["feasible"]),
                     "latency_ok": r["latency_ok"], "usd_per_month": usd[o.name],
                     "quality": None if q is None or (isinstance(q, float) and math.isnan(q)) else q})
    pair = decision.route_pair(pick)
    api_name, self_name, f = route
    if pair is None or (pair[0]["option"], pair[1]["option"]) != (api_name, self_name):
        return None
    api = next(o for o in options if o.name == api_name)
    slf = next(o for o in options if o.name == self_name)
    usd_mix = float(api.usd_per_month(f * volume)) + float(slf.usd_per_month((1 - f) * volume))
    return usd_mix, float(slf.replicas((1 - f) * volume))
