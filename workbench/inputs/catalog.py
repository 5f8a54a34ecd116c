"""The catalog: GPUs, instances and their prices, API prices, model architectures, published
quality scores — plain CSV files under ``data/catalog/``, every row dated (``as_of``) and
sourced (``source``), with ``verified`` false where the number was not checked against a
primary source.

``load_catalog()`` reads the shipped files, then the user's overrides (CSV files with the same
columns in ``$WORKBENCH_CATALOG_OVERRIDES`` or ``./catalog-overrides/``, plus an optional
LiteLLM ``model_prices_and_context_window.json``); override rows replace shipped rows with the
same key and add the others. Every row is validated on load: a bad one raises
:class:`CatalogError` naming the file, line, key and field.

Prices that changed over time are separate rows with ``valid_from`` (inclusive) and
``valid_to`` (exclusive; empty = still valid); lookups take an ``as_of`` date.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from ..paths import DATA_DIR, user_path

CATALOG_DIR = DATA_DIR / "catalog"
LITELLM_FILE = "model_prices_and_context_window.json"
PRICINGS = ("on-demand", "spot", "reserved")
API_MODES = ("chat", "embedding")
LOCAL_ATTENTION = ("sliding", "chunked")


class CatalogError(WorkbenchError, ValueError):
    """A catalog file, row or lookup that cannot be used; the message names file, row and field."""


# Column kinds: "str" (non-empty when required), "float"/"int" (>= 0), "date" (YYYY-MM-DD),
# "bool" (true/false). Each table: (file, key columns, {column: (kind, required)}).
_COMMON = {"as_of": ("date", True), "source": ("str", True), "verified": ("bool", True),
           "notes": ("str", False)}
TABLES: dict[str, tuple[str, tuple[str, ...], dict[str, tuple[str, bool]]]] = {
    "gpus": ("gpus.csv", ("name",), {
        "name": ("str", True), "mem_gib": ("float", True), "mem_bw_tbps": ("float", True),
        "bf16_tflops": ("float", True), "fp8_tflops": ("float", False),
        "int8_tops": ("float", False), "fp4_tflops": ("float", False), "tdp_w": ("float", False),
        **_COMMON}),
    "instances": ("instances.csv", ("cloud", "instance", "pricing", "valid_from"), {
        "cloud": ("str", True), "instance": ("str", True), "gpu": ("str", True),
        "gpu_count": ("int", True), "vcpus": ("int", False), "pricing": ("str", True),
        "usd_per_hour": ("float", True), "valid_from": ("date", False),
        "valid_to": ("date", False), **_COMMON}),
    "apis": ("apis.csv", ("model", "valid_from"), {
        "model": ("str", True), "litellm_provider": ("str", True), "mode": ("str", True),
        "input_cost_per_token": ("float", True), "output_cost_per_token": ("float", True),
        "cache_read_input_token_cost": ("float", False),
        "input_cost_per_token_batches": ("float", False),
        "output_cost_per_token_batches": ("float", False),
        "max_input_tokens": ("int", False), "max_output_tokens": ("int", False),
        "valid_from": ("date", False), "valid_to": ("date", False), **_COMMON}),
    "models": ("models.csv", ("name",), {
        "name": ("str", True), "params_b": ("float", True), "active_params_b": ("float", True),
        "layers": ("int", True), "hidden": ("int", True), "heads": ("int", True),
        "kv_heads": ("int", True), "head_dim": ("int", True), "ffn": ("int", True),
        "vocab": ("int", True), "max_context": ("int", True), "sliding_window": ("int", False),
        "experts": ("int", True), "experts_per_token": ("int", True),
        "tied_embeddings": ("bool", True),
        # 2026 architectures (workbench/project/arch.py); empty = the 2024 behaviour
        "full_attention_layers": ("int", False), "local_attention": ("str", False),
        "kv_lora_rank": ("int", False), "q_lora_rank": ("int", False), "qk_rope_head_dim": ("int", False),
        "qk_nope_head_dim": ("int", False), "v_head_dim": ("int", False), "moe_ffn": ("int", False),
        "shared_experts": ("int", False), "first_dense_layers": ("int", False), "moe_every": ("int", False),
        "extra_params_b": ("float", False), "weight_format": ("str", False), **_COMMON}),
    "quality": ("quality.csv", ("model", "benchmark", "protocol"), {
        "model": ("str", True), "benchmark": ("str", True), "score": ("float", True),
        "protocol": ("str", True), **_COMMON}),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_value(kind: str, text: str, where: str, col: str) -> Any:
    """One cell, validated: returns a Python value (None when empty) or raises CatalogError."""
    if text == "":
        return None
    bad = f"{where}: field {col!r}: "
    if kind == "str":
        return text
    if kind in ("float", "int"):
        try:
            value = float(text)
        except ValueError:
            raise CatalogError(bad + f"must be a number, got {text!r}") from None
        if not value >= 0 or value == float("inf"):
            raise CatalogError(bad + f"must be a finite number >= 0, got {text!r}")
        if kind == "int":
            if value != int(value):
                raise CatalogError(bad + f"must be a whole number, got {text!r}")
            return int(value)
        return value
    if kind == "date":
        try:
            if not _DATE.match(text):
                raise ValueError
            dt.date.fromisoformat(text)
        except ValueError:
            raise CatalogError(bad + f"must be a date YYYY-MM-DD, got {text!r}") from None
        return text
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise CatalogError(bad + f"must be true or false, got {text!r}")
        return text.lower() == "true"
    raise AssertionError(kind)


def _check_row(table: str, row: dict[str, Any], where: str) -> None:
    """Cross-field rules that a single cell cannot express."""
    if table == "instances" and row["pricing"] not in PRICINGS:
        raise CatalogError(f"{where}: field 'pricing': must be one of {', '.join(PRICINGS)}, "
                           f"got {row['pricing']!r}")
    if table == "apis" and row["mode"] not in API_MODES:
        raise CatalogError(f"{where}: field 'mode': must be one of {', '.join(API_MODES)}, "
                           f"got {row['mode']!r}")
    if table == "models" and row.get("local_attention") not in (None, *LOCAL_ATTENTION):
        raise CatalogError(f"{where}: field 'local_attention': must be one of {', '.join(LOCAL_ATTENTION)}, "
                           f"got {row['local_attention']!r}")
    if table == "models" and row.get("moe_every") == 0:
        raise CatalogError(f"{where}: field 'moe_every': must be >= 1 (1 = every layer), got 0")
    if row.get("valid_from") and row.get("valid_to") and row["valid_to"] <= row["valid_from"]:
        raise CatalogError(f"{where}: field 'valid_to': {row['valid_to']} is not after "
                           f"valid_from {row['valid_from']}")


def read_csv(path: str | Path, what: str) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (dicts of strings) of a CSV file; CatalogError naming the file
    (as ``what``) when it cannot be read."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)
    except OSError as e:
        raise CatalogError(f"{path}: cannot read {what}: {e.strerror}") from None


def read_table(table: str, path: str | Path) -> list[dict[str, Any]]:
    """Rows of one catalog CSV, validated and typed; each row also gets ``catalog_file`` and
    ``catalog_line`` (where it came from).

    Missing optional columns are allowed (empty); a missing required column, an unknown
    column, a bad cell or a key repeated in the file raises CatalogError naming the file and
    line (the header is line 1).
    """
    _, key_cols, spec = TABLES[table]
    path = Path(path)
    header, raw_rows = read_csv(path, "catalog file")
    unknown = [c for c in header if c not in spec]
    if unknown:
        hint = difflib.get_close_matches(unknown[0], spec, n=1)
        raise CatalogError(f"{path}: unknown column {unknown[0]!r}"
                           + (f"; did you mean {hint[0]!r}?" if hint else ""))
    missing = [c for c, (_, req) in spec.items() if req and c not in header]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {', '.join(missing)} "
                           f"(expected {', '.join(spec)})")
    rows, seen = [], {}
    for i, raw in enumerate(raw_rows):
        line = i + 2
        if None in raw or any(v is None for v in raw.values()):
            raise CatalogError(f"{path}: line {line}: wrong number of fields "
                               f"(expected {len(header)}: {', '.join(header)})")
        label = "/".join(raw.get(k, "") or "-" for k in key_cols)
        where = f"{path}: line {line} ({label})"
        row = {}
        for col, (kind, required) in spec.items():
            value = _parse_value(kind, (raw.get(col) or "").strip(), where, col)
            if value is None and required:
                raise CatalogError(f"{where}: field {col!r}: missing (required)")
            row[col] = value
        _check_row(table, row, where)
        key = tuple(row[k] or "" for k in key_cols)
        if key in seen:
            raise CatalogError(f"{where}: key {label!r} repeats line {seen[key]}")
        seen[key] = line
        row["catalog_file"], row["catalog_line"] = str(path), line
        rows.append(row)
    return rows


def _frame(table: str, rows: list[dict[str, Any]]):
    import pandas as pd

    spec = TABLES[table][2]
    df = pd.DataFrame(rows, columns=[*spec, "catalog_file", "catalog_line"])
    df["catalog_line"] = df["catalog_line"].astype("Int64")
    for col, (kind, _) in spec.items():
        if kind == "float":
            df[col] = df[col].astype("float64")
        elif kind == "int":
            df[col] = df[col].astype("Int64")
        elif kind == "bool":
            df[col] = df[col].astype("boolean")
        else:
            df[col] = df[col].fillna("").astype(str)
    return df


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """A DataFrame row as plain Python values (NaN/NA -> None)."""
    import pandas as pd

    out = {}
    for k, v in record.items():
        if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out[k] = None
        elif hasattr(v, "item"):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def _today() -> str:
    return dt.date.today().isoformat()


def valid_at(rows, as_of: str):
    """Rows in force on ``as_of``: valid_from <= as_of < valid_to (empty bounds are open)."""
    vf, vt = rows["valid_from"], rows["valid_to"]
    return rows[((vf == "") | (vf <= as_of)) & ((vt == "") | (vt > as_of))]


def _pick_dated(rows, as_of: str | None, what: str) -> dict[str, Any]:
    """The row in force on ``as_of`` (default today); the latest valid_from wins a tie, then
    the latest as_of, then the later file (overrides load after the shipped files)."""
    when = normalise_date(as_of) if as_of else _today()
    live = valid_at(rows, when)
    if live.empty:
        spans = ", ".join(f"{r.valid_from or '...'}..{r.valid_to or 'now'}" for r in rows.itertuples())
        raise CatalogError(f"{what}: no price in force on {when} (rows cover {spans})")
    live = live.assign(_order=range(len(live))).sort_values(["valid_from", "as_of", "_order"])
    return _clean(live.drop(columns="_order").iloc[-1].to_dict())


def normalise_date(value: Any) -> str:
    text = value.isoformat()[:10] if hasattr(value, "isoformat") else str(value)
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise CatalogError(f"as_of: must be a date YYYY-MM-DD, got {value!r}") from None
    return text


def _unknown(kind: str, name: str, known) -> CatalogError:
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if not close:
        low = name.lower()
        close = [k for k in known if low in k.lower() or k.lower() in low][:3]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return CatalogError(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}")


@dataclass(frozen=True)
class Catalog:
    """The loaded catalog: one DataFrame per table (columns as in ``TABLES`` plus
    ``catalog_file`` and ``catalog_line``, where each row came from) and lookups that name
    close matches."""

    gpus: Any
    instances: Any
    apis: Any
    models: Any
    quality: Any
    files: tuple[str, ...] = ()

    def gpu(self, name: str) -> dict[str, Any]:
        """One GPU's specs by name (case-insensitive), e.g. ``catalog.gpu("A10G")["mem_gib"]``."""
        row = self._gpu_rows.get(str(name).lower())
        if row is None:
            raise _unknown("GPU", name, self.gpus["name"])
        return dict(row)

    @cached_property
    def _gpu_rows(self) -> dict[str, dict[str, Any]]:
        """GPU rows by lower-case name (the last row of a name wins, as overrides load last):
        a decision looks GPUs up about 1,700 times."""
        return {str(r["name"]).lower(): _clean(r) for r in self.gpus.to_dict("records")}

    def model(self, name: str) -> dict[str, Any]:
        """One model's architecture by name (case-insensitive; an ``org/`` prefix and a
        ``Meta-`` prefix are ignored, so ``meta-llama/Meta-Llama-3-8B`` finds ``Llama-3-8B``)."""
        names = self.models["name"].str.lower()
        base = str(name).split("/")[-1].lower()
        for candidate in (str(name).lower(), base, base.removeprefix("meta-")):
            hit = self.models[names == candidate]
            if not hit.empty:
                return _clean(hit.iloc[-1].to_dict())
        raise _unknown("model", name, self.models["name"])

    @cached_property
    def _instance_rows(self) -> dict[str, Any]:
        """Instance rows by lower-case name: one decision looks up instances about 1,500 times,
        and filtering the whole table each time took about half of a report's run time."""
        return dict(tuple(self.instances.groupby(self.instances["instance"].str.lower(), sort=False)))

    def instance(self, instance: str, pricing: str = "on-demand", as_of: Any = None,
                 cloud: str | None = None) -> dict[str, Any]:
        """The price row of ``instance`` under ``pricing`` in force on ``as_of`` (default
        today). Gives cloud, gpu, gpu_count, usd_per_hour, source, verified, ..."""
        if pricing not in PRICINGS:
            raise CatalogError(f"pricing: must be one of {', '.join(PRICINGS)}, got {pricing!r}")
        key = (str(instance).lower(), pricing, normalise_date(as_of) if as_of else _today(), cloud)
        if key not in self._instance_memo:
            self._instance_memo[key] = self._instance(instance, pricing, key[2], cloud)
        return dict(self._instance_memo[key])

    @cached_property
    def _instance_memo(self) -> dict[tuple, dict[str, Any]]:
        return {}

    def _instance(self, instance: str, pricing: str, as_of: str, cloud: str | None) -> dict[str, Any]:
        df = self.instances
        rows = self._instance_rows.get(str(instance).lower(), df.iloc[:0])
        if cloud is not None:
            rows = rows[rows["cloud"] == cloud]
        if rows.empty:
            raise _unknown("instance", instance, df["instance"])
        clouds = sorted(set(rows["cloud"]))
        if len(clouds) > 1:
            raise CatalogError(f"instance {instance!r} is listed by several clouds "
                               f"({', '.join(clouds)}): pass cloud=")
        priced = rows[rows["pricing"] == pricing]
        if priced.empty:
            have = ", ".join(sorted(set(rows["pricing"])))
            raise CatalogError(f"instance {instance!r}: no {pricing} price in the catalog "
                               f"(it has: {have}); add one in your catalog overrides")
        return _pick_dated(priced, as_of, f"instance {instance!r} ({pricing})")

    def api(self, model: str, as_of: Any = None) -> dict[str, Any]:
        """The price row of an API model (LiteLLM key, e.g. ``gpt-4o-mini`` or
        ``gemini/gemini-1.5-flash``; a unique suffix after ``provider/`` also matches) in force
        on ``as_of`` (default today)."""
        keys = self.apis["model"].str.lower()
        rows = self.apis[keys == str(model).lower()]
        if rows.empty:  # "gemini-1.5-flash" finds "gemini/gemini-1.5-flash" when unambiguous
            rows = self.apis[keys.str.endswith("/" + str(model).lower())]
            if rows["model"].nunique() > 1:
                raise CatalogError(f"API model {model!r} is ambiguous: "
                                   f"{', '.join(sorted(set(rows['model'])))}")
        if rows.empty:
            raise _unknown("API model", model, self.apis["model"])
        return _pick_dated(rows, as_of, f"API model {model!r}")


