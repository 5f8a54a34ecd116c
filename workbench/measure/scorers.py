"""Scorers: model output text + item reference -> per-item scores -> workload metrics.

Each scorer is a pure function ``score(item, text, spec) -> Scored``; scoring depends only on
the output text and the item, so a run's metrics can always be recomputed from its stored
outputs. Unparseable output is a scored failure (``parsed_ok=False``, zero scores), never an
exception. JSON is read leniently (code fences, prose around the object) and the leniency is
counted (``json_strict`` = 1 only when the whole reply was the JSON object).

``metrics(spec, scored)`` turns the per-item results into :class:`MetricData`, each of which
evaluates its metric on any subset (bootstrap resample) of item indices:

* ``mean`` — the mean of a per-item score (accuracy, ROUGE-L, recall@k, reciprocal rank);
* ``macro_f1`` — the unweighted mean over classes of F1 = 2·TP / (2·TP + FP + FN), over the
  classes present in the gold labels or predictions of the subset;
* ``f1`` — micro F1 from per-item TP/FP/FN counts: 2·ΣTP / (2·ΣTP + ΣFP + ΣFN).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


@dataclass
class Scored:
    """One item's result: ``scores`` are numbers (stored in ITEMS.scores); ``pred`` the parsed answer."""

    parsed_ok: bool
    scores: dict[str, float]
    pred: Any = None


@dataclass
class MetricData:
    """Per-item arrays from which a metric is computed on any subset of items."""

    kind: str  # "mean" | "macro_f1" | "f1"
    data: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        """True for a mean of 0/1 outcomes (McNemar applies)."""
        x = self.data.get("x")
        return self.kind == "mean" and x is not None and bool(np.isin(x, (0.0, 1.0)).all())

    def value(self, idx: np.ndarray | None = None) -> float:
        d = self.data if idx is None else {k: v[idx] for k, v in self.data.items()}
        if self.kind == "mean":
            return float(np.mean(d["x"])) if len(d["x"]) else float("nan")
        if self.kind == "f1":
            return f1_from_counts(d["tp"].sum(), d["fp"].sum(), d["fn"].sum())
        if self.kind == "macro_f1":
            return macro_f1(d["gold"], d["pred"])
        raise ValueError(f"unknown metric kind {self.kind!r}")


# --------------------------------------------------------------------------- pure helpers
def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """F1 = 2·TP / (2·TP + FP + FN); 0 when the denominator is 0."""
    den = 2 * tp + fp + fn
    return float(2 * tp / den) if den else 0.0


def macro_f1(gold, pred) -> float:
    """Mean over classes (present in gold or pred; a failed prediction is "") of per-class F1."""
    gold, pred = np.asarray(gold, dtype=object), np.asarray(pred, dtype=object)
    classes = sorted({g for g in gold if g} | {p for p in pred if p})
    if not classes:
        return float("nan")
    f1s = []
    for c in classes:
        tp = np.sum((pred == c) & (gold == c))
        fp = np.sum((pred == c) & (gold != c))
        fn = np.sum((pred != c) & (gold == c))
        f1s.append(f1_from_counts(tp, fp, fn))
    return float(np.mean(f1s))


def _norm_label(s: str) -> str:
    return re.sub(r"[\s_\-]+", " ", re.sub(r"[^\w\s\-]", " ", s.lower())).strip()


