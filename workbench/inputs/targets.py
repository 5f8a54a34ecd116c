"""Targets: what the workbench sends requests to, and the deployment facts needed to price it.

A targets file is YAML::

    targets:
      - name: my-vllm                    # unique
        engine: external                 # vllm | llamacpp | external
        base_url: http://10.0.0.5:8000/v1
        model: meta-llama/Meta-Llama-3-8B-Instruct
        api_key_env: MY_VLLM_KEY         # the NAME of an environment variable, never the key
        deployment:
          kind: self-hosted              # self-hosted | api
          instance: g5.xlarge            # a row of data/catalog/instances.csv
          accelerator: A10G
          count: 1
          dtype: bf16
          quantization: none
          engine: vllm
      - name: gpt-4o-mini
        engine: external
        base_url: https://api.openai.com/v1
        model: gpt-4o-mini
        api_key_env: OPENAI_API_KEY
        strict: true                     # send no vendor-specific request fields
        retries: 2                       # load harness: re-send on 429/5xx/no connection (default 0)
        deployment: {kind: api, provider: openai, price_entry: gpt-4o-mini}

A vLLM target may list LoRA ``adapters`` (``name=path``); each becomes a target
``<target>+<name>`` (see :mod:`workbench.inputs.adapters`).

The bundled ``data/targets.yaml`` defines the two local engines; a user file
(``$WORKBENCH_TARGETS`` or ``./targets.yaml``) adds targets or overrides them by name.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from ..paths import DATA_DIR, user_path
from .adapters import MERGED, Adapter, AdapterError, parse_adapters, recorded_path, resolve

ENGINES = ("vllm", "llamacpp", "external")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TargetError(WorkbenchError, ValueError):
    """A target that cannot be used; the message names the file, target and field."""


@dataclass(frozen=True)
class Deployment:
    kind: str = "self-hosted"  # "self-hosted" | "api"
    instance: str | None = None
    accelerator: str | None = None
    count: int = 1
    dtype: str | None = None
    quantization: str | None = None
    engine: str | None = None
    provider: str | None = None
    price_entry: str | None = None


@dataclass(frozen=True)
class Target:
    """Something to send requests to, and what it takes to price it (one entry of targets.yaml)."""

    name: str
    engine: str
    """``vllm`` or ``llamacpp`` (started and stopped by the workbench), or ``external``."""
    model: str
    """The model name requests carry (and a managed engine serves under)."""
    base_url: str | None = None
    """An external target's URL, ending in /v1; managed engines pick a free port."""
    model_path: str | None = None
    """A managed engine's weights: a path, or ``smollm2:gguf`` / ``smollm2:hf`` for the embedded model."""
    engine_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    api_key_env: str | None = None
    """The NAME of the environment variable holding the key, read when a request is sent."""
    strict: bool = False
    """Send no vendor-specific request fields (frontier APIs)."""
    capabilities: dict[str, bool] = field(default_factory=dict)
    deployment: Deployment = field(default_factory=Deployment)
    retries: int = 0
    """Load harness: re-send a request refused with 429/5xx or no connection, with backoff."""
    source: str = ""
    """The file it was defined in."""
    adapters: tuple[Adapter, ...] = ()
    """LoRA adapters served on this base (vLLM); each is also a target ``<name>+<adapter>``."""
    adapter: Adapter | None = None
    """For an adapter's target: the adapter its requests use (``model`` is its name)."""
    base_target: str | None = None
    """For an adapter's target: the base target it was made from."""
    base_model: str | None = None
    """For an adapter's target: the base model's served name (the engine serves it too)."""

    @property
    def managed(self) -> bool:
        """True when the workbench starts and stops the engine itself."""
        return self.engine != "external"

    def api_key(self) -> str | None:
        """The key, read from the environment at call time; never stored."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @property
    def served_model(self) -> str:
        """The name the engine serves the base model under."""
        return self.base_model or self.model

    @property
    def merged_adapter(self) -> Adapter | None:
        """The adapter merged into the weights of a ``model_path: smollm2:hf+ADAPTER`` target."""
        ref = str(self.model_path or "")
        if not ref.startswith(MERGED):
            return None
        return Adapter(name=self.model, path=ref[len(MERGED):], source=self.source)

    def adapter_params(self) -> dict[str, str]:
        """What a run against an adapter's target records in ``params``: the adapter's folder
        (``adapter``, inside its finetune run) and name; nothing for any other target. A target
        whose weights have an adapter merged in records it too (``merged``: "true")."""
        if self.adapter is None and self.merged_adapter is not None:
            folder = resolve(self.merged_adapter)
            return {"adapter": recorded_path(folder), "adapter_name": self.model, "merged": "true"}
        if self.adapter is None:
            return {}
        return {"adapter": recorded_path(resolve(self.adapter)), "adapter_name": self.adapter.name,
                "base_model": self.served_model}

    def describe(self) -> dict[str, Any]:
        """Facts safe to record in a run (no secrets: only the variable's name)."""
        d = self.deployment
        return {
            "target": self.name,
            "engine": self.engine,
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "deployment": {k: v for k, v in d.__dict__.items() if v is not None},
        }


def _err(src: str, name: str | None, fld: str, problem: str) -> TargetError:
    where = f"{src}: target {name!r}" if name else src
    return TargetError(f"{where}: field {fld!r}: {problem}")


def _access(raw: dict, src: str, name: str, engine: str) -> tuple[str | None, str | None]:
    """(base_url, api_key_env): an external target needs an http(s) URL and a managed one none;
    the key is named by an environment variable, never given."""
    base_url = raw.get("base_url")
    if engine == "external":
        if not isinstance(base_url, str) or not re.match(r"^https?://", base_url):
            raise _err(src, name, "base_url", f"an external target needs an http(s) URL, got {base_url!r}")
    elif base_url is not None:
        raise _err(src, name, "base_url", "only external targets take a base_url; managed engines pick a free port")
    key_env = raw.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not _ENV_NAME.match(key_env)):
        raise _err(src, name, "api_key_env",
                   "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself")
    return base_url, key_env


