"""Calibrate the roofline (:mod:`workbench.project.roofline`) on measured load sweeps, and say how wrong it is.

From the results store: one row per (run, load point) with the measured mean prompt/output
tokens, output tokens/s, TPOT and TTFT (:func:`load_points`). Per engine × hardware, the
efficiencies of :class:`~workbench.project.roofline.Efficiency` — bandwidth utilization ``mbu``,
compute utilization ``mfu``, per-step overhead — are fitted by least squares on log errors
of output tokens/s, TPOT and TTFT (:func:`fit_points`). :func:`leave_one_out` predicts every
point from a fit on the others: that held-out error is the one the label reports,
"projected (calibrated on N runs, median error X%)"; with nothing to fit, "uncalibrated".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import WorkbenchError
from ..inputs.targets import get_target
from ..results.schema import EVIDENCE_STATUSES, RunParams
from ..serving.smollm import hf_dir
from .probe import cpu_hardware
from .roofline import Arch, Cell, Efficiency, Hardware, quant, serving_point

MAX_BATCH = {"llamacpp": 1, "vllm": 256, "transformers": 256}
"""Sequences an engine decodes together: llama-cpp-python's server serves one at a time."""
BATCHES_PREFILLS = frozenset({"vllm", "transformers", "sglang", "trtllm"})
"""Engines with continuous batching: the prompts that arrive together are prefilled in one
forward pass that pays the step's fixed overhead once (``Cell.batched_prefill``). Fitted one
prompt at a time, every prefill paid the per-step and per-layer overhead again and the H100
sweeps' TPOT at concurrency 64 came out 2× the measured one."""
_GPU_NAMES = (("H200", "H200"), ("H100 PCIe", "H100-PCIe"), ("H100", "H100-SXM"), ("A100-SXM4-40GB", "A100-40GB"),
              ("A100-PCIE-40GB", "A100-40GB"), ("A100", "A100-80GB"), ("A10G", "A10G"), ("L40S", "L40S"), ("L4", "L4"))
_WEIGHTS = {"tps": 1.0, "tpot": 1.0, "ttft": 0.5}  # TTFT on a CPU is small and noisy: half weight


class CalibrationError(WorkbenchError, ValueError):
    pass


# ----------------------------------------------------------------------------- measured points
def load_points(results, kinds=("load", "gpu-load")):
    """Per (run_id, load_point) of completed-or-interrupted load runs: target, engine, model,
    dtype, hardware, hardware_count, concurrency, n, prompt_tokens and output_tokens (means),
    output_tokens_per_s (Σ output tokens / measured window), request_throughput, tpot_ms
    (mean of (E2EL − TTFT)/(out − 1)), ttft_ms, e2el_ms (means). Throughput is the steady
    state of the closed loop, C / mean E2EL (Little's law); Σ output tokens / window is kept as
    ``window_output_tokens_per_s``. Warmup and failed requests are left out."""
    import pandas as pd

    cols = ["run_id", "target", "engine", "model", "dtype", "hardware", "hardware_count", "load_point",
            "concurrency", "n", "prompt_tokens", "output_tokens", "output_tokens_per_s",
            "request_throughput", "tpot_ms", "ttft_ms", "e2el_ms"]
    runs, req = results.runs, results.requests
    if runs.empty or req.empty:
        return pd.DataFrame(columns=cols)
    runs = runs[runs["kind"].isin(kinds) & runs["status"].isin(EVIDENCE_STATUSES)]
    req = req[["run_id", "phase", "ok", "load_point", "concurrency", "sent_s", "ttft_ms", "e2el_ms", "prompt_tokens",
               "output_tokens"]]  # not the chunk times: a million rows of them are slow to select
    req = req[(req["phase"] == "measure") & req["ok"].astype(bool) & req["run_id"].isin(runs["run_id"])].copy()
    req = req[req["output_tokens"].fillna(0) > 1]
    if req.empty:
        return pd.DataFrame(columns=cols)
    req["end_s"] = req["sent_s"] + req["e2el_ms"] / 1e3
    req["tpot_ms"] = (req["e2el_ms"] - req["ttft_ms"]) / (req["output_tokens"] - 1)
    for c in ("prompt_tokens", "output_tokens", "concurrency"):
        req[c] = req[c].astype(float)
    agg = req.groupby(["run_id", "load_point"], sort=False).agg(  # one pass: a loop over groups took seconds
        n=("sent_s", "size"), first_sent_s=("sent_s", "min"), last_end_s=("end_s", "max"),
        prompt_tokens=("prompt_tokens", "mean"), output_tokens=("output_tokens", "mean"),
        output_sum=("output_tokens", "sum"), tpot_ms=("tpot_ms", "mean"), ttft_ms=("ttft_ms", "mean"),
        e2el_ms=("e2el_ms", "mean"), concurrency=("concurrency", "first")).reset_index()
    meta = runs.set_index("run_id")
    rows = []
    for a in agg.to_dict("records"):
        window_s = a["last_end_s"] - a["first_sent_s"]
        m = meta.loc[a["run_id"]]
        conc = a["concurrency"]
        rows.append({
            "run_id": a["run_id"], "target": m["target"], "engine": m["engine"], "model": m["model"],
            "dtype": m.get("dtype"), "hardware": m["hardware"], "hardware_count": m.get("hardware_count"),
            "load_point": a["load_point"], "concurrency": int(conc) if conc == conc and conc else _conc(a["load_point"]),
            "n": a["n"], "prompt_tokens": a["prompt_tokens"], "output_tokens": a["output_tokens"],
            "window_output_tokens_per_s": a["output_sum"] / window_s if window_s > 0 else float("nan"),
            "tpot_ms": a["tpot_ms"], "ttft_ms": a["ttft_ms"], "e2el_ms": a["e2el_ms"],
            "layers": float(RunParams.of(m.get("params")).layers or "nan"),
        })
    df = pd.DataFrame(rows, columns=cols + ["window_output_tokens_per_s", "layers"])
    # closed loop, steady state (Little's law): requests/s = C / mean E2EL. Robust to the ramp
    # and drain of a short sweep, where Σ tokens / window is not.
    df["request_throughput"] = df["concurrency"] / (df["e2el_ms"] / 1e3)
    df["output_tokens_per_s"] = df["request_throughput"] * df["output_tokens"]
    return _fill_prompt_tokens(df, runs)


