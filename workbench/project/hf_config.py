"""A Hugging Face ``config.json`` → the fields of :class:`workbench.project.arch.Arch`.

Keys differ by family; this module reads them directly (no ``transformers`` import: light, and it
works for model types the installed ``transformers`` does not know). Where a published
config.json omits a key, the default is the one of transformers' config class for that
``model_type`` (transformers 5.x ``configuration_*.py``), listed in :data:`FAMILY_DEFAULTS`.

| What | Keys read (family) |
|---|---|
| wrapper | ``text_config`` (Llama 4, Gemma 3, Mistral 3); its ``vision_config`` → ``extra_params`` |
| experts | ``num_local_experts`` (Mixtral, Llama 4, gpt-oss), ``num_experts`` (Qwen-MoE), ``n_routed_experts`` (DeepSeek) |
| expert width | ``moe_intermediate_size`` (Qwen-MoE, DeepSeek); ``intermediate_size`` (Llama 4: dense layers use ``intermediate_size_mlp``) |
| shared experts | ``n_shared_experts`` (DeepSeek); one per MoE layer (Llama 4) |
| dense layers | ``first_k_dense_replace`` (DeepSeek), ``interleave_moe_layer_step`` (Llama 4), ``decoder_sparse_step`` (Qwen-MoE) |
| MLA | ``kv_lora_rank``, ``q_lora_rank``, ``qk_rope_head_dim``, ``qk_nope_head_dim``, ``v_head_dim`` |
| layer mix | ``layer_types`` (gpt-oss, Gemma 3, new configs); ``sliding_window_pattern`` (Gemma 3); ``no_rope_layers`` / ``attention_chunk_size`` (Llama 4); Gemma 2 alternates; ``use_sliding_window: false`` (Qwen) means no window |
| weights | ``quantization_config.quant_method`` (``mxfp4`` on experts, ``fp8`` with 128×128 blocks) |
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import WorkbenchError


class HFConfigError(WorkbenchError, ValueError):
    """A config.json that cannot be read as a decoder-only model; the message names the file or key."""

FAMILY_DEFAULTS: dict[str, dict] = {
    # transformers Gemma3TextConfig (checkpoint google/gemma-3-4b-it); the 12B config.json omits these
    "gemma3_text": {"vocab_size": 262208, "head_dim": 256, "max_position_embeddings": 131072,
                    "num_key_value_heads": 4, "sliding_window": 4096, "sliding_window_pattern": 6,
                    "tie_word_embeddings": True},
    "gemma2": {"head_dim": 256, "sliding_window": 4096, "tie_word_embeddings": True},
    # transformers Llama4TextConfig (checkpoint meta-llama/Llama-4-Scout-17B-16E)
    "llama4_text": {"intermediate_size_mlp": 16384, "interleave_moe_layer_step": 1, "no_rope_layer_interval": 4,
                    "attention_chunk_size": 8192, "head_dim": 128},
}
TEXT_TYPES = {"gemma3": "gemma3_text", "llama4": "llama4_text", "mistral3": "mistral"}
"""A multimodal wrapper's model_type → the model_type of its ``text_config`` when it names none."""
REQUIRED = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")


