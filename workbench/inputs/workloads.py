"""Workloads: a directory ``data/workloads/<name>/`` with ``spec.yaml`` and ``items.jsonl``.

spec.yaml (see docs/workloads.md for every field)::

    name: ticket-classification
    task: classification          # classification|routing|extraction|summarization|structured|retrieval
    prompt: {system: ..., user: "Ticket: {text}\\nCategory:", few_shot: [{user: .., assistant: ..}]}
    output: {format: label, labels: [...]}   # or json + fields/schema, text, ranking + k
    scorer: classification        # a name in SCORERS (workbench.measure.scorers implements each)
    primary_metric: macro_f1
    max_tokens: 8
    volume: {daily_requests: 40000, peak_factor: 3}
    slo: {ttft_ms: 1000, e2el_ms: 2000}
    quality_floor: {accuracy: 0.85}
    privacy: internal-only        # may not leave our network; else "any"

items.jsonl: one JSON object per line with a unique ``id``, the fields the prompt template
names, and ``reference`` (a label, a dict of fields, a summary, or a list of relevant
passage ids); optionally ``split`` (train, dev or test) on every item. A workload without
splits gets a seeded one (:func:`seeded_splits`; spec ``split: {seed, group, test, dev}``,
``group`` naming an item field whose equal values stay in one split). Retrieval workloads add ``corpus.jsonl`` (``id``, ``text``). Adding a workload
needs no code; a bad file raises :class:`WorkloadError` naming file, field or line, and value.
"""

from __future__ import annotations

import difflib
import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from ..paths import DATA_DIR

TASKS = ("classification", "routing", "extraction", "summarization", "structured", "retrieval")
PRIVACY = ("internal-only", "any")
SCORERS = ("classification", "extraction", "structured", "summarization", "retrieval")
"""The scorers a spec may name: how :mod:`workbench.measure.scorers` judges its outputs (a test
checks that the two lists agree)."""
SPLITS = ("train", "dev", "test")
"""Item splits: a model is trained on train, stopped early on dev, and scored on test."""
SEEDED_SPLIT = {"seed": 0, "group": None, "test": 0.3, "dev": 0.1}
"""Defaults of a seeded split: shares of the groups (items, when no group key) in test and dev."""
CHARS_PER_TOKEN = 4.0
"""Assumed characters per token when no run has measured a workload (English text, BPE)."""


class WorkloadError(WorkbenchError, ValueError):
    """A workload that cannot be used; the message names the file, field or line, and value."""


def workloads_dir() -> Path:
    return DATA_DIR / "workloads"


def list_workloads(root: str | Path | None = None) -> list[str]:
    """Names of the workload directories (those holding a spec.yaml) under ``root``."""
    root = Path(root) if root else workloads_dir()
    return sorted(p.parent.name for p in root.glob("*/spec.yaml"))


