"""Figures: pure functions from plain data (a Decision, a load summary, telemetry samples) to a
plotly ``go.Figure``. No I/O; axis titles come from :data:`workbench.results.schema.METRICS`; every
trace's name says its provenance (measured / projected / published / assumed).

- :func:`cost_curves` — monthly cost vs volume per option (log x, log y, drawn as steps so
  replica steps show), break-even markers at the flip volumes, the expected volume marked, the
  infeasible options under one legend entry;
- :func:`quality_vs_cost` — measured quality (with CI) vs monthly cost at the expected volume,
  the quality floor and the Pareto frontier; indicative evidence (published, related-task) in
  its own panel on its own scale;
- :func:`latency_vs_throughput` — p50/p90 latency vs throughput per target, one point per load
  step;
- :func:`telemetry_over_time` — memory and power (or RSS and CPU%) over a run.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..results.schema import METRICS

_DASH = {"measured": "solid", "projected": "dash", "published": "dot", "assumed": "dashdot"}


def _go():
    import plotly.graph_objects as go

    return go


def _kind_of(provenance: str) -> str:
    """The first provenance word in a label ("projected (calibrated …)" → "projected")."""
    text = str(provenance or "").lower()
    hits = [(text.find(p), p) for p in ("measured", "projected", "published", "assumed") if p in text]
    return min(hits)[1] if hits else "assumed"


INFEASIBLE = "infeasible options"
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.15, "xanchor": "left", "x": 0}
"""Legends under the plot, so long option names do not squeeze it."""


def cost_curves(decision, *, show_infeasible: bool = True):
    """Monthly cost (USD/month) vs volume (requests/month), one step line per option.

    Feasible options are solid/dashed by provenance; the options to measure next
    (``decision.measure_next``) dotted in colour; every other infeasible option grey and dotted
    under one legend entry (:data:`INFEASIBLE`; the hover says why). Markers sit on the flip
    volumes (where the cheapest feasible option changes); a vertical line marks the expected volume."""
    go = _go()
    fig = go.Figure()
    table = decision.table.set_index("option")
    nxt = _next_options(decision)
    first_grey = True
    for option, c in decision.curves.groupby("option", sort=False):
        if option not in table.index:
            continue
        row = table.loc[option]
        if not row.feasible and not show_infeasible:
            continue
        c = c.sort_values("requests_per_month")
        prov = str(c.provenance.iloc[0])
        line, name, group, legend = {"shape": "hv", "dash": _DASH[_kind_of(prov)]}, f"{option} [{_kind_of(prov)}]", option, True
        if not row.feasible and option in nxt:
            name, line["dash"] = f"{option} [{_kind_of(prov)}] — measure next", "dot"
        elif not row.feasible:
            line.update(color="lightgrey", dash="dot")
            name, group, legend, first_grey = INFEASIBLE, INFEASIBLE, first_grey, False
        fig.add_trace(go.Scatter(
            x=c.requests_per_month.tolist(), y=c.usd_per_month.tolist(), mode="lines", name=name,
            line=line, legendgroup=group, showlegend=legend,
            meta={"option": option, "feasible": bool(row.feasible), "provenance": prov},
            customdata=c["replicas"].tolist() if "replicas" in c else None,
            hovertemplate=f"{option}<br>%{{x:,.0f}} req/month<br>$%{{y:,.0f}}/month"
                          + ("<br>replicas %{customdata}" if "replicas" in c else "")
                          + f"<br>{prov}<br>{row.reason}<extra></extra>",
        ))
    if decision.flips:
        xs, ys, texts = [], [], []
        for volume, a, b in decision.flips:
            c = decision.curves[(decision.curves.option == b)]
            y = float(c.iloc[(c.requests_per_month - volume).abs().argmin()].usd_per_month)
            xs.append(volume), ys.append(y), texts.append(f"{a} → {b} at {volume:,.0f} req/month")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="break-even (flip)",
                                 marker={"symbol": "x", "size": 12, "color": "black"},
                                 text=texts, hovertemplate="%{text}<extra></extra>",
                                 meta={"flips": True}))
    fig.add_vline(x=decision.volume, line_dash="dash", line_color="grey",
                  annotation_text=f"expected {decision.volume:,.0f}/month", annotation_position="top left")
    fig.update_layout(title=f"{decision.workload}: monthly cost vs volume", legend_title="option [provenance]",
                      xaxis_title=METRICS["requests_per_month"].title, yaxis_title=METRICS["usd_per_month"].title,
                      template="plotly_white", legend=LEGEND_BELOW, height=600)
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig


def _next_options(decision) -> list[str]:
    m = getattr(decision, "measure_next", None)
    return [] if m is None or not len(m) else [o for o in m.option if o is not None]


def pareto_front(costs: Sequence[float], qualities: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both cost (lower) and quality (higher),
    sorted by cost. Points with a missing quality are never on the front."""
    pts = [(c, q, i) for i, (c, q) in enumerate(zip(costs, qualities)) if q is not None and q == q]
    front, best_q = [], float("-inf")
    for c, q, i in sorted(pts, key=lambda p: (p[0], -p[1])):
        if q > best_q:
            front.append(i)
            best_q = q
    return front