def _fill_prompt_tokens(df, runs=None):
    """llama-cpp-python streams no usage: a point without prompt tokens takes them from a point of
    the same model, load point and prompts — the same requested ``input_tokens``, ``seed`` and
    ``content`` in the run's params (synthetic prompts are drawn from these) — in another run,
    else stays NaN (skipped). Without the params in the key, a llama.cpp sweep of 40-token
    prompts would borrow the tokens of a 600-token vLLM sweep at the same concurrency."""
    df = df.copy()
    df["_prompts"] = df["run_id"].map(_prompt_key(runs)) if runs is not None else None
    df["_prompts"] = df["_prompts"].fillna("")
    known = df.dropna(subset=["prompt_tokens"]).groupby(["model", "_prompts", "load_point"])["prompt_tokens"].median()
    for i in df.index[df["prompt_tokens"].isna()]:
        key = (df.at[i, "model"], df.at[i, "_prompts"], df.at[i, "load_point"])
        if key in known.index:
            df.at[i, "prompt_tokens"] = known[key]
    return df.drop(columns="_prompts").dropna(subset=["prompt_tokens"]).reset_index(drop=True)


def _prompt_key(runs) -> dict:
    """run_id → a key naming the prompts a run sent (RunParams.prompts_key: input_tokens, seed, content)."""
    params = runs["params"] if "params" in runs else [None] * len(runs)
    return {rid: RunParams.of(p).prompts_key for rid, p in zip(runs["run_id"], params)}


def _conc(load_point: str) -> int:
    for part in str(load_point).split(","):
        if part.startswith("concurrency="):
            return int(float(part.split("=", 1)[1]))
    raise CalibrationError(f"load point {load_point!r}: no concurrency (closed-loop sweeps only)")


# ----------------------------------------------------------------------------- the cell of a run
def arch_for(model: str) -> Arch:
    """The architecture of a served model: the catalog, else (SmolLM2) the derived HF config."""
    try:
        return Arch.from_catalog(model)
    except (ImportError, WorkbenchError, KeyError):
        pass
    if "smollm2" in str(model).lower():
        path = hf_dir() / "config.json"
        if path.is_file():
            return Arch.from_hf_config(path, name=model)
    raise CalibrationError(f"model {model!r}: not in the catalog (data/catalog/models.csv) and no HF config known")


def hardware_for(hardware: str, cores: int | None = None) -> Hardware:
    """A run's hardware: a GPU of the catalog by its NVML name, else this CPU (probe)."""
    for needle, name in _GPU_NAMES:
        if needle.lower() in str(hardware).lower():
            return Hardware.from_catalog(name)

    return cpu_hardware(cores=int(cores) if cores and not _isnan(cores) else 1)


