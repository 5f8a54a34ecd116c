"""The roofline's 2026 architectures — MLA, local/global layer mixes, shared experts, MoE every N
layers, MXFP4 / FP8 / FP4 weights, an FP8 KV cache — checked against numbers worked by hand in
the comments (shapes from the models' config.json, as copied in aiconfigurator-core 0.12.0's
model_configs/; published figures cited where they are compared)."""

from __future__ import annotations

import pytest

from workbench.project.roofline import (
    Arch,
    Hardware,
    ProjectionError,
    decode_flops_per_token,
    kv_bytes_per_sequence,
    kv_bytes_per_token,
    make_cell,
    max_sequences,
    prefill_flops,
    quant,
    resident_tokens,
    weight_bytes,
    weight_bytes_read,
)

DEEPSEEK_V3 = Arch("DeepSeek-V3", layers=61, hidden=7168, heads=128, kv_heads=128, head_dim=192, ffn=18432,
                   vocab=129280, experts=256, experts_per_token=8, kv_lora_rank=512, q_lora_rank=1536,
                   qk_rope_head_dim=64, qk_nope_head_dim=128, v_head_dim=128, moe_ffn=2048, shared_experts=1,
                   first_dense_layers=3)
GPT_OSS_20B = Arch("gpt-oss-20b", layers=24, hidden=2880, heads=64, kv_heads=8, head_dim=64, ffn=2880,
                   vocab=201088, experts=32, experts_per_token=4, sliding_window=128, full_attention_layers=12)
GPT_OSS_120B = Arch("gpt-oss-120b", layers=36, hidden=2880, heads=64, kv_heads=8, head_dim=64, ffn=2880,
                    vocab=201088, experts=128, experts_per_token=4, sliding_window=128, full_attention_layers=18)
GEMMA3_27B = Arch("Gemma-3-27B", layers=62, hidden=5376, heads=32, kv_heads=16, head_dim=128, ffn=21504,
                  vocab=262208, tied_embeddings=True, sliding_window=1024, full_attention_layers=10)
SCOUT = Arch("Llama-4-Scout", layers=48, hidden=5120, heads=40, kv_heads=8, head_dim=128, ffn=16384, vocab=202048,
             experts=16, experts_per_token=1, moe_ffn=8192, shared_experts=1, sliding_window=8192,
             full_attention_layers=12, local_attention="chunked")
MAVERICK = Arch("Llama-4-Maverick", layers=48, hidden=5120, heads=40, kv_heads=8, head_dim=128, ffn=16384,
                vocab=202048, experts=128, experts_per_token=1, moe_ffn=8192, shared_experts=1, moe_every=2,
                sliding_window=8192, full_attention_layers=12, local_attention="chunked")


# ----------------------------------------------------------------------------- KV cache
def test_mla_kv_bytes_per_token_by_hand():
    """MLA keeps one latent per token and layer, shared by the 128 heads: kv_lora_rank 512 +
    qk_rope_head_dim 64 = 576 elements. 61 layers × 576 × 2 B (bf16) = 70,272 B = 68.6 KiB per token
    (research/refresh-2026.md §3a: "68.6 (latent)"); an FP8 cache halves it: 35,136 B. Expanded to
    MHA (128 heads × (192 K + 128 V)) it would be 61 × 40,960 × 2 = 4,997,120 B, 71× more."""
    assert kv_bytes_per_token(DEEPSEEK_V3, "bf16") == 70_272
    assert kv_bytes_per_token(DEEPSEEK_V3, "fp8") == 35_136
    assert kv_bytes_per_token(DEEPSEEK_V3, "fp8_e4m3") == 35_136
    # no window: a 4096-token sequence holds 4096 × 70,272 B = 287,834,112 B
    assert kv_bytes_per_sequence(DEEPSEEK_V3, 4096) == 287_834_112
    assert resident_tokens(DEEPSEEK_V3, 4096) == 4096