def read_config(path: str | Path) -> dict:
    """A config.json as a dict; a missing, unreadable or non-JSON file, or JSON that is not an
    object, raises HFConfigError with one line naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HFConfigError(f"{path}: cannot read config.json: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise HFConfigError(f"{path}: not valid JSON: line {e.lineno}: {e.msg}") from None
    if not isinstance(doc, dict):
        raise HFConfigError(f"{path}: expected a JSON object (a Hugging Face config.json), got {type(doc).__name__}")
    return doc


def text_config(config: dict) -> tuple[dict, str]:
    """The decoder's keys (a wrapper's ``text_config`` merged over its family defaults) and its model_type."""
    outer = str(config.get("model_type", ""))
    inner = config.get("text_config")
    c = {**config, **inner} if isinstance(inner, dict) else dict(config)
    if isinstance(inner, dict):
        c["model_type"] = inner.get("model_type") or TEXT_TYPES.get(outer, outer)
    kind = str(c.get("model_type", ""))
    return {**FAMILY_DEFAULTS.get(kind, {}), **{k: v for k, v in c.items() if v is not None}}, kind


def _int(c: dict, key: str, where: str) -> int:
    value = c.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        raise HFConfigError(f"{where}: key {key!r} must be a whole number >= 0, got {value!r}")
    return int(value)


def _opt_int(c: dict, key: str, where: str) -> int | None:
    return None if c.get(key) is None else _int(c, key, where)


def _first(c: dict, keys: tuple[str, ...], where: str, default: int | None = None) -> int | None:
    """The first of ``keys`` that the config sets (not null), as a whole number."""
    key = next((k for k in keys if c.get(k) is not None), None)
    return default if key is None else _int(c, key, where)


def layer_mix(c: dict, kind: str, layers: int, where: str) -> dict:
    """sliding_window, full_attention_layers and local_attention from the family's keys."""
    types = c.get("layer_types")
    if kind == "llama4_text" and c.get("attention_chunk_size"):
        nope = c.get("no_rope_layers")
        if not isinstance(nope, list) or not nope:
            every = _int(c, "no_rope_layer_interval", where) or 4
            nope = [int((i + 1) % every != 0) for i in range(layers)]
        return {"sliding_window": _int(c, "attention_chunk_size", where), "local_attention": "chunked",
                "full_attention_layers": sum(1 for x in nope if not x)}
    window = _opt_int(c, "sliding_window", where) if c.get("use_sliding_window", True) else None
    if not window:
        return {}
    if isinstance(types, list) and types:
        return {"sliding_window": window, "full_attention_layers": sum(t == "full_attention" for t in types)}
    if kind == "gemma3_text":
        pattern = _first(c, ("sliding_window_pattern",), where, 6) or 6
        return {"sliding_window": window, "full_attention_layers": sum(1 for i in range(layers) if (i + 1) % pattern == 0)}
    if kind == "gemma2":  # local and global layers alternate, starting with local (transformers Gemma2)
        return {"sliding_window": window, "full_attention_layers": layers // 2}
    return {"sliding_window": window}


def moe_layout(c: dict, kind: str, where: str) -> dict:
    """experts, experts_per_token, moe_ffn, shared_experts, first_dense_layers, moe_every, ffn."""
    experts = _first(c, ("num_local_experts", "num_experts", "n_routed_experts"), where, 1) or 1
    out = {"experts": experts, "ffn": _int(c, "intermediate_size", where)}
    if experts <= 1:
        return out
    out["experts_per_token"] = _first(c, ("num_experts_per_tok", "experts_per_token"), where)
    if not out["experts_per_token"]:
        raise HFConfigError(f"{where}: {experts} experts but no num_experts_per_tok (experts routed per token)")
    if c.get("moe_intermediate_size"):
        out["moe_ffn"] = _int(c, "moe_intermediate_size", where)
    if kind == "llama4_text":  # experts of intermediate_size, dense layers of intermediate_size_mlp, 1 shared
        out.update(moe_ffn=out["ffn"], ffn=_int(c, "intermediate_size_mlp", where), shared_experts=1,
                   moe_every=_int(c, "interleave_moe_layer_step", where) or 1)
    out["shared_experts"] = _first(c, ("n_shared_experts",), where, out.get("shared_experts", 0))
    out["first_dense_layers"] = _first(c, ("first_k_dense_replace",), where, 0)
    if c.get("decoder_sparse_step"):
        out["moe_every"] = _int(c, "decoder_sparse_step", where)
    for key, fine in (("mlp_only_layers", []), ("moe_layer_freq", 1)):
        if c.get(key) not in (None, fine):
            raise HFConfigError(f"{where}: {key} {c[key]!r} (dense layers at other positions) is not modelled; "
                                "the roofline knows first_k_dense_replace and an interleave step")
    return out


def mla_fields(c: dict, where: str) -> dict:
    if not c.get("kv_lora_rank"):
        return {}
    return {"kv_lora_rank": _int(c, "kv_lora_rank", where), "q_lora_rank": _opt_int(c, "q_lora_rank", where) or None,
            "qk_rope_head_dim": _int(c, "qk_rope_head_dim", where),
            "qk_nope_head_dim": _int(c, "qk_nope_head_dim", where), "v_head_dim": _int(c, "v_head_dim", where)}


def vision_params(config: dict, text_hidden: int) -> int:
    """Estimated weights of a multimodal checkpoint's vision encoder: layers·(4·h² + m·h·f) + h·d_text
    (attention, MLP with m = 3 matrices for Pixtral's gated MLP else 2, and the projection into the
    text model); biases, patch and position embeddings and adapters left out (a few % of it).
    Gemma 3's SigLIP: 415.5 M by this formula, 417 M published (Gemma 3 report, Table 1)."""
    v = config.get("vision_config")
    if not isinstance(v, dict) or not v.get("num_hidden_layers"):
        return 0
    where = "config.json vision_config"
    h, f, n = (_first(v, (k,), where, 0) for k in ("hidden_size", "intermediate_size", "num_hidden_layers"))
    m = 3 if v.get("model_type") == "pixtral" else 2
    return n * (4 * h * h + m * h * f) + h * text_hidden


def weight_format(c: dict) -> str:
    """The published checkpoint's weight format: mxfp4-moe, fp8-block, fp8, or bf16."""
    q = c.get("quantization_config") or {}
    method = str(q.get("quant_method", "")).lower()
    if method == "mxfp4":
        return "mxfp4-moe"
    if method == "fp8":
        return "fp8-block" if q.get("weight_block_size") else "fp8"
    return "bf16"


def arch_fields(config: dict, name: str | None = None, path: str = "config.json") -> dict:
    """The keyword arguments of Arch (all but ``source``) from a config.json's dict (read from ``path``,
    which error messages name)."""
    c, kind = text_config(config)
    where = f"{path} ({kind or 'no model_type'})"
    missing = [k for k in REQUIRED if k not in c]
    if missing:
        raise HFConfigError(f"{where}: missing key(s) {', '.join(missing)}; is this a decoder-only "
                              "Hugging Face config.json?")
    layers, hidden = _int(c, "num_hidden_layers", where), _int(c, "hidden_size", where)
    heads = _int(c, "num_attention_heads", where)
    if heads == 0:
        raise HFConfigError(f"{where}: key 'num_attention_heads' must be > 0, got 0")
    out = {
        "name": name or config.get("_name_or_path") or kind or "model", "layers": layers, "hidden": hidden,
        "heads": heads, "kv_heads": _opt_int(c, "num_key_value_heads", where) or heads,
        "head_dim": _opt_int(c, "head_dim", where) or hidden // heads, "vocab": _int(c, "vocab_size", where),
        "tied_embeddings": bool(c.get("tie_word_embeddings", False)),
        "max_context": _opt_int(c, "max_position_embeddings", where),
        "extra_params": vision_params(config, hidden), "weight_format": weight_format(c),
    }
    out.update(moe_layout(c, kind, where), **layer_mix(c, kind, layers, where), **mla_fields(c, where))
    if out.get("kv_lora_rank"):  # MLA: the query/key head width, and every head keeps its own K,V when expanded
        out["head_dim"], out["kv_heads"] = out["qk_nope_head_dim"] + out["qk_rope_head_dim"], heads
    return out
