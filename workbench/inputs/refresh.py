"""``workbench catalog refresh`` and ``workbench catalog show``.

:func:`refresh_catalog` rewrites the feed's rows of ``apis.csv`` from the installed
``genai-prices`` (no network; see :mod:`workbench.inputs.feeds`), optionally adds GPU instance
prices from a SkyPilot catalog checkout (:mod:`workbench.inputs.skypilot`), and writes
nothing unless the whole new catalog validates: it is written to a temporary directory, loaded
with :func:`~workbench.inputs.catalog.load_catalog`, and only then moved into place file by
file (``os.replace``). Rows from other sources — the 2024 history, hand-entered rows — stay.

:func:`show` gives the rows of one table in force on a date, as a DataFrame.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import feeds
from . import skypilot as sky
from .catalog import (
    CATALOG_DIR,
    TABLES,
    CatalogError,
    load_catalog,
    normalise_date,
    read_table,
    valid_at,
)

SHOW_COLUMNS = {
    "apis": ["model", "litellm_provider", "mode", "in_usd_mtok", "cached_in_usd_mtok",
             "out_usd_mtok", "batch_in_usd_mtok", "batch_out_usd_mtok", "valid_from", "as_of",
             "verified", "source"],
    "instances": ["cloud", "instance", "gpu", "gpu_count", "pricing", "usd_per_hour",
                  "usd_per_gpu_hour", "valid_from", "as_of", "verified", "source"],
    "gpus": ["name", "mem_gib", "mem_bw_tbps", "bf16_tflops", "fp8_tflops", "fp4_tflops",
             "tdp_w", "as_of", "verified", "source"],
    "models": ["name", "params_b", "active_params_b", "layers", "hidden", "kv_heads",
               "head_dim", "experts", "experts_per_token", "max_context", "as_of", "verified",
               "source"],
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def write_table(table: str, rows: list[dict[str, Any]], path: Path, header: list[str]) -> None:
    """Rows as a catalog CSV with the given header (the columns of the file being replaced)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in header])


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def _keep_known_starts(new: list[dict], old_feed: list[dict], as_of: str) -> None:
    """A feed row dated from this refresh keeps the start of an earlier refresh's identical row."""
    for r in new:
        if r["valid_from"] != as_of:
            continue
        same = [o for o in old_feed if o["model"] == r["model"] and not o["valid_to"]
                and o["valid_from"] and o["valid_from"] < as_of and feeds._same_price(r, o)]
        if same:
            r["valid_from"] = min(o["valid_from"] for o in same)


def refreshed_apis(path: Path, as_of: str) -> list[dict[str, Any]]:
    """apis.csv's rows with the feed's rows rewritten: other rows first, in file order."""
    rows = read_table("apis", path)
    old_feed = [r for r in rows if r["source"].startswith(feeds.SOURCE_PREFIX)]
    others = [r for r in rows if not r["source"].startswith(feeds.SOURCE_PREFIX)]
    new = feeds.feed_api_rows(others, as_of)
    _keep_known_starts(new, old_feed, as_of)
    return others + new


def refresh_catalog(catalog_dir: str | Path | None = None, *, as_of: Any = None,
                    skypilot: list[tuple[str, str | Path]] = (), region: str | None = None,
                    ) -> dict[str, int]:
    """Rewrite the feed's rows (and add SkyPilot instance rows) in ``catalog_dir`` (default the
    shipped catalog). Returns the number of rows per table written. On any error the catalog
    is left exactly as it was and a CatalogError says why."""
    base = Path(catalog_dir) if catalog_dir else CATALOG_DIR
    when = normalise_date(as_of) if as_of else dt.date.today().isoformat()
    new: dict[str, list[dict]] = {"apis": refreshed_apis(base / TABLES["apis"][0], when)}
    if skypilot:
        inst = read_table("instances", base / TABLES["instances"][0])
        added = [r for cloud, path in skypilot for r in sky.instance_rows(path, cloud, as_of=when,
                                                                          region=region)]
        new["instances"] = sky.merge_instances(inst, added)
    with tempfile.TemporaryDirectory(prefix="catalog-refresh-") as tmp:
        stage = Path(tmp)
        for spec in TABLES.values():
            shutil.copy2(base / spec[0], stage / spec[0])
        for table, rows in new.items():
            fname = TABLES[table][0]
            write_table(table, rows, stage / fname, _header(base / fname))
        load_catalog(overrides_dir=None, catalog_dir=stage)  # raises CatalogError: nothing moved
        for table in new:
            fname = TABLES[table][0]
            shutil.copy2(stage / fname, base / (fname + ".new"))
        for table in new:
            fname = TABLES[table][0]
            os.replace(base / (fname + ".new"), base / fname)
    return {table: len(rows) for table, rows in new.items()}