def test_sliding_window_kv_bytes_by_hand():
    """gpt-oss-20b: 24 layers, 8 KV heads × 64 dims: 2·8·64 = 1024 elements = 2048 B (bf16) per token
    and layer. A token held by every layer: 24 × 2048 = 49,152 B (48 KiB). 12 layers are full
    attention, 12 slide over 128 tokens: a sequence of 8192 tokens holds
    12 × 8192 × 2048 + 12 × 128 × 2048 = 201,326,592 + 3,145,728 = 204,472,320 B,
    and each token past the window adds only the 12 global layers' 12 × 2048 = 24,576 B."""
    assert kv_bytes_per_token(GPT_OSS_20B) == 49_152
    assert kv_bytes_per_sequence(GPT_OSS_20B, 8192) == 204_472_320
    assert kv_bytes_per_sequence(GPT_OSS_20B, 8193) - kv_bytes_per_sequence(GPT_OSS_20B, 8192) == 24_576
    # within the window every layer holds every token
    assert kv_bytes_per_sequence(GPT_OSS_20B, 100) == 100 * 49_152
    # the decode step's product: kv_bytes_per_token × resident_tokens is the same sequence size
    assert kv_bytes_per_token(GPT_OSS_20B) * resident_tokens(GPT_OSS_20B, 8192) == pytest.approx(204_472_320)


def test_gemma3_five_local_to_one_global_kv_by_hand():
    """Gemma-3-27B: 62 layers, every 6th global (10), the other 52 slide over 1024 tokens; 16 KV heads ×
    128 = 2·16·128 = 4096 elements = 8192 B per token and layer. At 32,768 tokens:
    10 × 32,768 × 8192 + 52 × 1024 × 8192 = 2,684,354,560 + 436,207,616 = 3,120,562,176 B
    (all 62 layers global would be 62 × 32,768 × 8192 = 16,642,998,272 B, 5.3× more). FP8: half."""
    assert kv_bytes_per_sequence(GEMMA3_27B, 32_768) == 3_120_562_176
    assert kv_bytes_per_sequence(GEMMA3_27B, 32_768, "fp8") == 3_120_562_176 / 2


def test_llama4_chunked_attention_kv_by_hand():
    """Llama 4 Scout: 48 layers, 3 of every 4 attend within 8192-token chunks (36 local, 12 global NoPE
    layers); 2·8·128 = 2048 elements = 4096 B per token and layer. At 100,000 tokens:
    12 × 100,000 × 4096 + 36 × 8192 × 4096 = 4,915,200,000 + 1,207,959,552 = 6,123,159,552 B."""
    assert kv_bytes_per_sequence(SCOUT, 100_000) == 6_123_159_552


def test_the_2024_meaning_of_a_window_is_kept():
    """No full_attention_layers: every layer is local (Mistral-7B v0.1): 32 × 2·8·128 × 2 B = 131,072 B
    per token, capped at 4096 tokens."""
    mistral = Arch("Mistral-7B", 32, 4096, 32, 8, 128, 14336, 32000, sliding_window=4096)
    assert kv_bytes_per_sequence(mistral, 10_000) == 4096 * 131_072
    assert resident_tokens(mistral, 10_000) == 4096


def test_unknown_kv_dtype_and_bad_layer_mix_name_the_value():
    with pytest.raises(ProjectionError, match="'int3'"):
        kv_bytes_per_token(GPT_OSS_20B, "int3")
    with pytest.raises(ProjectionError, match="full_attention_layers 30"):
        Arch("x", 24, 64, 4, 4, 16, 128, 100, sliding_window=8, full_attention_layers=30)
    with pytest.raises(ProjectionError, match="'banded'"):
        Arch("x", 24, 64, 4, 4, 16, 128, 100, local_attention="banded")


