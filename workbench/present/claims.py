"""The seeds' claims, as numbers computed by the projection — each with its provenance label.

- "Mixtral 8x7B decodes three times faster than Llama 2 70B" (:func:`mixtral_vs_llama2_70b`):
  at batch 1 Mixtral reads 2 of its 8 experts per layer; at serving batch sizes a batch touches
  nearly all of them (E·(1 − (1 − k/E)^B)) so the memory advantage shrinks, while the compute
  advantage (12.9 B vs 69 B active parameters) stays.
- "Mistral 7B on one A10G costs fractions of a cent per request" (:func:`mistral_a10g_usd_per_request`):
  capacity at each workload's SLO for its token profile, priced at the g5.xlarge hour.
- "4-bit weights: a quarter of the memory, faster, cheaper" (:func:`four_bit_vs_sixteen_bit`).

Every row is a dict: claim, quantity, value, unit, provenance ("projected" / "published"),
label (the calibration label of :mod:`workbench.project.calibrate`, "uncalibrated" without GPU
measurements), source, and the columns that identify it (claim_id, key, model, batch, workload,
quantization). :func:`claims_table` puts them in one DataFrame.

:func:`verdicts` judges each claim — plus "the same weights on two engines give the same
quality" — per scope: holds / does not hold / cannot tell here, with why. The quality parts are
measured: paired comparisons (:func:`workbench.measure.evaluate.compare`) of stored quality runs — a
4-bit build vs a lower-bit requantization of it, vLLM vs llama.cpp — judged on the 95% CI of
the difference against a tolerance (:func:`quality_verdict`).
"""

from __future__ import annotations

import math

from ..cost.cost import usd_per_mtok_at_full_load
from ..decide.options import token_profile
from ..errors import WorkbenchError
from ..inputs.catalog import load_catalog
from ..inputs.workloads import list_workloads, load_workload
from ..measure.evaluate import compare
from ..project.roofline import (
    Arch,
    Cell,
    Efficiency,
    Hardware,
    capacity_point_at_slo,
    decode_step_s,
    make_cell,
    max_sequences,
    weight_bytes,
)
from ..results.schema import EVIDENCE_STATUSES
from ..results.store import load

GIB = 2**30


_IDS = {"claim_id": "", "key": "", "model": None, "batch": None, "workload": None, "quantization": None}
"""What identifies a number of a claim for :func:`verdicts` (with these defaults)."""


def _row(claim, quantity, value, unit, cell: Cell | None = None, *, provenance: str = "projected",
         source: str = "", **ids) -> dict:
    """One number of a claim (projected unless said). ``ids`` (claim_id, key and the dimensions model, batch,
    workload, quantization: ``_IDS``) identify it for :func:`verdicts`; ``quantity`` is its
    display name; ``source`` defaults to the roofline cell it was projected on."""
    if set(ids) - set(_IDS):
        raise TypeError(f"_row: unknown {sorted(set(ids) - set(_IDS))}")
    return {"claim": claim, "quantity": quantity, "value": value, "unit": unit, "provenance": provenance,
            "label": cell.eff.label if cell is not None else "", "source": source or (
                f"roofline: {cell.arch.name} {cell.quant.name} on {cell.tp}× {cell.hardware.name}" if cell else ""),
            **_IDS, **ids}


def _smallest_tp(arch: Arch, hw: Hardware, quantization: str, eff: Efficiency, context_tokens: int,
                 min_batch: int = 8) -> Cell:
    """The fewest devices (1, 2, 4, 8) whose memory holds the weights and ``min_batch`` sequences."""
    for tp in (1, 2, 4, 8):
        cell = make_cell(arch, hw, quantization, tp=tp, eff=eff)
        if max_sequences(cell, context_tokens) >= min_batch:
            return cell
    return cell


