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
