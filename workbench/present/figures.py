"""Figures: pure functions from plain data (a Decision, a load summary, telemetry samples) to a
plotly ``go.Figure``. No I/O; axis titles come from :data:`workbench.results.schema.METRICS`; every
trace's name says its provenance (measured / projected / published / assumed).

- :func:`cost_curves` — monthly cost vs volume per option (log x, log y, drawn as steps so
  replica steps show), break-even markers at the flip volumes, the expected volume marked;
- :func:`quality_vs_cost` — quality (with CI) vs monthly cost at the expected volume, the
  quality floor and the Pareto frontier;
- :func:`latency_vs_throughput` — p50/p90 latency vs throughput per target, one point per load
  step;
- :func:`telemetry_over_time` — memory and power (or RSS and CPU%) over a run.
"""

from __future__ import annotations

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


def cost_curves(decision, *, show_infeasible: bool = True):
    """Monthly cost (USD/month) vs volume (requests/month), one step line per option.

    Feasible options are solid/dashed by provenance; infeasible ones grey and dotted, their
    legend entry says why. Markers sit on the flip volumes (where the cheapest feasible option
    changes); a vertical line marks the expected volume."""
    go = _go()
    fig = go.Figure()
    table = decision.table.set_index("option")
    for option, c in decision.curves.groupby("option", sort=False):
        if option not in table.index:
            continue
        row = table.loc[option]
        if not row.feasible and not show_infeasible:
            continue
        c = c.sort_values("requests_per_month")
        prov = str(c.provenance.iloc[0])
        name = f"{option} [{_kind_of(prov)}]" + ("" if row.feasible else " — infeasible")
        line = {"shape": "hv", "dash": _DASH[_kind_of(prov)]}
        if not row.feasible:
            line.update(color="lightgrey", dash="dot")
        fig.add_trace(go.Scatter(
            x=c.requests_per_month.tolist(), y=c.usd_per_month.tolist(), mode="lines", name=name,
            line=line, legendgroup=option, meta={"option": option, "feasible": bool(row.feasible),
                                                 "provenance": prov},
            customdata=c["replicas"].tolist() if "replicas" in c else None,
            hovertemplate=f"{option}<br>%{{x:,.0f}} req/month<br>$%{{y:,.0f}}/month"
                          + ("<br>replicas %{customdata}" if "replicas" in c else "") + f"<br>{prov}<extra></extra>",
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
                      template="plotly_white")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig


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
    """Quality (the workload's primary metric, with its CI as error bars) vs monthly cost at the
    expected volume; one marker per option, symbol by quality provenance; the floor as a
    horizontal line; the Pareto frontier as a line."""
    go = _go()
    t = decision.table.reset_index(drop=True)
    t = t[t.quality.notna()].reset_index(drop=True)
    fig = go.Figure()
    symbols = {"measured": "circle", "published": "square", "assumed": "diamond-open", "projected": "triangle-up"}
    for prov, g in t.groupby(t.quality_provenance.map(_kind_of), sort=False):
        hi = (g.quality_ci_high - g.quality).clip(lower=0).fillna(0).tolist()
        lo = (g.quality - g.quality_ci_low).clip(lower=0).fillna(0).tolist()
        fig.add_trace(go.Scatter(
            x=g.usd_per_month.tolist(), y=g.quality.tolist(), mode="markers+text", name=f"quality {prov}",
            text=g.option.tolist(), textposition="top center",
            marker={"symbol": symbols.get(prov, "circle"), "size": 11,
                    "color": ["seagreen" if f else "firebrick" for f in g.feasible]},
            error_y={"type": "data", "array": hi, "arrayminus": lo, "symmetric": False, "visible": True},
            customdata=g.quality_provenance.tolist(),
            hovertemplate="%{text}<br>$%{x:,.0f}/month<br>quality %{y:.3f}<br>%{customdata}<extra></extra>",
        ))
    front = pareto_front(t.usd_per_month.tolist(), t.quality.tolist())
    if front:
        f = t.iloc[front]
        fig.add_trace(go.Scatter(x=f.usd_per_month.tolist(), y=f.quality.tolist(), mode="lines",
                                 name="Pareto frontier", line={"color": "grey", "dash": "dot"},
                                 meta={"pareto": f.option.tolist()}))
    if decision.floor is not None:
        fig.add_hline(y=decision.floor, line_dash="dash", line_color="firebrick",
                      annotation_text=f"floor {decision.metric} ≥ {decision.floor:g}")
    fig.update_layout(title=f"{decision.workload}: quality vs cost at {decision.volume:,.0f} requests/month",
                      xaxis_title=METRICS["usd_per_month"].title, yaxis_title=f"{decision.metric} (quality)",
                      template="plotly_white")
    fig.update_xaxes(type="log")
    return fig


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
        title += (f" — totals: chosen ${t.chosen_usd_per_month:,.0f}, {api} ${t.frontier_api_usd_per_month:,.0f},"
                  f" self-hosted ${t.self_hosted_usd_per_month:,.0f}")
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
