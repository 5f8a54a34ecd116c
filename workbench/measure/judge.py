"""LLM-as-judge for open-ended workloads (summaries): a judge target grades each output against
the rubric in the workload's spec; the grades get a bootstrap CI, the judge's agreement with the
workload's reference metric is reported, and every judge call is counted and priced.

The workload's ``spec.yaml`` carries the rubric::

    judge:
      rubric: >-
        5: one accurate sentence with what failed, the impact, how long and the fix; ...
      scale: [1, 5]              # integers; a grade g is reported as (g − 1) / 4 in [0, 1]

The judge is any target (``targets.yaml``): an OpenAI-compatible endpoint, e.g. a frontier API
whose key comes from the environment variable the target names. Each item is one chat request at
temperature 0 with the rubric, the input, the reference and the output; the last integer of the
scale in the reply is the grade (a reply with none is counted as unparsed, never as a grade).

- :func:`judge` grades given outputs; :func:`judge_run` the stored outputs of a quality run.
- Agreement (:func:`agreement`): Spearman's rank correlation between the grades and the reference
  metric per item (e.g. ROUGE-L), with a 95% bootstrap CI (scipy's ``spearmanr``, numpy
  resampling as in :mod:`workbench.measure.stats`); undefined (NaN) when either is constant.
- Cost: the judge's token counts (its ``usage``) times the catalog's API price named by the judge
  target's ``deployment.price_entry`` (or its model), ``usd`` None when the catalog has no price.

The judge's grade is its own metric ("judge", on its own scale): it never stands in for the
workload's primary metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import WorkbenchError
from ..inputs.catalog import load_catalog
from ..inputs.targets import get_target
from ..inputs.workloads import Workload, load_workload
from ..results.store import load
from ..serving import engines
from ..serving.client import Request, run_requests
from .evaluate import run_items, rescore
from .stats import bootstrap_ci, mean_ci

JUDGE_MAX_TOKENS = 16
SYSTEM = ("You grade answers strictly by a rubric. Reply with a single integer from {lo} to {hi} and "
          "nothing else.\n\nRubric:\n{rubric}")
USER = "Input:\n{text}\n\nReference answer:\n{reference}\n\nAnswer to grade:\n{output}"


class JudgeError(WorkbenchError, ValueError):
    """A workload without a usable rubric, or a judge that cannot be used."""


@dataclass(frozen=True)
class Rubric:
    text: str
    lo: int = 1
    hi: int = 5

    @classmethod
    def of(cls, wl: Workload) -> Rubric:
        j = wl.spec.get("judge")
        src = f"{wl.path or wl.name}: field 'judge'"
        if not isinstance(j, dict) or not isinstance(j.get("rubric"), str) or not j["rubric"].strip():
            raise JudgeError(f"{src}: workload {wl.name!r} has no rubric (judge: {{rubric: ..., scale: [1, 5]}})")
        scale = j.get("scale", [1, 5])
        if (not isinstance(scale, list) or len(scale) != 2 or not all(isinstance(v, int) for v in scale)
                or scale[0] >= scale[1]):
            raise JudgeError(f"{src}.scale: must be two integers [low, high], got {scale!r}")
        return cls(j["rubric"].strip(), scale[0], scale[1])

    def request(self, item: dict, output: str) -> Request:
        system = SYSTEM.format(lo=self.lo, hi=self.hi, rubric=self.text)
        user = USER.format(text=item.get("text", ""), reference=item.get("reference", ""), output=output)
        return Request("chat", {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                                "temperature": 0, "max_tokens": JUDGE_MAX_TOKENS}, item_id=str(item.get("id")))

    def grade(self, reply: str) -> float | None:
        """The reply's last integer within the scale, as a fraction of it; None without one."""
        hits = [int(m) for m in re.findall(r"-?\d+", reply or "") if self.lo <= int(m) <= self.hi]
        return None if not hits else (hits[-1] - self.lo) / (self.hi - self.lo)


@dataclass
class JudgeResult:
    """``grades`` per item (0–1, None: failed or unparsed); ``value``/``ci_*``: their mean with
    a 95% bootstrap CI; ``agreement``: Spearman ρ with the reference metric and its CI; the
    judge's calls, failures, tokens and cost."""

    judge: str
    workload: str
    grades: list
    value: float
    ci_low: float
    ci_high: float
    calls: int
    failed: int
    unparsed: int
    prompt_tokens: int
    completion_tokens: int
    usd: float | None
    price: str
    agreement: dict = field(default_factory=dict)

    def summary(self) -> str:
        a = self.agreement
        agree = (f"; agreement with {a['metric']}: Spearman {a['rho']:.2f} (95% CI {a['ci_low']:.2f}–{a['ci_high']:.2f},"
                 f" {a['n']} items)" if a and a["rho"] == a["rho"] else
                 f"; agreement with {a['metric']}: undefined ({a['why']})" if a else "")
        usd = "unpriced" if self.usd is None else f"${self.usd:.4f}"
        return (f"judge {self.judge} on {self.workload}: {self.value:.3f} (95% CI {self.ci_low:.3f}–{self.ci_high:.3f}) "
                f"over {len(self.grades) - self.failed - self.unparsed} graded items; {self.calls} calls "
                f"({self.failed} failed, {self.unparsed} unparsed), {self.prompt_tokens:,} + {self.completion_tokens:,} "
                f"tokens, {usd} ({self.price}){agree}")


