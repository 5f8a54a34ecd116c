import pytest

from workbench.inputs.targets import TargetError, get_target, load_targets, parse_targets


def test_builtin_targets_are_the_two_local_engines():
    targets = load_targets()
    assert {"local-vllm", "local-llamacpp"} <= set(targets)
    v = targets["local-vllm"]
    assert v.engine == "vllm" and v.managed and v.base_url is None
    assert v.deployment.kind == "self-hosted" and v.deployment.dtype == "float32"
    assert targets["local-llamacpp"].deployment.quantization == "Q4_1"


def test_unknown_target_lists_known_ones():
    with pytest.raises(TargetError) as e:
        get_target("local-vlm")
    msg = str(e.value)
    assert "local-vllm" in msg and "local-llamacpp" in msg and "Did you mean 'local-vllm'" in msg


def test_user_file_adds_and_overrides(tmp_path, monkeypatch):
    f = tmp_path / "targets.yaml"
    f.write_text(
        "targets:\n"
        "  - name: gpt-4o-mini\n    engine: external\n    base_url: https://api.openai.com/v1/\n"
        "    model: gpt-4o-mini\n    api_key_env: OPENAI_API_KEY\n    strict: true\n"
        "    deployment: {kind: api, provider: openai, price_entry: gpt-4o-mini}\n"
    )
    monkeypatch.setenv("WORKBENCH_TARGETS", str(f))
    t = get_target("gpt-4o-mini")
    assert t.base_url == "https://api.openai.com/v1" and t.strict and not t.managed
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-000000")
    assert t.api_key() == "sk-test-not-a-real-key-000000"
    assert "sk-test" not in str(t.describe())  # only the variable's name is recorded


@pytest.mark.parametrize(
    "body, field, problem",
    [
        ("targets: {}", "targets", "top-level 'targets:' list"),
        ("targets:\n  - name: a\n    engine: tgi\n    model: m", "engine", "must be one of"),
        ("targets:\n  - name: a\n    engine: external\n    model: m", "base_url", "needs an http(s) URL"),
        ("targets:\n  - name: a\n    engine: vllm\n    model: m\n    base_url: http://x", "base_url", "only external"),
        ("targets:\n  - name: a\n    engine: external\n    base_url: http://x\n    model: m\n    api_key_env: sk-abc123",
         "api_key_env", "never the key itself"),
        ("targets:\n  - name: a\n    engine: vllm\n    modle: m", "modle", "did you mean 'model'"),
        ("targets:\n  - name: a\n    engine: vllm\n    model: m\n    deployment: {count: 0}", "deployment.count", "positive integer"),
        ("targets:\n  - name: a\n    engine: vllm\n    model: m\n  - name: a\n    engine: vllm\n    model: m", "name", "defined twice"),
        ("targets: [\n", None, "not valid YAML"),
    ],
)
def test_malformed_targets_name_file_field_and_problem(body, field, problem):
    with pytest.raises(TargetError) as e:
        parse_targets(body, "my-targets.yaml")
    msg = str(e.value)
    assert msg.startswith("my-targets.yaml")
    assert problem in msg
    if field:
        assert f"field '{field}'" in msg
