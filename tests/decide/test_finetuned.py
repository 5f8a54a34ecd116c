"""Fine-tuned options: training cost from the finetune run, consolidation of adapters."""

from __future__ import annotations

import pytest

from workbench.cost import training


def _finetune_run(root, workload: str, cpu_s: float = 360.0, tokens: int = 10_000):
    """A stored finetune run of smollm2 on ``workload``, trained on local-cpu; returns (run id, adapter)."""
    from workbench.results.store import RunWriter

    with RunWriter(kind="finetune", target=f"smollm2+{workload}", engine="transformers", model="smollm2",
                   root=root, host={}, workload=workload,
                   deployment={"kind": "self-hosted", "instance": "local-cpu", "accelerator": "CPU", "count": 1},
                   params={"base": "smollm2", "base_path": "/cache/SmolLM2-135M-Instruct-hf"}) as run:
        adapter = f"data/results/{run.run_id}/adapter/best"
        run.finish("completed", summary={"base": "smollm2", "method": "lora", "steps": 30, "tokens_seen": tokens,
                                         "wall_s": 4 * cpu_s, "cpu_s": cpu_s, "adapter": adapter})
    return run.run_id, adapter


def _adapter_sweep(root, workload: str, adapter: str | None, e2el_ms: float = 100.0, instance: str = "c7i.xlarge"):
    """A load run of vLLM serving ``adapter`` at concurrency 1: 4 requests of ``e2el_ms`` each."""
    from workbench.results.store import RunWriter

    with RunWriter(kind="load", target=f"local-vllm+{workload}", engine="vllm", model=f"smollm2+{workload}",
                   hardware="CPU", root=root, host={}, params={"adapter": adapter} if adapter else {},
                   deployment={"kind": "self-hosted", "instance": instance, "count": 1}) as run:
        for i in range(4):
            t = e2el_ms / 1000
            run.append("requests", {"request_id": i, "phase": "measure", "load_point": "concurrency=1",
                                    "concurrency": 1, "request_rate": float("inf"), "endpoint": "chat",
                                    "scheduled_s": i * t, "sent_s": i * t, "chunk_times_s": [t / 5, t],
                                    "ttft_ms": e2el_ms / 5, "e2el_ms": e2el_ms, "prompt_tokens": 50,
                                    "output_tokens": 8, "token_source": "usage", "forced_length": False,
                                    "http_status": 200, "error": "", "ok": True})
    return run.run_id


@pytest.fixture
def store(tmp_path):
    """Adapters of smollm2 for two workloads, each served by vLLM on a c7i.xlarge."""
    ft_t, ad_t = _finetune_run(tmp_path, "ticket-classification", cpu_s=360.0)
    ft_i, ad_i = _finetune_run(tmp_path, "intent-routing", cpu_s=720.0)
    _adapter_sweep(tmp_path, "ticket-classification", ad_t)
    _adapter_sweep(tmp_path, "intent-routing", ad_i)
    return tmp_path, {"ticket-classification": ft_t, "intent-routing": ft_i}


def test_an_adapter_option_carries_its_training_amortized(store):
    """Measured: 360 CPU s × local-cpu's assumed $0.08925/h = $0.008925, over 3 months."""
    from workbench.decide import options
    from workbench.inputs.catalog import load_catalog
    from workbench.inputs.workloads import load_workload
    from workbench.results.store import load

    root, ft = store
    catalog = load_catalog()
    price = catalog.instance("local-cpu")["usd_per_hour"]
    wl, results = load_workload("ticket-classification"), load([root])
    built = options.build_options_detailed(wl, catalog=catalog, results=results, candidates=(), apis=[])
    options.add_training(wl, built, results, catalog)
    (opt,) = built.options
    assert "[local-vllm+ticket-classification]" in opt.name
    assert opt.training_usd_per_month == pytest.approx(360 / 3600 * price / 3)
    prov = opt.provenance["training"]
    assert f"measured (360 CPU s in run {ft['ticket-classification']})" in prov and "local-cpu" in prov
    assert "assumed" in prov and "projected, uncalibrated" in prov and "not added" in prov
    assert built.sources[opt.name]["adapter"]["finetune_run"] == ft["ticket-classification"]
    # the intent-routing adapter is no option for tickets, and a note says why
    assert any("adapter trained on intent-routing" in n for n in built.notes)
    # a monthly retraining costs three times as much per month
    monthly = options.build_options_detailed(wl, catalog=catalog, results=results, candidates=(), apis=[])
    options.add_training(wl, monthly, results, catalog, params=options.finetuned.TrainingParams(retrain_months=1))
    assert monthly.options[0].training_usd_per_month == pytest.approx(3 * opt.training_usd_per_month)