# ----------------------------------------------------------------------------- parameters
def test_mla_attention_parameters_by_hand():
    """A toy MLA layer, d = 16, 2 heads, q_lora 4, kv_lora 6, rope 2, nope 3, v 4:
    q_a 16·4 + norm 4 + q_b 4·2·(3+2) = 108; kv_a 16·(6+2) + norm 6 = 134; kv_b 6·2·(3+4) = 84;
    o 2·4·16 = 128: 454. KV per token and layer: 6 + 2 = 8 elements."""
    toy = Arch("toy-mla", layers=2, hidden=16, heads=2, kv_heads=2, head_dim=5, ffn=8, vocab=10, kv_lora_rank=6,
               q_lora_rank=4, qk_rope_head_dim=2, qk_nope_head_dim=3, v_head_dim=4)
    assert toy.attn_params_per_layer == 454
    assert toy.kv_elements_per_token_layer == 8
    # without q_lora the query is one d × n_h·(nope+rope) matrix: 16·2·5 = 160 instead of 108
    assert Arch(**{**toy.__dict__, "q_lora_rank": None}).attn_params_per_layer == 454 - 108 + 160


def test_moe_layout_shared_experts_and_dense_layers_by_hand():
    """A toy MoE: 4 layers, d = 10, 2 heads × 5 (1 KV head), dense FFN 40, 4 experts of width 8, top-2,
    1 shared expert, the first layer dense.
    Per layer attention 2·10·2·5 + 2·10·1·5 = 300, norms 20. Dense MLP 3·10·40 = 1200; an expert
    3·10·8 = 240; router 10·4 = 40. MoE layers: 3.
    always-read = 4·320 + 1·1200 + 3·(40 + 240) + final norm 10 = 3330; routed = 3·4·240 = 2880;
    embeddings 2·100·10 = 2000. Total 8210; active 8210 − 3·(4 − 2)·240 = 6770."""
    toy = Arch("toy-moe", layers=4, hidden=10, heads=2, kv_heads=1, head_dim=5, ffn=40, vocab=100, experts=4,
               experts_per_token=2, moe_ffn=8, shared_experts=1, first_dense_layers=1)
    assert (toy.moe_layers, toy.always_params, toy.routed_params) == (3, 3330, 2880)
    assert (toy.params, toy.active_params) == (8210, 6770)
    # MoE every 2nd layer instead (layers 1 and 3, as Llama 4's interleave_moe_layer_step = 2):
    # always 1280 + 2·1200 + 2·280 + 10 = 4250, routed 2·4·240 = 1920, total 4250 + 1920 + 2000 = 8170
    every2 = Arch(**{**toy.__dict__, "first_dense_layers": 0, "moe_every": 2})
    assert (every2.moe_layers, every2.params) == (2, 8170)
    # batch of 1 token, bf16: always-read + 2 touched experts in 3 layers + the LM head (100·10), × 2 B
    assert weight_bytes_read(toy, "bf16", tokens=1) == (3330 + 3 * 2 * 240 + 1000) * 2


def test_deepseek_v3_parameters_by_hand():
    """Attention (MLA) per layer: q 7168·1536 + 1536 + 1536·128·192 = 48,760,320; kv_a 7168·576 + 512 =
    4,129,280; kv_b 512·128·256 = 16,777,216; o 128·128·7168 = 117,440,512: 187,107,328.
    3 dense layers: 187,107,328 + 2·7168 + 3·7168·18432 = 583,483,392 each.
    58 MoE layers: 187,107,328 + 14,336 + router 7168·256 + 257 experts (256 routed + 1 shared) ×
    3·7168·2048 = 44,040,192 each: 11,507,286,016 each.
    Total: 3·583,483,392 + 58·11,507,286,016 + final norm 7168 + embeddings 2·129,280·7168
    = 671,026,404,352 (published: 671 B, DeepSeek-V3 report). Active: minus 58·248 unused experts
    = 37,552,282,624 (published: 37 B)."""
    assert DEEPSEEK_V3.params == 671_026_404_352
    assert DEEPSEEK_V3.active_params == 37_552_282_624


