"""Campaigns: a matrix of measurement runs declared in one YAML file, expanded into cells.

A campaign file::

    name: smollm-quant               # cells are recorded under <results>/campaigns/<name>/
    retries: 1                       # a failed cell is tried again at most this many times
    targets: [local-llamacpp, local-llamacpp-q2k]   # names (targets.yaml) or inline target entries
    engines:                         # or launch specs, each becomes a managed target
      - name: vllm-bf16
        engine: vllm                 # vllm | llamacpp
        model: SmolLM2-135M-Instruct
        model_path: smollm2:hf
        dtype: bfloat16              # vLLM --dtype
        quantization: none           # vLLM --quantization (recorded for llama.cpp: the GGUF's)
        tensor_parallel: 1           # vLLM --tensor-parallel-size
        lora: {adapter-a: /path/to/adapter}   # vLLM --enable-lora --lora-modules
        accelerator: CPU             # what a Ray cell asks for: CPU, or a GPU type (H100, L4, ...)
        count: 1                     # GPUs per cell
    workloads: [null]                # load-run content: null = synthetic prompts, or workload names
    defaults: {output_tokens: 16}    # load options every profile starts from
    profiles:                        # load profiles: name -> load options (LoadConfig fields)
      short: {profile: "concurrency=1", requests_per_point: 4, output_tokens: 16}
    evaluations: [ticket-classification]   # quality cells: each target on each of these
    evaluation: {limit: 20, concurrency: 2}
    overrides:                       # per-cell changes, first match wins per key
      - match: {target: local-llamacpp-q2k, profile: short}
        set: {requests_per_point: 2}
      - match: {target: vllm-bf16, evaluation: ticket-classification}
        skip: true

The cells are every target × workload × profile (``load`` cells) and every target × evaluation
(``quality`` cells). Each has a key: a hash of everything that decides what it measures, so a
cell keeps its key across runs of the campaign and a changed cell gets a new one
(:mod:`workbench.measure.campaign_run` skips cells whose key already finished).

:func:`plan` estimates each cell's time: from this campaign's earlier attempts of the same
target when there are any (``measured``), else from per-engine start times and per-request
seconds assumed below (``assumed``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WorkbenchError
from ..inputs.targets import Deployment, Target, TargetError, load_targets, parse_targets
from .harness import LoadConfig

CAMPAIGN_KEYS = ("name", "retries", "targets", "engines", "workloads", "profiles", "evaluations",
                 "evaluation", "overrides", "defaults")
ENGINE_SPEC_KEYS = ("name", "engine", "model", "model_path", "dtype", "quantization", "tensor_parallel",
                    "lora", "engine_args", "env", "capabilities", "accelerator", "count", "instance")
EVALUATION_KEYS = ("limit", "concurrency", "seed", "max_error_rate")
MAX_RETRIES = 5
ASSUMED_START_S = {"vllm": 90.0, "llamacpp": 10.0, "external": 0.0}
"""Assumed seconds to start an engine, until this campaign has measured one."""
ASSUMED_REQUEST_S = 2.0
"""Assumed seconds per request (one stream, short outputs), until this campaign has measured one."""


class CampaignError(WorkbenchError, ValueError):
    """A campaign file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Cell:
    """One measurement of a campaign: a load run or a quality run of one target."""

    kind: str  # "load" | "quality"
    target: Target
    workload: str | None = None  # load: content (None: synthetic); quality: the evaluation
    profile: str | None = None  # load: the profile's name in the campaign
    options: dict = field(default_factory=dict)  # LoadConfig fields (load) or evaluate() options (quality)

    @property
    def label(self) -> str:
        what = f"{self.workload or 'synthetic'} @ {self.profile}" if self.kind == "load" else f"eval {self.workload}"
        return f"{self.target.name} · {what}"

    @property
    def key(self) -> str:
        """Stable id of what the cell measures (target definition, content, options)."""
        t = dataclasses.asdict(self.target)
        t.pop("source", None)
        blob = json.dumps([self.kind, t, self.workload, self.profile, self.options], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        """Plain data (a Ray task's argument): :func:`cell_from_dict` turns it back."""
        return {"kind": self.kind, "target": dataclasses.asdict(self.target), "workload": self.workload,
                "profile": self.profile, "options": self.options}


def cell_from_dict(d: dict) -> Cell:
    t = dict(d["target"])
    t["deployment"] = Deployment(**t["deployment"])
    t["engine_args"] = tuple(t["engine_args"])
    return Cell(d["kind"], Target(**t), d["workload"], d["profile"], dict(d["options"]))


@dataclass(frozen=True)
class Campaign:
    name: str
    cells: list[Cell]
    retries: int = 1
    source: str = ""


# ------------------------------------------------------------------ parsing
def _err(src: str, where: str, problem: str) -> CampaignError:
    return CampaignError(f"{src}: field {where!r}: {problem}")


def engine_target(spec: dict, src: str, i: int) -> Target:
    """A managed target from a launch spec (model path, engine, dtype, quantization,
    tensor-parallel size, LoRA adapters): the spec's fields become the engine's flags."""
    where = f"engines[{i}]"
    if not isinstance(spec, dict):
        raise _err(src, where, "expected a mapping")
    unknown = sorted(set(spec) - set(ENGINE_SPEC_KEYS))
    if unknown:
        raise _err(src, f"{where}.{unknown[0]}", f"unknown field; known: {', '.join(ENGINE_SPEC_KEYS)}")
    engine = spec.get("engine")
    if engine not in ("vllm", "llamacpp"):
        raise _err(src, f"{where}.engine", f"must be vllm or llamacpp, got {engine!r}")
    args = [str(a) for a in spec.get("engine_args") or []]
    tp, lora = int(spec.get("tensor_parallel") or 1), spec.get("lora") or {}
    if not isinstance(lora, dict):
        raise _err(src, f"{where}.lora", "must map adapter names to paths")
    if engine == "vllm":
        args += ["--dtype", str(spec["dtype"])] if spec.get("dtype") else []
        q = str(spec.get("quantization") or "none")
        args += ["--quantization", q] if q.lower() not in ("none", "") else []
        args += ["--tensor-parallel-size", str(tp)] if tp > 1 else []
        args += ["--enable-lora", "--lora-modules", *(f"{k}={v}" for k, v in lora.items())] if lora else []
    elif tp > 1 or len(lora) > 1:
        raise _err(src, where, "llama.cpp takes no tensor_parallel and at most one LoRA adapter")
    elif lora:
        args += ["--lora_path", str(next(iter(lora.values())))]
    accel = str(spec.get("accelerator") or "CPU")
    count = int(spec.get("count") or max(tp, 1))
    raw = {"name": spec.get("name") or f"{engine}-{spec.get('dtype') or spec.get('quantization') or 'default'}",
           "engine": engine, "model": spec.get("model"), "model_path": spec.get("model_path"),
           "engine_args": args, "env": spec.get("env") or {}, "capabilities": spec.get("capabilities") or {},
           "deployment": {"kind": "self-hosted", "accelerator": accel, "count": count,
                          "instance": spec.get("instance") or ("local-cpu" if accel == "CPU" else None),
                          "dtype": spec.get("dtype"), "quantization": spec.get("quantization"),
                          "engine": engine}}
    try:
        (t,) = parse_targets(json.dumps({"targets": [raw]}), f"{src} {where}")
    except TargetError as e:
        raise CampaignError(str(e)) from None
    return t


def _targets(doc: dict, src: str) -> list[Target]:
    known = None
    out: list[Target] = []
    for i, entry in enumerate(doc.get("targets") or []):
        if isinstance(entry, str):
            known = known if known is not None else load_targets()
            if entry not in known:
                raise _err(src, f"targets[{i}]", f"unknown target {entry!r}; known: {', '.join(sorted(known))}")
            out.append(known[entry])
        else:
            try:
                out.extend(parse_targets(json.dumps({"targets": [entry]}), f"{src} targets[{i}]"))
            except TargetError as e:
                raise CampaignError(str(e)) from None
    out += [engine_target(spec, src, i) for i, spec in enumerate(doc.get("engines") or [])]
    names = [t.name for t in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _err(src, "targets", f"target {dup!r} appears twice")
    if not out:
        raise _err(src, "targets", "give at least one target or engine launch spec")
    return out


def _profiles(doc: dict, src: str) -> dict[str, dict]:
    profiles = doc.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise _err(src, "profiles", "must map profile names to load options")
    known = {f.name for f in dataclasses.fields(LoadConfig)} - {"workload"}
    for name, opts in profiles.items():
        if isinstance(opts, str):
            profiles[name] = opts = {"profile": opts}
        bad = sorted(set(opts or {}) - known)
        if bad:
            raise _err(src, f"profiles.{name}.{bad[0]}", f"unknown load option; known: {', '.join(sorted(known))}")
        try:
            LoadConfig(**{**(doc.get("defaults") or {}), **(opts or {})}).check()
        except (TypeError, WorkbenchError) as e:
            raise _err(src, f"profiles.{name}", str(e)) from None
    return profiles


def _override(cell: Cell, overrides: list, src: str) -> Cell | None:
    """The cell after the overrides that match it (None: skipped)."""
    fields_of = {"target": cell.target.name, "engine": cell.target.engine, "kind": cell.kind,
                 "workload": cell.workload if cell.kind == "load" else None, "profile": cell.profile,
                 "evaluation": cell.workload if cell.kind == "quality" else None}
    options = dict(cell.options)
    for i, o in enumerate(overrides):
        match = (o or {}).get("match") or {}
        if not isinstance(match, dict) or set(match) - set(fields_of):
            raise _err(src, f"overrides[{i}].match", f"must be a mapping of {', '.join(fields_of)}")
        if all(fields_of[k] == v for k, v in match.items()):
            if o.get("skip"):
                return None
            options.update(o.get("set") or {})
    return dataclasses.replace(cell, options=options)


def parse_campaign(text: str, src: str = "<string>") -> Campaign:
    """A campaign from YAML text; CampaignError naming the file and field on bad input."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CampaignError(f"{src}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise CampaignError(f"{src}: expected a mapping with name, targets, profiles, ...")
    unknown = sorted(set(doc) - set(CAMPAIGN_KEYS))
    if unknown:
        raise _err(src, unknown[0], f"unknown field; known: {', '.join(CAMPAIGN_KEYS)}")
    name = doc.get("name")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise _err(src, "name", f"must be a name of letters, digits, - and _, got {name!r}")
    retries = doc.get("retries", 1)
    if not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise _err(src, "retries", f"must be an integer from 0 to {MAX_RETRIES}, got {retries!r}")
    evaluation = doc.get("evaluation") or {}
    if set(evaluation) - set(EVALUATION_KEYS):
        raise _err(src, "evaluation", f"options are {', '.join(EVALUATION_KEYS)}")
    targets, profiles = _targets(doc, src), _profiles(doc, src)
    evaluations = doc.get("evaluations") or []
    if not profiles and not evaluations:
        raise _err(src, "profiles", "give load profiles, evaluations, or both")
    cells = [Cell("load", t, w, p, {**(doc.get("defaults") or {}), **(opts or {})})
             for t in targets for w in (doc.get("workloads") or [None]) for p, opts in profiles.items()]
    cells += [Cell("quality", t, e, None, dict(evaluation)) for t in targets for e in evaluations]
    cells = [c for c in (_override(c, doc.get("overrides") or [], src) for c in cells) if c is not None]
    return Campaign(name, cells, retries, src)


def load_campaign(path: str | Path) -> Campaign:
    p = Path(path)
    if not p.is_file():
        raise CampaignError(f"{p}: campaign file not found")
    return parse_campaign(p.read_text(encoding="utf-8"), str(p))


# ------------------------------------------------------------------ plan
def estimate_s(cell: Cell, history: list[dict] | None = None) -> tuple[float, str]:
    """(seconds, provenance) for one cell: the mean wall time of earlier attempts of cells
    of the same target and kind in this campaign (``measured``), else the assumed start time
    of its engine plus ASSUMED_REQUEST_S per request over the profile's concurrency (``assumed``)."""
    past = [h["wall_s"] for h in history or [] if h.get("target") == cell.target.name
            and h.get("kind") == cell.kind and h.get("wall_s")]
    if past:
        return sum(past) / len(past), "measured"
    start = ASSUMED_START_S.get(cell.target.engine, 0.0)
    if cell.kind == "quality":
        n = cell.options.get("limit") or 50
        return start + ASSUMED_REQUEST_S * n / max(1, cell.options.get("concurrency") or 4), "assumed"
    from .loadgen import parse_profile

    cfg = LoadConfig(**cell.options)
    points = parse_profile(cfg.profile)
    per_point = [(cfg.duration_s if cfg.duration_s else
                  ASSUMED_REQUEST_S * (cfg.requests_per_point or 16) / max(1.0, p.concurrency or p.request_rate or 1))
                 for p in points]
    return start + ASSUMED_REQUEST_S * cfg.warmup + sum(per_point), "assumed"
