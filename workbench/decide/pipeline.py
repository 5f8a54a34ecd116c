"""The decision pipeline, in the order of the design: the stored **results** (measured runs),
the **projection** calibrated on them, the priced options (**cost**), the quality evidence, and
the **decision** per workload. The report (``notebooks/decide.ipynb``) and the dashboard's model
(:mod:`workbench.present.whatif`) both call it; presenting the answer is theirs.

    results  = store.load(paths)                      measured runs (evidence statuses only count)
    fits     = calibrate.calibration_fits(results)    the roofline calibrated on the GPU sweeps
    built    = options.build_options_detailed(...)    APIs, measured and projected self-hosted options
    training = options.add_training(...)              fine-tuned adapters carry their training cost
    quality  = quality_estimates(...)                 evidence: measured, assumed, related, published
    decision = decide.decide(workload, options, ...)  gates (measured evidence only), cost, flips, candidates
    next     = candidates.measure_next(...)           what to measure next, with the exact commands
    robust   = robustness.robustness_many(...)        how likely each verified choice stays cheapest
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..cost.cost import requests_per_month
from ..inputs.catalog import load_catalog
from ..inputs.targets import load_targets
from ..inputs.workloads import list_workloads, load_workload
from ..project import calibrate
from ..results import store
from . import candidates, decision, finetuned, options, robustness
from .parameters import validate
from .quality import quality_estimates, related_evidence


@dataclass
class Inputs:
    """What every workload's decision is computed from, loaded once: the stored results, the
    catalog, the calibrated roofline (``fits``; None: uncalibrated) and its label, and the
    choices that shape the options (pricing type, APIs to consider, projected candidates, an
    assumed quality for options with no evidence)."""

    results: Any
    catalog: Any
    fits: dict | None
    calibration: str
    pricing: str = "on-demand"
    apis: Any = None
    candidates: tuple = options.PROJECTED_CANDIDATES
    assume_quality: float | None = None
    training: finetuned.TrainingParams = field(default_factory=finetuned.TrainingParams)


def load_inputs(results_paths=None, *, pricing: str = "on-demand", include_projected: bool = True,
                apis=None, assume_quality: float | None = None,
                training: finetuned.TrainingParams | None = None) -> Inputs:
    """Results (``results_paths``; default data/results + results/), catalog and calibration;
    ``training``: how fine-tuned options' training is priced (default quarterly retraining)."""
    results = store.load(results_paths)
    fits, calibration = calibrate.calibration_fits(results)
    return Inputs(results, load_catalog(), fits, calibration, pricing, apis,
                  options.PROJECTED_CANDIDATES if include_projected else (), assume_quality,
                  training or finetuned.TrainingParams())


def price_workload(workload, inputs: Inputs) -> tuple[options.Options, dict]:
    """``(built, quality)``: the workload's priced options (with notes on what was left out and
    why) and the quality evidence of each."""
    built = options.build_options_detailed(workload, catalog=inputs.catalog, results=inputs.results,
                                           pricing=inputs.pricing, apis=inputs.apis, fits=inputs.fits,
                                           candidates=inputs.candidates)
    options.add_training(workload, built, inputs.results, inputs.catalog, inputs.pricing, inputs.training)
    quality = quality_estimates(workload, built, results=inputs.results, catalog=inputs.catalog,
                                assume=inputs.assume_quality, related=related_evidence(inputs.results, workload))
    return built, quality


def next_measurements(d, built: options.Options, catalog):
    """What to measure next for decision ``d``: its candidates ranked, each with its command
    (:func:`workbench.decide.candidates.measure_next`, targets from targets.yaml)."""
    return candidates.measure_next(d.candidates, built.sources, d.workload, targets=load_targets(), catalog=catalog)


def training_params(retrain_months: float = finetuned.TrainingParams.retrain_months,
                    training_utilization: float = finetuned.TrainingParams.utilization) -> finetuned.TrainingParams:
    """The decision's training parameters, by their notebook names."""
    return finetuned.TrainingParams(retrain_months, training_utilization)


