"""The Ray executor of campaigns: each cell a Ray task, placed by Ray on a node that has what
the cell asks for, its run sent back to the driver.

A cell asks for ``num_gpus`` = its deployment's ``count`` and Ray's resource for the GPU type
(``accelerator_type="H100"``, i.e. ``accelerator_type:H100``, which Ray sets on nodes with that
GPU), so it lands on a node of its own type; a CPU cell asks for one CPU. On that node the task
starts the cell's engine with the same lifecycle code as a local run
(:func:`workbench.measure.campaign_run.run_cell`), measures, stops the engine, and returns its
run directory's files (``run.json`` and the JSON Lines tables), which the driver writes into its
store and mirrors as Parquet. With ``shared_root`` (a path every node mounts, e.g. a
ReadWriteMany volume), the task writes its run there directly and returns only its id.

Ray does the placing, the transport and the resource accounting; there is no scheduler or RPC
here. Every task is submitted with ``max_retries=0`` so that a worker that dies (killed, out of
memory, node lost) comes back to the driver as an error: the driver records that attempt and
submits the cell again while ``campaign.retries`` allows (campaign_run.run_campaign), so every
attempt is in the cell's record. docs/campaigns.md shows a run on KubeRay.

Ray is imported on first use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..results.store import mirror_run
from .campaign import Cell
from .campaign_run import run_cell, why

RUN_FILES = ("run.json", "requests.jsonl", "samples.jsonl", "items.jsonl")


def resources(cell: Cell) -> dict:
    """Ray task options for a cell: GPUs and the GPU type for an accelerator, else one CPU."""
    dep = cell.target.deployment
    accel = (dep.accelerator or "CPU").strip()
    if accel.upper() != "CPU":
        return {"num_cpus": 1, "num_gpus": dep.count, "accelerator_type": accel}
    return {"num_cpus": 1}


def cell_task(cell: dict, campaign: str, shared_root: str | None) -> dict:
    """Runs on a Ray worker: one cell, into ``shared_root`` or a scratch store whose run files
    are returned (as bytes, under ``files``). ``placed``: the node, GPUs and process it ran on."""
    import ray

    ctx = ray.get_runtime_context()
    placed = {"node": ctx.get_node_id(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()], "pid": os.getpid()}
    if shared_root:
        return {**run_cell(cell, shared_root, campaign), "placed": placed}
    scratch = tempfile.mkdtemp(prefix="workbench-cell-")
    try:
        out = {**run_cell(cell, scratch, campaign), "placed": placed}
        if out.get("run_dir"):
            d = Path(out["run_dir"])
            out["files"] = {n: (d / n).read_bytes() for n in RUN_FILES if (d / n).is_file()}
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def receive(outcome: dict, root: Path) -> dict:
    """Write a returned run into the store at ``root`` (whole, then renamed into place) and
    write its Parquet copy; the outcome with ``run_dir`` pointing there."""
    files = outcome.pop("files", None)
    if not files:
        return outcome
    final = Path(root) / outcome["run_id"]
    tmp = Path(root) / f".incoming-{outcome['run_id']}"
    tmp.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    os.replace(tmp, final)
    mirror_run(final)
    return {**outcome, "run_dir": str(final)}


class RayExecutor:
    """Cells as Ray tasks on the cluster at ``address`` ("auto": the one this machine belongs to,
    else a local one; or ``ray://host:10001``, or an existing ``ray.init`` of the caller)."""

    name = "ray"

    def __init__(self, root: Path, campaign: str, address: str | None = "auto", shared_root: str | None = None):
        import ray

        self.root, self.campaign, self.shared_root = Path(root), campaign, shared_root
        if not ray.is_initialized():
            try:
                ray.init(address=address or None, log_to_driver=False)
            except ConnectionError:
                if address != "auto":
                    raise
                ray.init(log_to_driver=False)  # no cluster here: a local one
        self._task = ray.remote(cell_task)

    def run(self, todo: list[tuple[Cell, int]]):
        """Submit every cell; yield (cell, attempt, outcome) as each task ends."""
        import ray

        pending = {}
        for cell, attempt in todo:
            ref = self._task.options(name=f"cell-{cell.key}-{attempt}", max_retries=0, **resources(cell)).remote(
                cell.to_dict(), self.campaign, self.shared_root)
            pending[ref] = (cell, attempt)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            cell, attempt = pending.pop(ref)
            try:
                outcome = receive(ray.get(ref), self.root)
            except ray.exceptions.RayError as e:  # the worker died, or the task could not run
                outcome = {"status": "failed", "run_id": None, "run_dir": None, "wall_s": None, "error": why(e)}
            yield cell, attempt, outcome

    def missing_resources(self, cells: list[Cell]) -> list[str]:
        """Cells that ask for a resource no node of the cluster has (an autoscaling cluster
        may still add it): one line each."""
        import ray

        have = ray.cluster_resources()
        out = []
        for c in cells:
            r = resources(c)
            need = {"GPU": r.get("num_gpus", 0), f"accelerator_type:{r.get('accelerator_type')}": 0.001
                    if r.get("accelerator_type") else 0}
            short = [k for k, v in need.items() if v and have.get(k, 0) < v]
            if short:
                out.append(f"{c.label}: the cluster has no {', '.join(short)}")
        return out
