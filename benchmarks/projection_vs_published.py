"""How wrong is each projection engine against published measurements of real engines?

    PYTHONPATH=$PWD .venv/bin/python benchmarks/projection_vs_published.py           # print, write summary
    PYTHONPATH=$PWD .venv/bin/python benchmarks/projection_vs_published.py --no-aic  # roofline only

For every point of ``data/published/measurements.csv`` (vLLM, TensorRT-LLM and NIM figures on
H100/H200/B200, each with its source) the same cell is projected by the roofline uncalibrated,
the roofline calibrated leave-one-out (fitted on the other published points of the same
serving engine) and AIConfigurator where it covers the cell (``workbench.project.versus``).
Printed: every point with each projector's signed error or the reason it has none, then the
median and worst |error| per projector over all points each could project and over the points
all three projected (the same points, side by side), then per serving engine × GPU.

Written (unless ``--no-write``): ``data/published/projection_error.csv`` — per projector ×
serving engine × GPU (and × engine over all GPUs, gpu "*") the points, median and worst
|error| — which labels the projected options of a decision
(``workbench.project.versus.error_label``). AIConfigurator answers are cached under the
workbench cache directory; the first run takes minutes (2–20 s per estimate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-aic", action="store_true", help="leave AIConfigurator out")
    ap.add_argument("--no-write", action="store_true", help="do not write data/published/projection_error.csv")
    args = ap.parse_args(argv)

    import pandas as pd

    from workbench.inputs.published import load_published
    from workbench.project import aic, versus

    t0 = time.time()
    table = versus.compare(load_published(), use_aic=not args.no_aic)
    cols = ["id", "model", "gpu", "engine", "metric", "concurrency", "published"] + [
        f"{k}_error_pct" for k in versus.PROJECTORS]
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_colwidth", 90):
        print("Signed error (projected − published) / published, % — NaN: not projected (reason below)")
        print(table[cols].round(1).to_string(index=False))
        print("\nNot projected, and why:")
        for r in table.itertuples():
            if r.roofline_error_pct != r.roofline_error_pct:  # NaN
                print(f"  {r.id}: roofline — {r.roofline_note}")
            if "aiconfigurator_note" in table and r.aiconfigurator_error_pct != r.aiconfigurator_error_pct:
                print(f"  {r.id}: AIConfigurator — {r.aiconfigurator_note}")
        everything = versus.summarize(table)
        common = versus.summarize(table, common=True)
        print(f"\nAll points each projector could project ({len(table)} published points):")
        print(everything.round(1).to_string(index=False))
        print(f"\nThe same points, side by side ({int(common.points.max())} projected by all three):")
        print(common.round(1).to_string(index=False))
        per = versus.summarize(table, by=("engine", "gpu"))
        print("\nPer serving engine × GPU:")
        print(per[per.points > 0].round(1).to_string(index=False))
    for _, r in everything.iterrows():
        print(f"{r.projector}_median_error_pct={r.median_error_pct:.1f} worst={r.worst_error_pct:.1f} "
              f"points={r.points}")
    print(f"aiconfigurator={aic.version()} seconds={time.time() - t0:.0f}")
    if not args.no_write:
        _write_summary(table, versus.ERROR_FILE)
    return 0


def _write_summary(table, path) -> None:
    import pandas as pd

    from workbench.project import versus

    per = versus.summarize(table, by=("engine", "gpu"))
    all_gpus = versus.summarize(table, by=("engine",)).assign(gpu="*")
    out = pd.concat([per, all_gpus], ignore_index=True)
    out["as_of"] = dt.date.today().isoformat()
    out["source"] = "benchmarks/projection_vs_published.py on data/published/measurements.csv"
    cols = ["projector", "engine", "gpu", "points", "of", "median_error_pct", "worst_error_pct", "as_of", "source"]
    out[cols].round(1).to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