def test_an_adapter_without_its_finetune_run_says_its_training_is_unknown(tmp_path):
    from workbench.decide import options
    from workbench.inputs.workloads import load_workload
    from workbench.results.store import load

    _adapter_sweep(tmp_path, "ticket-classification", "data/results/gone/adapter/best")
    wl, results = load_workload("ticket-classification"), load([tmp_path])
    built = options.build_options_detailed(wl, results=results, candidates=(), apis=[])
    options.add_training(wl, built, results, None)
    (opt,) = built.options
    assert opt.training_usd_per_month == 0.0 and opt.provenance["training"].startswith("unknown: no finetune run")


def test_gpu_projection_is_six_n_tokens_times_the_lora_share_over_peak(store):
    from workbench.decide import finetuned
    from workbench.inputs.catalog import load_catalog
    from workbench.results.store import load

    root, ft = store
    catalog = load_catalog()
    run = load([root]).runs.set_index("run_id").loc[ft["ticket-classification"]].to_dict()
    run["run_id"] = ft["ticket-classification"]
    table = finetuned.gpu_projection(run, catalog, utilization=0.5)
    assert len(table) and list(table.usd) == sorted(table.usd)
    r = table.iloc[0]
    flops = 6 * 0.1345e9 * 10_000 * training.LORA_TIME_SHARE
    assert r.flops == pytest.approx(flops)
    assert r.hours == pytest.approx(flops / (r.bf16_tflops * 1e12 * 0.5) / 3600)
    assert r.label.startswith("projected, uncalibrated") and "SmolLM2-135M-Instruct" in r.label


@pytest.mark.parametrize("months", [0, -1])
def test_a_retraining_period_that_is_not_positive_is_one_clear_line(months):
    from workbench.decide import finetuned, pipeline
    from workbench.decide.parameters import ParameterError

    with pytest.raises(ParameterError) as e:
        pipeline.decide_workloads(["ticket-classification"], retrain_months=months)
    assert "\n" not in str(e.value) and "'retrain_months'" in str(e.value) and "> 0" in str(e.value)
    with pytest.raises(training.TrainingCostError, match="retrain_months"):
        finetuned.TrainingParams(retrain_months=months)


def test_two_workloads_adapters_of_one_base_share_one_deployment(store):
    """Each workload alone needs one replica (its peak is far below 10 requests/s); together
    their peaks still fit one: the shared deployment saves one replica-month, training kept."""
    from workbench.decide import consolidation, pipeline

    root, _ = store
    ctx = pipeline.decide_workloads(["ticket-classification", "intent-routing"], results_paths=[str(root)],
                                    include_projected=False, apis=["gpt-5-nano"])
    table = consolidation.consolidation_table(ctx)
    (row,) = table.itertuples()
    assert (row.base, row.engine, row.instance) == ("smollm2", "vllm", "c7i.xlarge")
    assert row.workloads == "ticket-classification, intent-routing"
    assert "candidate" in row.status  # no quality measured for the adapters: not chosen
    assert (row.replicas_separate, row.replicas_shared) == (2, 1)
    hour = 0.1785 * 730
    assert row.saving_usd_per_month == pytest.approx(hour)
    assert row.usd_per_month_shared == pytest.approx(hour + row.training_usd_per_month)
    assert row.training_usd_per_month > 0
    # the decision table shows training as its own line item, inside usd_per_month
    d = ctx.decisions[0]
    t = d.table.set_index("option")
    name = next(n for n in t.index if "local-vllm+" in n)
    opt = next(o for o in ctx.built[d.workload].options if o.name == name)
    assert t.loc[name, "training_usd_per_month"] == opt.training_usd_per_month > 0
    assert t.loc[name, "usd_per_month"] - t.loc[name, "training_usd_per_month"] == pytest.approx(hour)


def test_shared_replicas_follow_the_combined_peak():
    from workbench.cost.cost import SECONDS_PER_MONTH, Option, CostError
    from workbench.cost.shared import shared_usd_per_month

    a = Option(name="a", kind="self-hosted", capacity_rps=1.0, usd_per_hour=1.0, training_usd_per_month=2.0)
    b = Option(name="b", kind="self-hosted", capacity_rps=2.0, usd_per_hour=1.0)
    # a: 0.6 replica of peak load, b: 1.2 / 2 = 0.6 → 1.2 together: 2 shared, 1 + 1 separate
    s = shared_usd_per_month([a, b], [0.6 * SECONDS_PER_MONTH, 1.2 * SECONDS_PER_MONTH])
    assert (s["replicas"], s["separate_replicas"], s["saving"]) == (2, 2, 0.0)
    s = shared_usd_per_month([a, b], [0.4 * SECONDS_PER_MONTH, 0.8 * SECONDS_PER_MONTH])
    assert (s["replicas"], s["separate_replicas"]) == (1, 2)
    assert s["usd_per_month"] == pytest.approx(730 + 2.0) and s["saving"] == pytest.approx(730)
    c = Option(name="c", kind="self-hosted", capacity_rps=1.0, usd_per_hour=3.0)
    with pytest.raises(CostError, match="different prices"):
        shared_usd_per_month([a, c], [1, 1])
