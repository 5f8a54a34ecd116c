"""Quality of a target on a workload: send the items, score each reply as it arrives, write it to
the results store (kind "quality", ITEMS table), then bootstrap a confidence interval for every
metric. ``compare`` pairs two runs item by item.

    workbench evaluate --target local-llamacpp --workload ticket-classification --limit 20

A run scores the workload's test split by default (``--split dev|train|all``); the split is in
the run's params, and re-scoring a stored run (:func:`run_metrics`) uses the run's own split.
Stored outputs re-scored as evidence (:func:`rescore`, which ``decide`` uses) count the test
split only, so a model is never judged on the items it was trained on.

Pipeline: load workload → resolve endpoint → requests (temperature 0) → client.run_requests
with on_response = score + persist → metrics + bootstrap CIs → run summary.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WorkbenchError
from ..inputs.targets import add_adapter_argument, cli_target
from ..inputs.workloads import Workload, list_workloads, load_workload
from ..results.schema import EXIT_CODES, MAX_ERROR_RATE, run_status
from ..results.store import RunWriter, load
from ..serving import engines
from ..serving.client import run_requests
from .loadgen import corpus_requests, workload_requests
from .scorers import SCORERS, Scored, metrics
from .stats import bootstrap_ci, compare_binary, paired_bootstrap

GREEDY_FIELDS = {"llamacpp": {"repeat_penalty": 1.0}}
"""Engine-specific body fields that make temperature 0 plain greedy decoding. llama-cpp-python's
server applies ``repeat_penalty`` 1.1 unless told otherwise; vLLM and the OpenAI API apply none.
Without this the same weights decode differently on the two engines (measured: see docs)."""

EVAL_SPLIT = "test"
"""The split a quality run scores, and re-scored evidence counts, unless told otherwise."""

RETRIEVAL_TOP = 10
"""How many passage ids a retrieval item stores (its ``output``: the ranking, best first)."""


class EvalError(WorkbenchError, RuntimeError):
    pass


@dataclass
class EvalResult:
    run_id: str
    run_dir: Path
    metrics: Any  # pandas.DataFrame: metric, value, ci_low, ci_high, n (answered items), n_errors
    workload: str = ""
    target: str = ""
    status: str = "completed"
    error: str = ""  # why the run failed (the engine's death), when it did

    def _repr_html_(self) -> str:
        return (f"<b>{self.workload} on {self.target}</b> (run {self.run_id}, {self.status})"
                + self.metrics.to_html(index=False))


# --------------------------------------------------------------------------- metrics table
METRIC_COLUMNS = ["metric", "value", "ci_low", "ci_high", "n", "n_errors"]


def metrics_table(wl: Workload, items: list[dict], scored: list[Scored], *, n_errors: int = 0, seed: int = 0,
                  n_boot: int = 2000):
    """One row per metric over the answered ``items`` (aligned with ``scored``): value, 95 %
    percentile-bootstrap CI, ``n`` answered items, and ``n_errors`` items whose request failed
    (left out: an unanswered item is not a wrong answer)."""
    import pandas as pd

    rows = []
    for name, m in metrics(wl.spec, items, scored).items():
        v, lo, hi = bootstrap_ci(m.value, len(items), seed=seed, n_boot=n_boot) if items else (np.nan,) * 3
        rows.append({"metric": name, "value": v, "ci_low": lo, "ci_high": hi, "n": len(items), "n_errors": n_errors})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def _pool(vec) -> np.ndarray:
    """A sentence vector: as is, or the mean of per-token vectors (llama-cpp-python without pooling)."""
    a = np.asarray(vec, float)
    return a.mean(axis=0) if a.ndim == 2 else a


def _rank(query_vec, corpus_mat: np.ndarray, ids: list[str], top: int = RETRIEVAL_TOP) -> list[str]:
    """Passage ids by cosine similarity to the query, best first."""
    q = _pool(query_vec)
    sims = corpus_mat @ (q / (np.linalg.norm(q) or 1.0))
    return [ids[j] for j in np.argsort(-sims, kind="stable")[:top]]


def _embed_corpus(wl: Workload, endpoint, concurrency: int) -> np.ndarray:
    reqs = corpus_requests(wl)
    resps = run_requests(endpoint, reqs, concurrency=concurrency, progress=False)
    vecs = []
    for req, r in zip(reqs, resps):
        if not r.ok or not r.embeddings or len(r.embeddings) != len(req.body["input"]):
            died = engines.EngineWatch(endpoint).final()
            msg = f"workload {wl.name!r}: embedding the corpus failed at passage {req.item_id!r}: "
            if died is not None:
                raise engines.EngineDied(msg + died.describe(), died)
            raise EvalError(msg + (r.error or "no embeddings returned"))
        vecs.extend(_pool(v) for v in r.embeddings)
    mat = np.vstack(vecs)
    return mat / np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)


# --------------------------------------------------------------------------- evaluate
def evaluate(target, workload: str | Workload, limit: int | None = None, concurrency: int = 4,
             results_root=None, progress: bool = True, seed: int = 0, **options) -> EvalResult:
    """Run the items of ``workload`` of one split (``split=``, default the test split; "all" for
    every item), or a seeded subset of ``limit`` of them, against ``target`` (a name, a Target
    or an Engine) at temperature 0, persisting each scored item as it finishes.

    Metrics cover the answered items; items whose request failed are stored with their error
    and counted in ``n_errors``. The run is "degraded" when more than ``max_error_rate=`` (default
    ``MAX_ERROR_RATE``) of its items failed, and "failed" — with the engine's exit in its summary —
    when the managed engine died (no further item is sent)."""
    unknown = set(options) - {"split", "max_error_rate"}
    if unknown:
        raise EvalError(f"evaluate: unknown option {min(unknown)!r}; known: split, max_error_rate")
    max_error_rate, split = options.get("max_error_rate", MAX_ERROR_RATE), options.get("split", EVAL_SPLIT)
    if not 0 <= max_error_rate < 1:
        raise EvalError(f"max_error_rate: must be a fraction in [0, 1), got {max_error_rate!r}")
    wl = workload if isinstance(workload, Workload) else load_workload(workload)
    if not wl.split(split):
        raise EvalError(f"workload {wl.name!r}: field 'split': no items in split {split!r}")
    with engines.endpoint(target) as engine:
        return _evaluate(engine, wl, (limit, split), concurrency, results_root, progress, seed, max_error_rate)


@dataclass
class _Answers:
    """The items of one quality run as their answers arrive: an answered item is scored, an
    errored one is counted (never scored). ``scored[i]`` is None until item i is answered."""

    wl: Workload
    items: list[dict]
    scored: list
    errors: list = field(default_factory=list)

    def record(self, i: int, r, text: str) -> dict:
        """Score or count response ``r`` to item ``i``; its ITEMS row."""
        item = self.items[i]
        if r.ok:
            self.scored[i] = SCORERS[self.wl.spec["scorer"]](item, text, self.wl.spec)
        else:
            self.errors.append(item["id"])
        s = self.scored[i]
        return {"workload": self.wl.name, "item_id": item["id"], "output": text if r.ok else None,
                "parsed_ok": bool(r.ok and s.parsed_ok), "scores": s.scores if r.ok else {},
                "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens, "latency_ms": r.e2el_ms,
                "error": r.error or ""}

    def summary(self, seed: int):
        """(metrics table over the answered items, the run summary's fields)."""
        answered = [i for i, s in enumerate(self.scored) if s is not None]
        table = metrics_table(self.wl, [self.items[i] for i in answered], [self.scored[i] for i in answered],
                              n_errors=len(self.errors), seed=seed)
        fields = {"metrics": {r["metric"]: {k: r[k] for k in ("value", "ci_low", "ci_high", "n", "n_errors")}
                              for r in table.to_dict("records")},
                  "primary_metric": self.wl.primary_metric, "n_items": len(self.items),
                  "n_answered": len(answered), "n_errors": len(self.errors)}
        return table, fields


def _run_params(wl: Workload, selection: tuple, concurrency: int, seed: int, n_items: int, extra: dict,
                max_error_rate: float) -> dict:
    limit, split = selection
    params = {"limit": limit, "split": split, "split_source": wl.split_source, "concurrency": concurrency,
              "seed": seed, "n_items": n_items,
              "max_tokens": wl.max_tokens, "temperature": 0, **extra, "scorer": wl.spec["scorer"],
              "max_error_rate": max_error_rate}
    if wl.task == "retrieval":
        params["pooling"] = "client-side mean of token vectors when the server returns one per token"
    return params


def _evaluate(engine, wl: Workload, selection, concurrency, results_root, progress, seed, max_error_rate) -> EvalResult:
    t = engine.target
    limit, split = selection
    items = wl.selected(limit, seed, split)
    answers = _Answers(wl, items, [None] * len(items))
    requests = workload_requests(wl, limit, seed, split)
    extra = {} if t.strict or wl.task == "retrieval" else GREEDY_FIELDS.get(t.engine, {})
    for r in requests:
        r.body.update(extra)
    params = {**_run_params(wl, selection, concurrency, seed, len(answers.items), extra, max_error_rate),
              **t.adapter_params()}
    # embed the corpus first: a target without /v1/embeddings fails here, before a run exists
    corpus = _embed_corpus(wl, engine, concurrency) if wl.task == "retrieval" else None
    ids = [c["id"] for c in wl.corpus]
    watch = engines.EngineWatch(engine)
    with RunWriter(kind="quality", target=t.name, engine=t.engine, model=t.model, params=params,
                   root=results_root, workload=wl.name, weights="real", engine_version=engine.version,
                   dtype=t.deployment.dtype, deployment=asdict(t.deployment)) as run:

        def on_response(i: int, r) -> None:
            text = r.text
            if r.ok and corpus is not None:
                text = json.dumps(_rank(r.embeddings[0], corpus, ids)) if r.embeddings else ""
            run.append("items", answers.record(i, r, text))
            if not r.ok:
                watch.failed()

        ended = "completed"
        try:
            run_requests(engine, requests, concurrency=concurrency, progress=progress, on_response=on_response,
                         stream=False, stop=lambda: watch.died is not None)
        except KeyboardInterrupt:
            ended = "interrupted"
        table, status, fields = _finish(run, answers, watch.final(), ended, max_error_rate, seed)
        if ended == "interrupted":
            raise KeyboardInterrupt
    return EvalResult(run.run_id, run.dir, table, wl.name, t.name, status, fields.get("error", ""))


def _finish(run, answers: _Answers, died, ended: str, max_error_rate: float, seed: int):
    """Metrics over the answered items and the run's status: "failed" when the engine died,
    else "degraded" above ``max_error_rate`` errored items, else ``ended``."""
    table, fields = answers.summary(seed)
    if died is not None:
        status = "failed"
        fields.update(engine_exit=died.as_record(), error=died.describe())
    else:
        status = run_status(fields["n_answered"], fields["n_errors"], max_error_rate=max_error_rate, ended=ended)
    run.finish(status, summary=fields)
    return table, status, fields


# --------------------------------------------------------------------------- from the store
def run_items(run_id: str, results) -> tuple[dict, Any]:
    """A stored quality run's metadata and its item rows (the judge and the paired comparison
    read runs through this); one clear error when the run is not in ``results``."""
    runs = results.runs[results.runs["run_id"] == run_id]
    if runs.empty:
        raise EvalError(f"run {run_id!r} not found in the results store ({len(results.runs)} runs loaded)")
    meta = runs.iloc[0].to_dict()
    if meta.get("kind") != "quality":
        raise EvalError(f"run {run_id!r}: field 'kind': expected 'quality', got {meta.get('kind')!r}")
    items = results.items[results.items["run_id"] == run_id].drop_duplicates("item_id", keep="last")
    return meta, items


def answered(items_df):
    """The stored items whose request was answered (no error text, an output string): the
    only ones a metric may score. An errored item is not a wrong answer."""
    ok = [not (isinstance(e, str) and e) and isinstance(o, str)
          for e, o in zip(items_df["error"], items_df["output"])]
    return items_df[np.array(ok, dtype=bool)]


def rescore(wl: Workload, items_df, split: str | None = EVAL_SPLIT) -> tuple[list[dict], list[Scored], int]:
    """``(items, scored, n_errors)``: the workload items of ``split`` (all for None or "all")
    answered in ``items_df`` (stored ITEMS rows) and their scores recomputed from the stored
    outputs, and how many of those rows errored (left out, never scored). Rows whose item the
    workload no longer has, or has in another split, are skipped."""
    by_id = {str(it["id"]): it for it in wl.split(split)}
    items_df = items_df[items_df["item_id"].astype(str).isin(by_id)]
    ok = answered(items_df)
    items, scored = [], []
    scorer = SCORERS[wl.spec["scorer"]]
    for row in ok.itertuples():
        item = by_id.get(str(row.item_id))
        if item is not None:
            items.append(item)
            scored.append(scorer(item, row.output, wl.spec))
    return items, scored, len(items_df) - len(ok)


def run_metrics(run_id: str, results=None):
    """The metrics table (with bootstrap CIs) of a stored quality run, recomputed from its items
    of the split it ran on (all its items for a run made before splits)."""
    results = results if results is not None else load()
    meta, df = run_items(run_id, results)
    wl = load_workload(meta["workload"])
    params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    items, scored, n_errors = rescore(wl, df, params.get("split"))
    return metrics_table(wl, items, scored, n_errors=n_errors)


def quality_table(results=None, *, workload: str | None = None):
    """One row per (quality run, metric): run_id, target, model, dtype, workload, status, metric,
    value, ci_low, ci_high, n (answered items), n_errors, provenance. Runs whose stored summary
    counts errors use it; others (interrupted, failed, or written before errors were counted)
    are recomputed from the items they kept."""
    import pandas as pd

    results = results if results is not None else load()
    runs = results.runs[results.runs["kind"] == "quality"]
    if workload is not None:
        runs = runs[runs["workload"] == workload]
    rows = []
    for run in runs.itertuples():
        summary = (run.summary or {}).get("metrics") if isinstance(run.summary, dict) else None
        if not summary or any("n_errors" not in r for r in summary.values()):
            try:
                table = run_metrics(run.run_id, results)
            except WorkbenchError:
                continue
            summary = {r["metric"]: r for r in table.to_dict("records")}
        for metric, r in summary.items():
            rows.append({"run_id": run.run_id, "target": run.target, "model": run.model, "dtype": run.dtype,
                         "workload": run.workload, "status": run.status, "metric": metric,
                         "value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"],
                         "n_errors": r["n_errors"], "provenance": "measured"})
    return pd.DataFrame(rows, columns=["run_id", "target", "model", "dtype", "workload", "status", "metric",
                                       "value", "ci_low", "ci_high", "n", "n_errors", "provenance"])


