"""How long one dashboard update takes: recompute (decide.decide over cost curves) + redraw
(FigureWidget batch_update, placement table, provenance panel) for 20 options x 200 volume
points, triggered the way a user triggers it — by setting the volume slider's value.

A volume move reuses the last full decision's curves, flips and gates and reprices every
option at the new volume (``dashboard.at_volume``); any other control (here: the peak factor)
calls ``decide.decide`` over the whole grid again — reported as ``dashboard_full_update_ms_*``.

Target: p95 < 50 ms. Prints, last, ``dashboard_update_ms_p95=X`` (the volume slider).

    .venv/bin/python benchmarks/dashboard_update.py [--updates 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from workbench import cost, dashboard
from workbench.decide import QualityEstimate
from workbench.workloads import Workload


def synthetic_data(n_api: int = 10, n_self: int = 10) -> dashboard.DashboardData:
    """20 options (10 APIs, 10 self-hosted) with measured-looking quality, one workload."""
    rng = np.random.default_rng(0)
    options, quality = [], {}
    for i in range(n_api):
        o = cost.Option(name=f"api-{i}", kind="api", usd_per_request=float(rng.uniform(1e-5, 5e-3)),
                        provenance={"usd_per_token": "published (synthetic)"})
        options.append(o)
    for i in range(n_self):
        o = cost.Option(name=f"gpu-{i} (on-demand)", kind="self-hosted",
                        capacity_rps=float(rng.uniform(0.5, 50)), usd_per_hour=float(rng.uniform(0.5, 40)),
                        provenance={"capacity_rps": "projected (synthetic)", "usd_per_hour": "published (synthetic)"})
        options.append(o)
    for o in options:
        q = float(rng.uniform(0.8, 0.98))
        quality[o.name] = QualityEstimate(q, q - 0.03, q + 0.02, "measured", "synthetic", "accuracy")
    w = Workload(name="bench", task="classification", spec={}, items=[], max_tokens=8,
                 daily_volume=20_000, peak_factor=3.0, slo={"e2el_ms": 2000.0},
                 quality_floor={"accuracy": 0.85}, primary_metric="accuracy", privacy="any")
    return dashboard.DashboardData(
        workloads={w.name: w}, options={w.name: options},
        token_profiles={w.name: {"prompt_tokens_mean": 300.0, "output_tokens_mean": 50.0}},
        quality={w.name: quality})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--full-updates", type=int, default=20)
    args = ap.parse_args()
    d = dashboard.Dashboard(synthetic_data())
    n_traces = len(d.figure.data) - 2
    points = len(d.figure.data[0].x)
    volumes = np.logspace(3.5, 9.5, args.updates)
    for v in volumes[:10]:  # warm-up
        d.volume.value = float(v)
    times_ms = []
    for v in volumes:
        t0 = time.perf_counter()
        d.volume.value = float(v)  # the observer recomputes and redraws synchronously
        times_ms.append((time.perf_counter() - t0) * 1e3)
    full_ms = []
    for i in range(args.full_updates):
        t0 = time.perf_counter()
        d.peak_factor.value = 2.0 + (i % 2)  # a non-volume control: decide.decide again
        full_ms.append((time.perf_counter() - t0) * 1e3)
    if full_ms:
        print(f"dashboard_full_update_ms_p50={np.percentile(full_ms, 50):.1f}")
        print(f"dashboard_full_update_ms_p95={np.percentile(full_ms, 95):.1f}")
    t = np.array(times_ms)
    print(f"options={n_traces} volume_points={points} updates={len(t)}")
    print(f"dashboard_update_ms_p50={np.percentile(t, 50):.1f}")
    print(f"dashboard_update_ms_max={t.max():.1f}")
    print(f"dashboard_update_ms_p95={np.percentile(t, 95):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
