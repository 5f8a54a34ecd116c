"""Statistics for quality measurements: bootstrap confidence intervals, paired comparisons of two
targets on the same items, and how many items a comparison needs. Pure functions, seeded.

A *metric function* maps an array of item indices to a number (the metric on those items),
so one bootstrap serves means, macro-F1 and micro-F1 alike (see workbench.measure.scorers.MetricData).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MetricFn = Callable[[np.ndarray], float]
N_BOOT = 2000
ALPHA = 0.05


def _resamples(n_items: int, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` × ``n_items`` indices drawn with replacement (the same for a given seed)."""
    return np.random.default_rng(seed).integers(0, n_items, size=(n_boot, n_items))


def bootstrap_ci(metric: MetricFn, n_items: int, *, n_boot: int = N_BOOT, alpha: float = ALPHA,
                 seed: int = 0) -> tuple[float, float, float]:
    """(value, ci_low, ci_high): the metric on all items and the percentile bootstrap interval
    [q(α/2), q(1−α/2)] of the metric over ``n_boot`` item resamples."""
    value = metric(np.arange(n_items))
    if n_items < 2:
        return value, float("nan"), float("nan")
    boots = np.array([metric(idx) for idx in _resamples(n_items, n_boot, seed)])
    boots = boots[~np.isnan(boots)]
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return value, float(lo), float(hi)


def mean_ci(values, **kw) -> tuple[float, float, float]:
    """Bootstrap CI of the mean of per-item values."""
    x = np.asarray(values, float)
    return bootstrap_ci(lambda idx: float(x[idx].mean()), len(x), **kw)


@dataclass(frozen=True)
class Paired:
    """A − B on the same items: the difference, its bootstrap CI and a two-sided p-value."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str  # "paired bootstrap", "McNemar exact", "McNemar chi2"
    n: int
    a_only: int | None = None  # binary outcomes: items A got right and B wrong
    b_only: int | None = None


def paired_bootstrap(metric_a: MetricFn, metric_b: MetricFn, n_items: int, *, n_boot: int = N_BOOT,
                     alpha: float = ALPHA, seed: int = 0) -> Paired:
    """Difference d = metric_a − metric_b on the same resampled items each time.
    p-value (two-sided) = min(1, 2 · min(P*(d ≤ 0), P*(d ≥ 0))) over the bootstrap distribution,
    floored at 1/n_boot (the smallest p the resampling can resolve)."""
    all_idx = np.arange(n_items)
    diff = metric_a(all_idx) - metric_b(all_idx)
    boots = np.array([metric_a(idx) - metric_b(idx) for idx in _resamples(n_items, n_boot, seed)])
    boots = boots[~np.isnan(boots)]
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    if np.all(boots == 0):
        p = 1.0
    else:
        # a bootstrap of n_boot resamples cannot resolve p below 1/n_boot: report that bound, not 0
        p = max(1.0 / len(boots), min(1.0, 2 * min(np.mean(boots <= 0), np.mean(boots >= 0))))
    return Paired(float(diff), float(lo), float(hi), float(p), "paired bootstrap", n_items)


def mcnemar(a_correct, b_correct, *, exact_below: int = 25) -> tuple[float, int, int, str]:
    """McNemar's test on paired binary outcomes. b = #(A right, B wrong), c = #(A wrong, B right).
    Exact (b + c < ``exact_below``): p = min(1, 2 · BinomCDF(min(b, c); b + c, ½)).
    Otherwise χ² with continuity correction: (|b − c| − 1)² / (b + c), 1 d.o.f.
    Returns (p_value, b, c, test name); p = 1 when there are no discordant pairs."""
    from scipy import stats as st

    a = np.asarray(a_correct, float) > 0.5
    b_ = np.asarray(b_correct, float) > 0.5
    b, c = int(np.sum(a & ~b_)), int(np.sum(~a & b_))
    n = b + c
    if n == 0:
        return 1.0, b, c, "McNemar exact"
    if n < exact_below:
        return float(min(1.0, 2 * st.binom.cdf(min(b, c), n, 0.5))), b, c, "McNemar exact"
    chi2 = (abs(b - c) - 1) ** 2 / n
    return float(st.chi2.sf(chi2, 1)), b, c, "McNemar chi2"


def compare_binary(a_correct, b_correct, **kw) -> Paired:
    """Paired comparison of accuracies: difference and bootstrap CI, p-value from McNemar."""
    a, b = np.asarray(a_correct, float), np.asarray(b_correct, float)
    pb = paired_bootstrap(lambda i: float(a[i].mean()), lambda i: float(b[i].mean()), len(a), **kw)
    p, n_a, n_b, test = mcnemar(a, b)
    return Paired(pb.diff, pb.ci_low, pb.ci_high, p, test, len(a), n_a, n_b)


# --------------------------------------------------------------------------- power
def _z(q: float) -> float:
    from scipy import stats as st

    return float(st.norm.ppf(q))


def n_items_paired(delta: float, sd_diff: float, *, alpha: float = ALPHA, power: float = 0.8) -> int:
    """Items needed for a two-sided paired test of a mean difference ``delta`` when per-item
    differences have standard deviation ``sd_diff``: n = ⌈((z₁₋α/₂ + z_power) · sd_diff / delta)²⌉."""
    if delta == 0:
        return int(np.iinfo(np.int64).max)
    return int(np.ceil(((_z(1 - alpha / 2) + _z(power)) * sd_diff / abs(delta)) ** 2))


def n_items_mcnemar(delta: float, p_discordant: float, *, alpha: float = ALPHA, power: float = 0.8) -> int:
    """Items needed to detect an accuracy difference ``delta`` between two paired systems whose
    answers disagree on a fraction ``p_discordant`` of items (Connor 1987):
    n = ⌈(z₁₋α/₂ · √p_d + z_power · √(p_d − δ²))² / δ²⌉. Needs |δ| ≤ p_d."""
    if delta == 0:
        return int(np.iinfo(np.int64).max)
    if abs(delta) > p_discordant:
        raise ValueError(f"delta {delta} cannot exceed the discordant fraction {p_discordant}")
    num = _z(1 - alpha / 2) * np.sqrt(p_discordant) + _z(power) * np.sqrt(p_discordant - delta ** 2)
    return int(np.ceil(num ** 2 / delta ** 2))


def min_detectable_diff(n_items: int, sd_diff: float, *, alpha: float = ALPHA, power: float = 0.8) -> float:
    """Smallest mean difference a paired test on ``n_items`` detects: (z₁₋α/₂ + z_power)·sd_diff/√n."""
    return float((_z(1 - alpha / 2) + _z(power)) * sd_diff / np.sqrt(n_items))
