"""Mutation score of the pure modules: the share of small code changes (mutants) that the tests
catch, per module, measured by mutmut (a maintained mutation-testing tool; it rewrites each
function into variants — an operator flipped, a constant changed, a line removed — and runs the
tests that cover it against each). A surviving mutant is a change no test notices.

Not part of `make test`: several minutes per module on 2 cores. Runs in a scratch copy, never
in the checkout:

    .venv/bin/python benchmarks/mutation_score.py                  # every module below
    .venv/bin/python benchmarks/mutation_score.py cost metrics     # some of them

Prints one line per module, and last `mutation_score_pct=<killed / (killed + survived)> ...`.
The target is 80 % or more on each of these modules.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = {  # name: (module file, the tests that pin it)
    "cost": ("workbench/cost/cost.py", ["tests/cost"]),
    "breakeven": ("workbench/cost/breakeven.py", ["tests/cost"]),
    "envelope": ("workbench/cost/envelope.py", ["tests/cost"]),
    "metrics": ("workbench/measure/metrics.py", ["tests/measure/test_metrics.py"]),
    "stats": ("workbench/measure/stats.py", ["tests/measure/test_stats.py"]),
    "scorers": ("workbench/measure/scorers.py", ["tests/measure/test_scorers.py"]),
    "roofline": ("workbench/project/roofline.py", ["tests/project/test_roofline.py"]),
}


def score(repo: Path, module: str, tests: list[str]) -> dict:
    """mutmut over ``module`` with ``tests``, in a scratch copy of ``repo``: the counts by outcome."""
    with tempfile.TemporaryDirectory() as d:
        scratch = Path(d)
        for part in ("workbench", "tests", "data"):
            shutil.copytree(repo / part, scratch / part)
        tests_lines = "".join(f"\n    {t}" for t in tests)
        (scratch / "setup.cfg").write_text(
            "[mutmut]\nsource_paths = workbench\n"
            f"only_mutate = {module}\n"
            f"pytest_add_cli_args_test_selection ={tests_lines}\n"
            "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -m\n    not engines and not browser and not gpu\n"
            "also_copy = data\n")
        # The tests must import the mutated copy: mutants/ first on the path. It must exist before
        # Python starts, or the import system caches it as missing and falls back to the checkout
        # installed in the venv (editable), where no mutant lives.
        (scratch / "mutants").mkdir()
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(scratch / "mutants"),
               "HOME": str(scratch)}
        mutmut = str(Path(sys.executable).parent / "mutmut")  # its script: the scratch dir is not on sys.path
        run = subprocess.run([mutmut, "run", "--max-children", "2"], cwd=scratch, env=env, capture_output=True,
                             text=True)
        if run.returncode not in (0, 1):
            raise SystemExit(f"mutmut failed on {module}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
        subprocess.run([mutmut, "export-cicd-stats"], cwd=scratch, env=env, capture_output=True, text=True,
                       check=True)
        return json.loads((scratch / "mutants" / "mutmut-cicd-stats.json").read_text())


def main(names: list[str]) -> int:
    killed = survived = 0
    for name in names or list(MODULES):
        module, tests = MODULES[name]
        s = score(REPO, module, tests)
        k, sv = s.get("killed", 0), s.get("survived", 0)
        killed, survived = killed + k, survived + sv
        pct = 100.0 * k / (k + sv) if k + sv else float("nan")
        print(f"{name}: {pct:.1f}% of {k + sv} mutants killed ({k} killed, {sv} survived, "
              f"{s.get('no_tests', 0)} not covered by a test, {s.get('timeout', 0)} timed out)", flush=True)
    total = 100.0 * killed / (killed + survived) if killed + survived else float("nan")
    print(f"mutation_score_pct={total:.1f} killed={killed} survived={survived}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
