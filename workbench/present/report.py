"""Reports: execute the parameterized notebooks with papermill and render them to standalone,
offline HTML (plotly.js inlined once, code cells hidden) under ``reports/``.

``workbench report [--param k=v …] [--live]`` runs ``notebooks/decide.ipynb`` (with ``--live``,
``measure.ipynb`` and ``evaluate.ipynb`` first) and prints the path of the HTML.

Why the renderer matters: under papermill plotly's default renderer is ``plotly_mimetype``,
which nbconvert drops silently (figures vanish from the HTML). The kernel gets
``PLOTLY_RENDERER=plotly_mimetype+notebook`` in its environment and every notebook's first cell
calls :func:`workbench.present.show.setup`, so each figure carries both the MIME bundle
(JupyterLab) and HTML with plotly.js inlined once (nbconvert, offline browsers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from ..decide.parameters import validate
from ..errors import WorkbenchError
from ..paths import REPO_DIR
from ..results.store import assert_no_secrets

NOTEBOOKS_DIR = REPO_DIR / "notebooks"
RENDERER = "plotly_mimetype+notebook"
KERNEL = "python3"  # papermill maps it to the running interpreter (jupyter_client), no registration


class ReportError(WorkbenchError, RuntimeError):
    pass


def reports_dir() -> Path:
    """``$WORKBENCH_REPORTS_DIR``, else ``reports/`` in the checkout (gitignored)."""
    return Path(os.environ.get("WORKBENCH_REPORTS_DIR") or REPO_DIR / "reports")


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
    (bool), a value outside what the parameter accepts (workbench.decide.parameters), and — first, so
    that no message repeats it — anything that looks like an API key."""

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


_REMOTE_SCRIPT = re.compile(r'<script\b[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*', re.IGNORECASE)
"""A script loaded from elsewhere: nbconvert's page adds require.js and MathJax from a CDN, and
plotly's notebook renderer a MathJax tag per figure. None is needed (plotly.js is inline, the
figures use no LaTeX), and a report read offline must not tell a third party it was opened."""


def to_html(executed: str | Path, html: str | Path | None = None) -> Path:
    """Standalone HTML without code cells that makes no network request when opened: figures
    carry plotly.js inline (see module doc) and every script tag with a remote ``src`` is left
    out (:data:`_REMOTE_SCRIPT`)."""
    import nbformat
    from nbconvert import HTMLExporter

    executed = Path(executed)
    html = Path(html) if html else executed.with_suffix(".html")
    nb = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    html.write_text(_REMOTE_SCRIPT.sub("", body), encoding="utf-8")
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