def _isnan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def cell_for(point: dict, eff: Efficiency | None = None, hardware: Hardware | None = None) -> Cell:
    """The projection cell of a measured point (model, hardware, dtype, engine batch cap)."""
    dtype = point.get("dtype")
    if not dtype or _isnan(dtype):
        dtype = _target_dtype(point.get("target")) or "bf16"
    hw = hardware or hardware_for(point["hardware"], point.get("hardware_count"))
    kv = "fp32" if hw.is_cpu and str(dtype).lower() in ("float32", "fp32") else "bf16"
    arch = arch_for(point["model"])
    layers = point.get("layers")
    if layers and not _isnan(layers) and int(layers) != arch.layers:
        arch = replace(arch, layers=int(layers))  # the model as measured, not as published
    return Cell(arch=arch, hardware=hw, quant=quant(dtype), kv_dtype=kv,
                eff=eff or Efficiency(), max_batch=MAX_BATCH.get(point.get("engine"), 256),
                batched_prefill=point.get("engine") in BATCHES_PREFILLS)


def _target_dtype(name) -> str | None:
    try:
        return get_target(name).deployment.dtype
    except Exception:  # an unknown or removed target: the run's own dtype is all there is
        return None


# ----------------------------------------------------------------------------- fitting
def predict(cell: Cell, point: dict) -> dict:
    """The projection of one measured point (same tokens and concurrency)."""
    return serving_point(cell, point["prompt_tokens"], point["output_tokens"], int(point["concurrency"]))


def _residuals(cells, points, eff: Efficiency):
    res = []
    for cell, p in zip(cells, points):
        pr = predict(replace(cell, eff=eff), p)
        for key, metric in (("tps", "output_tokens_per_s"), ("tpot", "tpot_ms"), ("ttft", "ttft_ms")):
            if p.get(metric) and p[metric] > 0 and pr[metric] > 0:
                res.append(_WEIGHTS[key] * math.log(pr[metric] / p[metric]))
    return res


def fit_points(cells: list[Cell], points: list[dict]) -> Efficiency:
    """Least squares on log(projected/measured) over the points' output tokens/s, TPOT and
    TTFT; parameters log mbu, log mfu, step overhead (s) and — when the points span models of
    two depths or more — a per-layer overhead (s), so that one fit describes a host-bound
    engine (step time grows with layer count) across model depths; with one depth the
    per-layer term cannot be told from the per-step one and stays 0. Several starts (the
    max() in the step time makes the surface piecewise)."""
    import numpy as np
    from scipy.optimize import least_squares

    if not points:
        raise CalibrationError("nothing to fit: no measured points")
    per_layer = len({c.arch.layers for c in cells}) > 1

    def eff(x):
        return Efficiency(math.exp(x[0]), math.exp(x[1]), x[2], layer_overhead_s=x[3] if per_layer else 0.0)

    def f(x):
        return _residuals(cells, points, eff(x))

    best = None
    # a GPU cannot read memory faster than its datasheet bandwidth (mbu ≤ 1); a CPU's probed
    # bandwidth (workbench.project.probe) misses its caches, and is the bandwidth of the machine
    # running the fit, loaded by whatever else runs there (3.2 to 15.7 GB/s on this shared
    # 2-core VM), not of the machine that measured the runs: its mbu is a free scale (≤ 16)
    mbu_max = 16.0 if all(c.hardware.is_cpu for c in cells) else 1.0
    lo, hi = [math.log(0.01), math.log(0.005), 0.0, 0.0], [math.log(mbu_max), math.log(1.0), 1.0, 0.01]
    n = 4 if per_layer else 3
    for x0 in ([math.log(0.5), math.log(0.3), 0.005, 0.0002], [math.log(0.2), math.log(0.05), 0.02, 0.0005],
               [math.log(1.0), math.log(0.6), 0.0005, 0.00002]):
        r = least_squares(f, np.array(x0[:n]), bounds=(lo[:n], hi[:n]), x_scale=[1.0, 1.0, 0.01, 0.0005][:n],
                          loss="soft_l1", f_scale=0.3)
        if best is None or r.cost < best.cost:
            best = r
    return eff(list(best.x) + [0.0])


@dataclass(frozen=True)
class Fit:
    """The calibration of one engine × hardware: efficiencies (with their label), how many runs
    and points, the leave-one-out median error (%), and per-point errors."""

    eff: Efficiency
    n_runs: int
    n_points: int
    median_error_pct: float
    points: object  # pandas.DataFrame (leave_one_out rows of this group)


