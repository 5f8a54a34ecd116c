"""finetune: CI-sized training runs (a few steps) of a tiny random-weight Llama that uses the
embedded model's tokenizer and chat template, on the bundled workloads' real splits. The loop,
its record, early stopping, Ctrl-C and the test-split evaluation are what is under test; the
reference runs in data/results/ are the full-size ones."""

from __future__ import annotations

import json
import math

import pytest

from workbench.inputs.workloads import load_workload
from workbench.measure import finetune as ft
from workbench.results.schema import FinetuneSummary
from workbench.results.store import load, validate


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    """A 2-layer Llama with random weights and SmolLM2's tokenizer, saved as an HF folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from workbench.serving.smollm import prepare_hf

    tok = AutoTokenizer.from_pretrained(prepare_hf())
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    out = tmp_path_factory.mktemp("tiny-base")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def _cfg(base, **kw):
    d = dict(base=base, workload="ticket-classification", max_steps=4, batch_size=2, eval_every=2, dev_limit=3,
             patience=5, lr=1e-2, warmup_steps=1, lora_r=4, target_modules=["q_proj", "v_proj"], threads=1)
    return ft.FinetuneConfig(**{**d, **kw})


def test_a_few_steps_make_a_complete_finetune_record(tiny_base, tmp_path):
    s = ft.finetune(_cfg(tiny_base), results_root=tmp_path)
    r = load(tmp_path)
    validate(r)
    run = r.runs.iloc[0]
    assert (run.kind, run.status, run.workload, run.engine) == ("finetune", "completed", "ticket-classification",
                                                                 "transformers")
    summary = FinetuneSummary(**run.summary)  # typed: every field present, none extra
    wl = load_workload("ticket-classification")
    assert summary.steps == 4 and summary.stopped == "max_steps" and summary.data_hash == ft.data_hash(wl)
    # tokens seen: exactly the non-padding tokens of the four seeded batches
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    rows = [ft.encode(tok, wl, it) for it in wl.split("train")]
    batches = ft._batches(rows, 2, 0)
    assert summary.tokens_seen == sum(len(ids) for _ in range(4) for ids, _ in next(batches))
    assert summary.wall_s > 0 and summary.cpu_s > 0 and summary.peak_mem_gib > 0.1
    assert [step for step, _ in summary.dev_curve] == [2, 4] and summary.dev_metric == "macro_f1"
    assert summary.best_dev_value == max(v for _, v in summary.dev_curve)
    samples = r.samples
    assert (samples.metric == "train_loss").sum() == 4 and (samples.metric == "dev_macro_f1").sum() == 2
    assert all(math.isfinite(v) for v in samples.value)
    adapter = json.loads((tmp_path / run.run_id / "adapter" / "best" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and set(adapter["target_modules"]) == {"q_proj", "v_proj"}
    assert run.params["trainable_parameters"] == summary.trainable_parameters > 0
    assert s["run_id"] == run.run_id and run.params["lr"] == 1e-2


def test_training_is_seeded(tiny_base, tmp_path):
    a = ft.finetune(_cfg(tiny_base, max_steps=3, eval_every=3), results_root=tmp_path / "a")
    b = ft.finetune(_cfg(tiny_base, max_steps=3, eval_every=3), results_root=tmp_path / "b")
    ft.finetune(_cfg(tiny_base, max_steps=3, eval_every=3, seed=1), results_root=tmp_path / "c")
    loss = lambda root: load(root).samples.query("metric == 'train_loss'").value.tolist()
    assert loss(tmp_path / "a") == loss(tmp_path / "b") != loss(tmp_path / "c")
    assert a["tokens_seen"] == b["tokens_seen"]


def test_early_stopping_on_the_dev_metric(tiny_base, tmp_path):
    """A learning rate too small to change any answer: the dev metric never improves after the
    first evaluation, so training stops after ``patience`` more, long before max_steps."""
    s = ft.finetune(_cfg(tiny_base, max_steps=50, eval_every=1, patience=2, lr=1e-12), results_root=tmp_path)
    assert s["steps"] == 3 and s["stopped"].startswith("early stop") and s["best_step"] == 1


def test_ctrl_c_keeps_the_last_checkpoint(tiny_base, tmp_path, monkeypatch):
    import torch

    real, calls = torch.nn.utils.clip_grad_norm_, []

    def interrupt_on_third(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        ft.finetune(_cfg(tiny_base, max_steps=10), results_root=tmp_path)
    run = load(tmp_path).runs.iloc[0]
    adapter = tmp_path / run.run_id / "adapter"
    assert run.status == "interrupted" and run.summary["stopped"] == "interrupted (Ctrl-C)"
    assert run.summary["steps"] == 2 and (adapter / "last" / "adapter_config.json").is_file()
    assert (adapter / "best" / "adapter_config.json").is_file()  # the dev evaluation at step 2


def test_the_adapter_is_scored_on_the_test_split(tiny_base, tmp_path):
    from workbench.measure.evaluate import compare, run_metrics

    s = ft.finetune(_cfg(tiny_base, max_steps=2), results_root=tmp_path / "train")
    base = ft.evaluate_local("intent-routing", base=tiny_base, results_root=tmp_path / "eval", batch_size=16)
    tuned = ft.evaluate_local("intent-routing", base=tiny_base, adapter=s["adapter"], name="t",
                              results_root=tmp_path / "eval", batch_size=16)
    r = load(tmp_path / "eval")
    validate(r)
    test_ids = {it["id"] for it in load_workload("intent-routing").split("test")}
    for run_id in (base, tuned):
        run = r.runs.set_index("run_id").loc[run_id]
        assert run.kind == "quality" and run.params["split"] == "test"
        assert set(r.items[r.items.run_id == run_id].item_id) == test_ids
        assert run_metrics(run_id, r).set_index("metric").loc["accuracy", "value"] == \
            pytest.approx(run.summary["metrics"]["accuracy"]["value"])
    assert r.runs.set_index("run_id").loc[tuned, "model"] != r.runs.set_index("run_id").loc[base, "model"]
    assert compare(tuned, base, r).set_index("metric").loc["accuracy", "n"] == len(test_ids)


def test_a_structured_workload_trains_on_its_reference_json(tiny_base, tmp_path):
    """meeting-structured: the training answer is the reference as JSON, which the workload's
    own scorer takes as fully right; a few steps train on it and record both floor metrics of
    every dev evaluation beside the loss."""
    wl = load_workload("meeting-structured")
    train = wl.split("train")
    scored, ms = ft.score(wl, train, [ft.answer_text(it) for it in train])
    assert all(ms[m].value() == 1.0 for m in ("schema_valid", "field_accuracy", "json_strict"))
    s = ft.finetune(_cfg(tiny_base, workload="meeting-structured", max_steps=3, eval_every=3, dev_limit=2),
                    results_root=tmp_path)
    r = load(tmp_path)
    validate(r)
    run = r.runs.iloc[0]
    assert (run.kind, run.status, run.workload) == ("finetune", "completed", "meeting-structured")
    assert run.params["data_hash"] == ft.data_hash(wl) and run.params["n_train_items"] == len(train)
    assert s["steps"] == 3 and s["dev_metric"] == "schema_valid" and [st for st, _ in s["dev_curve"]] == [3]
    dev = r.samples.query("device == 'dev'")
    assert sorted(dev.metric) == ["dev_field_accuracy", "dev_schema_valid"]
    losses = r.samples.query("metric == 'train_loss'").value
    assert len(losses) == 3 and all(math.isfinite(v) and v > 0 for v in losses)
    assert (tmp_path / run.run_id / "adapter" / "best" / "adapter_model.safetensors").is_file()


def test_ties_on_the_primary_metric_are_broken_by_the_other_floor_metrics(tiny_base, tmp_path, monkeypatch):
    """Both dev evaluations give schema-valid JSON (schema_valid 1.0 twice); the second gets
    every field right, so it is the best one and the early-stopping counter restarts."""
    wl = load_workload("meeting-structured")
    wrong = {"title": "x", "day": "Monday", "start": "09:00", "duration_min": 5, "room": "x", "attendees": ["x"]}
    answers = iter([[json.dumps(wrong)] * 2, [ft.answer_text(it) for it in wl.selected(2, 0, "dev")]])
    monkeypatch.setattr(ft, "generate", lambda *a, **kw: next(answers))
    s = ft.finetune(_cfg(tiny_base, workload="meeting-structured", max_steps=4, eval_every=2, dev_limit=2),
                    results_root=tmp_path)
    assert [tuple(p) for p in s["dev_curve"]] == [(2, 1.0), (4, 1.0)]
    assert s["best_step"] == 4 and s["best_dev_value"] == 1.0
    field_acc = load(tmp_path).samples.query("metric == 'dev_field_accuracy'").value.tolist()
    assert field_acc[0] < 0.5 and field_acc[1] == 1.0


@pytest.mark.parametrize("field,value", [("method", "qlora"), ("max_steps", 0), ("lr", -1.0)])
def test_bad_config_names_field_and_value(field, value):
    with pytest.raises(ft.FinetuneError, match=rf"field '{field}'.*{value}"):
        ft.finetune(ft.FinetuneConfig(workload="ticket-classification", **{field: value}))


def test_a_base_that_is_no_model_folder_fails_clearly(tmp_path):
    with pytest.raises(ft.FinetuneError, match="field 'base'.*config.json"):
        ft.base_path(str(tmp_path))


def test_the_notebook_is_clean_and_runs_a_few_steps(tiny_base, tmp_path):
    """notebooks/finetune.ipynb: committed without outputs, one parameters cell; under papermill
    it trains (two steps of the tiny base here) and writes its finetune run."""
    import papermill as pm

    from workbench.paths import REPO_DIR

    src = REPO_DIR / "notebooks" / "finetune.ipynb"
    nb = json.loads(src.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert sum("parameters" in c["metadata"].get("tags", []) for c in code) == 1
    pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                        cwd=str(REPO_DIR), parameters=dict(base=tiny_base, max_steps=2, eval_every=2, dev_limit=2,
                                                          score_test=False, threads=1,
                                                          results_root=str(tmp_path / "runs")),
                        execution_timeout=600, start_timeout=120)
    runs = load(tmp_path / "runs").runs
    assert list(runs.kind) == ["finetune"] and runs.iloc[0].summary["steps"] == 2


def test_the_command_reports_bad_input_in_one_line(capsys):
    from workbench.cli import main

    assert main(["finetune", "--workload", "ticket-classification", "--max-steps", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["workbench finetune: error: field 'max_steps': must be a positive whole number, got 0"]