def _deployment(raw: dict, src: str, name: str) -> dict:
    """The checked ``deployment`` mapping (fields of :class:`Deployment`)."""
    dep_raw = raw.get("deployment") or {}
    if not isinstance(dep_raw, dict):
        raise _err(src, name, "deployment", "must be a mapping")
    dep_fields = set(Deployment.__dataclass_fields__)
    bad = sorted(set(dep_raw) - dep_fields)
    if bad:
        raise _err(src, name, f"deployment.{bad[0]}", f"unknown field; known: {', '.join(sorted(dep_fields))}")
    if dep_raw.get("kind", "self-hosted") not in ("self-hosted", "api"):
        raise _err(src, name, "deployment.kind", f"must be 'self-hosted' or 'api', got {dep_raw.get('kind')!r}")
    count = dep_raw.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise _err(src, name, "deployment.count", f"must be a positive integer, got {count!r}")
    return dep_raw


def _parse_one(raw: Any, src: str, index: int) -> Target:
    if not isinstance(raw, dict):
        raise _err(src, None, f"targets[{index}]", f"expected a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(src, None, f"targets[{index}].name", "missing or not a string")
    known = {f for f in Target.__dataclass_fields__ if f not in ("source", "adapter", "base_target", "base_model")}
    unknown = sorted(set(raw) - known)
    if unknown:
        hint = difflib.get_close_matches(unknown[0], known, n=1)
        raise _err(src, name, unknown[0], "unknown field" + (f"; did you mean {hint[0]!r}?" if hint else ""))
    engine = raw.get("engine")
    if engine not in ENGINES:
        raise _err(src, name, "engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}")
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise _err(src, name, "model", "missing or not a string")
    base_url, key_env = _access(raw, src, name, engine)
    args = raw.get("engine_args") or []
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
        raise _err(src, name, "engine_args", "must be a list of command-line arguments")
    env = raw.get("env") or {}
    if not isinstance(env, dict):
        raise _err(src, name, "env", "must be a mapping of variable names to values")
    caps = raw.get("capabilities") or {}
    if not isinstance(caps, dict) or not all(isinstance(v, bool) for v in caps.values()):
        raise _err(src, name, "capabilities", "must map capability names to true/false")
    retries = raw.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise _err(src, name, "retries", f"must be an integer from 0 to 10, got {retries!r}")
    dep_raw = _deployment(raw, src, name)
    try:
        adapters = parse_adapters(raw.get("adapters"), f"{src}: target {name!r}: field 'adapters'")
    except AdapterError as e:
        raise TargetError(str(e)) from None
    if adapters and engine != "vllm":
        raise _err(src, name, "adapters", f"only vllm targets serve LoRA adapters here, not {engine}")
    return Target(
        name=name,
        engine=engine,
        model=model,
        base_url=base_url.rstrip("/") if base_url else None,
        model_path=raw.get("model_path"),
        api_key_env=key_env,
        engine_args=tuple(str(a) for a in args),
        env={str(k): str(v) for k, v in env.items()},
        strict=bool(raw.get("strict", False)),
        capabilities=dict(caps),
        deployment=Deployment(**dep_raw),
        retries=retries,
        source=src,
        adapters=adapters,
    )


def adapter_targets(base: Target) -> list[Target]:
    """One target per adapter of ``base``: ``<base>+<adapter>``, requests naming the adapter,
    the engine serving the base and all its adapters."""
    return [replace(base, name=f"{base.name}+{a.name}", model=a.name, adapter=a, base_target=base.name,
                    base_model=base.model) for a in base.adapters]


def add_adapter_argument(p, does: str, done: str) -> None:
    """The ``--adapter NAME=PATH`` option of ``workbench measure`` / ``evaluate`` (``does`` /
    ``done``: what the command does with the first adapter's target, "measure it" / "measured")."""
    p.add_argument("--adapter", action="append", default=None, metavar="NAME=PATH",
                   help=f"serve this LoRA adapter (finetune run id or folder) on the vllm --target and {does} "
                        f"(target <target>+NAME); repeat to serve several on one engine (the first is {done})")


def cli_target(name: str, adapters: list[str] | None) -> "Target | str":
    """``--target`` with ``--adapter``: the first adapter's target (see :func:`with_adapters`);
    without adapters, ``name`` as given (a target name or a URL)."""
    return with_adapters(get_target(name), adapters)[0] if adapters else name


def with_adapters(base: Target, specs: list[str]) -> list[Target]:
    """``base`` given more adapters on the command line (``name=path``): their targets, in order."""
    try:
        extra = parse_adapters(list(specs), "--adapter")
    except AdapterError as e:
        raise TargetError(str(e)) from None
    if base.engine != "vllm":
        raise TargetError(f"--adapter: target {base.name!r} is {base.engine}; only vllm targets serve LoRA adapters here")
    if base.adapter is not None:
        raise TargetError(f"--adapter: target {base.name!r} is already an adapter; name its base {base.base_target!r}")
    clash = sorted({a.name for a in extra} & {a.name for a in base.adapters})
    if clash:
        raise TargetError(f"--adapter: {clash[0]!r} is already an adapter of {base.name!r}")
    targets = adapter_targets(replace(base, adapters=base.adapters + extra))
    return targets[len(base.adapters):]


def parse_targets(text: str, src: str = "<string>") -> list[Target]:
    """Parse a targets YAML document. Raises TargetError naming file, target and field."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise TargetError(f"{src}: not valid YAML: {e}") from None
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), list):
        raise TargetError(f"{src}: field 'targets': expected a top-level 'targets:' list")
    out: list[Target] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["targets"]):
        t = _parse_one(raw, src, i)
        if t.name in seen:
            raise _err(src, t.name, "name", "defined twice in this file")
        seen.add(t.name)
        out.append(t)
        out.extend(adapter_targets(t))
    return out


def builtin_targets_file() -> Path:
    return DATA_DIR / "targets.yaml"


def user_targets_file() -> Path | None:
    """``$WORKBENCH_TARGETS`` (must exist) or ``./targets.yaml`` if present."""
    return user_path("WORKBENCH_TARGETS", "targets.yaml", error=TargetError)


def load_targets(*extra_files: str | Path) -> dict[str, Target]:
    """Built-in targets, then the user's file, then ``extra_files``; later ones override by name."""
    files = [builtin_targets_file()]
    user = user_targets_file()
    if user:
        files.append(user)
    files.extend(Path(f) for f in extra_files)
    targets: dict[str, Target] = {}
    for f in files:
        if not Path(f).is_file():
            raise TargetError(f"{f}: targets file not found")
        parsed = parse_targets(Path(f).read_text(encoding="utf-8"), str(f))
        redefined = {t.name for t in parsed}  # a redefined base drops the adapters it had before
        targets = {k: v for k, v in targets.items() if v.base_target not in redefined}
        for t in parsed:
            targets[t.name] = t
    return targets


def get_target(name: str | Target, *extra_files: str | Path) -> Target:
    """A target by name; an unknown name lists the known ones."""
    if isinstance(name, Target):
        return name
    targets = load_targets(*extra_files)
    if name not in targets:
        close = difflib.get_close_matches(name, targets, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise TargetError(f"unknown target {name!r}.{hint} Known targets: {', '.join(sorted(targets))}")
    return targets[name]
