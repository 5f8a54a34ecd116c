"""Telemetry sampled during a run, on the run's clock (``RunWriter.now_s()``), into SAMPLES.

Sources, each optional:

* ``nvml`` — through pynvml (imported here, lazily), per GPU: ``mem_used_gib``, ``util_pct``,
  ``power_w`` and ``energy_j`` (the driver's cumulative energy counter: the difference over a
  window divided by the output tokens in it is J/token).
* ``process`` — when no GPU is found: the engine's process tree (psutil), ``cpu_pct`` (100 =
  one core busy) and ``rss_gib``; a note says plainly that no GPU was found.
* ``prometheus`` — a vLLM server's ``/metrics``: ``kv_cache_usage_pct`` (vLLM's fraction ×
  100), ``requests_running``, ``requests_waiting``, ``preemptions_total``.

Sampling runs in a daemon thread (blocking NVML/psutil/HTTP calls stay off the event loop).
"""

from __future__ import annotations

import math
import re
import threading
import urllib.request
from collections.abc import Iterable

PROMETHEUS = {
    "vllm:kv_cache_usage_perc": ("kv_cache_usage_pct", 100.0),
    "vllm:num_requests_running": ("requests_running", 1.0),
    "vllm:num_requests_waiting": ("requests_waiting", 1.0),
    "vllm:num_preemptions_total": ("preemptions_total", 1.0),
}


_SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(\S+)")


def parse_prometheus(text: str, names: dict[str, tuple[str, float]] = PROMETHEUS) -> dict[str, float]:
    """Values of the named metrics in a Prometheus text exposition, summed over label sets and
    renamed/scaled per ``names`` (metric -> (our name, factor))."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE_LINE.match(line)
        if m is None or m.group(1) not in names:
            continue
        try:
            value = float(m.group(2))
        except ValueError:
            continue
        ours, factor = names[m.group(1)]
        out[ours] = out.get(ours, 0.0) + value * factor
    return out


def metrics_url(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port/metrics``."""
    base = base_url.rstrip("/")
    base = base.removesuffix("/v1")
    return base + "/metrics"


def window_stats(samples: Iterable[dict], start_s: float, end_s: float) -> dict[str, float]:
    """Telemetry over one window of the run clock: mean and max of each metric (``mean_<m>``,
    ``max_<m>``), and for cumulative counters (``energy_j``, ``preemptions_total``) the
    increase within the window (``<m>_delta``), summed over devices."""
    by: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for s in samples:
        if start_s <= s["t_s"] <= end_s and s["value"] is not None and not math.isnan(s["value"]):
            by.setdefault((s["metric"], s["device"]), []).append((s["t_s"], s["value"]))
    out: dict[str, float] = {}
    per_metric: dict[str, list[float]] = {}
    for (metric, device), pts in by.items():
        pts.sort()
        if metric in ("energy_j", "preemptions_total"):
            out[f"{metric}_delta"] = out.get(f"{metric}_delta", 0.0) + (pts[-1][1] - pts[0][1])
        else:
            per_metric.setdefault(metric, []).extend(v for _, v in pts)
    for metric, values in per_metric.items():
        out[f"mean_{metric}"] = sum(values) / len(values)
        out[f"max_{metric}"] = max(values)
    return out


class Telemetry:
    """Samples every ``interval_s`` into ``run`` (a RunWriter) until stopped.

    ``pid``: the engine's process (its tree is sampled when no GPU is found).
    ``prometheus_url``: a vLLM ``/metrics`` URL to scrape, or None."""

    def __init__(self, run, *, pid: int | None = None, prometheus_url: str | None = None,
                 interval_s: float = 0.5, use_gpu: bool = True):
        self.run = run
        self.pid = pid
        self.prometheus_url = prometheus_url
        self.interval_s = interval_s
        self.use_gpu = use_gpu
        self.notes: list[str] = []
        self.samples: list[dict] = []  # also kept in memory for window_stats
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml = None
        self._gpus: list = []
        self._procs: dict[int, object] = {}
        self._no_gpu = ""

    # ------------------------------------------------------------------ setup
    def _init_gpu(self) -> None:
        if not self.use_gpu:
            return
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as e:  # no library, no driver
            self._no_gpu = f"NVML unavailable: {type(e).__name__}"
            return
        self._nvml = pynvml
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            self._gpus.append((f"gpu{i}:{name.decode() if isinstance(name, bytes) else name}", h))
        if not self._gpus:
            self._no_gpu = "NVML reports 0 devices"

    def start(self) -> Telemetry:
        self._init_gpu()
        if not self._gpus:
            why = f"no GPU found ({self._no_gpu})" if self._no_gpu else "GPU sampling off"
            self.notes.append(why + ("; sampled the engine process tree's CPU% and RSS instead" if self.pid
                                     else "; no engine process to sample either (external target)"))
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="workbench-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
            self.sample()
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._nvml = None

    def __enter__(self) -> Telemetry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    # ------------------------------------------------------------------ sampling
    def sample(self) -> None:
        t = self.run.now_s()
        rows: list[dict] = []
        if self._gpus:
            rows += self._sample_gpus(t)
        elif self.pid is not None:
            rows += self._sample_process(t)
        if self.prometheus_url:
            rows += self._sample_prometheus(t)
        if rows:
            self.samples.extend(rows)
            self.run.extend("samples", rows)

    def _sample_gpus(self, t: float) -> list[dict]:
        nv = self._nvml
        rows = []
        for device, h in self._gpus:
            readings = {
                "mem_used_gib": (lambda h: nv.nvmlDeviceGetMemoryInfo(h).used / 2**30),
                "util_pct": (lambda h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu)),
                "power_w": (lambda h: nv.nvmlDeviceGetPowerUsage(h) / 1e3),
                "energy_j": (lambda h: nv.nvmlDeviceGetTotalEnergyConsumption(h) / 1e3),
            }
            for metric, read in readings.items():
                try:
                    value = read(h)
                except Exception:  # noqa: BLE001 - NVMLError_NotSupported etc.: e.g. no energy counter
                    continue
                rows.append({"t_s": t, "source": "nvml", "device": device, "metric": metric, "value": value})
        return rows

    def _sample_process(self, t: float) -> list[dict]:
        import psutil

        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            if "engine process gone" not in " ".join(self.notes):
                self.notes.append(f"engine process gone (pid {self.pid})")
            return []
        cpu = rss = 0.0
        alive = {}
        for p in tree:
            proc = self._procs.get(p.pid, p)
            try:
                c = proc.cpu_percent(None)  # since the previous call; 0.0 on the first
                rss += proc.memory_info().rss
            except psutil.Error:
                continue
            if p.pid in self._procs:
                cpu += c
            alive[p.pid] = proc
        self._procs = alive
        device = f"engine pid {self.pid} ({len(tree)} processes)"
        return [{"t_s": t, "source": "process", "device": device, "metric": "cpu_pct", "value": cpu},
                {"t_s": t, "source": "process", "device": device, "metric": "rss_gib", "value": rss / 2**30}]

    def _sample_prometheus(self, t: float) -> list[dict]:
        try:
            with urllib.request.urlopen(self.prometheus_url, timeout=2.0) as r:
                text = r.read().decode("utf-8", "replace")
        except (OSError, ValueError) as e:
            note = f"could not scrape {self.prometheus_url}: {e}"
            if note not in self.notes:
                self.notes.append(note)
            return []
        return [{"t_s": t, "source": "prometheus", "device": self.prometheus_url, "metric": k, "value": v}
                for k, v in parse_prometheus(text).items()]
