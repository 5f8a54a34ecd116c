"""The decision in one table and its notes by cause: what the report shows first.

- :func:`top_table`: one row per workload — verified choice (or "none yet"), its monthly cost,
  how likely it stays the cheapest (``Decision.robustness``),
  against everything on one frontier API (the portfolio's; where that API does not serve the
  workload, e.g. embeddings, the workload's own strongest API, named) and everything self-hosted, the next flip volume, the
  evidence level and what to measure next (the first command; the rest are in the workload's
  section). Plain values (numbers stay numbers); formatting is the presentation's.
- :func:`notes_by_cause`: every note of every workload's options grouped under its cause
  (``options.Note.cause``), for a folded section whose headlines name no run id.
"""

from __future__ import annotations

from .candidates import STRONGEST
from .decision import portfolio

TOP_COLUMNS = ["workload", "verified_choice", "usd_per_month", "stays_cheapest", "frontier_api", "frontier_api_usd_per_month",
               "frontier_api_note", "self_hosted_usd_per_month", "self_hosted_note", "next_flip",
               "next_flip_requests_per_month", "evidence", "measure_next", "measure_next_needs"]


def top_table(decisions, frontier_api: str | None = None):
    """One row per decision (see the module doc)."""
    import pandas as pd

    pf = portfolio(decisions, frontier_api=frontier_api).set_index("workload")
    rows = []
    for d in decisions:
        p = pf.loc[d.workload]
        t = d.table.set_index("option")
        api = p.frontier_api if p.frontier_api in t.index else portfolio([d]).frontier_api.iloc[0]
        rows.append({
            "workload": d.workload,
            "verified_choice": d.verified_choice or "none yet",
            "usd_per_month": t.loc[d.verified_choice, "usd_per_month"] if d.verified_choice else None,
            "stays_cheapest": getattr(d.robustness, "probability", None),
            "frontier_api": api,
            "frontier_api_usd_per_month": t.loc[api, "usd_per_month"] if api in t.index else None,
            "frontier_api_note": _api_note(d, api) + ("" if api == p.frontier_api else f": {api}"),
            "self_hosted_usd_per_month": p.self_hosted_usd_per_month,
            "self_hosted_note": _self_note(d, p.self_hosted),
            **_next_flip(d),
            "evidence": _evidence(d),
            **_measure_next(d),
        })
    return pd.DataFrame(rows, columns=TOP_COLUMNS)


def _api_note(d, api) -> str:
    t = d.table.set_index("option")
    if api is None or api not in t.index:
        return "not offered"
    row = t.loc[api]
    if not row.privacy_ok:
        return "not allowed (internal-only)"
    return "verified" if row.feasible and row.evidence == "measured" else "not verified"


def _self_note(d, option) -> str:
    if option is None or option != option:
        return "no self-hosted option"
    row = d.table.set_index("option").loc[option]
    return f"{option}: " + ("verified" if row.feasible and row.evidence == "measured" else "not verified")


def _next_flip(d) -> dict:
    """The first flip among the feasible options above the expected volume."""
    after = [f for f in d.flips if f[0] > d.volume]
    if not after:
        return {"next_flip": "none", "next_flip_requests_per_month": None}
    volume, _, to = after[0]
    return {"next_flip": f"→ {to}", "next_flip_requests_per_month": float(volume)}


def _evidence(d) -> str:
    """The answer's evidence level in words, with the best indicative evidence when unverified."""
    if d.verified_choice is not None:
        row = d.table.set_index("option").loc[d.verified_choice]
        return f"measured: {d.metric} {row.quality:.3g} (CI {row.quality_ci_low:.3g}–{row.quality_ci_high:.3g})"
    m = d.measure_next
    strongest = m[m.role == STRONGEST] if m is not None and len(m) else None
    if d.choice is not None:
        return f"assumed (not verified): {d.choice}"
    if strongest is not None and len(strongest) and strongest.indicative.iloc[0]:
        return f"none yet — best indicative: {strongest.option.iloc[0]}, {strongest.indicative.iloc[0]}"
    return "none yet — nothing measured that passes privacy and latency"


def _measure_next(d) -> dict:
    m = d.measure_next
    if m is None or not len(m):
        return {"measure_next": "", "measure_next_needs": ""}
    r = m.iloc[0]
    more = f" (+{len(m) - 1} more in its section)" if len(m) > 1 else ""
    return {"measure_next": r.command + more, "measure_next_needs": r.needs}


def notes_by_cause(decision_set) -> dict[str, list[tuple[str, str]]]:
    """``{cause: [(workload, note), ...]}`` over every decided workload's notes, causes in order
    of first appearance; a note without a cause goes under "other"."""
    out: dict[str, list[tuple[str, str]]] = {}
    for d in decision_set.decisions:
        for n in decision_set.built[d.workload].notes:
            out.setdefault(getattr(n, "cause", "other"), []).append((d.workload, str(n)))
    for s in decision_set.skipped:
        out.setdefault("workloads with nothing to decide between", []).append((s.split(":")[0], s))
    return out