def test_llama4_maverick_parameters_by_hand():
    """24 dense layers (FFN 16384) alternate with 24 MoE layers (128 experts of 8192 + 1 shared):
    attention 2·5120·40·128 + 2·5120·8·128 = 62,914,560; an expert 3·5120·8192 = 125,829,120.
    24·(62,914,560 + 10,240 + 3·5120·16384) + 24·(62,914,560 + 10,240 + 5120·128 + 129·125,829,120)
    + 5120 + 2·202,048·5120 = 400,711,848,960 (published 400 B); active: minus 24·127 experts =
    17,184,691,200 (published 17 B)."""
    assert MAVERICK.params == 400_711_848_960
    assert MAVERICK.active_params == 17_184_691_200


# ----------------------------------------------------------------------------- weight formats
def test_mxfp4_moe_weight_bytes_by_hand():
    """gpt-oss-120b as published: routed experts MXFP4 (32 E2M1 values + one E8M0 scale: 4.25 bits),
    everything else bf16 (quantization_config.modules_to_not_convert: attention, router, embeddings).
    Experts: 36 layers × 128 × 3·2880·2880 = 114,661,785,600 weights × 4.25/8 = 60,914,073,600 B.
    Other layer weights: 36 × (attention 26,542,080 + norms 5,760 + router 368,640) + 2,880 =
    968,996,160 × 2 = 1,937,992,320 B. Embeddings 2 × 201,088 × 2880 × 2 = 2,316,533,760 B.
    Sum 65,168,599,680 B = 60.69 GiB; the model card's checkpoint is 60.8 GiB (it also holds
    biases and attention sinks, left out here)."""
    assert quant("mxfp4-moe").routed_bits == 4.25
    assert weight_bytes(GPT_OSS_120B, "mxfp4-moe") == 65_168_599_680
    assert weight_bytes(GPT_OSS_120B, "mxfp4-moe") / 2**30 == pytest.approx(60.8, rel=0.01)
    # MXFP4 on every linear layer instead: the 968,996,160 other layer weights at 4.25 bits too
    assert weight_bytes(GPT_OSS_120B, "mxfp4") == pytest.approx(
        (114_661_785_600 + 968_996_160) * 4.25 / 8 + 2_316_533_760)
    # a decode step of one token reads 4 experts per layer: 36·4·24,883,200 × 4.25/8, plus the bf16
    # rest and the LM head (201,088·2880·2)
    assert weight_bytes_read(GPT_OSS_120B, "mxfp4-moe", 1) == pytest.approx(
        36 * 4 * 24_883_200 * 4.25 / 8 + 1_937_992_320 + 201_088 * 2880 * 2)


def test_fp8_block_nvfp4_bits_and_fp4_compute():
    """DeepSeek's FP8: one fp32 scale per 128×128 block: 8 + 32/16384 = 8.001953125 bits. NVFP4: 16
    values share an FP8 scale: 4 + 8/16 = 4.5 bits, run on FP4 tensor cores where the GPU has them."""
    assert quant("fp8-block").bits_per_weight == 8.001953125
    assert quant("nvfp4").bits_per_weight == 4.5 and quant("fp4") is quant("nvfp4")
    b200 = Hardware("B200", 180, 7700, 2250, fp8_tflops=4500, fp4_tflops=9000)
    h100 = Hardware("H100", 80, 3350, 989, fp8_tflops=1979)
    assert b200.peak_flops_per_s(quant("nvfp4").compute) == 9000e12
    assert h100.peak_flops_per_s(quant("nvfp4").compute) == 989e12  # no FP4 path: bf16


def test_extra_vision_weights_are_resident_but_never_read():
    """A multimodal checkpoint's vision encoder counts in params and resident bytes (at 16 bits), not
    in active params or per-token reads."""
    with_vision = Arch(**{**GEMMA3_27B.__dict__, "extra_params": 417_000_000})
    assert with_vision.params - GEMMA3_27B.params == 417_000_000
    assert with_vision.active_params == GEMMA3_27B.active_params
    assert weight_bytes(with_vision, "fp8") - weight_bytes(GEMMA3_27B, "fp8") == 417_000_000 * 2
    assert weight_bytes_read(with_vision, "bf16") == weight_bytes_read(GEMMA3_27B, "bf16")


