"""How wrong is the projection? Calibrate it on the local engines' measured load sweeps and
report every point's leave-one-out error.

    .venv/bin/python benchmarks/projection_error.py            # use the runs in the store
    .venv/bin/python benchmarks/projection_error.py --measure  # first sweep the running engines

Data: load runs in the results store (``workbench measure --target local-vllm --profile
concurrency=1,2,4,8`` writes them). With ``--measure`` (or when the store has no local load
run), a minimal sweep drives the engines started with ``workbench engine start`` through
``workbench.serving.client.run_requests`` and records runs in the same REQUESTS schema: two prompt
lengths × concurrency 1,2,4,8, 64 output tokens (forced on vLLM; llama.cpp stops where the
model does, its counts come from the stream). It never starts an engine.

Error: for each measured load point, the efficiencies of its engine × hardware are fitted on
the OTHER points (leave-one-out) and the point is predicted; the error is
|projected − measured| / measured of output tokens/s, and of TPOT. Printed last:
``projection_median_error_pct=X points=N`` (median over points and both metrics).
"""

from __future__ import annotations

import argparse
import math
import random
import sys

LOCAL_TARGETS = ("local-vllm", "local-llamacpp")
_WORDS = ("river stone lamp orchard window harbor copper meadow signal lantern garden valley "
          "engine letter market winter candle bridge forest compass").split()


def _prompt(words: int, rng: random.Random) -> str:
    # random words: no two prompts share a prefix, so prefix caching cannot skip the prefill
    body = " ".join(rng.choice(_WORDS) for _ in range(words))
    return f"Continue this list of words with a short story that uses them: {body}"


def measure_local(target_name: str, *, concurrencies=(1, 2, 4, 8), prompt_words=(20, 300),
                  output_tokens: int = 64, seed: int = 0) -> str | None:
    """A minimal load sweep of a running local engine into the results store; its run_id."""
    from workbench.inputs.targets import get_target
    from workbench.results.store import RunWriter
    from workbench.serving import detached
    from workbench.serving.client import Request, run_requests

    state = detached.detached_engine(target_name)
    if not state or not state.get("ready"):
        print(f"{target_name}: not running (`workbench engine start {target_name}`); skipped", file=sys.stderr)
        return None
    t = get_target(target_name)
    force = output_tokens if t.capabilities.get("ignore_eos") else None
    rng = random.Random(seed)
    params = {"profile": "concurrency=" + ",".join(map(str, concurrencies)), "prompt_words": list(prompt_words),
              "output_tokens": output_tokens, "driver": "benchmarks/projection_error.py minimal sweep"}
    with RunWriter(kind="load", target=t.name, engine=t.engine, model=t.model, params=params,
                   dtype=t.deployment.dtype, hardware_count=t.deployment.count) as run:
        rid = 0
        for words in prompt_words:
            for c in concurrencies:
                n = max(4, 2 * c)
                reqs = [Request("chat", {"messages": [{"role": "user", "content": _prompt(words, rng)}],
                                         "max_tokens": output_tokens, "temperature": 0.8})
                        for _ in range(n + 1)]
                label = f"concurrency={c},prompt_words={words}"
                t0 = run.now_s()
                res = run_requests(state["base_url"], reqs, concurrency=c, model=t.model, progress=False,
                                   force_output_tokens=force)
                for i, r in enumerate(res):
                    run.append("requests", {
                        "request_id": rid, "phase": "warmup" if i == 0 else "measure", "load_point": label,
                        "concurrency": c, "request_rate": math.inf, "endpoint": "chat", "scheduled_s": t0,
                        "sent_s": t0 + r.sent_s, "chunk_times_s": r.chunk_times_s, "ttft_ms": r.ttft_ms,
                        "e2el_ms": r.e2el_ms, "prompt_tokens": r.prompt_tokens, "output_tokens": r.output_tokens,
                        "token_source": r.token_source, "max_tokens": output_tokens, "forced_length": bool(force),
                        "http_status": r.http_status, "error": r.error, "ok": r.ok})
                    rid += 1
                print(f"  {t.name} {label}: {sum(r.ok for r in res)}/{len(res)} ok", file=sys.stderr)
        return run.run_id


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--measure", action="store_true", help="sweep the running local engines first")
    ap.add_argument("--results", nargs="*", default=None, help="result roots (default: the store's)")
    args = ap.parse_args(argv)

    from workbench.project import calibrate
    from workbench.results import store

    results = store.load(args.results)
    points = calibrate.load_points(results)
    local = points[points["target"].isin(LOCAL_TARGETS)] if len(points) else points
    if args.measure or local.empty:
        for name in LOCAL_TARGETS:
            measure_local(name)
        results = store.load(args.results)
        points = calibrate.load_points(results)
    if points.empty:
        print("no measured load points: start the engines (`workbench engine start local-vllm`) and retry")
        print("projection_median_error_pct=nan points=0")
        return 1
    report = calibrate.leave_one_out(points)
    fits = calibrate.fit_all(points)
    print("Fitted efficiencies per engine × hardware (all points):")
    for key, fit in fits.items():
        print(f"  {key}: mbu={fit.eff.mbu:.3f} mfu={fit.eff.mfu:.3f} "
              f"step_overhead_ms={fit.eff.step_overhead_s * 1e3:.2f} "
              f"layer_overhead_ms={fit.eff.layer_overhead_s * 1e3:.3f}  [{fit.eff.label}]")
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        cols = ["engine", "model", "layers", "load_point", "output_tokens_per_s", "projected_output_tokens_per_s",
                "tps_error_pct", "tpot_ms", "projected_tpot_ms", "tpot_error_pct"]
        print("\nLeave-one-out error of every measured point:")
        print(report[cols].round(2).to_string(index=False))
    errors = pd.concat([report["tps_error_pct"].abs(), report["tpot_error_pct"].abs()]).dropna()
    print(f"\nmedian |error|: output tokens/s {report['tps_error_pct'].abs().median():.1f}%, "
          f"TPOT {report['tpot_error_pct'].abs().median():.1f}%")
    print(f"projection_median_error_pct={errors.median():.1f} points={len(report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
