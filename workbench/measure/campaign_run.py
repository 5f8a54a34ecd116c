"""Running a campaign: every cell not yet finished, on an executor, each outcome recorded.

The driver (:func:`run_campaign`) reads the record of earlier attempts, hands the cells still
to do to an executor, writes each outcome as it arrives, and tries a failed cell again at
most ``campaign.retries`` times; a cell that still fails is recorded ``failed`` (with every
attempt's error), never dropped. Interrupt it at any point and run it again: finished cells
are skipped.

The record, one small JSON file per cell, rewritten atomically (so stores from several
machines still merge by copying directories)::

    <results root>/campaigns/<campaign name>/<cell key>.json
        {"key", "label", "kind", "target", "status", "run_id", "attempts": [{...}, ...]}

A cell is finished when its record says ``completed`` and its run directory
is in the store. Executors: :class:`LocalExecutor` (here: sequential, one engine per target
kept up across that target's cells) and ``campaign_ray.RayExecutor`` (a Ray task per cell).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from ..paths import default_results_dir
from ..results.store import amend_run
from ..serving import engines
from .campaign import Campaign, Cell, cell_from_dict

DONE = ("completed",)
"""A cell whose run ended so is finished. A ``degraded`` run (more than its share of requests
failed) measured a broken endpoint more than the target: like ``failed`` and ``interrupted``
cells, it is tried again (within the retries, and on the next ``campaign run``)."""


# ------------------------------------------------------------------ the record of cells
def ledger_dir(root: Path, name: str) -> Path:
    return Path(root) / "campaigns" / name


def read_ledger(root: Path, name: str) -> dict[str, dict]:
    """The record of every cell of campaign ``name`` under ``root``, by cell key."""
    out = {}
    for f in sorted(ledger_dir(root, name).glob("*.json")):
        try:
            rec = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # unreadable: the cell is simply not finished
        out[rec.get("key", f.stem)] = rec
    return out


def is_finished(rec: dict | None, root: Path) -> bool:
    return bool(rec and rec.get("status") in DONE and rec.get("run_id")
                and (Path(root) / rec["run_id"] / "run.json").is_file())


def record(root: Path, name: str, cell: Cell, attempt: dict) -> dict:
    """Add one attempt's outcome to the cell's record (rewritten atomically); returns it."""
    d = ledger_dir(root, name)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{cell.key}.json"
    rec = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"attempts": []}
    rec.update(key=cell.key, label=cell.label, kind=cell.kind, target=cell.target.name,
               status=attempt["status"], run_id=attempt.get("run_id") or rec.get("run_id"))
    rec["attempts"].append(attempt)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return rec


def history(root: Path, name: str) -> list[dict]:
    """Every recorded attempt of the campaign, with its cell's target and kind (for estimates)."""
    return [{**a, "target": r.get("target"), "kind": r.get("kind")}
            for r in read_ledger(root, name).values() for a in r.get("attempts", [])]


