"""This CPU as projection hardware (workbench.project.probe): the probe's figures, and the
Hardware built from them, worked by hand."""

from __future__ import annotations

import json

import pytest

from workbench.project import probe


def test_flop_per_cycle_follows_the_simd_width():
    assert probe.fp32_flop_per_cycle({"avx512": True, "avx2": True, "fma": True}) == 64
    assert probe.fp32_flop_per_cycle({"avx512": False, "avx2": True, "fma": True}) == 32
    assert probe.fp32_flop_per_cycle({"avx2": True, "fma": False}) == 16
    assert probe.fp32_flop_per_cycle({}) == 8


def test_cpu_hardware_from_a_probe():
    """2 cores at 2000 MHz with AVX2+FMA: 2 × 2e9 × 32 = 0.128 TFLOP/s; bandwidth as measured."""
    p = {"read_gb_per_s": 12.5, "mhz": 2000.0, "avx2": True, "fma": True, "mem_gib": 24.0,
         "cpu_model": "Test CPU", "host": "h", "measured_at": "2026-11-29T00:00:00+00:00"}
    hw = probe.cpu_hardware(cores=2, probe=p)
    assert hw.is_cpu and hw.mem_bw_gb_per_s == 12.5 and hw.mem_gib == 24.0
    assert hw.fp32_tflops == pytest.approx(0.128) and hw.bf16_tflops == pytest.approx(0.128)
    assert hw.name == "CPU Test CPU ×2 cores" and "measured (numpy probe on h" in hw.source
    assert "compute assumed from clock × 32 FLOP/cycle" in hw.source


def test_the_probe_measures_and_caches_per_host(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    m = probe.measure_memory_bandwidth(size_mib=16, repeats=2)
    assert m["read_gb_per_s"] > 0.1 and m["copy_gb_per_s"] > 0.1 and m["size_mib"] == 16
    first = probe.probe_memory_bandwidth()
    cached = json.loads(next((tmp_path / "probe").glob("*.json")).read_text())
    assert cached["read_gb_per_s"] == first["read_gb_per_s"] and first["cores"] >= 1
    assert probe.probe_memory_bandwidth() == first  # read back, not measured again
