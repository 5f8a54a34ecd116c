"""In the kernel: what the notebooks show and how (``from workbench.present import show``).

:func:`setup` is every notebook's first cell: it checks the notebook's parameters, makes
figures render in JupyterLab *and* in nbconvert HTML (offline: plotly.js inlined once, see
:mod:`workbench.present.report`) and sets readable number formats. Then one function per
section of the decision report: :func:`decision` (one workload), :func:`notes` (what the
decisions rest on), :func:`gpu` (the measured GPU sweeps, from :func:`gpu_measurements`).
"""

from __future__ import annotations

import os

from ..decide.parameters import validate_namespace
from ..project import gpu_bound
from ..results.schema import EVIDENCE_STATUSES, RANDOM_WEIGHTS, RunParams
from . import figures
from .report import RENDERER


def setup(notebook: str | None = None, namespace: dict | None = None) -> None:
    """First cell of every notebook: its parameters (``namespace``: the notebook's ``globals()``)
    checked against what ``notebook`` accepts (workbench.decide.parameters), figures that render in
    JupyterLab *and* in nbconvert HTML (offline: plotly.js inlined once), wide tables."""
    import pandas as pd
    import plotly.io as pio

    if notebook is not None and namespace is not None:
        validate_namespace(notebook, namespace)
    pio.renderers.default = os.environ.get("PLOTLY_RENDERER") or RENDERER
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 80)
    pd.set_option("display.float_format", _readable_float)


def _readable_float(x: float) -> str:
    """Thousands separators for volumes and dollars, significant digits for small prices."""
    if x != x:  # NaN: nothing to show (e.g. no feasible option)
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def decision(d) -> None:
    """Display one workload's answer: summary, cost curves, quality vs cost, placement table
    and win ranges (for the decide notebook)."""
    from IPython.display import Markdown, display


    display(Markdown(f"### {d.workload}\n\n**{d.summary()}**  \n"
                     f"Primary metric `{d.metric}`, floor {d.floor}; privacy: {d.privacy}."))
    display(figures.cost_curves(d))
    display(figures.quality_vs_cost(d))
    cols = ["option", "kind", "feasible", "reason", "usd_per_month", "usd_per_request", "replicas",
            "quality", "quality_ci_low", "quality_provenance", "latency_ok", "privacy_ok", "provenance"]
    display(d.table[[c for c in cols if c in d.table]].style.format(precision=4).hide(axis="index"))
    if len(d.win_ranges):
        display(Markdown("Volume ranges (requests/month) in which each feasible option is cheapest:"))
        display(d.win_ranges.style.format(precision=0, thousands=",").hide(axis="index"))


def notes(ctx) -> None:
    """What a :class:`workbench.decide.pipeline.DecisionSet` rests on (its inputs, each
    workload's answer and notes, left-out runs among them), as Markdown."""
    from IPython.display import Markdown, display

    display(Markdown("\n".join(ctx.notes())))


# ----------------------------------------------------------------------------- GPU sweeps
GPU_COLUMNS = ["arch", "layers", "stage", "load_point", "concurrency", "completed", "failed", "output_tokens_per_s",
               "p50_ttft_ms", "p99_ttft_ms", "p50_tpot_ms", "p99_tpot_ms", "max_mem_used_gib", "mean_power_w",
               "energy_j_per_token", "bound_output_tokens_per_s", "pct_of_bound", "gpu", "engine", "run_id"]


def gpu_measurements(results):
    """One row per measured point of the stored GPU sweeps (``benchmarks/gpu/run_gpu_sweep.py``:
    random-weight models, ``gpu-offline`` and ``load`` runs): throughput, TTFT/TPOT p50/p99,
    memory, power, J/token and the roofline bound with the % of it reached, all as the run
    recorded them, plus where they came from (``provenance``). Empty when none are stored."""
    import pandas as pd

    runs = results.runs if results is not None else pd.DataFrame()
    if not len(runs) or "weights" not in runs:
        return pd.DataFrame(columns=GPU_COLUMNS + ["provenance"])
    sel = runs[(runs.weights == RANDOM_WEIGHTS) & runs.kind.isin(["load", "gpu-offline"])
               & runs.status.isin(EVIDENCE_STATUSES)]
    rows = [row for run in sel.sort_values(["model", "started_at"]).itertuples() for row in _gpu_rows(run)]
    return pd.DataFrame(rows).reindex(columns=GPU_COLUMNS + ["provenance"])


