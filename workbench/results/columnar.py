"""The columnar mirror of the store: every finished run's row tables also as Parquet.

JSON Lines stays the write path (a row is flushed as it happens, so a crash loses at most one
row); when a run finishes, its ``requests``, ``samples`` and ``items`` are written once more
as Parquet, one Hive-partitioned dataset per table under the results root::

    <root>/parquet/<table>/engine=<e>/model=<m>/hardware=<h>/date=<YYYY-MM-DD>/<run_id>.parquet
    <root>/<run_id>/parquet.json     which files hold the run's rows, and the size of the
                                     JSON Lines file each was made from

Partition values are URL-quoted (pyarrow and DuckDB decode them). The partition columns are
not stored inside the files (the Hive convention); a reader that wants them asks for Hive
partitioning. Every run has its own file, so stores from several machines still merge by
copying the directories (run directories and ``parquet/``) under one root.

``runs`` is not mirrored: ``run.json`` is one small object per run that is rewritten after
the run (``store.amend_run``), so a second copy could go stale; readers take it from
``run.json`` every time.

A Parquet file is used only while it matches its source: ``parquet.json`` records the byte
size of the JSON Lines file it was made from, and a run whose file has since grown (or whose
Parquet file is missing) is read from JSON Lines again. Dict columns (``items.scores``) are
stored as JSON text and decoded on load.

Why pyarrow: it is the reference Parquet implementation for Python, pandas reads its tables
without a copy, and DuckDB (``workbench.results.query``) scans its files directly. It is
imported on first use, so ``import workbench`` stays light.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from .schema import TABLES

PARQUET_DIR = "parquet"
MARKER = "parquet.json"
ROW_TABLES = ("requests", "samples", "items")
PARTITION_KEYS = ("engine", "model", "hardware", "date")
"""The Hive partition keys, from the run's metadata (``date``: the day it started, UTC)."""


def _arrow_type(dtype: str):
    import pyarrow as pa

    return {
        "str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
        "list[float]": pa.list_(pa.float64()), "dict": pa.string(),  # dicts as JSON text
        "datetime": pa.timestamp("ms", tz="UTC"),
    }[dtype]


def arrow_schema(table: str):
    """The Arrow schema of a row table, column for column from :mod:`workbench.results.schema`."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, _arrow_type(c.dtype)) for c in TABLES[table].values()])


def partition_of(meta: dict) -> dict[str, str]:
    """The partition values of a run: engine, model, hardware and start date from its run.json."""
    started = str(meta.get("started_at") or "")[:10] or "unknown"
    return {"engine": str(meta.get("engine") or "unknown"), "model": str(meta.get("model") or "unknown"),
            "hardware": str(meta.get("hardware") or "unknown"), "date": started}


def _normal(rows: list[dict], table: str) -> list[dict]:
    """Rows ready for Arrow: dicts as JSON text, whole floats in int columns as ints."""
    cols = TABLES[table].values()
    dicts = [c.name for c in cols if c.dtype == "dict"]
    ints = [c.name for c in cols if c.dtype == "int"]
    out = []
    for r in rows:
        r = dict(r)
        for k in dicts:
            if r.get(k) is not None and not isinstance(r[k], str):
                r[k] = json.dumps(r[k], separators=(",", ":"))
        for k in ints:
            v = r.get(k)
            if isinstance(v, float):
                r[k] = int(v) if v.is_integer() else None  # NaN and inf: missing
        out.append(r)
    return out


def rows_to_arrow(rows: list[dict], table: str, partition: dict[str, str] | None = None):
    """An Arrow table of ``rows`` with the table's schema (plus ``partition`` as string columns)."""
    import pyarrow as pa

    t = pa.Table.from_pylist(_normal(rows, table), schema=arrow_schema(table))
    for k, v in (partition or {}).items():
        t = t.append_column(k, pa.array([v] * len(t), pa.string()))
    return t


def parquet_path(root: Path, table: str, meta: dict) -> Path:
    part = partition_of(meta)
    hive = "/".join(f"{k}={quote(part[k], safe='')}" for k in PARTITION_KEYS)
    return Path(root) / PARQUET_DIR / table / hive / f"{meta['run_id']}.parquet"


def write_run(run_dir: str | Path, meta: dict, rows_by_table: dict[str, list[dict]]) -> dict:
    """Write a finished run's row tables as Parquet and its ``parquet.json``; returns the marker.
    Each file is written beside its final name and renamed, so a reader never sees half of one."""
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    root = run_dir.parent
    marker: dict[str, dict] = {}
    for table in ROW_TABLES:
        rows = rows_by_table.get(table) or []
        jsonl = run_dir / f"{table}.jsonl"
        path = parquet_path(root, table, meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(rows_to_arrow(rows, table), tmp, compression="zstd")
        os.replace(tmp, path)
        marker[table] = {"path": path.relative_to(root).as_posix(), "rows": len(rows),
                         "jsonl_bytes": jsonl.stat().st_size if jsonl.is_file() else 0}
    tmp = run_dir / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=1), encoding="utf-8")
    os.replace(tmp, run_dir / MARKER)
    return marker


