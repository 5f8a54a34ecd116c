#!/usr/bin/env python3
"""Real GPU measurements of open-model architectures with random weights, in one command.

For each architecture (default: Llama-3-8B, Mistral-7B, Qwen2-7B, Mixtral-8x7B — the last
with as many layers as fit when the GPU is too small):

1. build the model from its catalog shapes with random weights, on the device (no files);
   record weight GiB, build time and peak memory;
2. offline ceiling: ``generate_batch`` (continuous batching) over N workload-shaped prompts,
   NVML telemetry beside → a ``gpu-offline`` run;
3. save it with a synthetic tokenizer, start ``transformers serve --continuous-batching`` on
   loopback and measure it with our harness (``workbench.measure.harness.measure``): a concurrency
   sweep with workload-shaped prompts, NVML telemetry on the run clock → a ``load`` run;
4. add the roofline bound (``workbench.project.roofline`` at 100% bandwidth and compute) and the % of
   it reached to every point; label every run engine "transformers", weights "random weights".

Time-boxed: ``--budget-s`` stops before an architecture that would not fit; running the same
command again skips the architectures already measured in ``--results-root`` and goes on.
See benchmarks/gpu/README.md for the exact device command, and docs/gpu.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from workbench.measure import gpu_bench
from workbench.project import gpu_bound
from workbench.results import store

DEFAULT_PROFILE = "concurrency=1,2,4,8,16,32,64"
DEFAULT_WORKLOAD = "incident-summarization"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", default=",".join(gpu_bench.DEFAULT_ARCHS),
                   help="comma-separated catalog model names, or tiny-llama (CPU test shape)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--dtype", default=None, help="bfloat16 (GPU default) or float32 (CPU default)")
    p.add_argument("--layers", type=int, default=None, help="layer count override (default: all that fit)")
    p.add_argument("--workload", default=DEFAULT_WORKLOAD, help="workload whose token shape the prompts take")
    p.add_argument("--input-tokens", type=int, default=None, help="prompt tokens (default: the workload's mean)")
    p.add_argument("--output-tokens", type=int, default=None, help="output tokens (default: the workload's mean)")
    p.add_argument("--offline-prompts", type=int, default=256, help="prompts in the offline generate_batch")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help="harness load profile for the server sweep")
    p.add_argument("--duration-s", type=float, default=12.0, help="seconds per load point (0: none)")
    p.add_argument("--requests-per-point", type=int, default=None, help="requests per load point")
    p.add_argument("--warmup", type=int, default=4, help="warm-up requests before the sweep")
    p.add_argument("--results-root", default=None, help="where runs go (default: $WORKBENCH_RESULTS_DIR or results/)")
    p.add_argument("--work-dir", default=str(REPO / ".cache" / "gpu-work"), help="checkpoints and server logs")
    p.add_argument("--wheels", default=str(REPO / ".cache" / "gpu-wheels"),
                   help="carried serving wheels (fastapi, uvicorn, pydantic, openai, ...)")
    p.add_argument("--budget-s", type=float, default=540.0, help="stop before an architecture that would not fit")
    p.add_argument("--skip-offline", action="store_true")
    p.add_argument("--skip-serve", action="store_true")
    p.add_argument("--no-resume", action="store_true", help="measure architectures already in --results-root again")
    p.add_argument("--cb-num-blocks", type=int, default=None, help="KV blocks (CPU: set it; GPU: auto)")
    p.add_argument("--cb-max-batch-tokens", type=int, default=None)
    p.add_argument("--cb-max-memory-percent", type=float, default=None, help="server KV share of free memory")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# ------------------------------------------------------------------ serving dependencies
def _installed_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _version_key(v: str) -> tuple[int, ...]:
    """Release numbers of a version string ('2.14.3' → (2, 14, 3)); enough to compare wheels."""
    return tuple(int(x) for x in re.findall(r"\d+", v.split("+")[0])[:4])


REPLACE_IF_OLDER = ("typing_extensions",)
"""Backward compatible by design, and pydantic needs a recent one: the only installed
distribution a carried wheel may shadow. Others (click under typer, anyio under httpx) are
left alone: a newer one could break what the machine already runs."""


def unpack_wheels(wheels_dir: Path, site_dir: Path) -> list[str]:
    """Unpack each wheel in ``wheels_dir`` whose distribution is not installed here (or, for
    REPLACE_IF_OLDER, installed in an older version) into ``site_dir`` — a wheel is a zip of
    importable packages: no pip, no network. Returns the ``name==version`` of what was unpacked."""
    site_dir.mkdir(parents=True, exist_ok=True)
    unpacked = []
    for whl in sorted(Path(wheels_dir).glob("*.whl")):
        dist, ver = whl.name.split("-")[:2]
        have = _installed_version(dist)
        if have is not None and (dist.lower() not in REPLACE_IF_OLDER or _version_key(have) >= _version_key(ver)):
            continue
        with zipfile.ZipFile(whl) as z:
            z.extractall(site_dir)
        unpacked.append(f"{dist}=={ver}")
    return unpacked


def ensure_serving_deps(wheels_dir: Path, site_dir: Path) -> tuple[str | None, str]:
    """Make ``transformers serve`` importable in the server process: when its dependencies
    (fastapi, uvicorn, pydantic, openai) are missing, unpack the carried wheels it lacks into
    ``site_dir`` and return it as the server's extra PYTHONPATH, with a note of what was done."""
    from transformers.utils.import_utils import is_serve_available

    if is_serve_available():
        return None, "serving dependencies already installed"
    if not any(Path(wheels_dir).glob("*.whl")):
        raise gpu_bench.GpuBenchError(f"transformers serve needs fastapi/uvicorn/pydantic/openai and {wheels_dir} "
                                "has no wheels: run benchmarks/gpu/fetch_wheels.sh and carry that folder")
    unpacked = unpack_wheels(Path(wheels_dir), site_dir)
    return str(site_dir), f"unpacked {len(unpacked)} carried wheels into {site_dir}: {', '.join(unpacked)}"