def parse_label(text: str, labels: list[str]) -> tuple[str | None, bool]:
    """(label, strict): strict when the reply is exactly a label (case, spaces, _/- and punctuation
    aside); else the label mentioned first in the reply; else (None, False)."""
    t = _norm_label(text or "")
    norm = {_norm_label(l): l for l in labels}
    if t in norm:
        return norm[t], True
    best = None
    for n, lab in norm.items():
        m = re.search(rf"\b{re.escape(n)}\b", t)
        if m and (best is None or m.start() < best[0] or (m.start() == best[0] and len(n) > best[2])):
            best = (m.start(), lab, len(n))
    return (best[1], False) if best else (None, False)


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def _balanced_objects(t: str, limit: int = 20) -> list[str]:
    """Substrings of ``t`` from a '{' to its matching '}' (string-aware), first ones first."""
    out = []
    for start in [m.start() for m in re.finditer(r"\{", t)][:limit]:
        depth, in_str, esc = 0, False, False
        for j in range(start, len(t)):
            ch = t[j]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    out.append(t[start:j + 1])
                    break
    return out


def parse_json(text: str) -> tuple[Any, bool]:
    """(object, strict) from a model reply. strict: the whole reply was JSON. Lenient: a fenced
    block, or the first balanced {...} in the text. (None, False) when nothing parses."""
    t = (text or "").strip()
    try:
        return json.loads(t), True
    except (json.JSONDecodeError, ValueError):
        pass
    for block in [m.group(1) for m in _FENCE.finditer(t)] + _balanced_objects(t):
        try:
            return json.loads(block.strip()), False
        except (json.JSONDecodeError, ValueError):
            continue
    return None, False


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%d.%m.%Y", "%Y/%m/%d")


def _norm_value(v: Any) -> Any:
    """Comparable form: numbers as rounded floats, dates as ISO, strings lower-case alphanumerics,
    lists as sorted tuples of those."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return round(float(v), 2)
    if isinstance(v, list):
        return tuple(sorted(str(_norm_value(x)) for x in v))
    s = str(v).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date().isoformat()
        except ValueError:
            pass
    num = re.sub(r"[€$£,\s]|EUR|USD|GBP", "", s)
    if re.fullmatch(r"-?\d+(\.\d+)?", num):
        return round(float(num), 2)
    return re.sub(r"[^0-9a-z]+", "", s.lower())


def values_match(pred: Any, gold: Any) -> bool:
    return pred is not None and _norm_value(pred) == _norm_value(gold)


# --------------------------------------------------------------------------- scorers
def score_classification(item: dict, text: str, spec: dict) -> Scored:
    """correct: 1 when the parsed label equals the reference; strict_format: reply was the label alone."""
    label, strict = parse_label(text, spec["output"]["labels"])
    ok = label is not None
    return Scored(ok, {"correct": float(label == item["reference"]), "strict_format": float(strict)}, label or "")


def score_extraction(item: dict, text: str, spec: dict) -> Scored:
    """Per field: TP when predicted and equal to the reference, FP when predicted and different,
    FN when the reference has a value the prediction does not match."""
    obj, strict = parse_json(text)
    ok = isinstance(obj, dict)
    obj = obj if ok else {}
    fields = spec["output"].get("fields") or list(item["reference"])
    s = {"json_valid": float(ok), "json_strict": float(ok and strict)}
    tps = fps = fns = 0
    for f in fields:
        gold, pred = item["reference"].get(f), obj.get(f)
        present = pred not in (None, "")
        match = present and values_match(pred, gold)
        tp, fp, fn = float(match), float(present and not match), float(gold is not None and not match)
        s[f"tp.{f}"], s[f"fp.{f}"], s[f"fn.{f}"] = tp, fp, fn
        tps, fps, fns = tps + tp, fps + fp, fns + fn
    s["field_f1"] = f1_from_counts(tps, fps, fns)
    return Scored(ok, s, obj if ok else None)


def score_structured(item: dict, text: str, spec: dict) -> Scored:
    """schema_valid: the parsed object validates against output.schema (jsonschema);
    field_accuracy: fraction of output.fields equal to the reference; exact_match: all of them."""
    import jsonschema

    obj, strict = parse_json(text)
    ok = isinstance(obj, dict)
    valid = ok and jsonschema.Draft202012Validator(spec["output"]["schema"]).is_valid(obj)
    fields = spec["output"].get("fields") or list(item["reference"])
    d = obj if isinstance(obj, dict) else {}
    hits = [values_match(d.get(f), item["reference"].get(f)) for f in fields]
    acc = float(np.mean(hits)) if fields else 0.0
    return Scored(ok, {"json_valid": float(ok), "json_strict": float(ok and strict),
                       "schema_valid": float(valid), "field_accuracy": acc,
                       "exact_match": float(all(hits))}, obj)


_ROUGE = None


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F-measure (rouge-score, Porter stemming): LCS-based F1 of tokens."""
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return float(_ROUGE.score(ref, pred)["rougeL"].fmeasure)


