"""Training cost of a fine-tuned option: measured, projected, amortized, and its line item."""

from __future__ import annotations

import pytest

from workbench.cost import cost, training


def test_measured_training_is_cpu_hours_times_the_instance_price():
    # the committed ticket adapter: 302.75 CPU s on local-cpu at 0.08925 $/h (assumed c7i.large)
    assert training.measured_training_usd(302.75, 0.08925) == pytest.approx(302.75 / 3600 * 0.08925)
    assert training.measured_training_usd(3600, 2.0) == 2.0


def test_training_flops_full_and_lora_share_from_the_lora_paper():
    full = training.training_flops(1e9, 1e6, "full")
    assert full == 6e15
    lora = training.training_flops(1e9, 1e6, "lora")
    assert lora == pytest.approx(6e15 * 32.5 / 43.1)
    assert 4 / 6 < lora / full < 1  # more than the FLOP-count share: the paper's measured speed-up
    with pytest.raises(training.TrainingCostError, match="method: must be 'lora' or 'full'"):
        training.training_flops(1e9, 1e6, "qlora")


def test_projected_hours_divide_by_peak_times_utilization():
    # 8B parameters, 10M tokens, full: 4.8e17 FLOPs; one 989-TFLOP/s GPU at 40 %: 1213 s
    flops = training.training_flops(8e9, 1e7, "full")
    h = training.projected_training_hours(flops, peak_tflops=989, utilization=0.4)
    assert h == pytest.approx(4.8e17 / (989e12 * 0.4) / 3600)
    assert training.projected_training_hours(flops, peak_tflops=989, gpu_count=2, utilization=0.4) == pytest.approx(h / 2)
    with pytest.raises(training.TrainingCostError, match="utilization: must be a fraction"):
        training.projected_training_hours(flops, peak_tflops=989, utilization=1.5)


@pytest.mark.parametrize("months", [0, -3])
def test_a_retraining_period_that_is_not_positive_is_one_clear_error(months):
    with pytest.raises(training.TrainingCostError) as e:
        training.amortized_usd_per_month(30.0, months)
    assert str(e.value) == f"retrain_months: the retraining period must be > 0 months, got {months!r}"


def test_amortized_training_is_its_own_line_in_the_monthly_cost():
    """Quarterly: a $30 training adds $10 to every month, at every volume, API or self-hosted;
    the serving part is unchanged and the training part is readable on its own."""
    per_month = training.amortized_usd_per_month(30.0)
    assert per_month == 10.0
    plain = cost.Option(name="a", kind="self-hosted", capacity_rps=1.0, usd_per_hour=1.0)
    tuned = cost.Option(name="b", kind="self-hosted", capacity_rps=1.0, usd_per_hour=1.0,
                        training_usd_per_month=per_month)
    vols = [1e3, 1e6, 1e7]
    assert list(tuned.usd_per_month(vols) - plain.usd_per_month(vols)) == [10.0, 10.0, 10.0]
    usd, _ = cost.monthly_cost_arrays([plain, tuned], vols)
    assert list(usd[1] - usd[0]) == [10.0, 10.0, 10.0]
    assert tuned.fixed_usd_per_month == 0.0 and tuned.training_usd_per_month == 10.0
    api = cost.Option(name="c", kind="api", usd_per_request=1e-3, training_usd_per_month=5.0)
    assert api.usd_per_month(1000) == pytest.approx(6.0)
    with pytest.raises(cost.CostError, match="training_usd_per_month: must be >= 0"):
        cost.Option(name="d", kind="api", usd_per_request=0.0, training_usd_per_month=-1.0)
