"""Fine-tuned options: the training an adapter option carries, read from the store.

A run measured against an adapter records ``params.adapter``, the adapter's folder
(``data/results/<finetune-run-id>/adapter/best``); its model is ``<base>+<adapter name>``. From that
folder :func:`finetune_run_of` finds the ``finetune`` run that trained it, and
:func:`training_cost` prices that training (:mod:`workbench.cost.training`):

- **measured**: the run's CPU seconds × the hourly price of the instance it ran on (its
  ``deployment.instance``, ``local-cpu`` here, whose catalog price is itself an assumption);
  amortized over ``retrain_months`` and added to the option as ``training_usd_per_month``;
- **projected, uncalibrated**: the same training (base parameters × tokens seen) on each
  one-GPU catalog instance (:func:`gpu_projection`) at an assumed utilization — no GPU training
  run was measured, so nothing calibrates it. It is shown beside the measured amount, never
  added to the curve.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..cost import training
from ..errors import WorkbenchError
from ..results.schema import EVIDENCE_STATUSES, RunParams

TRAINING = "fine-tuned options: training cost"
"""The heading (Note cause) of notes about adapters' training."""


@dataclass(frozen=True)
class TrainingParams:
    """Parameters of the training cost: ``retrain_months`` (the period a training is amortized
    over; default quarterly) and ``utilization`` (assumed share of a GPU's peak BF16 FLOP/s a
    training run sustains, for the projection)."""

    retrain_months: float = training.DEFAULT_RETRAIN_MONTHS
    utilization: float = training.DEFAULT_UTILIZATION

    def __post_init__(self):
        training.amortized_usd_per_month(0.0, self.retrain_months)  # one clear error line
        training.projected_training_hours(0.0, peak_tflops=1.0, utilization=self.utilization)


def adapter_of(run) -> str | None:
    """The adapter folder a run was measured against (``params.adapter``), else None."""
    return RunParams.of(run.get("params") if hasattr(run, "get") else None).adapter


def finetune_run_of(results, adapter: str):
    """The finetune run (a runs-table row) that saved ``adapter``: the run whose summary names
    that folder, else the run whose id is the folder's ``data/results/<run-id>/adapter/...``
    component. None when the store has none (or only runs that are not evidence)."""
    if results is None or not len(results.runs):
        return None
    runs = results.runs[(results.runs.kind == "finetune") & results.runs.status.isin(EVIDENCE_STATUSES)]
    norm = Path(str(adapter)).as_posix().rstrip("/")
    for run in runs.sort_values("started_at", ascending=False).to_dict("records"):
        summary = run.get("summary") if isinstance(run.get("summary"), dict) else {}
        if str(summary.get("adapter", "")).rstrip("/") == norm or run["run_id"] in Path(norm).parts:
            return run
    return None


def base_parameters(run, catalog) -> tuple[float | None, str]:
    """(parameters, source) of the base model a finetune run trained: the catalog's models row
    of its ``base`` name, or of the folder its ``params.base_path`` names (``<model>-hf``)."""
    params = run.get("params") if isinstance(run.get("params"), dict) else {}
    names = [run.get("model"), (run.get("summary") or {}).get("base"), params.get("base")]
    if params.get("base_path"):
        names.append(Path(str(params["base_path"])).name.removesuffix("-hf"))
    for name in filter(None, names):
        try:
            row = catalog.model(str(name))
        except WorkbenchError:
            continue
        return float(row["params_b"]) * 1e9, f"catalog models.csv {row['name']} ({float(row['params_b']):g} B)"
    return None, f"no catalog model for base {names[0]!r}"


def _instance_price(catalog, name: str, pricing: str) -> dict | None:
    for p in dict.fromkeys((pricing, "on-demand")):
        try:
            return catalog.instance(name, pricing=p)
        except WorkbenchError:
            continue
    return None


def measured_cost(run, catalog, pricing: str = "on-demand") -> tuple[float | None, str]:
    """(USD, label) of a finetune run as measured: CPU seconds × its instance's hourly price."""
    summary = run.get("summary") if isinstance(run.get("summary"), dict) else {}
    dep = run.get("deployment") if isinstance(run.get("deployment"), dict) else {}
    inst = _instance_price(catalog, dep.get("instance") or "", pricing)
    if inst is None or summary.get("cpu_s") is None:
        why = "no CPU time recorded" if summary.get("cpu_s") is None else f"no catalog price for {dep.get('instance')!r}"
        return None, f"training cost unknown: {why}"
    usd = training.measured_training_usd(summary["cpu_s"], inst["usd_per_hour"])
    source = str(inst.get("source", ""))
    price = source if source.lower().startswith("assumed") else f"published: {source}"
    return usd, (f"measured ({summary['cpu_s']:.0f} CPU s in run {run['run_id']}) × {inst['instance']} "
                 f"${float(inst['usd_per_hour']):g}/h ({price})")


