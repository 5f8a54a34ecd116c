"""In the kernel: what the notebooks show and how (``from workbench.present import show``).

:func:`setup` is every notebook's first cell: it checks the notebook's parameters, makes
figures render in JupyterLab *and* in nbconvert HTML (offline: plotly.js inlined once, see
:mod:`workbench.present.report`) and sets readable number formats. Then one function per
section of the decision report: :func:`top` (one row per workload: the verified choice, the
comparisons, the evidence level, what to measure next), :func:`notes` (what the decisions rest
on, folded and grouped by cause), :func:`portfolio`, :func:`decision` (one workload),
:func:`provenance`, :func:`gpu` (the measured GPU sweeps, from :func:`gpu_measurements`).
Every table goes through :func:`table`: no index column, no NaN, units in the headers.
"""

from __future__ import annotations

import os
from html import escape

import numpy as np

from ..decide import summary
from ..decide.parameters import validate_namespace
from ..project import gpu_bound
from ..results.schema import EVIDENCE_STATUSES, RANDOM_WEIGHTS, RunParams
from . import figures
from .report import RENDERER


def setup(notebook: str | None = None, namespace: dict | None = None) -> None:
    """First cell of every notebook: its parameters (``namespace``: the notebook's ``globals()``)
    checked against what ``notebook`` accepts (workbench.decide.parameters), figures that render in
    JupyterLab *and* in nbconvert HTML (offline: plotly.js inlined once), wide tables."""
    import pandas as pd
    import plotly.io as pio

    if notebook is not None and namespace is not None:
        validate_namespace(notebook, namespace)
    pio.renderers.default = os.environ.get("PLOTLY_RENDERER") or RENDERER
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 80)
    pd.set_option("display.float_format", _readable_float)


def _readable_float(x: float) -> str:
    """Thousands separators for volumes and dollars, significant digits for small prices."""
    if x != x:  # NaN: nothing to show (e.g. no feasible option)
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def table(df, spec: list[tuple[str, str, str]], *, max_rows: int | None = None):
    """A formatted table: ``spec`` = [(column, header with its unit, format)], format one of
    "usd" ($1,234 / $0.0123), "int" (1,234,567), "num" (3 significant digits), "text"; no
    index column; a missing value shows "—", never NaN. Returns a pandas Styler."""
    cols = [c for c, _, _ in spec if c in df]
    out = df[cols].head(max_rows) if max_rows else df[cols]
    fmts = {c: _FORMATS[f] for c, _, f in spec if c in df}
    headers = {c: h for c, h, _ in spec if c in df}
    text = [headers[c] for c, _, f in spec if c in df and f == "text"]
    return (out.rename(columns=headers).style.format({headers[c]: f for c, f in fmts.items()}, na_rep="—")
            .hide(axis="index").set_properties(subset=text, **{"text-align": "left"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))


def _usd(x) -> str:
    if x is None or x != x:
        return "—"
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}" if abs(x) >= 1 else f"${x:.4f}"


