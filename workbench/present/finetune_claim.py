"""The verdict on "a fine-tuned small model beats the generic model on its task", from our own
paired tests (:func:`workbench.measure.evaluate.compare`, on the test split, whose templates
the adapter never saw):

- **vs its base model**: the adapter's quality run (model ``<base>+<adapter>``) against the base
  model's on the same engine, on the workload's primary metric: holds when the 95% CI of the
  difference lies above 0, does not hold when it lies below, else cannot tell.
- **vs the workload's quality floor**: whether the adapter is good enough to be chosen at all
  (its value against the floor; not part of the claim, but what keeps it from overclaiming).
- **vs an API**: against every API measured on that workload (a quality run whose deployment is
  an API); where none was measured, "cannot tell here: not measured" — no claim about APIs.

Each verdict says what it rests on: the runs, n items, the difference with its CI, p and the test.
"""

from __future__ import annotations

from ..errors import WorkbenchError
from ..inputs.workloads import load_workload
from ..measure.evaluate import compare
from ..results.schema import EVIDENCE_STATUSES
from .claims import FAILS, HOLDS, UNKNOWN, VERDICT_COLUMNS, _best_run, _p_text, _v

CLAIM_ID = "fine-tuned"


def _quality_runs(results):
    if results is None or not len(results.runs) or not len(results.items):
        return None, None
    runs = results.runs[(results.runs["kind"] == "quality") & results.runs["status"].isin(EVIDENCE_STATUSES)]
    runs = runs[~runs["weights"].fillna("real").astype(str).str.contains("random")]
    n_items = results.items.groupby("run_id").size()
    return runs[runs["run_id"].isin(n_items.index)], n_items


def _is_api(run) -> bool:
    dep = run.get("deployment") if isinstance(run.get("deployment"), dict) else {}
    return dep.get("kind") == "api"


def finetune_pairs(results) -> list[dict]:
    """Per workload with an adapter's quality run: ``{"workload", "adapter", "base", "apis"}`` —
    the adapter's best run (most items, latest), the base model's best run on the same engine
    (None when not measured) and the best run of each API measured on the workload."""
    runs, n_items = _quality_runs(results)
    if runs is None:
        return []
    model = runs["model"].fillna("").astype(str)
    out = []
    for (workload, engine, name), g in runs[model.str.contains("+", regex=False)].groupby(
            ["workload", "engine", "model"], sort=True):
        base_name = name.split("+")[0]
        base = runs[(runs.workload == workload) & (runs.engine == engine) & (model == base_name)]
        apis = runs[(runs.workload == workload) & runs.apply(_is_api, axis=1)]
        out.append({"workload": workload, "adapter": _best_run(g, n_items),
                    "base": _best_run(base, n_items) if len(base) else None,
                    "apis": [_best_run(a, n_items) for _, a in apis.groupby("model", sort=True)]})
    return out


def _paired(workload: str, scope: str, a, b, results, seed: int) -> dict:
    """A verdict row on adapter run ``a`` vs run ``b``: holds when the primary metric's
    difference a − b has its 95% CI above 0, does not hold when below 0."""
    try:
        metric = load_workload(workload).primary_metric
        cmp = compare(a["run_id"], b["run_id"], results, seed=seed)
        c = cmp[cmp["metric"] == metric].iloc[0]
    except (WorkbenchError, IndexError) as e:
        return _v(CLAIM_ID, scope, "—", None, "", UNKNOWN, f"runs not comparable: {e}")
    verdict = HOLDS if c["ci_low"] > 0 else FAILS if c["ci_high"] < 0 else UNKNOWN
    why = (f"measured, test split, n={int(c['n'])} items: {a['model']} {c['a']:.3f} vs {b['model']} {c['b']:.3f}, "
           f"difference {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] (95% CI), {_p_text(c['p_value'])} "
           f"({c['test']}); holds when the CI lies above 0")
    return _v(CLAIM_ID, scope, f"{metric} {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]",
              float(c["diff"]), metric, verdict, why, provenance="measured",
              source=f"runs {a['run_id']} vs {b['run_id']}", ci_low=float(c["ci_low"]), ci_high=float(c["ci_high"]))


def _floor_row(workload: str, a) -> dict:
    """The adapter's primary metric against the workload's quality floor (from its run's summary)."""
    wl = load_workload(workload)
    metric, floor = wl.primary_metric, (wl.quality_floor or {}).get(wl.primary_metric)
    m = ((a.get("summary") or {}).get("metrics") or {}).get(metric) if isinstance(a.get("summary"), dict) else None
    scope = f"{workload}: {a['model']} vs the quality floor"
    if floor is None or not m:
        return _v(CLAIM_ID, scope, "—", None, metric, UNKNOWN, "no floor or no stored metric for this run")
    verdict = HOLDS if m["ci_low"] >= floor else FAILS if m["ci_high"] < floor else UNKNOWN
    return _v(CLAIM_ID, scope, f"{metric} {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}] vs floor {floor:g}",
              float(m["value"]), metric, verdict,
              f"measured, test split, n={m['n']} items: {m['value']:.3f} (95% CI [{m['ci_low']:.3f}, {m['ci_high']:.3f}]) "
              f"{'reaches' if verdict == HOLDS else 'is below' if verdict == FAILS else 'straddles'} the floor {floor:g}: "
              f"{'good enough to be chosen' if verdict == HOLDS else 'not good enough to be chosen on this workload'}",
              provenance="measured", source=f"run {a['run_id']}", ci_low=float(m["ci_low"]), ci_high=float(m["ci_high"]))


def verdicts(results, *, seed: int = 0):
    """One row per workload with an adapter and per comparison (base, floor, each API or "not
    measured"), in :data:`workbench.present.claims.VERDICT_COLUMNS`."""
    import pandas as pd

    pairs = finetune_pairs(results)
    if not pairs:
        rows = [_v(CLAIM_ID, "quality", "—", None, "", UNKNOWN, "no quality run of a fine-tuned adapter in the store")]
        return pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    rows = []
    for p in pairs:
        w, a = p["workload"], p["adapter"]
        if p["base"] is None:
            rows.append(_v(CLAIM_ID, f"{w}: {a['model']} vs its base model", "—", None, "", UNKNOWN,
                           f"base model not measured on {w} on {a['engine']}"))
        else:
            rows.append(_paired(w, f"{w}: {a['model']} vs its base model {p['base']['model']} (generic, small)",
                                a, p["base"], results, seed))
        rows.append(_floor_row(w, a))
        rows += [_paired(w, f"{w}: {a['model']} vs API {api['model']}", a, api, results, seed) for api in p["apis"]]
        if not p["apis"]:
            rows.append(_v(CLAIM_ID, f"{w}: {a['model']} vs an API", "—", None, "", UNKNOWN,
                           f"not measured: no API quality run on {w} in the store, so no claim about APIs"))
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)
