"""workbench.measure.gpu_bench and benchmarks/gpu/run_gpu_sweep.py: random-weight architectures, the offline
ceiling, transformers serve measured by our harness, roofline %, provenance.

The end-to-end test runs the real script on CPU with a tiny Llama (seconds of compute, ~1 min
with the server start); the real measurement is the ``gpu`` test, skipped without a GPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.measure import gpu_bench
from workbench.project import gpu_bound
from workbench.results import store

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu" / "run_gpu_sweep.py"


# ------------------------------------------------------------------ pure helpers
def test_catalog_gpu_name_maps_nvml_names():
    assert gpu_bound.catalog_gpu_name("NVIDIA H100 80GB HBM3") == "H100-SXM"
    assert gpu_bound.catalog_gpu_name("NVIDIA H100 PCIe") == "H100-PCIe"
    assert gpu_bound.catalog_gpu_name("NVIDIA H200") == "H200"
    assert gpu_bound.catalog_gpu_name("NVIDIA A100-SXM4-80GB") == "A100-80GB"
    assert gpu_bound.catalog_gpu_name("NVIDIA H100 NVL") is None  # 94 GB part: not in the catalog
    assert gpu_bound.catalog_gpu_name(None) is None


def test_pct_of_bound():
    assert gpu_bound.pct_of_bound(50.0, 200.0) == 25.0
    assert math.isnan(gpu_bound.pct_of_bound(50.0, math.nan))
    assert math.isnan(gpu_bound.pct_of_bound(50.0, 0.0))


def test_weight_gib_and_fit_layers_llama3_mixtral():
    llama = gpu_bench.arch_spec("Llama-3-8B")
    # 8,030,261,248 bf16 parameters (published 8.03 B) = 14.96 GiB
    assert gpu_bench.weight_gib(llama) == pytest.approx(8_030_261_248 * 2 / 2**30)
    assert gpu_bench.fit_layers(llama, 80.0) == 32
    mixtral = gpu_bench.arch_spec("Mixtral-8x7B")
    assert gpu_bench.weight_gib(mixtral) == pytest.approx(86.99, abs=0.01)  # does not fit an 80 GB H100
    layers = gpu_bench.fit_layers(mixtral, 79.2)  # 0.6 · 79.2 = 47.5 GiB budget
    assert layers < 32
    assert gpu_bench.weight_gib(mixtral, layers=layers) <= 0.6 * 79.2 < gpu_bench.weight_gib(mixtral, layers=layers + 1)


def test_unknown_architecture_names_the_catalog():
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError):
        gpu_bench.arch_spec("Llama-9-1B")


def test_roofline_bound_at_batch_one_is_bandwidth_over_weight_bytes():
    """Decode of one sequence reads every layer weight plus the LM head once per token:
    (N − V·d) · 2 bytes for Llama-3-8B; at 3.35 TB/s (H100-SXM) that bounds tokens/s. With a
    1-token prompt and 4096 outputs, the prefill and KV terms are < 1% of it."""
    from workbench.project.roofline import Hardware

    spec = gpu_bench.arch_spec("Llama-3-8B")
    cfg = gpu_bench.hf_config(spec).to_dict()
    h100 = Hardware.from_catalog("H100-SXM")
    p = gpu_bound.roofline_point(cfg, h100, "bfloat16", 1, 4096, 1)
    bytes_per_token = (8_030_261_248 - 128_256 * 4096) * 2
    assert p["output_tokens_per_s"] == pytest.approx(3.35e12 / bytes_per_token, rel=0.02)


def test_roofline_bound_prefills_a_batch_in_one_pass():
    """The bound must be an upper bound for an engine that batches prefills: B prompts read the
    weights once, not B times. Same at concurrency 1; far higher for a 256-prompt batch of
    Mixtral (17 of 32 layers, as measured on the H100), whose one-by-one prefills each read
    every expert."""
    from dataclasses import replace

    from workbench.project.roofline import Arch, Efficiency, Hardware, make_cell, serving_point

    h100 = Hardware.from_catalog("H100-SXM")
    for name, layers in (("Llama-3-8B", None), ("Mixtral-8x7B", 17)):
        cfg = gpu_bench.hf_config(gpu_bench.arch_spec(name), layers=layers).to_dict()
        one = gpu_bound.roofline_point(cfg, h100, "bfloat16", 112, 50, 1)["output_tokens_per_s"]
        batch = gpu_bound.roofline_point(cfg, h100, "bfloat16", 112, 50, 256)
        serial_cell = make_cell(Arch.from_hf_config(cfg), h100, "bfloat16", eff=Efficiency(1.0, 1.0, 0.0),
                                max_batch=256, mem_util=1.0)
        serial = serving_point(serial_cell, 112, 50, 256)["output_tokens_per_s"]
        batched = serving_point(replace(serial_cell, batched_prefill=True), 112, 50, 1)["output_tokens_per_s"]
        assert batched == pytest.approx(one)
        assert batch["output_tokens_per_s"] > serial * 1.5, name


# ------------------------------------------------------------------ transformers pieces (CPU, small)
def test_architectures_build_with_published_parameter_counts():
    import torch
    from transformers import AutoModelForCausalLM

    published_b = {"Llama-3-8B": 8.03, "Mistral-7B": 7.24, "Qwen2-7B": 7.62, "Mixtral-8x7B": 46.70}
    for name, billions in published_b.items():
        with torch.device("meta"):  # shapes only, no memory
            model = AutoModelForCausalLM.from_config(gpu_bench.hf_config(gpu_bench.arch_spec(name)), dtype=torch.bfloat16)
        params = sum(p.numel() for p in model.parameters())
        assert params / 1e9 == pytest.approx(billions, abs=0.01), name


def test_synthetic_tokenizer_is_one_token_per_word_and_harness_prompts_match():
    tok = gpu_bench.synthetic_tokenizer(320)
    assert tok("t5 t9 hello t319")["input_ids"] == [5, 9, 0, 319]
    assert tok.decode([5, 6]) == "t5 t6"
    from workbench.measure.loadgen import synthetic_requests

    for target in (24, 100, 143):
        text = synthetic_requests(1, gpu_bench.harness_input_tokens(target))[0].body["messages"][0]["content"]
        assert len(tok(text)["input_ids"]) == target


@pytest.mark.parametrize("family", ["llama", "qwen2", "mixtral"])
def test_saved_checkpoint_reloads_its_own_tokenizer_for_every_model_type(tmp_path, family):
    """transformers 5 loads Qwen2Tokenizer for any qwen2 checkpoint (it distrusts hub classes of
    that type), which turned every prompt into zero tokens and killed the server's batching
    worker on the H100; and the server's qwen2 reply parser echoed the whole prompt as a first
    content chunk (TTFT 3 ms). The checkpoint must reload as the word-level tokenizer, and a reply
    parser built from it must stream generated text only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.cli.serving import utils as serving

    spec = {**gpu_bench.TINY_LLAMA, "name": f"tiny-{family}", "family": family}
    if family == "mixtral":
        spec.update(experts=4, experts_per_token=2)
    model, _ = gpu_bench.build_random_model(gpu_bench.hf_config(spec), device="cpu", dtype="float32")
    out = gpu_bench.save_checkpoint(model, tmp_path / family)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok("t5 t6 hello")["input_ids"] == [5, 6, 0]
    assert AutoModelForCausalLM.from_pretrained(out).config.model_type == family
    parser = serving.ResponseParser(serving.get_response_template(tok, model), prefix=tok.decode([5, 6, 7]))
    streamed = serving.response_events_to_chunks(parser.initial_events)
    for piece in ("t35", " t266"):
        streamed += serving.response_events_to_chunks(parser.feed(piece))
    assert streamed == ["t35", " t266"]


