"""The seeds' claims as numbers: computed by library functions, every row labelled."""

from __future__ import annotations

import pytest

from workbench.present import claims
from workbench.project.roofline import (
    Arch,
    Efficiency,
    Hardware,
    decode_step_s,
    make_cell,
    weight_bytes,
)
from workbench.results.schema import PROVENANCE


@pytest.fixture(scope="module")
def catalog():
    from workbench.inputs.catalog import load_catalog

    cat = load_catalog()
    cat.model("Mixtral-8x7B"), cat.gpu("A10G"), cat.instance("g5.xlarge")  # the rows the claims use
    return cat


def _value(rows, quantity):
    (v,) = [r["value"] for r in rows if r["quantity"] == quantity]
    return v


def _check_labels(rows):
    assert rows
    for r in rows:
        assert r["provenance"] in PROVENANCE
        assert r["source"]
        if r["provenance"] == "projected":
            assert r["label"] == "uncalibrated" or r["label"].startswith("projected (calibrated on")


def test_mixtral_vs_llama2_70b(catalog):
    h100 = Hardware("H100", 80, 3350, 989)
    eff = Efficiency(mbu=1.0, mfu=1.0)
    rows = claims.mixtral_vs_llama2_70b(h100, batches=(1, 64), tp=2, eff=eff, catalog=catalog)
    _check_labels(rows)
    mix, llama = Arch.from_catalog("Mixtral-8x7B", catalog), Arch.from_catalog("Llama-2-70B", catalog)
    by_hand = decode_step_s(make_cell(llama, h100, tp=2, eff=eff), 1, 1000) / decode_step_s(
        make_cell(mix, h100, tp=2, eff=eff), 1, 1000)
    assert _value(rows, "speed-up at batch 1") == pytest.approx(by_hand)
    # batch 1 reads 2 of 8 experts: ~5× fewer bytes; at batch 64 nearly all experts are read
    assert _value(rows, "speed-up at batch 1") > 3 > _value(rows, "speed-up at batch 64") > 1
    assert _value(rows, "active params Mixtral / Llama-2-70B") == pytest.approx(12.88 / 68.98, rel=0.01)


def test_mistral_a10g_fractions_of_a_cent(catalog):
    rows = claims.mistral_a10g_usd_per_request(["ticket-classification", "incident-summarization"], catalog=catalog)
    _check_labels(rows)
    price = _value(rows, "g5.xlarge price")
    assert price == pytest.approx(1.006)
    for name in ("ticket-classification", "incident-summarization"):
        rps = _value(rows, f"{name}: capacity at SLO")
        usd = _value(rows, f"{name}: USD per request at full load")
        assert usd == pytest.approx(price / 3600 / rps)
        assert 0 < usd < 0.01  # fractions of a cent


def test_four_bit_vs_sixteen_bit(catalog):
    rows = claims.four_bit_vs_sixteen_bit("Llama-3-8B", "A10G", catalog=catalog)
    _check_labels(rows)
    arch = Arch.from_catalog("Llama-3-8B", catalog)
    assert _value(rows, "bf16: weight memory") == pytest.approx(weight_bytes(arch, "bf16") / 2**30)
    ratio = _value(rows, "awq: weight memory") / _value(rows, "bf16: weight memory")
    # 4 + 20/128 bits on the layers; the two 128256×4096 tables (embedding, LM head) stay fp16
    expected = (arch.layer_params * (4 + 20 / 128) / 8 + 2 * 128256 * 4096 * 2) / (arch.params * 2)
    assert ratio == pytest.approx(expected) and 0.35 < ratio < 0.36
    assert _value(rows, "awq: decode tokens/s at batch 1") > 2.5 * _value(rows, "bf16: decode tokens/s at batch 1")
    assert _value(rows, "awq: sequences that fit (1200 tokens)") > _value(rows, "bf16: sequences that fit (1200 tokens)")
    assert (_value(rows, "awq: USD per 1M output tokens at that capacity")
            < _value(rows, "bf16: USD per 1M output tokens at that capacity"))


