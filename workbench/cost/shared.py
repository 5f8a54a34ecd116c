"""One self-hosted deployment shared by several workloads (adapters of one base on one engine
and instance): replicas sized on their combined peak. Pure functions, no I/O.

Each workload i brings its volume v_i (requests/month) and its option's capacity c_i
(requests/s per replica at its own SLO and token shape) and peak factor p_i. A replica busy with
one workload's requests has no room for another's, so the load adds up in replica units::

    load      = Σ_i v_i / (730 × 3600) × p_i / c_i       (replicas' worth of peak load)
    replicas  = max(max_i min_replicas_i, ceil(load))
    usd/month = replicas × usd_per_hour × 730 + Σ_i (fixed_i + training_i + v_i × variable_i)

against Σ_i option_i.usd_per_month(v_i) for one deployment per workload. Summing peaks is
conservative (peaks that do not coincide need fewer replicas); serving several adapters in one
batch costs more per request than the base alone (docs/finetune.md: "Measuring speed"), which
``c_i`` — measured with the adapter — already includes for one adapter at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .cost import HOURS_PER_MONTH, SECONDS_PER_MONTH, CostError, Option, checked


def shared_usd_per_month(options: Sequence[Option], volumes: Sequence[float]) -> dict:
    """``{"replicas", "usd_per_month", "separate_replicas", "separate_usd_per_month", "saving"}``
    of serving ``volumes[i]`` requests/month of each workload with ``options[i]`` — self-hosted
    options on one instance type (same ``usd_per_hour``) — from one shared deployment vs one
    deployment each."""
    if not options or len(options) != len(volumes):
        raise CostError(f"shared deployment: needs one volume per option, got {len(options)} options "
                        f"and {len(volumes)} volumes")
    if any(o.kind != "self-hosted" for o in options):
        raise CostError("shared deployment: only self-hosted options can share a deployment")
    prices = {float(o.usd_per_hour) for o in options}
    if len(prices) != 1:
        raise CostError(f"shared deployment: the options run on instances of different prices {sorted(prices)}")
    vols = [float(checked(v, "requests_per_month")) for v in volumes]
    load = sum(v / SECONDS_PER_MONTH * o.peak_factor / o.capacity_rps for o, v in zip(options, vols))
    replicas = max(max(int(o.min_replicas) for o in options), math.ceil(load * (1 - 1e-12)))
    fixed = sum(o.fixed_total_usd_per_month + v * o.variable_usd_per_request for o, v in zip(options, vols))
    usd = replicas * prices.pop() * HOURS_PER_MONTH + fixed
    separate = sum(float(o.usd_per_month(v)) for o, v in zip(options, vols))
    return {"replicas": replicas, "usd_per_month": usd,
            "separate_replicas": sum(int(o.replicas(v)) for o, v in zip(options, vols)),
            "separate_usd_per_month": separate, "saving": separate - usd}
