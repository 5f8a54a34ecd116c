"""Robustness: how likely the verified choice stays the cheapest option feasible on measured
evidence when volume, prices and quality vary within their stated ranges and CIs.

Monte Carlo, seeded and vectorized (numpy: every draw of every option in one array pass;
``cost.monthly_cost_arrays`` prices all options at all drawn volumes at once, so the costs are
the report's own formula). Per draw:

- volume: log-uniform within [V / f, V · f] (``Ranges.volume_factor`` = f, around the expected V);
- prices: each option's monthly cost times its own uniform factor in [1 − s, 1 + s]
  (``Ranges.price_spread`` = s: list prices move, instance rates differ by region and contract);
- quality: each option measured on the workload draws its metric from a normal with the
  measured value as mean and its 95% CI as ± 1.96 σ; it is feasible in that draw when the draw
  meets the floor. Options without measured evidence never are (as in the decision), and the
  privacy and latency gates are as decided.

:func:`robustness` answers for one decision; :func:`robustness_many` for several at once (the
report; ``benchmarks/robustness.py`` times 6 workloads × 40 options × 10,000 draws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..cost import cost

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Ranges:
    """What varies, and how much (see the module doc). ``draws``: Monte Carlo draws; ``seed``:
    the generator's seed (the same seed gives the same answer)."""

    volume_factor: float = 2.0
    price_spread: float = 0.2
    draws: int = 10_000
    seed: int = 0

    def describe(self) -> str:
        return (f"volume ×/÷ {self.volume_factor:g}, each price ± {self.price_spread:.0%}, measured quality "
                f"within its 95% CI; {self.draws:,} seeded draws")


@dataclass(frozen=True)
class Robustness:
    """``probability``: share of draws in which ``choice`` is the cheapest option feasible on
    measured evidence (None without a verified choice); ``cheapest``: option → share of draws
    in which it is (the alternatives that take over); ``no_feasible``: share of draws with none."""

    choice: str | None
    probability: float | None
    cheapest: dict = field(default_factory=dict)
    no_feasible: float = 0.0
    ranges: Ranges = Ranges()

    def summary(self) -> str:
        if self.probability is None:
            return "no verified choice: nothing to test for robustness"
        others = sorted(((s, o) for o, s in self.cheapest.items() if o != self.choice and s > 0), reverse=True)
        alt = f"; otherwise {others[0][1]} ({others[0][0]:.0%})" if others else ""
        return (f"{self.choice} stays the cheapest verified option in {self.probability:.0%} of draws "
                f"({self.ranges.describe()}){alt}")


def robustness(decision, options, ranges: Ranges = Ranges()) -> Robustness:
    """The robustness of one decision's verified choice over its (plain) options."""
    return robustness_many([(decision, options)], ranges)[0]


def robustness_many(pairs, ranges: Ranges = Ranges()) -> list[Robustness]:
    """:func:`robustness` for each ``(decision, options)``, one generator (seeded once) for all."""
    rng = np.random.default_rng(ranges.seed)
    return [_one(d, opts, ranges, rng) for d, opts in pairs]


def _one(decision, options, ranges: Ranges, rng) -> Robustness:
    choice = decision.verified_choice
    opts = list({o.name: o for o in reversed(list(options))}.values())[::-1]  # first of each name
    names = [o.name for o in opts]
    if choice is None or choice not in names:
        return Robustness(choice, None, ranges=ranges)
    n, d = len(opts), int(ranges.draws)
    log_f = np.log(ranges.volume_factor)
    volumes = decision.volume * np.exp(rng.uniform(-log_f, log_f, d))
    usd, _ = cost.monthly_cost_arrays(opts, volumes)  # (options, draws)
    spread = np.float32(ranges.price_spread)
    usd = usd * (1 - spread + 2 * spread * rng.random((n, d), dtype=np.float32))
    ok = _feasible_draws(decision, names, rng, d)
    usd = np.where(ok, usd, np.inf)
    winner = usd.argmin(axis=0)
    none = ~ok.any(axis=0)
    counts = np.bincount(winner[~none], minlength=n) / d
    i = names.index(choice)
    return Robustness(choice, float(counts[i]), {nm: float(c) for nm, c in zip(names, counts) if c > 0},
                      float(none.mean()), ranges)


def _feasible_draws(decision, names: list[str], rng, d: int) -> np.ndarray:
    """(options, draws) booleans: gates as decided, quality drawn within each measured CI.

    A normal draw q ~ N(value, σ) meets the floor with probability p = Φ((value − floor) / σ);
    drawing u ~ U(0, 1) and testing u < p is the same event at half the cost (one uniform per
    option and draw, and only for options whose outcome is uncertain)."""
    t = decision.table
    row = {}
    for i, name in enumerate(t["option"].tolist()):
        row.setdefault(name, i)
    cols = {c: t[c].tolist() for c in ("latency_ok", "privacy_ok", "evidence", "quality", "quality_ci_low",
                                        "quality_ci_high")}
    p = np.zeros(len(names))
    for k, name in enumerate(names):
        i = row.get(name)
        if i is None or not cols["latency_ok"][i] or not cols["privacy_ok"][i] or cols["evidence"][i] != "measured":
            continue
        if decision.floor is None:
            p[k] = 1.0
            continue
        lo, hi = _num(cols["quality_ci_low"][i]), _num(cols["quality_ci_high"][i])
        sd = (hi - lo) / (2 * Z95) if lo == lo and hi == hi else 0.0
        p[k] = _meets(_num(cols["quality"][i]), sd, decision.floor)
    ok = np.repeat((p >= 1.0)[:, None], d, axis=1)
    unsure = np.flatnonzero((p > 0.0) & (p < 1.0))
    if len(unsure):
        ok[unsure] = rng.random((len(unsure), d), dtype=np.float32) < p[unsure, None]
    return ok


def _num(x) -> float:
    return float("nan") if x is None else float(x)


def _meets(value: float, sd: float, floor: float) -> float:
    """P(N(value, sd) ≥ floor); a point (sd 0) meets it or not."""
    if value != value:
        return 0.0
    if sd <= 0:
        return float(value >= floor)
    return 0.5 * (1.0 + math.erf((value - floor) / (sd * math.sqrt(2.0))))