def mixtral_vs_llama2_70b(hardware: str | Hardware = "H100-SXM", batches=(1, 8, 32, 64), *,
                          quantization: str = "bf16", context_tokens: int = 1000, tp: int | None = None,
                          eff: Efficiency | None = None, catalog=None) -> list[dict]:
    """Decode tokens/s of Mixtral-8x7B and Llama-2-70B at each batch (B / decode step at
    ``context_tokens`` of context), on the same number of devices (the fewest that hold
    Llama-2-70B with 8 sequences, unless ``tp``), and their ratio."""
    hw = hardware if isinstance(hardware, Hardware) else Hardware.from_catalog(hardware, catalog)
    mix, llama = Arch.from_catalog("Mixtral-8x7B", catalog), Arch.from_catalog("Llama-2-70B", catalog)
    eff = eff or Efficiency()
    tp = tp or _smallest_tp(llama, hw, quantization, eff, context_tokens).tp
    cm, cl = (make_cell(a, hw, quantization, tp=tp, eff=eff) for a in (mix, llama))
    claim = "Mixtral 8x7B vs Llama 2 70B decode speed ('three times faster')"
    ids = {"claim_id": "mixtral-speed"}
    rows = [_row(claim, "active params Mixtral / Llama-2-70B", mix.active_params / llama.params, "ratio",
                 provenance="published", source="catalog models.csv (parameter counts from the architecture)",
                 key="active_params_ratio", **ids)]
    for b in batches:
        tps_m = b / decode_step_s(cm, b, context_tokens)
        tps_l = b / decode_step_s(cl, b, context_tokens)
        rows += [_row(claim, f"Mixtral-8x7B decode tokens/s at batch {b}", tps_m, "tokens/s", cm,
                      key="decode_tokens_per_s", model="Mixtral-8x7B", batch=b, **ids),
                 _row(claim, f"Llama-2-70B decode tokens/s at batch {b}", tps_l, "tokens/s", cl,
                      key="decode_tokens_per_s", model="Llama-2-70B", batch=b, **ids),
                 _row(claim, f"speed-up at batch {b}", tps_m / tps_l, "×", cm, key="speedup", batch=b, **ids)]
    return rows


def _workload_profiles(workloads):
    out, results = [], load()
    for name in workloads or list_workloads():
        w = load_workload(name)
        prof = token_profile(w, results)
        if not prof.get("output_tokens_mean"):
            continue  # embeddings/retrieval: no generation to price with a decoder
        out.append((w.name, prof, dict(w.slo or {})))
    return out


def mistral_a10g_usd_per_request(workloads=None, *, instance: str = "g5.xlarge", quantization: str = "bf16",
                                 eff: Efficiency | None = None, catalog=None) -> list[dict]:
    """Per workload: Mistral-7B on one A10G at the workload's token profile and SLO — the
    capacity (requests/s, :func:`~workbench.project.roofline.capacity_point_at_slo`) and USD per request
    with the replica kept busy: usd_per_hour / 3600 / capacity_rps."""

    catalog = catalog or load_catalog()
    inst = catalog.instance(instance)
    usd_per_hour = float(inst["usd_per_hour"])
    hw = Hardware.from_catalog(str(inst["gpu"]), catalog)
    cell = make_cell(Arch.from_catalog("Mistral-7B", catalog), hw, quantization, eff=eff or Efficiency())
    claim = "Mistral 7B on one A10G: fractions of a cent per request"
    price_src = f"catalog instances.csv: {instance} {inst.get('pricing', 'on-demand')} (as of {inst.get('as_of')})"
    ids = {"claim_id": "mistral-a10g-cost", "model": "Mistral-7B", "quantization": quantization}
    rows = [_row(claim, f"{instance} price", usd_per_hour, "USD/hour", provenance="published", source=price_src,
                 key="usd_per_hour", **ids)]
    for name, prof, slo in _workload_profiles(workloads):
        n_in, n_out = prof["prompt_tokens_mean"], prof["output_tokens_mean"]
        point = capacity_point_at_slo(cell, n_in, n_out, slo)
        rps = point["request_throughput"] if point else 0.0
        usd = usd_per_hour / 3600 / rps if rps else float("inf")
        tokens_note = f"{n_in:.0f} in / {n_out:.0f} out tokens ({prof.get('provenance', 'assumed')}), SLO {slo}"
        rows += [_row(claim, f"{name}: capacity at SLO", rps, "requests/s", cell, source=tokens_note,
                      key="capacity_rps", workload=name, **ids),
                 _row(claim, f"{name}: USD per request at full load", usd, "USD", cell,
                      source=f"{tokens_note}; {price_src}", key="usd_per_request", workload=name, **ids)]
        if point:
            rows.append(_row(claim, f"{name}: USD per 1M output tokens at full load",
                             float(usd_per_mtok_at_full_load(usd_per_hour, point["output_tokens_per_s"])),
                             "USD/Mtok", cell, source=price_src, key="usd_per_mtok", workload=name, **ids))
    return rows


