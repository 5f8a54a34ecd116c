"""SQL over the whole store with DuckDB: ``workbench results query "SELECT ..."``.

Four views, one per table of :mod:`workbench.results.schema`:

- ``requests``, ``samples``, ``items``: the Parquet copies of the runs that have an
  up-to-date one (:mod:`workbench.results.columnar`), scanned in place, plus the JSON Lines
  rows of the runs that do not (still running, or copied from an older store). Each row also
  carries its run's Hive partition columns ``engine``, ``model``, ``hardware``, ``date``.
  Dict columns (``items.scores``) are JSON text: ``scores->>'correct'``.
- ``runs``: one row per ``run.json`` (always read from there: it is amended after a run).
  ``host``, ``params``, ``summary`` and ``deployment`` are JSON text.

Only the files of the runs found under the roots are read (never a blind glob), so a stale
Parquet file left behind cannot count a run twice.

Why DuckDB: it scans Parquet in parallel without loading it into memory, reads Arrow tables
in place for the rest, and speaks plain SQL, which people already know. Imported on first use.

``workbench results mirror`` writes the Parquet copy of every finished run that lacks one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import WorkbenchError
from . import columnar, store


class QueryError(WorkbenchError, ValueError):
    pass


def _runs_table(metas: list[dict]):
    import pyarrow as pa

    from .schema import RUNS

    cols = {}
    for name, col in RUNS.items():
        values = [m.get(name) for m in metas]
        if col.dtype == "dict":
            values = [None if v is None else json.dumps(v, default=str) for v in values]
            cols[name] = pa.array(values, pa.string())
        elif col.dtype in ("str", "datetime"):
            cols[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
        else:
            cols[name] = pa.array(values, columnar._arrow_type(col.dtype), from_pandas=True)
    return pa.table(cols)


def connect(paths=None):
    """A DuckDB connection with the views ``runs``, ``requests``, ``samples``, ``items`` over the
    runs under ``paths`` (default: the bundled reference results and the local results)."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    metas, files, loose = [], {t: [] for t in columnar.ROW_TABLES}, {t: [] for t in columnar.ROW_TABLES}
    for d in store.find_run_dirs(paths):
        meta = store.read_meta(d)
        metas.append({**meta, "run_dir": str(d)})
        mirrored = columnar.mirrored_files(d)
        for t in columnar.ROW_TABLES:
            if mirrored:
                files[t].append(mirrored[t].as_posix())
            else:
                part = columnar.partition_of(meta)
                loose[t].append(columnar.rows_to_arrow(store.read_jsonl(d / f"{t}.jsonl"), t, part))
    con.register("_runs", _runs_table(metas))
    con.execute("CREATE VIEW runs AS SELECT * FROM _runs")
    for t in columnar.ROW_TABLES:
        empty = columnar.rows_to_arrow([], t, dict.fromkeys(columnar.PARTITION_KEYS, ""))
        con.register(f"_{t}_jsonl", pa.concat_tables([empty, *loose[t]]))
        sql = f"SELECT * FROM _{t}_jsonl"
        if files[t]:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files[t])
            sql = (f"SELECT * FROM read_parquet([{listed}], hive_partitioning=true, hive_types_autocast=false, "
                   f"union_by_name=true) UNION ALL BY NAME {sql}")
        con.execute(f"CREATE VIEW {t} AS {sql}")
    return con


def query(sql: str, paths=None):
    """The result of ``sql`` over the store as a pandas DataFrame."""
    import duckdb

    con = connect(paths)
    try:
        return con.execute(sql).df()
    except duckdb.Error as e:
        raise QueryError(f"{str(e).splitlines()[0]} (views: runs, requests, samples, items)") from None
    finally:
        con.close()


# ------------------------------------------------------------------ CLI
def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    q = sub.add_parser("query", help="run SQL (DuckDB) over runs, requests, samples, items")
    q.add_argument("sql", help='e.g. "SELECT engine, median(ttft_ms) FROM requests WHERE ok GROUP BY 1"')
    q.add_argument("--root", action="append", default=None,
                   help="results root or run directory (repeatable; default: reference + local results)")
    q.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    m = sub.add_parser("mirror", help="write the Parquet copy of finished runs that lack one")
    m.add_argument("--root", action="append", default=None, help="results root (default: local results)")


def cli(args) -> int:
    import pandas as pd

    if args.action == "mirror":
        from ..paths import default_results_dir

        done = store.mirror(args.root or [default_results_dir()])
        print(f"mirrored {len(done)} run(s) as Parquet")
        return 0
    df = query(args.sql, [Path(r) for r in args.root] if args.root else None)
    if args.csv:
        print(df.to_csv(index=False), end="")
    else:
        with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200):
            print(df.to_string(index=False))
    return 0
