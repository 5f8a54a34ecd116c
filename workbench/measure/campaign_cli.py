"""``workbench campaign plan|run FILE``: the cells of a campaign with an estimate of their time;
running them (locally, or with ``--ray`` on a Ray cluster), resumable, with a summary table.
The campaign file: :mod:`workbench.measure.campaign`; the driver: :mod:`workbench.measure.campaign_run`."""

from __future__ import annotations

import time
from pathlib import Path

from ..paths import default_results_dir
from .campaign import Campaign, estimate_s, load_campaign
from .campaign_run import DONE, history, is_finished, read_ledger, run_campaign


def plan_table(campaign: Campaign, root: str | Path):
    """One row per cell: what it measures, its options, whether it is done, and its estimate."""
    import pandas as pd

    ledger, past = read_ledger(Path(root), campaign.name), history(Path(root), campaign.name)
    rows = []
    for c in campaign.cells:
        rec = ledger.get(c.key)
        seconds, source = estimate_s(c, past)
        rows.append({"cell": c.key, "what": c.label, "options": ", ".join(f"{k}={v}" for k, v in c.options.items()),
                     "state": "done" if is_finished(rec, root) else (rec or {}).get("status", "to do"),
                     "estimate_s": round(seconds), "estimate": source})
    return pd.DataFrame(rows)


def add_cli_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    for action, text in (("plan", "print the cells and an estimate of their time"),
                         ("run", "run the cells not yet finished (resumable), then print a summary")):
        a = sub.add_parser(action, help=text)
        a.add_argument("file", help="campaign YAML (docs/campaigns.md)")
        a.add_argument("--results-root", default=None, help="store the runs go to (default: results/)")
        if action == "run":
            a.add_argument("--ray", default=None, metavar="auto|ADDRESS",
                           help="run the cells as Ray tasks on this cluster (auto: this machine's, else a local one)")
            a.add_argument("--shared-root", default=None,
                           help="with --ray: a path every node mounts; cells write their runs there directly")
            a.add_argument("--no-progress", action="store_true")


def cli(args) -> int:
    import pandas as pd

    campaign = load_campaign(args.file)
    root = Path(args.shared_root or args.results_root or default_results_dir()) if args.action == "run" \
        else Path(args.results_root or default_results_dir())
    show = pd.option_context("display.max_rows", 500, "display.width", 200, "display.max_colwidth", 60)
    if args.action == "plan":
        table = plan_table(campaign, root)
        todo = table[table.state != "done"]
        with show:
            print(table.to_string(index=False))
        print(f"\n{len(table)} cells, {len(todo)} to run, about {todo.estimate_s.sum() / 60:.1f} min "
              f"({(todo.estimate == 'assumed').sum()} estimates assumed, the rest from this campaign's earlier cells)")
        return 0
    executor = None
    if args.ray:
        from .campaign_ray import RayExecutor

        executor = RayExecutor(root, campaign.name, args.ray, args.shared_root)
        for line in executor.missing_resources(campaign.cells):
            print(f"note: {line}; it waits until the cluster has it")
    t0 = time.perf_counter()
    table = run_campaign(campaign, root=root, executor=executor, progress=not args.no_progress)
    with show:
        print(table.to_string(index=False))
    bad = table[~table.status.isin(DONE)]
    print(f"\n{len(table) - len(bad)} of {len(table)} cells finished, {len(bad)} not "
          f"({time.perf_counter() - t0:.0f} s); runs in {root}")
    return 0 if bad.empty else 1
