"""Decide: for each workload, the cheapest option that meets its quality floor, latency SLO and
privacy rule — and the volumes at which that answer flips.

Pipeline (DESIGN.md "decide"): options (:func:`build_options`, pricing from
:mod:`workbench.cost`) → quality per option (:func:`quality_estimates`: measured items, else a
published proxy from the catalog, else assumed — always labelled) → :func:`decide` (gates, cost
at the expected volume, runner-up, savings, win ranges over volume, an optional routed mix) →
:func:`portfolio` over all workloads.

The gates, per option (columns of :attr:`Decision.table`):

- quality: point estimate of the workload's primary metric ≥ its floor (the lower bound of
  the confidence interval is shown beside it, and named in ``reason`` when it falls below);
- latency: a self-hosted option's capacity is *capacity at SLO*, so replicas sized for the
  peak load meet the SLO by construction when that capacity is > 0; an API's latency is
  assumed to meet the SLO unless a measurement says otherwise (``latency=`` argument);
- privacy: a workload with privacy ``internal-only`` excludes external APIs.

Routed mix (RouteLLM-style, research/cost.md §8): a fraction ``f`` of requests to an API, the
rest self-hosted: cost/request = f·C_api + (1−f)·C_self, quality = f·q_api + (1−f)·q_self.
Units: requests_per_month, usd_per_month, usd_per_request; quality in the metric's own scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .errors import WorkbenchError

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0  # 30.42: the cost model's month, in days


class DecisionError(WorkbenchError, ValueError):
    pass


# ----------------------------------------------------------------------------- quality
@dataclass(frozen=True)
class QualityEstimate:
    """Quality of one option on one workload's primary metric, with where it came from.

    ``provenance``: measured | published | assumed; ``source`` names the run ids, the catalog
    row (benchmark, as_of, source) or the assumption."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    provenance: str = "assumed"
    source: str = ""
    metric: str = ""
    n_items: int | None = None

    @property
    def label(self) -> str:
        if self.provenance == "published":
            return f"published proxy ({self.source})"
        return f"{self.provenance} ({self.source})" if self.source else self.provenance


