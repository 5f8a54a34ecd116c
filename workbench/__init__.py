"""workbench: measure open LLMs on your workloads, price them against frontier APIs, decide.

Importing this package is cheap: it imports no plotly, ipywidgets, papermill, pynvml, vllm
or torch and does not touch the event loop. The public names below load their module on
first use.
"""

from __future__ import annotations

import importlib
import pkgutil

__version__ = "0.1.0"

# public name -> "module:attribute" (loaded lazily, on first access)
_PUBLIC = {
    "load_results": "store:load",
    "RunWriter": "store:RunWriter",
    "Results": "store:Results",
    "load_targets": "targets:load_targets",
    "get_target": "targets:get_target",
    "Target": "targets:Target",
    "start_engine": "engines:start_engine",
    "Engine": "engines:Engine",
    "load_catalog": "catalog:load_catalog",
    "import_litellm": "catalog:import_litellm",
    "Catalog": "catalog:Catalog",
    "Option": "cost:Option",
    "monthly_cost_curves": "cost:monthly_cost_curves",
}

__all__ = sorted([*_PUBLIC, "__version__"])


def __getattr__(name: str):
    if any(m.name == name for m in pkgutil.iter_modules(__path__)):  # `workbench.cost` without an import
        return importlib.import_module(f".{name}", __name__)
    try:
        spec = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}") from None
    module, attr = spec.split(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