def overrides_dir_default() -> Path | None:
    """``$WORKBENCH_CATALOG_OVERRIDES`` (must exist) or ``./catalog-overrides/`` if present."""
    return user_path("WORKBENCH_CATALOG_OVERRIDES", "catalog-overrides", is_dir=True, error=CatalogError)


def merge_rows(table: str, base: list[dict], extra: list[dict]) -> list[dict]:
    """Rows of ``extra`` replace rows of ``base`` with the same key; the rest are appended."""
    key_cols = TABLES[table][1]
    out = {tuple(r[k] or "" for k in key_cols): r for r in base}
    for r in extra:
        out[tuple(r[k] or "" for k in key_cols)] = r
    return list(out.values())


_CACHE: dict[tuple, Catalog] = {}


def load_catalog(overrides_dir: str | Path | None = None, *,
                 catalog_dir: str | Path | None = None) -> Catalog:
    """Shipped catalog (``catalog_dir``, default ``data/catalog/``) plus overrides.

    ``overrides_dir`` defaults to :func:`overrides_dir_default`. Any of gpus.csv,
    instances.csv, apis.csv, models.csv, quality.csv found there replace shipped rows by key;
    a ``model_prices_and_context_window.json`` there is imported with :func:`import_litellm`
    and merged into ``apis`` before apis.csv overrides. Cached per directory and file mtimes.
    """
    base_dir = Path(catalog_dir) if catalog_dir else CATALOG_DIR
    over = Path(overrides_dir) if overrides_dir else overrides_dir_default()
    if over is not None and not over.is_dir():
        raise CatalogError(f"{over}: catalog overrides directory does not exist")
    files = [base_dir / spec[0] for spec in TABLES.values()]
    if over is not None:
        files += [p for p in [over / LITELLM_FILE, *(over / s[0] for s in TABLES.values())]
                  if p.is_file()]
    stamp = tuple((str(p), p.stat().st_mtime_ns if p.exists() else None) for p in files)
    key = (str(base_dir.resolve()), str(over.resolve()) if over else None, stamp)
    if key in _CACHE:
        return _CACHE[key]
    frames = {}
    for table, (fname, _, _) in TABLES.items():
        rows = read_table(table, base_dir / fname)
        if over is not None:
            if table == "apis" and (over / LITELLM_FILE).is_file():
                rows = merge_rows(table, rows, _litellm_rows(over / LITELLM_FILE))
            if (over / fname).is_file():
                rows = merge_rows(table, rows, read_table(table, over / fname))
        frames[table] = _frame(table, rows)
    _check_gpu_refs(frames)
    cat = Catalog(**frames, files=tuple(str(p) for p in files))
    _CACHE[key] = cat
    return cat