def compare(run_a: str, run_b: str, results=None, *, seed: int = 0, n_boot: int = 2000,
            split: str | None = EVAL_SPLIT):
    """Paired comparison of two quality runs of the same workload on their common items of
    ``split`` (the test split unless told; None or "all" for every item).

    One row per metric: a, b, diff = a − b, its 95 % paired-bootstrap CI, p-value (McNemar —
    exact binomial below 25 discordant items — for 0/1 metrics, paired bootstrap otherwise),
    the test used, the discordant counts and n common items."""
    import pandas as pd

    results = results if results is not None else load()
    meta_a, df_a = run_items(run_a, results)
    meta_b, df_b = run_items(run_b, results)
    if meta_a["workload"] != meta_b["workload"]:
        raise EvalError(f"runs {run_a} and {run_b} measured different workloads "
                        f"({meta_a['workload']!r} vs {meta_b['workload']!r})")
    wl = load_workload(meta_a["workload"])
    df_a, df_b = answered(df_a), answered(df_b)  # an item unanswered in either run is not compared
    common = sorted(set(df_a["item_id"]) & set(df_b["item_id"]))
    if not common:
        raise EvalError(f"runs {run_a} and {run_b} share no answered items")
    pick = lambda df: df.set_index("item_id").loc[common].reset_index()
    items, sa, _ = rescore(wl, pick(df_a), split)
    _, sb, _ = rescore(wl, pick(df_b), split)
    if not items:
        raise EvalError(f"runs {run_a} and {run_b} share no answered items of split {split!r}")
    ma, mb = metrics(wl.spec, items, sa), metrics(wl.spec, items, sb)
    rows = []
    for name in ma:
        a, b = ma[name], mb[name]
        if a.binary and b.binary:
            p = compare_binary(a.data["x"], b.data["x"], seed=seed, n_boot=n_boot)
        else:
            p = paired_bootstrap(a.value, b.value, len(items), seed=seed, n_boot=n_boot)
        rows.append({"metric": name, "a": a.value(), "b": b.value(), "diff": p.diff, "ci_low": p.ci_low,
                     "ci_high": p.ci_high, "p_value": p.p_value, "test": p.test, "a_only": p.a_only,
                     "b_only": p.b_only, "n": p.n})
    out = pd.DataFrame(rows)
    out.attrs.update(run_a=run_a, run_b=run_b, target_a=meta_a["target"], target_b=meta_b["target"],
                     workload=wl.name)
    return out