def label(n_runs: int, median_error_pct: float | None) -> str:
    """'projected (calibrated on N runs, median error X%)', or 'uncalibrated' when N = 0."""
    if not n_runs or median_error_pct is None or _isnan(median_error_pct):
        return "uncalibrated"
    return f"projected (calibrated on {n_runs} run{'s' if n_runs != 1 else ''}, median error {median_error_pct:.0f}%)"


def _groups(points):
    return points.groupby(["engine", "hardware"], sort=True)


def leave_one_out(points):
    """Every measured point predicted from a fit on the other points of its engine × hardware:
    columns of ``points`` plus projected_output_tokens_per_s, projected_tpot_ms,
    projected_ttft_ms and tps/tpot/ttft_error_pct (signed, (projected − measured)/measured)."""
    import pandas as pd

    out = []
    for _, g in _groups(points):
        recs = g.to_dict("records")
        cells = [cell_for(p) for p in recs]
        for i, p in enumerate(recs):
            others = [j for j in range(len(recs)) if j != i]
            if not others:
                continue
            eff = fit_points([cells[j] for j in others], [recs[j] for j in others])
            pr = predict(replace(cells[i], eff=eff), p)
            out.append({**p, **{f"projected_{k}": pr[k] for k in ("output_tokens_per_s", "tpot_ms", "ttft_ms")},
                        "tps_error_pct": _err(pr["output_tokens_per_s"], p["output_tokens_per_s"]),
                        "tpot_error_pct": _err(pr["tpot_ms"], p["tpot_ms"]),
                        "ttft_error_pct": _err(pr["ttft_ms"], p["ttft_ms"])})
    return pd.DataFrame(out)


def _err(projected: float, measured: float) -> float:
    return 100.0 * (projected - measured) / measured if measured else float("nan")


def fit_all(points, loo=None) -> dict[tuple[str, str], Fit]:
    """One :class:`Fit` per (engine, hardware), on all its points, labelled with its
    leave-one-out median |error| over output tokens/s and TPOT."""
    import pandas as pd

    loo = leave_one_out(points) if loo is None else loo
    fits = {}
    for key, g in _groups(points):
        recs = g.to_dict("records")
        eff = fit_points([cell_for(p) for p in recs], recs)
        mine = loo[(loo["engine"] == key[0]) & (loo["hardware"] == key[1])] if len(loo) else loo
        errs = pd.concat([mine["tps_error_pct"], mine["tpot_error_pct"]]).abs().dropna() if len(mine) else []
        med = float(errs.median()) if len(errs) else float("nan")
        n_runs = g["run_id"].nunique()
        fits[key] = Fit(replace(eff, label=label(n_runs if len(errs) else 0, med)), n_runs, len(g), med, mine)
    return fits


def efficiency_for(engine: str, hardware: str, fits: dict | None = None) -> Efficiency:
    """The calibrated efficiencies of an engine × hardware, or the uncalibrated defaults."""
    fits = fits or {}
    for (e, h), fit in fits.items():
        if e == engine and (h == hardware or hardware.lower() in h.lower()):
            return fit.eff
    return Efficiency()


def calibration_fits(results) -> tuple[dict | None, str]:
    """``(fits, label)``: the roofline calibrated (:func:`fit_all`) on the stored GPU load
    sweeps of ``results`` (None: the uncalibrated defaults), and a label saying which fits
    were used or why none was. Only GPU sweeps are fitted: the projected options are all on
    catalog GPUs, and fitting the CPU sweeps too would cost seconds for nothing."""
    try:
        points = load_points(results)
        needles = "|".join([needle for needle, _ in _GPU_NAMES] + ["NVIDIA"])
        points = points[points.hardware.astype(str).str.contains(needles, case=False, regex=True)]
        if not len(points):
            return None, "uncalibrated (no GPU load sweeps stored)"
        fits = fit_all(points)
    except WorkbenchError as e:
        return None, f"uncalibrated ({e})"
    label = "; ".join(f"{e} on {h}: {f.eff.label}" for (e, h), f in fits.items()) or "uncalibrated"
    if not any(e == "vllm" for e, _ in fits):
        label += (" — the projected options are vLLM, which has no GPU sweep stored: AIConfigurator projects them "
                  "where it covers the cell, the roofline with the uncalibrated defaults elsewhere")
    return fits, label