# ------------------------------------------------------------------ one architecture
def token_shape(args) -> dict:
    """Prompt/output tokens of the sweep: explicit flags, else the workload's mean shape."""
    shape = {"workload": None, "input_tokens": args.input_tokens, "output_tokens": args.output_tokens,
             "slo": None, "shape_source": "command line"}
    if args.workload and (args.input_tokens is None or args.output_tokens is None):
        from workbench.decide.options import token_profile
        from workbench.inputs.workloads import load_workload
        from workbench.results.store import load

        wl = load_workload(args.workload)
        prof = token_profile(wl, load())
        shape.update(workload=wl.name, slo=dict(wl.slo) if wl.slo else None,
                     shape_source=f"workload {wl.name} token profile ({prof['provenance']}: {prof['source']})")
        if shape["input_tokens"] is None:
            shape["input_tokens"] = max(1, round(prof["prompt_tokens_mean"]))
        if shape["output_tokens"] is None:
            shape["output_tokens"] = max(2, round(prof["output_tokens_mean"]))
    if shape["input_tokens"] is None or shape["output_tokens"] is None:
        raise gpu_bench.GpuBenchError("give --workload or both --input-tokens and --output-tokens")
    return shape


def offline_run(model, name: str, config: dict, facts: dict, ctx: dict, args) -> dict:
    """The gpu-offline run: generate_batch over all prompts at once, telemetry beside."""
    import pandas as pd

    from workbench.measure.metrics import summarize
    from workbench.measure.telemetry import Telemetry, window_stats
    from workbench.results.store import RunWriter

    shape, hw = ctx["shape"], ctx["hardware"]
    n = args.offline_prompts
    with RunWriter(kind="gpu-offline", target=f"transformers-offline-{name}", engine=gpu_bench.ENGINE, model=name,
                   params={**ctx["params"], "offline_prompts": n}, root=ctx["root"],
                   engine_version=ctx["tf_version"], weights=gpu_bench.WEIGHTS, dtype=args.dtype, hardware_count=1,
                   workload=shape["workload"],
                   deployment={"kind": "self-hosted", "accelerator": ctx["accelerator"], "count": 1,
                               "dtype": args.dtype, "engine": gpu_bench.ENGINE}) as run:
        tele = Telemetry(run, pid=os.getpid(), interval_s=0.25).start()
        if args.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()
        try:
            rows = gpu_bench.offline_ceiling(model, run, n_prompts=n, input_tokens=shape["input_tokens"],
                                       output_tokens=shape["output_tokens"], seed=args.seed,
                                       cb_kwargs=ctx["cb_kwargs"])
        finally:
            tele.stop()
        summary = summarize(pd.DataFrame(rows), shape["slo"])
        start = min(r["sent_s"] for r in rows)
        end = max(r["sent_s"] + (r["e2el_ms"] or 0) / 1e3 for r in rows)
        w = window_stats(tele.samples, start, end)
        for k, v in w.items():
            summary[k] = v
        if "energy_j_delta" in w:
            summary["energy_j_per_token"] = w["energy_j_delta"] / summary["total_output_tokens"]
        summary = gpu_bound.with_roofline(summary, config, hw, args.dtype, offline_concurrency=n)
        point = summary.to_dict("records")[0]
        run.finish("completed", summary={"points": [point], "notes": tele.notes, "model_facts": facts,
                                         "peak_mem_gib_run": gpu_bench.peak_mem_gib(args.device),
                                         "bound_label": gpu_bound.BOUND_LABEL})
    return {"arch": name, "stage": "offline", "run_id": run.run_id, **_headline(point)}


