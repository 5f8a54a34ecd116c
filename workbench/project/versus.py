"""Projections against published measurements: how wrong is each projection engine?

For every published point (:mod:`workbench.inputs.published`) the same cell — model, GPU,
tensor parallelism, quantization, input/output lengths, requests in flight — is projected by

- the roofline, **uncalibrated** (the default efficiencies of
  :class:`~workbench.project.roofline.Efficiency`);
- the roofline **calibrated leave-one-out**: efficiencies fitted
  (:func:`workbench.project.calibrate.fit_points`) on the other published points of the same
  serving engine, then the point predicted;
- **AIConfigurator** (:mod:`workbench.project.aic`) where it covers the cell;

and the signed error ``(projected − published) / published`` of the published metric is
reported. A point whose model or GPU is not in the catalog yet, or that an engine cannot
project, gets its reason instead of a number. ``benchmarks/projection_vs_published.py``
prints the table and writes the per-engine × GPU summary that labels projected options
(``data/published/projection_error.csv``, read by :func:`error_label`).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..errors import WorkbenchError
from ..inputs.catalog import load_catalog
from ..paths import DATA_DIR
from . import aic
from .calibrate import fit_points, predict
from .roofline import Arch, Cell, Efficiency, Hardware, max_sequences, quant, serving_point

OFFLINE_MAX_BATCH = 2048
"""An offline (max-throughput) run's batch: what fits in memory, at most TensorRT-LLM's default
``max_batch_size`` of 2048."""
PROJECTORS = ("roofline", "roofline_loo", "aiconfigurator")
ERROR_FILE = DATA_DIR / "published" / "projection_error.csv"


def roofline_cell(row: dict, catalog=None) -> tuple[Cell | None, str]:
    """The roofline cell of a published point and a note ("" today), or None and why (model or
    GPU not in the catalog, unknown quantization)."""
    catalog = catalog or load_catalog()
    try:
        arch = Arch.from_catalog(row["model"], catalog)
    except WorkbenchError:
        return None, f"{row['model']}: not in catalog"
    try:
        hw = Hardware.from_catalog(row["gpu"], catalog)
    except WorkbenchError:
        return None, f"{row['gpu']}: not in catalog"
    try:
        q = quant(row["quantization"])
    except WorkbenchError as e:
        return None, f"roofline: {e}"
    kv = row["kv_dtype"] if row["kv_dtype"] in ("bf16", "fp16", "fp8", "fp32") else "bf16"
    # all prompts arrive together in a static batch or an offline run: one prefill pass; a closed
    # loop's requests are staggered, each prefilled on its own
    return Cell(arch=arch, hardware=hw, quant=q, kv_dtype=kv, tp=int(row["tp"]), max_batch=OFFLINE_MAX_BATCH,
                batched_prefill=row["mode"] != "closed-loop"), ""


def batch_for(row: dict, cell: Cell | None) -> int:
    """Requests in flight: the published concurrency, or for an offline run what fits (roofline
    memory model, capped at :data:`OFFLINE_MAX_BATCH`; 256 without a cell)."""
    if row["concurrency"] is not None and not _isnan(row["concurrency"]):
        return int(row["concurrency"])
    if cell is None:
        return 256
    return max(1, min(OFFLINE_MAX_BATCH, max_sequences(cell, row["input_tokens"] + row["output_tokens"])))


def metric_of(point: dict, row: dict) -> float:
    """The published metric of ``row`` read off a projected serving point."""
    m = row["metric"]
    if m == "output_tokens_per_s_per_gpu":
        return point["output_tokens_per_s"] / int(row["gpu_count"])
    return point[m]


def as_fit_point(row: dict, batch: int) -> dict:
    """A published point in the shape :func:`calibrate.fit_points` takes (tokens, concurrency and
    whichever of output tokens/s, TPOT, TTFT it gives; a static batch's E2EL as tokens/s)."""
    p = {"prompt_tokens": row["input_tokens"], "output_tokens": row["output_tokens"], "concurrency": batch}
    m, v = row["metric"], float(row["value"])
    if m == "output_tokens_per_s_per_gpu":
        p["output_tokens_per_s"] = v * int(row["gpu_count"])
    elif m == "e2el_ms":
        p["output_tokens_per_s"] = batch * row["output_tokens"] / (v / 1e3)
    else:
        p[m] = v
    return p


def _err(projected: float, published: float) -> float:
    return 100.0 * (projected - published) / published


def _isnan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _aic(row: dict, batch: int) -> tuple[float | None, str]:
    try:
        cell = aic.AICell(row["model"], row["gpu"], row["engine"], row["quantization"], row["kv_dtype"], int(row["tp"]))
        p = aic.project_point(cell, input_tokens=row["input_tokens"], output_tokens=row["output_tokens"], batch=batch,
                              mode=row["mode"])
    except WorkbenchError as e:
        return None, str(e)
    return metric_of(p, row), p["label"]


def compare(published, *, catalog=None, use_aic: bool = True):
    """One row per published point: published value, each projector's value and signed error
    (%), and its label or the reason it has none. ``published`` is
    :func:`~workbench.inputs.published.load_published`'s DataFrame."""
    import pandas as pd

    catalog = catalog or load_catalog()
    rows = published.to_dict("records")
    cells = [roofline_cell(r, catalog) for r in rows]
    batches = [batch_for(r, c) for r, (c, _) in zip(rows, cells)]
    out = []
    for i, (r, (cell, note), b) in enumerate(zip(rows, cells, batches)):
        rec = {k: r[k] for k in ("id", "model", "gpu", "tp", "engine", "engine_version", "quantization", "input_tokens",
                                 "output_tokens", "mode", "metric")}
        rec.update(concurrency=b, published=float(r["value"]), roofline_note=note)
        if cell is not None:
            rec["roofline"] = metric_of(serving_point(replace(cell, eff=Efficiency()), r["input_tokens"],
                                                      r["output_tokens"], b), r)
            others = [j for j in range(len(rows)) if j != i and cells[j][0] is not None
                      and rows[j]["engine"] == r["engine"]]
            if others:
                eff = fit_points([cells[j][0] for j in others], [as_fit_point(rows[j], batches[j]) for j in others])
                rec["roofline_loo"] = metric_of(predict(replace(cell, eff=eff), as_fit_point(r, b)), r)
        if use_aic:
            rec["aiconfigurator"], rec["aiconfigurator_note"] = _aic(r, b)
        for k in PROJECTORS:
            v = rec.get(k)
            rec[f"{k}_error_pct"] = _err(v, rec["published"]) if v is not None and not _isnan(v) else float("nan")
        out.append(rec)
    return pd.DataFrame(out)


def summarize(table, by=(), common: bool = False):
    """Per projector (and ``by`` columns): points projected, median and worst |error| (%);
    ``common``: only the points every projector projected (the same points side by side)."""
    import pandas as pd

    if common:
        table = table.dropna(subset=[f"{k}_error_pct" for k in PROJECTORS])
    rows = []
    groups = table.groupby(list(by), sort=True) if by else [((), table)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        for k in PROJECTORS:
            e = g[f"{k}_error_pct"].abs().dropna() if f"{k}_error_pct" in g else pd.Series(dtype=float)
            rows.append({**dict(zip(by, key)), "projector": k, "points": len(e), "of": len(g),
                         "median_error_pct": float(e.median()) if len(e) else float("nan"),
                         "worst_error_pct": float(e.max()) if len(e) else float("nan")})
    return pd.DataFrame(rows)


def error_label(projector: str, engine: str, gpu: str, path=None) -> str:
    """The error that applies to a projection of ``engine`` on ``gpu`` by ``projector``, from
    the summary the benchmark wrote: "median error X% (worst Y%) on N published points of
    <engine> on <gpu>", else of <engine> on any GPU, else "error against published
    measurements unknown"."""
    import pandas as pd

    path = path or ERROR_FILE
    try:
        s = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return "error against published measurements unknown (benchmarks/projection_vs_published.py not run)"
    s = s[(s.projector == projector) & (s.engine == engine) & (s.points > 0)]
    for scope, rows in ((f"{engine} on {gpu}", s[s.gpu == gpu]), (f"{engine} on other GPUs", s[s.gpu == "*"])):
        if len(rows):
            r = rows.iloc[0]
            return (f"median error {r.median_error_pct:.0f}% (worst {r.worst_error_pct:.0f}%) on "
                    f"{int(r.points)} published point{'s' if r.points != 1 else ''} of {scope}")
    return f"no published point of {engine} to check it against: error unknown"