def workload_names(workloads="all") -> list[str]:
    """``"all"`` (or None) → every bundled workload; a name → [name]; a list as given."""
    if workloads in (None, "all"):
        return list_workloads()
    return [workloads] if isinstance(workloads, str) else list(workloads)


@dataclass
class DecisionSet:
    """Decisions for several workloads, with what went into them."""

    decisions: list
    built: dict  # workload name -> options.Options
    quality: dict  # workload name -> {option: QualityEstimate}
    results: Any
    calibration: str
    skipped: list = field(default_factory=list)  # workloads with nothing to decide between, and why
    fits: dict | None = None  # the roofline calibrated on the stored GPU sweeps (calibration_fits)

    def notes(self) -> list[str]:
        """What the decisions rest on, as Markdown lines: the inputs, each workload's answer
        with the notes of its options (left-out runs among them), the skipped workloads."""
        runs = self.results.runs if self.results is not None else []
        lines = [f"**Inputs**: {len(runs)} stored runs ({_kinds(runs)}); projection calibration: {self.calibration}.", ""]
        for d in self.decisions:
            lines.append(f"- {d.summary()}")
            lines += [f"  - note: {n}" for n in self.built[d.workload].notes]
        lines += [f"- skipped {s}" for s in self.skipped]
        return lines

    def provenance(self):
        """One row per workload × option: where its cost, capacity, tokens and quality came from."""
        import pandas as pd

        rows = []
        for d in self.decisions:
            b = self.built[d.workload]
            for o in b.options:
                q = self.quality[d.workload].get(o.name)
                rows.append({"workload": d.workload, "option": o.name, "kind": o.kind, **o.provenance,
                             "tokens": b.tokens["provenance"],
                             "quality": q.label if q else "none (infeasible: measure it with `workbench evaluate`)"})
        return pd.DataFrame(rows)


def _kinds(runs) -> str:
    if not len(runs):
        return "none"
    return ", ".join(f"{n} {k}" for k, n in runs["kind"].value_counts().items())


def decide_workloads(workloads="all", *, volume_scale: float = 1.0, route_fraction: float | None = 0.2,
                     pricing: str = "on-demand", results_paths=None, include_projected: bool = True,
                     apis=None, assume_quality: float | None = None, **training) -> DecisionSet:
    """Decide every workload (``"all"`` or a list of names) from the stored results: the
    parameters of notebooks/decide.ipynb, checked first (workbench.decide.parameters).
    ``training``: ``retrain_months`` and ``training_utilization`` (fine-tuned options)."""
    validate("decide", {"workloads": workloads or "all", "volume_scale": volume_scale,
                        "route_fraction": route_fraction, "pricing": pricing, "results_paths": results_paths,
                        "include_projected": include_projected, "apis": apis, "assume_quality": assume_quality,
                        **training})
    inputs = load_inputs(results_paths, pricing=pricing, include_projected=include_projected, apis=apis,
                         assume_quality=assume_quality, training=training_params(**training))
    decisions, built, quality, skipped = [], {}, {}, []
    for name in workload_names(workloads):
        w = load_workload(name)
        b, q = price_workload(w, inputs)
        if not b.options:
            skipped.append(f"{name}: no option to price ({'; '.join(b.notes) or 'no API of its mode selected'})")
            continue
        volume = requests_per_month(w.daily_volume) * float(volume_scale)
        d = decision.decide(w, b.options, volume=volume, quality=q, route_fraction=route_fraction)
        d.measure_next = next_measurements(d, b, inputs.catalog)
        decisions.append(d)
        built[name], quality[name] = b, q
    for d, r in zip(decisions, robustness.robustness_many([(d, built[d.workload].options) for d in decisions])):
        d.robustness = r
    return DecisionSet(decisions, built, quality, inputs.results, inputs.calibration, skipped, inputs.fits)
