"""Quality evidence per option on a workload, one :class:`Evidence` level each: measured on this
workload (:func:`measured_quality`: stored outputs re-scored, 95% bootstrap CI), assumed (only
when the caller states a value), measured on a related task (:func:`related_evidence`: imported
lm-eval results), or published (:func:`published_evidence`: every benchmark row of the catalog,
on its own name and scale). Only measured evidence verifies a choice; related and published
evidence are indicative and never become the workload's metric. Always labelled
(:class:`QualityEstimate`). :func:`quality_estimates` gives one per option of
:class:`workbench.decide.options.Options`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from ..inputs.catalog import load_catalog
from ..measure.evaluate import answered, rescore
from ..measure.scorers import metrics
from ..measure.stats import bootstrap_ci
from ..results.importers import quality_evidence
from ..results.schema import EVIDENCE_STATUSES, RANDOM_WEIGHTS


# ----------------------------------------------------------------------------- quality
class Evidence(str, Enum):
    """How an option's quality on a workload is known.

    - MEASURED: a stored run on this workload, re-scored, with its CI — the only evidence that
      passes a quality floor;
    - ASSUMED: a value the user states in the workload's metric (``assume_quality``), labelled
      as such wherever it shows; it passes a floor as an assumption, never as a verified choice;
    - RELATED: measured on a related task (an imported lm-eval result, another workload of the
      same kind): indicative;
    - PUBLISHED: a benchmark score with its source (MMLU, MMLU-Pro, GPQA, IFEval, BFCL, MTEB,
      …): indicative.

    Indicative evidence is shown with its own name and scale and ranks what to measure next;
    no code path turns it into a workload's metric."""

    MEASURED = "measured"
    ASSUMED = "assumed"
    RELATED = "related"
    PUBLISHED = "published"

    @property
    def in_workload_metric(self) -> bool:
        """True when the value is on the workload's own metric (and so may meet its floor)."""
        return self in (Evidence.MEASURED, Evidence.ASSUMED)


@dataclass(frozen=True)
class QualityEstimate:
    """Quality of one option on one workload, with where it came from.

    ``provenance``: an :class:`Evidence` value (measured | assumed | related | published).
    For measured and assumed evidence ``value`` is the workload's primary metric (``metric``);
    for related and published evidence it is the score of ``metric`` (a benchmark or another
    workload's metric) on its own ``scale`` — indicative, never compared with the floor.
    ``source`` names the run ids, the catalog row (benchmark, as_of, source) or the
    assumption; ``indicative``: the related and published evidence found besides;
    ``benchmark``: for indicative evidence, the key under which scores compare across options."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    provenance: str = "assumed"
    source: str = ""
    metric: str = ""
    n_items: int | None = None
    scale: str = ""
    indicative: tuple = ()
    benchmark: str = ""  # indicative evidence: what scores on one scale compare (e.g. "mmlu")

    @property
    def level(self) -> Evidence:
        return Evidence(self.provenance)

    @property
    def in_workload_metric(self) -> bool:
        return self.level.in_workload_metric

    @property
    def score(self) -> str:
        """The value in words with its own name and scale, e.g. "MMLU 5-shot 68.4 (of 100)"."""
        if self.value is None:
            return "none"
        scale = f" ({self.scale})" if self.scale else ""
        return f"{self.metric} {self.value:.3g}{scale}"

    @property
    def label(self) -> str:
        if self.level is Evidence.PUBLISHED:
            return f"published, indicative only: {self.score} — {self.source}"
        if self.level is Evidence.RELATED:
            return f"measured on a related task, indicative only: {self.score} — {self.source}"
        return f"{self.provenance} ({self.source})" if self.source else self.provenance

    def best_indicative(self) -> "QualityEstimate | None":
        """The strongest indicative evidence: this estimate when it is indicative, else the
        first of ``indicative``."""
        if not self.in_workload_metric:
            return self
        return self.indicative[0] if self.indicative else None


PROXY_ALIASES = {
    "groq/llama3-8b-8192": "Llama-3-8B-Instruct", "groq/llama3-70b-8192": "Llama-3-70B-Instruct",
    "deepinfra/meta-llama/Meta-Llama-3-8B-Instruct": "Llama-3-8B-Instruct",
    "mistral/open-mistral-7b": "Mistral-7B", "mistral/open-mixtral-8x7b": "Mixtral-8x7B",
    "groq/mixtral-8x7b-32768": "Mixtral-8x7B",
}
"""API models served from open weights: their published scores are the open model's."""

BENCHMARK_ORDER = {"retrieval": ("mteb",)}
"""Published benchmarks in the order they are shown for a task (the first one a model has is its
headline; every other row is kept as further indicative evidence). Any other benchmark in
quality.csv follows, alphabetically."""
GENERAL_BENCHMARKS = ("mmlu-pro", "mmlu", "gpqa", "ifeval", "bfcl", "gsm8k", "humaneval", "mgsm")
PUBLISHED_SCALE = "of 100"  # quality.csv scores are percentages


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).lower().split("/")[-1] if ch.isalnum())


