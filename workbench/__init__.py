"""workbench: measure open LLMs on your workloads, price them against frontier APIs, decide.

One package per stage of the pipeline, in the order data flows through them:

    inputs   targets, workloads, catalog                 what is measured and priced
    serving  engines, smollm, client, ...                what answers requests, and the one seam to it
    measure  harness, evaluate, gpu_bench, ...           runs into the results store
    results  store, schema                               one append-only directory per run
    project  roofline, calibrate, probe, gpu_bound       GPU cells that were not measured
    cost     cost, breakeven, envelope                   pure cost functions
    decide   options, decision, pipeline, parameters     per workload: the answer and what it rests on
    present  figures, report, show, claims, dashboard    what a user sees

A stage imports only earlier stages (``tests/system/test_architecture.py`` checks it). Beside
them: ``errors``, ``paths``, ``hardware`` (used by every stage), ``cli`` and ``demo`` (entry points).

Importing this package is cheap: it imports no plotly, ipywidgets, papermill, pynvml, vllm
or torch and does not touch the event loop. The public names below, and every stage and module
(``workbench.cost.cost``), load on first use.
"""

from __future__ import annotations

import importlib
import pkgutil

__version__ = "0.1.0"

# public name -> "module:attribute" (loaded lazily, on first access)
_PUBLIC = {
    "load_results": "results.store:load",
    "RunWriter": "results.store:RunWriter",
    "Results": "results.store:Results",
    "load_targets": "inputs.targets:load_targets",
    "get_target": "inputs.targets:get_target",
    "Target": "inputs.targets:Target",
    "load_workload": "inputs.workloads:load_workload",
    "load_catalog": "inputs.catalog:load_catalog",
    "import_litellm": "inputs.catalog:import_litellm",
    "Catalog": "inputs.catalog:Catalog",
    "start_engine": "serving.engines:start_engine",
    "running": "serving.engines:running",
    "Engine": "serving.engines:Engine",
    "Option": "cost.cost:Option",
    "monthly_cost_curves": "cost.cost:monthly_cost_curves",
    "decide_workloads": "decide.pipeline:decide_workloads",
}

__all__ = sorted([*_PUBLIC, "__version__"])


def lazy_submodules(package: str, path):
    """A module ``__getattr__`` for ``package`` that imports a submodule on first access
    (``workbench.cost`` or ``workbench.cost.cost`` without an explicit import). The
    submodules are whatever the package's folder holds: no list to keep by hand."""

    def __getattr__(name: str):
        if any(m.name == name for m in pkgutil.iter_modules(path)):
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


_submodule = lazy_submodules(__name__, __path__)


def __getattr__(name: str):
    if name not in _PUBLIC:
        return _submodule(name)
    module, attr = _PUBLIC[name].split(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
