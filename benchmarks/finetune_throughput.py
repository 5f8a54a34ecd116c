"""LoRA training speed on this machine, and what an adapter costs at inference, as a ratio to the
base measured in the same run.

1. Training: ``--steps`` LoRA steps (batch ``--batch-size``) of the base on a workload's train
   items (the loop of ``workbench.measure.finetune``, without dev evaluations): tokens/s and
   tokens per CPU-second.
2. Inference overhead: greedy answers to ``--items`` test items (the workload's max_tokens, one
   batch) by the base, by base + LoRA adapter unmerged (what a multi-adapter server computes:
   the low-rank product on top of every adapted layer), and by the adapter merged into the
   weights (what a single-workload deployment serves). Each timed ``--repeats`` times, best
   kept; prints ``adapter_unmerged_over_base`` and ``adapter_merged_over_base``.

3. Serving overhead (``--serving``, default on): ``benchmarks/adapter_serving.py`` in the same
   run — vLLM with ``--enable-lora`` serving the base and its adapters, the load harness sending
   the same profile to the base, one adapter and a mix of adapters; prints the throughput and
   latency ratios to the base (``adapter_over_base_throughput``, ``mix_over_base_throughput``…).

Parts 1–2 measure transformers in this process: the ratio is what the adapter adds to the
model's own compute; part 3 measures a serving engine. Prints the load average: the CPU is shared.

    .venv/bin/python benchmarks/finetune_throughput.py [--workload ticket-classification] [--steps 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adapter_serving  # noqa: E402  (the serving half, a script beside this one)


def _train(model, tok, wl, steps: int, batch_size: int) -> dict:
    import torch

    from workbench.measure import finetune as ft

    rows = [ft.encode(tok, wl, it) for it in wl.split("train")]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    batches = ft._batches(rows, batch_size, 0)
    tokens, w0, c0 = 0, time.perf_counter(), time.process_time()
    model.train()
    for _ in range(steps):
        batch = ft._batch(next(batches), tok.pad_token_id)
        model(**batch).loss.backward()
        opt.step(), opt.zero_grad()
        tokens += int(batch["attention_mask"].sum())
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"tokens": tokens, "wall_s": wall, "cpu_s": cpu, "tokens_per_s": tokens / wall, "tokens_per_cpu_s": tokens / cpu}


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="ticket-classification")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--lora-r", type=int, default=4)
    ap.add_argument("--no-serving", action="store_true", help="skip the vLLM serving overhead (part 3)")
    serving = ap.add_argument_group("serving (part 3, benchmarks/adapter_serving.py)")
    adapter_serving.add_arguments(serving)
    args = ap.parse_args()

    import torch

    from workbench.inputs.workloads import load_workload
    from workbench.measure import finetune as ft

    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    torch.manual_seed(0)
    wl = load_workload(args.workload)
    cfg = ft.FinetuneConfig(workload=args.workload, lora_r=args.lora_r, lora_alpha=2 * args.lora_r)
    model, tok = ft.load_model(cfg)
    tr = _train(model, tok, wl, args.steps, args.batch_size)
    print(f"training (LoRA r={args.lora_r}, {args.steps} steps x {args.batch_size}): {tr['tokens']} tokens in "
          f"{tr['wall_s']:.1f} s wall / {tr['cpu_s']:.1f} s CPU")
    print(f"train_tokens_per_s={tr['tokens_per_s']:.1f}")
    print(f"train_tokens_per_cpu_s={tr['tokens_per_cpu_s']:.1f}")

    items = wl.split("test")[: args.items]
    run = lambda m: ft.generate(m, tok, wl, items, batch_size=len(items))
    unmerged = _best_time(lambda: run(model), args.repeats)
    with model.disable_adapter():
        base = _best_time(lambda: run(model), args.repeats)
    merged_model = model.merge_and_unload()
    merged = _best_time(lambda: run(merged_model), args.repeats)
    print(f"inference on {len(items)} test items (one batch, best of {args.repeats}): base {base:.2f} s, "
          f"adapter unmerged {unmerged:.2f} s, merged {merged:.2f} s")
    print(f"adapter_unmerged_over_base={unmerged / base:.3f}")
    print(f"adapter_merged_over_base={merged / base:.3f}")
    print(f"peak_rss_gib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f}")
    if not args.no_serving:
        del model, merged_model  # free the in-process copies before the engines start
        print(f"serving (vLLM, {args.profile}, {args.requests} requests/point, {args.output_tokens} output tokens):")
        adapter_serving.report(adapter_serving.measure_adapters(
            args.base, profile=args.profile, requests=args.requests, output_tokens=args.output_tokens,
            plain_base=not args.no_plain_base, results_root=args.results_root))
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