# ----------------------------------------------------------------------------- pure math
def requests_per_month(daily_requests: float) -> float:
    """Monthly volume from a daily one: daily × 730/24 (requests/month)."""
    return float(daily_requests) * DAYS_PER_MONTH


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
    (or, when feasible, the caveats: assumed values, a CI lower bound under the floor)."""
    fails, notes = [], []
    if privacy == "internal-only" and kind == "api":
        fails.append("privacy: internal-only workload may not go to an external API")
    if latency_ok is False:
        fails.append(f"latency: SLO not met at peak load{(' (' + latency_note + ')') if latency_note else ''}")
    elif latency_note:
        notes.append(latency_note)
    if floor is not None:
        if quality is None or quality.value is None:
            fails.append("quality: no measurement, published proxy or assumption")
        elif quality.value < floor:
            fails.append(f"quality: {quality.metric or 'score'} {quality.value:.3g} < floor {floor:.3g}"
                         f" [{quality.provenance}]")
        else:
            if quality.ci_low is not None and quality.ci_low < floor:
                notes.append(f"CI lower bound {quality.ci_low:.3g} < floor {floor:.3g}")
            if quality.provenance != "measured":  # the full label is in quality_provenance
                notes.append("quality from a published proxy" if quality.provenance == "published"
                             else f"quality {quality.provenance}")
    return (not fails), "; ".join(fails) if fails else "; ".join(notes) or "ok"


# ----------------------------------------------------------------------------- decision
@dataclass
class Decision:
    """The answer for one workload. ``table``: one row per option (gates, cost at ``volume``,
    quality with CI and provenance); ``curves``: monthly cost vs volume (tidy); ``win_ranges``
    and ``flips`` among the feasible options."""

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


def _cost_at(curves, option: str, volume: float) -> tuple[float, float | None]:
    import pandas as pd

    c = curves[curves.option == option]
    row = c.iloc[(c.requests_per_month - volume).abs().argmin()]
    reps = row.get("replicas")
    return float(row.usd_per_month), (None if pd.isna(reps) else float(reps))


def _routed_curves(api_opt, self_opt, volumes, f: float, name: str):
    """Monthly cost of the routed mix over ``volumes``: api(f·V) + self((1−f)·V)."""
    from . import cost

    api = cost.monthly_cost_curves([api_opt], [f * v for v in volumes]).reset_index(drop=True)
    slf = cost.monthly_cost_curves([self_opt], [(1 - f) * v for v in volumes]).reset_index(drop=True)
    out = slf.copy()
    out["option"] = name
    out["requests_per_month"] = list(volumes)
    out["usd_per_month"] = api.usd_per_month.to_numpy() + slf.usd_per_month.to_numpy()
    out["provenance"] = [f"{a} + {s}" if a != s else a for a, s in zip(api.provenance, slf.provenance)]
    return out


def decide(workload, options: Sequence, *, volume: float | None = None, volumes: Sequence[float] | None = None,
           quality: Mapping[str, QualityEstimate] | None = None, route_fraction: float | None = None,
           latency: Mapping[str, tuple[bool, str]] | None = None) -> Decision:
    """Gate every option, price it at ``volume`` (default: the workload's daily volume × 730/24)
    and over ``volumes``, choose the cheapest feasible one. ``quality``: option name →
    QualityEstimate (see :func:`quality_estimates`); ``latency``: option name → (ok, note) for
    options whose latency was measured (default: capacity at SLO > 0 for self-hosted, assumed
    ok for APIs)."""
    import pandas as pd

    from . import cost

    if not options:
        raise DecisionError(f"workload {workload.name!r}: no options to decide between")
    quality = dict(quality or {})
    latency = dict(latency or {})
    metric = workload.primary_metric
    floor = (workload.quality_floor or {}).get(metric)
    volume = float(volume if volume is not None else requests_per_month(workload.daily_volume))
    volumes = sorted(set(map(float, volumes))) if volumes is not None else default_volumes(volume)
    if volume not in volumes:
        volumes = sorted({*volumes, volume})
    curves = cost.monthly_cost_curves(list(options), volumes)
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
        usd, reps = _cost_at(curves, name, volume)
        prov = curves[curves.option == name].provenance.iloc[0]
        rows.append(_row(name, kind, ok, reason, usd, volume, reps, q, lat_ok, workload.privacy, prov))
    if route_fraction:
        routed = _routed_row(workload, options, rows, curves, volumes, volume, float(route_fraction), floor)
        if routed is not None:
            row, rcurve = routed
            rows.append(row)
            curves = pd.concat([curves, rcurve], ignore_index=True)
    table = pd.DataFrame(rows).sort_values(["feasible", "usd_per_month"], ascending=[False, True],
                                           ignore_index=True)
    feas = table[table.feasible]
    choice = feas.option.iloc[0] if len(feas) else None
    runner = feas.option.iloc[1] if len(feas) > 1 else None
    savings = float(feas.usd_per_month.iloc[1] - feas.usd_per_month.iloc[0]) if runner else None
    flips, first = _flips(options, curves, list(feas.option), volumes)
    ranges = win_ranges(first, flips, volumes[0], volumes[-1])
    return Decision(workload=workload.name, volume=volume, floor=floor, metric=metric, table=table,
                    curves=curves, win_ranges=ranges, flips=flips, choice=choice,
                    runner_up=runner, savings_usd_per_month=savings, privacy=workload.privacy)


def _flips(options, curves, feasible: list[str], volumes):
    """Flips among the feasible options: exact (cost.flip_volumes_exact) when they are all plain
    Options, else interpolated on the volume grid (cost.flip_volumes; the routed mix)."""
    from . import cost

    if not feasible:
        return [], None
    by_name = {o.name: o for o in options}
    if all(n in by_name for n in feasible):
        opts = [by_name[n] for n in feasible]
        flips = [f for f in cost.flip_volumes_exact(opts, max_requests_per_month=volumes[-1])
                 if volumes[0] < f[0] <= volumes[-1]]
        first = min(opts, key=lambda o: float(o.usd_per_month(volumes[0]))).name
        return flips, first
    by_opt = {n: curves[curves.option == n].sort_values("requests_per_month").usd_per_month.to_numpy()
              for n in feasible}
    first = min(by_opt, key=lambda n: by_opt[n][0])
    return cost.flip_volumes(volumes, by_opt), first


def _row(name, kind, ok, reason, usd, volume, reps, q, lat_ok, privacy, prov) -> dict:
    return {
        "option": name, "kind": kind, "feasible": bool(ok), "reason": reason,
        "usd_per_month": usd, "usd_per_request": usd / volume if volume else float("nan"),
        "replicas": reps,
        "quality": None if q is None else q.value,
        "quality_ci_low": None if q is None else q.ci_low,
        "quality_ci_high": None if q is None else q.ci_high,
        "quality_provenance": "assumed (none)" if q is None else q.label,
        "latency_ok": lat_ok,
        "privacy_ok": not (privacy == "internal-only" and kind == "api"),
        "provenance": prov,
    }


def _routed_row(workload, options, rows, curves, volumes, volume, f, floor):
    """The routed mix of the cheapest quality-feasible API and the cheapest latency-feasible
    self-hosted option (none for internal-only workloads)."""
    if workload.privacy == "internal-only":
        return None
    by_name = {o.name: o for o in options}
    apis = [r for r in rows if r["kind"] == "api" and r["feasible"]]
    selfs = [r for r in rows if r["kind"] != "api" and r["latency_ok"] and r["quality"] is not None]
    if not apis or not selfs:
        return None
    a = min(apis, key=lambda r: r["usd_per_month"])
    s = min(selfs, key=lambda r: r["usd_per_month"])
    name = f"routed {f:.0%} {a['option']} / {1 - f:.0%} {s['option']}"
    rc = _routed_curves(by_name[a["option"]], by_name[s["option"]], volumes, f, name)
    usd, reps = _cost_at(rc, name, volume)
    mix = routed_mix(f, api_usd_per_request=0.0, self_usd_per_request=0.0,
                     api_quality=a["quality"], self_quality=s["quality"])
    lows = [a["quality_ci_low"], s["quality_ci_low"]]
    q = QualityEstimate(value=mix["quality"],
                        ci_low=None if None in lows else f * lows[0] + (1 - f) * lows[1],
                        provenance="measured" if "measured" in a["quality_provenance"] and
                        "measured" in s["quality_provenance"] else "assumed",
                        source=f"mix of {a['quality_provenance']} and {s['quality_provenance']}",
                        metric=workload.primary_metric)
    ok, reason = gate(quality=q, floor=floor, kind="routed", privacy=workload.privacy, latency_ok=True)
    return _row(name, "routed", ok, reason, usd, volume, reps, q, True, workload.privacy,
                rc.provenance.iloc[0]), rc


# ----------------------------------------------------------------------------- portfolio
def portfolio(decisions: Sequence[Decision], frontier_api: str | None = None):
    """Monthly totals: the chosen placements vs "everything on one frontier API" vs
    "everything self-hosted" (the cheapest self-hosted option per workload, feasible or not —
    ``self_hosted_feasible`` says). ``frontier_api``: the API option to compare with (default:
    the API with the highest mean quality across the workloads). Last row: TOTAL."""
    import pandas as pd

    frontier_api = frontier_api or _frontier(decisions)
    rows = []
    for d in decisions:
        t = d.table.set_index("option")
        chosen = t.loc[d.choice] if d.choice is not None else None
        api = t.loc[frontier_api] if frontier_api in t.index else None
        selfs = t[t.kind == "self-hosted"]
        feas_self = selfs[selfs.feasible]
        pick = feas_self if len(feas_self) else selfs
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
    scores: dict[str, list[float]] = {}
    for d in decisions:
        for r in d.table[d.table.kind == "api"].itertuples():
            scores.setdefault(r.option, []).append(r.quality if r.quality == r.quality and r.quality is not None
                                                   else float("-inf"))
    if not scores:
        return None
    return max(scores, key=lambda n: (sum(scores[n]) / len(scores[n]), len(scores[n])))


# ----------------------------------------------------------------------------- building the inputs
PROJECTED_CANDIDATES = (
    # (architecture in models.csv, model whose published scores stand in for quality, quantization)
    ("Llama-3-8B", "Llama-3-8B-Instruct", "bf16"),
    ("Mistral-7B", "Mistral-7B", "bf16"),
    ("Phi-3-mini", "Phi-3-mini-4k-instruct", "bf16"),
    ("Llama-3-70B", "Llama-3-70B-Instruct", "bf16"),
)
"""Open models projected on catalog GPUs when no measurement exists (a parameter of
:func:`build_options`)."""

PROXY_ALIASES = {
    "groq/llama3-8b-8192": "Llama-3-8B-Instruct", "groq/llama3-70b-8192": "Llama-3-70B-Instruct",
    "deepinfra/meta-llama/Meta-Llama-3-8B-Instruct": "Llama-3-8B-Instruct",
    "mistral/open-mistral-7b": "Mistral-7B", "mistral/open-mixtral-8x7b": "Mixtral-8x7B",
    "groq/mixtral-8x7b-32768": "Mixtral-8x7B",
}
"""API models served from open weights: their published scores are the open model's."""

PROXY_BENCHMARK = {"retrieval": "mteb"}  # every other task: "mmlu" (general knowledge, 0–100 → 0–1)


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).lower().split("/")[-1] if ch.isalnum())


