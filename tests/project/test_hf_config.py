"""Hugging Face config.json keys of the 2026 families → Arch fields. The configs below are the
user's input format, trimmed by hand to the keys that matter (values as published on the hub)."""

from __future__ import annotations

import json

import pytest

from workbench.errors import WorkbenchError
from workbench.project.arch import Arch
from workbench.project.hf_config import HFConfigError, read_config

MAVERICK_TEXT = {"model_type": "llama4_text", "hidden_size": 5120, "num_hidden_layers": 48, "num_attention_heads": 40,
                 "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
                 "num_local_experts": 128, "num_experts_per_tok": 1, "interleave_moe_layer_step": 2,
                 "attention_chunk_size": 8192, "vocab_size": 202048, "max_position_embeddings": 1048576}


def test_llama4_wrapper_chunked_layers_shared_expert_and_interleaved_moe():
    """text_config is unwrapped; no_rope_layers defaults to every 4th layer global (12 of 48); experts of
    intermediate_size with one shared, dense layers of intermediate_size_mlp, MoE every 2nd layer; the
    vision encoder becomes extra_params: 34·(4·1408² + 2·1408·5632) + 1408·5120 = 816,054,272."""
    cfg = {"model_type": "llama4", "text_config": MAVERICK_TEXT,
           "vision_config": {"hidden_size": 1408, "intermediate_size": 5632, "num_hidden_layers": 34}}
    a = Arch.from_hf_config(cfg, name="mav")
    assert (a.sliding_window, a.local_attention, a.full_attention_layers) == (8192, "chunked", 12)
    assert (a.experts, a.experts_per_token, a.moe_ffn, a.ffn, a.shared_experts, a.moe_every) == (
        128, 1, 8192, 16384, 1, 2)
    assert a.moe_layers == 24 and a.extra_params == 816_054_272
    # an explicit no_rope_layers list wins over the default interval
    b = Arch.from_hf_config({**MAVERICK_TEXT, "no_rope_layers": [1, 0] * 24})
    assert b.full_attention_layers == 24


def test_qwen3_moe_and_a_window_that_is_switched_off():
    cfg = {"model_type": "qwen3_moe", "hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 32,
           "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144, "moe_intermediate_size": 768,
           "num_experts": 128, "num_experts_per_tok": 8, "decoder_sparse_step": 1, "mlp_only_layers": [],
           "vocab_size": 151936, "max_position_embeddings": 40960, "sliding_window": 4096,
           "use_sliding_window": False}
    a = Arch.from_hf_config(cfg)
    assert (a.experts, a.experts_per_token, a.moe_ffn, a.moe_layers, a.sliding_window) == (128, 8, 768, 48, None)
    with pytest.raises(HFConfigError, match="mlp_only_layers"):
        Arch.from_hf_config({**cfg, "mlp_only_layers": [0, 1]})