def agreement(grades, reference, *, metric: str = "reference", seed: int = 0) -> dict:
    """Spearman's ρ between judge grades and the reference metric over the items both have, with
    a 95% bootstrap CI; ρ NaN (and ``why``) when fewer than 3 items or either side is constant."""
    from scipy.stats import spearmanr

    g = np.array([np.nan if v is None else v for v in grades], dtype=float)
    r = np.array([np.nan if v is None else v for v in reference], dtype=float)
    keep = ~np.isnan(g) & ~np.isnan(r)
    g, r = g[keep], r[keep]
    out = {"metric": metric, "n": int(len(g)), "rho": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    if len(g) < 3 or np.ptp(g) == 0 or np.ptp(r) == 0:
        return {**out, "why": "fewer than 3 items" if len(g) < 3 else "the judge or the metric is constant"}

    def rho(idx):
        a, b = g[idx], r[idx]
        return float("nan") if np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)

    value, lo, hi = bootstrap_ci(rho, len(g), seed=seed)
    return {**out, "rho": float(value), "ci_low": lo, "ci_high": hi, "why": ""}


def judge(judge_target, workload: str | Workload, items: list[dict], outputs: list[str], *, reference=None,
          concurrency: int = 4, catalog=None, progress: bool = False) -> JudgeResult:
    """Grade ``outputs`` (one per item of ``items``) with ``judge_target`` (a target name or
    Target) by the workload's rubric; ``reference``: the reference metric per item, for the
    agreement ({"metric": name, "values": [...]})."""
    wl = workload if isinstance(workload, Workload) else load_workload(workload)
    rubric = Rubric.of(wl)
    target = get_target(judge_target)
    with engines.endpoint(target) as endpoint:
        responses = run_requests(endpoint, [rubric.request(it, out) for it, out in zip(items, outputs)],
                                 concurrency=concurrency, progress=progress, stream=False)
    failed = [r is None or not r.ok for r in responses]
    grades = [None if bad else rubric.grade(r.text) for r, bad in zip(responses, failed)]
    pt = sum(r.prompt_tokens or 0 for r in responses if r is not None)
    ct = sum(r.output_tokens or 0 for r in responses if r is not None)
    usd, price = _price(target, pt, ct, catalog)
    graded = [g for g in grades if g is not None]
    value, lo, hi = mean_ci(graded) if graded else (float("nan"),) * 3
    agree = agreement(grades, reference["values"], metric=reference["metric"]) if reference else {}
    return JudgeResult(target.name, wl.name, grades, float(value), float(lo), float(hi), calls=len(responses),
                       failed=sum(failed), unparsed=sum(1 for g, bad in zip(grades, failed) if g is None and not bad),
                       prompt_tokens=int(pt), completion_tokens=int(ct), usd=usd, price=price, agreement=agree)


def _price(target, prompt_tokens: int, completion_tokens: int, catalog) -> tuple[float | None, str]:
    """USD of the judge's tokens at the catalog price of its ``price_entry`` (or model)."""
    entry = target.deployment.price_entry or target.model
    try:
        row = (catalog or load_catalog()).api(entry)
    except WorkbenchError:
        return None, f"no catalog price for {entry!r}"
    usd = prompt_tokens * float(row["input_cost_per_token"]) + completion_tokens * float(row["output_cost_per_token"])
    return usd, f"catalog price of {row['model']} ({row.get('source', '')}, as of {row.get('as_of', '')})"


def judge_run(run_id: str, judge_target, *, results=None, concurrency: int = 4, catalog=None) -> JudgeResult:
    """Grade the stored outputs of quality run ``run_id``; agreement with its workload's
    primary metric, recomputed per item from the same outputs."""
    results = results if results is not None else load()
    meta, df = run_items(run_id, results)
    wl = load_workload(meta["workload"])
    items, scored, _ = rescore(wl, df)
    outputs = dict(zip(df.item_id.astype(str), df.output))
    ref = [s.scores.get(wl.primary_metric) for s in scored]
    return judge(judge_target, wl, items, [outputs[str(it["id"])] for it in items],
                 reference={"metric": wl.primary_metric, "values": ref}, concurrency=concurrency, catalog=catalog)


# ----------------------------------------------------------------------------- CLI
def add_cli_arguments(p) -> None:
    p.add_argument("--run", required=True, help="a stored quality run whose outputs to grade")
    p.add_argument("--judge", required=True, help="the judge's target name (see `workbench targets`)")
    p.add_argument("--concurrency", type=int, default=4, help="judge requests in flight (default 4)")


def cli(args) -> int:
    print(judge_run(args.run, args.judge, concurrency=args.concurrency).summary())
    return 0