def _check_gpu_refs(frames) -> None:
    gpus = set(frames["gpus"]["name"]) | {"CPU"}
    for r in frames["instances"].itertuples():
        if r.gpu not in gpus:
            close = difflib.get_close_matches(r.gpu, gpus, n=1, cutoff=0.5)
            raise CatalogError(
                f"{r.catalog_file}: line {r.catalog_line} ({r.cloud}/{r.instance}/{r.pricing}): "
                f"field 'gpu': unknown GPU "
                f"{r.gpu!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                + " (use a name from gpus.csv, or CPU)")


def _litellm_rows(path: Path, as_of: str | None = None, errors: str = "raise",
                  verified: bool = False) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CatalogError(f"{path}: cannot read LiteLLM price file: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise CatalogError(f"{path}: not valid JSON: line {e.lineno}: {e.msg}") from None
    if not isinstance(doc, dict):
        raise CatalogError(f"{path}: expected a JSON object of model -> prices")
    when = normalise_date(as_of) if as_of else dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    spec = TABLES["apis"][2]
    rows = []
    for model, entry in doc.items():
        if model == "sample_spec":
            continue
        where = f"{path}: model {model!r}"
        if not isinstance(entry, dict):
            if errors == "skip":
                continue
            raise CatalogError(f"{where}: expected an object, got {type(entry).__name__}")
        if entry.get("mode") not in API_MODES:
            continue  # images, audio, rerank, ...: not priced per token here
        try:
            row = {"model": model, "litellm_provider": str(entry.get("litellm_provider") or ""),
                   "mode": entry["mode"]}
            for col in ("input_cost_per_token", "output_cost_per_token",
                        "cache_read_input_token_cost", "input_cost_per_token_batches",
                        "output_cost_per_token_batches", "max_input_tokens", "max_output_tokens"):
                value = entry.get(col)
                if col == "output_cost_per_token" and value is None and entry["mode"] == "embedding":
                    value = 0.0
                text = "" if value is None else str(value)
                row[col] = _parse_value(spec[col][0], text, where, col)
                if row[col] is None and spec[col][1]:
                    raise CatalogError(f"{where}: field {col!r}: missing (required)")
            if not row["litellm_provider"]:
                raise CatalogError(f"{where}: field 'litellm_provider': missing (required)")
        except CatalogError:
            if errors == "skip":
                continue
            raise
        row.update(valid_from=when, valid_to=None, as_of=when, source=str(path),
                   verified=verified, notes="imported from LiteLLM", catalog_file=str(path),
                   catalog_line=None)
        rows.append(row)
    return rows


def import_litellm(path: str | Path, as_of: Any = None, *, errors: str = "raise",
                   verified: bool = False):
    """LiteLLM's ``model_prices_and_context_window.json`` as a DataFrame in apis.csv columns.

    Keeps the chat and embedding entries. ``as_of`` (default: the file's modification date)
    is also used as ``valid_from``, so an imported price wins over older dated rows for lookups
    from that date on, and never rewrites history. ``source`` is the path. ``errors="skip"``
    drops malformed entries instead of raising CatalogError (which names the model and field).
    Save the frame as ``catalog-overrides/apis.csv`` — or drop the JSON itself into the
    overrides directory — to use it.
    """
    if errors not in ("raise", "skip"):
        raise CatalogError(f"errors: must be 'raise' or 'skip', got {errors!r}")
    return _frame("apis", _litellm_rows(Path(path), as_of, errors, verified))
