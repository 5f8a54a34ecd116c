"""What each notebook parameter accepts, checked before any work: by ``workbench report`` and
``workbench demo`` before a kernel starts, and by each notebook's first cell in JupyterLab.

One table, :data:`RULES`: notebook → parameter → :class:`Rule` (what it accepts, in words, and
the check). A value outside it gives one line naming the notebook, the parameter, what it
accepts and the value given — never a traceback from a later cell (``volume_scale=-3`` used to
end in ``ValueError: math domain error`` in cell 4).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError
from ..inputs.catalog import load_catalog
from ..inputs.targets import load_targets
from ..inputs.workloads import list_workloads
from ..measure.loadgen import parse_profile


class ParameterError(WorkbenchError, ValueError):
    """A notebook or report parameter outside what it accepts (named in the message)."""


@dataclass(frozen=True)
class Rule:
    """``accepts``: what the parameter takes, in words; ``check(value)``: None when the value
    is accepted, else what is wrong with it (empty string: just "not accepted")."""

    accepts: str
    check: Callable[[object], str | None]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"unknown {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def positive(v) -> str | None:
    return None if _is_number(v) and v > 0 else ""


def positive_int(v) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v > 0 else ""


def optional(check: Callable) -> Callable:
    return lambda v: None if v is None else check(v)


def fraction(v) -> str | None:
    return None if _is_number(v) and 0 <= v <= 1 else ""


def boolean(v) -> str | None:
    return None if isinstance(v, bool) else ""


def choice(*options: str) -> Callable:
    return lambda v: None if v in options else ""


def _names(kind: str) -> list[str]:
    if kind == "workloads":
        return list_workloads()
    if kind == "targets":
        return list(load_targets())

    return list(dict.fromkeys(load_catalog().apis.model))


def one_of(kind: str) -> Callable:
    """A name from the workloads, targets or catalog APIs."""

    def check(v):
        if not isinstance(v, str):
            return ""
        known = _names(kind)
        return None if v in known else _did_you_mean(v, known)
    return check


def names_of(kind: str, allow_all: bool = False) -> Callable:
    """A list of names (or one name; or "all" where ``allow_all``)."""
    single = one_of(kind)

    def check(v):
        if allow_all and v == "all":
            return None
        values = [v] if isinstance(v, str) else v
        if not isinstance(values, list) or not values:
            return ""
        return next((e for e in map(single, values) if e is not None), None)
    return check


def paths(v) -> str | None:
    values = [v] if isinstance(v, str) else v
    if not isinstance(values, list) or not all(isinstance(p, str) for p in values):
        return ""
    missing = [p for p in values if not Path(p).exists()]
    return f"no such path: {', '.join(missing)}" if missing else None


def path(v) -> str | None:
    return None if isinstance(v, str) and v.strip() else ""


def profile(v) -> str | None:
    try:
        parse_profile(v)
    except (WorkbenchError, TypeError, ValueError) as e:
        return str(e)
    return None


WORKLOADS = Rule('"all" or a list of workload names (`workbench evaluate --list`)', names_of("workloads", True))
TARGET = Rule("a target name (`workbench targets`)", one_of("targets"))
RESULTS_PATHS = Rule("None or a list of existing result directories", optional(paths))
RESULTS_ROOT = Rule("None or a directory path", optional(path))

RULES: dict[str, dict[str, Rule]] = {
    "decide": {
        "workloads": WORKLOADS,
        "volume_scale": Rule("a number > 0", positive),
        "route_fraction": Rule("None or a fraction from 0 to 1", optional(fraction)),
        "pricing": Rule("on-demand, spot or reserved", choice("on-demand", "spot", "reserved")),
        "results_paths": RESULTS_PATHS,
        "include_projected": Rule("true or false", boolean),
        "frontier_api": Rule("None or an API model name from the catalog", optional(one_of("apis"))),
        "apis": Rule("None or a list of API model names from the catalog", optional(names_of("apis"))),
        "assume_quality": Rule("None or a quality from 0 to 1", optional(fraction)),
        "retrain_months": Rule("a retraining period in months > 0 (fine-tuned options' training is "
                               "amortized over it)", positive),
        "training_utilization": Rule("a fraction > 0 and <= 1 of a GPU's peak (projected training)",
                                     lambda v: None if positive(v) is None and v <= 1 else ""),
    },
    "measure": {
        "target": TARGET,
        "profile": Rule("a load profile such as 'concurrency=1,8' or 'rate=2,4;arrival=poisson'", profile),
        "requests_per_point": Rule("a whole number > 0", positive_int),
        "max_tokens": Rule("None or a whole number > 0", optional(positive_int)),
        "workload": Rule("None or a workload name", optional(one_of("workloads"))),
        "results_root": RESULTS_ROOT,
    },
    "evaluate": {
        "target": TARGET,
        "workloads": WORKLOADS,
        "limit": Rule("None or a whole number of items > 0", optional(positive_int)),
        "results_root": RESULTS_ROOT,
    },
    "dashboard": {
        "workload": Rule("None or a workload name", optional(one_of("workloads"))),
        "volume_requests_per_month": Rule("None or a number of requests > 0", optional(positive)),
    },
    "claims": {"results_paths": RESULTS_PATHS},
}


def validate(notebook: str, parameters: dict) -> None:
    """Raise :class:`ParameterError` for the first parameter of ``notebook`` (its stem, e.g.
    "decide") outside what it accepts. Parameters without a rule pass (the caller checks that
    each is known)."""
    rules = RULES.get(Path(notebook).stem, {})
    for name, value in parameters.items():
        rule = rules.get(name)
        if rule is None:
            continue
        problem = rule.check(value)
        if problem is not None:
            raise ParameterError(f"{Path(notebook).stem}.ipynb: parameter {name!r}: accepts {rule.accepts}; "
                                 f"got {value!r}" + (f" — {problem}" if problem else ""))


def validate_namespace(notebook: str, namespace: dict) -> None:
    """Inside a notebook: check the parameters it defines (``globals()``) against its rules."""
    rules = RULES.get(Path(notebook).stem, {})
    validate(notebook, {k: namespace[k] for k in rules if k in namespace})
