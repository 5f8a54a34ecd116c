"""The seeds' claims, as numbers computed by the projection — each with its provenance label.

- "Mixtral 8x7B decodes three times faster than Llama 2 70B" (:func:`mixtral_vs_llama2_70b`):
  at batch 1 Mixtral reads 2 of its 8 experts per layer; at serving batch sizes a batch touches
  nearly all of them (E·(1 − (1 − k/E)^B)) so the memory advantage shrinks, while the compute
  advantage (12.9 B vs 69 B active parameters) stays.
- "Mistral 7B on one A10G costs fractions of a cent per request" (:func:`mistral_a10g_usd_per_request`):
  capacity at each workload's SLO for its token profile, priced at the g5.xlarge hour.
- "4-bit weights: a quarter of the memory, faster, cheaper" (:func:`four_bit_vs_sixteen_bit`).

Every row is a dict: claim, quantity, value, unit, provenance ("projected" / "published"),
label (the calibration label of :mod:`workbench.calibrate`, "uncalibrated" without GPU
measurements) and source. :func:`claims_table` puts them in one DataFrame.
"""

from __future__ import annotations

from .project import (
    Arch, Cell, Efficiency, Hardware, capacity_point_at_slo, decode_step_s, make_cell, max_sequences,
    weight_bytes,
)

GIB = 2**30


def _row(claim, quantity, value, unit, cell: Cell | None = None, provenance="projected", source=""):
    return {"claim": claim, "quantity": quantity, "value": value, "unit": unit, "provenance": provenance,
            "label": cell.eff.label if cell is not None else "", "source": source or (
                f"roofline: {cell.arch.name} {cell.quant.name} on {cell.tp}× {cell.hardware.name}" if cell else "")}


def _smallest_tp(arch: Arch, hw: Hardware, quantization: str, eff: Efficiency, context_tokens: int,
                 min_batch: int = 8) -> Cell:
    """The fewest devices (1, 2, 4, 8) whose memory holds the weights and ``min_batch`` sequences."""
    for tp in (1, 2, 4, 8):
        cell = make_cell(arch, hw, quantization, tp=tp, eff=eff)
        if max_sequences(cell, context_tokens) >= min_batch:
            return cell
    return cell


def mixtral_vs_llama2_70b(hardware: str | Hardware = "H100-SXM", batches=(1, 8, 32, 64), *,
                          quantization: str = "bf16", context_tokens: int = 1000, tp: int | None = None,
                          eff: Efficiency | None = None, catalog=None) -> list[dict]:
    """Decode tokens/s of Mixtral-8x7B and Llama-2-70B at each batch (B / decode step at
    ``context_tokens`` of context), on the same number of devices (the fewest that hold
    Llama-2-70B with 8 sequences, unless ``tp``), and their ratio."""
    hw = hardware if isinstance(hardware, Hardware) else Hardware.from_catalog(hardware, catalog)
    mix, llama = Arch.from_catalog("Mixtral-8x7B", catalog), Arch.from_catalog("Llama-2-70B", catalog)
    eff = eff or Efficiency()
    tp = tp or _smallest_tp(llama, hw, quantization, eff, context_tokens).tp
    cm, cl = (make_cell(a, hw, quantization, tp=tp, eff=eff) for a in (mix, llama))
    claim = "Mixtral 8x7B vs Llama 2 70B decode speed ('three times faster')"
    rows = [_row(claim, "active params Mixtral / Llama-2-70B", mix.active_params / llama.params, "ratio",
                 provenance="published", source="catalog models.csv (parameter counts from the architecture)")]
    for b in batches:
        tps_m = b / decode_step_s(cm, b, context_tokens)
        tps_l = b / decode_step_s(cl, b, context_tokens)
        rows += [_row(claim, f"Mixtral-8x7B decode tokens/s at batch {b}", tps_m, "tokens/s", cm),
                 _row(claim, f"Llama-2-70B decode tokens/s at batch {b}", tps_l, "tokens/s", cl),
                 _row(claim, f"speed-up at batch {b}", tps_m / tps_l, "×", cm)]
    return rows


def _workload_profiles(workloads):
    from .workloads import list_workloads, load_workload

    out = []
    for name in workloads or list_workloads():
        w = load_workload(name)
        prof = w.token_profile()
        if not prof.get("output_tokens_mean"):
            continue  # embeddings/retrieval: no generation to price with a decoder
        out.append((w.name, prof, dict(w.slo or {})))
    return out


