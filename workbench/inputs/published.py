"""Published measurements of real engines on real GPUs (``data/published/measurements.csv``):
the ground truth for the projection's error (``benchmarks/projection_vs_published.py``).

Each row is one figure a vendor published — model, GPU, engine and version, input/output
lengths, concurrency, the metric and its value — with ``provenance`` "published" and its
source. The file's columns are described in ``data/published/README.md``. Read with pandas
(already the table library of the results store); every row is checked on load and a bad one
raises :class:`PublishedError` naming the line and the field.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import WorkbenchError
from ..paths import DATA_DIR

PUBLISHED_FILE = DATA_DIR / "published" / "measurements.csv"
METRICS = {"output_tokens_per_s": "tok/s", "output_tokens_per_s_per_gpu": "tok/s/GPU", "ttft_ms": "ms",
           "tpot_ms": "ms", "e2el_ms": "ms"}
MODES = ("static-batch", "closed-loop", "offline")
ENGINES = ("vllm", "trtllm", "sglang")
REQUIRED = ("id", "model", "gpu", "gpu_count", "tp", "engine", "engine_version", "quantization", "kv_dtype",
            "input_tokens", "output_tokens", "concurrency", "mode", "metric", "value", "unit", "provenance",
            "verified", "source")


class PublishedError(WorkbenchError, ValueError):
    """A published-measurements file or row that cannot be used; the message names line and field."""


def load_published(path: str | Path | None = None):
    """The published measurements as a DataFrame (one row per figure; ``concurrency`` is an
    int, or None for an offline run's ``max``)."""
    import pandas as pd

    path = Path(path or PUBLISHED_FILE)
    if not path.is_file():
        raise PublishedError(f"{path}: no published measurements file")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise PublishedError(f"{path}: missing column(s) {', '.join(missing)}")
    rows = [_check_row(path, i + 2, r) for i, r in enumerate(df.to_dict("records"))]
    ids = [r["id"] for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PublishedError(f"{path}: duplicate id(s) {', '.join(dup)}")
    return pd.DataFrame(rows, columns=list(df.columns))


def _check_row(path: Path, line: int, r: dict) -> dict:
    where = f"{path.name} line {line} ({r.get('id') or 'no id'})"
    for c in REQUIRED:
        if not str(r[c]).strip():
            raise PublishedError(f"{where}: {c} is empty")
    if r["provenance"] != "published":
        raise PublishedError(f"{where}: provenance {r['provenance']!r}, expected 'published'")
    if r["metric"] not in METRICS:
        raise PublishedError(f"{where}: metric {r['metric']!r} is not one of {', '.join(METRICS)}")
    if r["unit"] != METRICS[r["metric"]]:
        raise PublishedError(f"{where}: unit {r['unit']!r} for {r['metric']}, expected {METRICS[r['metric']]!r}")
    if r["mode"] not in MODES or r["engine"] not in ENGINES:
        raise PublishedError(f"{where}: mode {r['mode']!r} / engine {r['engine']!r} not known "
                             f"({', '.join(MODES)} / {', '.join(ENGINES)})")
    out = dict(r)
    try:
        for c in ("gpu_count", "tp", "input_tokens", "output_tokens"):
            out[c] = int(r[c])
        out["value"] = float(r["value"])
        out["concurrency"] = None if r["concurrency"] == "max" else int(r["concurrency"])
    except ValueError as e:
        raise PublishedError(f"{where}: not a number ({e})") from None
    if out["value"] <= 0 or min(out["gpu_count"], out["tp"], out["input_tokens"], out["output_tokens"]) < 1:
        raise PublishedError(f"{where}: value, gpu_count, tp and token counts must be positive")
    if (out["concurrency"] is None) != (r["mode"] == "offline"):
        raise PublishedError(f"{where}: concurrency 'max' goes with mode 'offline' and only with it")
    out["verified"] = str(r["verified"]).strip().lower() == "true"
    return out