def test_claims_table(catalog):
    df = claims.claims_table(catalog=catalog)
    assert {"claim", "quantity", "value", "unit", "provenance", "label", "source"} <= set(df.columns)
    assert df["claim"].nunique() == 3


# ----------------------------------------------------------------------------- verdicts
def _t(claim_id, key, value, **dims):
    return {"claim": claim_id, "quantity": key, "value": value, "unit": "", "provenance": "projected",
            "label": "uncalibrated", "source": f"roofline: {claim_id}", "claim_id": claim_id, "key": key,
            "model": dims.get("model"), "batch": dims.get("batch"), "workload": dims.get("workload"),
            "quantization": dims.get("quantization")}


def _empty_results():
    from workbench.results.store import load

    return load([])


@pytest.fixture
def synthetic_table():
    import pandas as pd

    return pd.DataFrame([
        _t("mixtral-speed", "speedup", 3.1, batch=1), _t("mixtral-speed", "speedup", 1.2, batch=8),
        _t("mistral-a10g-cost", "usd_per_request", 0.004, workload="short"),
        _t("mistral-a10g-cost", "usd_per_request", 0.02, workload="long"),
        _t("mistral-a10g-cost", "usd_per_request", float("inf"), workload="too-slow"),
        _t("four-bit", "weight_gib", 16.0, model="M", quantization="bf16"),
        _t("four-bit", "weight_gib", 4.0, model="M", quantization="awq"),
        _t("four-bit", "usd_per_mtok", 2.0, model="M", quantization="bf16"),
        _t("four-bit", "usd_per_mtok", 2.4, model="M", quantization="awq"),
    ])


def _by_scope(v):
    return {r.scope: r for r in v.itertuples()}


def test_verdicts_on_projected_numbers(synthetic_table):
    v = claims.verdicts(synthetic_table, results=_empty_results())
    assert list(v.columns) == claims.VERDICT_COLUMNS
    s = _by_scope(v)
    assert s["decode at batch 1"].verdict == "holds" and s["decode at batch 1"].value == 3.1
    assert s["decode at batch 8"].verdict == "does not hold"
    assert "uncalibrated" in s["decode at batch 1"].why and s["decode at batch 1"].provenance == "projected, uncalibrated"
    assert s["short: USD per request at full load"].verdict == "holds"      # 0.4¢ < 1¢
    assert s["short: USD per request at full load"].ours == "0.4¢ per request"
    assert s["long: USD per request at full load"].verdict == "does not hold"  # 2¢
    assert s["too-slow: USD per request at full load"].verdict == "does not hold"
    mem, usd = s["weight memory: M awq vs bf16"], s["USD per 1M output tokens at capacity: M awq vs bf16"]
    assert (mem.value, mem.verdict) == (0.25, "holds")        # 4 / 16 GiB
    assert usd.value == pytest.approx(1.2) and usd.verdict == "does not hold"  # 2.4 / 2.0 USD/Mtok
    # no measured runs: both quality claims cannot be told here
    q = v[v.scope == "quality"]
    assert list(q.verdict) == ["cannot tell here"] * 2 and q.value.isna().all()
    assert set(q.claim) == {claims.CLAIMS["four-bit"], claims.CLAIMS["engine-parity"]}
    for r in v[v.value.notna()].itertuples():
        assert r.provenance.split(",")[0].split(" ")[0] in PROVENANCE and r.source


def test_verdicts_without_projections_cannot_tell():
    import pandas as pd

    v = claims.verdicts(pd.DataFrame(columns=["claim_id", "key", "value"]), results=_empty_results())
    assert set(v.verdict) == {"cannot tell here"} and len(v) == 6  # speed, cost, memory, USD/Mtok, 2 × quality


