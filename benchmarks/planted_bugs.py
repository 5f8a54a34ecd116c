"""Plant, one at a time, the eleven bugs that a 2026-11-29 audit of the suite found it did not
catch, and say which test catches each now. Each bug is a one-line change to a copy of the
package in a scratch directory (the checkout is never touched); the tests that run are the
fast ones of the modules involved (no engine, no browser), from the scratch copy.

    .venv/bin/python benchmarks/planted_bugs.py            # ~1 min; prints caught=N/11 last

A bug "survives" when those tests still pass: that is a rule of the workbench no test pins.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = ["tests/cost", "tests/measure/test_metrics.py", "tests/measure/test_stats.py", "tests/decide"]

# (what the bug does, file, the exact text, what it becomes)
BUGS = [
    ("bootstrap CI at 90 % instead of 95 %", "workbench/measure/stats.py",
     "lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])\n    return value",
     "lo, hi = np.quantile(boots, [alpha, 1 - alpha])\n    return value"),
    ("paired CI at 80 % instead of 95 %", "workbench/measure/stats.py",
     "lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])\n    if np.all",
     "lo, hi = np.quantile(boots, [2 * alpha, 1 - 2 * alpha])\n    if np.all"),
    ("paired p-value one-sided", "workbench/measure/stats.py",
     "min(1.0, 2 * min(np.mean(boots <= 0), np.mean(boots >= 0)))", "min(1.0, np.mean(boots <= 0))"),
    ("resampling never draws the last item", "workbench/measure/stats.py",
     "integers(0, n_items, size=", "integers(0, max(1, n_items - 1), size="),
    ("measurement window starts at the first completed send", "workbench/measure/metrics.py",
     'window_s([r["sent_s"] for r in rows], ends)', 'window_s([r["sent_s"] for r in done], ends)'),
    ("ITL request-weighted instead of chunk-weighted", "workbench/measure/metrics.py",
     'itls = [g for r in done for g in itl_ms(list(r.get("chunk_times_s") or []))]',
     'itls = [float(np.mean(g)) for r in done if (g := itl_ms(list(r.get("chunk_times_s") or [])))]'),
    ("send lag over completed requests only", "workbench/measure/metrics.py",
     'for r in rows\n                                 if r.get("scheduled_s") is not None',
     'for r in done\n                                 if r.get("scheduled_s") is not None'),
    ("capacity from any point meeting the SLO, not stopping at the first miss", "workbench/cost/cost.py",
     "        if not _meets(point, limits, max_error_rate):\n            break",
     "        if not _meets(point, limits, max_error_rate):\n            continue"),
    ("error-rate boundary: a point at exactly the limit misses", "workbench/cost/cost.py",
     "err > max_error_rate", "err >= max_error_rate"),
    ("zero volume, nothing paid: infinite cost per request", "workbench/cost/cost.py",
     "np.where(cost > 0, np.inf, 0.0)", "np.where(cost >= 0, np.inf, 0.0)"),
    ("no tolerance when rounding replicas up", "workbench/cost/cost.py",
     "np.ceil(peak / capacity_rps * (1 - 1e-12))", "np.ceil(peak / capacity_rps)"),
]


def plant(scratch: Path, path: str, old: str, new: str) -> None:
    f = scratch / path
    text = f.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise SystemExit(f"{path}: the text to change is not there exactly once: {old!r}")
    f.write_text(text.replace(old, new), encoding="utf-8")


def failing_tests(scratch: Path) -> list[str]:
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m",
                        "not engines and not browser", *TESTS], cwd=scratch, capture_output=True, text=True,
                       env={"PYTHONPATH": str(scratch), "PATH": "/usr/bin:/bin"}, timeout=600)
    return re.findall(r"^FAILED (\S+)", p.stdout, re.M) or (["(error: " + p.stdout[-300:] + ")"]
                                                          if p.returncode not in (0, 1) else [])


def main() -> int:
    caught = 0
    for what, path, old, new in BUGS:
        with tempfile.TemporaryDirectory() as d:
            scratch = Path(d)
            shutil.copytree(REPO / "workbench", scratch / "workbench")
            shutil.copytree(REPO / "tests", scratch / "tests")
            shutil.copytree(REPO / "data", scratch / "data")
            shutil.copy(REPO / "pyproject.toml", scratch / "pyproject.toml")
            plant(scratch, path, old, new)
            failed = failing_tests(scratch)
        caught += bool(failed)
        print(f"{'caught  ' if failed else 'SURVIVES'} {what}: {failed[0] if failed else '-'}", flush=True)
    print(f"caught={caught}/{len(BUGS)}")
    return 0 if caught == len(BUGS) else 1


if __name__ == "__main__":
    sys.exit(main())
