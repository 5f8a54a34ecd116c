"""NVIDIA AIConfigurator as a projection engine, where it covers the cell.

AIConfigurator (PyPI ``aiconfigurator``; its ``aiconfigurator-core`` carries a database of
kernel timings measured per GPU, engine and engine version) predicts TTFT, TPOT and tokens/s
of vLLM, SGLang and TensorRT-LLM by composing measured GEMM, attention and communication
times and modelling in-flight batching. We use it rather than extending our roofline with
kernel tables of our own: it is maintained by NVIDIA with the engines, and its error against
published measurements is printed beside the roofline's by
``benchmarks/projection_vs_published.py``.

It covers a (GPU, engine, model, quantization) cell when all four are in its tables —
:func:`coverage` says why not otherwise: CPUs, GPUs without a kernel database (L4, A10G,
MI300X…), llama.cpp, models it has no config for (it would download one from Hugging Face,
which a workbench may not reach). Elsewhere the roofline (:mod:`workbench.project.roofline`)
answers. Every answer carries its label: "projected by AIConfigurator <version> (<engine>
<engine version> kernel database, <system>)".

AIConfigurator is imported lazily (it takes seconds); one estimate takes 2–20 s on this
machine, so answers are cached per process and on disk (``<cache_dir>/aiconfigurator/``),
keyed by every argument and the package version (refusals too, except a failed download).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from dataclasses import dataclass
from functools import lru_cache

from ..paths import cache_dir
from .roofline import ProjectionError

SYSTEMS = {"H100-SXM": "h100_sxm", "H200": "h200_sxm", "B200": "b200_sxm", "GB200": "gb200",
           "A100-80GB": "a100_sxm"}
"""Catalog GPU → AIConfigurator system with a measured (silicon) kernel database (its README,
"System Data Support Matrix"); its h100_pcie, a100_pcie, l4 and a30 specs have none."""
ENGINES = ("vllm", "trtllm", "sglang")
MODELS = {
    # catalog name → (AIConfigurator model config, mixture of experts, note)
    "Llama-3.1-8B": ("meta-llama/Meta-Llama-3.1-8B", False, ""),
    "Llama-3-8B": ("meta-llama/Meta-Llama-3.1-8B", False, "as Llama-3.1-8B: the same layer shapes"),
    "Llama-3.1-70B": ("meta-llama/Meta-Llama-3.1-70B", False, ""),
    "Llama-3.3-70B": ("meta-llama/Meta-Llama-3.1-70B", False, "as Llama-3.1-70B: the same layer shapes"),
    "Llama-3-70B": ("meta-llama/Meta-Llama-3.1-70B", False, "as Llama-3.1-70B: the same layer shapes"),
    "Llama-4-Scout": ("meta-llama/Llama-4-Scout-17B-16E-Instruct", True, ""),
    "Llama-4-Maverick": ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", True, ""),
    "Mixtral-8x7B": ("mistralai/Mixtral-8x7B-v0.1", True, ""),
    "Qwen3-8B": ("Qwen/Qwen3-8B", False, ""),
    "Qwen3-32B": ("Qwen/Qwen3-32B", False, ""),
    "Qwen3-30B-A3B": ("Qwen/Qwen3-30B-A3B", True, ""),
    "Qwen3-235B-A22B": ("Qwen/Qwen3-235B-A22B", True, ""),
    "gpt-oss-20b": ("openai/gpt-oss-20b", True, ""),
    "gpt-oss-120b": ("openai/gpt-oss-120b", True, ""),
    "DeepSeek-V3": ("deepseek-ai/DeepSeek-V3", True, ""),
}
"""Models with a config shipped in aiconfigurator-core (``model_configs/``)."""
GEMM = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "fp4": "nvfp4", "int8": "sq",
        "awq": "int4_wo", "gptq": "int4_wo"}
KV = {"bf16": "bfloat16", "fp16": "bfloat16", "fp8": "fp8", "int8": "int8"}
MODES = {"static-batch": "static", "closed-loop": "agg", "offline": "agg"}


class AICError(ProjectionError):
    """AIConfigurator cannot project this cell (not covered, or it refused: out of memory, ...)."""


@dataclass(frozen=True)
class AICell:
    """What AIConfigurator projects: a catalog model served by ``engine`` on ``tp`` × ``gpu``
    (tensor-parallel), weights at ``quantization``, KV cache at ``kv_dtype``."""

    model: str
    gpu: str
    engine: str = "vllm"
    quantization: str = "bf16"
    kv_dtype: str = "bf16"
    tp: int = 1


def installed() -> bool:
    return importlib.util.find_spec("aiconfigurator") is not None


@lru_cache(maxsize=1)
def version() -> str | None:
    """The installed aiconfigurator version, None when it is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    try:
        return v("aiconfigurator")
    except PackageNotFoundError:
        return None


def coverage(model: str, gpu: str, engine: str, quantization: str = "bf16") -> str | None:
    """None when AIConfigurator covers the cell, else one line saying why it does not."""
    if not installed():
        return "AIConfigurator is not installed (pip install 'workbench[projection]')"
    if engine not in ENGINES:
        return f"AIConfigurator models vLLM, SGLang and TensorRT-LLM, not {engine}"
    if gpu not in SYSTEMS:
        return f"AIConfigurator {version()} has no measured kernel database for {gpu}"
    if model not in MODELS:
        return f"AIConfigurator {version()} ships no config for {model}"
    if str(quantization).lower() not in GEMM:
        return f"AIConfigurator has no {quantization} GEMM"
    return None


