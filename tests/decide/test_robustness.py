"""Monte Carlo robustness of the verified choice, against probabilities worked by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from workbench.cost.cost import Option
from workbench.decide import decision
from workbench.decide.quality import QualityEstimate as Q
from workbench.decide.robustness import Ranges, robustness, robustness_many

W = SimpleNamespace(name="w", primary_metric="accuracy", quality_floor={"accuracy": 0.8},
                    daily_volume=1_000_000 / (730 / 24), peak_factor=1.0, slo={}, privacy="any")
A = Option(name="A", kind="api", usd_per_request=0.001)  # $1000 at 1e6 requests/month
S = Option(name="S", kind="self-hosted", capacity_rps=1.0, usd_per_hour=1.0)  # $730 up to 2.628e6
TIGHT = {"A": Q(0.95, 0.949, 0.951, "measured", "run a"), "S": Q(0.95, 0.949, 0.951, "measured", "run s")}


def test_volume_range_by_hand():
    """S ($730 flat) beats A ($0.001 V) when V > 730,000. V is log-uniform in [5e5, 2e6]:
    P = ln(2e6 / 7.3e5) / ln 4 = 0.7270."""
    d = decision.decide(W, [A, S], quality=TIGHT)
    r = robustness(d, [A, S], Ranges(volume_factor=2.0, price_spread=0.0, draws=20_000, seed=1))
    assert r.choice == "S" and r.probability == pytest.approx(math.log(2e6 / 7.3e5) / math.log(4), abs=0.012)
    assert r.cheapest["A"] == pytest.approx(1 - r.probability) and r.no_feasible == 0


def test_quality_within_its_ci_by_hand():
    """S measured 0.82, CI [0.78, 0.86] (σ = 0.04 / 1.96), floor 0.8: S meets it in
    Φ(0.02 / σ) = Φ(0.98) = 83.6% of draws; otherwise A (dearer, always feasible) is cheapest."""
    q = {"A": TIGHT["A"], "S": Q(0.82, 0.78, 0.86, "measured", "run s")}
    d = decision.decide(W, [A, S], quality=q)
    r = robustness(d, [A, S], Ranges(volume_factor=1.0, price_spread=0.0, draws=20_000, seed=2))
    phi = 0.5 * (1 + math.erf(0.02 / (0.04 / 1.959964) / math.sqrt(2)))
    assert r.probability == pytest.approx(phi, abs=0.01) and r.cheapest["A"] == pytest.approx(1 - phi, abs=0.01)


def test_prices_and_seed():
    """At 1e6 with volume fixed, S ($730·u1) vs A ($1000·u2), u ~ U[0.5, 1.5]: S is cheaper
    unless 730 u1 > 1000 u2. Seeded: the same seed gives the same answer."""
    d = decision.decide(W, [A, S], quality=TIGHT)
    ranges = Ranges(volume_factor=1.0, price_spread=0.5, draws=20_000, seed=3)
    r = robustness(d, [A, S], ranges)
    # S loses where u2 < 0.73 u1: a triangle from u1 = 0.6849 to 1.5, height 0.595 at 1.5: area 0.2425
    p_loses = 0.5 * (1.5 - 0.5 * 1000 / 730) * (1.5 / (1000 / 730) - 0.5)  # triangle area
    assert r.probability == pytest.approx(1 - p_loses, abs=0.01)
    assert robustness(d, [A, S], ranges) == r
    assert robustness(d, [A, S], Ranges(volume_factor=1.0, price_spread=0.5, draws=20_000, seed=4)) != r


def test_nothing_verified_nothing_to_test():
    q = {"A": Q(88.0, provenance="published", metric="MMLU", benchmark="mmlu"), "S": TIGHT["S"]}
    low = {**q, "S": Q(0.5, 0.4, 0.6, "measured", "run s")}
    d = decision.decide(W, [A, S], quality=low)
    [r] = robustness_many([(d, [A, S])])
    assert d.verified_choice is None and r.probability is None and "no verified choice" in r.summary()