def quality_vs_cost(decision):
    """Quality vs monthly cost at the expected volume, measured and indicative evidence apart.

    Top panel: the workload's primary metric where it is measured on this workload (or assumed
    by the user), with its CI as error bars, the floor and the Pareto frontier. Bottom panel:
    indicative evidence on its own axis — each option's published or related-task score on its
    own scale, one trace per benchmark (teal: a candidate; grey: excluded by privacy or
    latency) — never on the metric's axis. Labels: only the verified
    choice and the options to measure next are named on the plot (spread over the panel's
    height, so they do not overlap); every marker names its option on hover."""
    from plotly.subplots import make_subplots

    go = _go()
    t = decision.table.reset_index(drop=True)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, row_heights=[0.55, 0.45],
                        subplot_titles=(f"measured on this workload: {decision.metric}",
                                        "indicative only: published / related-task scores, each on its own scale"))
    measured = t[pd_notna(t.quality)].reset_index(drop=True)
    symbols = {"measured": "circle", "assumed": "diamond-open"}
    for level, g in measured.groupby("evidence", sort=False):
        hi = (g.quality_ci_high - g.quality).clip(lower=0).fillna(0).tolist()
        lo = (g.quality - g.quality_ci_low).clip(lower=0).fillna(0).tolist()
        fig.add_trace(go.Scatter(
            x=g.usd_per_month.tolist(), y=g.quality.tolist(), mode="markers", name=f"quality {level}",
            text=g.option.tolist(), marker={"symbol": symbols.get(level, "circle"), "size": 11,
                                           "color": ["seagreen" if f else "firebrick" for f in g.feasible]},
            error_y={"type": "data", "array": hi, "arrayminus": lo, "symmetric": False, "visible": True},
            customdata=g.quality_provenance.tolist(), meta={"evidence": level},
            hovertemplate="%{text}<br>$%{x:,.0f}/month<br>quality %{y:.3f}<br>%{customdata}<extra></extra>",
        ), row=1, col=1)
    front = pareto_front(measured.usd_per_month.tolist(), measured.quality.tolist())
    if front:
        f = measured.iloc[front]
        fig.add_trace(go.Scatter(x=f.usd_per_month.tolist(), y=f.quality.tolist(), mode="lines",
                                 name="Pareto frontier", line={"color": "grey", "dash": "dot"},
                                 meta={"pareto": f.option.tolist()}), row=1, col=1)
    if decision.floor is not None:
        fig.add_hline(y=decision.floor, line_dash="dash", line_color="firebrick", row=1, col=1,
                      annotation_text=f"floor {decision.metric} ≥ {decision.floor:g}")
    ind = t[pd_notna(t.indicative_score)] if "indicative_score" in t else t.iloc[:0]
    cands = set() if getattr(decision, "candidates", None) is None else set(decision.candidates.option)
    for bench, g in ind.groupby("indicative_benchmark", sort=True):
        fig.add_trace(go.Scatter(
            x=g.usd_per_month.tolist(), y=g.indicative_score.astype(float).tolist(), mode="markers",
            name=f"{bench} [{g.evidence.iloc[0]}, indicative]", text=g.option.tolist(),
            marker={"symbol": "square-open", "size": 10,
                    "color": ["teal" if o in cands else "darkgrey" for o in g.option]},
            customdata=g.indicative.tolist(),
            meta={"indicative": bench},
            hovertemplate="%{text}<br>$%{x:,.0f}/month<br>%{customdata}<extra></extra>"), row=2, col=1)
    _label_points(fig, t, [decision.verified_choice], row=1, measured=True)
    _label_points(fig, t, _next_options(decision), row=2, measured=False)
    fig.update_layout(title=f"{decision.workload}: quality vs cost at {decision.volume:,.0f} requests/month",
                      template="plotly_white", height=700, legend=LEGEND_BELOW)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title_text=METRICS["usd_per_month"].title, row=2, col=1)
    fig.update_yaxes(title_text=f"{decision.metric} (measured)", row=1, col=1)
    fig.update_yaxes(title_text="score (own scale)", row=2, col=1)
    return fig


