"""Options: the inputs of :func:`workbench.decide.decision.decide`, built from the
catalog and the results store.

- :func:`build_options_detailed` / :func:`build_options` (contract item 10): every catalog API
  (mode chat, or embedding for retrieval workloads), every measured self-hosted target
  (capacity at the workload's SLO from its latest load sweep via ``cost.capacity_from_sweep``,
  or — with quality runs but no sweep — 1 / mean latency at concurrency 1, a lower bound), and
  each projected open model on its cheapest catalog GPU instance at the expected volume
  (the roofline's ``project.capacity_at_slo`` picks the instance; where AIConfigurator covers
  the cell it gives the capacity, :func:`projected_capacity`), labelled with the projection
  engine and its error against published measurements.
- quality per option: :mod:`workbench.decide.quality`.

Units: requests_per_month, usd_per_month, requests/s (capacity); quality in the metric's own scale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..cost import cost
from ..errors import WorkbenchError
from ..inputs.catalog import CATALOG_DIR, load_catalog
from ..inputs.workloads import token_stats
from ..project import aic
from ..project.calibrate import efficiency_for, hardware_for
from ..project.roofline import Arch, Cell, Hardware, capacity_at_slo, quant, weight_bytes
from ..project.versus import error_label
from ..results.importers import evidence_note, imported_label, quality_evidence, sweep_points
from ..results.schema import EVIDENCE_STATUSES, RANDOM_WEIGHTS, RunParams
from . import finetuned


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
    the cell, else the roofline) or "roofline". The training of fine-tuned adapters is added by
    :func:`add_training` (the pipeline calls it next); each measured option's ``sources`` names its run."""

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
        label = imported_label(run)
        how = "its own prompt/output lengths" + (f"; {label}" if label else "")
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
    label = imported_label(run)
    if label:
        where += f" ({label})"
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
    out.sources[name] = {"targets": [target], "models": [], "proxy": run.model, "run_id": run.run_id}


def add_training(workload, out: Options, results, catalog, pricing: str = "on-demand",
                 params: finetuned.TrainingParams | None = None) -> None:
    """Measured options of a fine-tuned adapter (their run's ``params.adapter``) get its training,
    amortized over ``params.retrain_months`` (``Option.training_usd_per_month``,
    :mod:`workbench.decide.finetuned`), and their sources an ``adapter`` entry (base, engine,
    instance: what consolidation groups on). An adapter trained on another workload is no
    option for this one (a note says so)."""
    if results is None or not len(results.runs):
        return
    runs = results.runs.set_index("run_id", drop=False)
    kept = []
    for opt in out.options:
        src = out.sources.get(opt.name, {})
        if src.get("run_id") in runs.index:
            opt, adapter = finetuned.with_training(opt, runs.loc[src["run_id"]], results, catalog,
                                                   params or finetuned.TrainingParams(), pricing)
            if adapter is not None and adapter["workload"] not in (None, workload.name):
                out.notes.append(Note(finetuned.TRAINING, f"{opt.name}: adapter trained on {adapter['workload']} "
                                      f"(run {adapter['finetune_run']}): not an option for {workload.name}"))
                del out.sources[opt.name]
                continue
            if adapter is not None:
                src["adapter"] = adapter
        kept.append(opt)
    out.options[:] = kept


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