# ------------------------------------------------------------------ one cell
def why(e: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def run_cell(cell: Cell | dict, root: str | Path, campaign: str, engine=None) -> dict:
    """Measure one cell into the store at ``root``; an outcome dict, never an exception
    (except Ctrl-C): status, run_id, run_dir, error, wall_s. ``engine``: a running Engine
    of the cell's target to use (else the cell's target is started here and stopped after)."""
    from .evaluate import evaluate
    from .harness import measure

    cell = cell_from_dict(cell) if isinstance(cell, dict) else cell
    t0 = time.perf_counter()
    where = engine if engine is not None else cell.target
    try:
        if cell.kind == "load":
            res = measure(where, results_root=root, progress=False, workload=cell.workload, **cell.options)
        else:
            res = evaluate(where, cell.workload, results_root=root, progress=False, **cell.options)
        amend_run(res.run_dir, params={"campaign": campaign, "campaign_cell": cell.key})
        out = {"status": res.status, "run_id": res.run_id, "run_dir": str(res.run_dir), "error": res.error}
    except Exception as e:  # noqa: BLE001 (a cell that cannot run is recorded as failed, with why)
        out = {"status": "failed", "run_id": None, "run_dir": None, "error": why(e)}
    return {**out, "wall_s": round(time.perf_counter() - t0, 2)}


class LocalExecutor:
    """Cells one after another on this machine. A managed target's engine is started once for
    all of its cells (the cells are taken target by target) and started again if it died."""

    name = "local"

    def __init__(self, root: Path, campaign: str):
        self.root, self.campaign = Path(root), campaign

    def run(self, todo: list[tuple[Cell, int]]):
        """Yield (cell, attempt, outcome) as each cell ends."""
        order = sorted(todo, key=lambda ca: [c.target.name for c, _ in todo].index(ca[0].target.name))
        for _, group in itertools.groupby(order, key=lambda ca: ca[0].target.name):
            engine = None
            try:
                for cell, attempt in group:
                    started = {}
                    if cell.target.managed and (engine is None or engine.exited() is not None):
                        if engine is not None:
                            engine.stop()
                        engine, failed = self._start(cell)
                        if failed:
                            yield cell, attempt, failed
                            continue
                        started = {"engine_start_s": engine.start_s}  # not in this cell's wall_s
                    yield cell, attempt, {**run_cell(cell, self.root, self.campaign, engine), **started}
            finally:
                if engine is not None:
                    engine.stop()

    def _start(self, cell: Cell):
        """(engine, None), or (None, a failed outcome) when the engine did not start."""
        t0 = time.perf_counter()
        try:
            return engines.start_engine(cell.target, quiet=True), None
        except Exception as e:  # noqa: BLE001 (any reason it did not start is recorded)
            return None, {"status": "failed", "run_id": None, "run_dir": None, "wall_s": round(time.perf_counter() - t0, 2),
                          "error": f"engine did not start: {why(e)}"}


# ------------------------------------------------------------------ the driver
def run_campaign(campaign: Campaign, *, root: str | Path | None = None, executor=None,
                 progress: bool = True):
    """Run every unfinished cell of ``campaign`` into the store at ``root`` (default: the local
    results) on ``executor`` (default :class:`LocalExecutor`); returns :func:`summary` (a
    DataFrame, one row per cell)."""
    from tqdm.auto import tqdm

    root = Path(root) if root is not None else default_results_dir()
    executor = executor or LocalExecutor(root, campaign.name)
    ledger = read_ledger(root, campaign.name)
    todo = [(c, 1) for c in campaign.cells if not is_finished(ledger.get(c.key), root)]
    bar = tqdm(total=len(campaign.cells), initial=len(campaign.cells) - len(todo), desc=campaign.name,
               unit="cell", disable=not progress)
    try:
        while todo:
            again = []
            for cell, attempt, outcome in executor.run(todo):
                outcome = {"attempt": attempt, "executor": executor.name,
                           "at": datetime.now(UTC).isoformat(timespec="seconds"), **outcome}
                outcome.pop("files", None)
                record(root, campaign.name, cell, outcome)
                if outcome["status"] == "interrupted":
                    raise KeyboardInterrupt
                if outcome["status"] not in DONE and attempt <= campaign.retries:
                    again.append((cell, attempt + 1))
                else:
                    bar.update(1)
                bar.set_postfix_str(f"{cell.label}: {outcome['status']}", refresh=True)
            todo = again
    finally:
        bar.close()
    return summary(campaign, root)


def summary(campaign: Campaign, root: str | Path):
    """One row per cell: its state (``to do`` when never tried), attempts, run and time."""
    import pandas as pd

    ledger = read_ledger(Path(root), campaign.name)
    rows = []
    for c in campaign.cells:
        rec = ledger.get(c.key) or {}
        last = (rec.get("attempts") or [{}])[-1]
        rows.append({"cell": c.key, "what": c.label, "status": rec.get("status", "to do"),
                     "attempts": len(rec.get("attempts") or []), "wall_s": last.get("wall_s"),
                     "run_id": rec.get("run_id"), "error": last.get("error") or ""})
    return pd.DataFrame(rows)
