"""Telemetry: Prometheus parsing, window statistics, and the sampler's three sources."""

from __future__ import annotations

import os
import sys
import time
import types

import pytest

from workbench.measure.telemetry import Telemetry, metrics_url, parse_prometheus, window_stats
from workbench.serving.fakeserver import FakeServer

VLLM_METRICS = """# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
vllm:num_preemptions_total{engine="0",model_name="m"} 7.0
vllm:num_preemptions_created 1.7e9
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="m"} 0.0
"""


class FakeRun:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.rows = []

    def now_s(self):
        return time.perf_counter() - self.t0

    def extend(self, table, rows):
        assert table == "samples"
        self.rows.extend(rows)


def test_parse_prometheus_sums_label_sets_and_scales_kv_usage_to_percent():
    assert parse_prometheus(VLLM_METRICS) == {
        "kv_cache_usage_pct": 25.0, "requests_running": 5.0, "requests_waiting": 1.0, "preemptions_total": 7.0}


def test_metrics_url():
    assert metrics_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/metrics"
    assert metrics_url("http://h:1/v1/") == "http://h:1/metrics"


def test_window_stats_hand_computed():
    s = [
        {"t_s": 0.5, "metric": "power_w", "device": "gpu0", "value": 100.0},
        {"t_s": 1.0, "metric": "power_w", "device": "gpu0", "value": 200.0},
        {"t_s": 2.0, "metric": "power_w", "device": "gpu0", "value": 300.0},
        {"t_s": 9.0, "metric": "power_w", "device": "gpu0", "value": 999.0},  # outside the window
        {"t_s": 1.0, "metric": "energy_j", "device": "gpu0", "value": 1000.0},
        {"t_s": 2.0, "metric": "energy_j", "device": "gpu0", "value": 1250.0},
        {"t_s": 1.0, "metric": "energy_j", "device": "gpu1", "value": 50.0},
        {"t_s": 2.0, "metric": "energy_j", "device": "gpu1", "value": 100.0},
    ]
    w = window_stats(s, 0.5, 2.0)
    assert w["mean_power_w"] == pytest.approx(200.0) and w["max_power_w"] == 300.0
    assert w["energy_j_delta"] == pytest.approx(300.0)  # 250 on gpu0 + 50 on gpu1
    assert window_stats(s, 5.0, 6.0) == {}


def test_process_sampling_when_no_gpu_and_prometheus_scrape(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails: no NVML here
    with FakeServer() as fake:
        run = FakeRun()
        with Telemetry(run, pid=os.getpid(), prometheus_url=metrics_url(fake.base_url), interval_s=0.05) as tel:
            sum(i * i for i in range(2_000_000))  # some CPU for the sampler to see
            time.sleep(0.2)
    assert any("no GPU found" in n for n in tel.notes)
    metrics = {(r["source"], r["metric"]) for r in run.rows}
    assert {("process", "cpu_pct"), ("process", "rss_gib"), ("prometheus", "requests_running"),
            ("prometheus", "kv_cache_usage_pct")} <= metrics
    rss = [r["value"] for r in run.rows if r["metric"] == "rss_gib"]
    assert all(0.01 < v < 64 for v in rss)
    assert max(r["value"] for r in run.rows if r["metric"] == "cpu_pct") > 10
    times = [r["t_s"] for r in run.rows]
    assert times == sorted(times) and tel.samples == run.rows


def test_nvml_sampling_and_energy(monkeypatch):
    energy_mj = iter(range(1_000_000, 10_000_000, 500_000))  # +500 J per sample
    h = object()
    nvml = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: h, nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=3 * 2**30),
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87),
        nvmlDeviceGetPowerUsage=lambda h: 350_000,  # mW
        nvmlDeviceGetTotalEnergyConsumption=lambda h: next(energy_mj),
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    run = FakeRun()
    tel = Telemetry(run, pid=os.getpid(), interval_s=10)
    tel.start()
    tel.sample()
    tel.stop()
    assert not tel.notes
    by = {}
    for r in run.rows:
        assert r["source"] == "nvml" and r["device"] == "gpu0:NVIDIA H100 80GB HBM3"
        by.setdefault(r["metric"], []).append(r["value"])
    assert by["mem_used_gib"][0] == pytest.approx(3.0) and by["util_pct"][0] == 87.0
    assert by["power_w"][0] == pytest.approx(350.0)
    assert by["energy_j"] == pytest.approx([1000.0, 1500.0, 2000.0])
    assert window_stats(run.rows, 0, 1e9)["energy_j_delta"] == pytest.approx(1000.0)