# ----------------------------------------------------------------------------- FLOPs and fit
def test_attention_flops_follow_the_layer_mix_by_hand():
    """Decode attention of gpt-oss-20b at 8192 tokens: 2·n_h·(qk + v) = 2·64·128 = 16,384 FLOPs per
    attended token and layer; attended 12·8192 + 12·128 = 99,840 → 1,635,778,560 FLOPs on top of
    2·N_matmul. Prefill of 256 tokens: global layers 256²/2 = 32,768 pairs; local (W = 128)
    128²/2 + 128·128 = 24,576; 12·32,768 + 12·24,576 = 688,128 pairs × 16,384 = 11,274,289,152."""
    a = GPT_OSS_20B
    assert decode_flops_per_token(a, 8192) - 2 * a.matmul_params_per_token == 1_635_778_560
    lm = a.vocab * a.hidden
    assert prefill_flops(a, 256) - (2 * (a.matmul_params_per_token - lm) * 256 + 2 * lm) == 11_274_289_152


def test_mla_decode_attends_over_the_latent():
    """Absorbed MLA decode: per head and token QKᵀ over 512 + 64 and AV over 512: 2·128·1088 =
    278,528 FLOPs per layer and token; 61 layers × 1000 tokens → 16,990,208,000."""
    a = DEEPSEEK_V3
    assert decode_flops_per_token(a, 1000) - 2 * a.matmul_params_per_token == 16_990_208_000
    assert a.attention_dims(decode=False) == 192 + 128


def test_fp8_kv_and_windows_let_more_sequences_fit():
    """gpt-oss-120b on an 80 GiB device at 90 %: 77,309,411,328 B − weights 65,168,599,680 =
    12,140,811,648 B free. A 32k-token sequence: 18 × 32,768 × 2048 + 18 × 128 × 2048 =
    1,212,678,144 B (bf16) → 10 fit; with an FP8 cache 606,339,072 B → 20."""
    dev = Hardware("dev80", 80, 3350, 989)
    assert max_sequences(make_cell(GPT_OSS_120B, dev, "mxfp4-moe", max_batch=1000), 32_768) == 10
    assert max_sequences(make_cell(GPT_OSS_120B, dev, "mxfp4-moe", kv_dtype="fp8", max_batch=1000), 32_768) == 20


def test_tensor_parallel_replicates_the_kv_that_cannot_be_split():
    """An MLA latent sits whole on every device (tp copies); 2 KV heads over 4 devices are copied
    twice; 8 KV heads over 8 devices are split (1 copy).
    A toy MLA model (2 layers, latent 6 + rope 2 = 8 elements = 16 B per layer and token, so 32 B
    per token) on 2 devices of 1 GiB, all of it usable: a 1,000,000-token sequence holds 32,000,000 B
    on each device, 64,000,000 B in all: floor((2,147,483,648 − a few hundred bytes of weights) /
    64,000,000) = 33 sequences, where splitting the latent would have claimed 67."""
    from workbench.project.roofline import kv_replicas

    toy = Arch("toy-mla", layers=2, hidden=16, heads=2, kv_heads=2, head_dim=5, ffn=8, vocab=10, kv_lora_rank=6,
               q_lora_rank=4, qk_rope_head_dim=2, qk_nope_head_dim=3, v_head_dim=4)
    gqa = Arch("toy-gqa", 2, 16, 4, 2, 4, 8, 10)
    assert (kv_replicas(toy, 8), kv_replicas(toy, 1), kv_replicas(gqa, 4), kv_replicas(GPT_OSS_20B, 8)) == (8, 1, 2, 1)
    dev = Hardware("1gib", 1, 1000, 100)
    assert max_sequences(make_cell(toy, dev, tp=2, mem_util=1.0, max_batch=1000), 1_000_000) == 33
