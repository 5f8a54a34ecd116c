"""Roofline projection: what a model × hardware × quantization cell should do, without measuring it.

Simple physics, after llm-analysis / LLM-Viewer (the formulas, worked: docs/projection.md):

- a decode step reads the weights it touches and the KV cache of every sequence in the batch
  (memory term) and does ``2·N_active`` FLOPs per token plus attention (compute term); its time
  is the larger of the two plus a fixed overhead per step and per layer (host-bound engines);
- a prefill is compute-bound: ``2·N_active·T + 2·L·n_h·h_d·T²`` FLOPs (causal attention);
- efficiencies (bandwidth utilization ``mbu``, compute utilization ``mfu``, per-step overhead)
  are fitted on measured sweeps by :mod:`workbench.project.calibrate`; a projection carries the label of
  its calibration ("projected (calibrated on N runs, median error X%)" or "uncalibrated").

Everything here is pure: numbers in, numbers out. ``Arch.from_catalog`` / ``Hardware.from_catalog``
are the only readers (of the catalog CSVs through :func:`workbench.inputs.catalog.load_catalog`).
Units: bytes, seconds, FLOP; names say which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ..inputs.catalog import load_catalog
from .arch import (  # Arch and its parameter counts live in workbench.project.arch
    Arch,
    ProjectionError,
)

GIB = 2**30


# ----------------------------------------------------------------------------- quantization
@dataclass(frozen=True)
class Quant:
    """How weights are stored. ``bits_per_weight`` includes scale/zero overhead (per-block
    fp16 scales etc.); ``embedding_bits`` is the storage of the embedding / LM-head table,
    which most schemes keep at higher precision; ``compute`` is the matmul dtype;
    ``expert_bits`` the storage of routed experts when it differs from the other layer
    weights (gpt-oss: MXFP4 experts, bf16 attention and router)."""

    name: str
    bits_per_weight: float
    embedding_bits: float
    compute: str  # "fp32" | "bf16" | "fp8" | "int8" | "fp4"
    note: str = ""
    expert_bits: float | None = None

    @property
    def routed_bits(self) -> float:
        return self.bits_per_weight if self.expert_bits is None else self.expert_bits


def _q(name, bpw, emb, compute, note="", experts=None):
    return name, Quant(name, bpw, emb, compute, note, experts)


MXFP4_BITS = 4 + 8 / 32  # OCP MX: 32 E2M1 values share one E8M0 scale
NVFP4_BITS = 4 + 8 / 16  # 16 E2M1 values share one FP8 E4M3 scale (+ one fp32 per tensor, negligible)
FP8_BLOCK_BITS = 8 + 32 / (128 * 128)  # DeepSeek-V3: one fp32 scale per 128×128 block


QUANTS: dict[str, Quant] = dict([
    _q("fp32", 32.0, 32.0, "fp32"),
    _q("bf16", 16.0, 16.0, "bf16"),
    _q("fp16", 16.0, 16.0, "bf16"),
    _q("fp8", 8.0, 16.0, "fp8", "W8A8 fp8 (vLLM --quantization fp8); LM head stays bf16"),
    _q("fp8-block", FP8_BLOCK_BITS, 16.0, "fp8", "DeepSeek-V3 checkpoint: fp8 e4m3, fp32 scale per 128×128 block"),
    _q("mxfp4", MXFP4_BITS, 16.0, "bf16", "MXFP4 on every linear layer; LM head bf16; "
       "matmuls as W4A16 (Hopper; Blackwell has native FP4, assumed not used)"),
    _q("mxfp4-moe", 16.0, 16.0, "bf16", "gpt-oss checkpoint: MXFP4 routed experts (4.25 bpw), "
       "attention, router and embeddings bf16", MXFP4_BITS),
    _q("nvfp4", NVFP4_BITS, 16.0, "fp4", "NVFP4 W4A4 on every linear layer (ModelOpt); LM head bf16"),
    _q("int8", 8.0, 16.0, "int8", "W8A8 int8 (SmoothQuant-style), per-channel scales; LM head bf16"),
    # AWQ/GPTQ, group size 128: 4-bit weights + one fp16 scale and one packed 4-bit zero per group
    _q("awq", 4 + (16 + 4) / 128, 16.0, "bf16", "W4A16, group 128: 4 + 20/128 bpw; LM head fp16"),
    _q("gptq", 4 + (16 + 4) / 128, 16.0, "bf16", "W4A16, group 128: 4 + 20/128 bpw; LM head fp16"),
    # GGUF block formats (ggml-common.h): bytes per block × 8 / weights per block
    _q("Q8_0", 34 * 8 / 32, 8.5, "int8", "32 int8 + fp16 scale per 32 weights"),
    _q("Q4_0", 18 * 8 / 32, 8.5, "int8", "32 4-bit + fp16 scale per 32 weights; embedding Q8_0 (assumed)"),
    _q("Q4_1", 20 * 8 / 32, 8.5, "int8", "32 4-bit + fp16 scale + fp16 min per 32 weights; embedding Q8_0 "
       "(as in the SmolLM2 file)"),
    _q("Q3_K", 110 * 8 / 256, 6.5625, "int8", "super-block 256: 110 bytes; embedding Q6_K (assumed)"),
    _q("Q2_K", 84 * 8 / 256, 6.5625, "int8", "super-block 256: 84 bytes; embedding Q6_K (assumed)"),
    _q("Q4_K", 144 * 8 / 256, 6.5625, "int8", "super-block 256: 144 bytes; embedding Q6_K (assumed)"),
])
_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "auto": "bf16",
            "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "fp4": "nvfp4", "w8a8": "int8", "int4": "awq", "awq_marlin": "awq", "gptq_marlin": "gptq",
            "q4_k_m": "Q4_K", "q3_k_m": "Q3_K", "q3_k_s": "Q3_K", "q2_k_s": "Q2_K"}
KV_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}
"""Bytes per KV-cache element; vLLM's ``--kv-cache-dtype fp8`` (e4m3 / e5m2) is 1 byte."""