def test_amend_run_merges_params_and_summary(tmp_path):
    from workbench.results.store import RunWriter

    with RunWriter(kind="load", target="t", engine="transformers", model="/tmp/ckpt", params={"a": 1},
                   root=tmp_path) as run:
        pass
    run.update(summary={"points": [1], "notes": ["x"]})
    meta = store.amend_run(run.dir, model="Llama-3-8B", weights=gpu_bench.WEIGHTS, params={"arch": "Llama-3-8B"},
                            summary={"bound_label": "b"})
    assert meta["model"] == "Llama-3-8B" and meta["weights"] == "random weights"
    assert meta["params"] == {"a": 1, "arch": "Llama-3-8B"}
    assert meta["summary"] == {"points": [1], "notes": ["x"], "bound_label": "b"}
    assert json.loads((run.dir / "run.json").read_text())["model"] == "Llama-3-8B"


def _script_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_gpu_sweep", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_unpack_wheels_takes_only_what_is_missing(tmp_path):
    """Installed distributions are left alone (a newer click could break typer), except
    typing_extensions when older (backward compatible; pydantic needs a recent one)."""
    import zipfile

    wheels, site = tmp_path / "wheels", tmp_path / "site"
    wheels.mkdir()
    for name, version, pkg in (("wbfakepkg", "1.0", "wbfakepkg"), ("PyYAML", "999.0", "yaml_new"),
                               ("typing_extensions", "999.0", "te_new"), ("typing_extensions", "0.1", "te_old")):
        with zipfile.ZipFile(wheels / f"{name}-{version}-py3-none-any.whl", "w") as z:
            z.writestr(f"{pkg}/__init__.py", "X = 1\n")
    unpacked = _script_module().unpack_wheels(wheels, site)
    assert unpacked == ["typing_extensions==999.0", "wbfakepkg==1.0"]
    assert (site / "wbfakepkg" / "__init__.py").is_file() and (site / "te_new").is_dir()
    assert not (site / "yaml_new").exists() and not (site / "te_old").exists()