def published_proxy(model: str, task: str, quality_df, metric: str = "") -> QualityEstimate | None:
    """A published benchmark score standing in for a model's quality on a workload (MMLU for
    generative tasks, MTEB for retrieval; percent → fraction), labelled with its source.
    Matches the model name exactly, via PROXY_ALIASES, or as a prefix of a dated name."""
    if quality_df is None or not len(quality_df):
        return None
    bench = PROXY_BENCHMARK.get(task, "mmlu")
    rows = quality_df[quality_df.benchmark == bench]
    want = _norm(PROXY_ALIASES.get(model, model))
    names = rows.model.map(_norm)
    hit = rows[names == want]
    if not len(hit):  # a dated name: "gpt-4o" matches "gpt-4o-2024-08-06", not "gpt-4o-mini-…"
        hit = rows[[n.startswith(want) and n[len(want):][:1].isdigit() for n in names]]
    if not len(hit):
        return None
    r = hit.sort_values("as_of").iloc[-1]
    flag = "" if str(r.get("verified")).lower() in ("true", "1") else ", ⚠ unverified"
    return QualityEstimate(value=float(r.score) / 100.0, provenance="published", metric=metric,
                           source=f"{r.model} {r.protocol} {r.score:g}% — {r.source}, {r.as_of}{flag}")