def quant(name: str | Quant) -> Quant:
    """Look up a quantization by name (case-insensitive; float32/bfloat16/Q4_K_M aliases)."""
    if isinstance(name, Quant):
        return name
    key = str(name).strip()
    key = _ALIASES.get(key.lower(), key)
    for k, q in QUANTS.items():
        if k.lower() == key.lower():
            return q
    raise ProjectionError(f"unknown quantization {name!r}; known: {', '.join(QUANTS)}")


# ----------------------------------------------------------------------------- hardware
@dataclass(frozen=True)
class Hardware:
    """One accelerator (or a CPU, see :mod:`workbench.project.probe`): memory, bandwidth, peak compute
    per dtype. ``link_gb_per_s`` is the per-direction interconnect used by tensor parallelism."""

    name: str
    mem_gib: float
    mem_bw_gb_per_s: float
    bf16_tflops: float
    fp8_tflops: float | None = None
    int8_tops: float | None = None
    fp32_tflops: float | None = None
    link_gb_per_s: float = 450.0  # NVLink 4 ≈ 900 GB/s bidirectional (assumed)
    is_cpu: bool = False
    source: str = "assumed"
    fp4_tflops: float | None = None

    def peak_flops_per_s(self, compute: str) -> float:
        """Peak dense FLOP/s for a compute dtype; falls back to bf16 when the dtype has no
        faster path (fp8 on A100, int8 without W8A8 kernels, fp4 before Blackwell); fp32 on a GPU = bf16/2 (TF32).
        A CPU has one figure (``fp32_tflops``) for everything."""
        if self.is_cpu:
            return (self.fp32_tflops or self.bf16_tflops) * 1e12
        table = {"fp8": self.fp8_tflops, "int8": self.int8_tops, "bf16": self.bf16_tflops, "fp4": self.fp4_tflops,
                 "fp32": self.fp32_tflops or self.bf16_tflops / 2}
        return (table.get(compute) or self.bf16_tflops) * 1e12

    @classmethod
    def from_catalog(cls, name: str, catalog=None) -> "Hardware":
        """From data/catalog/gpus.csv (contract item 5)."""
        if catalog is None:
            catalog = load_catalog()
        row = catalog.gpu(name)

        def num(key):
            v = row.get(key)
            try:
                v = float(v)
            except (TypeError, ValueError):
                return None
            return None if math.isnan(v) else v

        verified = str(row.get("verified", True)).strip().lower() in ("true", "1", "yes")
        src = f"published ({row.get('source', 'catalog')}, as of {row.get('as_of', '?')})" + (
            "" if verified else " ⚠ unverified")
        return cls(name=str(row.get("name", name)), mem_gib=num("mem_gib"), mem_bw_gb_per_s=num("mem_bw_tbps") * 1000,
                   bf16_tflops=num("bf16_tflops"), fp8_tflops=num("fp8_tflops"), int8_tops=num("int8_tops"),
                   source=src, fp4_tflops=num("fp4_tflops"))