def four_bit_vs_sixteen_bit(model: str = "Mistral-7B", hardware: str = "A10G", *, four_bit: str = "awq",
                            tokens: tuple[int, int] = (1000, 200), slo: dict | None = None,
                            instance: str | None = "g5.xlarge", eff: Efficiency | None = None,
                            catalog=None) -> list[dict]:
    """bf16 vs 4-bit weights of one model on one GPU, for requests of ``tokens`` = (input,
    output) tokens: weight memory (GiB), sequences that fit, decode tokens/s at batch 1,
    capacity (requests/s) at ``slo`` (default TPOT ≤ 50 ms) and, with an instance price, USD per
    1M output tokens at that capacity."""

    catalog = catalog or load_catalog()
    arch = Arch.from_catalog(model, catalog)
    hw = Hardware.from_catalog(hardware, catalog)
    input_tokens, output_tokens = tokens
    slo = slo or {"tpot_ms": 50}
    claim = f"4-bit vs 16-bit weights: {model} on {hardware}"
    usd_per_hour = float(catalog.instance(instance)["usd_per_hour"]) if instance else None
    rows = []
    for q in ("bf16", four_bit):
        cell = make_cell(arch, hw, q, eff=eff or Efficiency())
        ids = {"claim_id": "four-bit", "model": model, "quantization": q}
        rows.append(_row(claim, f"{q}: weight memory", weight_bytes(arch, cell.quant) / GIB, "GiB", cell,
                         key="weight_gib", **ids))
        rows.append(_row(claim, f"{q}: sequences that fit ({input_tokens + output_tokens} tokens)",
                         max_sequences(cell, input_tokens + output_tokens), "sequences", cell, key="sequences", **ids))
        rows.append(_row(claim, f"{q}: decode tokens/s at batch 1", 1 / decode_step_s(cell, 1, input_tokens),
                         "tokens/s", cell, key="decode_tokens_per_s", batch=1, **ids))
        point = capacity_point_at_slo(cell, input_tokens, output_tokens, slo)
        rps = point["request_throughput"] if point else 0.0
        rows.append(_row(claim, f"{q}: capacity at {slo}", rps, "requests/s", cell, key="capacity_rps", **ids))
        if usd_per_hour and point:
            rows.append(_row(claim, f"{q}: USD per 1M output tokens at that capacity",
                             usd_per_hour / (3600 * point["output_tokens_per_s"]) * 1e6, "USD/Mtok", cell,
                             source=f"{instance} at {usd_per_hour} USD/h (catalog)", key="usd_per_mtok", **ids))
    return rows


def claims_table(eff: Efficiency | None = None, catalog=None):
    """All three claims in one DataFrame (claim, quantity, value, unit, provenance, label, source)."""
    import pandas as pd

    rows = (mixtral_vs_llama2_70b(eff=eff, catalog=catalog) + mistral_a10g_usd_per_request(eff=eff, catalog=catalog)
            + four_bit_vs_sixteen_bit(eff=eff, catalog=catalog))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- verdicts
