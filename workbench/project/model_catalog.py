"""``workbench catalog add-model config.json``: a Hugging Face ``config.json`` → a row of the
catalog's ``models.csv``.

The shapes come from :meth:`workbench.project.arch.Arch.from_hf_config` (the keys of each family
are read in :mod:`workbench.project.hf_config`); ``params_b`` and ``active_params_b`` are counted
from them, never typed in. The table is rewritten through a temporary file that must read back
as a valid catalog table (:func:`workbench.inputs.catalog.read_table`) before it replaces the
old one, so a failure leaves the file as it was. By default the row goes to the user's catalog
overrides (``$WORKBENCH_CATALOG_OVERRIDES`` or ``./catalog-overrides/``), which
:func:`workbench.inputs.catalog.load_catalog` reads over the shipped rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

from ..inputs.catalog import TABLES, CatalogError, overrides_dir_default, read_table
from .arch import Arch
from .hf_config import arch_fields, read_config

MODEL_COLUMNS = list(TABLES["models"][2])


def _name_for(config: dict, path: Path, name: str | None) -> str:
    """--name, else the last part of ``_name_or_path``, else the config's folder name."""
    if name:
        return name
    named = str(config.get("_name_or_path") or "").rstrip("/").split("/")[-1]
    return named or path.resolve().parent.name or "model"


def model_row(config_path: str | Path, *, name: str | None = None, source: str | None = None,
              as_of: str | None = None, verified: bool = True, notes: str = "") -> tuple[dict, Arch]:
    """The models.csv row of a config.json (shapes, parameter counts, and provenance: ``source``
    defaults to the file's path, ``as_of`` to today), and the Arch it describes."""
    path = Path(config_path)
    config = read_config(path)
    arch = Arch(**arch_fields(config, _name_for(config, path, name), str(path)), source=f"published ({path})")
    row = arch.catalog_row()
    row.update(as_of=as_of or dt.date.today().isoformat(), source=source or f"config.json at {path}",
               verified=str(bool(verified)).lower(),
               notes=notes or "params_b and active_params_b counted from the config's shapes (workbench.project.arch)")
    return row, arch


def default_destination() -> Path:
    """models.csv in the catalog overrides directory (created when missing)."""
    folder = overrides_dir_default() or Path("catalog-overrides")
    return folder / TABLES["models"][0]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


def add_model(config_path: str | Path, *, to: str | Path | None = None, replace: bool = False,
              **row_kw) -> tuple[dict, Path, Arch]:
    """Add (or with ``replace``, update) the row of ``config_path`` in the models table ``to``
    (default :func:`default_destination`); returns the row, the file written and the Arch. Raises
    CatalogError when the name is already there, or the new table would not validate."""
    row, arch = model_row(config_path, **row_kw)
    dest = Path(to) if to else default_destination()
    header, rows = list(MODEL_COLUMNS), []
    if dest.exists():
        read_table("models", dest)  # refuse to rewrite a table that is already broken
        with open(dest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = [*reader.fieldnames, *(c for c in MODEL_COLUMNS if c not in reader.fieldnames)]
            rows = list(reader)
    same = [i for i, r in enumerate(rows) if r["name"].lower() == row["name"].lower()]
    if same and not replace:
        raise CatalogError(f"{dest}: model {row['name']!r} is already there (line {same[0] + 2}); "
                           "pass --replace to overwrite it, or --name to add it under another name")
    rows = [r for i, r in enumerate(rows) if i not in same] + [{k: _cell(v) for k, v in row.items()}]
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    try:
        read_table("models", tmp)
    except CatalogError as e:
        tmp.unlink()
        raise CatalogError(f"{config_path}: cannot add model {row['name']!r}: "
                           + str(e).replace(str(tmp), str(dest))) from None
    os.replace(tmp, dest)
    return row, dest, arch
