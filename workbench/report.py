"""Reports: execute the parameterized notebooks with papermill and render them to standalone,
offline HTML (plotly.js inlined once, code cells hidden) under ``reports/``.

``workbench report [--param k=v …] [--live]`` runs ``notebooks/decide.ipynb`` (with ``--live``,
``measure.ipynb`` and ``evaluate.ipynb`` first) and prints the path of the HTML.

Why the renderer matters: under papermill plotly's default renderer is ``plotly_mimetype``,
which nbconvert drops silently (research/jupyter.md §2). The kernel gets
``PLOTLY_RENDERER=plotly_mimetype+notebook`` in its environment and every notebook's first cell
calls :func:`setup_notebook`, so each figure carries both the MIME bundle (JupyterLab) and
HTML with plotly.js inlined once (nbconvert, offline browsers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from .errors import WorkbenchError
from .schema import EVIDENCE_STATUSES, RunParams
from .paths import REPO_DIR

NOTEBOOKS_DIR = REPO_DIR / "notebooks"
RENDERER = "plotly_mimetype+notebook"
KERNEL = "python3"  # papermill maps it to the running interpreter (jupyter_client), no registration


class ReportError(WorkbenchError, RuntimeError):
    pass


def reports_dir() -> Path:
    """``$WORKBENCH_REPORTS_DIR``, else ``reports/`` in the checkout (gitignored)."""
    return Path(os.environ.get("WORKBENCH_REPORTS_DIR") or REPO_DIR / "reports")


# ----------------------------------------------------------------------------- inside the kernel
def setup_notebook(notebook: str | None = None, namespace: dict | None = None) -> None:
    """First cell of every notebook: its parameters (``namespace``: the notebook's ``globals()``)
    checked against what ``notebook`` accepts (workbench.parameters), figures that render in
    JupyterLab *and* in nbconvert HTML (offline: plotly.js inlined once), wide tables."""
    import pandas as pd
    import plotly.io as pio

    if notebook is not None and namespace is not None:
        from .parameters import validate_namespace

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


def show_decision(decision) -> None:
    """Display one workload's answer: summary, cost curves, quality vs cost, placement table
    and win ranges (for the decide notebook)."""
    from IPython.display import Markdown, display

    from . import figures

    display(Markdown(f"### {decision.workload}\n\n**{decision.summary()}**  \n"
                     f"Primary metric `{decision.metric}`, floor {decision.floor}; privacy: {decision.privacy}."))
    display(figures.cost_curves(decision))
    display(figures.quality_vs_cost(decision))
    cols = ["option", "kind", "feasible", "reason", "usd_per_month", "usd_per_request", "replicas",
            "quality", "quality_ci_low", "quality_provenance", "latency_ok", "privacy_ok", "provenance"]
    display(decision.table[[c for c in cols if c in decision.table]].style.format(precision=4).hide(axis="index"))
    if len(decision.win_ranges):
        display(Markdown("Volume ranges (requests/month) in which each feasible option is cheapest:"))
        display(decision.win_ranges.style.format(precision=0, thousands=",").hide(axis="index"))


def show_notes(ctx) -> None:
    """What a :class:`workbench.pipeline.DecisionSet` rests on (its inputs, each workload's answer
    and notes, left-out runs among them), as Markdown."""
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
    sel = runs[(runs.weights == "random weights") & runs.kind.isin(["load", "gpu-offline"])
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
    """The points with their roofline bound and % of it computed now (``workbench.gpubound.with_roofline``
    on the run's model config and GPU), so a stored bound from an older roofline never shows."""
    import pandas as pd

    from . import gpubound

    host = run.host if isinstance(run.host, dict) else {}
    hw = gpubound.projection_hardware(host) if host.get("gpus") else None
    if not points or not params.model_config or hw is None:
        return points
    df = gpubound.with_roofline(pd.DataFrame(points), params.model_config, hw, run.dtype or "bfloat16",
                                offline_concurrency=params.offline_prompts)
    return df.to_dict("records")


def show_gpu(ctx) -> None:
    """The decide notebook's GPU section, from the inputs of its decisions (``ctx``, a
    pipeline.DecisionSet): the sweep figure (measured vs bound), the per-point table and the
    roofline calibrated on these runs (the fits the decisions used); one line when none are stored."""
    from IPython.display import Markdown, display

    from . import figures

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
                     f"per-step overhead {f.eff.step_overhead_s * 1e3:.1f} ms — {f.eff.label}" for (e, h), f in fits.items())


# ----------------------------------------------------------------------------- executing
def parse_params(pairs: list[str] | None) -> dict:
    """``["k=v", ...]`` → dict; values parsed as YAML (numbers, true/false, null, [lists])."""
    import yaml

    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise ReportError(f"--param {p!r}: expected key=value")
        k, v = p.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
        except yaml.YAMLError as e:
            raise ReportError(f"--param {p!r}: value is not valid YAML ({e})") from e
    return out


def notebook_parameters(notebook: str | Path) -> dict:
    """{name: default} of the notebook's ``parameters`` cell (literal defaults only)."""
    import ast
    import json

    cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    cell = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    defaults = {}
    for node in ast.parse("".join(cell["source"])).body if cell else []:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError, SyntaxError):
                defaults[node.targets[0].id] = ast.literal_eval(node.value)
    return defaults