HOLDS, FAILS, UNKNOWN = "holds", "does not hold", "cannot tell here"
CLAIMS = {
    "mixtral-speed": "Mixtral 8x7B decodes ~3× faster than Llama 2 70B",
    "mistral-a10g-cost": "Mistral 7B on one A10G serves requests for fractions of a cent",
    "four-bit": "4-bit quantization cuts memory and cost with little quality loss",
    "engine-parity": "the same weights on two engines give the same quality",
    "fine-tuned": "a fine-tuned small model beats the generic model on its task",
}
"""The claims judged here; "fine-tuned" is judged in :mod:`workbench.present.finetune_claim`."""
VERDICT_COLUMNS = ["claim", "scope", "ours", "value", "ci_low", "ci_high", "unit", "verdict", "why",
                   "provenance", "source"]
_LOWER_BIT = r"^\s*q[23]"  # dtype of a build below 4 bits (Q2_K, Q3_K_M, ...)


def _v(claim_id, scope, ours, value, unit, verdict, why, **evidence) -> dict:
    """One verdict row (VERDICT_COLUMNS); ``evidence``: provenance, source, ci_low, ci_high."""
    return {"claim": CLAIMS[claim_id], "scope": scope, "ours": ours, "value": value, "unit": unit,
            "verdict": verdict, "why": why, "provenance": "", "source": "", "ci_low": None, "ci_high": None,
            **evidence}


_DIMS = ("model", "batch", "workload", "quantization", "label", "source")


def _select(table, claim_id: str, key: str):
    """Rows of one claim and key, with every dimension column (None where the table lacks it);
    None when the table has no claim_id/key columns."""
    if table is None or not {"claim_id", "key"} <= set(getattr(table, "columns", ())):
        return None
    rows = table[(table["claim_id"] == claim_id) & (table["key"] == key)]
    return rows.reindex(columns=[*rows.columns, *(c for c in _DIMS if c not in rows.columns)])


def _projected(r: dict) -> tuple[str, str]:
    """(provenance label, why-clause) of a projected row."""
    label = str(r.get("label") or "uncalibrated")
    if label == "uncalibrated":
        return ("projected, uncalibrated",
                "projected by the roofline with assumed efficiencies, uncalibrated: no GPU measurement behind it")
    return label, label


def _speed_verdicts(table, speedup_min: float) -> list[dict]:
    rows = _select(table, "mixtral-speed", "speedup")
    if rows is None or not len(rows):
        return [_v("mixtral-speed", "decode speed", "—", None, "×", UNKNOWN, "no projection of both models in the table")]
    out = []
    for r in rows.sort_values("batch").to_dict("records"):
        ok = r["value"] >= speedup_min
        prov, why = _projected(r)
        out.append(_v("mixtral-speed", f"decode at batch {int(r['batch'])}", f"{r['value']:.2f}× tokens/s",
                      r["value"], "×", HOLDS if ok else FAILS,
                      f"{r['value']:.2f}× {'≥' if ok else '<'} {speedup_min:g}× ('~3×' read as at least "
                      f"{speedup_min:g}×); {why}", provenance=prov, source=r["source"]))
    return out


def _cent_verdicts(table, usd_max: float) -> list[dict]:
    rows = _select(table, "mistral-a10g-cost", "usd_per_request")
    if rows is None or not len(rows):
        return [_v("mistral-a10g-cost", "USD per request", "—", None, "USD", UNKNOWN,
                   "no workload with generation was priced")]
    out = []
    for r in rows.to_dict("records"):
        usd = float(r["value"])
        prov, why = _projected(r)
        if usd == float("inf"):
            verdict, what, ours = FAILS, "no capacity at the workload's SLO on one A10G", "no capacity at SLO"
        else:
            verdict = HOLDS if usd < usd_max else FAILS
            what = f"{usd * 100:.3g}¢ {'<' if usd < usd_max else '≥'} {usd_max * 100:g}¢ with the replica kept busy"
            ours = f"{usd * 100:.3g}¢ per request"
        out.append(_v("mistral-a10g-cost", f"{r['workload']}: USD per request at full load", ours, usd, "USD",
                      verdict, f"{what}; {why}", provenance=prov, source=r["source"]))
    return out


