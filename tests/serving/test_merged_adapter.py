"""A LoRA adapter merged into the embedded model's weights (``model_path: smollm2:hf+ADAPTER``):
what the target records, what the engine is started on, and that the merged weights are the
base plus the adapter's low-rank product."""

from __future__ import annotations

import pytest

from workbench.inputs.adapters import AdapterError, resolve
from workbench.inputs.targets import Target, get_target
from workbench.serving import smollm
from workbench.serving.engines import build_command

MEETING_RUN = "20261130T015536-finetune-smollm2-meeting-structured-b2178a"


def test_the_merged_target_records_its_adapter_and_serves_the_merged_folder(monkeypatch, tmp_path):
    t = get_target("local-vllm-meeting-merged")
    assert t.adapter is None and t.merged_adapter is not None
    assert t.adapter_params() == {"adapter": f"data/results/{MEETING_RUN}/adapter/best",
                                  "adapter_name": t.model, "merged": "true"}
    merged_from = []
    monkeypatch.setattr(smollm, "merged_hf", lambda folder: merged_from.append(folder) or tmp_path)
    argv, _ = build_command(t, 8000)
    assert argv[argv.index("--model") + 1] == str(tmp_path)
    assert merged_from == [resolve(t.merged_adapter)]
    assert "--enable-lora" not in argv  # merged: served like the base, no LoRA in the engine


def test_a_merged_target_with_a_missing_adapter_fails_in_one_line():
    t = Target(name="m", engine="vllm", model="m", model_path="smollm2:hf+no-such-run")
    with pytest.raises(AdapterError, match="'no-such-run' is not an adapter folder"):
        t.adapter_params()


def test_merging_adds_the_low_rank_product_to_the_base_weights(monkeypatch, tmp_path):
    import json

    import torch
    from safetensors.torch import load_file

    base = smollm.prepare_hf()
    monkeypatch.setattr(smollm, "prepare_hf", lambda: base)
    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))
    folder = resolve(get_target("local-vllm-meeting-merged").merged_adapter)
    merged = smollm.merged_hf(folder)
    assert merged.parent == tmp_path / "models" and smollm.merged_hf(folder) == merged  # derived once

    cfg = json.loads((folder / "adapter_config.json").read_text())
    lora = load_file(folder / "adapter_model.safetensors")
    before, after = load_file(base / "model.safetensors"), load_file(merged / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj"
    a = next(v for k, v in lora.items() if k.endswith(f"{name}.lora_A.weight"))
    b = next(v for k, v in lora.items() if k.endswith(f"{name}.lora_B.weight"))
    delta = after[f"{name}.weight"] - before[f"{name}.weight"]
    assert delta.abs().max() > 0
    torch.testing.assert_close(delta, (b @ a) * (cfg["lora_alpha"] / cfg["r"]), rtol=1e-4, atol=1e-6)
    untouched = "model.embed_tokens.weight"  # not a LoRA target: unchanged
    assert torch.equal(before[untouched], after[untouched])
