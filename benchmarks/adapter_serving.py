"""What LoRA adapters cost at serving time on vLLM, as ratios to the base measured in the same run.

One vLLM engine is started for the first adapter target of ``--base`` (the base with
``--enable-lora`` and every adapter of the base, see workbench/inputs/adapters.py); the load
harness (``workbench.measure.harness.measure``) then sends the same load profile, synthetic
prompts of the same length (another seed per case, so vLLM's prefix cache never serves one case
another's prompts) and forced output length, three times to it:

1. **base** — requests naming the base model (LoRA on in the engine, no adapter in the batch);
2. **one adapter** — every request names the first adapter;
3. **mix** — the requests name the adapters in turn, so a batch holds several adapters.

With ``--plain-base`` (default) the base is also measured on an engine started without LoRA
(the base target as deployed): ``base_lora_engine_over_plain`` is what enabling LoRA costs.
Prints, per load point, output tokens/s and p50 latency (TTFT, TPOT, end-to-end) and their ratios
to the base on the same engine. The runs go to a temporary results folder unless
``--results-root`` is given (they are benchmark runs, not reference runs). Prints the load
average: the CPU is shared.

    .venv/bin/python benchmarks/adapter_serving.py [--profile concurrency=1,4] [--requests 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile

RATIO_COLUMNS = ("output_tokens_per_s", "p50_ttft_ms", "p50_tpot_ms", "p50_e2el_ms")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _summary(res) -> dict:
    """{load point: {column: value}} of a harness result."""
    return {row["load_point"]: {c: float(row[c]) for c in RATIO_COLUMNS}
            for row in res.summary.to_dict("records")}


def measure_adapters(base: str = "local-vllm", *, profile: str = "concurrency=1,4", requests: int = 8,
                     output_tokens: int = 32, plain_base: bool = True, results_root=None) -> dict:
    """{case: {"run_id", "points": {load point: {column: value}}}} for base, one adapter, mix
    (and plain base): the harness against one LoRA engine, same profile, seed and prompts."""
    from workbench.inputs.targets import load_targets
    from workbench.measure.harness import LoadConfig, measure
    from workbench.serving import engines

    targets = load_targets()
    adapters = [t for t in targets.values() if t.base_target == base]
    if len(adapters) < 2:
        raise SystemExit(f"{base!r} needs at least two adapters in its targets entry for a mix; has {len(adapters)}")
    root = results_root or tempfile.mkdtemp(prefix="adapter-serving-")
    cfg = LoadConfig(profile=profile, requests_per_point=requests, output_tokens=output_tokens, warmup=2)
    out: dict = {}

    def run(case: str, engine, seed: int, **options) -> None:
        # one seed per case on the LoRA engine: its prefix cache never serves a case another's prompts
        print(f"[{case}] load average {_load()}", flush=True)
        res = measure(engine, dataclasses.replace(cfg, seed=seed, **options), results_root=root, progress=False)
        if res.status != "completed":
            raise SystemExit(f"{case}: run {res.run_id} {res.status}: {res.error or res.notes}")
        out[case] = {"run_id": res.run_id, "points": _summary(res)}

    first = adapters[0]
    with engines.running(first) as eng:
        print(f"LoRA engine for {[a.name for a in first.adapters]} started in {eng.start_s:.0f} s", flush=True)
        as_base = dataclasses.replace(first, name=f"{base} (LoRA engine)", model=first.served_model, adapter=None)
        run("base", dataclasses.replace(eng, target=as_base), 1)
        run("one adapter", eng, 2)
        run("mix", eng, 3, models=tuple(a.name for a in first.adapters))
    if plain_base:
        with engines.running(targets[base]) as eng:
            run("plain base", eng, 1)  # the base's prompts, on its own engine
    out["results_root"] = str(root)
    return out


def ratios(out: dict) -> dict:
    """{(case, load point, column): case / base on the LoRA engine} (and base / plain base)."""
    base = out["base"]["points"]
    rows = {}
    for case in ("one adapter", "mix"):
        for point, cols in out[case]["points"].items():
            for c in RATIO_COLUMNS:
                rows[(f"{case} / base", point, c)] = cols[c] / base[point][c]
    if "plain base" in out:
        for point, cols in base.items():
            for c in RATIO_COLUMNS:
                rows[("base on LoRA engine / plain base", point, c)] = cols[c] / out["plain base"]["points"][point][c]
    return rows


def report(out: dict) -> None:
    for case in ("plain base", "base", "one adapter", "mix"):
        if case not in out:
            continue
        for point, cols in out[case]["points"].items():
            print(f"{case:<12} {point:<16} " + "  ".join(f"{c}={v:.1f}" for c, v in cols.items())
                  + f"  (run {out[case]['run_id']})")
    r = ratios(out)
    for (case, point, c), v in r.items():
        print(f"ratio {case:<34} {point:<16} {c:<20} {v:.3f}")
    for case, key in (("one adapter / base", "adapter"), ("mix / base", "mix"),
                      ("base on LoRA engine / plain base", "lora_engine")):
        tput = [v for (k, _, c), v in r.items() if k == case and c == "output_tokens_per_s"]
        lat = [v for (k, _, c), v in r.items() if k == case and c == "p50_e2el_ms"]
        if tput:
            print(f"{key}_over_base_throughput={sum(tput) / len(tput):.3f}")
            print(f"{key}_over_base_e2el={sum(lat) / len(lat):.3f}")
    print(f"runs in {out['results_root']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    args = ap.parse_args()
    report(measure_adapters(args.base, profile=args.profile, requests=args.requests,
                            output_tokens=args.output_tokens, plain_base=not args.no_plain_base,
                            results_root=args.results_root))
    print(f"load average after: {_load()}")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--base", default="local-vllm", help="a vllm target with at least two adapters")
    ap.add_argument("--profile", default="concurrency=1,4")
    ap.add_argument("--requests", type=int, default=8, help="requests per load point")
    ap.add_argument("--output-tokens", type=int, default=32)
    ap.add_argument("--no-plain-base", action="store_true", help="skip the base on an engine without LoRA")
    ap.add_argument("--results-root", default=None)


if __name__ == "__main__":
    main()