def _four_bit_verdicts(table) -> list[dict]:
    import pandas as pd

    out = []
    for key, what, unit in (("weight_gib", "weight memory", "GiB"),
                            ("usd_per_mtok", "USD per 1M output tokens at capacity", "USD/Mtok")):
        rows = _select(table, "four-bit", key)
        if rows is None:
            rows = pd.DataFrame(columns=["quantization"])
        base, low = rows[rows["quantization"] == "bf16"], rows[rows["quantization"].notna() & (rows["quantization"] != "bf16")]
        if not len(base) or not len(low):
            out.append(_v("four-bit", what, "—", None, "ratio", UNKNOWN, f"no bf16 and 4-bit {what} in the table"))
            continue
        b, lo = base.iloc[0].to_dict(), low.iloc[0].to_dict()
        ratio = lo["value"] / b["value"]
        prov, why = _projected(lo)
        out.append(_v("four-bit", f"{what}: {lo['model']} {lo['quantization']} vs bf16",
                      f"{lo['value']:.3g} vs {b['value']:.3g} {unit} ({ratio:.2f}×)", ratio, "ratio",
                      HOLDS if ratio < 1 else FAILS, f"4-bit is {ratio:.2f}× the bf16 {what}; {why}",
                      provenance=prov, source=lo["source"]))
    return out


def quality_verdict(kind: str, ci_low: float, ci_high: float, tolerance: float) -> str:
    """The verdict on a paired difference d = reference − other, from its 95% CI [lo, hi].

    ``kind`` "loss" (little quality loss): holds if hi ≤ tol, does not hold if lo > tol.
    ``kind`` "parity" (same quality): holds if −tol ≤ lo and hi ≤ tol, does not hold if
    lo > tol or hi < −tol. Otherwise — or with no CI — cannot tell here."""
    if ci_low is None or ci_high is None or math.isnan(ci_low) or math.isnan(ci_high):
        return UNKNOWN
    if kind == "loss":
        return HOLDS if ci_high <= tolerance else FAILS if ci_low > tolerance else UNKNOWN
    if -tolerance <= ci_low and ci_high <= tolerance:
        return HOLDS
    return FAILS if (ci_low > tolerance or ci_high < -tolerance) else UNKNOWN


def _best_run(runs, n_items):
    """The completed run with the most items, latest first among equals."""
    r = runs.assign(_done=runs["status"] == "completed", _n=runs["run_id"].map(n_items).fillna(0))
    return r.sort_values(["_done", "_n", "started_at"], ascending=False).iloc[0]


def quality_pairs(results, claim_id: str) -> list[tuple]:
    """(workload, reference run, other run) of stored quality runs (real weights) of one model:
    for "four-bit" a 4-bit build (dtype Q4…) vs a lower-bit one (Q2…/Q3…) on the same engine; for
    "engine-parity" vLLM vs llama.cpp at 4 bits or more. The best run of each side counts."""
    if results is None or not len(results.runs) or not len(results.items):
        return []
    runs = results.runs[(results.runs["kind"] == "quality") & results.runs["status"].isin(EVIDENCE_STATUSES)]
    runs = runs[~runs["weights"].fillna("real").astype(str).str.contains("random")]
    n_items = results.items.groupby("run_id").size()
    runs = runs[runs["run_id"].isin(n_items.index)]
    dtype = runs["dtype"].fillna("").astype(str)
    low = dtype.str.contains(_LOWER_BIT, case=False, regex=True)
    if claim_id == "four-bit":
        ref_mask, other_mask, keys = dtype.str.match(r"(?i)^\s*q4"), low, ["workload", "model", "engine"]
    else:
        ref_mask, other_mask, keys = runs["engine"] == "vllm", (runs["engine"] == "llamacpp") & ~low, ["workload", "model"]
    pairs = []
    for key, g in runs.groupby(keys, sort=True):
        a, b = g[ref_mask.loc[g.index]], g[other_mask.loc[g.index]]
        if len(a) and len(b):
            pairs.append((key[0], _best_run(a, n_items), _best_run(b, n_items)))
    return pairs


