"""The committed H100 sweeps (data/results, random-weight models, transformers continuous
batching) as the report, the options and the calibration read them."""

from __future__ import annotations

import math

import pytest

from workbench.paths import REPO_DIR
from workbench.present import show
from workbench.project import calibrate
from workbench.results.store import load

ARCHS = {"Llama-3-8B", "Mistral-7B", "Qwen2-7B", "Mixtral-8x7B"}


@pytest.fixture(scope="module")
def results():
    return load([REPO_DIR / "data" / "results"])


@pytest.fixture(scope="module")
def gpu(results):
    return show.gpu_measurements(results)


def test_every_architecture_has_an_offline_ceiling_and_a_full_sweep(gpu):
    assert set(gpu.arch) >= ARCHS
    for arch in ARCHS:
        g = gpu[gpu.arch == arch]
        assert (g.stage == "offline ceiling").sum() == 1, arch
        served = g[g.stage == "served"].sort_values("concurrency")
        assert served.concurrency.tolist() == [1, 2, 4, 8, 16, 32, 64], arch
        assert (served.failed == 0).all() and (served.completed > 0).all(), arch
        # continuous batching: 64 concurrent requests give far more tokens/s than one
        assert served.output_tokens_per_s.iloc[-1] > 10 * served.output_tokens_per_s.iloc[0], arch


def test_points_are_under_their_bound_and_say_where_they_came_from(gpu):
    assert (gpu.pct_of_bound > 0).all() and (gpu.pct_of_bound <= 100).all()
    assert (gpu.output_tokens_per_s <= gpu.bound_output_tokens_per_s).all()
    for col in ("p50_ttft_ms", "p99_ttft_ms", "max_mem_used_gib", "mean_power_w", "energy_j_per_token"):
        assert gpu[col].map(lambda v: v is not None and math.isfinite(v) and v > 0).all(), col
    assert gpu.provenance.str.startswith("measured (run ").all()
    assert gpu.provenance.str.contains("random weights").all()
    assert gpu.provenance.str.contains("H100").all() and gpu.provenance.str.contains("driver 580").all()
    assert gpu.provenance.str.contains("bound projected").all()
    # Mixtral-8x7B did not fit in 80 GB with all 32 layers: the table says how many were built
    assert set(gpu[gpu.arch == "Mixtral-8x7B"].layers) == {"17 of 32"}


def test_ttft_is_a_generated_token_not_an_echo(gpu):
    """Prefill of 112 tokens through 7-8 B parameters reads ≥ 13 GiB: ≥ 4 ms on an H100. A TTFT
    under that means the first content chunk was not a generated token (the Qwen2 echo bug)."""
    served = gpu[gpu.stage == "served"]
    assert (served.p50_ttft_ms > 4.0).all()


def test_partial_model_is_calibration_only_and_full_ones_are_options(results):
    from workbench.decide.options import build_options_detailed
    from workbench.inputs.workloads import load_workload

    built = build_options_detailed(load_workload("incident-summarization"), results=results)
    names = [o.name for o in built.options]
    for arch in ARCHS - {"Mixtral-8x7B"}:
        opt = next(o for o in built.options if o.name.startswith(f"{arch} · transformers"))
        assert "random weights" in opt.provenance["capacity_rps"]
    assert not any(n.startswith("Mixtral-8x7B · transformers") for n in names)
    assert any("17 of its 32 layers" in n and "calibration only" in n for n in built.notes)


def test_calibration_uses_the_layers_really_measured(results):
    from workbench.project.calibrate import cell_for, load_points

    pts = load_points(results)
    mixtral = pts[(pts.engine == "transformers") & (pts.model == "Mixtral-8x7B")]
    assert len(mixtral) == 7 and (mixtral.layers == 17).all()
    assert cell_for(mixtral.iloc[0].to_dict()).arch.layers == 17
    llama = pts[(pts.engine == "transformers") & (pts.model == "Llama-3-8B")].iloc[0].to_dict()
    assert cell_for(llama).arch.layers == 32


def test_gpu_fit_is_physical_and_labelled(results):
    fits, label = calibrate.calibration_fits(results)
    key = next(k for k in fits if k[0] == "transformers")
    eff = fits[key].eff
    assert eff.mbu <= 1.0  # a GPU cannot beat its datasheet bandwidth
    assert eff.label.startswith("projected (calibrated on 4 runs")
    assert "vLLM" in label and "uncalibrated" in label  # the projected vLLM options are not calibrated by it


def test_gpu_sweep_figure(gpu):
    from workbench.present import figures

    fig = figures.gpu_sweep(gpu)
    provs = {t.meta["provenance"] for t in fig.data if t.meta and "provenance" in t.meta}
    assert provs == {"measured", "projected"}
    assert {t.meta["arch"] for t in fig.data} == set(gpu.arch)
    assert "H100" in fig.layout.title.text
    empty = figures.gpu_sweep(gpu.iloc[:0])
    assert "none stored" in empty.layout.title.text
