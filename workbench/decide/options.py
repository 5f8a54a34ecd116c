"""Options and their quality: the inputs of :func:`workbench.decide.decision.decide`, built from the
catalog and the results store.

- :func:`build_options_detailed` / :func:`build_options` (contract item 10): every catalog API
  (mode chat, or embedding for retrieval workloads), every measured self-hosted target
  (capacity at the workload's SLO from its latest load sweep via ``cost.capacity_from_sweep``,
  or — with quality runs but no sweep — 1 / mean latency at concurrency 1, a lower bound), and
  each projected open model on its cheapest catalog GPU instance at the expected volume
  (the roofline's ``project.capacity_at_slo`` picks the instance; where AIConfigurator covers
  the cell it gives the capacity, :func:`projected_capacity`), labelled with the projection
  engine and its error against published measurements.
- :func:`quality_estimates`: the quality evidence per option, one :class:`Evidence` level —
  measured on this workload (:func:`measured_quality`: stored outputs re-scored, 95% bootstrap
  CI), assumed (only when the caller states a value), measured on a related task, or published
  (:func:`published_evidence`: every benchmark row of the catalog, on its own name and scale).
  Only measured evidence verifies a choice; related and published evidence are indicative and
  never become the workload's metric. Always labelled (:class:`QualityEstimate`).

Units: requests_per_month, usd_per_month, requests/s (capacity); quality in the metric's own scale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from enum import Enum

from ..cost import cost
from ..errors import WorkbenchError
from ..inputs.catalog import CATALOG_DIR, load_catalog
from ..inputs.workloads import token_stats
from ..measure.evaluate import answered, rescore
from ..measure.scorers import metrics
from ..measure.stats import bootstrap_ci
from ..project import aic
from ..project.calibrate import efficiency_for, hardware_for
from ..project.roofline import Arch, Cell, Hardware, capacity_at_slo, quant, weight_bytes
from ..project.versus import error_label
from ..results.importers import evidence_note, imported_label, quality_evidence, sweep_points
from ..results.schema import EVIDENCE_STATUSES, RANDOM_WEIGHTS, RunParams


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


# ----------------------------------------------------------------------------- notes
class Note(str):
    """A note on what was left out and why: its text (which may name run ids) and its
    ``cause``, the heading it is grouped under in the report (which names none)."""

    cause: str

    def __new__(cls, cause: str, text: str) -> "Note":
        note = super().__new__(cls, text)
        note.cause = cause
        return note


LEFT_OUT_RUN = "stored runs that are not evidence (failed, degraded or unfinished)"
PARTIAL_MODEL = "GPU runs on part of a model: calibration only, not an option"
MISSES_SLO = "measured targets that miss the latency SLO"
NO_PRICE = "measured hardware with no catalog price"
NO_API_PRICE = "APIs with no price valid today"
NOT_PROJECTED = "open models not projected"
LM_EVAL = "lm-eval results in the store (indicative: never the workload's metric)"


# ----------------------------------------------------------------------------- building the inputs
PROJECTED_CANDIDATES = (
    # (architecture in models.csv, model whose published scores stand in for quality, quantization)
    # The current open models (late 2026); the 2024 ones (Llama-3-8B, Mistral-7B, Phi-3-mini,
    # Llama-3-70B) stay in the catalog and can be passed as ``candidates=``. gpt-oss ships MXFP4
    # weights, which the roofline does not model: bf16 / fp8 here are conservative stand-ins.
    ("Llama-3.1-8B", "Llama-3.1-8B", "bf16"),
    ("Qwen3-8B", "Qwen3-8B", "bf16"),
    ("Gemma-3-12B", "Gemma-3-12B", "bf16"),
    ("Mistral-Small-3.1", "Mistral-Small-3.1", "bf16"),
    ("Qwen3-30B-A3B", "Qwen3-30B-A3B", "bf16"),
    ("gpt-oss-20b", "gpt-oss-20b", "bf16"),
    ("Llama-3.3-70B", "Llama-3.3-70B", "fp8"),
    ("gpt-oss-120b", "gpt-oss-120b", "fp8"),
)
"""Open models projected on catalog GPUs when no measurement exists (a parameter of
:func:`build_options`)."""

DEFAULT_APIS = (
    # current frontier APIs (prices from genai-prices via `workbench catalog refresh`)
    "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1-mini", "o4-mini",
    "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5",
    "gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash-lite",
    # hosted open-weight endpoints
    "groq/openai/gpt-oss-120b", "groq/openai/gpt-oss-20b", "groq/llama-3.3-70b-versatile",
    "groq/llama-3.1-8b-instant", "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "deepseek/deepseek-chat",
    # embeddings (retrieval workloads)
    "text-embedding-3-small", "text-embedding-3-large",
)
"""The APIs priced when ``apis`` is not given: the current market. Every other catalog API
(the 2024 models, the rest of the feed) is one ``apis=[...]`` away, and APIs from the user's
catalog overrides are always included."""

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


def left_out_runs(results, workload) -> list[Note]:
    """Notes naming the stored runs of ``workload`` (load and quality) that are not evidence
    because of their status (failed, degraded, still running or cut off), and why."""
    if results is None or not len(results.runs):
        return []
    runs = results.runs[~results.runs.status.isin(EVIDENCE_STATUSES)]
    # every load sweep can price any workload; a quality run counts for its own workload only
    rel = runs[((runs.kind == "quality") & (runs.workload == workload.name)) | runs.kind.isin(["load", "gpu-load"])]
    notes = []
    for run in rel.sort_values("started_at").itertuples():
        summary = run.summary if isinstance(run.summary, dict) else {}
        why = summary.get("error") or {
            "degraded": "more failed requests than its error limit",
            "running": "never finished (its process died or is still writing)",
        }.get(run.status, run.status)
        notes.append(Note(LEFT_OUT_RUN, f"left out run {run.run_id} ({run.kind}, {run.target}): {run.status} — {why}"))
    return notes


def token_profile(workload, results=None, target: str | None = None) -> dict:
    """Prompt and output tokens per request of ``workload`` (mean, p50, p90): measured — the
    servers' token counts in the stored items of its runs (``results``; only ``target``'s runs
    when given: tokenizers differ), with the run ids — else estimated from the text
    (``Workload.estimated_tokens``, provenance "assumed")."""
    if results is not None and len(results.items):
        df = results.items[results.items["workload"] == workload.name]
        if target is not None and hasattr(results, "runs") and len(results.runs):
            df = df[df["run_id"].isin(set(results.runs.loc[results.runs["target"] == target, "run_id"]))]
        df = df[df["prompt_tokens"].notna()]
        if len(df):
            pt = df["prompt_tokens"].to_numpy(float)
            ot = df["output_tokens"].fillna(0).to_numpy(float)
            return {**token_stats("prompt_tokens", pt), **token_stats("output_tokens", ot), "n": len(df),
                    "provenance": "measured", "source": sorted(df["run_id"].unique().tolist())}
    return workload.estimated_tokens()


@dataclass
class Options:
    """What :func:`build_options_detailed` found: the priced options, for each the targets and
    models whose quality runs count for it and the model whose published scores stand in,
    and notes on what was left out and why."""

    options: list
    sources: dict[str, dict]
    notes: list[str]
    tokens: dict


def build_options(workload, *, catalog=None, results=None, instances=None, apis=None, **kw) -> list:
    """Contract item 10: every self-hosted configuration with data and every catalog API."""
    return build_options_detailed(workload, catalog=catalog, results=results, instances=instances,
                                  apis=apis, **kw).options


def build_options_detailed(workload, *, catalog=None, results=None, instances=None, apis=None,
                           pricing: str = "on-demand", candidates=PROJECTED_CANDIDATES, fits=None) -> Options:
    """APIs (mode chat, embedding for retrieval; ``apis`` names them, default :data:`DEFAULT_APIS`
    plus the APIs of the user's overrides), measured self-hosted
    configurations (capacity at the workload's SLO from the latest load sweep of each target;
    instance from the target's deployment), and projected ones (each candidate open model on
    the catalog GPU instance that is cheapest at the expected volume; ``instances`` restricts).
    Projection: ``$WORKBENCH_PROJECTION`` "auto" (the default: AIConfigurator where it covers
    the cell, else the roofline) or "roofline"."""

    catalog = catalog or load_catalog()
    tp = token_profile(workload, results)
    n_in, n_out = tp["prompt_tokens_mean"], tp["output_tokens_mean"]
    tok_label = f"{tp['provenance']} ({n_in:.0f} in / {n_out:.0f} out tokens per request)"
    out = Options([], {}, [], {"input_tokens": n_in, "output_tokens": n_out, "provenance": tok_label})
    mode = "embedding" if workload.task == "retrieval" else "chat"
    api_rows = catalog.apis[(catalog.apis["mode"] == mode)]
    if apis is None:  # the current market, plus whatever the user added in overrides
        own = ~api_rows.catalog_file.str.startswith(str(CATALOG_DIR))
        apis = set(DEFAULT_APIS) | set(api_rows.model[own])
    for model in dict.fromkeys(api_rows.model):
        if model not in apis:
            continue
        try:
            opt = cost.api_option(catalog.api(model), input_tokens=n_in, output_tokens=n_out, tokens_provenance=tok_label)
        except WorkbenchError as e:  # no price valid today, ...
            out.notes.append(Note(NO_API_PRICE, f"API {model}: left out ({e})"))
            continue
        out.options.append(opt)
        out.sources[opt.name] = {"targets": [], "models": [model], "proxy": model}
    _measured_options(workload, results, catalog, pricing, out)
    out.notes.extend(Note(LM_EVAL, evidence_note(ev)) for ev in quality_evidence(results, workload.name))
    if workload.task != "retrieval":  # the roofline projects generation, not embedding
        _projected_options(workload, catalog, pricing, candidates, instances, fits, out,
                           os.environ.get("WORKBENCH_PROJECTION", "auto"))
    return out


def _measured_options(workload, results, catalog, pricing, out: Options) -> None:
    if results is None or not len(results.runs):
        return
    out.notes.extend(left_out_runs(results, workload))
    done = results.runs[results.runs.status.isin(EVIDENCE_STATUSES)].sort_values("started_at")
    chat = workload.task != "retrieval"
    runs = done[done.kind.isin(["load", "gpu-load"])] if chat else done.iloc[:0]
    swept = set(runs.target)
    for target, g in runs.groupby("target", sort=True):
        run = g.iloc[-1]
        params = RunParams.of(run.get("params"))
        if params.partial_model:
            out.notes.append(Note(PARTIAL_MODEL, f"{target}: run {run.run_id} measured {run.model} with {params.layers} "
                                  f"of its {params.full_layers} layers (to fit the GPU): not an option, used for calibration only"))
            continue
        points = sweep_points(results, run, workload.slo)  # request rows, or an imported file's aggregates
        if not len(points):
            continue
        try:
            cap = cost.capacity_from_sweep(points, workload.slo)
        except WorkbenchError as e:  # an imported file without a latency the SLO names
            out.notes.append(Note(LEFT_OUT_RUN, f"{target}: run {run.run_id} left out ({e})"))
            continue
        how = "its own prompt/output lengths" + (f"; {imported_label(run)}" if imported_label(run) else "")
        if run.get("weights") == RANDOM_WEIGHTS:
            how += f", random weights on {run.engine} (speed and memory real, quality from elsewhere)"
        _add_measured(workload, out, run, cap, how, catalog, pricing)
    # targets with quality runs on this workload but no sweep: serial capacity from their latencies
    q = done[(done.kind == "quality") & ~done.target.isin(swept)]
    items = results.items[(results.items.workload == workload.name) & results.items.run_id.isin(q.run_id)]
    for target, g in q[q.run_id.isin(items.run_id)].groupby("target", sort=True):
        run = g.iloc[-1]
        lat = items[items.run_id == run.run_id].latency_ms.dropna().astype(float)
        if not len(lat):
            continue
        limit = min([v for k, v in (workload.slo or {}).items() if k in ("e2el_ms", "ttft_ms")] or [float("inf")])
        cap = 0.0 if lat.quantile(0.9) > limit else 1000.0 / lat.mean()
        _add_measured(workload, out, run, cap, f"1 / mean latency of {len(lat)} requests at concurrency 1 "
                      "— a lower bound", catalog, pricing)


def _add_measured(workload, out: Options, run, cap: float, how: str, catalog, pricing: str) -> None:
    """The option of a measured ``run`` with capacity ``cap`` (requests/s) found ``how``, on the
    instance it ran on; a note instead when it misses the SLO or has no price."""

    target, where = run.target, f"{'quality run' if run.kind == 'quality' else 'run'} {run.run_id}"
    if cap <= 0:
        out.notes.append(Note(MISSES_SLO, f"{target}: {where} does not meet the SLO {workload.slo}: infeasible on latency"))
        return
    inst = _instance_for(run, catalog, pricing)
    if inst is None:
        out.notes.append(Note(NO_PRICE, f"{target}: no price in the catalog for what run {run.run_id} ran on "
                              f"({_ran_on(run)}): left out"))
        return
    dtype = run.get("dtype") if isinstance(run.get("dtype"), str) else ""
    name = f"{run.model} · {run.engine} {dtype} · {inst['instance']} [{target}]".replace("  ", " ")
    opt = cost.self_hosted_option(inst, capacity_rps=cap, name=name, peak_factor=workload.peak_factor,
                                  capacity_provenance=f"measured ({where}; {how})")
    out.options.append(opt)
    out.sources[name] = {"targets": [target], "models": [], "proxy": run.model}


def _ran_on(run) -> str:
    dep = run.get("deployment") if isinstance(run.get("deployment"), dict) else {}
    return f"instance {dep['instance']}" if dep.get("instance") else f"hardware {run.hardware}"


def _instance_for(run, catalog, pricing: str):
    """The catalog instance a measured run ran on: the instance its ``deployment`` names, else
    the cheapest with the run's GPU and count (read from the run and the catalog only)."""

    dep = run.get("deployment") if isinstance(run.get("deployment"), dict) else {}
    if dep.get("instance"):
        try:
            return catalog.instance(dep["instance"], pricing=pricing)
        except WorkbenchError:
            return None
    try:
        gpu = hardware_for(run.hardware).name
    except WorkbenchError:
        return None
    count = dep.get("count") or run.get("hardware_count") or 1
    rows = catalog.instances[(catalog.instances.gpu == gpu) & (catalog.instances.gpu_count == count)
                             & (catalog.instances.pricing == pricing)]
    return None if not len(rows) else catalog.instance(rows.sort_values("usd_per_hour").iloc[0].instance, pricing=pricing)


def _projected_options(workload, catalog, pricing, candidates, instances, fits, out: Options,
                       projection: str = "auto") -> None:
    """Each candidate open model on the catalog GPU instance cheapest at the expected volume,
    capacity projected at the workload's SLO for its token shape (``out.tokens``)."""

    n_in, n_out = out.tokens["input_tokens"], out.tokens["output_tokens"]
    volume = cost.requests_per_month(workload.daily_volume)
    inst = catalog.instances[(catalog.instances.gpu != "CPU") & (catalog.instances.pricing == pricing)]
    if instances is not None:
        inst = inst[inst.instance.isin(list(instances))]
    for arch_name, proxy, q in candidates:
        try:
            arch = Arch.from_catalog(arch_name, catalog)
        except WorkbenchError as e:
            out.notes.append(Note(NOT_PROJECTED, f"{arch_name}: not projected ({e})"))
            continue
        best = best_row = None
        for row in inst.drop_duplicates("instance").itertuples():
            try:
                hw = Hardware.from_catalog(row.gpu, catalog)
                eff = efficiency_for("vllm", row.gpu, fits)
                cell = Cell(arch=arch, hardware=hw, quant=quant(q), tp=int(row.gpu_count), eff=eff)
                if weight_bytes(arch, cell.quant) > hw.mem_gib * 2**30 * row.gpu_count * cell.mem_util:
                    continue  # the weights alone do not fit
                cap = capacity_at_slo(cell, n_in, n_out, workload.slo)
                if cap <= 0:
                    continue
                opt = cost.self_hosted_option(
                    catalog.instance(row.instance, pricing=pricing), capacity_rps=cap, peak_factor=workload.peak_factor,
                    name=f"{arch_name} · vllm {q} · {row.instance}", capacity_provenance=eff.label)
            except WorkbenchError:
                continue
            if best is None or opt.usd_per_month(volume) < best.usd_per_month(volume):
                best, best_row = opt, catalog.instance(row.instance, pricing=pricing)
        if best is None:
            out.notes.append(Note(NOT_PROJECTED, f"{arch_name}: no catalog instance meets the SLO {workload.slo} (projected)"))
            continue
        best = _relabel(best, best_row, arch_name, q, n_in, n_out, workload, projection)
        out.options.append(best)
        out.sources[best.name] = {"targets": [], "models": [arch_name, proxy], "proxy": proxy}


def projected_capacity(cell: aic.AICell, n_in: float, n_out: float, slo, roofline: tuple[float, str],
                       projection: str = "auto") -> tuple[float, str]:
    """Requests/s of a projected cell at the SLO and its label: AIConfigurator's where it covers
    the cell, else the roofline's (``roofline`` = its requests/s and calibration label) — each
    label naming the projection engine and its error against published measurements
    (:func:`workbench.project.versus.error_label`), and why AIConfigurator did not answer."""
    why = "not asked (projection=roofline)" if projection == "roofline" else aic.coverage(
        cell.model, cell.gpu, cell.engine, cell.quantization)
    if why is None:
        try:
            p = aic.capacity_point_at_slo(cell, n_in, n_out, slo)
            if p is None:
                return 0.0, f"projected by AIConfigurator: one request at a time misses the SLO {slo}"
            return p["request_throughput"], f"{p['label']}; {error_label('aiconfigurator', cell.engine, cell.gpu)}"
        except WorkbenchError as e:
            why = str(e)
    inner = roofline[1].removeprefix("projected ").strip("()")  # "(calibrated on N runs, …)" or "uncalibrated"
    return roofline[0], (f"projected by the roofline ({inner}); {error_label('roofline', cell.engine, cell.gpu)}; "
                         f"AIConfigurator: {why}")


def _relabel(opt, inst, arch_name, q, n_in, n_out, workload, projection):
    """The roofline's cheapest option for a candidate (on catalog instance row ``inst``), with
    AIConfigurator's capacity where it covers the cell, and the projection engine and its error
    in the label."""
    cell = aic.AICell(arch_name, inst["gpu"], "vllm", q, "bf16", int(inst["gpu_count"]))
    cap, label = projected_capacity(cell, n_in, n_out, workload.slo, (opt.capacity_rps, opt.provenance["capacity_rps"]),
                                    projection)
    if cap <= 0:  # AIConfigurator says the SLO is missed even one at a time: keep the roofline's, say so
        label = f"{opt.provenance['capacity_rps']}; {label}"
        cap = opt.capacity_rps
    return cost.self_hosted_option(inst, capacity_rps=cap, peak_factor=workload.peak_factor, name=opt.name,
                                   capacity_provenance=label)


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


def quality_estimates(workload, built: Options, *, results=None, catalog=None, assume: float | None = None,
                      related: dict | None = None) -> dict[str, QualityEstimate]:
    """Quality evidence per option (:class:`Evidence`): measured on this workload (re-scored
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
