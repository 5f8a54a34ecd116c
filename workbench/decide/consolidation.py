"""Consolidation: workloads whose options are adapters of one base model on one engine and
instance type can share one deployment, its replicas sized on their combined peak
(:func:`workbench.cost.shared.shared_usd_per_month`). :func:`consolidation_table` puts the
monthly cost of the shared deployment beside one deployment per workload, and the saving.

Per workload the adapter option counted is its chosen option when that is an adapter, else its
cheapest adapter option at its volume, marked "candidate" (it does not pass the gates yet: the
saving is what sharing would save once it does).
"""

from __future__ import annotations

from collections import defaultdict

from ..cost.shared import shared_usd_per_month

COLUMNS = ["base", "engine", "instance", "workloads", "options", "status", "requests_per_month",
           "replicas_separate", "usd_per_month_separate", "replicas_shared", "usd_per_month_shared",
           "saving_usd_per_month", "training_usd_per_month"]


def adapter_picks(decision_set) -> list[dict]:
    """Per workload, its adapter option (chosen, else the cheapest candidate) with what it
    groups on: ``{"workload", "option", "status", "volume", "base", "engine", "instance"}``."""
    picks = []
    for d in decision_set.decisions:
        built = decision_set.built[d.workload]
        adapters = {o.name: o for o in built.options if built.sources.get(o.name, {}).get("adapter")}
        if not adapters:
            continue
        if d.choice in adapters:
            name, status = d.choice, "chosen"
        else:
            name, status = min(adapters, key=lambda n: float(adapters[n].usd_per_month(d.volume))), "candidate"
        a = built.sources[name]["adapter"]
        picks.append({"workload": d.workload, "option": adapters[name], "status": status, "volume": d.volume,
                      "base": a["base"], "engine": a["engine"], "instance": a["instance"]})
    return picks


def consolidation_table(decision_set):
    """One row per group of two or more workloads whose adapter options share base, engine and
    instance: their monthly cost as one deployment each vs one shared deployment, the saving,
    and the adapters' amortized training (included in both). Empty when no two workloads have
    adapters of one base."""
    import pandas as pd

    groups = defaultdict(list)
    for p in adapter_picks(decision_set):
        groups[(p["base"], p["engine"], p["instance"])].append(p)
    rows = []
    for (base, engine, instance), picks in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        if len(picks) < 2:
            continue
        opts = [p["option"] for p in picks]
        s = shared_usd_per_month(opts, [p["volume"] for p in picks])
        rows.append({"base": base, "engine": engine, "instance": instance,
                     "workloads": ", ".join(p["workload"] for p in picks),
                     "options": "; ".join(o.name for o in opts),
                     "status": ", ".join(f"{p['workload']}: {p['status']}" for p in picks),
                     "requests_per_month": sum(p["volume"] for p in picks),
                     "replicas_separate": s["separate_replicas"], "usd_per_month_separate": s["separate_usd_per_month"],
                     "replicas_shared": s["replicas"], "usd_per_month_shared": s["usd_per_month"],
                     "saving_usd_per_month": s["saving"],
                     "training_usd_per_month": sum(o.training_usd_per_month for o in opts)})
    return pd.DataFrame(rows, columns=COLUMNS)