def measured_quality(results, workload, *, targets=(), models=()) -> QualityEstimate | None:
    """The workload's primary metric re-scored from the stored outputs of quality runs of the
    given targets (or served models), with a 95% bootstrap CI (workbench.stats). The latest
    output per item counts."""
    if results is None or not len(results.items):
        return None
    from . import scorers
    from .stats import bootstrap_ci

    runs = results.runs
    sel = runs[runs.target.isin(list(targets)) | runs.model.isin(list(models))]
    it = results.items[(results.items.workload == workload.name) & results.items.run_id.isin(sel.run_id)]
    if not len(it):
        return None
    order = sel.set_index("run_id").started_at
    it = it.assign(_t=it.run_id.map(order)).sort_values("_t").drop_duplicates("item_id", keep="last")
    by_id = {str(x["id"]): x for x in workload.items}
    spec, items, scored = workload.spec, [], []
    for r in it.itertuples():
        item = by_id.get(str(r.item_id))
        if item is None:
            continue
        items.append(item)
        failed = (isinstance(r.error, str) and r.error) or not isinstance(r.output, str)
        scored.append(scorers.failed(spec, item) if failed else scorers.SCORERS[spec["scorer"]](item, r.output, spec))
    md = scorers.metrics(spec, items, scored).get(workload.primary_metric) if items else None
    if md is None:
        return None
    value, lo, hi = bootstrap_ci(md.value, len(items))
    ids = sorted(set(it.run_id))
    return QualityEstimate(value=float(value), ci_low=float(lo), ci_high=float(hi), provenance="measured",
                           metric=workload.primary_metric, n_items=len(items),
                           source=f"{len(items)} items, run{'s' if len(ids) > 1 else ''} {', '.join(ids)}")


@dataclass
class Options:
    """What :func:`build_options_detailed` found: the priced options, for each the targets and
    models whose quality runs count for it and the model whose published scores stand in,
    and notes on what was left out and why."""

    options: list
    sources: dict[str, dict]
    notes: list[str]
    tokens: dict


