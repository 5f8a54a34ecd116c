"""The verdict on "a fine-tuned small model beats the generic model on its task"."""

from __future__ import annotations

import pytest

from workbench.present import claims, finetune_claim


def _quality_run(root, model, outputs, *, engine="transformers", deployment=None):
    from workbench.results.store import RunWriter

    with RunWriter(kind="quality", target=f"t:{model}", engine=engine, model=model, hardware="CPU", root=root,
                   host={}, workload="intent-routing", deployment=deployment or {"kind": "self-hosted"},
                   params={"split": "test"}) as run:
        for item_id, out in outputs:
            run.append("items", {"workload": "intent-routing", "item_id": item_id, "output": out,
                                 "parsed_ok": True, "scores": {}, "error": ""})
        right = sum(1 for _ in outputs)
        run.finish("completed", summary={"metrics": {"accuracy": {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0,
                                                                  "n": right, "n_errors": 0}}})
    return run.run_id


def _answers(n_right: int, n: int = 30):
    from workbench.inputs.workloads import load_workload

    items = load_workload("intent-routing").split("test")[:n]
    wrong = lambda it: next(lb for lb in ("hr", "legal") if lb != it["reference"])
    return [(it["id"], it["reference"] if i < n_right else wrong(it)) for i, it in enumerate(items)]


def test_the_adapter_beats_its_base_but_not_the_floor_and_no_api_claim(tmp_path):
    """30 items: the adapter is right on 25, the base on 0: +0.83 with a CI above 0 (holds);
    the adapter's stored accuracy is below the 0.9 floor; no API was measured: cannot tell."""
    from workbench.results.store import load

    base = _quality_run(tmp_path, "smollm2", _answers(0))
    adapter = _quality_run(tmp_path, "smollm2+intent-routing", _answers(25))
    _quality_run(tmp_path, "SmolLM2-135M-Instruct", _answers(30), engine="vllm")  # another engine: not the base
    v = finetune_claim.verdicts(load([tmp_path])).set_index("scope")
    assert set(v.claim) == {claims.CLAIMS["fine-tuned"]}
    row = v.loc["intent-routing: smollm2+intent-routing vs its base model smollm2 (generic, small)"]
    assert row.verdict == "holds" and row.value == pytest.approx(25 / 30) and row.ci_low > 0
    assert "n=30 items" in row.why and "McNemar" in row.why and adapter in row.source and base in row.source
    floor = v.loc["intent-routing: smollm2+intent-routing vs the quality floor"]
    assert floor.verdict == "does not hold" and "not good enough to be chosen" in floor.why
    api = v.loc["intent-routing: smollm2+intent-routing vs an API"]
    assert api.verdict == "cannot tell here" and "not measured" in api.why and "no claim about APIs" in api.why


def test_an_api_measured_on_the_workload_is_compared(tmp_path):
    """The API answers all 30 right, the adapter 25: the adapter does not beat it (CI below 0)."""
    from workbench.results.store import load

    _quality_run(tmp_path, "smollm2+intent-routing", _answers(25))
    api = _quality_run(tmp_path, "gpt-5-nano", _answers(30), engine="openai", deployment={"kind": "api"})
    v = finetune_claim.verdicts(load([tmp_path])).set_index("scope")
    row = v.loc["intent-routing: smollm2+intent-routing vs API gpt-5-nano"]
    assert row.verdict == "does not hold" and row.value == pytest.approx(-5 / 30) and row.ci_high < 0 and api in row.source
    assert v.loc["intent-routing: smollm2+intent-routing vs its base model"].verdict == "cannot tell here"


def test_no_adapter_run_makes_no_claim(tmp_path):
    from workbench.results.store import load

    _quality_run(tmp_path, "smollm2", _answers(3))
    (row,) = finetune_claim.verdicts(load([tmp_path])).itertuples()
    assert row.verdict == "cannot tell here" and "no quality run of a fine-tuned adapter" in row.why
