"""A decoder-only transformer's shape, and the parameter counts that follow from it.

Notation of llm-analysis: L layers, d hidden, n_h query heads, n_kv KV heads, h_d head dim,
d_ff FFN width, V vocabulary, E experts of which k are routed per token. The 2026
architectures add (fields default to the 2024 behaviour, so old rows and calls are unchanged):

- **MLA** (DeepSeek-V3, Kimi-K2, GLM-5): one latent KV vector of ``kv_lora_rank +
  qk_rope_head_dim`` elements per token per layer instead of 2·n_kv·h_d
  (``kv_lora_rank`` set);
- **local/global layer mixes**: ``sliding_window`` is the window (or the chunk, when
  ``local_attention == "chunked"``, Llama 4) of the local layers; ``full_attention_layers`` of
  the L layers attend to the whole context. ``None`` keeps the 2024 meaning: every layer is
  local when a window is set (Mistral-7B v0.1);
- **MoE layouts**: ``moe_ffn`` (a routed expert's width; ``ffn`` when unset, as in the Mixtral
  rows), ``shared_experts`` (always-on experts of width ``moe_ffn``), ``first_dense_layers``
  and ``moe_every`` (layer i ≥ first_dense_layers is MoE when (i + 1) % moe_every == 0, the
  rule of transformers' Llama 4 and Qwen-MoE configs; dense layers have width ``ffn``);
- ``extra_params``: weights outside the text decoder that a served checkpoint holds (the
  vision encoder and projector of a multimodal model): resident, never read by a text token;
- ``weight_format``: the format the checkpoint is published in (``bf16``, ``fp8-block``,
  ``mxfp4-moe`` ...; a name of :data:`workbench.project.roofline.QUANTS`).

Not counted (each < 0.1 % of the models in the catalog): biases, QK-norms, attention sinks,
the extra post-norms of Gemma. Multi-token-prediction heads are not part of ``layers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import WorkbenchError
from ..inputs.catalog import load_catalog
from .hf_config import arch_fields, read_config


class ProjectionError(WorkbenchError, ValueError):
    pass


LOCAL_KINDS = ("sliding", "chunked")


@dataclass(frozen=True)
class Arch:
    """A decoder-only transformer's shape (see the module docstring for the 2026 fields)."""

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    experts: int = 1
    experts_per_token: int = 1
    tied_embeddings: bool = False
    sliding_window: int | None = None
    max_context: int | None = None
    source: str = "assumed"
    full_attention_layers: int | None = None
    local_attention: str = "sliding"
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    moe_ffn: int | None = None
    shared_experts: int = 0
    first_dense_layers: int = 0
    moe_every: int = 1
    extra_params: int = 0
    weight_format: str = "bf16"

    def __post_init__(self):
        if self.local_attention not in LOCAL_KINDS:
            raise ProjectionError(f"model {self.name!r}: local_attention must be one of {', '.join(LOCAL_KINDS)}, "
                                  f"got {self.local_attention!r}")
        if self.full_attention_layers is not None and not 0 <= self.full_attention_layers <= self.layers:
            raise ProjectionError(f"model {self.name!r}: full_attention_layers {self.full_attention_layers} is not "
                                  f"between 0 and layers ({self.layers})")
        if self.moe_every < 1:
            raise ProjectionError(f"model {self.name!r}: moe_every must be >= 1, got {self.moe_every}")

    # layer mix ---------------------------------------------------------------------------
    @property
    def is_mla(self) -> bool:
        return bool(self.kv_lora_rank)

    @property
    def moe_layers(self) -> int:
        """Layers with routed experts: i ≥ first_dense_layers with (i + 1) % moe_every == 0."""
        if self.experts <= 1:
            return 0
        return sum(1 for i in range(self.first_dense_layers, self.layers) if (i + 1) % self.moe_every == 0)

    @property
    def global_layers(self) -> int:
        """Layers whose KV holds the whole context: all without a window; else
        ``full_attention_layers`` (None: none, every layer is local)."""
        if not self.sliding_window:
            return self.layers
        return self.full_attention_layers or 0

    @property
    def local_layers(self) -> int:
        return self.layers - self.global_layers

    # per-layer shapes ----------------------------------------------------------------------
    @property
    def qk_head_dim(self) -> int:
        """Query/key width per head: h_d, or nope + rope under MLA."""
        return self.nope_dim + self.qk_rope_head_dim if self.is_mla else self.head_dim

    @property
    def nope_dim(self) -> int:
        return self.qk_nope_head_dim if self.qk_nope_head_dim is not None else self.head_dim - self.qk_rope_head_dim

    @property
    def value_head_dim(self) -> int:
        return self.v_head_dim if self.v_head_dim is not None else self.head_dim

    @property
    def kv_elements_per_token_layer(self) -> int:
        """KV cache elements one token keeps in one layer: 2·n_kv·h_d (K and V), or the MLA latent
        kv_lora_rank + qk_rope_head_dim (shared by all heads)."""
        if self.is_mla:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.kv_heads * self.head_dim

    def attention_dims(self, decode: bool) -> int:
        """Per head and attended token, the widths of QKᵀ plus AV: 2·h_d; MLA prefill (the
        expanded form) qk + v; MLA decode (weights absorbed, attention over the latent, as vLLM
        and SGLang run it) (kv_lora + rope) + kv_lora."""
        if not self.is_mla:
            return 2 * self.head_dim
        if decode:
            return 2 * self.kv_lora_rank + self.qk_rope_head_dim
        return self.qk_head_dim + self.value_head_dim

    # parameters --------------------------------------------------------------------------
    @property
    def attn_params_per_layer(self) -> int:
        """GQA: Q and O d·n_h·h_d each, K and V d·n_kv·h_d each. MLA: q_a d·r_q + r_q·n_h·(nope+rope)
        (or d·n_h·(nope+rope) without r_q), kv_a d·(r_kv + rope), kv_b r_kv·n_h·(nope + v),
        O n_h·v·d, and the two latent norms r_q + r_kv."""
        d = self.hidden
        if not self.is_mla:
            return 2 * d * self.heads * self.head_dim + 2 * d * self.kv_heads * self.head_dim
        r_q, r_kv, n_h = self.q_lora_rank or 0, self.kv_lora_rank, self.heads
        q = d * r_q + r_q + r_q * n_h * self.qk_head_dim if r_q else d * n_h * self.qk_head_dim
        kv = d * (r_kv + self.qk_rope_head_dim) + r_kv + r_kv * n_h * (self.nope_dim + self.value_head_dim)
        return q + kv + n_h * self.value_head_dim * d

    @property
    def expert_params(self) -> int:
        """One routed (or shared) expert's gated MLP: 3·d·d_moe (d_moe = moe_ffn, else ffn)."""
        return 3 * self.hidden * (self.moe_ffn or self.ffn)

    @property
    def dense_params_per_layer(self) -> int:
        """Attention, router (d·E when E > 1) and the 2 norms of a layer (no MLP)."""
        router = self.hidden * self.experts if self.experts > 1 else 0
        return self.attn_params_per_layer + router + 2 * self.hidden

    @property
    def always_params(self) -> int:
        """Layer weights every token reads: L·(attention + 2 norms) + dense layers·3·d·d_ff +
        MoE layers·(router d·E + shared experts) + the final norm d."""
        d, moe = self.hidden, self.moe_layers
        per_moe = (d * self.experts + self.shared_experts * self.expert_params) if moe else 0
        return (self.layers * (self.attn_params_per_layer + 2 * d) + (self.layers - moe) * 3 * d * self.ffn
                + moe * per_moe + d)

    @property
    def routed_params(self) -> int:
        """All routed experts: MoE layers · E · 3·d·d_moe."""
        return self.moe_layers * self.experts * self.expert_params

    @property
    def embedding_params(self) -> int:
        """V·d per table; two tables (input embedding, LM head) unless tied."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def layer_params(self) -> int:
        return self.always_params + self.routed_params

    @property
    def params(self) -> int:
        """N = layer weights + embeddings + extra (vision) weights."""
        return self.layer_params + self.embedding_params + self.extra_params

    @property
    def active_params(self) -> int:
        """N_active of the text path: ``params`` with k routed experts per MoE layer instead of E,
        without the extra (vision) weights; both embedding tables counted (Mistral's convention;
        OpenAI's counts the LM head only: :attr:`matmul_params_per_token`)."""
        unused = self.moe_layers * (self.experts - self.experts_per_token) * self.expert_params
        return self.params - self.extra_params - unused

    @property
    def matmul_params_per_token(self) -> int:
        """Parameters multiplied per token: active layer weights + the LM head (the input
        embedding is a gather, not a matmul)."""
        lm_head = self.vocab * self.hidden
        return self.active_params - self.embedding_params + lm_head

    # constructors ----------------------------------------------------------------------
    @classmethod
    def from_hf_config(cls, config: dict | str | Path, name: str | None = None) -> Arch:
        """From a Hugging Face ``config.json`` (path or dict): Llama 2/3/4, Mistral and Mistral 3,
        Mixtral, Qwen2/3 and Qwen3-MoE, gpt-oss, DeepSeek-V2/V3, Gemma 2/3, Phi-3/4 keys (see
        :mod:`workbench.project.hf_config`). A file that cannot be read or lacks a key raises
        HFConfigError naming it."""
        src, path = "published (HF config)", "config.json"
        if not isinstance(config, dict):
            src, path = f"published ({config})", str(config)
            config = read_config(config)
        return cls(**arch_fields(config, name, path), source=src)

    @classmethod
    def from_catalog(cls, name: str, catalog=None) -> Arch:
        """From data/catalog/models.csv (contract item 5); unknown names raise CatalogError."""
        if catalog is None:
            catalog = load_catalog()
        row = catalog.model(name)

        def num(key, default=None):
            v = row.get(key)
            return default if v is None or (isinstance(v, float) and math.isnan(v)) or v == "" else v

        def opt_int(key):
            v = num(key)
            return int(v) if v is not None else None

        flag = num("verified", True)
        verified = str(flag).strip().lower() in ("true", "1", "yes")
        src = f"published ({num('source', 'catalog')}, as of {num('as_of', '?')})" + ("" if verified else " ⚠ unverified")
        tied = str(num("tied_embeddings", False)).strip().lower() in ("true", "1", "yes")
        return cls(
            name=str(row.get("name", name)), layers=int(num("layers")), hidden=int(num("hidden")),
            heads=int(num("heads")), kv_heads=int(num("kv_heads")), head_dim=int(num("head_dim")),
            ffn=int(num("ffn")), vocab=int(num("vocab")), experts=int(num("experts", 1) or 1),
            experts_per_token=int(num("experts_per_token", 1) or 1), tied_embeddings=tied,
            sliding_window=opt_int("sliding_window") or None, max_context=opt_int("max_context") or None,
            source=src, full_attention_layers=opt_int("full_attention_layers"),
            local_attention=str(num("local_attention", "sliding")), kv_lora_rank=opt_int("kv_lora_rank"),
            q_lora_rank=opt_int("q_lora_rank"), qk_rope_head_dim=int(num("qk_rope_head_dim", 0)),
            qk_nope_head_dim=opt_int("qk_nope_head_dim"), v_head_dim=opt_int("v_head_dim"),
            moe_ffn=opt_int("moe_ffn"), shared_experts=int(num("shared_experts", 0)),
            first_dense_layers=int(num("first_dense_layers", 0)), moe_every=int(num("moe_every", 1)),
            extra_params=round(float(num("extra_params_b", 0)) * 1e9), weight_format=str(num("weight_format", "bf16")),
        )

    def catalog_row(self) -> dict:
        """The models.csv columns this shape fills (params_b and active_params_b computed; the
        caller adds as_of, source, verified, notes). Defaults are left empty, as in old rows."""
        def billions(n):  # 6 significant digits
            return float(f"{n / 1e9:.6g}")

        row = {"name": self.name, "params_b": billions(self.params), "active_params_b": billions(self.active_params),
               "max_context": self.max_context, "tied_embeddings": str(self.tied_embeddings).lower(),
               "extra_params_b": billions(self.extra_params) or None}
        defaults = {f.name: f.default for f in fields(self)}
        for f in fields(self):
            if f.name in row or f.name in ("source", "extra_params"):
                continue
            value = getattr(self, f.name)
            keep = f.name in ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab", "experts",
                              "experts_per_token", "weight_format")
            row[f.name] = value if keep or value != defaults[f.name] else None
        return row
