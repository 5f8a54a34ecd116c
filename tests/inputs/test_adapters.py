"""LoRA adapters as targets: what the targets file and --adapter make, the vLLM flags that serve
them, and one clear error for each bad input (no engine is started here)."""

import json

import pytest

from workbench.inputs.adapters import AdapterError, parse_adapters, resolve
from workbench.inputs.targets import TargetError, get_target, load_targets, parse_targets, with_adapters
from workbench.paths import reference_results_dir
from workbench.serving.engines import build_command

TICKETS_RUN = "20261129T234803-finetune-smollm2-ticket-classification-f13a04"


def _adapter(folder, r=4):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": 2 * r}))
    return folder


def _vllm_file(tmp_path, adapters) -> str:
    f = tmp_path / "targets.yaml"
    f.write_text(f"targets:\n  - name: v\n    engine: vllm\n    model: Base\n    model_path: {tmp_path}\n"
                 f"    adapters: {json.dumps(adapters)}\n")
    return str(f)


def _lora_args(argv):
    i = argv.index("--enable-lora")
    return argv[i:]


def test_builtin_adapters_are_targets_of_the_vllm_base():
    targets = load_targets()
    t = targets["local-vllm+ticket-classification"]
    assert t.engine == "vllm" and t.model == "ticket-classification"  # requests name the adapter
    assert t.served_model == "SmolLM2-135M-Instruct" and t.base_target == "local-vllm"
    assert t.deployment == targets["local-vllm"].deployment
    assert {a.name for a in t.adapters} == {"ticket-classification", "intent-routing", "meeting-structured"}
    assert t.adapter_params()["adapter"] == f"data/results/{TICKETS_RUN}/adapter/best"
    assert targets["local-vllm"].adapter_params() == {}


def test_adapter_target_starts_the_base_with_every_adapter(tmp_path):
    a, b = _adapter(tmp_path / "a"), _adapter(tmp_path / "run-b" / "adapter" / "best", r=12)
    f = _vllm_file(tmp_path, [f"tickets={a}", f"routing={tmp_path / 'run-b'}"])  # a run folder is enough
    targets = {t.name: t for t in parse_targets(open(f).read(), f)}
    assert set(targets) == {"v", "v+tickets", "v+routing"}
    argv, _ = build_command(targets["v+routing"], 8000)
    assert argv[argv.index("--served-model-name") + 1] == "Base"
    assert _lora_args(argv) == ["--enable-lora", "--max-loras", "2", "--max-lora-rank", "16",  # 12 -> vLLM's 16
                                "--lora-modules", f"tickets={a.resolve()}", f"routing={b.resolve()}"]
    base_argv, _ = build_command(targets["v"], 8000)
    assert "--enable-lora" not in base_argv  # the base target alone starts without LoRA


def test_run_id_resolves_in_the_reference_results():
    (adapter,) = parse_adapters([f"t={TICKETS_RUN}"], "test")
    assert resolve(adapter) == (reference_results_dir() / TICKETS_RUN / "adapter" / "best").resolve()


def test_cli_adapter_adds_a_target_to_a_vllm_base(tmp_path):
    a = _adapter(tmp_path / "mine")
    (t,) = with_adapters(get_target("local-vllm"), [f"mine={a}"])
    assert t.name == "local-vllm+mine" and t.model == "mine"
    argv, _ = build_command(t, 8000)
    assert argv[argv.index("--max-loras") + 1] == "4" and f"mine={a.resolve()}" in argv


@pytest.mark.parametrize("specs, fragment", [
    (["mine"], "'name=path'"),
    (["a=x", "a=y"], "'a' named twice"),
    (["bad name=x"], "adapter name 'bad name'"),
    (["ticket-classification=x"], "already an adapter of 'local-vllm'"),
])
def test_bad_cli_adapters_are_one_clear_error(specs, fragment):
    with pytest.raises(TargetError, match=fragment):
        with_adapters(get_target("local-vllm"), specs)


def test_adapters_need_a_vllm_target():
    with pytest.raises(TargetError, match="only vllm targets serve LoRA adapters"):
        with_adapters(get_target("local-llamacpp"), ["a=x"])
    with pytest.raises(TargetError, match="field 'adapters': only vllm targets"):
        parse_targets("targets:\n  - {name: l, engine: llamacpp, model: m, adapters: [a=x]}\n", "f.yaml")


def test_missing_adapter_folder_names_target_adapter_and_path(tmp_path):
    f = _vllm_file(tmp_path, [f"gone={tmp_path / 'nowhere'}"])
    t = {t.name: t for t in parse_targets(open(f).read(), f)}["v+gone"]  # reading the file does not fail
    with pytest.raises(TargetError) as e:
        build_command(t, 8000)
    msg = str(e.value)
    assert "target 'v+gone'" in msg and "adapter 'gone'" in msg and "nowhere" in msg and "\n" not in msg


def test_rank_above_the_engine_maximum_is_refused(tmp_path):
    big = _adapter(tmp_path / "big", r=1024)
    (t,) = with_adapters(get_target("local-vllm"), [f"big={big}"])
    with pytest.raises(TargetError, match="adapter 'big' has rank 1024, above vLLM's largest --max-lora-rank 512"):
        build_command(t, 8000)
    small = _adapter(tmp_path / "small", r=16)
    f = tmp_path / "t.yaml"
    f.write_text(f"targets:\n  - {{name: v, engine: vllm, model: B, model_path: {tmp_path}, engine_args: [--max-lora-rank, 8], "
                 f"adapters: [s={small}]}}\n")
    with pytest.raises(TargetError, match="adapter 's' has rank 16, above the engine's --max-lora-rank 8"):
        build_command(parse_targets(f.read_text(), str(f))[1], 8000)


def test_redefining_a_base_drops_its_old_adapters(tmp_path, monkeypatch):
    f = tmp_path / "targets.yaml"
    f.write_text("targets:\n  - {name: local-vllm, engine: vllm, model: Other}\n")
    monkeypatch.setenv("WORKBENCH_TARGETS", str(f))
    assert not [n for n in load_targets() if n.startswith("local-vllm+")]


def test_parse_adapters_mapping_form():
    (a,) = parse_adapters({"x": "/p"}, "f")
    assert (a.name, a.path) == ("x", "/p")
    with pytest.raises(AdapterError, match="list of 'name=path'"):
        parse_adapters("x=/p", "f")
