"""How long one dashboard update takes — recompute + redraw — for 20 options x 200 volume
points, over a mix of every control a user can change.

Each update is triggered the way a user triggers it, by setting a widget's value; the
observer recomputes (``decide.decide`` over the volume grid, or for a volume move alone
``whatif.at_volume`` on the last full decision) and redraws (FigureWidget batch_update,
placement table, provenance panel) synchronously. Controls, in a shuffled order, each
``--per-control`` times with random values over their range:

    volume          the requests/month slider (a volume move)
    peak_factor     slider 1-20                        (full recompute, as all below)
    min_replicas    slider 0-32
    usd_per_hour    an instance's price edited
    pricing         an instance's pricing type (on-demand <-> spot: the catalog's price)
    api_price       an API's input USD/Mtok edited
    quality_floor   slider 0.80-0.97
    latency_slo     SLO ms edited (synthetic options: no rebuild; with real data a new SLO
                    rebuilds that workload's options once, see docs/dashboard.md)
    route_fraction  slider 0-0.95

Prints the load average, a per-control breakdown (wall and CPU ms), then, last,
``dashboard_update_ms_p95=X``: the p95 of wall time over all updates of the mix. Target < 50.

    .venv/bin/python benchmarks/dashboard_update.py [--per-control 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from workbench.cost import cost
from workbench.decide.quality import QualityEstimate
from workbench.inputs.catalog import load_catalog
from workbench.inputs.workloads import Workload
from workbench.paths import REPO_DIR
from workbench.present import dashboard, whatif

INSTANCES = ("g5.xlarge", "g6.xlarge", "g6e.xlarge", "p4d.24xlarge", "p4de.24xlarge",
             "p5.48xlarge", "c7i.xlarge", "m7i.xlarge", "gpu_1x_a100", "1x_L4_SECURE")
SPOT_FRACTION = 0.35  # assumed spot price / on-demand price, for the benchmark's catalog only


def spot_catalog(root: Path):
    """The shipped catalog plus an overrides dir with an assumed spot row per benchmark
    instance, so that switching the pricing type finds a price and recomputes."""
    src = REPO_DIR / "data" / "catalog" / "instances.csv"
    with src.open() as f:
        rows = [r for r in csv.DictReader(f) if r["instance"] in INSTANCES and r["pricing"] == "on-demand"
                and not r["valid_to"]]
    fields = list(rows[0])
    with (root / "instances.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({**r, "pricing": "spot", "usd_per_hour": f"{float(r['usd_per_hour']) * SPOT_FRACTION:.4f}",
                        "source": "assumed (benchmark spot price)", "verified": "false", "notes": ""})
    return load_catalog(overrides_dir=root)


def synthetic_data(catalog=None, n_api: int = 10) -> whatif.DashboardData:
    """20 options (10 APIs, 10 self-hosted on catalog instances) with measured-looking
    quality, one workload."""
    rng = np.random.default_rng(0)
    options, quality = [], {}
    for i in range(n_api):
        options.append(cost.Option(name=f"api-{i}", kind="api", usd_per_request=float(rng.uniform(1e-5, 5e-3)),
                                   provenance={"usd_per_token": "published (synthetic)"}))
    for inst in INSTANCES:
        price = catalog.instance(inst)["usd_per_hour"] if catalog is not None else float(rng.uniform(0.5, 40))
        options.append(cost.Option(
            name=f"{inst} (on-demand)", kind="self-hosted", capacity_rps=float(rng.uniform(0.5, 50)),
            usd_per_hour=float(price),
            provenance={"capacity_rps": "projected (synthetic)", "usd_per_hour": "published (catalog)"}))
    for o in options:
        q = float(rng.uniform(0.8, 0.98))
        quality[o.name] = QualityEstimate(q, q - 0.03, q + 0.02, "measured", "synthetic", "accuracy")
    w = Workload(name="bench", task="classification", spec={}, items=[], max_tokens=8,
                 daily_volume=20_000, peak_factor=3.0, slo={"e2el_ms": 2000.0},
                 quality_floor={"accuracy": 0.85}, primary_metric="accuracy", privacy="any")
    return whatif.DashboardData(
        workloads={w.name: w}, options={w.name: options}, catalog=catalog,
        token_profiles={w.name: {"prompt_tokens_mean": 300.0, "output_tokens_mean": 50.0}},
        quality={w.name: quality})


def control_changes(d: dashboard.Dashboard, rng: np.random.Generator) -> dict:
    """``{control: change()}``; each change sets one widget value (a new one each time) and
    so triggers exactly one update. Selecting the instance/API to edit is not timed."""
    instances, apis = list(d.instance.options), list(d.api.options)

    def pick(widget, names):
        def select():
            d._quiet = True  # selecting an option to edit shows its price; it recomputes nothing
            try:
                widget.value = str(rng.choice(names))
            finally:
                d._quiet = False
        return select

    def differing(widget, draw):
        def change():
            value = draw()
            while value == widget.value:
                value = draw()
            widget.value = value
        return change

    def pricing():
        d.pricing.value = "spot" if d.pricing.value == "on-demand" else "on-demand"

    return {
        "volume": (None, differing(d.volume, lambda: float(10 ** rng.uniform(3, 9)))),
        "peak_factor": (None, differing(d.peak_factor, lambda: float(rng.integers(2, 41)) / 2)),
        "min_replicas": (None, differing(d.min_replicas, lambda: int(rng.integers(0, 33)))),
        "usd_per_hour": (pick(d.instance, instances),
                         differing(d.usd_per_hour, lambda: round(float(10 ** rng.uniform(-1, 2)), 2))),
        "pricing": (pick(d.instance, instances), pricing),
        "api_price": (pick(d.api, apis), differing(d.api_in, lambda: round(float(10 ** rng.uniform(-2, 1)), 2))),
        "quality_floor": (None, differing(d.quality_floor, lambda: float(rng.integers(80, 98)) / 100)),
        "latency_slo": (None, differing(d.latency_slo, lambda: float(rng.integers(5, 51)) * 100)),
        "route_fraction": (None, differing(d.route_fraction, lambda: float(rng.integers(0, 20)) / 20)),
    }


def run(d: dashboard.Dashboard, per_control: int, seed: int) -> dict[str, list[tuple[float, float]]]:
    """Shuffled changes of every control; ``{control: [(wall_ms, cpu_ms), ...]}``."""
    rng = np.random.default_rng(seed)
    changes = control_changes(d, rng)
    for select, change in changes.values():  # warm-up: one change of each, not counted
        (select or (lambda: None))()
        change()
    order = [c for c in changes for _ in range(per_control)]
    rng.shuffle(order)
    times: dict[str, list[tuple[float, float]]] = {c: [] for c in changes}
    for name in order:
        select, change = changes[name]
        if select:
            select()
        before = d.last_update_ms
        w0, c0 = time.perf_counter(), time.process_time()
        change()
        wall_ms, cpu_ms = (time.perf_counter() - w0) * 1e3, (time.process_time() - c0) * 1e3
        if d.last_update_ms is before or d.status.value:
            raise SystemExit(f"{name}: the change did not update the dashboard ({d.status.value!r})")
        times[name].append((wall_ms, cpu_ms))
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-control", type=int, default=30, help="changes of each control")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = dashboard.Dashboard(synthetic_data(spot_catalog(Path(tmp))))
    n_options, points = len(d.figure.data) - 2, len(d.figure.data[0].x)
    load_before = os.getloadavg()
    times = run(d, args.per_control, args.seed)
    load_after = os.getloadavg()
    print(f"cpus={os.cpu_count()} load_average_1m_before={load_before[0]:.2f} "
          f"load_average_1m_after={load_after[0]:.2f}")
    print(f"options={n_options} volume_points={points} controls={len(times)} "
          f"updates={sum(map(len, times.values()))}")
    print(f"{'control':<16}{'n':>4}{'p50_ms':>9}{'p95_ms':>9}{'max_ms':>9}{'cpu_p50_ms':>12}{'cpu_p95_ms':>12}")
    for name, t in times.items():
        wall, cpu = np.array(t).T
        print(f"{name:<16}{len(t):>4}{np.percentile(wall, 50):>9.1f}{np.percentile(wall, 95):>9.1f}"
              f"{wall.max():>9.1f}{np.percentile(cpu, 50):>12.1f}{np.percentile(cpu, 95):>12.1f}")
    wall, cpu = np.array([x for t in times.values() for x in t]).T
    print(f"dashboard_update_cpu_ms_p95={np.percentile(cpu, 95):.1f}")
    print(f"dashboard_update_ms_p50={np.percentile(wall, 50):.1f}")
    print(f"dashboard_update_ms_max={wall.max():.1f}")
    print(f"dashboard_update_ms_p95={np.percentile(wall, 95):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
