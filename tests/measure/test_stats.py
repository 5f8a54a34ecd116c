"""Statistics: hand-computed McNemar, power and bootstrap cases."""

import math

import numpy as np
import pytest

from workbench.measure import stats


def test_mcnemar_exact_by_hand():
    # b = 1 (A right, B wrong), c = 5: p = 2 * P(X <= 1 | n=6, 1/2) = 2 * (1 + 6) / 64
    a = [1] * 1 + [0] * 5 + [1] * 10 + [0] * 4
    b = [0] * 1 + [1] * 5 + [1] * 10 + [0] * 4
    p, nb, nc, test = stats.mcnemar(a, b)
    assert (nb, nc, test) == (1, 5, "McNemar exact")
    assert p == pytest.approx(14 / 64)


def test_mcnemar_chi2_by_hand():
    # b = 30, c = 10: chi2 = (|30 - 10| - 1)^2 / 40 = 9.025; 1 d.o.f.: p = erfc(sqrt(chi2 / 2))
    a = [1] * 30 + [0] * 10 + [1] * 60
    b = [0] * 30 + [1] * 10 + [1] * 60
    p, nb, nc, test = stats.mcnemar(a, b)
    assert (nb, nc, test) == (30, 10, "McNemar chi2")
    assert p == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))


def test_mcnemar_no_discordant_pairs():
    assert stats.mcnemar([1, 0, 1], [1, 0, 1])[0] == 1.0


def test_bootstrap_ci_constant_and_seeded():
    assert stats.mean_ci([1.0] * 20) == (1.0, 1.0, 1.0)
    x = np.r_[np.ones(50), np.zeros(50)]
    v, lo, hi = stats.mean_ci(x, seed=3)
    assert v == 0.5
    # normal approximation: 0.5 ± 1.96 * sqrt(0.25 / 100) = 0.5 ± 0.098
    assert lo == pytest.approx(0.402, abs=0.025) and hi == pytest.approx(0.598, abs=0.025)
    assert stats.mean_ci(x, seed=3) == (v, lo, hi)


def test_bootstrap_single_item():
    v, lo, hi = stats.mean_ci([0.7])
    assert v == 0.7 and math.isnan(lo) and math.isnan(hi)


def test_paired_bootstrap_identical_and_different():
    x = np.array([1, 0, 1, 1, 0, 1, 0, 1.0])
    same = stats.paired_bootstrap(lambda i: x[i].mean(), lambda i: x[i].mean(), len(x))
    assert (same.diff, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    a, b = np.ones(40), np.r_[np.ones(10), np.zeros(30)]
    d = stats.paired_bootstrap(lambda i: a[i].mean(), lambda i: b[i].mean(), 40)
    assert d.diff == pytest.approx(0.75) and d.p_value == 1 / 2000 and d.ci_low > 0.5  # floor: 1/n_boot


def test_compare_binary_uses_mcnemar():
    a = [1] * 1 + [0] * 5 + [1] * 10
    b = [0] * 1 + [1] * 5 + [1] * 10
    r = stats.compare_binary(a, b)
    assert r.diff == pytest.approx((11 - 15) / 16) and r.p_value == pytest.approx(14 / 64)
    assert (r.a_only, r.b_only, r.test, r.n) == (1, 5, "McNemar exact", 16)


def test_power_by_hand():
    z_a, z_b = 1.959963985, 0.841621234
    # paired means: ((z_a + z_b) * 0.5 / 0.1)^2 = 196.22 -> 197
    assert stats.n_items_paired(0.1, 0.5) == math.ceil(((z_a + z_b) * 0.5 / 0.1) ** 2) == 197
    # McNemar (Connor): (z_a*sqrt(.2) + z_b*sqrt(.2 - .01))^2 / .01 = 154.6 -> 155
    assert stats.n_items_mcnemar(0.1, 0.2) == 155
    assert stats.min_detectable_diff(197, 0.5) == pytest.approx((z_a + z_b) * 0.5 / math.sqrt(197))
    with pytest.raises(ValueError):
        stats.n_items_mcnemar(0.3, 0.2)


# ---------------------------------------------------------------------------- against a reference
def test_bootstrap_ci_matches_scipy_at_two_confidence_levels():
    """Percentile bootstrap of a mean against scipy.stats.bootstrap (its own resamples): the
    95 % and 90 % intervals differ by ~0.018 here, the tolerance is 0.005 (Monte Carlo error of
    20,000 resamples ~0.001): a wrong level cannot pass."""
    from scipy.stats import bootstrap

    x = np.random.default_rng(7).normal(size=300)
    for alpha in (0.05, 0.10):
        value, lo, hi = stats.mean_ci(x, n_boot=20_000, alpha=alpha, seed=1)
        ref = bootstrap((x,), np.mean, confidence_level=1 - alpha, n_resamples=20_000, method="percentile",
                        random_state=2).confidence_interval
        assert value == pytest.approx(x.mean())
        assert lo == pytest.approx(ref.low, abs=0.005) and hi == pytest.approx(ref.high, abs=0.005), alpha


def test_every_item_can_be_drawn():
    """One success among 20 items: a resampler that never drew the last item would give [0, 0]."""
    from scipy.stats import bootstrap

    x = np.array([0.0] * 19 + [1.0])
    _, lo, hi = stats.mean_ci(x, n_boot=20_000, seed=3)
    ref = bootstrap((x,), np.mean, n_resamples=20_000, method="percentile", random_state=4).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.01) and hi == pytest.approx(ref.high, abs=0.01) and hi > 0.1


