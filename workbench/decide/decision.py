"""Decide: for each workload, the cheapest option that meets its quality floor, latency SLO and
privacy rule — and the volumes at which that answer flips.

Pipeline (run by :mod:`workbench.decide.pipeline`): options (:func:`workbench.decide.options.build_options`, pricing from
:mod:`workbench.cost.cost`) → quality per option (:func:`workbench.decide.quality.quality_estimates`:
measured items, else a published proxy from the catalog, else assumed — always labelled) →
:func:`decide` (gates, cost at the expected volume, runner-up, savings, win ranges over volume,
an optional routed mix) → :func:`portfolio` over all workloads.

The gates, per option (columns of :attr:`Decision.table`):

- quality: point estimate of the workload's primary metric ≥ its floor (the lower bound of
  the confidence interval is shown beside it, and named in ``reason`` when it falls below);
- latency: a self-hosted option's capacity is *capacity at SLO*, so replicas sized for the
  peak load meet the SLO by construction when that capacity is > 0; an API's latency is
  assumed to meet the SLO unless a measurement says otherwise (``latency=`` argument);
- privacy: a workload with privacy ``internal-only`` excludes external APIs.

Routed mix (as RouteLLM routes between a strong and a weak model): a fraction ``f`` of requests to an API, the
rest self-hosted: cost/request = f·C_api + (1−f)·C_self, quality = f·q_api + (1−f)·q_self.
Units: requests_per_month, usd_per_month, usd_per_request; quality in the metric's own scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cost import breakeven, cost
from ..errors import WorkbenchError
from .candidates import candidates as find_candidates
from .candidates import indicative_rank
from .quality import QualityEstimate


class DecisionError(WorkbenchError, ValueError):
    pass


# ----------------------------------------------------------------------------- pure math
def routed_mix(fraction_api: float, *, api_usd_per_request: float, self_usd_per_request: float,
               api_quality: float | None = None, self_quality: float | None = None) -> dict:
    """A fraction ``f`` of requests to an API and the rest self-hosted.

    usd_per_request = f·C_api + (1−f)·C_self;  quality = f·q_api + (1−f)·q_self (None if
    either quality is unknown)."""
    f = float(fraction_api)
    if not 0.0 <= f <= 1.0:
        raise DecisionError(f"route_fraction={fraction_api!r}: must lie in [0, 1]")
    quality = None
    if api_quality is not None and self_quality is not None:
        quality = f * api_quality + (1.0 - f) * self_quality
    return {"fraction_api": f,
            "usd_per_request": f * api_usd_per_request + (1.0 - f) * self_usd_per_request,
            "quality": quality}


def win_ranges(first: str | None, flips: Sequence[tuple[float, str, str]], lo: float, hi: float):
    """Volume ranges in which each option is the cheapest, from the option cheapest at ``lo``
    and the flips ``[(volume, from, to), ...]`` (ascending) up to ``hi``.

    Returns a DataFrame (option, from_requests_per_month, to_requests_per_month)."""
    import pandas as pd

    cols = ["option", "from_requests_per_month", "to_requests_per_month"]
    if first is None:
        return pd.DataFrame(columns=cols)
    rows, start, cur = [], float(lo), first
    for volume, _, to in flips:
        rows.append((cur, start, float(volume)))
        start, cur = float(volume), to
    rows.append((cur, start, float(hi)))
    return pd.DataFrame(rows, columns=cols)


def gate(*, quality: QualityEstimate | None, floor: float | None, kind: str, privacy: str,
         latency_ok: bool | None, latency_note: str = "") -> tuple[bool, str]:
    """Apply the three gates; returns (feasible, reason). ``reason`` lists every failed gate
    (or, when feasible, the caveats: assumed values, a CI lower bound under the floor).
    Only evidence on the workload's own metric (measured, or assumed by the user) can meet
    the floor; published and related-task scores fail it, named on their own scale."""
    fails, notes = [], []
    if privacy == "internal-only" and kind == "api":
        fails.append("privacy: internal-only workload may not go to an external API")
    if latency_ok is False:
        fails.append(f"latency: SLO not met at peak load{(' (' + latency_note + ')') if latency_note else ''}")
    elif latency_note:
        notes.append(latency_note)
    if floor is not None:
        if quality is None or quality.value is None:
            fails.append("quality: not measured on this workload, no evidence at all")
        elif not quality.in_workload_metric:  # published or related-task: indicative, never the metric
            fails.append(f"quality: not measured on this workload (indicative only: {quality.score}, "
                         f"{quality.provenance})")
        elif quality.value < floor:
            fails.append(f"quality: {quality.metric or 'score'} {quality.value:.3g} < floor {floor:.3g}"
                         f" [{quality.provenance}]")
        else:
            if quality.ci_low is not None and quality.ci_low < floor:
                notes.append(f"CI lower bound {quality.ci_low:.3g} < floor {floor:.3g}")
            if quality.provenance != "measured":  # the full label is in quality_provenance
                notes.append(f"quality {quality.provenance}, not verified")
    return (not fails), "; ".join(fails) if fails else "; ".join(notes) or "ok"


# ----------------------------------------------------------------------------- decision
@dataclass
class Decision:
    """The answer for one workload. ``table``: one row per option (gates, cost at ``volume``,
    quality with CI and provenance, evidence level and indicative evidence); ``curves``:
    monthly cost vs volume (tidy); ``win_ranges`` and ``flips`` among the feasible options.
    ``route``: the routed row's (API option, self-hosted option, fraction to the API), None
    without one. ``choice``: the cheapest feasible option; ``verified_choice``: the cheapest
    feasible on measured evidence (None: none yet); ``candidates``: options that would be
    cheaper if they met the floors, with the saving at stake
    (:func:`workbench.decide.candidates.candidates`); ``measure_next``: the candidates ranked,
    each with the command that measures it (set by the pipeline, which knows the targets)."""

    workload: str
    volume: float
    floor: float | None
    metric: str
    table: Any
    curves: Any
    win_ranges: Any
    flips: list
    choice: str | None
    runner_up: str | None
    savings_usd_per_month: float | None
    privacy: str = "any"
    notes: list[str] = field(default_factory=list)
    route: tuple[str, str, float] | None = None
    verified_choice: str | None = None
    floors: dict = field(default_factory=dict)
    candidates: Any = None
    measure_next: Any = None
    robustness: Any = None  # robustness.Robustness of the verified choice, set by the pipeline

    @property
    def evidence(self) -> str:
        """The evidence level of the answer: "measured" (a verified choice), "assumed" (the
        cheapest feasible option rests on a stated assumption), else "none yet"."""
        if self.verified_choice is not None:
            return "measured"
        return "assumed" if self.choice is not None else "none yet"

    def summary(self) -> str:
        if self.choice is None:
            return f"{self.workload}: no feasible option at {self.volume:,.0f} requests/month"
        row = self.table.set_index("option").loc[self.choice]
        s = (f"{self.workload}: {self.choice} at {self.volume:,.0f} requests/month, "
             f"${row.usd_per_month:,.0f}/month")
        if self.runner_up is not None:
            s += f"; runner-up {self.runner_up} (saves ${self.savings_usd_per_month:,.0f}/month)"
        if self.flips:
            s += "; flips at " + ", ".join(f"{v:,.0f} → {b}" for v, _, b in self.flips)
        return s

    def _repr_html_(self) -> str:
        return f"<p><b>{self.summary()}</b></p>" + self.table.to_html(index=False, float_format=lambda x: f"{x:.4g}")


def _opt(option, name: str, default=None):
    return getattr(option, name, default)


def default_volumes(volume: float, lo: float = 1e3, hi: float = 1e9, points: int = 241) -> list[float]:
    """A log grid of monthly volumes (dense enough to show replica steps), with ``volume`` in it."""
    import numpy as np

    lo, hi = min(lo, volume / 10), max(hi, volume * 10)
    grid = set(np.logspace(math.log10(lo), math.log10(hi), points).tolist())
    grid.add(float(volume))
    return sorted(grid)


def _costs_at(curves, names: Sequence[str], volumes: Sequence[float], volume: float) -> dict:
    """``{option: (usd_per_month, replicas or None, provenance)}`` at the grid volume nearest
    ``volume``, read from the curves of ``names`` (option-major over ``volumes``, as
    ``cost.monthly_cost_curves`` lays them out); a repeated name reads its first option."""
    import numpy as np

    n, at = len(volumes), int(np.abs(np.asarray(volumes, dtype=float) - volume).argmin())
    usd = curves["usd_per_month"].to_numpy()
    reps = curves["replicas"].to_numpy(dtype=float, na_value=np.nan)
    prov = curves["provenance"].to_numpy()
    out: dict = {}
    for i, name in enumerate(names):
        if name not in out:
            r = reps[i * n + at]
            out[name] = (float(usd[i * n + at]), None if np.isnan(r) else float(r), prov[i * n])
    return out


def _routed_curves(api_opt, self_opt, volumes, f: float, name: str):
    """Monthly cost of the routed mix over ``volumes``: api(f·V) + self((1−f)·V)."""
    import numpy as np

    vol = np.asarray(volumes, dtype=float)
    api_usd, _ = cost.monthly_cost_arrays([api_opt], f * vol)  # arrays: the dashboard redoes this per change
    out = cost.monthly_cost_curves([self_opt], (1 - f) * vol).reset_index(drop=True)
    a, s = api_opt.provenance_label(), self_opt.provenance_label()
    out["option"] = name
    out["requests_per_month"] = vol
    out["usd_per_month"] = api_usd[0] + out["usd_per_month"].to_numpy()
    out["provenance"] = f"{a} + {s}" if a != s else a
    return out


def decide(workload, options: Sequence, *, volume: float | None = None, volumes: Sequence[float] | None = None,
           quality: Mapping[str, QualityEstimate] | None = None, route_fraction: float | None = None,
           latency: Mapping[str, tuple[bool, str]] | None = None, with_candidates: bool = True) -> Decision:
    """Gate every option, price it at ``volume`` (default: the workload's daily volume × 730/24)
    and over ``volumes``, choose the cheapest feasible one. ``quality``: option name →
    QualityEstimate (see :func:`workbench.decide.quality.quality_estimates`); ``latency``: option name → (ok, note) for
    options whose latency was measured (default: capacity at SLO > 0 for self-hosted, assumed
    ok for APIs); ``with_candidates=False`` leaves ``candidates`` None (the dashboard, which
    recomputes on every control change and shows none)."""
    import pandas as pd

    if not options:
        raise DecisionError(f"workload {workload.name!r}: no options to decide between")
    quality = dict(quality or {})
    latency = dict(latency or {})
    metric = workload.primary_metric
    floor = (workload.quality_floor or {}).get(metric)
    volume = float(volume if volume is not None else cost.requests_per_month(workload.daily_volume))
    volumes = sorted(set(map(float, volumes))) if volumes is not None else default_volumes(volume)
    if volume not in volumes:
        volumes = sorted({*volumes, volume})
    curves = cost.monthly_cost_curves(list(options), volumes)
    at_volume = _costs_at(curves, [o.name for o in options], volumes, volume)
    rows = []
    for o in options:
        name, kind = o.name, o.kind
        if name in latency:
            lat_ok, lat_note = latency[name]
        elif kind == "api":
            lat_ok, lat_note = True, "latency assumed to meet the SLO (not measured here)"
        else:
            cap = _opt(o, "capacity_rps")
            lat_ok = cap is not None and cap > 0
            lat_note = "" if lat_ok else "no load point meets the SLO"
        q = quality.get(name)
        ok, reason = gate(quality=q, floor=floor, kind=kind, privacy=workload.privacy,
                          latency_ok=lat_ok, latency_note=lat_note)
        rows.append(_row(name, kind, (ok, reason, lat_ok), (*at_volume[name], _opt(o, "training_usd_per_month")), q, volume, workload.privacy))
    route = None
    if route_fraction:
        routed = _routed_row(workload, options, rows, volumes, volume, float(route_fraction), floor)
        if routed is not None:
            row, rcurve, route = routed
            rows.append(row)
            curves = pd.concat([curves, rcurve], ignore_index=True)
    table = pd.DataFrame(rows).sort_values(["feasible", "usd_per_month"], ascending=[False, True],
                                           ignore_index=True)
    feas = table[table.feasible]
    choice = feas.option.iloc[0] if len(feas) else None
    verified_choice = next(iter(feas.option[feas.evidence == "measured"]), None)
    floors = dict(workload.quality_floor or {})
    runner = feas.option.iloc[1] if len(feas) > 1 else None
    savings = float(feas.usd_per_month.iloc[1] - feas.usd_per_month.iloc[0]) if runner else None
    flips, first = _flips(options, curves, list(feas.option), volumes)
    ranges = win_ranges(first, flips, volumes[0], volumes[-1])
    return Decision(workload=workload.name, volume=volume, floor=floor, metric=metric, table=table,
                    curves=curves, win_ranges=ranges, flips=flips, choice=choice,
                    runner_up=runner, savings_usd_per_month=savings, privacy=workload.privacy,
                    route=route, verified_choice=verified_choice, floors=floors,
                    candidates=find_candidates(table, verified_choice, floors) if with_candidates else None)


def _flips(options, curves, feasible: list[str], volumes):
    """Flips among the feasible options: exact (breakeven.flip_volumes_exact) when they are all plain
    Options, else interpolated on the volume grid (breakeven.flip_volumes; the routed mix)."""
    if not feasible:
        return [], None
    by_name = {o.name: o for o in options}
    if all(n in by_name for n in feasible):
        opts = [by_name[n] for n in feasible]
        flips = [f for f in breakeven.flip_volumes_exact(opts, max_requests_per_month=volumes[-1])
                 if volumes[0] < f[0] <= volumes[-1]]
        first = min(opts, key=lambda o: float(o.usd_per_month(volumes[0]))).name
        return flips, first
    by_opt = _usd_by_option(curves, feasible)
    first = min(by_opt, key=lambda n: by_opt[n][0])
    return breakeven.flip_volumes(volumes, by_opt), first


def _usd_by_option(curves, names: Sequence[str]) -> dict:
    """``{option: usd_per_month in volume order}`` for ``names``: slices of the curves frame when
    each option's rows are one block in volume order (how decide builds it), else filtered."""
    import numpy as np

    option = curves["option"].to_numpy()
    volume, usd = curves["requests_per_month"].to_numpy(), curves["usd_per_month"].to_numpy()
    starts = np.flatnonzero(np.r_[True, option[1:] != option[:-1]]) if len(option) else []
    ends = [*starts[1:], len(option)]
    blocks = {option[a]: slice(a, b) for a, b in zip(starts, ends)}
    if len(blocks) == len(starts) and all(np.all(np.diff(volume[blocks[n]]) > 0) for n in names):
        return {n: usd[blocks[n]] for n in names}
    return {n: curves[curves.option == n].sort_values("requests_per_month").usd_per_month.to_numpy()
            for n in names}


def _row(name: str, kind: str, gates: tuple, priced: tuple, q, volume: float, privacy: str) -> dict:
    """One row of the decision table: ``gates`` = (feasible, reason, latency_ok), ``priced`` =
    (usd_per_month, replicas, provenance[, training_usd_per_month: part of usd_per_month]) at ``volume``."""
    ok, reason, lat_ok = gates
    usd, reps, prov, *training = priced
    on_metric = q is not None and q.in_workload_metric
    ind = None if q is None else q.best_indicative()
    return {
        "option": name, "kind": kind, "feasible": bool(ok), "reason": reason,
        "usd_per_month": usd, "usd_per_request": usd / volume if volume else float("nan"),
        "replicas": reps, "training_usd_per_month": float(training[0] or 0.0) if training else 0.0,
        "quality": q.value if on_metric else None,
        "quality_ci_low": q.ci_low if on_metric else None,
        "quality_ci_high": q.ci_high if on_metric else None,
        "quality_provenance": "none (not measured on this workload)" if q is None else q.label,
        "evidence": "none" if q is None else q.provenance,
        "indicative": "" if ind is None else f"{ind.score} [{ind.provenance}]",
        "indicative_score": None if ind is None else ind.value,
        "indicative_benchmark": "" if ind is None else ind.benchmark or ind.metric,
        "latency_ok": lat_ok,
        "privacy_ok": not (privacy == "internal-only" and kind == "api"),
        "provenance": prov,
    }


def route_pair(rows: Sequence[Mapping]) -> tuple[Mapping, Mapping] | None:
    """The rows (option order) a routed mix combines: the cheapest feasible API and the
    cheapest self-hosted option with latency ok and a quality; None if either is missing."""
    apis = [r for r in rows if r["kind"] == "api" and r["feasible"]]
    selfs = [r for r in rows if r["kind"] != "api" and r["latency_ok"] and r["quality"] is not None]
    if not apis or not selfs:
        return None
    return min(apis, key=lambda r: r["usd_per_month"]), min(selfs, key=lambda r: r["usd_per_month"])


def _routed_row(workload, options, rows, volumes, volume, f, floor):
    """The routed mix of the cheapest quality-feasible API and the cheapest latency-feasible
    self-hosted option (none for internal-only workloads)."""
    if workload.privacy == "internal-only":
        return None
    by_name = {o.name: o for o in options}
    pair = route_pair(rows)
    if pair is None:
        return None
    a, s = pair
    name = f"routed {f:.0%} {a['option']} / {1 - f:.0%} {s['option']}"
    rc = _routed_curves(by_name[a["option"]], by_name[s["option"]], volumes, f, name)
    usd, reps, _ = _costs_at(rc, [name], volumes, volume)[name]
    mix = routed_mix(f, api_usd_per_request=0.0, self_usd_per_request=0.0,
                     api_quality=a["quality"], self_quality=s["quality"])
    lows = [a["quality_ci_low"], s["quality_ci_low"]]
    q = QualityEstimate(value=mix["quality"],
                        ci_low=None if None in lows else f * lows[0] + (1 - f) * lows[1],
                        provenance="measured" if a["evidence"] == s["evidence"] == "measured" else "assumed",
                        source=f"mix of {a['quality_provenance']} and {s['quality_provenance']}",
                        metric=workload.primary_metric)
    ok, reason = gate(quality=q, floor=floor, kind="routed", privacy=workload.privacy, latency_ok=True)
    return (_row(name, "routed", (ok, reason, True), (usd, reps, rc.provenance.iloc[0]), q, volume,
                 workload.privacy), rc, (a["option"], s["option"], f))


# ----------------------------------------------------------------------------- portfolio
def portfolio(decisions: Sequence[Decision], frontier_api: str | None = None):
    """Monthly totals: the chosen placements vs "everything on one frontier API" vs
    "everything self-hosted" (the cheapest feasible self-hosted option per workload; with none,
    the cheapest not yet measured that meets the SLO; else the cheapest — ``self_hosted_feasible``
    says). ``frontier_api``: the API option to compare with (default:
    the API offered for the most workloads with the best mean evidence, :func:`_frontier`). Last row: TOTAL."""
    import pandas as pd

    frontier_api = frontier_api or _frontier(decisions)
    rows = []
    for d in decisions:
        t = d.table.set_index("option")
        chosen = t.loc[d.choice] if d.choice is not None else None
        api = t.loc[frontier_api] if frontier_api in t.index else None
        selfs = t[t.kind == "self-hosted"]
        feas_self = selfs[selfs.feasible]
        unmeasured = selfs[selfs.latency_ok.astype(bool) & (selfs.evidence != "measured")]
        pick = feas_self if len(feas_self) else unmeasured if len(unmeasured) else selfs
        s = pick.sort_values("usd_per_month").iloc[0] if len(pick) else None
        rows.append({
            "workload": d.workload, "requests_per_month": d.volume,
            "chosen": d.choice, "chosen_usd_per_month": None if chosen is None else chosen.usd_per_month,
            "frontier_api": frontier_api, "frontier_api_usd_per_month": None if api is None else api.usd_per_month,
            "frontier_api_feasible": None if api is None else bool(api.feasible),
            "self_hosted": None if s is None else s.name,
            "self_hosted_usd_per_month": None if s is None else s.usd_per_month,
            "self_hosted_feasible": None if s is None else bool(s.feasible),
        })
    df = pd.DataFrame(rows)
    total = {"workload": "TOTAL", "requests_per_month": df.requests_per_month.sum()}
    for c in ("chosen_usd_per_month", "frontier_api_usd_per_month", "self_hosted_usd_per_month"):
        total[c] = pd.to_numeric(df[c], errors="coerce").sum(min_count=1)
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def _frontier(decisions: Sequence[Decision]) -> str | None:
    """The API offered for the most workloads, and among those the one with the best mean
    evidence: its measured quality where it has one, else where its indicative score ranks
    among the options (0 … 1)."""
    scores: dict[str, list[float]] = {}
    for d in decisions:
        rank = indicative_rank(d.table)
        for i, r in d.table[d.table.kind == "api"].iterrows():
            v = r.quality if r.quality is not None and r.quality == r.quality else rank.loc[i]
            scores.setdefault(r.option, []).append(v if v == v else float("-inf"))
    if not scores:
        return None
    return max(scores, key=lambda n: (len(scores[n]), sum(scores[n]) / len(scores[n])))