def mistral_a10g_usd_per_request(workloads=None, *, instance: str = "g5.xlarge", quantization: str = "bf16",
                                 eff: Efficiency | None = None, catalog=None) -> list[dict]:
    """Per workload: Mistral-7B on one A10G at the workload's token profile and SLO — the
    capacity (requests/s, :func:`~workbench.project.capacity_point_at_slo`) and USD per request
    with the replica kept busy: usd_per_hour / 3600 / capacity_rps."""
    from .catalog import load_catalog
    from .cost import usd_per_mtok_at_full_load

    catalog = catalog or load_catalog()
    inst = catalog.instance(instance)
    usd_per_hour = float(inst["usd_per_hour"])
    hw = Hardware.from_catalog(str(inst["gpu"]), catalog)
    cell = make_cell(Arch.from_catalog("Mistral-7B", catalog), hw, quantization, eff=eff or Efficiency())
    claim = "Mistral 7B on one A10G: fractions of a cent per request"
    price_src = f"catalog instances.csv: {instance} {inst.get('pricing', 'on-demand')} (as of {inst.get('as_of')})"
    rows = [_row(claim, f"{instance} price", usd_per_hour, "USD/hour", provenance="published", source=price_src)]
    for name, prof, slo in _workload_profiles(workloads):
        n_in, n_out = prof["prompt_tokens_mean"], prof["output_tokens_mean"]
        point = capacity_point_at_slo(cell, n_in, n_out, slo)
        rps = point["request_throughput"] if point else 0.0
        usd = usd_per_hour / 3600 / rps if rps else float("inf")
        tokens_note = f"{n_in:.0f} in / {n_out:.0f} out tokens ({prof.get('provenance', 'assumed')}), SLO {slo}"
        rows += [_row(claim, f"{name}: capacity at SLO", rps, "requests/s", cell, source=tokens_note),
                 _row(claim, f"{name}: USD per request at full load", usd, "USD", cell,
                      source=f"{tokens_note}; {price_src}")]
        if point:
            rows.append(_row(claim, f"{name}: USD per 1M output tokens at full load",
                             float(usd_per_mtok_at_full_load(usd_per_hour, point["output_tokens_per_s"])),
                             "USD/Mtok", cell, source=price_src))
    return rows


def four_bit_vs_sixteen_bit(model: str = "Mistral-7B", hardware: str = "A10G", *, four_bit: str = "awq",
                            input_tokens: int = 1000, output_tokens: int = 200, slo: dict | None = None,
                            instance: str | None = "g5.xlarge", eff: Efficiency | None = None,
                            catalog=None) -> list[dict]:
    """bf16 vs 4-bit weights of one model on one GPU: weight memory (GiB), sequences that fit,
    decode tokens/s at batch 1, capacity (requests/s) at ``slo`` (default TPOT ≤ 50 ms) and,
    with an instance price, USD per 1M output tokens at that capacity."""
    from .catalog import load_catalog

    catalog = catalog or load_catalog()
    arch = Arch.from_catalog(model, catalog)
    hw = Hardware.from_catalog(hardware, catalog)
    slo = slo or {"tpot_ms": 50}
    claim = f"4-bit vs 16-bit weights: {model} on {hardware}"
    usd_per_hour = float(catalog.instance(instance)["usd_per_hour"]) if instance else None
    rows = []
    for q in ("bf16", four_bit):
        cell = make_cell(arch, hw, q, eff=eff or Efficiency())
        rows.append(_row(claim, f"{q}: weight memory", weight_bytes(arch, cell.quant) / GIB, "GiB", cell))
        rows.append(_row(claim, f"{q}: sequences that fit ({input_tokens + output_tokens} tokens)",
                         max_sequences(cell, input_tokens + output_tokens), "sequences", cell))
        rows.append(_row(claim, f"{q}: decode tokens/s at batch 1", 1 / decode_step_s(cell, 1, input_tokens),
                         "tokens/s", cell))
        point = capacity_point_at_slo(cell, input_tokens, output_tokens, slo)
        rps = point["request_throughput"] if point else 0.0
        rows.append(_row(claim, f"{q}: capacity at {slo}", rps, "requests/s", cell))
        if usd_per_hour and point:
            rows.append(_row(claim, f"{q}: USD per 1M output tokens at that capacity",
                             usd_per_hour / (3600 * point["output_tokens_per_s"]) * 1e6, "USD/Mtok", cell,
                             source=f"{instance} at {usd_per_hour} USD/h (catalog)"))
    return rows


def claims_table(eff: Efficiency | None = None, catalog=None):
    """All three claims in one DataFrame (claim, quantity, value, unit, provenance, label, source)."""
    import pandas as pd

    rows = (mixtral_vs_llama2_70b(eff=eff, catalog=catalog) + mistral_a10g_usd_per_request(eff=eff, catalog=catalog)
            + four_bit_vs_sixteen_bit(eff=eff, catalog=catalog))
    return pd.DataFrame(rows)