@pytest.mark.parametrize("kind, lo, hi, expected", [
    ("loss", -0.01, 0.04, "holds"),            # whole CI of the loss below 0.05
    ("loss", 0.06, 0.20, "does not hold"),     # whole CI above 0.05
    ("loss", 0.01, 0.08, "cannot tell here"),  # straddles 0.05
    ("loss", float("nan"), float("nan"), "cannot tell here"),
    ("parity", -0.04, 0.04, "holds"),
    ("parity", -0.20, -0.06, "does not hold"),
    ("parity", 0.06, 0.10, "does not hold"),
    ("parity", -0.06, 0.01, "cannot tell here"),
])
def test_quality_verdict_rule(kind, lo, hi, expected):
    assert claims.quality_verdict(kind, lo, hi, 0.05) == expected


def _quality_run(root, target, engine, dtype, outputs, weights="real", status="completed"):
    from workbench.results.store import RunWriter

    with RunWriter(kind="quality", target=target, engine=engine, model="M", hardware="CPU", root=root,
                   host={}, dtype=dtype, workload="intent-routing", weights=weights) as run:
        for item_id, out in outputs:
            run.append("items", {"workload": "intent-routing", "item_id": item_id, "output": out,
                                 "parsed_ok": True, "scores": {}, "error": ""})
        run.finish(status)
    return run.run_id


def test_verdicts_on_measured_quality_runs(tmp_path):
    """20 intent-routing items: Q4_1 and vLLM answer every item right, Q2_K every item wrong
    (a label that is never the reference): loss 1.0 with CI [1, 1]; vLLM − Q4_1 = 0, CI [0, 0]."""
    from workbench.inputs.workloads import load_workload
    from workbench.results.store import load

    items = load_workload("intent-routing").split("test")[:20]
    right = [(it["id"], it["reference"]) for it in items]
    wrong = [(it["id"], next(lb for lb in ("hr", "legal") if lb != it["reference"])) for it in items]
    q4 = _quality_run(tmp_path, "cpp", "llamacpp", "Q4_1", right)
    q2 = _quality_run(tmp_path, "cpp-q2k", "llamacpp", "Q2_K (requantized)", wrong)
    _quality_run(tmp_path, "gpu-random", "vllm", "bf16", wrong, weights="random weights")  # ignored
    vl = _quality_run(tmp_path, "vllm", "vllm", "float32", right)
    results = load([tmp_path])
    v = claims.verdicts(None, results=results)
    (loss,) = v[v.claim == claims.CLAIMS["four-bit"]][lambda d: d.scope.str.startswith("quality")].itertuples()
    assert loss.scope == "quality on intent-routing: llamacpp Q4_1 vs llamacpp Q2_K"
    assert (loss.value, loss.ci_low, loss.ci_high, loss.verdict) == (1.0, 1.0, 1.0, "does not hold")
    assert loss.provenance == "measured" and q4 in loss.source and q2 in loss.source
    assert "n=20 items" in loss.why and "no 16-bit original" in loss.why
    (par,) = v[v.claim == claims.CLAIMS["engine-parity"]].itertuples()
    assert (par.value, par.ci_low, par.ci_high, par.verdict) == (0.0, 0.0, 0.0, "holds")
    assert vl in par.source and q4 in par.source and "p=1" in par.why


@pytest.mark.parametrize("status", ["failed", "degraded"])
def test_a_run_that_is_not_evidence_makes_no_verdict(tmp_path, status):
    """The only vLLM run is failed or degraded: engine parity has no measured pair
    (the same runs, completed, give one: see the test above)."""
    from workbench.inputs.workloads import load_workload
    from workbench.results.store import load

    items = load_workload("intent-routing").split("test")[:20]
    right = [(it["id"], it["reference"]) for it in items]
    _quality_run(tmp_path, "cpp", "llamacpp", "Q4_1", right)
    _quality_run(tmp_path, "vllm", "vllm", "float32", right, status=status)
    assert claims.quality_pairs(load([tmp_path]), "engine-parity") == []
    _quality_run(tmp_path, "vllm", "vllm", "float32", right)
    assert len(claims.quality_pairs(load([tmp_path]), "engine-parity")) == 1