def serve_run(checkpoint: Path, name: str, config: dict, ctx: dict, args) -> list[dict]:
    """Start transformers serve on the checkpoint, sweep it with the harness, label the run."""
    from workbench.measure.harness import measure

    shape = ctx["shape"]
    cb_args = {k: v for k, v in {"num-blocks": args.cb_num_blocks, "max-batch-tokens": args.cb_max_batch_tokens,
                                 "max-memory-percent": args.cb_max_memory_percent}.items() if v is not None}
    with gpu_bench.serve(checkpoint, name=name, device=args.device, dtype=args.dtype, work_dir=ctx["work"],
                   cb_args=cb_args, extra_pythonpath=ctx["pythonpath"], accelerator=ctx["accelerator"]) as engine:
        print(f"[{name}] transformers serve ready in {engine.start_s:.1f} s at {engine.base_url}", flush=True)
        res = measure(engine, profile=args.profile, requests_per_point=args.requests_per_point,
                      duration_s=args.duration_s or None, warmup=args.warmup,
                      output_tokens=shape["output_tokens"],
                      input_tokens=gpu_bench.harness_input_tokens(shape["input_tokens"]),
                      seed=args.seed, results_root=ctx["root"], progress=False, slo=shape["slo"])
    summary = gpu_bound.with_roofline(res.summary, config, ctx["hardware"], args.dtype)
    points = summary.to_dict("records")
    notes = list(res.notes) + [gpu_bench.length_note(res.run_dir, shape["output_tokens"])]
    store.amend_run(res.run_dir, model=name, weights=gpu_bench.WEIGHTS, workload=shape["workload"],
                     params={**ctx["params"], "server": "transformers serve --continuous-batching",
                             "server_start_s": engine.start_s, "served_checkpoint": "local random-weight copy"},
                     summary={"points": points, "notes": notes, "bound_label": gpu_bound.BOUND_LABEL})
    return [{"arch": name, "stage": "serve", "run_id": res.run_id, **_headline(p)} for p in points]


def _headline(p: dict) -> dict:
    keys = ("load_point", "completed", "failed", "output_tokens_per_s", "p50_ttft_ms", "p50_tpot_ms",
            "max_mem_used_gib", "mean_power_w", "energy_j_per_token", "bound_output_tokens_per_s", "pct_of_bound")
    return {k: p.get(k) for k in keys}


def measure_arch(name: str, args, ctx: dict) -> list[dict]:
    """Build, offline-measure, serve-measure one architecture; returns headline rows."""
    import torch

    spec = gpu_bench.arch_spec(name)
    layers = args.layers
    if layers is None and ctx["gpu_mem_gib"]:
        # weights ≤ 60% of GPU memory (room for the KV cache), and ≤ 80% of free disk (the server loads a copy)
        limit_gib = 0.6 * ctx["gpu_mem_gib"]
        if not args.skip_serve:
            limit_gib = min(limit_gib, 0.8 * shutil.disk_usage(ctx["work"]).free / gpu_bench.GIB)
        layers = gpu_bench.fit_layers(spec, limit_gib, budget_frac=1.0)
    layers = min(int(layers or spec["layers"]), int(spec["layers"]))
    config = gpu_bench.hf_config(spec, layers=layers)
    cfg = config.to_dict()
    model, facts = gpu_bench.build_random_model(config, device=args.device, dtype=args.dtype, seed=args.seed)
    facts["layers_of"] = f"{layers} of {spec['layers']}"
    print(f"[{name}] built {facts['params'] / 1e9:.2f} B params, {facts['weight_gib']:.2f} GiB in "
          f"{facts['build_s']:.1f} s ({facts['layers_of']} layers)", flush=True)
    ctx = {**ctx, "params": {**ctx["base_params"], "arch": name, "layers": layers, "full_layers": int(spec["layers"]),
                             "arch_source": spec.get("source"), "arch_verified": bool(spec.get("verified", True)),
                             "model_config": {k: cfg.get(k) for k in (
                                 "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                 "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
                                 "sliding_window", "num_local_experts", "num_experts_per_tok")},
                             "weight_gib": facts["weight_gib"], "params_count": facts["params"],
                             "build_s": facts["build_s"]}}
    out = []
    ckpt = Path(ctx["work"]) / name
    try:
        if not args.skip_offline:
            out.append(offline_run(model, name, cfg, facts, ctx, args))
        if not args.skip_serve:
            gpu_bench.save_checkpoint(model, ckpt)
    finally:
        del model
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    if not args.skip_serve:
        try:
            out.extend(serve_run(ckpt, name, cfg, ctx, args))
        except Exception as e:  # noqa: BLE001 - recorded; the offline runs of the rest still happen
            args.skip_serve = True  # the same failure would repeat: keep the offline runs of the rest
            ctx["failures"].append(f"{name} (server): {type(e).__name__}: {e}")
            print(f"[{name}] the server path failed ({type(e).__name__}: {e}); "
                  "the next architectures are measured offline only", flush=True)
        finally:
            shutil.rmtree(ckpt, ignore_errors=True)
    return out