def mirrored_files(run_dir: str | Path) -> dict[str, Path] | None:
    """The run's Parquet file per row table, or None when the run has no up-to-date mirror
    (no ``parquet.json``, a file missing, or a JSON Lines file changed since it was written)."""
    run_dir = Path(run_dir)
    try:
        marker = json.loads((run_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    files = {}
    for table in ROW_TABLES:
        entry = marker.get(table)
        if not isinstance(entry, dict):
            return None
        path = run_dir.parent / entry["path"]
        jsonl = run_dir / f"{table}.jsonl"
        size = jsonl.stat().st_size if jsonl.is_file() else 0
        if not path.is_file() or (jsonl.is_file() and size != entry.get("jsonl_bytes")):
            return None
        files[table] = path
    return files


def _arrow_backed(t):
    """pandas dtypes that keep Arrow's buffers (no copy, no Python object per value): lists as
    ArrowDtype, strings as pandas' own pyarrow-backed ``str`` (what it infers from JSON Lines)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_list(t):
        return pd.ArrowDtype(t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pd.StringDtype("pyarrow", na_value=np.nan)
    return None


def _to_pandas(table, name: str):
    """A DataFrame of an Arrow table: list and string columns stay Arrow-backed (a million rows
    of chunk times as Python lists would not fit in memory), dicts decoded."""
    return _decoded(table.to_pandas(types_mapper=_arrow_backed, split_blocks=True), name)


def _decoded(df, name: str):
    for c in TABLES[name].values():
        if c.dtype == "dict" and c.name in df:
            df[c.name] = [json.loads(v) if isinstance(v, str) else v for v in df[c.name]]
    return df


def read_table(files: list[Path], table: str):
    """One DataFrame of a row table from Parquet files written by :func:`write_run`, in
    the order of ``files``, with exactly the schema's columns.

    Column by column, each Arrow column dropped once converted, so its memory goes back
    before the next is copied (see :func:`_read_pool`)."""
    import pandas as pd
    import pyarrow.dataset as ds

    schema = arrow_schema(table)
    if not files:
        return _to_pandas(schema.empty_table(), table)
    lists = [f.name for f in schema if f.type.num_fields]  # list columns: read on their own
    scan, pool = ds.dataset([str(f) for f in files], schema=schema, format="parquet"), _read_pool()
    data = scan.to_table(columns=[n for n in schema.names if n not in lists], memory_pool=pool)
    columns = {}
    for name in schema.names:
        if name in lists:
            column = _one_chunk_list(scan, files, name, schema.field(name).type, pool)
        else:
            column, data = data.column(name), data.drop_columns([name])
        columns[name] = column.to_pandas(types_mapper=_arrow_backed)
        del column
    return _decoded(pd.DataFrame(columns, copy=False), table)


def _one_chunk_list(scan, files: list[Path], name: str, type_, pool=None):
    """A list<float64> column of the dataset ``scan`` (of ``files``) as one contiguous array,
    filled batch by batch (in order) into one buffer sized from the files' footers. Left as
    one chunk per file, selecting one run's rows of a million took 2 s (pandas takes from
    every chunk) against 0.14 s, and the decision report made hundreds of such selections;
    joining the chunks afterwards would hold the column twice."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    leaf = f"{name}.list.element"
    capacity = 0
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            capacity += sum(rg.column(i).num_values for i in range(rg.num_columns)
                            if rg.column(i).path_in_schema == leaf)
    values = np.empty(capacity, dtype=np.float64)
    lengths, valid, pos = [], [], 0
    for batch in scan.to_batches(columns=[name], memory_pool=pool, batch_readahead=4,  # in order; less read
                                   fragment_readahead=2):  # ahead than the default (16, 4): 0.04 GiB less
        if batch.num_rows:
            arr = batch.column(0)
            flat = arr.flatten().to_numpy(zero_copy_only=False)
            values[pos:pos + len(flat)] = flat
            pos += len(flat)
            lengths.append(pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False))
            valid.append(arr.is_valid().to_numpy(zero_copy_only=False))
    n = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
    offsets = pa.array(np.concatenate([[0], np.cumsum(n)]).astype(np.int32))
    mask = pa.array(~np.concatenate(valid)) if valid else None
    return pa.chunked_array([pa.ListArray.from_arrays(offsets, pa.array(values[:pos]), type=type_, mask=mask)])


def _read_pool():
    """jemalloc where pyarrow has it, returning freed pages at once (decay 0: process-wide, for
    jemalloc arenas created from then on); None (the default pool) elsewhere. A million request
    rows (benchmarks/store_load.py, same store, same machine) peaked at 0.89 GiB; 0.96–1.04 GiB
    with jemalloc's default decay (pyarrow sets 1 s), which was about 1 s faster; 1.34 GiB with
    the default pool (mimalloc)."""
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return None
    pa.jemalloc_set_decay_ms(0)
    return pool