def _gpu_rows(run) -> list[dict]:
    """The rows of one stored GPU run: each point with its bound recomputed and its provenance."""
    params = RunParams.of(run.params)
    summary = run.summary if isinstance(run.summary, dict) else {}
    host = run.host if isinstance(run.host, dict) else {}
    driver = next((g.get("driver") for g in host.get("gpus") or [] if g.get("driver")), "?")
    provenance = (f"measured (run {run.run_id}: random weights, {run.engine} {run.engine_version} "
                  f"continuous batching, {run.dtype}, {run.hardware}, driver {driver}); bound "
                  f"projected ({summary.get('bound_label', 'roofline')})")
    offline = run.kind == "gpu-offline"
    return [{**{k: pt.get(k) for k in GPU_COLUMNS if k in pt},
             "arch": run.model, "stage": "offline ceiling" if offline else "served",
             "layers": f"{params.layers} of {params.full_layers}" if params.layers and params.full_layers else "",
             "gpu": run.hardware, "engine": f"{run.engine} {run.engine_version or ''}".strip(), "run_id": run.run_id,
             "concurrency": params.offline_prompts if offline else pt.get("concurrency"), "provenance": provenance}
            for pt in _rebound(summary.get("points") or [], run, params)]


def _rebound(points: list[dict], run, params: RunParams) -> list[dict]:
    """The points with their roofline bound and % of it computed now (``workbench.project.gpu_bound.with_roofline``
    on the run's model config and GPU), so a stored bound from an older roofline never shows."""
    import pandas as pd


    host = run.host if isinstance(run.host, dict) else {}
    hw = gpu_bound.projection_hardware(host) if host.get("gpus") else None
    if not points or not params.model_config or hw is None:
        return points
    df = gpu_bound.with_roofline(pd.DataFrame(points), params.model_config, hw, run.dtype or "bfloat16",
                                offline_concurrency=params.offline_prompts)
    return df.to_dict("records")


def gpu(ctx) -> None:
    """The decide notebook's GPU section, from the inputs of its decisions (``ctx``, a
    pipeline.DecisionSet): the sweep figure (measured vs bound), the per-point table and the
    roofline calibrated on these runs (the fits the decisions used); one line when none are stored."""
    from IPython.display import Markdown, display


    df = gpu_measurements(ctx.results)
    if not len(df):
        display(Markdown("No GPU sweep stored. `benchmarks/gpu/README.md` gives the one command that measures them."))
        return
    gpus = ", ".join(sorted(set(df.gpu.dropna())))
    display(Markdown(f"{df.run_id.nunique()} runs on {gpus}: {', '.join(sorted(set(df.arch)))}. "
                     f"Every point carries its provenance, e.g. *{df.provenance.iloc[0]}*."))
    display(figures.gpu_sweep(df))
    cols = [c for c in GPU_COLUMNS if c not in ("gpu", "engine", "failed")]
    display(df[cols].style.format(precision=1, thousands=",").format(
        {"energy_j_per_token": "{:.3f}"}).hide(axis="index"))
    display(Markdown("**Roofline calibrated on these runs** (fitted per engine × GPU, leave-one-out error):\n\n"
                     + gpu_calibration(ctx.fits)))


def gpu_calibration(fits: dict | None) -> str:
    """The roofline fitted to the stored GPU sweeps (:func:`calibration_fits`), per engine × GPU,
    in words."""
    if not fits:
        return "no GPU load sweep stored: nothing to calibrate"
    return "\n".join(f"- {e} on {h}: bandwidth utilization {f.eff.mbu:.2f}, compute utilization {f.eff.mfu:.2f}, "
                     f"per-step overhead {f.eff.step_overhead_s * 1e3:.1f} ms + {f.eff.layer_overhead_s * 1e3:.2f} ms per layer "
                     f"— {f.eff.label}" for (e, h), f in fits.items())