def build_options(workload, *, catalog=None, results=None, instances=None, apis=None, **kw) -> list:
    """Contract item 10: every self-hosted configuration with data and every catalog API."""
    return build_options_detailed(workload, catalog=catalog, results=results, instances=instances,
                                  apis=apis, **kw).options


def build_options_detailed(workload, *, catalog=None, results=None, instances=None, apis=None,
                           pricing: str = "on-demand", candidates=PROJECTED_CANDIDATES, fits=None) -> Options:
    """APIs (mode chat, embedding for retrieval; ``apis`` restricts by name), measured self-hosted
    configurations (capacity at the workload's SLO from the latest load sweep of each target;
    instance from the target's deployment), and projected ones (each candidate open model on
    the catalog GPU instance that is cheapest at the expected volume; ``instances`` restricts)."""
    from . import cost
    from .catalog import load_catalog

    catalog = catalog or load_catalog()
    tp = workload.token_profile(results)
    n_in, n_out = tp["prompt_tokens_mean"], tp["output_tokens_mean"]
    tok_label = f"{tp['provenance']} ({n_in:.0f} in / {n_out:.0f} out tokens per request)"
    out = Options([], {}, [], {"input_tokens": n_in, "output_tokens": n_out, "provenance": tok_label})
    mode = "embedding" if workload.task == "retrieval" else "chat"
    api_rows = catalog.apis[(catalog.apis["mode"] == mode)]
    for model in dict.fromkeys(api_rows.model):
        if apis is not None and model not in apis:
            continue
        try:
            opt = cost.api_option(catalog.api(model), input_tokens=n_in, output_tokens=n_out, tokens_provenance=tok_label)
        except WorkbenchError as e:  # no price valid today, ...
            out.notes.append(f"API {model}: left out ({e})")
            continue
        out.options.append(opt)
        out.sources[opt.name] = {"targets": [], "models": [model], "proxy": model}
    _measured_options(workload, results, catalog, pricing, out)
    if workload.task != "retrieval":  # the roofline projects generation, not embedding
        _projected_options(workload, catalog, pricing, candidates, instances, n_in, n_out, fits, out)
    return out


def _measured_options(workload, results, catalog, pricing, out: Options) -> None:
    from . import cost, metrics

    if results is None or not len(results.runs):
        return
    done = results.runs[results.runs.status.isin(["completed", "interrupted"])].sort_values("started_at")
    chat = workload.task != "retrieval"
    runs = done[done.kind.isin(["load", "gpu-load"])] if chat else done.iloc[:0]
    swept = set(runs.target)
    for target, g in runs.groupby("target", sort=True):
        run = g.iloc[-1]
        req = results.requests[results.requests.run_id == run.run_id]
        if not len(req):
            continue
        cap = cost.capacity_from_sweep(metrics.summarize(req, workload.slo), workload.slo)
        _add_measured(workload, catalog, pricing, out, target, run, cap, f"run {run.run_id}",
                      "its own prompt/output lengths")
    # targets with quality runs on this workload but no sweep: serial capacity from their latencies
    q = done[(done.kind == "quality") & ~done.target.isin(swept)]
    items = results.items[(results.items.workload == workload.name) & results.items.run_id.isin(q.run_id)]
    for target, g in q[q.run_id.isin(items.run_id)].groupby("target", sort=True):
        run = g.iloc[-1]
        lat = items[items.run_id == run.run_id].latency_ms.dropna().astype(float)
        if not len(lat):
            continue
        limit = min([v for k, v in (workload.slo or {}).items() if k in ("e2el_ms", "ttft_ms")] or [float("inf")])
        cap = 0.0 if lat.quantile(0.9) > limit else 1000.0 / lat.mean()
        _add_measured(workload, catalog, pricing, out, target, run, cap, f"quality run {run.run_id}",
                      f"1 / mean latency of {len(lat)} requests at concurrency 1 — a lower bound")