# ----------------------------------------------------------------------------- efficiency, cell
@dataclass(frozen=True)
class Efficiency:
    """Fractions of peak reached, and fixed costs: ``mbu`` (memory-bandwidth utilization),
    ``mfu`` (FLOP utilization), ``step_overhead_s`` (per decode/prefill step: scheduling,
    sampling), ``layer_overhead_s`` (per layer of every step: the kernel launches and Python of
    a host-bound engine, which grow with depth, not with batch). ``label`` says where they
    came from."""

    mbu: float = 0.7
    mfu: float = 0.5
    step_overhead_s: float = 0.0
    label: str = "uncalibrated"
    layer_overhead_s: float = 0.0

    def overhead_s(self, layers: int) -> float:
        """Fixed time of one step of a model of ``layers`` layers: per step + per layer × L."""
        return self.step_overhead_s + layers * self.layer_overhead_s


@dataclass(frozen=True)
class Cell:
    """One thing to project: a model on ``tp`` devices of a hardware at a quantization, served by
    an engine that batches at most ``max_batch`` sequences (llama.cpp's server: 1; vLLM: 256)."""

    arch: Arch
    hardware: Hardware
    quant: Quant = field(default_factory=lambda: QUANTS["bf16"])
    kv_dtype: str = "bf16"
    tp: int = 1
    eff: Efficiency = field(default_factory=Efficiency)
    max_batch: int = 256
    mem_util: float = 0.9  # share of device memory the engine may use (vLLM gpu_memory_utilization)
    batched_prefill: bool = False  # the B prompts of a batch prefilled in one pass (the bound), not one by one

    def with_eff(self, eff: Efficiency) -> "Cell":
        return replace(self, eff=eff)


def make_cell(arch: Arch, hardware: Hardware, quantization: str = "bf16", **kw) -> Cell:
    """A Cell with the quantization looked up by name."""
    return Cell(arch=arch, hardware=hardware, quant=quant(quantization), **kw)


# ----------------------------------------------------------------------------- memory
def weight_bytes(arch: Arch, q: Quant | str) -> float:
    """Resident weight bytes: layer weights × bpw/8, routed experts × expert bits/8 (when the
    format stores them apart, e.g. gpt-oss's MXFP4 experts), embedding tables × embedding bits/8,
    extra (vision) weights at 16 bits (32 under fp32)."""
    q = quant(q)
    return (arch.always_params * q.bits_per_weight / 8 + arch.routed_params * q.routed_bits / 8
            + arch.embedding_params * q.embedding_bits / 8 + arch.extra_params * max(16.0, q.bits_per_weight) / 8)


def expected_experts(experts: int, top_k: int, tokens: float) -> float:
    """Distinct experts a batch of ``tokens`` touches per layer, routing uniform and independent:
    E·(1 − (1 − k/E)^B). Dense models (E = 1): 1."""
    if experts <= 1:
        return 1.0
    return experts * (1.0 - (1.0 - top_k / experts) ** max(tokens, 0.0))


def weight_bytes_read(arch: Arch, q: Quant | str, tokens: float = 1) -> float:
    """Weight bytes one forward step over ``tokens`` tokens streams from memory: the weights
    every token reads (attention, dense MLPs, routers, shared experts) + the routed experts it
    touches in each MoE layer (see :func:`expected_experts`) + the LM head (V·d). The input
    embedding is a gather (negligible) unless tied, when it is the LM head."""
    q = quant(q)
    touched = arch.moe_layers * expected_experts(arch.experts, arch.experts_per_token, tokens) * arch.expert_params
    return (arch.always_params * q.bits_per_weight / 8 + touched * q.routed_bits / 8
            + arch.vocab * arch.hidden * q.embedding_bits / 8)