def pd_notna(series):
    return series.map(lambda v: v is not None and v == v)


def _label_points(fig, table, options, *, row: int, measured: bool) -> None:
    """Name ``options`` on the plot, each label with an arrow to its point, placed by
    :func:`_label_heights` so that no two labels overlap."""
    rows = table.set_index("option")
    col = "quality" if measured else "indicative_score"
    values = [float(v) for v in table[col] if v is not None and v == v] if col in table else []
    points = []
    for option in dict.fromkeys(o for o in options if o is not None and o in rows.index):
        r = rows.loc[option]
        if isinstance(r, type(rows)) or not (r[col] is not None and r[col] == r[col]):
            continue
        points.append((float(r[col]), math.log10(r.usd_per_month), option))
    if not points:
        return
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    points.sort(reverse=True)
    for (y, x, option), ay in zip(points, _label_heights([(p[0], p[1]) for p in points], lo, hi)):
        fig.add_annotation(x=x, y=y, text=_short(option), showarrow=True, arrowhead=2, font={"size": 11},
                           bgcolor="rgba(255,255,255,0.8)", row=row, col=1)
        a = fig.layout.annotations[-1]
        a.update(axref=a.xref, ayref=a.yref, ax=x, ay=ay)


LABEL_HEIGHT = 0.1
"""A label's height (text and padding) as a share of a panel's value range (11 px text in a
panel of about 200 px)."""
LABEL_WIDTH = 0.6
"""A label's width (40 characters at 11 px) in decades of the log cost axis (about 400 px a
decade in the report): labels of points closer than this share a column."""


def _label_heights(points: list[tuple[float, float]], lo: float, hi: float) -> list[float]:
    """Where the labels of ``points`` ((value, log10 cost), by value descending) go. Only points
    in one column (closer in cost than a label's width) can collide, so in each column a label
    goes halfway down to the next labelled point, or a label's height below its point when
    there is none; a point too close above another (text would sit on text) takes its label
    above itself when nothing labelled is above it. A label and its arrow so never cover another
    labelled point. Failing that, one label per 1/n of the panel's height, in value order."""
    h = LABEL_HEIGHT * (hi - lo)
    out = []
    for k, (y, x) in enumerate(points):
        below = [q[0] for q in points[k + 1:] if abs(q[1] - x) < LABEL_WIDTH]
        above = [q for q in points[:k] if abs(q[1] - x) < LABEL_WIDTH]
        if not below:
            out.append(y - h)
        elif y - below[0] >= 1.2 * h:
            out.append((y + below[0]) / 2)
        elif not above:
            out.append(y + h)
        else:
            return [hi - (k + 0.5) * (hi - lo) / len(points) for k in range(len(points))]
    return out


