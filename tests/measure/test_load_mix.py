"""A load run's ``models`` option: the requests take the served models in turn (a mix of LoRA
adapters on one engine), warm-up included, and the run records the mix."""

from workbench.inputs.targets import get_target
from workbench.inputs.workloads import load_workload
from workbench.measure.harness import LoadConfig, _plan


def test_models_alternate_over_the_requests_and_are_recorded():
    t = get_target("local-vllm+ticket-classification")
    cfg = LoadConfig(requests_per_point=6, warmup=2, models=("ticket-classification", "intent-routing"))
    plan = _plan(cfg, t, load_workload("ticket-classification"))
    names = [r.body["model"] for r in plan.reqs + plan.warm]  # the workload's items, warm-up last
    assert len(names) > 8 and names == ["ticket-classification", "intent-routing"] * (len(names) // 2)
    assert plan.params["models"] == ["ticket-classification", "intent-routing"]
    plain = _plan(LoadConfig(requests_per_point=6), t, load_workload("ticket-classification"))
    assert all("model" not in r.body for r in plain.reqs) and "models" not in plain.params
