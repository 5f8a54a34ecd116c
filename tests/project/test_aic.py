"""AIConfigurator as a projection engine: which cells it covers (and why not), and one real
estimate with its label."""

from __future__ import annotations

import time

import pytest

from workbench.project import aic


@pytest.mark.parametrize("model,gpu,engine,q,reason", [
    ("Llama-3.1-8B", "L4", "vllm", "bf16", "no measured kernel database for L4"),
    ("Llama-3.1-8B", "MI300X", "vllm", "bf16", "no measured kernel database for MI300X"),
    ("Llama-3.1-8B", "H100-SXM", "llamacpp", "Q4_K", "not llamacpp"),
    ("Llama-2-7B", "H100-SXM", "vllm", "bf16", "ships no config for Llama-2-7B"),
    ("Llama-3.1-8B", "H100-SXM", "vllm", "Q4_1", "no Q4_1 GEMM"),
])
def test_coverage_says_why_a_cell_is_not_covered(model, gpu, engine, q, reason):
    assert reason in aic.coverage(model, gpu, engine, q)
    with pytest.raises(aic.AICError, match=reason):
        aic.project_point(aic.AICell(model, gpu, engine, q), input_tokens=100, output_tokens=10, batch=1)


def test_covered_cells():
    assert aic.coverage("Llama-3.1-8B", "H200", "vllm", "bf16") is None
    assert aic.coverage("Llama-3.3-70B", "H100-SXM", "trtllm", "fp8") is None
    assert aic.coverage("Qwen3-30B-A3B", "B200", "sglang", "fp4") is None


def test_a_real_estimate_is_plausible_labelled_and_cached(tmp_path, monkeypatch):
    """Llama 3.1 8B, bf16, batch 8, 32 in / 128 out on one H200 under vLLM. Physics bounds:
    a decode step reads the 16 GB of weights at most at 4.8 TB/s (≥ 3.3 ms), so 128 steps take
    ≥ 0.4 s; vLLM's own benchmark published 0.83 s (data/published)."""
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    aic._estimate.cache_clear()
    cell = aic.AICell("Llama-3.1-8B", "H200", "vllm")
    p = aic.project_point(cell, input_tokens=32, output_tokens=128, batch=8, mode="static-batch")
    assert 400 < p["e2el_ms"] < 2000 and 3.3 < p["tpot_ms"] < 15
    assert p["output_tokens_per_s"] == pytest.approx(8 * 128 / (p["e2el_ms"] / 1e3), rel=0.1)
    assert p["label"].startswith(f"projected by AIConfigurator {aic.version()} (vllm ")
    assert "h200_sxm" in p["label"]
    assert list((tmp_path / "aiconfigurator").glob("*.json"))  # on disk: the next process reuses it
    aic._estimate.cache_clear()
    t = time.time()
    again = aic.project_point(cell, input_tokens=32, output_tokens=128, batch=8, mode="static-batch")
    assert again == p and time.time() - t < 1.0