def _short(option: str, width: int = 40) -> str:
    return option if len(option) <= width else option[:width - 1] + "…"


def latency_vs_throughput(summary, *, latency: str = "ttft_ms", throughput: str = "output_tokens_per_s",
                          by: str = "target"):
    """p50 and p90 ``latency`` vs ``throughput``, one line per ``by`` value (e.g. target), one
    point per load step (labelled with its concurrency / rate). ``summary``: the per-load-point
    DataFrame of :func:`workbench.measure.metrics.summarize`, plus a ``by`` column when several."""
    go = _go()
    fig = go.Figure()
    groups = summary.groupby(by, sort=False) if by in summary else [("run", summary)]
    for key, g in groups:
        g = g.sort_values(throughput)
        label = g["load_point"].astype(str).tolist() if "load_point" in g else g.get("concurrency", g.index).astype(str).tolist()
        for q, dash in (("p50", "solid"), ("p90", "dash")):
            col = f"{q}_{latency}"
            if col not in g:
                continue
            fig.add_trace(go.Scatter(x=g[throughput].tolist(), y=g[col].tolist(), mode="lines+markers",
                                     name=f"{key} {q}", line={"dash": dash}, text=label,
                                     hovertemplate="%{text}<br>%{x:.1f}<br>%{y:.0f} ms<extra></extra>"))
    fig.update_layout(title=f"{METRICS[latency].label} vs {METRICS[throughput].label.lower()} [measured]",
                      xaxis_title=METRICS[throughput].title, yaxis_title=METRICS[latency].title,
                      template="plotly_white")
    return fig


TELEMETRY_METRICS = ("mem_used_gib", "power_w", "rss_gib", "cpu_pct", "util_pct", "kv_cache_usage_pct")


def telemetry_over_time(samples, metrics: Sequence[str] | None = None):
    """One panel per telemetry metric over run time (s), one line per run × device.
    ``samples``: the SAMPLES table (run_id, t_s, source, device, metric, value)."""
    from plotly.subplots import make_subplots

    go = _go()
    present = [m for m in (metrics or TELEMETRY_METRICS) if m in set(samples.metric)] if len(samples) else []
    if not present:
        fig = go.Figure()
        fig.update_layout(title="telemetry: no samples", template="plotly_white")
        return fig
    titles = [METRICS[m].title if m in METRICS else m for m in present]
    fig = make_subplots(rows=len(present), cols=1, shared_xaxes=True, subplot_titles=titles)
    for i, m in enumerate(present, start=1):
        for (run, dev), g in samples[samples.metric == m].groupby(["run_id", "device"], sort=False):
            g = g.sort_values("t_s")
            fig.add_trace(go.Scatter(x=g.t_s.tolist(), y=g.value.tolist(), mode="lines",
                                     name=f"{dev} ({run[-6:]})", legendgroup=run, showlegend=(i == 1),
                                     meta={"metric": m, "run_id": run}), row=i, col=1)
        fig.update_yaxes(title_text=titles[i - 1], row=i, col=1)
    fig.update_xaxes(title_text="Run time (s)", row=len(present), col=1)
    fig.update_layout(title="Telemetry over time [measured]", height=250 * len(present) + 100,
                      template="plotly_white")
    return fig


def _usd(x) -> str:
    return "—" if x is None or x != x else f"${x:,.0f}"