def published_evidence(model: str, task: str, quality_df) -> list[QualityEstimate]:
    """Every published benchmark score of ``model`` in the catalog (the latest row per
    benchmark), as indicative evidence on its own name and scale (a percentage stays a
    percentage: MMLU 68.4 of 100 is never a ROUGE-L of 0.684), headline benchmark first
    (:data:`BENCHMARK_ORDER`). Matches the model name exactly, via PROXY_ALIASES, or as a
    prefix of a dated name. Embedding tasks take only embedding benchmarks and chat tasks none."""
    if quality_df is None or not len(quality_df):
        return []
    want = _norm(PROXY_ALIASES.get(model, model))
    names = quality_df.model.map(_norm)
    hit = quality_df[names == want]
    if not len(hit):  # a dated name: "gpt-4o" matches "gpt-4o-2024-08-06", not "gpt-4o-mini-…"
        hit = quality_df[[n.startswith(want) and n[len(want):][:1].isdigit() for n in names]]
    embedding = set(BENCHMARK_ORDER["retrieval"])
    hit = hit[hit.benchmark.isin(embedding) == (task == "retrieval")]
    order = BENCHMARK_ORDER.get(task, GENERAL_BENCHMARKS)
    rank = {b: i for i, b in enumerate(order)}
    out = []
    for bench, rows in sorted(hit.groupby("benchmark"), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])):
        r = rows.sort_values("as_of").iloc[-1]
        flag = "" if str(r.get("verified")).lower() in ("true", "1") else ", ⚠ unverified"
        out.append(QualityEstimate(value=float(r.score), provenance=Evidence.PUBLISHED.value, metric=str(r.protocol),
                                   benchmark=str(bench),
                                   scale=PUBLISHED_SCALE, source=f"{r.model}, {r.source}, {r.as_of}{flag}"))
    return out


def measured_quality(results, workload, *, targets=(), models=()) -> QualityEstimate | None:
    """The workload's primary metric re-scored (``evaluate.rescore``) from the stored outputs of
    the quality runs of the given targets (or served models) that may serve as evidence
    (``schema.EVIDENCE_STATUSES``: never a failed or degraded run, and never a run of random
    weights, whose outputs are noise), over the answered items,
    with a 95% bootstrap CI (workbench.measure.stats). The latest answer per item counts."""
    if results is None or not len(results.items):
        return None

    runs = results.runs
    real = runs.weights.fillna("real").astype(str) != RANDOM_WEIGHTS  # random weights: speed is real, text is not
    sel = runs[(runs.target.isin(list(targets)) | runs.model.isin(list(models)))
               & runs.status.isin(EVIDENCE_STATUSES) & real]
    it = results.items[(results.items.workload == workload.name) & results.items.run_id.isin(sel.run_id)]
    it = answered(it)
    if not len(it):
        return None
    order = sel.set_index("run_id").started_at
    it = it.assign(_t=it.run_id.map(order)).sort_values("_t").drop_duplicates("item_id", keep="last")
    items, scored, _ = rescore(workload, it)
    md = metrics(workload.spec, items, scored).get(workload.primary_metric) if items else None
    if md is None:
        return None
    value, lo, hi = bootstrap_ci(md.value, len(items))
    ids = sorted(set(it.run_id))
    return QualityEstimate(value=float(value), ci_low=float(lo), ci_high=float(hi), provenance="measured",
                           metric=workload.primary_metric, n_items=len(items),
                           source=f"{len(items)} items, run{'s' if len(ids) > 1 else ''} {', '.join(ids)}")


def related_evidence(results, workload) -> dict[str, list[QualityEstimate]]:
    """Imported lm-eval results as indicative evidence, per served model: "related" on lm-eval's
    own task and metric — also when the task is this workload's, because lm-eval's metric and
    prompt are not the workload's scorer (run ``workbench evaluate`` for a verified score)."""
    out: dict[str, list[QualityEstimate]] = {}
    for ev in quality_evidence(results, workload.name):
        shot = f" {ev['n_shot']}-shot" if ev.get("n_shot") is not None else ""
        half = 1.96 * ev["stderr"] if ev.get("stderr") is not None else None
        out.setdefault(ev["model"], []).append(QualityEstimate(
            value=ev["value"], ci_low=None if half is None else ev["value"] - half,
            ci_high=None if half is None else ev["value"] + half, provenance=Evidence.RELATED.value,
            source=f"{ev['label']} (run {ev['run_id']})", metric=f"lm-eval {ev['task']}{shot} {ev['metric']}",
            n_items=ev.get("n_samples"), scale="0-1", benchmark=f"lm-eval:{ev['task']}:{ev['metric']}"))
    return out


def quality_estimates(workload, built, *, results=None, catalog=None, assume: float | None = None,
                      related: dict | None = None) -> dict[str, QualityEstimate]:
    """Quality evidence per option of ``built`` (:class:`workbench.decide.options.Options`) (:class:`Evidence`): measured on this workload (re-scored
    stored outputs), else — only when ``assume`` is given — that value in the workload's metric,
    labelled "assumed", else the strongest indicative evidence: measured on a related task
    (``related``: model name → [QualityEstimate with provenance "related"], e.g. imported
    lm-eval results) before published benchmark scores from the catalog. Indicative evidence
    found besides rides along in ``indicative``; none of it is ever put on the workload's metric."""

    catalog = catalog or load_catalog()
    out = {}
    for name, src in built.sources.items():
        indicative = [e for m in dict.fromkeys([*src["models"], src["proxy"]]) for e in (related or {}).get(m, ())]
        indicative += published_evidence(src["proxy"], workload.task, catalog.quality)
        q = measured_quality(results, workload, targets=src["targets"], models=src["models"])
        if q is None and assume is not None:
            q = QualityEstimate(value=float(assume), provenance=Evidence.ASSUMED.value, metric=workload.primary_metric,
                                source="not measured on this workload; value set by the report's `assume_quality`")
        if q is None and indicative:
            q = indicative[0]
        if q is not None:
            out[name] = replace(q, indicative=tuple(e for e in indicative if e is not q))
    return out
