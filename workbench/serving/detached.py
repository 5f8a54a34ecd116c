"""Engines started with ``workbench engine start``: they outlive the command, so each is
recorded in a state file (``<cache dir>/engines/<target>.json``: pid, port, base URL, log) that
``workbench engine status`` and ``stop`` read, and that measure and evaluate reuse
(:func:`workbench.serving.engines.serving`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..paths import cache_dir
from .client import models_ready
from .processes import pid_alive, stop_process_group


def _state_dir() -> Path:
    d = cache_dir() / "engines"
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_state(engine) -> None:
    """Record a detached :class:`workbench.serving.engines.Engine`."""
    state = {**engine.info(), "port": engine.port, "log": str(engine.log_path), "started": time.time()}
    (_state_dir() / f"{engine.target.name}.json").write_text(json.dumps(state, indent=1))


def engine_states() -> list[dict]:
    """Detached engines recorded by ``workbench engine start``, with whether each is alive."""
    out = []
    for f in sorted(_state_dir().glob("*.json")):
        try:
            s = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        s["alive"] = bool(s.get("pid")) and pid_alive(int(s["pid"]))
        s["ready"] = s["alive"] and models_ready(s["base_url"], timeout=1.0) is not None
        out.append(s)
    return out


def detached_engine(name: str) -> dict | None:
    """The state of a detached engine for target ``name`` that is alive and answering, else None.
    A state file whose process is gone is removed."""
    for s in engine_states():
        if s["target"] != name:
            continue
        if not s["alive"]:
            (_state_dir() / f"{name}.json").unlink(missing_ok=True)
        elif s["ready"]:
            return s
    return None


def stop_detached(name: str) -> bool:
    """Stop a detached engine by target name; False when none was recorded."""
    f = _state_dir() / f"{name}.json"
    if not f.is_file():
        return False
    s = json.loads(f.read_text())
    if s.get("pid") and pid_alive(int(s["pid"])):
        stop_process_group(int(s["pid"]))
    f.unlink(missing_ok=True)
    return True
