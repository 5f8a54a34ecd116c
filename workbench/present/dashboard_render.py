"""The dashboard's HTML and curve arrays: pure functions of a decision, a scenario and the
priced options (:mod:`workbench.present.whatif`), rendered into the widgets by :mod:`workbench.present.dashboard`."""

from __future__ import annotations

import html
import math

import numpy as np

from .whatif import OVERRIDE, Scenario, default_scenario, mean_tokens


def curve_arrays(curves) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{option: (requests_per_month, usd_per_month)}`` from the tidy curves frame: slices
    when each option's rows are one block (``cost.monthly_cost_curves``' layout), else grouped."""
    names = curves["option"].to_numpy()
    x, y = curves["requests_per_month"].to_numpy(), curves["usd_per_month"].to_numpy()
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]]) if len(names) else []
    blocks = list(names[starts])
    if len(set(blocks)) == len(blocks):
        ends = [*starts[1:], len(names)]
        return {n: (x[a:b], y[a:b]) for n, a, b in zip(blocks, starts, ends)}
    out = {}
    for name, g in curves.groupby("option", sort=False):
        out[name] = (g["requests_per_month"].to_numpy(), g["usd_per_month"].to_numpy())
    return out


def fmt_volume(requests_per_month: float) -> str:
    """1234567 -> '1.23M' (requests/month)."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(requests_per_month) >= div:
            return f"{requests_per_month / div:.3g}{unit}"
    return f"{requests_per_month:.3g}"


def fmt_usd(usd: float | None) -> str:
    if usd is None or (isinstance(usd, float) and math.isnan(usd)):
        return "–"
    if usd == 0:
        return "$0"
    if abs(usd) >= 100:
        return f"${usd:,.0f}"
    return f"${usd:.3g}" if abs(usd) >= 0.01 else f"${usd:.2e}"


def esc(x) -> str:
    """HTML-escaped text of ``x`` ('' for None)."""
    return html.escape("" if x is None else str(x))


def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}" if isinstance(x, float) else esc(x)


def summary_html(decision, scenario: Scenario, robust=None) -> str:
    """One line: what to run at the expected volume (the verified choice, else the cheapest
    feasible on an assumption, labelled), what it saves, and how likely it stays the cheapest
    (``robust``: a :class:`workbench.decide.robustness.Robustness`)."""
    v = fmt_volume(scenario.volume_requests_per_month)
    if decision.choice is None:
        return (f"<p class='wb-summary'>At <b>{v}</b> requests/month no option is verified: "
                f"nothing measured on this workload meets every gate.</p>")
    chosen = decision.verified_choice or decision.choice
    label = "verified" if decision.verified_choice else "assumed, not verified"
    saves = ""
    if decision.runner_up is not None and decision.savings_usd_per_month is not None:
        saves = (f"; saves <b>{fmt_usd(decision.savings_usd_per_month)}</b>/month "
                 f"vs {esc(decision.runner_up)}")
    stays = ""
    if robust is not None and robust.probability is not None:
        stays = (f" <span class='wb-robust'>It stays the cheapest verified option in "
                 f"<b>{robust.probability:.0%}</b> of {robust.ranges.draws:,} draws ({esc(robust.ranges.describe())}).</span>")
    return (f"<p class='wb-summary'>At <b>{v}</b> requests/month run on "
            f"<b class='wb-choice'>{esc(chosen)}</b> ({label}){saves}.{stays}</p>")


def placement_html(decision) -> str:
    """The placement table (one row per option at the expected volume) and the flip volumes."""
    head = ("<tr><th>option</th><th>kind</th><th>feasible</th><th>USD/month</th>"
            "<th>USD/request</th><th>quality (CI low)</th><th>latency</th><th>privacy</th>"
            "<th>provenance</th></tr>")
    rows = []
    for r in decision.table.to_dict("records"):  # decide's order: feasible, then cheapest
        chosen = " class='wb-chosen'" if r["option"] == decision.choice else ""
        feasible = "yes" if r["feasible"] else f"no: {esc(r['reason'])}"
        quality = f"{_num(r['quality'])} ({_num(r['quality_ci_low'])}) {esc(r['quality_provenance'])}"
        rows.append(
            f"<tr{chosen}><td>{esc(r['option'])}</td><td>{esc(r['kind'])}</td><td>{feasible}</td>"
            f"<td>{fmt_usd(r['usd_per_month'])}</td><td>{fmt_usd(r['usd_per_request'])}</td>"
            f"<td>{quality}</td><td>{_yes(r['latency_ok'])}</td><td>{_yes(r['privacy_ok'])}</td>"
            f"<td>{esc(r['provenance'])}</td></tr>")
    flips = "".join(f"<li>at <b>{fmt_volume(v)}</b> requests/month: {esc(a)} → {esc(b)}</li>"
                    for v, a, b in decision.flips) or "<li>no flip in the volume range</li>"
    return (f"<table class='wb-placement'>{head}{''.join(rows)}</table>"
            f"<p><b>Flip volumes</b></p><ul class='wb-flips'>{flips}</ul>")


def _yes(ok) -> str:
    return "–" if ok is None else ("ok" if ok else "no")


def provenance_html(workload, scenario: Scenario, options: list, token_profile, left_out=()) -> str:
    """Every input of the decision with its provenance label and source, then the stored runs
    left out of it (failed or degraded: never evidence) and why."""
    default = default_scenario(workload)

    def src(name):
        same = getattr(default, name) == getattr(scenario, name)
        return f"assumed (workload spec: {workload.name})" if same else OVERRIDE

    rows = [
        ("expected volume", f"{fmt_volume(scenario.volume_requests_per_month)} requests/month",
         src("volume_requests_per_month")),
        ("peak factor", _num(scenario.peak_factor), src("peak_factor")),
        ("minimum replicas", scenario.min_replicas,
         "assumed (default)" if scenario.min_replicas == 1 else OVERRIDE),
        (f"quality floor ({workload.primary_metric})", _num(scenario.quality_floor),
         src("quality_floor")),
        ("latency SLO (ms)", _num(scenario.latency_slo_ms), src("latency_slo_ms")),
        ("route fraction", _num(scenario.route_fraction), src("route_fraction")),
    ]
    for which in ("prompt", "output"):
        rows.append((f"{which} tokens/request (mean)", _num(mean_tokens(token_profile or {}, which)),
                     (token_profile or {}).get("provenance", "assumed")))
    for o in options:
        for name, label in (getattr(o, "provenance", None) or {}).items():
            rows.append((f"{o.name}: {name}", _num(getattr(o, name, None)), label))
    body = "".join(f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td>{esc(c)}</td></tr>" for a, b, c in rows)
    dropped = "".join(f"<li>{esc(n)}</li>" for n in left_out)
    dropped = f"<p><b>Not used as evidence</b></p><ul class='wb-left-out'>{dropped}</ul>" if dropped else ""
    return ("<table class='wb-provenance'><tr><th>input</th><th>value</th>"
            f"<th>provenance (source)</th></tr>{body}</table>{dropped}")