def check_parameters(notebook: str | Path, parameters: dict, *, allow_unknown: bool = False) -> None:
    """Refuse, before any kernel starts, a parameter the notebook's ``parameters`` cell does not
    define (unless ``allow_unknown``), a non-number (non-bool) for one whose default is a number
    (bool), a value outside what the parameter accepts (workbench.parameters), and — first, so
    that no message repeats it — anything that looks like an API key."""
    from .store import assert_no_secrets

    assert_no_secrets(parameters, f"parameters of {Path(notebook).name} (keys come from api_key_env variables)")
    defaults = notebook_parameters(notebook)
    for k, v in parameters.items():
        if k not in defaults and allow_unknown:
            continue
        if k not in defaults:
            raise ReportError(f"{notebook}: parameter {k!r} (value {v!r}): unknown; "
                              f"the notebook's parameters are {', '.join(defaults)}")
        d = defaults[k]
        if v is None:  # "none/all" is a legitimate value for many parameters
            continue
        if isinstance(d, bool) and not isinstance(v, bool) or (
                isinstance(d, (int, float)) and not isinstance(d, bool)
                and (isinstance(v, bool) or not isinstance(v, (int, float)))):
            raise ReportError(f"{notebook}: parameter {k!r}: must be {type(d).__name__} like its default "
                              f"{d!r}, got {v!r}")
    from .parameters import validate

    validate(notebook, parameters)


def execute(notebook: str | Path, parameters: dict | None = None, *, out_dir: str | Path | None = None,
            timeout_s: float = 600, stamp: str | None = None, allow_unknown: bool = False) -> Path:
    """Run a notebook with papermill (kernel ``python3`` = this interpreter) into ``out_dir``.
    Returns the executed notebook's path. A failing cell raises ReportError naming the cell;
    the partial notebook is kept."""
    import papermill as pm

    src = Path(notebook)
    if not src.suffix:
        src = NOTEBOOKS_DIR / f"{src}.ipynb"
    if not src.is_file():
        raise ReportError(f"{src}: no such notebook (notebooks are in {NOTEBOOKS_DIR})")
    check_parameters(src, parameters or {}, allow_unknown=allow_unknown)
    out_dir = Path(out_dir) if out_dir else reports_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    out = out_dir / f"{src.stem}-{stamp}.ipynb"
    os.environ.setdefault("PLOTLY_RENDERER", RENDERER)  # inherited by the kernel
    try:
        pm.execute_notebook(str(src), str(out), parameters=parameters or {}, kernel_name=KERNEL,
                            progress_bar=False, cwd=str(REPO_DIR), execution_timeout=timeout_s,
                            start_timeout=120)
    except pm.PapermillExecutionError as e:
        raise ReportError(f"{src.name}: cell {e.cell_index} failed: {e.ename}: {e.evalue} "
                          f"(partial notebook: {out})") from None
    return out


def to_html(executed: str | Path, html: str | Path | None = None) -> Path:
    """Standalone HTML without code cells. Figures carry plotly.js inline (see module doc), so
    the page renders with networking off."""
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    html = Path(html) if html else executed.with_suffix(".html")
    nb = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    html.write_text(body, encoding="utf-8")
    return html


def run_report(parameters: dict | None = None, *, live: bool = False, live_parameters: dict | None = None,
               out_dir: str | Path | None = None, timeout_s: float = 600, notebook: str = "decide") -> dict:
    """The main job: (with ``live``) execute measure and evaluate, then ``notebook`` (decide);
    write the executed notebook and its HTML. Returns {"html", "notebook", "seconds", "live": [...]}."""
    t0 = time.perf_counter()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    done = []
    if live:
        known = {k for nb in ("measure", "evaluate") for k in notebook_parameters(NOTEBOOKS_DIR / f"{nb}.ipynb")}
        for k in set(live_parameters or {}) - known:
            raise ReportError(f"--live-param {k}: unknown; measure.ipynb and evaluate.ipynb take {', '.join(sorted(known))}")
        for nb in ("measure", "evaluate"):
            done.append(str(execute(nb, live_parameters or {}, out_dir=out_dir, timeout_s=timeout_s, stamp=stamp,
                                    allow_unknown=True)))
    executed = execute(notebook, parameters, out_dir=out_dir, timeout_s=timeout_s, stamp=stamp)
    html = to_html(executed)
    return {"html": str(html), "notebook": str(executed), "seconds": time.perf_counter() - t0, "live": done}


# ----------------------------------------------------------------------------- CLI
def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the decide notebook (YAML value), e.g. route_fraction=0.3 "
                        "or workloads=[ticket-classification]")
    p.add_argument("--live", action="store_true",
                   help="run notebooks/measure.ipynb and evaluate.ipynb first (measure against the targets)")
    p.add_argument("--live-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the measure/evaluate notebooks (with --live)")
    p.add_argument("--notebook", default="decide", help="notebook to run (default: decide; also claims)")
    p.add_argument("--out", default=None, help="output directory (default: reports/)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per cell (default 600)")


def cli(args) -> int:
    r = run_report(parse_params(args.param), live=args.live, live_parameters=parse_params(args.live_param),
                   out_dir=args.out, timeout_s=args.timeout, notebook=args.notebook)
    for nb in r["live"]:
        print(f"live run notebook: {nb}")
    print(f"executed notebook: {r['notebook']}")
    print(f"report ({r['seconds']:.1f} s): {r['html']}")
    return 0
