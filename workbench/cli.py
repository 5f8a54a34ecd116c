"""``workbench`` command line. Each command lives in the module of its pipeline stage and is
imported only when invoked: the module provides ``add_cli_arguments(parser)`` and
``cli(args) -> int``. The foundation commands (engine, model, targets) are defined here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

# command -> (module, one-line help). The module is imported only when its command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "measure": ("workbench.measure.harness", "load sweep against a target: latency, throughput, telemetry"),
    "evaluate": ("workbench.measure.evaluate", "quality of a target on a workload, with confidence intervals"),
    "finetune": ("workbench.measure.finetune", "train a LoRA adapter (or all weights) on a workload's train split"),
    "report": ("workbench.present.report", "execute the decision notebook into reports/ (HTML + notebook)"),
    "dashboard": ("workbench.present.dashboard_serve", "serve the what-if dashboard with Voila on loopback"),
    "demo": ("workbench.demo", "the main job on the embedded default (what `make demo` runs)"),
}


class CliError(Exception):
    """A problem with the command line or its inputs; printed without a traceback."""


# ----------------------------------------------------------------------------- foundation commands
def _add_engine(sub) -> None:
    p = sub.add_parser("engine", help="start, stop or list managed engines")
    esub = p.add_subparsers(dest="action", required=True)
    s = esub.add_parser("start", help="start a target's engine in the background")
    s.add_argument("target")
    s.add_argument("--port", type=int, default=None, help="preferred port (another is used if busy)")
    s.add_argument("--timeout", type=float, default=None, help="seconds to wait for /v1/models")
    s = esub.add_parser("stop", help="stop an engine started with `workbench engine start`")
    s.add_argument("target", nargs="?", help="target name (default: all)")
    esub.add_parser("status", help="list engines started with `workbench engine start`")
    s = esub.add_parser("check", help="start each engine, send one short request, stop it (set-up runs this)")
    s.add_argument("targets", nargs="*", help="targets (default: the embedded engines, local-llamacpp and local-vllm)")


def _run_engine(args) -> int:
    from .serving import detached, engines

    if args.action == "start":
        running = detached.detached_engine(args.target)
        if running:
            print(f"{args.target} already running at {running['base_url']} (pid {running['pid']})")
            return 0
        e = engines.start_engine(args.target, port=args.port, timeout_s=args.timeout, detach=True)
        print(f"{e.target.name}: {e.info()['engine_version'] or e.target.engine} ready at {e.base_url} "
              f"(pid {e.pid}, started in {e.start_s:.1f} s, log {e.log_path})")
        return 0
    if args.action == "stop":
        names = [args.target] if args.target else [s["target"] for s in detached.engine_states()]
        if args.target and not detached.stop_detached(args.target):
            raise CliError(f"no engine recorded for {args.target!r}; `workbench engine status` lists them")
        for n in names if not args.target else []:
            detached.stop_detached(n)
        print("stopped: " + (", ".join(names) if names else "(none running)"))
        return 0
    if args.action == "check":
        return _check_engines(args.targets or ["local-llamacpp", "local-vllm"])
    states = detached.engine_states()
    if not states:
        print("no engines started with `workbench engine start`")
    for s in states:
        state = "ready" if s["ready"] else ("alive, not answering" if s["alive"] else "dead")
        print(f"{s['target']:<20} {state:<22} {s['base_url']:<32} pid {s['pid']}  {s.get('engine_version') or ''}")
    return 0


def _check_engines(names: list[str]) -> int:
    """One line per engine: what answered, or why it did not. Exit 1 when any did not."""
    from .serving import engines

    bad = 0
    for name in names:
        try:
            print(f"engine check: {engines.check(name)}", flush=True)
        except engines.EngineError as e:
            bad += 1
            line = e.exit.describe() if isinstance(e, engines.EngineDied) else str(e).splitlines()[0]
            print(f"engine check: FAILED {line}", file=sys.stderr, flush=True)
    return 1 if bad else 0


def _add_model(sub) -> None:
    p = sub.add_parser("model", help="the embedded SmolLM2 model")
    msub = p.add_subparsers(dest="action", required=True)
    s = msub.add_parser("prepare", help="derive the HF folder vLLM serves from the GGUF (once)")
    s.add_argument("--force", action="store_true")
    msub.add_parser("path", help="print where the GGUF and the HF folder are")


def _run_model(args) -> int:
    from .serving import smollm

    if args.action == "prepare":
        print(f"HF folder for vLLM: {smollm.prepare_hf(force=args.force)}")
    else:
        print(f"gguf: {smollm.smollm2_gguf()}\nhf:   {smollm.hf_dir()}")
    return 0


def _add_targets(sub) -> None:
    sub.add_parser("targets", help="list the targets that can be measured")


def _run_targets(args) -> int:
    from .inputs.targets import load_targets

    for t in load_targets().values():
        where = t.base_url or f"managed {t.engine}"
        key = f" key from ${t.api_key_env}" if t.api_key_env else ""
        print(f"{t.name:<22} {t.model:<34} {where}{key}  [{t.source}]")
    return 0


FOUNDATION = {
    "engine": (_add_engine, _run_engine),
    "model": (_add_model, _run_model),
    "targets": (_add_targets, _run_targets),
}


# ----------------------------------------------------------------------------- entry point
def build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Measure open LLMs on your workloads, price them against frontier APIs, decide.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add, _) in FOUNDATION.items():
        add(sub)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        if name == command:  # import only the module of the command being run
            importlib.import_module(module).add_cli_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    from .errors import WorkbenchError

    try:
        if args.command in FOUNDATION:
            return FOUNDATION[args.command][1](args)
        return importlib.import_module(COMMANDS[args.command][0]).cli(args) or 0
    except KeyboardInterrupt:
        print("\ninterrupted; what was measured is saved", file=sys.stderr)
        return 130
    except (CliError, WorkbenchError) as e:
        print(f"workbench {args.command}: error: {e}", file=sys.stderr)
        return 2


def print_json(obj) -> None:
    print(json.dumps(obj, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