def kv_element_bytes(kv_dtype: str = "bf16") -> int:
    """Bytes per KV-cache element of a dtype name (bf16, fp8, fp8_e4m3, float16 ...)."""
    if kv_dtype in KV_BYTES:
        return KV_BYTES[kv_dtype]
    try:
        return KV_BYTES[quant(kv_dtype).name]
    except (ProjectionError, KeyError):
        raise ProjectionError(f"unknown KV-cache dtype {kv_dtype!r}; known: {', '.join(KV_BYTES)}, fp8_e4m3, "
                              "fp8_e5m2") from None


def kv_bytes_per_token(arch: Arch, kv_dtype: str = "bf16") -> int:
    """KV cache of one token held by every layer: L · (2·n_kv·h_d, or the MLA latent
    kv_lora_rank + qk_rope_head_dim) · bytes per element. Past the window, local layers stop
    growing: :func:`kv_bytes_per_sequence` is the size of a whole context."""
    return arch.layers * arch.kv_elements_per_token_layer * kv_element_bytes(kv_dtype)


def kv_bytes_per_sequence(arch: Arch, context_tokens: float, kv_dtype: str = "bf16") -> float:
    """KV cache of one sequence of ``context_tokens``: per layer and token the elements of
    :func:`kv_bytes_per_token`, times T for the global layers and min(T, window) for the local
    ones (sliding window, or Llama 4's attention chunk)."""
    per_layer_token = arch.kv_elements_per_token_layer * kv_element_bytes(kv_dtype)
    local = min(context_tokens, arch.sliding_window) if arch.sliding_window else context_tokens
    return per_layer_token * (arch.global_layers * context_tokens + arch.local_layers * local)


def resident_tokens(arch: Arch, context_tokens: float) -> float:
    """KV tokens kept per sequence, in tokens held by every layer: the context, with local layers
    capped at the window; so that kv_bytes_per_token · resident_tokens = kv_bytes_per_sequence
    (all layers local: min(T, window), the 2024 meaning)."""
    if not arch.sliding_window:
        return context_tokens
    local = min(context_tokens, arch.sliding_window)
    return (arch.global_layers * context_tokens + arch.local_layers * local) / arch.layers


