"""The roofline bound of a point measured on a GPU, and the % of it reached.

The bound is :func:`workbench.project.roofline.serving_point` for the measured model's exact config on
the catalog GPU the run found (``catalog_gpu_name``), at 100% of peak bandwidth and compute,
no per-step overhead, a batch's prompts prefilled in one pass: the fastest that shape can go.
``benchmarks/gpu/run_gpu_sweep.py`` adds it to every point it measures, and the decide report
recomputes it (``workbench.present.show.gpu_measurements``) so a stored bound from an older
roofline never shows.
"""

from __future__ import annotations

import math

from .probe import cpu_hardware
from .roofline import Arch, Efficiency, Hardware, make_cell, serving_point


def catalog_gpu_name(nvml_name: str | None) -> str | None:
    """The gpus.csv row for an NVML device name ('NVIDIA H100 80GB HBM3' → 'H100-SXM'); None
    when unknown (then no bound is computed)."""
    n = (nvml_name or "").upper()
    if "H200" in n:
        return "H200"
    if "H100" in n:
        return "H100-PCIe" if "PCIE" in n else (None if "NVL" in n else "H100-SXM")
    if "A100" in n:
        return ("A100-80GB-PCIe" if "PCIE" in n else "A100-80GB") if "80GB" in n else "A100-40GB"
    for name in ("L40S", "A10G", "L4"):
        if name in n:
            return name
    return None


def projection_hardware(host: dict, cpu_cores: int = 1):
    """The hardware a run's points are bounded by: the catalog GPU matching the host's first
    GPU, or this CPU (bandwidth probe, ``cpu_cores`` cores) when there is no GPU. None when
    the GPU is not in the catalog."""

    gpus = host.get("gpus") or []
    if gpus:
        name = catalog_gpu_name(gpus[0].get("name"))
        return Hardware.from_catalog(name) if name else None

    return cpu_hardware(cores=cpu_cores)


BOUND_LABEL = "roofline bound (100% of peak bandwidth and compute, no overhead, a batch's prompts prefilled in one pass)"


def roofline_point(config: dict, hardware, dtype: str, input_tokens: float, output_tokens: float,
                   concurrency: int) -> dict:
    """:func:`workbench.project.roofline.serving_point` at 100% bandwidth and compute and no step
    overhead, with the batch allowed to reach ``concurrency`` and its prompts prefilled together
    (weights read once per pass): the fastest this shape can go."""

    arch = Arch.from_hf_config(config)
    cell = make_cell(arch, hardware, dtype, eff=Efficiency(1.0, 1.0, 0.0, BOUND_LABEL),
                     max_batch=max(1, int(concurrency)), mem_util=1.0, batched_prefill=True)
    return serving_point(cell, input_tokens, output_tokens, max(1, int(concurrency)))


def pct_of_bound(measured: float, bound: float) -> float:
    """100 · measured / bound (%); NaN when either is missing or the bound is 0."""
    if measured is None or bound is None or not bound or any(map(math.isnan, (measured, bound))):
        return math.nan
    return 100.0 * measured / bound


def with_roofline(summary, config: dict, hardware, dtype: str, *, offline_concurrency: int | None = None):
    """``summary`` (metrics.summarize rows) plus bound_output_tokens_per_s and pct_of_bound per
    point, using each point's measured mean output tokens, its mean prompt tokens
    (= mean output · (total_tokens_per_s / output_tokens_per_s − 1)) and its concurrency
    (``offline_concurrency`` for the offline point, whose concurrency column is 0)."""
    out = summary.copy()
    bounds, pcts = [], []
    for _, p in out.iterrows():
        c = int(p.get("concurrency") or 0) or int(offline_concurrency or 1)
        tout = float(p.get("mean_output_tokens", math.nan))
        tin = tout * (float(p.get("total_tokens_per_s", math.nan)) / float(p.get("output_tokens_per_s", math.nan)) - 1)
        if hardware is None or math.isnan(tin) or math.isnan(tout) or tout <= 0:
            bounds.append(math.nan)
        else:
            bounds.append(roofline_point(config, hardware, dtype, tin, tout, c)["output_tokens_per_s"])
        pcts.append(pct_of_bound(float(p.get("output_tokens_per_s", math.nan)), bounds[-1]))
    out["bound_output_tokens_per_s"] = bounds
    out["pct_of_bound"] = pcts
    return out