def _text(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    return "—" if x is None or (isinstance(x, float) and x != x) or x == "" else str(x)


_FORMATS = {"usd": _usd, "int": lambda x: "—" if x is None or x != x else f"{x:,.0f}",
            "num": lambda x: "—" if x is None or x != x else f"{x:.3g}", "text": _text,
            "pct": lambda x: "—" if x is None or x != x else f"{x:.0%}"}

TOP_SPEC = [("workload", "workload", "text"), ("verified_choice", "verified choice", "text"),
            ("usd_per_month", "USD/month", "usd"), ("stays_cheapest", "stays cheapest (share of draws)", "pct"),
            ("frontier_api_usd_per_month", "all on one API (USD/month)", "usd"),
            ("frontier_api_note", "API evidence", "text"),
            ("self_hosted_usd_per_month", "all self-hosted (USD/month)", "usd"),
            ("next_flip_requests_per_month", "next flip (requests/month)", "int"), ("evidence", "evidence level", "text"),
            ("measure_next", "measure next", "text"), ("measure_next_needs", "before that", "text")]


def top(ctx, frontier_api: str | None = None) -> None:
    """The report's first table: one row per workload (workbench.decide.summary.top_table)."""
    from IPython.display import HTML, Markdown, display


    t = summary.top_table(ctx.decisions, frontier_api=frontier_api)
    t["measure_next"] = t.measure_next.map(lambda c: f"<code>{escape(c)}</code>" if c else "")
    api = t.frontier_api.dropna().iloc[0] if t.frontier_api.notna().any() else "one API"
    spec = [(c, h.replace("one API", api), f) for c, h, f in TOP_SPEC]
    verified = int((t.verified_choice != "none yet").sum())
    display(Markdown(f"**{verified} of {len(t)} workloads have a verified choice** (feasible on quality measured "
                     f"on the workload itself). Elsewhere the *measure next* column gives the command that would "
                     f"settle it; published scores only rank what to measure, they never pass a floor."))
    display(HTML(f"<div class='wb-top'>{table(t, spec).to_html()}</div>"))
    ranges = next((d.robustness.ranges for d in ctx.decisions if d.robustness is not None), None)
    if ranges is not None:
        display(Markdown(f"*Stays cheapest*: the share of Monte Carlo draws in which the verified choice is still "
                         f"the cheapest option feasible on measured evidence ({ranges.describe()})."))


def notes(ctx) -> None:
    """What the decisions rest on: the inputs in one line, then every note folded, grouped by
    cause (workbench.decide.summary.notes_by_cause) — headlines name no run id."""
    from IPython.display import HTML, Markdown, display


    runs = ctx.results.runs if ctx.results is not None else []
    kinds = ", ".join(f"{n} {k}" for k, n in runs["kind"].value_counts().items()) if len(runs) else "none"
    display(Markdown(f"**Inputs**: {len(runs)} stored runs ({kinds}); projection calibration: {ctx.calibration}."))
    groups = summary.notes_by_cause(ctx)
    parts = []
    for cause, items in groups.items():
        wls = sorted({w for w, _ in items})
        body = "".join(f"<li><b>{escape(w)}</b>: {escape(n)}</li>" for w, n in items)
        parts.append(f"<details><summary>{escape(cause)} — {len(items)} note{'s' * (len(items) != 1)} "
                     f"({escape(', '.join(wls))})</summary><ul>{body}</ul></details>")
    n = sum(map(len, groups.values()))
    display(HTML(f"<details class='wb-notes'><summary><b>Notes</b>: {n} on what was left out and why, "
                 f"in {len(groups)} groups (click to open)</summary>{''.join(parts)}</details>"))


PORTFOLIO_SPEC = [("workload", "workload", "text"), ("requests_per_month", "requests/month", "int"),
                  ("chosen", "chosen (cheapest feasible)", "text"), ("chosen_usd_per_month", "chosen (USD/month)", "usd"),
                  ("frontier_api", "frontier API", "text"),
                  ("frontier_api_usd_per_month", "frontier API (USD/month)", "usd"),
                  ("self_hosted", "cheapest self-hosted", "text"),
                  ("self_hosted_usd_per_month", "self-hosted (USD/month)", "usd"),
                  ("self_hosted_feasible", "self-hosted feasible", "text")]

OPTION_SPEC = [("option", "option", "text"), ("kind", "kind", "text"), ("feasible", "feasible", "text"),
               ("evidence", "evidence", "text"), ("usd_per_month", "USD/month", "usd"),
               ("training_usd_per_month", "of which training (USD/month)", "usd"),
               ("usd_per_request", "USD/request", "usd"), ("replicas", "replicas", "int"),
               ("quality", "quality (measured)", "num"), ("quality_ci_low", "CI low", "num"),
               ("quality_ci_high", "CI high", "num"), ("indicative", "indicative evidence (own scale)", "text"),
               ("reason", "why", "text"), ("provenance", "cost provenance", "text")]

CANDIDATE_SPEC = [("option", "option", "text"), ("role", "role", "text"), ("usd_per_month", "USD/month", "usd"),
                  ("saving_usd_per_month", "saving at stake (USD/month)", "usd"), ("must_reach", "must reach", "text"),
                  ("indicative", "indicative evidence (own scale)", "text"), ("indicative_rank", "indicative rank (0–1)", "num"),
                  ("command", "command", "text"), ("needs", "before that", "text"),
                  ("target_yaml", "targets.yaml entry to add", "text")]


def portfolio(pf):
    """The portfolio table, formatted (no index, no NaN, units in headers)."""
    return table(pf, PORTFOLIO_SPEC)


def decision(d) -> None:
    """Display one workload's answer: the verified choice (or none yet), what to measure next,
    the cost curves, quality vs cost (measured and indicative apart), the candidates and the
    placement table (folded) and win ranges."""
    from IPython.display import HTML, Markdown, display

    floors = ", ".join(f"{m} ≥ {v:g}" for m, v in d.floors.items()) or "none"
    head = (f"**Verified choice: {d.verified_choice}** — {d.summary().split(': ', 1)[1]}" if d.verified_choice
            else "**Verified choice: none yet.** " + (f"Cheapest feasible on an assumption: {d.choice}." if d.choice else ""))
    if d.robustness is not None and d.robustness.probability is not None:
        head += f"  \nRobustness: {d.robustness.summary()}."
    display(Markdown(f"### {d.workload}\n\n{head}  \nFloors: {floors}; privacy: {d.privacy}; "
                     f"{len(d.candidates) if d.candidates is not None else 0} candidates not yet measured here."))
    if d.measure_next is not None and len(d.measure_next):
        display(Markdown("**Measure next**"))
        display(table(d.measure_next, CANDIDATE_SPEC))
    display(figures.cost_curves(d))
    display(figures.quality_vs_cost(d))
    if d.candidates is not None and len(d.candidates):
        display(HTML(f"<details><summary>All {len(d.candidates)} candidates, cheapest first</summary>"
                     f"{table(d.candidates, CANDIDATE_SPEC).to_html()}</details>"))
    display(HTML(f"<details><summary>All {len(d.table)} options: gates, cost and evidence</summary>"
                 f"{table(d.table, OPTION_SPEC).to_html()}</details>"))
    if len(d.win_ranges):
        display(Markdown("Volume ranges (requests/month) in which each feasible option is cheapest:"))
        display(table(d.win_ranges, [("option", "option", "text"), ("from_requests_per_month", "from (requests/month)", "int"),
                                     ("to_requests_per_month", "to (requests/month)", "int")]))


def provenance(ctx):
    """Where every input came from, formatted (no index)."""
    df = ctx.provenance()
    return df.style.hide(axis="index").format(na_rep="—")


# ----------------------------------------------------------------------------- GPU sweeps
GPU_COLUMNS = ["arch", "layers", "stage", "load_point", "concurrency", "completed", "failed", "output_tokens_per_s",
               "p50_ttft_ms", "p99_ttft_ms", "p50_tpot_ms", "p99_tpot_ms", "max_mem_used_gib", "mean_power_w",
               "energy_j_per_token", "bound_output_tokens_per_s", "pct_of_bound", "gpu", "engine", "run_id"]


def gpu_measurements(results):
    """One row per measured point of the stored GPU sweeps (``benchmarks/gpu/run_gpu_sweep.py``:
    random-weight models, ``gpu-offline`` and ``load`` runs): throughput, TTFT/TPOT p50/p99,
    memory, power, J/token and the roofline bound with the % of it reached, all as the run
    recorded them, plus where they came from (``provenance``). Empty when none are stored."""
    import pandas as pd

    runs = results.runs if results is not None else pd.DataFrame()
    if not len(runs) or "weights" not in runs:
        return pd.DataFrame(columns=GPU_COLUMNS + ["provenance"])
    sel = runs[(runs.weights == RANDOM_WEIGHTS) & runs.kind.isin(["load", "gpu-offline"])
               & runs.status.isin(EVIDENCE_STATUSES)]
    rows = [row for run in sel.sort_values(["model", "started_at"]).itertuples() for row in _gpu_rows(run)]
    return pd.DataFrame(rows).reindex(columns=GPU_COLUMNS + ["provenance"])


def _gpu_rows(run) -> list[dict]:
    """The rows of one stored GPU run: each point with its bound recomputed and its provenance."""
    params = RunParams.of(run.params)
    summary = run.summary if isinstance(run.summary, dict) else {}
    host = run.host if isinstance(run.host, dict) else {}
    driver = next((g.get("driver") for g in host.get("gpus") or [] if g.get("driver")), "?")
    provenance = (f"measured (run {run.run_id}: random weights, {run.engine} {run.engine_version} "
                  f"continuous batching, {run.dtype}, {run.hardware}, driver {driver}); bound "
                  f"projected ({summary.get('bound_label', 'roofline')})")
    offline = run.kind == "gpu-offline"
    return [{**{k: pt.get(k) for k in GPU_COLUMNS if k in pt},
             "arch": run.model, "stage": "offline ceiling" if offline else "served",
             "layers": f"{params.layers} of {params.full_layers}" if params.layers and params.full_layers else "",
             "gpu": run.hardware, "engine": f"{run.engine} {run.engine_version or ''}".strip(), "run_id": run.run_id,
             "concurrency": params.offline_prompts if offline else pt.get("concurrency"), "provenance": provenance}
            for pt in _rebound(summary.get("points") or [], run, params)]


def _rebound(points: list[dict], run, params: RunParams) -> list[dict]:
    """The points with their roofline bound and % of it computed now (``workbench.project.gpu_bound.with_roofline``
    on the run's model config and GPU), so a stored bound from an older roofline never shows."""
    import pandas as pd


    host = run.host if isinstance(run.host, dict) else {}
    hw = gpu_bound.projection_hardware(host) if host.get("gpus") else None
    if not points or not params.model_config or hw is None:
        return points
    df = gpu_bound.with_roofline(pd.DataFrame(points), params.model_config, hw, run.dtype or "bfloat16",
                                offline_concurrency=params.offline_prompts)
    return df.to_dict("records")


def gpu(ctx) -> None:
    """The decide notebook's GPU section, from the inputs of its decisions (``ctx``, a
    pipeline.DecisionSet): the sweep figure (measured vs bound), the per-point table and the
    roofline calibrated on these runs (the fits the decisions used); one line when none are stored."""
    from IPython.display import Markdown, display


    df = gpu_measurements(ctx.results)
    if not len(df):
        display(Markdown("No GPU sweep stored. `benchmarks/gpu/README.md` gives the one command that measures them."))
        return
    gpus = ", ".join(sorted(set(df.gpu.dropna())))
    display(Markdown(f"{df.run_id.nunique()} runs on {gpus}: {', '.join(sorted(set(df.arch)))}. "
                     f"Every point carries its provenance, e.g. *{df.provenance.iloc[0]}*."))
    display(figures.gpu_sweep(df))
    cols = [c for c in GPU_COLUMNS if c not in ("gpu", "engine", "failed")]
    display(df[cols].style.format(precision=1, thousands=",").format(
        {"energy_j_per_token": "{:.3f}"}).hide(axis="index"))
    display(Markdown("**Roofline calibrated on these runs** (fitted per engine × GPU, leave-one-out error):\n\n"
                     + gpu_calibration(ctx.fits)))


def gpu_calibration(fits: dict | None) -> str:
    """The roofline fitted to the stored GPU sweeps (:func:`calibration_fits`), per engine × GPU,
    in words."""
    if not fits:
        return "no GPU load sweep stored: nothing to calibrate"
    return "\n".join(f"- {e} on {h}: bandwidth utilization {f.eff.mbu:.2f}, compute utilization {f.eff.mfu:.2f}, "
                     f"per-step overhead {f.eff.step_overhead_s * 1e3:.1f} ms + {f.eff.layer_overhead_s * 1e3:.2f} ms per layer "
                     f"— {f.eff.label}" for (e, h), f in fits.items())