# --------------------------------------------------------------------------- CLI
def add_cli_arguments(p) -> None:
    p.add_argument("--target", help="target name (see `workbench targets`)")
    add_adapter_argument(p, "score it", "scored")
    p.add_argument("--workload", help="workload name or directory (see --list)")
    p.add_argument("--limit", type=int, default=None, help="a seeded random subset of N items")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default=EVAL_SPLIT, choices=["train", "dev", "test", "all"],
                   help=f"the items to score (default {EVAL_SPLIT}; --compare pairs the items of this split)")
    p.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="paired comparison of two runs")
    p.add_argument("--list", action="store_true", help="list the workloads")
    p.add_argument("--max-error-rate", type=float, default=MAX_ERROR_RATE,
                   help=f"a run with more errored items than this share is 'degraded' (default {MAX_ERROR_RATE})")
    p.add_argument("--no-progress", action="store_true")


def cli(args) -> int:
    import pandas as pd


    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.4g}".format):
        if args.list:
            for name in list_workloads():
                wl = load_workload(name)
                sizes = "/".join(str(len(wl.split(s))) for s in ("train", "dev", "test"))
                print(f"{name:<26} {wl.task:<15} {len(wl.items):>4} items ({sizes} train/dev/test)  "
                      f"primary {wl.primary_metric:<14} {wl.privacy}")
            return 0
        if args.compare:
            table = compare(*args.compare, seed=args.seed, split=args.split)
            print(f"{table.attrs['workload']}: A = {table.attrs['target_a']} ({args.compare[0]}), "
                  f"B = {table.attrs['target_b']} ({args.compare[1]})")
            print(table.to_string(index=False))
            return 0
        if not args.target or not args.workload:
            raise EvalError("give --target and --workload (or --list, or --compare RUN_A RUN_B)")
        target = cli_target(args.target, args.adapter)
        res = evaluate(target, args.workload, limit=args.limit, concurrency=args.concurrency,
                       progress=not args.no_progress, seed=args.seed, max_error_rate=args.max_error_rate,
                       split=args.split)
        print(f"{res.workload} on {res.target}: run {res.run_id} ({res.status}) -> {res.run_dir}")
        print(res.metrics.to_string(index=False))
        if res.error:
            print(f"note: {res.error}")
    return EXIT_CODES.get(res.status, 1)