def _side(run) -> str:
    dtype = str(run["dtype"]).split(" ")[0] if isinstance(run["dtype"], str) else "?"
    return f"{run['engine']} {dtype}"


def _p_text(p: float, n_boot: int = 2000) -> str:
    """p = 0 from a bootstrap means no resample crossed 0: p < 1/n_boot (compare's 2000 resamples)."""
    return f"p={p:.2g}" if p > 0 else f"p<{1 / n_boot:.1g}"


def _quality_verdicts(results, claim_id: str, tolerance: float, seed: int) -> list[dict]:
    kind = "loss" if claim_id == "four-bit" else "parity"
    pairs = quality_pairs(results, claim_id)
    if not pairs:
        need = ("a 4-bit build and a lower-bit build of one model" if kind == "loss"
                else "one model on vLLM and on llama.cpp")
        return [_v(claim_id, "quality", "—", None, "", UNKNOWN,
                   f"no measured quality runs of {need} on the same workload in the store")]
    out = []
    for workload, a, b in pairs:
        scope = f"quality on {workload}: {_side(a)} vs {_side(b)}"
        try:
            metric = load_workload(workload).primary_metric
            cmp = compare(a["run_id"], b["run_id"], results, seed=seed)
            c = cmp[cmp["metric"] == metric].iloc[0]
        except (WorkbenchError, IndexError) as e:
            out.append(_v(claim_id, scope, "—", None, "", UNKNOWN, f"runs not comparable: {e}"))
            continue
        verdict = quality_verdict(kind, c["ci_low"], c["ci_high"], tolerance)
        partial = [f"{r['run_id']} is {r['status']}" for r in (a, b) if r["status"] != "completed"]
        rule = (f"little loss: the loss's 95% CI must lie below {tolerance:g}" if kind == "loss"
                else f"same quality: the difference's 95% CI must lie within ±{tolerance:g}")
        what = "loss" if kind == "loss" else "difference"
        why = (f"measured on {a['model']}, n={int(c['n'])} items: {_side(a)} {c['a']:.3f} vs {_side(b)} "
               f"{c['b']:.3f}, {what} {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], "
               f"{_p_text(c['p_value'])} ({c['test']}); {rule}")
        if kind == "loss":
            why += "; compares 4-bit with its own requantization below 4 bits (no 16-bit original here)"
        else:
            why += f"; weights: {a['dtype']} vs {b['dtype']}"
        if partial:
            why += f"; {', '.join(partial)} (common items only)"
        out.append(_v(claim_id, scope, f"{metric} {what} {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]",
                      float(c["diff"]), metric, verdict, why, provenance="measured",
                      source=f"runs {a['run_id']} vs {b['run_id']}", ci_low=float(c["ci_low"]),
                      ci_high=float(c["ci_high"])))
    return out


def verdicts(table, results=None, *, speedup_min: float = 2.5, usd_per_request_max: float = 0.01,
             tolerance: float = 0.05, seed: int = 0):
    """The seeds' claims against our numbers: one row per claim and scope (a batch size, a
    workload, a pair of runs) with our number, its unit and CI, a verdict (holds / does not hold /
    cannot tell here), why, its provenance and source.

    ``table``: :func:`claims_table` (projected rows); ``results``: the store (default
    :func:`workbench.results.store.load`) for the measured quality comparisons (paired, on common items:
    :func:`workbench.measure.evaluate.compare`). Thresholds: "~3×" holds at ≥ ``speedup_min``; "fractions
    of a cent" at < ``usd_per_request_max`` USD; quality rules in :func:`quality_verdict` with
    ``tolerance`` in the workload metric's own units (0–1 scales: 0.05 = 5 points)."""
    import pandas as pd

    if results is None:
        results = load()
    rows = (_speed_verdicts(table, speedup_min) + _cent_verdicts(table, usd_per_request_max)
            + _four_bit_verdicts(table) + _quality_verdicts(results, "four-bit", tolerance, seed)
            + _quality_verdicts(results, "engine-parity", tolerance, seed))
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)