# ------------------------------------------------------------------ the whole script, tiny, on CPU
TINY_ARGS = ["--archs", "tiny-llama", "--device", "cpu", "--offline-prompts", "8",
             "--profile", "concurrency=1,4", "--duration-s", "0", "--requests-per-point", "8",
             "--warmup", "2", "--input-tokens", "24", "--output-tokens", "8",
             "--cb-num-blocks", "16", "--cb-max-batch-tokens", "256"]


@pytest.mark.slow
def test_script_end_to_end_tiny_llama_on_cpu(tmp_path):
    from workbench.results.store import load, validate

    root, work = tmp_path / "results", tmp_path / "work"
    cmd = [sys.executable, str(SCRIPT), *TINY_ARGS, "--results-root", str(root), "--work-dir", str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    res = load(root)
    validate(res)
    runs = res.runs.set_index("kind")
    assert sorted(runs.index) == ["gpu-offline", "load"]
    for kind, run in runs.iterrows():
        assert run.status == "completed"
        assert run.engine == "transformers" and run.engine_version
        assert run.weights == "random weights" and run.model == "tiny-llama" and run["dtype"] == "float32"
        assert run.params["arch"] == "tiny-llama" and run.params["layers"] == 2
        for point in run.summary["points"]:
            assert point["bound_output_tokens_per_s"] > 0 and 0 < point["pct_of_bound"] < 100

    req = res.requests[res.requests["phase"] == "measure"].merge(
        res.runs[["run_id", "kind"]], on="run_id")
    assert req["ok"].all()
    assert (req["output_tokens"] == 8).all() and (req["token_source"] == "usage").all()
    assert (req["prompt_tokens"] == 24).all()  # exact prompt shape, offline and over HTTP
    assert sorted(req.groupby("kind").size().items()) == [("gpu-offline", 8), ("load", 16)]
    assert (req["chunk_times_s"].map(len) == 8).all()  # one timestamp per token
    assert "returned exactly 8 tokens" in " ".join(runs.loc["load"].summary["notes"])
    assert len(res.samples)  # telemetry: process samples here, NVML on a GPU

    # a second invocation resumes: the architecture is already measured, nothing new is written
    again = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120, cwd=REPO)
    assert again.returncode == 0 and "already measured" in again.stdout
    assert len(load(root).runs) == 2


# ------------------------------------------------------------------ the real thing
@pytest.mark.gpu
def test_gpu_sweep_one_architecture(tmp_path):
    """On an NVIDIA GPU: Llama-3-8B, a short sweep; NVML memory/power/energy on the run clock."""
    from workbench.results.store import load, validate

    root = tmp_path / "results"
    cmd = [sys.executable, str(SCRIPT), "--archs", "Llama-3-8B", "--offline-prompts", "64",
           "--profile", "concurrency=1,8", "--duration-s", "10", "--results-root", str(root),
           "--work-dir", str(tmp_path / "work")]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = load(root)
    validate(res)
    assert set(res.samples["source"]) >= {"nvml"}
    assert {"mem_used_gib", "power_w", "energy_j"} <= set(res.samples["metric"])
    for _, run in res.runs.iterrows():
        assert run.engine == "transformers" and run.weights == "random weights" and run["dtype"] == "bfloat16"
        for point in run.summary["points"]:
            assert 0 < point["pct_of_bound"] < 100
            assert point["energy_j_per_token"] > 0