def _fields_in(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


@dataclass
class Workload:
    name: str
    task: str
    spec: dict
    items: list[dict]
    max_tokens: int
    daily_volume: float
    peak_factor: float
    slo: dict
    quality_floor: dict
    primary_metric: str
    privacy: str
    path: Path | None = None
    corpus: list[dict] = field(default_factory=list)
    split_source: str = "recorded in items.jsonl"

    def __repr__(self) -> str:
        return f"Workload({self.name!r}, task={self.task!r}, items={len(self.items)})"

    # -------------------------------------------------------------- prompts
    def messages(self, item: dict) -> list[dict]:
        """Chat messages for one item: system, few-shot pairs, then the user turn."""
        p = self.spec["prompt"]
        msgs = [{"role": "system", "content": p["system"]}] if p.get("system") else []
        for ex in p.get("few_shot") or []:
            msgs += [{"role": "user", "content": ex["user"]}, {"role": "assistant", "content": ex["assistant"]}]
        msgs.append({"role": "user", "content": p["user"].format(**item)})
        return msgs

    def split(self, name: str | None) -> list[dict]:
        """The items of split ``name`` (train, dev, test) in file order; all items for None or "all"."""
        if name in (None, "all"):
            return list(self.items)
        if name not in SPLITS:
            raise WorkloadError(f"workload {self.name!r}: field 'split': must be one of {', '.join(SPLITS)} "
                                f"or all, got {name!r}")
        return [it for it in self.items if it["split"] == name]

    def selected(self, limit: int | None = None, seed: int = 0, split: str | None = None) -> list[dict]:
        """The items a run uses: those of ``split`` (all for None), or a seeded random subset of
        ``limit`` of them, in file order."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise WorkloadError(f"workload {self.name!r}: field 'limit': must be a positive whole number of items, got {limit!r}")
        pool = self.split(split)
        if limit is None or limit >= len(pool):
            return pool
        import random

        keep = set(random.Random(seed).sample(range(len(pool)), limit))
        return [it for i, it in enumerate(pool) if i in keep]

    # -------------------------------------------------------------- token shape
    def estimated_tokens(self) -> dict:
        """Prompt and output token distribution (mean, p50, p90) estimated from the text: the
        prompts and the reference outputs at CHARS_PER_TOKEN characters per token (provenance
        "assumed"). A measured profile, from the runs that served this workload, is
        :func:`workbench.decide.options.token_profile`."""
        import numpy as np

        pt, ot = [], []
        for it in self.items:
            if self.task == "retrieval":
                text, out = self.spec["prompt"]["query"].format(**it), ""
            else:
                text = " ".join(m["content"] for m in self.messages(it))
                ref = it.get("reference")
                out = ref if isinstance(ref, str) else json.dumps(ref)
            pt.append(len(text) / CHARS_PER_TOKEN)
            ot.append(len(out) / CHARS_PER_TOKEN)
        return {**token_stats("prompt_tokens", np.array(pt)), **token_stats("output_tokens", np.array(ot)),
                "n": len(pt), "provenance": "assumed",
                "source": f"text length / {CHARS_PER_TOKEN:g} chars per token (reference outputs)"}


def token_stats(name: str, x) -> dict:
    """``{name}_mean``, ``{name}_p50``, ``{name}_p90`` of the token counts ``x``."""
    import numpy as np

    return {f"{name}_mean": float(np.mean(x)), f"{name}_p50": float(np.percentile(x, 50)),
            f"{name}_p90": float(np.percentile(x, 90))}


# ------------------------------------------------------------------ loading and validation
def _need(spec: dict, key: str, typ, src: Path, where: str = ""):
    d = spec
    for part in (where.split(".") if where else []):
        d = d.get(part) or {}
    v = d.get(key)
    name = f"{where}.{key}" if where else key
    if v is None:
        raise WorkloadError(f"{src}: field {name!r}: missing")
    if not isinstance(v, typ) or isinstance(v, bool):
        raise WorkloadError(f"{src}: field {name!r}: expected {getattr(typ, '__name__', typ)}, got {v!r}")
    return v


def _check_spec(spec: Any, src: Path) -> None:
    if not isinstance(spec, dict):
        raise WorkloadError(f"{src}: expected a mapping at the top level, got {type(spec).__name__}")
    task = _need(spec, "task", str, src)
    if task not in TASKS:
        raise WorkloadError(f"{src}: field 'task': must be one of {', '.join(TASKS)}, got {task!r}")
    scorer = _need(spec, "scorer", str, src)
    if scorer not in SCORERS:
        hint = difflib.get_close_matches(scorer, SCORERS, n=1)
        raise WorkloadError(f"{src}: field 'scorer': unknown scorer {scorer!r}"
                            + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(SCORERS)}"))
    _need(spec, "prompt", dict, src)
    _need(spec, "primary_metric", str, src)
    mt = _need(spec, "max_tokens", int, src)
    if mt < 0 or mt > 2048:
        raise WorkloadError(f"{src}: field 'max_tokens': must be 0..2048, got {mt!r}")
    if task == "retrieval":
        _need(spec, "query", str, src, "prompt")
        _need(spec, "corpus", str, src)
    else:
        _need(spec, "user", str, src, "prompt")
        for i, ex in enumerate(spec["prompt"].get("few_shot") or []):
            if not isinstance(ex, dict) or not isinstance(ex.get("user"), str) or not isinstance(ex.get("assistant"), str):
                raise WorkloadError(f"{src}: field 'prompt.few_shot[{i}]': needs 'user' and 'assistant' strings, got {ex!r}")
    out = spec.get("output") or {}
    if scorer == "classification" and not isinstance(out.get("labels"), list):
        raise WorkloadError(f"{src}: field 'output.labels': a classification scorer needs a list of labels, got {out.get('labels')!r}")
    if scorer == "structured":
        import jsonschema

        schema = _need(spec, "schema", dict, src, "output")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise WorkloadError(f"{src}: field 'output.schema': not a valid JSON schema: {e.message}") from None
    vol = spec.get("volume") or {}
    for k in ("daily_requests", "peak_factor"):
        if k in vol and (not isinstance(vol[k], (int, float)) or isinstance(vol[k], bool) or vol[k] < 0):
            raise WorkloadError(f"{src}: field 'volume.{k}': must be a non-negative number, got {vol[k]!r}")
    for key in ("slo", "quality_floor"):
        d = spec.get(key) or {}
        if not isinstance(d, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in d.values()):
            raise WorkloadError(f"{src}: field {key!r}: must map names to numbers, got {d!r}")
    bad = set(spec.get("slo") or {}) - {"ttft_ms", "tpot_ms", "e2el_ms"}
    if bad:
        raise WorkloadError(f"{src}: field 'slo.{min(bad)}': unknown; use ttft_ms, tpot_ms, e2el_ms")
    priv = spec.get("privacy", "any")
    if priv not in PRIVACY:
        raise WorkloadError(f"{src}: field 'privacy': must be one of {', '.join(PRIVACY)}, got {priv!r}")


def _read_items(path: Path, needed: set[str], id_field: str = "id", reference: bool = True) -> list[dict]:
    if not path.is_file():
        raise WorkloadError(f"{path}: file not found")
    items, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                it = json.loads(line)
            except json.JSONDecodeError as e:
                raise WorkloadError(f"{path}: line {n}: not valid JSON ({e.msg}): {line.strip()[:80]!r}") from None
            if not isinstance(it, dict):
                raise WorkloadError(f"{path}: line {n}: expected a JSON object, got {line.strip()[:80]!r}")
            iid = it.get(id_field)
            if not isinstance(iid, str) or not iid:
                raise WorkloadError(f"{path}: line {n}: field {id_field!r}: missing or not a string, got {iid!r}")
            if iid in seen:
                raise WorkloadError(f"{path}: line {n}: field {id_field!r}: duplicate id {iid!r}")
            seen.add(iid)
            for k in sorted(needed | ({"reference"} if reference else set())):
                if k not in it:
                    raise WorkloadError(f"{path}: line {n}: field {k!r}: missing (item {iid!r})")
            items.append(it)
    if not items:
        raise WorkloadError(f"{path}: no items")
    return items


def seeded_splits(items: list[dict], *, seed: int = 0, group: str | None = None, test: float = 0.3,
                  dev: float = 0.1) -> dict[str, str]:
    """``{item id: split}``: a seeded split of the groups of ``items`` (items with equal values of
    field ``group`` form a group; each item its own group without one), ``test`` and ``dev``
    shares of the groups, at least one group each when there are three or more; fewer than
    three groups all go to test (nothing to train on, everything to score)."""
    import random

    if not (0 < test < 1 and 0 <= dev < 1 and test + dev < 1):
        raise WorkloadError(f"field 'split': test and dev must be shares with test + dev < 1, got test={test!r}, dev={dev!r}")
    key = (lambda it: json.dumps(it[group], sort_keys=True)) if group else (lambda it: it["id"])
    groups = sorted(set(map(key, items)))
    random.Random(seed).shuffle(groups)
    n = len(groups)
    n_test = n if n < 3 else max(1, round(test * n))
    n_dev = 0 if n < 3 else min(max(1 if dev > 0 else 0, round(dev * n)), n - n_test - 1)
    split_of = {g: "test" if k < n_test else "dev" if k < n_test + n_dev else "train" for k, g in enumerate(groups)}
    return {it["id"]: split_of[key(it)] for it in items}


def _apply_splits(spec: dict, items: list[dict], path: Path) -> str:
    """Check the items' ``split`` fields, or give every item a seeded one (as ``spec['split']``
    says); how the split was made, in words."""
    have = [it for it in items if "split" in it]
    if have:
        for it in items:
            if it.get("split") not in SPLITS:
                raise WorkloadError(f"{path}: item {it['id']!r}: field 'split': must be one of {', '.join(SPLITS)} "
                                    f"(on every item, or on none), got {it.get('split')!r}")
        return "recorded in items.jsonl"
    conf = spec.get("split") or {}
    if not isinstance(conf, dict) or set(conf) - set(SEEDED_SPLIT):
        raise WorkloadError(f"{path.parent / 'spec.yaml'}: field 'split': expected a mapping of "
                            f"{', '.join(SEEDED_SPLIT)}, got {conf!r}")
    conf = {**SEEDED_SPLIT, **conf}
    group = conf["group"]
    if group is not None:
        missing = next((it["id"] for it in items if group not in it), None)
        if missing is not None:
            raise WorkloadError(f"{path}: item {missing!r}: field {group!r}: missing (spec split.group names it)")
    splits = seeded_splits(items, seed=conf["seed"], group=group, test=conf["test"], dev=conf["dev"])
    for it in items:
        it["split"] = splits[it["id"]]
    return f"seeded (seed {conf['seed']}, group {group or 'none'}, test {conf['test']:g}, dev {conf['dev']:g})"


def load_workload(name_or_path: str | Path) -> Workload:
    """A workload by name (a directory under data/workloads/) or by directory path."""
    import yaml

    p = Path(name_or_path)
    if not (p / "spec.yaml").is_file():
        cand = workloads_dir() / str(name_or_path)
        if not (cand / "spec.yaml").is_file():
            known = list_workloads()
            hint = difflib.get_close_matches(str(name_or_path), known, n=1)
            raise WorkloadError(f"unknown workload {str(name_or_path)!r}."
                                + (f" Did you mean {hint[0]!r}?" if hint else "")
                                + f" Known workloads: {', '.join(known)}")
        p = cand
    src = p / "spec.yaml"
    try:
        spec = yaml.safe_load(src.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise WorkloadError(f"{src}: not valid YAML: {e}") from None
    _check_spec(spec, src)
    prompt = spec["prompt"]
    needed = _fields_in(prompt["query"] if spec["task"] == "retrieval" else prompt["user"])
    items = _read_items(p / "items.jsonl", needed)
    corpus: list[dict] = []
    if spec["task"] == "retrieval":
        corpus = _read_items(p / spec["corpus"], _fields_in(prompt.get("passage", "{text}")), reference=False)
        ids = {c["id"] for c in corpus}
        for n, it in enumerate(items, 1):
            if not isinstance(it["reference"], list) or not set(it["reference"]) <= ids:
                raise WorkloadError(f"{p / 'items.jsonl'}: item {it['id']!r}: field 'reference': "
                                    f"must list ids of {spec['corpus']}, got {it['reference']!r}")
    split_source = _apply_splits(spec, items, p / "items.jsonl")
    vol = spec.get("volume") or {}
    return Workload(
        name=spec.get("name") or p.name, task=spec["task"], spec=spec, items=items,
        max_tokens=int(spec["max_tokens"]), daily_volume=float(vol.get("daily_requests", 0)),
        peak_factor=float(vol.get("peak_factor", 1.0)), slo=dict(spec.get("slo") or {}),
        quality_floor=dict(spec.get("quality_floor") or {}), primary_metric=spec["primary_metric"],
        privacy=spec.get("privacy", "any"), path=p, corpus=corpus, split_source=split_source,
    )
