"""Results store: one directory per run, append-only JSON Lines tables, tidy DataFrames on load.

Layout of a run directory::

    <root>/<run_id>/run.json        run metadata (RUNS schema); rewritten atomically
    <root>/<run_id>/requests.jsonl  one line per finished request (REQUESTS schema)
    <root>/<run_id>/samples.jsonl   telemetry samples (SAMPLES schema)
    <root>/<run_id>/items.jsonl     scored workload items (ITEMS schema)

Rows are written and flushed as they happen, so a crash or Ctrl-C loses at most the row
being written. When a run finishes, its row tables are also written as Parquet under
``<root>/parquet/`` (:mod:`workbench.results.columnar`), which :func:`load` reads where it is
up to date. Runs from other machines merge by copying their directories under a root.
Secrets never enter a run: parameters are checked for values that look like keys.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from .. import __version__
from ..errors import WorkbenchError
from ..hardware import host_facts
from ..paths import REPO_DIR, default_results_dir, reference_results_dir
from .schema import SCHEMA_VERSION, TABLES, check_frame

ROW_TABLES = ("requests", "samples", "items")
_SECRET_RE = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{20,}|Bearer\s+\S{12,})")


class StoreError(WorkbenchError, RuntimeError):
    pass


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _json_default(o: Any):
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _dumps(obj: Any) -> str:
    text = json.dumps(obj, default=_json_default, allow_nan=True, separators=(",", ":"))
    return text


def assert_no_secrets(obj: Any, where: str = "run") -> None:
    """Refuse to write anything that looks like an API key, or the value of a key variable."""
    text = obj if isinstance(obj, str) else _dumps(obj)
    if _SECRET_RE.search(text):
        raise StoreError(f"refusing to write what looks like an API key into the {where}")
    for name, value in os.environ.items():
        if value and len(value) >= 12 and name.endswith(("_API_KEY", "_TOKEN", "_SECRET")) and value in text:
            raise StoreError(f"refusing to write the value of ${name} into the {where}")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def new_run_id(kind: str, target: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", target)[:40]
    return f"{stamp}-{kind}-{safe}-{secrets.token_hex(3)}"


class RunWriter:
    """Writes one run. Use as a context manager; rows are flushed as they are appended.

    ``run.json`` carries ``schema_version`` and, when given, the ``deployment`` the run was
    measured on (a dict of :class:`workbench.inputs.targets.Deployment`'s fields), so that later
    stages price it from the run and the catalog alone.

    >>> with RunWriter(kind="load", target="local-vllm", engine="vllm", model="m",
    ...                hardware="cpu", params={"concurrency": [1, 2]}) as run:  # doctest: +SKIP
    ...     run.append("requests", {...})
    """

    def __init__(self, *, kind: str, target: str, engine: str, model: str, params: dict | None = None,
                 root: str | Path | None = None, **meta: Any):
        """``meta``: other RUNS columns (hardware, host, deployment, dtype, workload, ...);
        ``host`` defaults to this machine's facts and ``hardware`` to its accelerator or CPU."""
        self.root = Path(root) if root is not None else default_results_dir()
        self.run_id = new_run_id(kind, target)
        self.dir = self.root / self.run_id
        self.dir.mkdir(parents=True, exist_ok=False)
        host = meta.pop("host", None)
        host = host if host is not None else host_facts()
        hardware = meta.pop("hardware", None) or host.get("accelerator") or host.get("cpu_model") or "unknown"
        self.meta: dict[str, Any] = {
            "run_id": self.run_id, "schema_version": SCHEMA_VERSION, "kind": kind, "status": "running",
            "provenance": "measured", "target": target, "engine": engine, "model": model, "hardware": hardware,
            "started_at": _now_iso(), "ended_at": None, "workbench_version": __version__,
            "git_commit": git_commit(), "host": host, "params": params or {}, "summary": None,
            "deployment": meta.pop("deployment", None),
        }
        self.meta.update(meta)
        assert_no_secrets(self.meta, "run metadata")
        self.t0 = time.perf_counter()
        """Clock origin of the run: every ``*_s`` time in its rows is perf_counter() - t0."""
        self._files: dict[str, Any] = {}
        self._write_meta()

    # -- clock -----------------------------------------------------------------------
    def now_s(self) -> float:
        return time.perf_counter() - self.t0

    # -- rows ------------------------------------------------------------------------
    def append(self, table: str, row: dict) -> None:
        self.extend(table, (row,))

    def extend(self, table: str, rows: Iterable[dict]) -> None:
        if table not in ROW_TABLES:
            raise StoreError(f"unknown table {table!r}; tables are {ROW_TABLES}")
        f = self._files.get(table)
        if f is None:
            f = self._files[table] = open(self.dir / f"{table}.jsonl", "a", encoding="utf-8")
        lines = []
        for row in rows:
            lines.append(_dumps({"run_id": self.run_id, **row}) + "\n")
        if lines:
            f.write("".join(lines))
            f.flush()

    # -- metadata --------------------------------------------------------------------
    def update(self, **fields: Any) -> None:
        assert_no_secrets(fields, "run metadata")
        self.meta.update(fields)
        self._write_meta()

    def _write_meta(self) -> None:
        _write_meta(self.dir, self.meta)

    def finish(self, status: str = "completed", summary: dict | None = None, *, mirror: bool = True) -> None:
        """Close the run with ``status``; ``mirror``: write its Parquet copy now (False for a run
        written in a staging folder and moved afterwards: its copy is made where it ends up)."""
        for f in self._files.values():
            f.close()
        self._files.clear()
        fields: dict[str, Any] = {"status": status, "ended_at": _now_iso()}
        if summary is not None:
            fields["summary"] = summary
        self.update(**fields)
        if mirror:
            mirror_run(self.dir, self.meta)

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.meta["status"] != "running":
            return
        if exc_type is None:
            self.finish("completed")
        elif issubclass(exc_type, (KeyboardInterrupt, GeneratorExit)) or exc_type.__name__ == "CancelledError":
            self.finish("interrupted")
        else:
            self.finish("failed", summary={**(self.meta.get("summary") or {}), "error": f"{exc_type.__name__}: {exc}"})


def _write_meta(run_dir: Path, meta: dict) -> None:
    """Rewrite ``run.json`` atomically (write, then rename): a reader never sees half of it."""
    tmp = run_dir / "run.json.tmp"
    tmp.write_text(json.dumps(meta, default=_json_default, indent=1), encoding="utf-8")
    os.replace(tmp, run_dir / "run.json")


def amend_run(run_dir: str | Path, *, params: dict | None = None, summary: dict | None = None,
              **fields: Any) -> dict:
    """Add to a finished run's metadata: ``fields`` replace keys (e.g. weights, model);
    ``params`` and ``summary`` are merged into the run's own. Checked for secrets, rewritten
    atomically; returns the new metadata."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    meta.update(fields)
    if params:
        meta["params"] = {**(meta.get("params") or {}), **params}
    if summary:
        meta["summary"] = {**(meta.get("summary") or {}), **summary}
    assert_no_secrets(meta, "run metadata")
    _write_meta(run_dir, meta)
    return meta


def mirror_run(run_dir: str | Path, meta: dict | None = None) -> bool:
    """Write a finished run's rows as Parquet too (:mod:`workbench.results.columnar`).
    JSON Lines stays the record: when the mirror cannot be written (no pyarrow, a full disk)
    the run is read from JSON Lines and this returns False."""
    from . import columnar

    run_dir = Path(run_dir)
    try:
        meta = meta or json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        rows = {t: read_jsonl(run_dir / f"{t}.jsonl") for t in ROW_TABLES}
        columnar.write_run(run_dir, meta, rows)
        return True
    except (ImportError, OSError, ValueError, TypeError) as e:
        print(f"note: {run_dir.name}: no Parquet copy ({type(e).__name__}: {e}); JSON Lines stays the record",
              file=sys.stderr)
        return False


def mirror(paths: Iterable[str | Path] | str | Path | None = None) -> list[Path]:
    """Write the Parquet copy of every finished run under ``paths`` that has none (or a stale
    one): runs copied from an older store, or whose mirror failed. Returns the runs written."""
    from . import columnar

    done = []
    for d in find_run_dirs(paths):
        meta = read_meta(d)
        if meta.get("status") != "running" and columnar.mirrored_files(d) is None and mirror_run(d, meta):
            done.append(d)
    return done


# ---------------------------------------------------------------------------- loading
@dataclass
class Results:
    """Tidy tables over any number of runs. Columns follow :mod:`workbench.results.schema`."""

    runs: Any  # pandas.DataFrame
    requests: Any
    samples: Any
    items: Any

    def requests_of(self, run_id: str):
        """The request rows of one run. The run index is built once per requests table:
        comparing every row's run id for each run took seconds over a million rows."""
        cached = self.__dict__.get("_request_index")
        if cached is None or cached[0] is not self.requests:
            index = self.requests.groupby("run_id", sort=False).indices if len(self.requests) else {}
            cached = self.__dict__["_request_index"] = (self.requests, index)
        rows = cached[1].get(run_id)
        return self.requests.iloc[rows] if rows is not None else self.requests.iloc[:0]

    def __repr__(self) -> str:
        return (
            f"Results(runs={len(self.runs)}, requests={len(self.requests)}, "
            f"samples={len(self.samples)}, items={len(self.items)})"
        )


def find_run_dirs(paths: Iterable[str | Path] | str | Path | None = None) -> list[Path]:
    """Run directories under the given roots (or the run directories themselves)."""
    if paths is None:
        paths = [reference_results_dir(), default_results_dir()]
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "run.json").is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(d.parent for d in p.glob("*/run.json")))
    return found


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON Lines table; a last line cut off by a crash is left out."""
    rows = []
    if not path.is_file():
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # a row cut off by a crash mid-write: everything before it stands
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return rows


def _frame(rows: list[dict], table: str):
    import pandas as pd

    cols = list(TABLES[table])
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df.columns:
            df[c] = None
    return df[cols]


def load(paths: Iterable[str | Path] | str | Path | None = None) -> Results:
    """Read runs into tidy DataFrames. ``paths``: result roots or run directories
    (default: the bundled reference results and the local results directory).

    A run's rows come from its Parquet copy when it has an up-to-date one
    (:mod:`workbench.results.columnar`), else from its JSON Lines files."""
    import pandas as pd

    runs: list[dict] = []
    jsonl: dict[str, list[dict]] = {t: [] for t in ROW_TABLES}
    parquet: dict[str, list[Path]] = {t: [] for t in ROW_TABLES}
    for d in find_run_dirs(paths):
        runs.append({**read_meta(d), "run_dir": str(d)})
        files = _mirrored(d)
        for t in ROW_TABLES:
            if files:
                parquet[t].append(files[t])
            else:
                jsonl[t].extend(read_jsonl(d / f"{t}.jsonl"))
    frames = {"runs": _frame(runs, "runs")}
    for t in ROW_TABLES:
        frames[t] = _rows_frame(t, jsonl[t], parquet[t])
    for col in ("started_at", "ended_at"):
        frames["runs"][col] = pd.to_datetime(frames["runs"][col], utc=True, format="ISO8601")
    return Results(**frames)


def read_meta(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise StoreError(f"{run_dir / 'run.json'}: cannot read run metadata ({e})") from e


def _mirrored(run_dir: Path) -> dict[str, Path] | None:
    """The run's Parquet files when it has an up-to-date copy."""
    from . import columnar

    return columnar.mirrored_files(run_dir)


def _rows_frame(table: str, rows: list[dict], files: list[Path]):
    """A row table from Parquet files and JSON Lines rows (either may be empty)."""
    import pandas as pd

    if not files:
        return _frame(rows, table)
    from . import columnar

    df = columnar.read_table(files, table)
    if rows:
        df = pd.concat([df, _frame(rows, table)], ignore_index=True)
    return df


def validate(results: Results) -> None:
    """Check every table against its schema (used by the tests)."""
    for t in ("runs", *ROW_TABLES):
        check_frame(getattr(results, t), t)