def project_point(cell: AICell, *, input_tokens: int, output_tokens: int, batch: int, mode: str = "closed-loop") -> dict:
    """AIConfigurator's projection of one serving point: ``batch`` requests in flight
    (``mode`` "closed-loop"/"offline": in-flight batching; "static-batch": one batch start to
    end). Keys as :func:`workbench.project.roofline.serving_point` (output_tokens_per_s,
    request_throughput, ttft_ms, tpot_ms, e2el_ms, batch) plus engine_version and label.
    Raises :class:`AICError` with one line when the cell is not covered or AIConfigurator refuses."""
    model, gpu, engine, quantization, kv_dtype, tp = (cell.model, cell.gpu, cell.engine, cell.quantization,
                                                      cell.kv_dtype, cell.tp)
    why = coverage(model, gpu, engine, quantization)
    if why:
        raise AICError(why)
    q = str(quantization).lower()
    args = dict(model_path=MODELS[model][0], system_name=SYSTEMS[gpu], backend_name=engine, mode=MODES[mode],
                isl=int(input_tokens), osl=int(output_tokens), batch_size=int(batch), tp_size=int(tp),
                gemm_quant_mode=GEMM[q], kvcache_quant_mode=KV.get(str(kv_dtype).lower(), "bfloat16"))
    if MODELS[model][1]:
        args.update(moe_tp_size=int(tp), moe_ep_size=1, moe_quant_mode=GEMM[q])
    raw = _estimate(json.dumps(args, sort_keys=True))
    note = MODELS[model][2]
    label = (f"projected by AIConfigurator {version()} ({engine} {raw['version']} kernel database, {SYSTEMS[gpu]}"
             + (f"; {note}" if note else "") + ")")
    return {"batch": int(batch), "output_tokens_per_s": raw["tokens/s"], "request_throughput": raw["seq/s"],
            "ttft_ms": raw["ttft"], "tpot_ms": raw["tpot"], "e2el_ms": raw["request_latency"],
            "engine_version": raw["version"], "label": label}


@lru_cache(maxsize=512)
def _estimate(args_json: str) -> dict:
    """One ``aiconfigurator.cli.api.cli_estimate`` call (arguments as sorted JSON), its numbers
    as plain floats; cached on disk by arguments and aiconfigurator version."""
    key = hashlib.sha256(f"{version()}|{args_json}".encode()).hexdigest()[:24]
    path = cache_dir() / "aiconfigurator" / f"{key}.json"
    if path.is_file():
        cached = json.loads(path.read_text(encoding="utf-8"))
        if "error" in cached:
            raise AICError(cached["error"])
        return cached
    from aiconfigurator.cli.api import (
        cli_estimate,  # seconds to import: only when a cell is covered
    )

    for name in ("aiconfigurator", "aiconfigurator_core"):
        logging.getLogger(name).setLevel(logging.ERROR)  # it logs every fallback table it loads
    try:
        args = json.loads(args_json)
        version_ = _latest_database(args["system_name"], args["backend_name"])
        r = cli_estimate(**args, **({"backend_version": version_} if version_ else {}))
        out = {k: (float(r.raw[k]) if k != "version" else str(r.raw[k]))
               for k in ("tokens/s", "seq/s", "ttft", "tpot", "request_latency", "version")}
    except Exception as e:  # noqa: BLE001 — it raises RuntimeError (OOM), ValueError (no database), ...
        out = {"error": f"AIConfigurator refused: {str(e).splitlines()[0][:200]}"}
    if "download" not in out.get("error", "").lower():  # no network now may be network later: not kept
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out), encoding="utf-8")
    if "error" in out:
        raise AICError(out["error"])
    return out


@lru_cache(maxsize=None)
def _latest_database(system: str, backend: str) -> str | None:
    """The kernel database version ``cli_estimate`` would pick (its latest for the system and
    engine), looked up once per process: left to ``cli_estimate``, each call parses every
    database's YAML again (2,000 files, seconds per call on this machine)."""
    from aiconfigurator.sdk.perf_database import get_latest_database_version

    return get_latest_database_version(system=system, backend=backend)


def capacity_point_at_slo(cell: AICell, input_tokens: float, output_tokens: float, slo: dict | None,
                          max_batch: int = 256) -> dict | None:
    """AIConfigurator's serving point with the highest request throughput whose TTFT, TPOT and
    E2EL meet ``slo`` (ms; absent = no limit), batches 1, 2, 4, … up to ``max_batch`` (latency
    grows with the batch: the search stops at the first miss); None when one request at a time
    misses it. Raises :class:`AICError` when the cell is not covered or AIConfigurator refuses
    even one request at a time."""
    slo = {k: v for k, v in (slo or {}).items() if v is not None and k in ("ttft_ms", "tpot_ms", "e2el_ms")}
    best, b = None, 1
    while b <= max_batch:
        try:
            p = project_point(cell, input_tokens=int(round(input_tokens)),
                              output_tokens=max(1, int(round(output_tokens))), batch=b)
        except AICError:
            if best is None and b == 1:
                raise
            break  # out of memory at this batch: the previous one is the largest
        if any(p[k] > v for k, v in slo.items()):
            break
        if best is None or p["request_throughput"] > best["request_throughput"]:
            best = p
        b *= 2
    return best
