"""``workbench import``: other tools' result files into the results store, so they are priced
and compared beside our own runs.

One run per load point of each file (kind ``load``; lm-eval files: one run of kind ``lm-eval``
holding quality evidence), with provenance ``measured (imported: <tool> <version>, <file>,
sha256 <hash>)``. A run keeps the file's per-request records as REQUESTS rows when the file has
them, and the file's own aggregates in ``summary.points`` always (``summary.source`` says which
the metrics code uses: "requests" or "aggregates"; :func:`load_points`). Deployment facts come
from ``--target`` (targets.yaml) or ``--deployment k=v,...``, so the decision prices the run
from the catalog as it prices ours.

Every file is read and checked before anything is written; each run is written into
``<root>/.importing/`` and renamed into place whole, so a bad or cut-off file leaves nothing
in the store. The same file imported twice (same sha256) is a no-op with a note.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import fields
from pathlib import Path

from ..errors import WorkbenchError
from ..inputs.targets import Deployment, get_target
from ..paths import default_results_dir
from . import import_formats as fm
from . import import_more
from .store import RunWriter, find_run_dirs, mirror_run

SHORT = {"vllm bench serve": "vllm-bench", "guidellm": "guidellm", "aiperf": "aiperf",
         "inference-perf": "inference-perf", "llmperf": "llmperf", "lm-eval": "lm-eval"}
STAGING = ".importing"
"""Folder under the results root where runs are written before they are renamed into place
(one level deeper than run directories, so the store never lists a half-written import)."""


class ImportError_(WorkbenchError, ValueError):
    """A file that cannot be imported; the message names the file and what is wrong."""


# ----------------------------------------------------------------------------- reading
def _load_json(path: Path, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as first:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) > 1:  # JSON Lines (vllm bench serve --append-result)
            try:
                return [json.loads(ln) for ln in lines]
            except json.JSONDecodeError:
                pass
        raise ImportError_(f"{path}: not valid JSON or JSON Lines (truncated? {first.msg} at line "
                           f"{first.lineno})") from None


def read(path: str | Path) -> tuple[fm.Imported, str]:
    """The file's contents as :class:`import_formats.Imported`, and its sha256. Raises
    ImportError_ naming the file for an unknown, truncated or wrong-version file."""
    path = Path(path)
    if path.is_dir():
        path = _pick_in_dir(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ImportError_(f"{path}: cannot read ({e.strerror})") from None
    sha = hashlib.sha256(raw).hexdigest()
    doc = _load_json(path, raw.decode("utf-8", errors="replace"))
    try:
        return _dispatch(path, doc), sha
    except fm.ImportFormatError as e:
        raise ImportError_(f"{path}: {e}") from None
    except (KeyError, TypeError, IndexError, ValueError) as e:
        raise ImportError_(f"{path}: a field is missing or malformed ({type(e).__name__}: {e}); "
                           "truncated, or another version of the format") from None


def _dispatch(path: Path, doc) -> fm.Imported:
    docs = doc if isinstance(doc, list) else [doc]
    if docs and all(fm.is_vllm(d) for d in docs):
        return fm.read_vllm(docs)
    if fm.is_guidellm(doc):
        return fm.read_guidellm(doc)
    if fm.is_aiperf(doc):
        jsonl = path.with_name("profile_export.jsonl")
        rows = [json.loads(ln) for ln in jsonl.read_text(encoding="utf-8").splitlines() if ln.strip()] \
            if jsonl.is_file() else None
        return fm.read_aiperf(doc, rows)
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "metrics" in doc[0] and "metadata" in doc[0]:
        raise fm.ImportFormatError("aiperf per-request records: import profile_export_aiperf.json "
                                   "(it takes these rows from beside it)")
    other = import_more.dispatch(path, doc)
    if other is not None:
        return other
    raise fm.ImportFormatError("unknown format: not vllm bench serve, guidellm, aiperf, inference-perf, "
                               "llmperf or lm-eval results")


def _pick_in_dir(d: Path) -> Path:
    for name in ("profile_export_aiperf.json", "benchmarks.json", "summary_lifecycle_metrics.json",
                 "stage_0_lifecycle_metrics.json"):
        if (d / name).is_file():
            return d / name
    raise ImportError_(f"{d}: a folder with no result file this command knows; name the file")


# ----------------------------------------------------------------------------- deployment
def parse_deployment(text: str) -> dict:
    """``instance=g5.xlarge,accelerator=A10G,count=1,engine=vllm,dtype=bf16`` → a checked
    dict of :class:`workbench.inputs.targets.Deployment` fields."""
    known = {f.name for f in fields(Deployment)}
    out: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in known:
            raise ImportError_(f"--deployment: {part!r} is not k=v with k one of {', '.join(sorted(known))}")
        out[key.strip()] = int(value) if key.strip() == "count" else value.strip()
    return {k: v for k, v in Deployment(**out).__dict__.items() if v is not None}


def deployment_for(target: str | None, deployment: str | dict | None) -> tuple[str, dict | None]:
    """(name, deployment facts) from a target name and/or a ``--deployment`` string (which wins)."""
    dep: dict | None = None
    name = target or "imported"
    if target:
        dep = {k: v for k, v in get_target(target).deployment.__dict__.items() if v is not None}
    if deployment:
        extra = parse_deployment(deployment) if isinstance(deployment, str) else dict(deployment)
        dep = {**(dep or {}), **extra}
    return name, dep


# ----------------------------------------------------------------------------- writing
def imported_shas(root: Path) -> dict[str, str]:
    """sha256 of every file already imported under ``root`` → one run id it became."""
    out = {}
    for d in find_run_dirs(root):
        try:
            meta = json.loads((d / "run.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        imp = (meta.get("params") or {}).get("imported") or {}
        if imp.get("sha256"):
            out.setdefault(imp["sha256"], meta["run_id"])
    return out


def import_files(paths, *, target: str | None = None, deployment: str | dict | None = None,
                 root: str | Path | None = None) -> tuple[list[str], list[str]]:
    """Import each file (see the module docstring). Returns (new run ids, notes). Reads and
    checks every file first: one bad file raises ImportError_ and nothing is written."""
    root = Path(root) if root is not None else default_results_dir()
    name, dep = deployment_for(target, deployment)
    parsed = [(Path(p), *read(p)) for p in paths]
    seen = imported_shas(root)
    run_ids, notes = [], []
    if dep is None:
        notes.append("no --target or --deployment: the runs are not priced until they name what they ran on")
    for path, imp, sha in parsed:
        if sha in seen:
            notes.append(f"{path.name}: already imported (sha256 {sha[:12]}…, run {seen[sha]}): nothing written")
            continue
        ids = _write(root, path, imp, sha, name, dep)
        seen[sha] = ids[0]
        run_ids.extend(ids)
        notes.append(f"{path.name}: {imp.tool} {imp.tool_version} → {len(ids)} run(s) "
                     f"({'per-request rows' if any(p.rows for p in imp.points) else 'aggregates only' if imp.points else 'quality evidence'})")
    return run_ids, notes


def _provenance(imp: fm.Imported, path: Path, sha: str) -> str:
    return f"measured (imported: {imp.tool} {imp.tool_version}, {path.name}, sha256 {sha[:12]}…)"


def _write(root: Path, path: Path, imp: fm.Imported, sha: str, name: str, dep: dict | None) -> list[str]:
    """Write the runs of one file into the staging folder, then rename each into ``root``."""
    stage = root / STAGING
    stage.mkdir(parents=True, exist_ok=True)
    target = f"{name}:{SHORT.get(imp.tool, imp.tool)}"
    imported = {"tool": imp.tool, "version": imp.tool_version, "format": imp.format, "file": path.name, "sha256": sha}
    common = dict(target=target, engine=(dep or {}).get("engine") or "external", model=imp.model, root=stage,
                  host={}, hardware=(dep or {}).get("accelerator") or "unknown", deployment=dep,
                  hardware_count=(dep or {}).get("count"), dtype=(dep or {}).get("dtype"))
    written: list[Path] = []
    try:
        if imp.evidence:
            written.append(_write_one(kind="lm-eval", params={**imp.params, "imported": imported},
                                      summary={"evidence": imp.evidence}, rows=None, imp=imp, path=path, sha=sha, **common))
        for i, p in enumerate(imp.points):
            params = {**imp.params, "imported": {**imported, "point": i, "points": len(imp.points)},
                      "profile": p.label}
            summary = {"source": "requests" if p.rows else "aggregates",
                       "points": [{"load_point": p.label, "concurrency": p.concurrency,
                                   "request_rate": p.request_rate, **p.aggregates}], "native": p.native}
            written.append(_write_one(kind="load", params=params, summary=summary, rows=p.rows, imp=imp,
                                      path=path, sha=sha, **common))
        for d in written:
            os.replace(d, root / d.name)
    except BaseException:
        for d in written:
            shutil.rmtree(d, ignore_errors=True)
        raise
    for d in written:  # the Parquet copy is made where the run ends up, not in the staging folder
        mirror_run(root / d.name)
    return [d.name for d in written]


def _write_one(*, kind, params, summary, rows, imp, path, sha, **common) -> Path:
    w = RunWriter(kind=kind, params=params, provenance=_provenance(imp, path, sha), **common)
    if imp.started_at:
        w.update(started_at=imp.started_at)
    if rows:
        w.extend("requests", rows)
    pts = summary.get("points") or [{}]
    failed, done = pts[0].get("failed") or 0, pts[0].get("completed") or 0
    status = "degraded" if done + failed and failed / (done + failed) > 0.05 else "completed"
    w.finish(status, summary=summary, mirror=False)
    if imp.started_at:
        w.update(started_at=imp.started_at)
    return w.dir


# ----------------------------------------------------------------------------- reading back
def load_points(run, requests, slo: dict | None = None):
    """The load points of a stored run, one row each (``metrics.summarize`` columns): from its
    request rows when it has them, else from the aggregates an imported run carries in
    ``summary.points`` (which cannot be re-cut at another SLO: goodput is NaN there)."""
    import pandas as pd

    from ..measure.metrics import summarize

    if requests is not None and len(requests):
        return summarize(requests, slo)
    summary = run.get("summary") if isinstance(run.get("summary"), dict) else {}
    pts = summary.get("points") or []
    return pd.DataFrame([{**p, "run_id": run.get("run_id")} for p in pts])


def sweep_points(results, run, slo: dict | None = None):
    """The load points of ``run`` as a sweep: an imported run's points together with those of the
    other runs imported from the same file (one run per load point), else :func:`load_points`."""
    import pandas as pd

    run = run if isinstance(run, dict) else run.to_dict()
    params = run.get("params") if isinstance(run.get("params"), dict) else {}
    sha = (params.get("imported") or {}).get("sha256")
    if not sha:
        return load_points(run, results.requests_of(run["run_id"]), slo)
    same = [r for r in results.runs.to_dict("records")
            if ((r.get("params") or {}).get("imported") or {}).get("sha256") == sha and r.get("kind") == "load"]
    frames = [load_points(r, results.requests_of(r["run_id"]), slo) for r in same]
    return pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else pd.DataFrame()


def quality_evidence(results, workload_name: str) -> list[dict]:
    """lm-eval results in the store, each with ``evidence``: "workload" when its task is this
    workload, else "related-task" (never this workload's metric), and the run it came from."""
    if results is None or not len(results.runs):
        return []
    out = []
    for run in results.runs[results.runs.kind == "lm-eval"].to_dict("records"):
        for ev in (run.get("summary") or {}).get("evidence") or []:
            level = "workload" if ev.get("task") == workload_name else "related-task"
            out.append({**ev, "evidence": level, "model": run.get("model"), "target": run.get("target"),
                        "run_id": run.get("run_id")})
    return out


def evidence_note(ev: dict) -> str:
    """One line for a quality-evidence record, with its label and level."""
    err = f" ± {ev['stderr']:.3f}" if ev.get("stderr") is not None else ""
    shot = f"{ev['n_shot']}-shot " if ev.get("n_shot") is not None else ""
    filt = f" ({ev['filter']})" if ev.get("filter") and ev["filter"] != "none" else ""
    what = ("evidence on this workload's own items" if ev["evidence"] == "workload"
            else "related-task evidence, not this workload's metric")
    return (f"{ev['model']}: {ev['task']} {shot}{ev['metric']}{filt} = {ev['value']:.3f}{err}, "
            f"n={ev.get('n_samples')} — {ev['label']} (run {ev['run_id']}); {what}")


def imported_label(run) -> str | None:
    """"imported: <tool> <version>, <file>" for an imported run, else None."""
    imp = (run.get("params") or {}).get("imported") if isinstance(run.get("params"), dict) else None
    return f"imported: {imp['tool']} {imp['version']}, {imp['file']}" if imp else None


# ----------------------------------------------------------------------------- command line
def add_cli_arguments(p) -> None:
    p.add_argument("paths", nargs="+", help="result files (vllm bench serve JSON, guidellm benchmarks.json, "
                   "aiperf profile_export_aiperf.json, inference-perf reports, llmperf *_summary.json, "
                   "lm-eval results_*.json)")
    p.add_argument("--target", default=None, help="the target (targets.yaml) the tool measured: its deployment prices the runs")
    p.add_argument("--deployment", default=None, help="what it ran on, e.g. instance=g5.xlarge,accelerator=A10G,count=1,"
                   "engine=vllm,dtype=bf16 (overrides the target's)")
    p.add_argument("--results-root", default=None, help="where the runs go (default: results/)")


def cli(args) -> int:
    ids, notes = import_files(args.paths, target=args.target, deployment=args.deployment, root=args.results_root)
    for n in notes:
        print(n)
    for i in ids:
        print(f"run {i}")
    return 0