def show(table: str, as_of: Any = None, catalog=None):
    """The rows of ``table`` (apis, gpus, instances, models) in force on ``as_of`` (default
    today): for dated tables the row each key would be priced with; prices per million tokens
    for APIs and per GPU-hour for instances."""
    if table not in SHOW_COLUMNS:
        raise CatalogError(f"table: must be one of {', '.join(SHOW_COLUMNS)}, got {table!r}")
    cat = catalog or load_catalog()
    when = normalise_date(as_of) if as_of else dt.date.today().isoformat()
    df = getattr(cat, table)
    if table in ("apis", "instances"):
        keys = ["model"] if table == "apis" else ["cloud", "instance", "pricing"]
        df = valid_at(df, when)
        df = df.assign(_o=range(len(df))).sort_values(["valid_from", "as_of", "_o"])
        df = df.groupby(keys, sort=False).tail(1).drop(columns="_o").sort_index()
    else:
        df = df[df["as_of"] <= when] if table == "models" else df
    df = df.copy()
    if table == "apis":
        for new, col in [("in_usd_mtok", "input_cost_per_token"),
                         ("cached_in_usd_mtok", "cache_read_input_token_cost"),
                         ("out_usd_mtok", "output_cost_per_token"),
                         ("batch_in_usd_mtok", "input_cost_per_token_batches"),
                         ("batch_out_usd_mtok", "output_cost_per_token_batches")]:
            df[new] = (df[col] * 1e6).round(6)
    if table == "instances":
        df["usd_per_gpu_hour"] = (df["usd_per_hour"] / df["gpu_count"].astype("float64")
                                  .where(df["gpu_count"] > 0)).round(4)
    cols = [c for c in SHOW_COLUMNS[table] if c in df.columns]
    return df[cols].reset_index(drop=True)


# ----------------------------------------------------------------------------- CLI
def add_refresh_parser(sub) -> None:
    """``workbench catalog refresh`` (registered by :mod:`workbench.cli` beside the other catalog actions)."""
    p = sub.add_parser("refresh", help="rewrite the dated API rows from the installed genai-prices "
                       "(offline); optionally add instance prices from SkyPilot vms.csv files")
    p.add_argument("--as-of", default=None, help="date stamped on the rows (default today)")
    p.add_argument("--skypilot", nargs=2, action="append", metavar=("CLOUD", "VMS_CSV"), default=[],
                   help="a SkyPilot v8 catalog file, e.g. --skypilot aws catalogs/v8/aws/vms.csv")
    p.add_argument("--region", default=None, help="SkyPilot region to price (default per cloud)")
    p.add_argument("--catalog-dir", default=None, help="catalog to refresh (default: the shipped one)")


def add_show_parser(sub) -> None:
    """``workbench catalog show``."""
    p = sub.add_parser("show", help="print what is in force: apis, gpus, instances or models")
    p.add_argument("table", choices=list(SHOW_COLUMNS))
    p.add_argument("--as-of", default=None, help="date (YYYY-MM-DD; default today)")


def cli(args) -> int:
    if args.action == "refresh":
        n = refresh_catalog(args.catalog_dir, as_of=args.as_of, skypilot=args.skypilot,
                            region=args.region)
        print(f"catalog refreshed from {feeds.FEED} {feeds.feed_version()} (offline): "
              + ", ".join(f"{t}.csv {k} rows" for t, k in n.items()))
        return 0
    if args.action == "show":
        import pandas as pd

        df = show(args.table, args.as_of)
        with pd.option_context("display.max_rows", None, "display.max_columns", None,
                               "display.width", 250, "display.max_colwidth", 60):
            print(df.to_string(index=False, na_rep=""))
        print(f"{len(df)} rows in force on {args.as_of or dt.date.today().isoformat()}")
        return 0
    raise AssertionError(args.action)