def gpu_projection(run, catalog, *, utilization: float = training.DEFAULT_UTILIZATION, pricing: str = "on-demand"):
    """The finetune run's training projected on every one-GPU catalog instance (DataFrame:
    instance, gpu, bf16_tflops, flops, hours, usd, usd_per_hour, label), cheapest first; empty
    when the base model is not in the catalog."""
    import pandas as pd

    cols = ["instance", "gpu", "bf16_tflops", "flops", "hours", "usd", "usd_per_hour", "label"]
    summary = run.get("summary") if isinstance(run.get("summary"), dict) else {}
    n_params, source = base_parameters(run, catalog)
    if n_params is None or not summary.get("tokens_seen"):
        return pd.DataFrame(columns=cols)
    method = summary.get("method", "lora")
    flops = training.training_flops(n_params, summary["tokens_seen"], method)
    share = f"LoRA share {training.LORA_TIME_SHARE:.3f} (Hu et al. 2021, §4.2)" if method == "lora" else "full"
    label = (f"{training.PROJECTED_LABEL}: 6 × {source} × {summary['tokens_seen']:,} tokens, {share}, "
             f"assumed utilization {utilization:g} of peak BF16")
    inst = catalog.instances[(catalog.instances.gpu != "CPU") & (catalog.instances.gpu_count == 1)
                             & (catalog.instances.pricing == pricing)].drop_duplicates(["cloud", "instance"])
    rows = []
    for r in inst.itertuples():
        try:  # the price in force today (catalog.instance), not the first row of the instance
            price = float(catalog.instance(r.instance, pricing=pricing, cloud=r.cloud)["usd_per_hour"])
            peak = float(catalog.gpu(r.gpu)["bf16_tflops"])
            hours = training.projected_training_hours(flops, peak_tflops=peak, utilization=utilization)
        except (WorkbenchError, TypeError, ValueError, KeyError):
            continue
        rows.append({"instance": f"{r.cloud} {r.instance}", "gpu": r.gpu, "bf16_tflops": peak, "flops": flops, "hours": hours,
                     "usd": hours * price, "usd_per_hour": price, "label": label})
    return pd.DataFrame(rows, columns=cols).sort_values("usd", ignore_index=True)


def training_cost(run, catalog, params: TrainingParams = TrainingParams(), pricing: str = "on-demand") -> dict:
    """What an adapter's training costs: ``usd`` and ``label`` (measured), ``usd_per_month``
    (amortized over ``params.retrain_months``; 0 when unknown), ``projected`` (the cheapest
    one-GPU projection, a :func:`gpu_projection` row, or None) and ``provenance`` (one line)."""
    usd, label = measured_cost(run, catalog, pricing)
    gpus = gpu_projection(run, catalog, utilization=params.utilization, pricing=pricing)
    best = gpus.iloc[0].to_dict() if len(gpus) else None
    per_month = 0.0 if usd is None else training.amortized_usd_per_month(usd, params.retrain_months)
    text = (f"${usd:.4g} {label}, amortized over {params.retrain_months:g} months = ${per_month:.4g}/month"
            if usd is not None else label)
    if best is not None:
        text += (f"; on a GPU: ${best['usd']:.3g} ({best['hours'] * 3600:.3g} s on {best['instance']}, "
                 f"{best['label']}; not added)")
    return {"usd": usd, "label": label, "usd_per_month": per_month, "projected": best, "provenance": text,
            "finetune_run": run["run_id"]}


def with_training(option, run, results, catalog, params: TrainingParams = TrainingParams(),
                  pricing: str = "on-demand"):
    """``(option, adapter)``: a measured ``option`` from ``run``, with its adapter's training
    added as ``training_usd_per_month`` and a ``training`` provenance entry, and what
    consolidation needs (``adapter``: base, engine, instance, finetune run; None when the run
    measured no adapter). An adapter whose finetune run is not in the store keeps no training
    cost, and its provenance says so."""
    adapter = adapter_of(run)
    if not adapter:
        return option, None
    ft = finetune_run_of(results, adapter)
    base = str(run.get("model", "")).split("+")[0]
    dep = run.get("deployment") if isinstance(run.get("deployment"), dict) else {}
    info = {"adapter": adapter, "base": base, "engine": run.get("engine"), "instance": dep.get("instance"),
            "finetune_run": None if ft is None else ft["run_id"], "training_usd_per_month": 0.0,
            "workload": None if ft is None or not isinstance(ft.get("workload"), str) else ft["workload"]}
    if ft is None:
        prov = {**option.provenance, "training": f"unknown: no finetune run for adapter {adapter} in the store (not added)"}
        return dataclasses.replace(option, provenance=prov), info
    cost = training_cost(ft, catalog, params, pricing)
    info["training_usd_per_month"] = cost["usd_per_month"]
    return dataclasses.replace(option, training_usd_per_month=cost["usd_per_month"],
                               provenance={**option.provenance, "training": cost["provenance"]}), info