def test_paired_bootstrap_p_is_two_sided_and_matches_a_permutation_test():
    """Paired differences with z ~ 1.3: the two-sided p is ~0.2 and the one-sided ~0.1. The
    bootstrap p agrees with scipy's paired permutation test within 0.03 (a one-sided p cannot),
    and the paired CI with scipy's bootstrap of the mean difference."""
    from scipy.stats import bootstrap, permutation_test

    rng = np.random.default_rng(11)
    b = rng.normal(size=300)
    a = b + rng.normal(loc=0.075, scale=1.0, size=300)
    pa = stats.paired_bootstrap(lambda i: float(a[i].mean()), lambda i: float(b[i].mean()), 300,
                                n_boot=20_000, seed=5)
    perm = permutation_test((a, b), lambda x, y: np.mean(x - y), permutation_type="samples",
                            alternative="two-sided", n_resamples=20_000, random_state=6)
    assert 0.12 < perm.pvalue < 0.3  # the case is the one intended
    assert pa.p_value == pytest.approx(perm.pvalue, abs=0.03)
    ci = bootstrap((a - b,), np.mean, n_resamples=20_000, method="percentile", random_state=7).confidence_interval
    assert pa.ci_low == pytest.approx(ci.low, abs=0.01) and pa.ci_high == pytest.approx(ci.high, abs=0.01)
    assert pa.diff == pytest.approx(np.mean(a - b))


@pytest.mark.parametrize("b, c", [(0, 5), (3, 9), (12, 11), (1, 23)])
def test_mcnemar_exact_is_the_two_sided_binomial_test(b, c):
    from scipy.stats import binomtest

    a_right = [1] * b + [0] * c + [1] * 5
    b_right = [0] * b + [1] * c + [1] * 5
    p, nb, nc, test = stats.mcnemar(a_right, b_right)
    assert (nb, nc, test) == (b, c, "McNemar exact")
    assert p == pytest.approx(binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue)


def test_mcnemar_chi2_has_the_continuity_correction():
    """b=30, c=15: (|30 - 15| - 1)² / 45 = 4.3556, p = χ²₁ tail = 0.03689 (0.02535 without the correction)."""
    p, _, _, test = stats.mcnemar([1] * 30 + [0] * 15, [0] * 30 + [1] * 15)
    assert test == "McNemar chi2" and p == pytest.approx(0.036888, abs=1e-5)