def kv_replicas(arch: Arch, tp: int) -> int:
    """Copies of each KV element across ``tp`` tensor-parallel devices: an MLA latent belongs to no
    head and sits whole on every device (vLLM and SGLang without data-parallel attention); a KV
    head is copied tp / n_kv times when there are fewer KV heads than devices; else 1."""
    if tp <= 1:
        return 1
    if arch.is_mla:
        return tp
    return max(1, tp // arch.kv_heads)


def max_sequences(cell: Cell, context_tokens: float) -> int:
    """Sequences of ``context_tokens`` whose KV fits beside the weights:
    floor((mem·tp·mem_util − weights) / (KV bytes per sequence · replicas)), capped at
    ``max_batch``; 0 when the weights alone do not fit."""
    free = cell.hardware.mem_gib * GIB * cell.tp * cell.mem_util - weight_bytes(cell.arch, cell.quant)
    per_seq = kv_bytes_per_sequence(cell.arch, context_tokens, cell.kv_dtype) * kv_replicas(cell.arch, cell.tp)
    if free <= 0:
        return 0
    return int(min(cell.max_batch, free // max(per_seq, 1)))


# ----------------------------------------------------------------------------- time
def _tp_comm_s(cell: Cell, tokens: float) -> float:
    """Tensor parallelism: 2 all-reduces per layer of tokens·d bf16 activations, ring cost
    2·(tp−1)/tp · bytes / link bandwidth, plus ~10 µs latency each (assumed)."""
    if cell.tp <= 1:
        return 0.0
    per = 2 * (cell.tp - 1) / cell.tp * tokens * cell.arch.hidden * 2 / (cell.hardware.link_gb_per_s * 1e9)
    return 2 * cell.arch.layers * (per + 10e-6)


def _attended(arch: Arch, tokens: float, pairs: bool) -> float:
    """Σ over layers of the tokens each attends to: T for global layers, min(T, W) for local
    ones (one decode token, ``pairs=False``); or the causal query·key pairs of a prefill of T
    tokens (``pairs=True``): T²/2 for global layers, T²/2 up to W then W²/2 + (T − W)·W."""
    w = arch.sliding_window
    if pairs:
        full = tokens ** 2 / 2
        local = full if not w or tokens <= w else w ** 2 / 2 + (tokens - w) * w
    else:
        full = tokens
        local = min(tokens, w) if w else tokens
    return arch.global_layers * full + arch.local_layers * local


def decode_flops_per_token(arch: Arch, context_tokens: float) -> float:
    """2·N_matmul + 2·n_h·(qk + v widths)·Σ_layers T_attended (QKᵀ and AV; 4·L·n_h·h_d·T for
    GQA without a window; MLA attends over the latent, see Arch.attention_dims)."""
    return 2 * arch.matmul_params_per_token + 2 * arch.heads * arch.attention_dims(decode=True) * _attended(
        arch, context_tokens, pairs=False)


def decode_step_s(cell: Cell, batch: int, context_tokens: float) -> float:
    """One decode step for ``batch`` sequences at mean context ``context_tokens``:
    max((W_read(B) + B·KV/token·T_res·replicas) / (BW·mbu), B·F_token / (FLOPS·mfu)) / tp-split
    + all-reduces + step overhead (per step + per layer × L; each device reads its own copy of a
    replicated KV)."""
    a, hw, e = cell.arch, cell.hardware, cell.eff
    mem_bytes = weight_bytes_read(a, cell.quant, batch) + batch * kv_bytes_per_token(
        a, cell.kv_dtype) * resident_tokens(a, context_tokens) * kv_replicas(a, cell.tp)
    mem_s = mem_bytes / cell.tp / (hw.mem_bw_gb_per_s * 1e9 * e.mbu)
    comp_s = batch * decode_flops_per_token(a, context_tokens) / cell.tp / (
        hw.peak_flops_per_s(cell.quant.compute) * e.mfu)
    return max(mem_s, comp_s) + _tp_comm_s(cell, batch) + e.overhead_s(a.layers)


def prefill_flops(arch: Arch, input_tokens: float) -> float:
    """2·(N_matmul − V·d)·T + 2·V·d + 2·n_h·(qk + v)·Σ_layers causal pairs: every token goes
    through the layers, only the last through the LM head (engines compute logits for sampled
    positions only); causal attention of a global layer is half of 4·n_h·h_d·T² (so
    2·L·n_h·h_d·T² without windows); a local layer attends to at most the window."""
    lm_head = arch.vocab * arch.hidden
    return (2 * (arch.matmul_params_per_token - lm_head) * input_tokens + 2 * lm_head
            + 2 * arch.heads * arch.attention_dims(decode=False) * _attended(arch, input_tokens, pairs=True))


def prefill_s(cell: Cell, input_tokens: float, prompts: int = 1) -> float:
    """Prefill of ``prompts`` prompts of ``input_tokens`` in one pass: max(prompts·FLOPs /
    (FLOPS·mfu), W_read(prompts·T) / (BW·mbu)) / tp + all-reduces + step overhead (per step + per
    layer × L). The weights
    are read once per pass. Compute-bound beyond a few hundred tokens on a GPU."""
    a, hw, e = cell.arch, cell.hardware, cell.eff
    tokens = prompts * input_tokens
    comp_s = prompts * prefill_flops(a, input_tokens) / cell.tp / (hw.peak_flops_per_s(cell.quant.compute) * e.mfu)
    mem_s = weight_bytes_read(a, cell.quant, tokens) / cell.tp / (hw.mem_bw_gb_per_s * 1e9 * e.mbu)
    return max(comp_s, mem_s) + _tp_comm_s(cell, tokens) + e.overhead_s(a.layers)


# ----------------------------------------------------------------------------- serving
def serving_point(cell: Cell, input_tokens: float, output_tokens: float, concurrency: int) -> dict:
    """Steady state of a closed loop of ``concurrency`` clients (no think time), each sending
    prompts of ``input_tokens`` and reading ``output_tokens``.

    The engine runs B = min(C, max_batch, fitting sequences) at once; a batch turns over
    B requests in  cycle = B·prefill + (T_out − 1)·decode_step(B, T_in + T_out/2)
    (the first token comes from the prefill; every prefill stalls the batch). With
    ``cell.batched_prefill`` the B prompts are prefilled in one pass that reads the weights
    once (what an upper bound must assume): cycle = prefill(B prompts) + (T_out − 1)·step. Then
    requests/s = B / cycle, E2EL = C / (requests/s) (Little), TTFT = queue wait + prefill,
    TPOT = (E2EL − TTFT) / (T_out − 1).
    """
    fit = max_sequences(cell, input_tokens + output_tokens)
    batch = max(1, min(int(concurrency), cell.max_batch, fit or 1))
    per_pass = batch if cell.batched_prefill else 1  # prompts prefilled together
    t_pf = prefill_s(cell, input_tokens, per_pass)
    t_step = decode_step_s(cell, batch, input_tokens + output_tokens / 2)
    steps = max(output_tokens - 1, 0)
    cycle_s = batch // per_pass * t_pf + steps * t_step
    rps = batch / cycle_s
    e2el_s = concurrency / rps
    ttft_s = (e2el_s - cycle_s) + t_pf
    tpot_s = (e2el_s - ttft_s) / steps if steps else 0.0
    return {
        "concurrency": int(concurrency), "batch": batch, "fits": fit,
        "request_throughput": rps, "output_tokens_per_s": rps * output_tokens,
        "total_tokens_per_s": rps * (input_tokens + output_tokens),
        "ttft_ms": ttft_s * 1e3, "tpot_ms": tpot_s * 1e3, "e2el_ms": e2el_s * 1e3,
        "decode_step_ms": t_step * 1e3, "prefill_ms": t_pf * 1e3,
    }


def throughput_latency_curve(cell: Cell, input_tokens: float, output_tokens: float,
                             concurrencies=(1, 2, 4, 8, 16, 32, 64, 128, 256)):
    """:func:`serving_point` for each concurrency, as a DataFrame with the projection's label
    (columns as ``workbench.measure.metrics.summarize`` plus batch, provenance, label)."""
    import pandas as pd

    rows = [serving_point(cell, input_tokens, output_tokens, c) for c in concurrencies]
    df = pd.DataFrame(rows)
    df["provenance"] = "projected"
    df["label"] = cell.eff.label
    return df


def capacity_point_at_slo(cell: Cell, input_tokens: float, output_tokens: float, slo: dict | None,
                          max_concurrency: int = 1024) -> dict | None:
    """The serving point with the highest request throughput whose TTFT, TPOT and E2EL are
    within ``slo`` (keys ttft_ms, tpot_ms, e2el_ms; absent = no limit); None when even one
    request at a time misses it. Concurrency is searched over 1, 2, 3, ... (latency grows
    monotonically with concurrency in this model, so a binary search suffices)."""
    slo = {k: v for k, v in (slo or {}).items() if v is not None and k in ("ttft_ms", "tpot_ms", "e2el_ms")}

    def ok(c):
        p = serving_point(cell, input_tokens, output_tokens, c)
        return p if all(p[k] <= v for k, v in slo.items()) else None

    if ok(1) is None:
        return None
    lo, hi = 1, max(1, max_concurrency)
    if ok(hi):
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    best = ok(lo)
    # beyond the batch cap, more concurrency only queues: the smallest C reaching the top rate
    cap = min(lo, best["batch"])
    point = ok(cap) or best
    point["label"] = cell.eff.label
    return point


def capacity_at_slo(cell: Cell, input_tokens: float, output_tokens: float, slo: dict | None,
                    max_concurrency: int = 1024) -> float:
    """Requests/s one replica sustains with every request meeting ``slo`` (TTFT/TPOT/E2EL in
    ms) — the same quantity cost.py takes from measured sweeps. 0.0 when the SLO cannot be met."""
    p = capacity_point_at_slo(cell, input_tokens, output_tokens, slo, max_concurrency)
    return 0.0 if p is None else p["request_throughput"]
