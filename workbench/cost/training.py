"""Training cost of a fine-tuned option: measured here, projected for catalog GPUs, amortized
into the monthly curve. Pure functions (numbers in, numbers out, no I/O); the decision reads the
finetune run and the catalog (:mod:`workbench.decide.finetuned`).

- **Measured here** (:func:`measured_training_usd`): the finetune run's process CPU seconds ×
  the hourly price of the instance it ran on, as instance-hours: ``cpu_s / 3600 × usd_per_hour``.
  One training thread's CPU second is one wall second of an otherwise idle machine, so this is
  the time the run would have held the instance alone (on the shared machine the wall time was
  3–4× longer: other jobs, not training, took the rest). The price of ``local-cpu`` is the
  catalog's assumption (a 2-vCPU c7i.large), so the amount is labelled by that row.
- **Projected for a GPU** (:func:`training_flops`, :func:`projected_training_hours`): training
  FLOPs ≈ 6 × parameters × tokens for full fine-tuning (2 for the forward pass, 4 for the
  backward pass: gradients with respect to activations and to weights); LoRA skips the weight
  gradients of the frozen base, so it costs a share of that: :data:`LORA_TIME_SHARE`. Hours =
  FLOPs / (peak FLOP/s × utilization), utilization an assumed parameter. Without a GPU
  measurement behind it the projection is **uncalibrated** (:data:`PROJECTED_LABEL`).
- **Amortized** (:func:`amortized_usd_per_month`): a training is paid again every retraining
  period; ``usd / retrain_months`` is added to the option's monthly cost as
  ``Option.training_usd_per_month`` (its own line item beside serving).
"""

from __future__ import annotations

from ..errors import WorkbenchError
from .cost import CostError, checked

FULL_FLOPS_PER_PARAMETER_TOKEN = 6.0
"""Full fine-tuning: ≈ 6 FLOPs per parameter per training token (forward 2, backward 4)."""

LORA_TIME_SHARE = 32.5 / 43.1
"""LoRA training time as a share of full fine-tuning's, ≈ 0.754: published — Hu et al., "LoRA:
Low-Rank Adaptation of Large Language Models" (ICLR 2022, arXiv:2106.09685), §4.2: "We also
observe a 25% speedup during training on GPT-3 175B compared to full fine-tuning", footnote 5:
32.5 tokens/s per V100 for full fine-tuning vs 43.1 for LoRA with the same model-parallel shards.
The FLOP count alone gives 4/6 ≈ 0.667 (no weight gradients for the frozen base, the adapters'
own being negligible at small rank): the measured 0.754 is used because it includes what does
not shrink (attention, memory traffic, the adapters' extra matmuls)."""

DEFAULT_UTILIZATION = 0.3
"""Assumed share of the GPU's peak dense BF16 FLOP/s a fine-tuning run sustains (MFU)."""

DEFAULT_RETRAIN_MONTHS = 3.0
"""Retraining period: quarterly."""

PROJECTED_LABEL = "projected, uncalibrated"
"""No GPU training run was measured: the GPU training projection has nothing to calibrate on."""

METHODS = ("lora", "full")


class TrainingCostError(CostError):
    """A training-cost input that cannot be used (the message names it and its value)."""


def _number(value, name: str, *, positive: bool = False) -> float:
    try:
        return float(checked(value, name, positive=positive))
    except WorkbenchError as e:
        raise TrainingCostError(str(e)) from None


def measured_training_usd(cpu_seconds: float, usd_per_hour: float) -> float:
    """USD of a training run measured here: ``cpu_seconds / 3600 × usd_per_hour`` (the run's
    process CPU time as hours of the instance it ran on)."""
    return _number(cpu_seconds, "cpu_seconds") / 3600.0 * _number(usd_per_hour, "usd_per_hour")


def training_flops(parameters: float, tokens: float, method: str = "lora",
                   lora_share: float = LORA_TIME_SHARE) -> float:
    """FLOPs of fine-tuning a ``parameters``-parameter model on ``tokens`` training tokens:
    ``6 × parameters × tokens`` for ``full``, times ``lora_share`` for ``lora``."""
    if method not in METHODS:
        raise TrainingCostError(f"method: must be 'lora' or 'full', got {method!r}")
    share = 1.0 if method == "full" else _number(lora_share, "lora_share", positive=True)
    if share > 1:
        raise TrainingCostError(f"lora_share: must be a fraction in (0, 1], got {lora_share!r}")
    return (FULL_FLOPS_PER_PARAMETER_TOKEN * _number(parameters, "parameters", positive=True)
            * _number(tokens, "tokens") * share)


def projected_training_hours(flops: float, *, peak_tflops: float, gpu_count: int = 1,
                             utilization: float = DEFAULT_UTILIZATION) -> float:
    """Hours to compute ``flops`` on ``gpu_count`` GPUs of ``peak_tflops`` dense TFLOP/s each,
    sustaining ``utilization`` of the peak: ``flops / (peak × 1e12 × count × utilization) / 3600``."""
    u = _number(utilization, "utilization", positive=True)
    if u > 1:
        raise TrainingCostError(f"utilization: must be a fraction in (0, 1], got {utilization!r}")
    rate = _number(peak_tflops, "peak_tflops", positive=True) * 1e12 * _number(gpu_count, "gpu_count", positive=True) * u
    return _number(flops, "flops") / rate / 3600.0


def amortized_usd_per_month(usd: float, retrain_months: float = DEFAULT_RETRAIN_MONTHS) -> float:
    """A training's cost spread over its retraining period: ``usd / retrain_months`` per month."""
    months = retrain_months if isinstance(retrain_months, (int, float)) and not isinstance(retrain_months, bool) else None
    if months is None or not months > 0 or months == float("inf"):
        raise TrainingCostError(f"retrain_months: the retraining period must be > 0 months, got {retrain_months!r}")
    return _number(usd, "training usd") / months
