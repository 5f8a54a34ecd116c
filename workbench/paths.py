"""Where the workbench finds its bundled data and writes its results and caches."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DATA_DIR = REPO_DIR / "data"
"""Bundled catalog, workloads and reference results (the package is installed editable)."""


def default_results_dir() -> Path:
    """Where new runs go: ``$WORKBENCH_RESULTS_DIR``, else ``results/`` in the checkout."""
    return Path(os.environ.get("WORKBENCH_RESULTS_DIR") or REPO_DIR / "results")


def reference_results_dir() -> Path:
    """Committed reference runs (measured elsewhere, with provenance): ``data/results/``."""
    return DATA_DIR / "results"


def cache_dir() -> Path:
    """Derived artefacts kept outside git (the HF-format model folder, engine state):
    ``$WORKBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/workbench`` or ``~/.cache/workbench``."""
    if os.environ.get("WORKBENCH_CACHE_DIR"):
        return Path(os.environ["WORKBENCH_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "workbench"


def user_path(env_var: str, default_name: str, *, is_dir: bool = False, error=FileNotFoundError) -> Path | None:
    """A user's own file or directory: ``$env_var`` (it must exist: ``error`` otherwise), else
    ``./default_name`` in the working directory when it exists, else None."""
    exists = Path.is_dir if is_dir else Path.is_file
    if os.environ.get(env_var):
        p = Path(os.environ[env_var])
        if not exists(p):
            raise error(f"${env_var} points to {p}, which {'is not a directory' if is_dir else 'does not exist'}")
        return p
    p = Path.cwd() / default_name
    return p if exists(p) else None
