"""Calibration: measured points from the store, fitting recovers known efficiencies, leave-one-out
errors, labels."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from workbench.project import calibrate
from workbench.project.calibrate import label, leave_one_out, load_points
from workbench.project.roofline import Arch, Cell, Efficiency, Hardware, quant, serving_point
from workbench.results.store import RunWriter, load

SMOLLM2 = Arch("SmolLM2-135M-Instruct", 30, 576, 9, 3, 64, 1536, 49152, tied_embeddings=True)
CPU = Hardware("CPU test", 16, 20.0, 0.1, fp32_tflops=0.1, is_cpu=True)


def test_label():
    assert label(0, None) == "uncalibrated"
    assert label(3, float("nan")) == "uncalibrated"
    assert label(3, 12.4) == "projected (calibrated on 3 runs, median error 12%)"
    assert label(1, 7.0) == "projected (calibrated on 1 run, median error 7%)"


def _write_run(root, *, engine="vllm", target="local-vllm", dtype="float32", points, params=None):
    """A load run whose requests reproduce given (concurrency, ttft_ms, e2el_ms, out) exactly."""
    with RunWriter(kind="load", target=target, engine=engine, model="SmolLM2-135M-Instruct",
                   hardware="AMD EPYC", root=root, host={"cpu_model": "AMD EPYC"}, dtype=dtype,
                   hardware_count=1, **({"params": params} if params else {})) as run:
        rid = 0
        for conc, ttft, e2el, out, n_in in points:
            for i in range(conc + 1):
                run.append("requests", {
                    "request_id": rid, "phase": "warmup" if i == 0 else "measure",
                    "load_point": f"concurrency={conc}", "concurrency": conc, "request_rate": math.inf,
                    "endpoint": "chat", "scheduled_s": 0.0, "sent_s": 1.0, "chunk_times_s": [],
                    "ttft_ms": ttft, "e2el_ms": e2el, "prompt_tokens": n_in, "output_tokens": out,
                    "token_source": "usage", "max_tokens": out, "forced_length": True, "http_status": 200,
                    "error": "", "ok": True})
                rid += 1
            run.append("requests", {  # a failed request: left out
                "request_id": rid, "phase": "measure", "load_point": f"concurrency={conc}", "concurrency": conc,
                "endpoint": "chat", "scheduled_s": 0.0, "sent_s": 1.0, "chunk_times_s": [], "ttft_ms": None,
                "e2el_ms": None, "prompt_tokens": None, "output_tokens": None, "token_source": "none",
                "forced_length": True, "http_status": 500, "error": "boom", "ok": False})
            rid += 1
        return run.run_id


def test_load_points_by_hand(tmp_path):
    run_id = _write_run(tmp_path, points=[(2, 100.0, 1100.0, 11, 50)])
    p = load_points(load(tmp_path))
    assert len(p) == 1
    row = p.iloc[0]
    assert row["run_id"] == run_id and row["engine"] == "vllm" and row["dtype"] == "float32"
    assert row["n"] == 2  # warmup and the failed request left out
    assert row["tpot_ms"] == pytest.approx((1100 - 100) / 10)
    # closed loop: requests/s = C / mean E2EL = 2 / 1.1 s; tokens/s = that × 11
    assert row["request_throughput"] == pytest.approx(2 / 1.1)
    assert row["output_tokens_per_s"] == pytest.approx(2 / 1.1 * 11)


def test_prompt_tokens_filled_from_the_same_load_point(tmp_path):
    _write_run(tmp_path, points=[(1, 100.0, 1100.0, 11, 50)])
    _write_run(tmp_path, engine="llamacpp", target="local-llamacpp", dtype="Q4_1",
               points=[(1, 80.0, 500.0, 11, None)])
    p = load_points(load(tmp_path))
    assert list(p.sort_values("engine")["prompt_tokens"]) == [50, 50]


def test_prompt_tokens_are_borrowed_only_from_a_run_of_the_same_prompts(tmp_path):
    # vLLM sweeps of 40- and 600-token prompts (68 and 628 tokens with the chat template), and
    # a llama.cpp sweep of the 40-token prompts, which reports no prompt tokens: it must get 68,
    # not the median over every vLLM run at concurrency=1 ((68 + 628) / 2 = 348)
    def params(n_in):
        return {"input_tokens": n_in, "seed": 0, "content": "synthetic"}

    _write_run(tmp_path, points=[(1, 100.0, 1100.0, 11, 68)], params=params(40))
    _write_run(tmp_path, points=[(1, 900.0, 1900.0, 11, 628)], params=params(600))
    llama = _write_run(tmp_path, engine="llamacpp", target="local-llamacpp", dtype="Q4_1",
                       points=[(1, 80.0, 500.0, 11, None)], params=params(40))
    p = load_points(load(tmp_path))
    assert len(p) == 3
    assert p.loc[p["run_id"] == llama, "prompt_tokens"].item() == 68
    assert sorted(p.loc[p["engine"] == "vllm", "prompt_tokens"]) == [68, 628]


def _synthetic_points(eff: Efficiency, cell: Cell) -> pd.DataFrame:
    rows = []
    for n_in in (40, 300):
        for c in (1, 2, 4, 8):
            pr = serving_point(Cell(cell.arch, cell.hardware, cell.quant, cell.kv_dtype, eff=eff), n_in, 64, c)
            rows.append({"run_id": f"r{n_in}", "engine": "vllm", "hardware": "cpu", "model": SMOLLM2.name,
                         "concurrency": c, "prompt_tokens": n_in, "output_tokens": 64,
                         "output_tokens_per_s": pr["output_tokens_per_s"], "tpot_ms": pr["tpot_ms"],
                         "ttft_ms": pr["ttft_ms"], "load_point": f"concurrency={c}"})
    return pd.DataFrame(rows)


@pytest.fixture
def cpu_cell(monkeypatch):
    cell = Cell(SMOLLM2, CPU, quant("fp32"), kv_dtype="fp32")
    monkeypatch.setattr(calibrate, "cell_for", lambda p, eff=None, hardware=None: cell)
    return cell


def test_fit_recovers_known_efficiencies(cpu_cell):
    truth = Efficiency(mbu=0.6, mfu=0.3, step_overhead_s=0.004)
    points = _synthetic_points(truth, cpu_cell)
    recs = points.to_dict("records")
    fit = calibrate.fit_points([cpu_cell] * len(recs), recs)
    assert fit.mbu == pytest.approx(0.6, rel=0.02)
    assert fit.mfu == pytest.approx(0.3, rel=0.02)
    assert fit.step_overhead_s == pytest.approx(0.004, abs=2e-4)


def test_leave_one_out_is_exact_on_model_generated_points(cpu_cell):
    points = _synthetic_points(Efficiency(mbu=0.5, mfu=0.2, step_overhead_s=0.01), cpu_cell)
    loo = leave_one_out(points)
    assert len(loo) == len(points)
    assert loo["tps_error_pct"].abs().max() < 1.0
    assert loo["tpot_error_pct"].abs().max() < 1.0
    fits = calibrate.fit_all(points, loo)
    fit = fits[("vllm", "cpu")]
    assert fit.n_runs == 2 and fit.n_points == 8
    assert fit.eff.label == "projected (calibrated on 2 runs, median error 0%)"


def test_leave_one_out_reports_the_error_of_a_point_off_the_model(cpu_cell):
    points = _synthetic_points(Efficiency(mbu=0.5, mfu=0.2, step_overhead_s=0.01), cpu_cell)
    points.loc[0, "output_tokens_per_s"] *= 2  # one measurement twice as fast as the physics
    loo = leave_one_out(points)
    # predicted from the other 7 points: half of the (doubled) measured value, -50%
    assert loo.loc[0, "tps_error_pct"] == pytest.approx(-50, abs=3)


def test_efficiency_for_defaults_to_uncalibrated():
    assert calibrate.efficiency_for("vllm", "H100", {}).label == "uncalibrated"


def test_nothing_to_fit_is_a_clear_error():
    with pytest.raises(calibrate.CalibrationError, match="nothing to fit"):
        calibrate.fit_points([], [])


def test_hardware_for_maps_nvml_names_to_the_catalog():
    hw = calibrate.hardware_for("NVIDIA H100 80GB HBM3")
    assert hw.name == "H100-SXM" and hw.mem_bw_gb_per_s == pytest.approx(3350)
    cpu = calibrate.hardware_for("AMD EPYC", cores=1)
    assert cpu.is_cpu and cpu.mem_bw_gb_per_s > 0


def _depth_points(eff: Efficiency, cells: dict) -> tuple[list, list]:
    """Closed-loop points of one engine on models of different depths, generated by the roofline."""
    pcells, recs = [], []
    for layers, cell in cells.items():
        for c in (1, 4, 16):
            pr = serving_point(replace(cell, eff=eff), 112, 50, c)
            recs.append({"concurrency": c, "prompt_tokens": 112, "output_tokens": 50, "layers": layers,
                         "output_tokens_per_s": pr["output_tokens_per_s"], "tpot_ms": pr["tpot_ms"],
                         "ttft_ms": pr["ttft_ms"]})
            pcells.append(cell)
    return pcells, recs


H100 = Hardware("H100 test", 80, 3350.0, 989.0, fp8_tflops=1979.0)
LLAMA = Arch("llama-like", 32, 4096, 32, 8, 128, 14336, 128256)


def test_the_per_layer_overhead_is_recovered_across_model_depths():
    # a host-bound engine: 0.9 ms per layer per step (kernel launches), 2 ms per step. One fit
    # over a 16- and a 32-layer model must find both terms, which a per-step term alone cannot
    truth = Efficiency(mbu=0.8, mfu=0.4, step_overhead_s=0.002, layer_overhead_s=0.0009)
    cells = {n: Cell(replace(LLAMA, layers=n), H100, quant("bf16"), batched_prefill=True) for n in (16, 32)}
    pcells, recs = _depth_points(truth, cells)
    fit = calibrate.fit_points(pcells, recs)
    assert fit.layer_overhead_s == pytest.approx(0.0009, rel=0.05)
    assert fit.step_overhead_s == pytest.approx(0.002, abs=5e-4)
    # the decode step of a 32-layer model at batch 1 is memory time + 2 + 32 × 0.9 ms
    step = calibrate.predict(replace(cells[32], eff=fit), recs[3])["decode_step_ms"]
    assert step == pytest.approx(calibrate.predict(replace(cells[32], eff=truth), recs[3])["decode_step_ms"], rel=0.02)


def test_one_depth_leaves_the_per_layer_overhead_at_zero():
    truth = Efficiency(mbu=0.8, mfu=0.4, step_overhead_s=0.002, layer_overhead_s=0.0009)
    cell = Cell(LLAMA, H100, quant("bf16"), batched_prefill=True)
    pcells, recs = _depth_points(truth, {32: cell})
    fit = calibrate.fit_points(pcells, recs)
    assert fit.layer_overhead_s == 0.0
    # the same fixed time, all in the per-step term: 2 + 32 × 0.9 = 30.8 ms
    assert fit.step_overhead_s == pytest.approx(0.0308, rel=0.05)


def test_continuous_batching_engines_prefill_a_batch_in_one_pass():
    point = {"model": "Llama-3-8B", "hardware": "NVIDIA H100 80GB HBM3", "dtype": "bfloat16"}
    assert calibrate.cell_for({**point, "engine": "transformers"}).batched_prefill
    assert calibrate.cell_for({**point, "engine": "vllm"}).batched_prefill
    assert not calibrate.cell_for({**point, "engine": "llamacpp"}).batched_prefill
