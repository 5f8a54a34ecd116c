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
    "judge": ("workbench.measure.judge", "grade a quality run's outputs with an LLM judge by the workload's rubric"),
    "finetune": ("workbench.measure.finetune", "train a LoRA adapter (or all weights) on a workload's train split"),
    "report": ("workbench.present.report", "execute the decision notebook into reports/ (HTML + notebook)"),
    "dashboard": ("workbench.present.dashboard_serve", "serve the what-if dashboard with Voila on loopback"),
    "demo": ("workbench.demo", "the main job on the embedded default (what `make demo` runs)"),
    "import": ("workbench.results.importers", "import result files of vllm bench, guidellm, aiperf, inference-perf, "
               "llmperf, lm-eval"),
    "export": ("workbench.results.exporters", "export runs as an llm-d Benchmark Report, CSV or Parquet"),
    "campaign": ("workbench.measure.campaign_cli", "plan or run a campaign: a matrix of measurement cells (Ray optional)"),
    "results": ("workbench.results.query", "SQL (DuckDB) over the results store; write missing Parquet copies"),
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


# ----------------------------------------------------------------------------- catalog
def _add_catalog(sub) -> None:
    p = sub.add_parser("catalog", help="the catalog of models, GPUs, instances and API prices")
    csub = p.add_subparsers(dest="action", required=True)
    for add, _ in CATALOG_ACTIONS.values():
        add(csub)


def _run_catalog(args) -> int:
    return CATALOG_ACTIONS[args.action][1](args)


def _add_catalog_add_model(csub) -> None:
    s = csub.add_parser("add-model", help="turn a Hugging Face config.json into a row of models.csv")
    s.add_argument("config", help="path of the model's config.json")
    s.add_argument("--name", help="catalog name (default: _name_or_path, else the config's folder)")
    s.add_argument("--to", help="models.csv to write (default: catalog-overrides/models.csv, or "
                                "$WORKBENCH_CATALOG_OVERRIDES/models.csv)")
    s.add_argument("--source", help="where the config came from, e.g. a hub URL (default: its path)")
    s.add_argument("--as-of", dest="as_of", help="date of the config, YYYY-MM-DD (default: today)")
    s.add_argument("--notes", default="")
    s.add_argument("--unverified", action="store_true", help="mark the row verified=false")
    s.add_argument("--replace", action="store_true", help="overwrite a row of the same name")


def _run_catalog_add_model(args) -> int:
    from .project.model_catalog import add_model
    from .project.roofline import kv_bytes_per_token

    row, dest, arch = add_model(args.config, to=args.to, replace=args.replace, name=args.name, source=args.source,
                                as_of=args.as_of, verified=not args.unverified, notes=args.notes)
    print(f"{row['name']}: {row['params_b']:g} B parameters ({row['active_params_b']:g} B active), "
          f"{arch.layers} layers, KV {kv_bytes_per_token(arch) / 1024:g} KiB per token (bf16), "
          f"weights {row['weight_format']} -> {dest}")
    return 0


def _add_catalog_refresh(csub) -> None:
    from .inputs import refresh

    refresh.add_refresh_parser(csub)


def _add_catalog_show(csub) -> None:
    from .inputs import refresh

    refresh.add_show_parser(csub)


def _run_catalog_refresh_or_show(args) -> int:
    from .inputs import refresh

    return refresh.cli(args)


CATALOG_ACTIONS = {
    "refresh": (_add_catalog_refresh, _run_catalog_refresh_or_show),
    "show": (_add_catalog_show, _run_catalog_refresh_or_show),
    "add-model": (_add_catalog_add_model, _run_catalog_add_model),
}
"""catalog subcommand -> (add its parser, run it); each action is its own pair of functions."""


FOUNDATION = {
    "engine": (_add_engine, _run_engine),
    "model": (_add_model, _run_model),
    "targets": (_add_targets, _run_targets),
    "catalog": (_add_catalog, _run_catalog),
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
