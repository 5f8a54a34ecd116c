"""How long the Monte Carlo robustness of the verified choice takes for 6 workloads x 40
options x 10,000 draws (workbench.decide.robustness.robustness_many). Target < 1 s.

Options are synthetic but shaped like the catalog's: half APIs ($0.0001-0.01/request), half
self-hosted (1-50 requests/s per replica at $0.5-40/h), every one measured (quality 0.6-0.98
with a CI of +-0.03), so every option's quality is drawn. The decisions are made first (not
timed); then each repeat times robustness_many over the six. Prints the load average, each
repeat, and last ``robustness_6x40x10000_s=X`` (the median).

    .venv/bin/python benchmarks/robustness.py [--repeats 5] [--draws 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from types import SimpleNamespace

import numpy as np

from workbench.cost.cost import Option
from workbench.decide import decision
from workbench.decide.quality import QualityEstimate
from workbench.decide.robustness import Ranges, robustness_many

WORKLOADS, OPTIONS = 6, 40


def synthetic(seed: int):
    """One workload's (decision, options): OPTIONS options, all measured."""
    rng = np.random.default_rng(seed)
    w = SimpleNamespace(name=f"w{seed}", primary_metric="accuracy", quality_floor={"accuracy": 0.8},
                        daily_volume=float(rng.uniform(1e3, 5e4)), peak_factor=2.0, slo={}, privacy="any")
    opts, quality = [], {}
    for i in range(OPTIONS):
        if i % 2:
            o = Option(name=f"api-{i}", kind="api", usd_per_request=float(10 ** rng.uniform(-4, -2)))
        else:
            o = Option(name=f"self-{i}", kind="self-hosted", capacity_rps=float(rng.uniform(1, 50)),
                       usd_per_hour=float(rng.uniform(0.5, 40)), peak_factor=2.0)
        q = float(rng.uniform(0.6, 0.98))
        opts.append(o)
        quality[o.name] = QualityEstimate(q, q - 0.03, q + 0.03, "measured", "synthetic", "accuracy")
    return decision.decide(w, opts, quality=quality, route_fraction=None), opts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--draws", type=int, default=10_000)
    args = ap.parse_args()
    pairs = [synthetic(s) for s in range(WORKLOADS)]
    assert all(d.verified_choice for d, _ in pairs)
    ranges = Ranges(draws=args.draws, seed=0)
    print(f"load average {os.getloadavg()}; {WORKLOADS} workloads x {OPTIONS} options x {args.draws:,} draws")
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        out = robustness_many(pairs, ranges)
        times.append(time.perf_counter() - t0)
        print(f"repeat {r}: {times[-1] * 1e3:.1f} ms; e.g. {out[0].summary()}")
    print(f"robustness_{WORKLOADS}x{OPTIONS}x{args.draws}_s={statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