# ------------------------------------------------------------------ orchestration
def already_measured(root: Path) -> set[str]:
    """Architectures with completed offline and load runs under ``root``."""
    done: dict[str, set[str]] = {}
    for meta_path in root.glob("*/run.json"):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        arch = (meta.get("params") or {}).get("arch")
        if arch and meta.get("status") == "completed" and meta.get("weights") == gpu_bench.WEIGHTS:
            done.setdefault(arch, set()).add(meta.get("kind"))
    return {a for a, kinds in done.items() if {"gpu-offline", "load"} <= kinds}


def setup(args) -> dict:
    import torch
    import transformers

    from workbench.hardware import host_facts
    from workbench.paths import default_results_dir

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    host = host_facts()
    gpus = host.get("gpus") or []
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    root = Path(args.results_root) if args.results_root else default_results_dir()
    root.mkdir(parents=True, exist_ok=True)
    pythonpath, deps_note = (None, "serving skipped") if args.skip_serve else ensure_serving_deps(
        Path(args.wheels), work / "site")
    shape = token_shape(args)
    cb_kwargs = {k: v for k, v in {"num_blocks": args.cb_num_blocks, "max_batch_tokens": args.cb_max_batch_tokens,
                                   "max_memory_percent": args.cb_max_memory_percent}.items() if v is not None}
    accelerator = gpu_bound.catalog_gpu_name(gpus[0]["name"]) if gpus else None
    return {
        "root": root, "work": work, "pythonpath": pythonpath, "shape": shape, "cb_kwargs": cb_kwargs,
        "tf_version": transformers.__version__, "accelerator": accelerator,
        "gpu_mem_gib": gpus[0]["mem_gib"] if gpus and args.device.startswith("cuda") else None,
        "hardware": gpu_bound.projection_hardware(host, cpu_cores=torch.get_num_threads()),
        "base_params": {"device": args.device, "torch_version": torch.__version__, "serving_deps": deps_note,
                        "input_tokens": shape["input_tokens"], "output_tokens": shape["output_tokens"],
                        "shape_source": shape["shape_source"], "cb_config": cb_kwargs,
                        "weights_note": "random-initialised weights: speed and memory are real, output text is not"},
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    ctx = setup(args)
    print(f"device {args.device} ({ctx['accelerator'] or 'no catalog GPU'}), dtype {args.dtype}, "
          f"shape {ctx['shape']['input_tokens']} in / {ctx['shape']['output_tokens']} out "
          f"({ctx['shape']['shape_source']}); {ctx['base_params']['serving_deps']}", flush=True)
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    done = set() if args.no_resume else already_measured(ctx["root"])
    rows, last_s = [], None
    failures = ctx["failures"] = []
    for name in archs:
        if name in done:
            print(f"[{name}] already measured in {ctx['root']}: skipped", flush=True)
            continue
        left = args.budget_s - (time.perf_counter() - t_start)
        if last_s is not None and left < last_s * 1.1:
            print(f"[{name}] {left:.0f} s of budget left, the last architecture took {last_s:.0f} s: "
                  "stopping here; run the same command again to continue", flush=True)
            break
        t0 = time.perf_counter()
        try:
            rows.extend(measure_arch(name, args, ctx))
        except Exception as e:  # noqa: BLE001 - one architecture failing must not lose the others
            failures.append(f"{name}: {type(e).__name__}: {e}")
            print(f"[{name}] FAILED: {type(e).__name__}: {e}", flush=True)
        last_s = time.perf_counter() - t0
        print(f"[{name}] done in {last_s:.0f} s", flush=True)
    print_table(rows)
    (ctx["root"] / "gpu_sweep_last.json").write_text(json.dumps(
        {"rows": rows, "failures": failures}, indent=1, default=str, allow_nan=True), encoding="utf-8")
    for f in failures:
        print(f"FAILED {f}")
    return 1 if failures else 0


def print_table(rows: list[dict]) -> None:
    if not rows:
        print("no points measured")
        return
    import pandas as pd

    df = pd.DataFrame(rows).drop(columns=["run_id"])
    print(df.to_string(index=False, float_format=lambda v: "nan" if math.isnan(v) else f"{v:,.1f}"))


if __name__ == "__main__":
    sys.exit(main())