def _add_measured(workload, catalog, pricing, out: Options, target, run, cap, where, how) -> None:
    from . import cost

    if cap <= 0:
        out.notes.append(f"{target}: {where} does not meet the SLO {workload.slo}: infeasible on latency")
        return
    inst = _instance_for(target, run, catalog, pricing)
    if inst is None:
        out.notes.append(f"{target}: no price for its hardware {run.hardware!r} in the catalog: left out")
        return
    dtype = run.get("dtype") if isinstance(run.get("dtype"), str) else ""
    name = f"{run.model} · {run.engine} {dtype} · {inst['instance']} [{target}]".replace("  ", " ")
    opt = cost.self_hosted_option(inst, capacity_rps=cap, name=name, peak_factor=workload.peak_factor,
                                  capacity_provenance=f"measured ({where}; {how})")
    out.options.append(opt)
    out.sources[name] = {"targets": [target], "models": [], "proxy": run.model}


def _instance_for(target: str, run, catalog, pricing: str):
    """The catalog instance a measured target runs on: its deployment's, else the cheapest
    with the run's GPU and count."""
    try:
        from .targets import get_target

        inst = get_target(target).deployment.instance
        if inst:
            return catalog.instance(inst, pricing=pricing)
    except WorkbenchError:
        pass
    from .calibrate import hardware_for

    try:
        gpu = hardware_for(run.hardware).name
    except WorkbenchError:
        return None
    count = run.get("hardware_count") or 1
    rows = catalog.instances[(catalog.instances.gpu == gpu) & (catalog.instances.gpu_count == count)
                             & (catalog.instances.pricing == pricing)]
    return None if not len(rows) else catalog.instance(rows.sort_values("usd_per_hour").iloc[0].instance, pricing=pricing)


def _projected_options(workload, catalog, pricing, candidates, instances, n_in, n_out, fits, out: Options) -> None:
    from . import cost
    from .calibrate import efficiency_for
    from .project import Arch, Cell, Hardware, capacity_at_slo, quant, weight_bytes

    volume = requests_per_month(workload.daily_volume)
    inst = catalog.instances[(catalog.instances.gpu != "CPU") & (catalog.instances.pricing == pricing)]
    if instances is not None:
        inst = inst[inst.instance.isin(list(instances))]
    for arch_name, proxy, q in candidates:
        try:
            arch = Arch.from_catalog(arch_name, catalog)
        except WorkbenchError as e:
            out.notes.append(f"{arch_name}: not projected ({e})")
            continue
        best = None
        for row in inst.drop_duplicates("instance").itertuples():
            try:
                hw = Hardware.from_catalog(row.gpu, catalog)
                eff = efficiency_for("vllm", row.gpu, fits)
                cell = Cell(arch=arch, hardware=hw, quant=quant(q), tp=int(row.gpu_count), eff=eff)
                if weight_bytes(arch, cell.quant) > hw.mem_gib * 2**30 * row.gpu_count * cell.mem_util:
                    continue  # the weights alone do not fit
                cap = capacity_at_slo(cell, n_in, n_out, workload.slo)
                if cap <= 0:
                    continue
                opt = cost.self_hosted_option(
                    catalog.instance(row.instance, pricing=pricing), capacity_rps=cap, peak_factor=workload.peak_factor,
                    name=f"{arch_name} · vllm {q} · {row.instance}", capacity_provenance=eff.label if
                    eff.label.startswith("projected") else f"projected ({eff.label})")
            except WorkbenchError:
                continue
            if best is None or opt.usd_per_month(volume) < best.usd_per_month(volume):
                best = opt
        if best is None:
            out.notes.append(f"{arch_name}: no catalog instance meets the SLO {workload.slo} (projected)")
            continue
        out.options.append(best)
        out.sources[best.name] = {"targets": [], "models": [arch_name, proxy], "proxy": proxy}


def quality_estimates(workload, built: Options, *, results=None, catalog=None,
                      assume: float | None = None) -> dict[str, QualityEstimate]:
    """Quality per option: measured (re-scored stored outputs), else a published proxy from
    the catalog, else — only when ``assume`` is given — that value, labelled "assumed"."""
    from .catalog import load_catalog

    catalog = catalog or load_catalog()
    out = {}
    for name, src in built.sources.items():
        q = measured_quality(results, workload, targets=src["targets"], models=src["models"]) or \
            published_proxy(src["proxy"], workload.task, catalog.quality, workload.primary_metric)
        if q is None and assume is not None:
            q = QualityEstimate(value=float(assume), provenance="assumed", metric=workload.primary_metric,
                                source="no measurement or published score; value set by the report's `assume_quality`")
        if q is not None:
            out[name] = q
    return out
