"""How fast, and in how much memory, does the store load a million request rows?

Generates ``--runs`` load runs of ``--rows`` request rows each (default 200 × 5,000 =
1,000,000) with ``--chunks`` chunk times per row (the size of a real run's rows: about 0.9 kB
of JSON each), written by the store itself (:class:`workbench.results.store.RunWriter`: JSON
Lines as it goes, the Parquet copy when each run finishes). Then, each in a fresh process so
the peak memory is that path's alone:

- ``jsonl``: ``workbench.load_results`` with the Parquet copies ignored (the JSON Lines path);
- ``parquet``: ``workbench.load_results`` as it is (it reads the Parquet copies);
- ``duckdb``: an aggregate query (median TTFT per run) with ``workbench results query``'s views.

Peak memory is the process's peak resident set (``ru_maxrss``), imports included.
Targets (issue 21): the Parquet path at most 1/10 of the JSON Lines path's time, and under
1 GiB peak. ``--report`` also times ``workbench report`` over the generated store (target: 60 s).

The last line printed is exactly:
``rows=N jsonl_s=A jsonl_peak_gib=B parquet_s=C parquet_peak_gib=D ratio=R duckdb_s=E``

    .venv/bin/python benchmarks/store_load.py [--runs 200] [--rows 5000] [--dir /tmp/store]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def generate(root: Path, runs: int, rows: int, chunks: int, seed: int = 0) -> None:
    from workbench.results.store import RunWriter

    rng = np.random.default_rng(seed)
    for r in range(runs):
        gaps = rng.gamma(2.0, 0.01, size=(rows, chunks))
        gaps[:, 0] += rng.gamma(2.0, 0.05, size=rows)
        times = np.round(np.cumsum(gaps, axis=1), 6)
        sent = np.round(np.sort(rng.uniform(0, 600, size=rows)), 6)
        with RunWriter(kind="load", target=f"synthetic-{r % 4}", engine=("vllm", "llamacpp")[r % 2],
                       model=f"model-{r % 6}", hardware=("H100", "A10G", "L4", "CPU")[r % 4], root=root,
                       host={"cpu_model": "synthetic"}, params={"profile": "concurrency=1,2,4,8"}) as run:
            run.extend("requests", (
                {"request_id": i, "phase": "measure", "load_point": f"concurrency={2 ** (i % 4)}",
                 "concurrency": 2 ** (i % 4), "request_rate": None, "endpoint": "chat", "item_id": None,
                 "scheduled_s": float(sent[i]), "sent_s": float(sent[i]), "chunk_times_s": times[i].tolist(),
                 "ttft_ms": float(times[i, 0] * 1e3), "e2el_ms": float(times[i, -1] * 1e3),
                 "prompt_tokens": 512, "output_tokens": chunks, "token_source": "usage", "max_tokens": chunks,
                 "forced_length": True, "http_status": 200, "error": "", "ok": True, "attempt": 0}
                for i in range(rows)))
        print(f"\rgenerated run {r + 1}/{runs}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def measure(path: str, root: str) -> dict:
    """One path, in this (fresh) process: seconds and peak resident memory."""
    import pandas  # noqa: F401  (both paths need it: not part of either's time)

    import workbench
    from workbench.results import store

    if path == "jsonl":
        store._mirrored = lambda run_dir: None  # ignore the Parquet copies: the JSON Lines path
    t0 = time.perf_counter()
    if path == "duckdb":
        from workbench.results import query

        df = query.query("SELECT run_id, median(ttft_ms) AS p50_ttft_ms, count(*) AS n FROM requests "
                         "WHERE ok GROUP BY run_id", [root])
        n = int(df.n.sum())
    else:
        n = len(workbench.load_results(root).requests)
    seconds = time.perf_counter() - t0
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"path": path, "rows": n, "seconds": round(seconds, 2), "peak_gib": round(peak_gib, 3)}


def _child(path: str, root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", path, "--dir", str(root)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(root: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench.cli", "report", "--param", f"results_paths=[{root}]",
                    "--out", str(root / "_report")], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rows", type=int, default=5000, help="request rows per run")
    ap.add_argument("--chunks", type=int, default=64, help="chunk times per row")
    ap.add_argument("--dir", default=None, help="store to use (kept); default: a temporary one (removed)")
    ap.add_argument("--report", action="store_true", help="also time `workbench report` over the store")
    ap.add_argument("--measure", choices=("jsonl", "parquet", "duckdb"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.dir)))
        return
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="store_load-"))
    try:
        if not any(root.glob("*/run.json")):
            t0 = time.perf_counter()
            generate(root, args.runs, args.rows, args.chunks)
            print(f"generated {args.runs * args.rows:,} rows in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        sizes = {k: sum(f.stat().st_size for f in root.rglob(f"*.{k}")) / 1e6 for k in ("jsonl", "parquet")}
        print(f"store: {sizes['jsonl']:,.0f} MB JSON Lines, {sizes['parquet']:,.0f} MB Parquet "
              f"(load {os.getloadavg()[0]:.1f})")
        res = {p: _child(p, root) for p in ("jsonl", "parquet", "duckdb")}
        for r in res.values():
            print(f"{r['path']:<8} {r['rows']:>10,} rows  {r['seconds']:>7.2f} s  peak {r['peak_gib']:.2f} GiB")
        if args.report:
            print(f"workbench report over the store: {_report(root):.1f} s (target 60 s)")
        ratio = res["parquet"]["seconds"] / res["jsonl"]["seconds"]
        print(f"rows={res['parquet']['rows']} jsonl_s={res['jsonl']['seconds']} "
              f"jsonl_peak_gib={res['jsonl']['peak_gib']} parquet_s={res['parquet']['seconds']} "
              f"parquet_peak_gib={res['parquet']['peak_gib']} ratio={ratio:.3f} duckdb_s={res['duckdb']['seconds']}")
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
