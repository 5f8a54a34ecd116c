"""LoRA adapters served on a base model: each adapter of a target becomes a target of its own.

A vLLM target lists its adapters as ``name=path`` (in the targets file, or ``--adapter`` on the
command line)::

    - name: local-vllm
      engine: vllm
      model: SmolLM2-135M-Instruct
      adapters:
        - ticket-classification=20261129T234803-finetune-smollm2-ticket-classification-f13a04
        - intent-routing=/path/to/adapter/folder

and the workbench adds the targets ``local-vllm+ticket-classification`` and
``local-vllm+intent-routing``. Their requests carry the adapter's name as ``model``; their
engine is the base's vLLM started with ``--enable-lora`` and every adapter of the base
(``--lora-modules``), so one engine serves the base and all its adapters, and a batch may mix
them. The base target itself starts without LoRA, as before.

A path is a peft adapter folder (``adapter_config.json`` + weights), a ``workbench finetune``
run folder (its ``adapter/best``), or such a run's id (looked up in the results folder, then
the committed reference runs); a relative path is tried from the current directory, then from
the targets file's folder. Folders are checked when an engine is started, not when the targets
file is read, so one missing adapter never hides the other targets.

vLLM serves LoRA with punica kernels (also in the CPU build) instead of merging weights, which
is what lets one engine serve many adapters; its ``--max-lora-rank`` accepts only the values
in :data:`VLLM_LORA_RANKS`, so the smallest that covers every adapter's ``r`` is passed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError
from ..paths import REPO_DIR, default_results_dir, reference_results_dir

MERGED = "smollm2:hf+"
"""A ``model_path`` prefix: ``smollm2:hf+ADAPTER`` is the embedded model's HF folder with a LoRA
adapter (a finetune run id or folder) merged into its weights (workbench.serving.smollm.merged_hf)."""
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM 0.32 accepts for ``--max-lora-rank`` (``--help``)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class AdapterError(WorkbenchError, ValueError):
    """An adapter that cannot be served; the message names it and the problem."""


@dataclass(frozen=True)
class Adapter:
    """One LoRA adapter of a base target: the name requests use, and its path as given."""

    name: str
    path: str
    source: str = ""
    """The targets file (or "command line") it was given in; relative paths are tried from there."""


def parse_adapters(raw, where: str) -> tuple[Adapter, ...]:
    """``["name=path", ...]`` or ``{name: path}`` → adapters; AdapterError naming ``where``."""
    if raw is None:
        return ()
    if isinstance(raw, dict):
        pairs = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        pairs = [tuple(s.split("=", 1)) if "=" in s else (s, None) for s in raw]
    else:
        raise AdapterError(f"{where}: adapters must be a list of 'name=path' or a mapping name: path")
    out: list[Adapter] = []
    for name, path in pairs:
        if not isinstance(path, str) or not path.strip():
            raise AdapterError(f"{where}: adapter {name!r}: expected 'name=path' (a finetune run id or adapter folder)")
        if not _NAME.match(name.strip()):
            raise AdapterError(f"{where}: adapter name {name!r}: use letters, digits, '.', '_' or '-'")
        if any(a.name == name.strip() for a in out):
            raise AdapterError(f"{where}: adapter {name.strip()!r} named twice")
        out.append(Adapter(name.strip(), path.strip(), source=where))
    return tuple(out)


def _candidates(adapter: Adapter) -> list[Path]:
    p = Path(adapter.path).expanduser()
    if p.is_absolute():
        return [p]
    src = Path(adapter.source)
    here = [Path.cwd() / p] + ([src.parent / p] if src.suffix in (".yaml", ".yml") else [])
    return here + [default_results_dir() / p, reference_results_dir() / p]


def resolve(adapter: Adapter) -> Path:
    """The adapter's peft folder (holding ``adapter_config.json``); AdapterError if none."""
    for p in _candidates(adapter):
        for folder in (p, p / "adapter" / "best"):
            if (folder / "adapter_config.json").is_file():
                return folder.resolve()
    raise AdapterError(f"adapter {adapter.name!r}: {adapter.path!r} is not an adapter folder, a finetune run folder "
                       f"or a run id (no adapter_config.json there or in its adapter/best)")


def rank(folder: Path) -> int:
    """The adapter's LoRA rank ``r`` (the largest, when ``rank_pattern`` varies it)."""
    cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    return max([int(cfg.get("r") or 0), *(int(v) for v in (cfg.get("rank_pattern") or {}).values())])


def recorded_path(folder: Path) -> str:
    """The folder as a run records it (``params.adapter``): relative to the checkout when inside it."""
    try:
        return str(folder.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(folder.resolve())


def vllm_lora_args(adapters: tuple[Adapter, ...], engine_args: tuple[str, ...] = ()) -> list[str]:
    """``--enable-lora --max-loras N --max-lora-rank R --lora-modules name=path ...`` for vLLM:
    every adapter may be in one batch (N = their number), R the smallest vLLM accepts that
    covers their ranks, unless ``engine_args`` sets it (then it must cover them)."""
    folders = [(a, resolve(a)) for a in adapters]
    ranks = {a.name: rank(f) for a, f in folders}
    need = max(ranks.values())
    worst = max(ranks, key=ranks.get)
    args = ["--enable-lora", "--max-loras", str(len(adapters))]
    if "--max-lora-rank" in engine_args:
        given = int(engine_args[engine_args.index("--max-lora-rank") + 1])
        if need > given:
            raise AdapterError(f"adapter {worst!r} has rank {need}, above the engine's --max-lora-rank {given}")
    else:
        fits = [r for r in VLLM_LORA_RANKS if r >= need]
        if not fits:
            raise AdapterError(f"adapter {worst!r} has rank {need}, above vLLM's largest --max-lora-rank "
                               f"{VLLM_LORA_RANKS[-1]}")
        args += ["--max-lora-rank", str(fits[0])]
    return args + ["--lora-modules", *(f"{a.name}={f}" for a, f in folders)]
