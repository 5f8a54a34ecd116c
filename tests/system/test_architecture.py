"""The shape of the package, checked: one folder per pipeline stage, a stage imports only
earlier stages (the few exceptions are listed below with their reasons), no import cycle, and
small units (modules, functions, signatures). Read from the source (AST), every import counted,
at module level or inside a function."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "workbench"
STAGES = ["inputs", "serving", "measure", "results", "project", "cost", "decide", "present"]
"""The pipeline's order (DESIGN.md): a stage may import only stages before it."""
BASE = {"workbench.errors", "workbench.paths", "workbench.hardware"}
"""Used by every stage; they import no stage."""
ENTRY = {"workbench.cli", "workbench.demo"}
"""Entry points: they may import any stage; no module imports them."""
UPWARD = {
    ("measure", "results"): "a run is written as it happens (results.store.RunWriter) and its status "
                            "follows the schema's rules (results.schema.run_status): the store is the "
                            "seam between measuring and every later stage",
    ("measure", "project"): "the random-weight GPU bench (measure.gpu_bench) sizes the model it builds "
                            "to fit the GPU with the roofline's weight bytes (project.roofline.Arch)",
}
"""The allowed imports of a later stage, each with its reason."""
HOT_PATH = {
    "workbench.serving.client:Client._read_stream": "the streaming read loop, inlined on purpose "
                                                    "(benchmarks/harness_overhead.py)",
    "workbench.serving.stamping:texts_by_block": "called per received block by _read_stream",
}
"""Functions allowed past the size limits: the measured hot path of the client."""
MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PARAMETERS = 500, 60, 8


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(dotted: str) -> bool:
    p = PACKAGE.parent / dotted.replace(".", "/")
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _imports(path: Path):
    """The workbench modules ``path`` imports (``from . import x`` counts as module x)."""
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "workbench":
                base = node.module
            else:
                continue
            for alias in node.names:
                yield f"{base}.{alias.name}" if _exists(f"{base}.{alias.name}") else base
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "workbench")


def _graph() -> dict[str, set[str]]:
    g = collections.defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        me = _module(path)
        g[me] |= {m for m in _imports(path) if m != me and m != "workbench"}
    return g


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_every_module_is_in_a_stage_or_is_base_or_an_entry_point():
    loose = {m for m in _graph() if m != "workbench" and _stage(m) is None} - BASE - ENTRY
    assert not loose, f"modules outside the stage folders: {sorted(loose)}"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(STAGES)


def test_no_stage_imports_a_later_stage_except_the_listed_reasons():
    upward = collections.defaultdict(list)
    for a, targets in _graph().items():
        for b in targets:
            sa, sb = _stage(a), _stage(b)
            if sa and sb and STAGES.index(sb) > STAGES.index(sa):
                upward[(sa, sb)].append(f"{a} -> {b}")
    unexplained = {k: v for k, v in upward.items() if k not in UPWARD}
    assert not unexplained, f"a stage imports a later one: {unexplained}"
    assert set(upward) == set(UPWARD), f"listed exceptions no longer needed: {set(UPWARD) - set(upward)}"


def test_base_modules_import_no_stage_and_nothing_imports_an_entry_point():
    g = _graph()
    for base in BASE:
        assert not {m for m in g[base] if _stage(m)}, f"{base} imports a stage: {g[base]}"
    importers = {a for a, targets in g.items() for b in targets if b in ENTRY}
    assert importers <= ENTRY, f"an entry point is imported by {importers - ENTRY}"


def test_no_import_cycle():
    g = _graph()
    seen, stack, cycles = set(), [], []

    def visit(m: str) -> None:
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for n in sorted(g.get(m, ())):
            visit(n)
        stack.pop()

    for m in sorted(g):
        visit(m)
    assert not cycles, f"import cycles: {cycles[:3]}"


def _functions():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in [None, *[n for n in tree.body if isinstance(n, ast.ClassDef)]]:
            body = tree.body if cls is None else cls.body
            for fn in (n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
                yield f"{_module(path)}:{cls.name + '.' if cls else ''}{fn.name}", fn


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_small(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_MODULE_LINES, f"{path.relative_to(PACKAGE.parent)}: {n} lines; split it by responsibility"


def test_functions_are_short_and_take_few_parameters():
    too_big = []
    for name, fn in _functions():
        lines = fn.end_lineno - fn.lineno + 1
        a = fn.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
        n = len(params) - (1 if params and params[0].arg in ("self", "cls") else 0)
        if (lines > MAX_FUNCTION_LINES or n > MAX_PARAMETERS) and name not in HOT_PATH:
            too_big.append(f"{name}: {lines} lines, {n} parameters")
    assert not too_big, "past ~60 lines or ~8 parameters (use a config object):\n" + "\n".join(too_big)


def shape(package: Path = PACKAGE) -> dict:
    """Figures of a package's shape: modules per folder, the longest import chain, modules in an
    import cycle, imports inside functions (all, and of the package's own modules)."""
    global PACKAGE
    saved, PACKAGE = PACKAGE, package
    try:
        g = _graph()
        files = [p for p in package.rglob("*.py") if p.name != "__init__.py"]
        folders = collections.Counter(str(p.parent.relative_to(package.parent)) for p in files)
        depth: dict[str, list[str]] = {}

        def longest(m: str, path: tuple) -> list[str]:
            if m in path:
                return []
            if m not in depth:
                depth[m] = [m] + max((longest(n, path + (m,)) for n in g.get(m, ()) if n in g), key=len, default=[])
            return depth[m]

        chain = max((longest(m, ()) for m in sorted(g)), key=len)
        stages = [s for i, s in enumerate(map(_stage, chain)) if s and s not in map(_stage, chain[:i])]

        in_cycle = {m for m in g if any(m in _reach(g, n) for n in g[m])}
        inner = internal = 0
        for path in package.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
                for node in (n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))):
                    inner += 1
                    internal += isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("workbench"))
        return {"modules": len(files), "modules_per_folder": dict(sorted(folders.items())),
                "longest_import_chain": len(chain), "chain": " -> ".join(chain), "stages_on_it": stages,
                "modules_in_a_cycle": sorted(in_cycle),
                "imports_inside_functions": inner, "of_workbench_modules": internal}
    finally:
        PACKAGE = saved


def _reach(g: dict, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += list(g.get(m, ()))
    return seen


if __name__ == "__main__":  # python tests/system/test_architecture.py [path/to/workbench]
    import json
    import sys

    print(json.dumps(shape(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PACKAGE), indent=1))