def test_gpt_oss_layer_types_and_mxfp4():
    cfg = {"model_type": "gpt_oss", "hidden_size": 2880, "num_hidden_layers": 24, "num_attention_heads": 64,
           "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 2880, "num_local_experts": 32,
           "num_experts_per_tok": 4, "experts_per_token": 4, "vocab_size": 201088, "sliding_window": 128,
           "layer_types": ["sliding_attention", "full_attention"] * 12, "max_position_embeddings": 131072,
           "quantization_config": {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn"]}}
    a = Arch.from_hf_config(cfg)
    assert (a.sliding_window, a.full_attention_layers, a.experts, a.weight_format) == (128, 12, 32, "mxfp4-moe")


def test_deepseek_v3_mla_and_fp8_blocks():
    cfg = {"model_type": "deepseek_v3", "hidden_size": 7168, "num_hidden_layers": 61, "num_attention_heads": 128,
           "num_key_value_heads": 128, "intermediate_size": 18432, "moe_intermediate_size": 2048,
           "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
           "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
           "v_head_dim": 128, "vocab_size": 129280, "max_position_embeddings": 163840,
           "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}
    a = Arch.from_hf_config(cfg)
    assert (a.kv_lora_rank, a.q_lora_rank, a.qk_rope_head_dim, a.head_dim, a.kv_heads) == (512, 1536, 64, 192, 128)
    assert (a.experts, a.shared_experts, a.first_dense_layers, a.moe_layers, a.weight_format) == (
        256, 1, 3, 58, "fp8-block")
    assert a.params == 671_026_404_352  # worked by hand in test_roofline_2026.py


def test_gemma3_text_config_takes_the_family_defaults():
    """The Gemma-3-12B config.json names neither head_dim (256, not 3840 / 16 = 240) nor vocab_size nor
    the 5:1 pattern: transformers' Gemma3TextConfig defaults fill them; 8 of 48 layers are global."""
    cfg = {"model_type": "gemma3", "text_config": {"hidden_size": 3840, "intermediate_size": 15360,
                                                   "model_type": "gemma3_text", "num_attention_heads": 16,
                                                   "num_hidden_layers": 48, "num_key_value_heads": 8,
                                                   "sliding_window": 1024}}
    a = Arch.from_hf_config(cfg)
    assert (a.head_dim, a.vocab, a.tied_embeddings, a.max_context) == (256, 262208, True, 131072)
    assert (a.sliding_window, a.full_attention_layers) == (1024, 8)


def test_mistral3_wrapper_and_pixtral_vision():
    """A text_config without model_type takes the wrapper's (mistral3 → mistral); Pixtral's gated MLP
    has 3 matrices: 24·(4·1024² + 3·1024·4096) + 1024·5120 = 407,896,064."""
    cfg = {"model_type": "mistral3", "text_config": {"hidden_size": 5120, "num_hidden_layers": 40, "head_dim": 128,
                                                     "num_attention_heads": 32, "num_key_value_heads": 8,
                                                     "intermediate_size": 32768, "vocab_size": 131072,
                                                     "sliding_window": None, "max_position_embeddings": 131072},
           "vision_config": {"model_type": "pixtral", "hidden_size": 1024, "intermediate_size": 4096,
                             "num_hidden_layers": 24}}
    a = Arch.from_hf_config(cfg, name="ms")
    assert (a.sliding_window, a.tied_embeddings, a.extra_params) == (None, False, 407_896_064)


def test_gemma2_alternates_and_a_bare_window_caps_every_layer():
    base = {"hidden_size": 256, "num_hidden_layers": 42, "num_attention_heads": 8, "intermediate_size": 512,
            "vocab_size": 1000, "sliding_window": 4096}
    assert Arch.from_hf_config({**base, "model_type": "gemma2"}).full_attention_layers == 21
    mistral = Arch.from_hf_config({**base, "model_type": "mistral"})
    assert (mistral.sliding_window, mistral.full_attention_layers, mistral.global_layers) == (4096, None, 0)


@pytest.mark.parametrize("text, fragments", [
    ("{not json", ["config.json", "not valid JSON", "line 1"]),
    ("[1, 2]", ["config.json", "JSON object", "list"]),
    ('{"model_type": "llama", "hidden_size": 64}', ["missing key(s)", "num_hidden_layers", "vocab_size"]),
    (('{"model_type": "llama", "hidden_size": "big", "num_hidden_layers": 2, "num_attention_heads": 4, '
      '"intermediate_size": 8, "vocab_size": 10}'), ["'hidden_size'", "'big'"]),
    (('{"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, '
      '"intermediate_size": 8, "vocab_size": 10, "num_local_experts": "eight"}'), ["'num_local_experts'", "'eight'"]),
    (('{"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, '
      '"intermediate_size": 8, "vocab_size": 10, "num_local_experts": 8}'), ["8 experts", "num_experts_per_tok"]),
    (('{"model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, '
      '"intermediate_size": 8, "vocab_size": 10, "sliding_window": -5}'), ["'sliding_window'", "-5"]),
])
def test_malformed_config_gives_one_line(tmp_path, text, fragments):
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkbenchError) as info:
        Arch.from_hf_config(path)
    msg = str(info.value)
    assert "\n" not in msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


def test_a_missing_file_names_it(tmp_path):
    with pytest.raises(HFConfigError, match="nope.json"):
        read_config(tmp_path / "nope.json")
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"a": 1}), encoding="utf-8")
    assert read_config(ok) == {"a": 1}