def score_summarization(item: dict, text: str, spec: dict) -> Scored:
    """rougeL against the reference summary; an empty reply is a failure scored 0."""
    t = (text or "").strip()
    return Scored(bool(t), {"rougeL": rouge_l(t, item["reference"]) if t else 0.0}, t)


def score_retrieval(item: dict, text: str, spec: dict) -> Scored:
    """``text``: JSON list of passage ids, best first. recall_at_k = |relevant ∩ top k| / |relevant|;
    rr = 1 / rank of the first relevant passage (0 when none is ranked)."""
    ranking, _ = parse_json(text)
    ok = isinstance(ranking, list)
    ranking = ranking if ok else []
    rel = set(item["reference"])
    s = {}
    for k in spec["output"].get("k", [1, 5]):
        s[f"recall_at_{k}"] = len(rel & set(ranking[:k])) / len(rel) if ok else 0.0
    rank = next((i + 1 for i, pid in enumerate(ranking) if pid in rel), None)
    s["rr"] = 1.0 / rank if rank else 0.0
    return Scored(ok, s, ranking)


SCORERS: dict[str, Callable[[dict, str, dict], Scored]] = {
    "classification": score_classification,
    "extraction": score_extraction,
    "structured": score_structured,
    "summarization": score_summarization,
    "retrieval": score_retrieval,
}


# --------------------------------------------------------------------------- metrics
def metrics(spec: dict, items: list[dict], scored: list[Scored]) -> dict[str, MetricData]:
    """Metric name -> MetricData over ``items`` (aligned with ``scored``)."""

    def mean(key: str) -> MetricData:
        return MetricData("mean", {"x": np.array([s.scores.get(key, 0.0) for s in scored], float)})

    out: dict[str, MetricData] = {}
    kind = spec["scorer"]
    if kind == "classification":
        out["accuracy"] = mean("correct")
        out["macro_f1"] = MetricData("macro_f1", {
            "gold": np.array([it["reference"] for it in items], dtype=object),
            "pred": np.array([s.pred or "" for s in scored], dtype=object)})
        out["strict_format"] = mean("strict_format")
    elif kind == "extraction":
        fields = spec["output"].get("fields") or list(items[0]["reference"])
        counts = lambda pre, f: np.array([s.scores.get(f"{pre}.{f}", 0.0) for s in scored], float)
        out["field_f1"] = MetricData("f1", {k: sum(counts(k, f) for f in fields) for k in ("tp", "fp", "fn")})
        out["json_valid"] = mean("json_valid")
        out["json_strict"] = mean("json_strict")
        for f in fields:
            out[f"f1.{f}"] = MetricData("f1", {k: counts(k, f) for k in ("tp", "fp", "fn")})
    elif kind == "structured":
        for k in ("schema_valid", "field_accuracy", "exact_match", "json_valid", "json_strict"):
            out[k] = mean(k)
    elif kind == "summarization":
        out["rougeL"] = mean("rougeL")
    elif kind == "retrieval":
        for k in spec["output"].get("k", [1, 5]):
            out[f"recall_at_{k}"] = mean(f"recall_at_{k}")
        out["mrr"] = mean("rr")
    out["parsed_ok"] = MetricData("mean", {"x": np.array([float(s.parsed_ok) for s in scored])})
    return out