def portfolio_bars(portfolio):
    """Monthly cost (USD/month) per workload under three strategies: the chosen placements,
    everything on one frontier API, everything self-hosted (``decide.portfolio`` output; the
    TOTAL row is shown in the title, not as a bar)."""
    go = _go()
    df = portfolio[portfolio.workload != "TOTAL"]
    tot = portfolio[portfolio.workload == "TOTAL"]
    fig = go.Figure()
    api = df.frontier_api.dropna().iloc[0] if df.frontier_api.notna().any() else "frontier API"
    for col, name in (("chosen_usd_per_month", "chosen placements"),
                      ("frontier_api_usd_per_month", f"everything on {api}"),
                      ("self_hosted_usd_per_month", "everything self-hosted")):
        fig.add_trace(go.Bar(x=df.workload.tolist(), y=df[col].tolist(), name=name,
                             hovertemplate="%{x}<br>$%{y:,.0f}/month<extra>" + name + "</extra>"))
    title = "Portfolio: monthly cost by strategy"
    if len(tot):
        t = tot.iloc[0]
        title += (f" — totals: chosen {_usd(t.chosen_usd_per_month)}, {api} {_usd(t.frontier_api_usd_per_month)},"
                  f" self-hosted {_usd(t.self_hosted_usd_per_month)}")
    fig.update_layout(title=title, barmode="group", yaxis_title=METRICS["usd_per_month"].title,
                      xaxis_title="workload", template="plotly_white")
    fig.update_yaxes(type="log")
    return fig


def gpu_sweep(points):
    """Measured output tokens/s vs concurrency per architecture on the GPU (solid), the roofline
    bound at each point (dashed, projected), the offline ``generate_batch`` ceiling (a star at
    its batch size), and below, the % of the bound reached. ``points``: the DataFrame of
    :func:`workbench.present.show.gpu_measurements`."""
    from plotly.subplots import make_subplots

    go = _go()
    if not len(points):
        fig = go.Figure()
        fig.update_layout(title="GPU sweeps: none stored (benchmarks/gpu/README.md)", template="plotly_white")
        return fig
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35],
                        subplot_titles=("Output tokens/s: measured vs roofline bound", "% of the roofline bound"))
    palette = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
    for i, (arch, g) in enumerate(points.groupby("arch", sort=True)):
        color = palette[i % len(palette)]
        layers = g["layers"].iloc[0]
        name = arch if not layers or layers.split(" of ")[0] == layers.split(" of ")[-1] else f"{arch} ({layers} layers)"
        srv = g[g.stage == "served"].sort_values("concurrency")
        off = g[g.stage != "served"]
        fig.add_trace(go.Scatter(x=srv.concurrency.tolist(), y=srv.output_tokens_per_s.tolist(), mode="lines+markers",
                                 name=f"{name} [measured]", line={"color": color}, legendgroup=arch,
                                 meta={"arch": arch, "provenance": "measured"}), row=1, col=1)
        fig.add_trace(go.Scatter(x=srv.concurrency.tolist(), y=srv.bound_output_tokens_per_s.tolist(), mode="lines",
                                 name=f"{name} bound [projected]", line={"color": color, "dash": "dash"},
                                 legendgroup=arch, meta={"arch": arch, "provenance": "projected"}), row=1, col=1)
        if len(off):
            fig.add_trace(go.Scatter(x=off.concurrency.tolist(), y=off.output_tokens_per_s.tolist(), mode="markers",
                                     marker={"symbol": "star", "size": 12, "color": color},
                                     name=f"{name} offline ceiling [measured]", legendgroup=arch,
                                     meta={"arch": arch, "provenance": "measured"}), row=1, col=1)
        fig.add_trace(go.Scatter(x=g.sort_values("concurrency").concurrency.tolist(),
                                 y=g.sort_values("concurrency").pct_of_bound.tolist(), mode="lines+markers",
                                 line={"color": color}, name=f"{name} % of bound", legendgroup=arch,
                                 showlegend=False, meta={"arch": arch}), row=2, col=1)
    gpu = points.gpu.dropna().iloc[0] if points.gpu.notna().any() else "GPU"
    fig.update_xaxes(type="log", title_text="Concurrent requests (offline: batch size)", row=2, col=1)
    fig.update_yaxes(type="log", title_text=METRICS["output_tokens_per_s"].title, row=1, col=1)
    fig.update_yaxes(title_text="% of bound", rangemode="tozero", row=2, col=1)
    fig.update_layout(title=f"Random-weight models on {gpu} (transformers continuous batching) [measured]",
                      height=700, template="plotly_white")
    return fig
