"""Bad input, table-driven: workload specs and items, catalogs, targets, notebook parameters and CLI
arguments. Each case must end in one WorkbenchError (CLI: exit code 2, one `error:` line, no
traceback) whose message names the file, the field and the offending value."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from workbench.errors import WorkbenchError

# ------------------------------------------------------------------------------------------ workloads
BASE_SPEC = {
    "name": "bad-wl", "task": "classification",
    "prompt": {"system": "Classify.", "user": "Ticket: {text}\nCategory:",
               "few_shot": [{"user": "Ticket: refund\nCategory:", "assistant": "billing"}]},
    "output": {"format": "label", "labels": ["billing", "technical"]},
    "scorer": "classification", "primary_metric": "macro_f1", "max_tokens": 8,
    "volume": {"daily_requests": 1000, "peak_factor": 2}, "slo": {"ttft_ms": 1000},
    "quality_floor": {"accuracy": 0.8}, "privacy": "any",
}
GOOD_ITEMS = ['{"id": "a", "text": "refund please", "reference": "billing"}',
              '{"id": "b", "text": "blank page", "reference": "technical"}']


def _set(d: dict, dotted: str, value) -> dict:
    """A deep copy of ``d`` with ``dotted`` set (value ``...`` deletes it)."""
    import copy

    d = copy.deepcopy(d)
    *head, last = dotted.split(".")
    cur = d
    for k in head:
        cur = cur[k]
    if value is ...:
        del cur[last]
    else:
        cur[last] = value
    return d


# (case id, spec (dict or raw text), items lines, fragments the message must contain)
WORKLOAD_CASES = [
    ("spec-not-yaml", "task: [classification\n", GOOD_ITEMS, ["spec.yaml", "not valid YAML"]),
    ("spec-a-list", "- task\n- scorer\n", GOOD_ITEMS, ["spec.yaml", "mapping", "list"]),
    ("task-missing", _set(BASE_SPEC, "task", ...), GOOD_ITEMS, ["spec.yaml", "'task'", "missing"]),
    ("task-unknown", _set(BASE_SPEC, "task", "translation"), GOOD_ITEMS, ["spec.yaml", "'task'", "'translation'"]),
    ("scorer-misspelt", _set(BASE_SPEC, "scorer", "clasification"), GOOD_ITEMS,
     ["spec.yaml", "'scorer'", "'clasification'", "did you mean 'classification'"]),
    ("prompt-a-string", _set(BASE_SPEC, "prompt", "Classify {text}"), GOOD_ITEMS,
     ["spec.yaml", "'prompt'", "'Classify {text}'"]),
    ("prompt-user-missing", _set(BASE_SPEC, "prompt.user", ...), GOOD_ITEMS, ["spec.yaml", "'prompt.user'", "missing"]),
    ("few-shot-no-assistant", _set(BASE_SPEC, "prompt.few_shot", [{"user": "x"}]), GOOD_ITEMS,
     ["spec.yaml", "'prompt.few_shot[0]'", "{'user': 'x'}"]),
    ("max-tokens-a-string", _set(BASE_SPEC, "max_tokens", "eight"), GOOD_ITEMS, ["spec.yaml", "'max_tokens'", "'eight'"]),
    ("max-tokens-too-big", _set(BASE_SPEC, "max_tokens", 5000), GOOD_ITEMS, ["spec.yaml", "'max_tokens'", "5000"]),
    ("labels-missing", _set(BASE_SPEC, "output.labels", ...), GOOD_ITEMS, ["spec.yaml", "'output.labels'", "None"]),
    ("primary-metric-missing", _set(BASE_SPEC, "primary_metric", ...), GOOD_ITEMS,
     ["spec.yaml", "'primary_metric'", "missing"]),
    ("volume-negative", _set(BASE_SPEC, "volume.daily_requests", -5), GOOD_ITEMS,
     ["spec.yaml", "'volume.daily_requests'", "-5"]),
    ("slo-a-string", _set(BASE_SPEC, "slo", {"ttft_ms": "fast"}), GOOD_ITEMS, ["spec.yaml", "'slo'", "'fast'"]),
    ("slo-unknown-key", _set(BASE_SPEC, "slo", {"latency_ms": 5}), GOOD_ITEMS, ["spec.yaml", "slo.latency_ms"]),
    ("privacy-unknown", _set(BASE_SPEC, "privacy", "secret"), GOOD_ITEMS, ["spec.yaml", "'privacy'", "'secret'"]),
    ("structured-bad-schema", {**_set(BASE_SPEC, "scorer", "structured"),
                               "output": {"format": "json", "schema": {"type": "objekt"}}}, GOOD_ITEMS,
     ["spec.yaml", "'output.schema'", "objekt"]),
    ("items-bad-json", BASE_SPEC, [GOOD_ITEMS[0], '{"id": "b", "text": '], ["items.jsonl", "line 2", "not valid JSON"]),
    ("items-not-object", BASE_SPEC, [GOOD_ITEMS[0], '["b", "x"]'], ["items.jsonl", "line 2", '["b", "x"]']),
    ("items-id-missing", BASE_SPEC, ['{"text": "x", "reference": "billing"}'], ["items.jsonl", "line 1", "'id'", "None"]),
    ("items-id-duplicate", BASE_SPEC, [GOOD_ITEMS[0], GOOD_ITEMS[0]], ["items.jsonl", "line 2", "'id'", "'a'"]),
    ("items-template-field-missing", BASE_SPEC, ['{"id": "a", "body": "x", "reference": "billing"}'],
     ["items.jsonl", "line 1", "'text'", "'a'"]),
    ("items-reference-missing", BASE_SPEC, ['{"id": "a", "text": "x"}'], ["items.jsonl", "line 1", "'reference'", "'a'"]),
    ("items-empty", BASE_SPEC, [], ["items.jsonl", "no items"]),
    ("items-file-missing", BASE_SPEC, None, ["items.jsonl", "not found"]),
]


@pytest.mark.parametrize("case, spec, items, fragments", WORKLOAD_CASES, ids=[c[0] for c in WORKLOAD_CASES])
def test_bad_workload(case, spec, items, fragments, tmp_path):
    from workbench.inputs.workloads import load_workload

    d = tmp_path / "bad-wl"
    d.mkdir()
    (d / "spec.yaml").write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec), encoding="utf-8")
    if items is not None:
        (d / "items.jsonl").write_text("".join(line + "\n" for line in items), encoding="utf-8")
    _expect(lambda: load_workload(d), fragments)


def test_the_base_workload_of_the_table_is_valid(tmp_path):
    """The cases above fail for the one reason each names, not because the base is broken."""
    from workbench.inputs.workloads import load_workload

    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(BASE_SPEC), encoding="utf-8")
    (tmp_path / "items.jsonl").write_text("\n".join(GOOD_ITEMS) + "\n", encoding="utf-8")
    wl = load_workload(tmp_path)
    assert [it["id"] for it in wl.items] == ["a", "b"] and wl.max_tokens == 8


def test_bad_limit_and_unknown_workload():
    from workbench.inputs.workloads import load_workload

    _expect(lambda: load_workload("ticket-clasification"),
            ["unknown workload", "'ticket-clasification'", "Did you mean 'ticket-classification'"])
    wl = load_workload("ticket-classification")
    _expect(lambda: wl.selected(limit=-3), ["'ticket-classification'", "'limit'", "-3"])


# ------------------------------------------------------------------------------------------ catalog
def _first_row(table: str) -> tuple[list[str], dict]:
    import csv

    from workbench.inputs.catalog import CATALOG_DIR, TABLES

    with open(CATALOG_DIR / TABLES[table][0], newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), next(reader)


# (case id, table, changes to the shipped first row ({col: value}; None drops the column), fragments)
CATALOG_CASES = [
    ("gpu-mem-not-number", "gpus", {"mem_gib": "eighty"}, ["gpus.csv", "line 2", "'mem_gib'", "'eighty'"]),
    ("gpu-bandwidth-negative", "gpus", {"mem_bw_tbps": "-3.35"}, ["gpus.csv", "line 2", "'mem_bw_tbps'", "'-3.35'"]),
    ("gpu-as-of-not-date", "gpus", {"as_of": "last week"}, ["gpus.csv", "line 2", "'as_of'", "'last week'"]),
    ("gpu-verified-not-bool", "gpus", {"verified": "maybe"}, ["gpus.csv", "line 2", "'verified'", "'maybe'"]),
    ("gpu-source-missing", "gpus", {"source": ""}, ["gpus.csv", "line 2", "'source'", "missing"]),
    ("gpu-unknown-column", "gpus", {"mem_gb": "80"}, ["gpus.csv", "unknown column", "'mem_gb'"]),
    ("gpu-required-column-dropped", "gpus", {"bf16_tflops": None}, ["gpus.csv", "missing column", "bf16_tflops"]),
    ("instance-price-not-number", "instances", {"usd_per_hour": "$1.01"}, ["instances.csv", "line 2", "'usd_per_hour'", "'$1.01'"]),
    ("instance-pricing-unknown", "instances", {"pricing": "preemptible"}, ["instances.csv", "line 2", "'pricing'", "'preemptible'"]),
    ("instance-gpu-count-fraction", "instances", {"gpu_count": "1.5"}, ["instances.csv", "line 2", "'gpu_count'", "'1.5'"]),
    ("instance-valid-to-before-from", "instances", {"valid_from": "2025-06-01", "valid_to": "2025-01-01"},
     ["instances.csv", "line 2", "'valid_to'", "2025-01-01"]),
    ("instance-unknown-gpu", "instances", {"gpu": "H1000"}, ["instances.csv", "line 2", "'gpu'", "'H1000'"]),
    ("api-mode-unknown", "apis", {"mode": "completion"}, ["apis.csv", "line 2", "'mode'", "'completion'"]),
    ("api-price-inf", "apis", {"input_cost_per_token": "inf"}, ["apis.csv", "line 2", "'input_cost_per_token'", "'inf'"]),
    ("model-layers-not-int", "models", {"layers": "thirty"}, ["models.csv", "line 2", "'layers'", "'thirty'"]),
    ("model-local-attention-unknown", "models", {"local_attention": "banded"},
     ["models.csv", "line 2", "'local_attention'", "'banded'"]),
    ("quality-score-missing", "quality", {"score": ""}, ["quality.csv", "line 2", "'score'", "missing"]),
]


@pytest.mark.parametrize("case, table, changes, fragments", CATALOG_CASES, ids=[c[0] for c in CATALOG_CASES])
def test_bad_catalog_override(case, table, changes, fragments, tmp_path):
    import csv

    from workbench.inputs.catalog import TABLES, load_catalog

    header, row = _first_row(table)
    for col, value in changes.items():
        if value is None:
            header.remove(col)
            row.pop(col)
        else:
            if col not in header:
                header.append(col)
            row[col] = value
    with open(tmp_path / TABLES[table][0], "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerow(row)
    _expect(lambda: load_catalog(tmp_path), fragments)


AWS_HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch"
# (case id, cloud, vms.csv text, fragments): SkyPilot v8 catalog files
SKYPILOT_CASES = [
    ("skypilot-missing-price-column", "aws", "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,Region\n"
     "p5.48xlarge,H100,8,192,us-east-1\n", ["vms.csv", "missing column", "Price"]),
    ("skypilot-unknown-cloud", "moon", AWS_HEADER + "\n", ["unknown cloud 'moon'"]),
    ("skypilot-negative-price", "aws", AWS_HEADER + "\np5.48xlarge,H100,8.0,192.0,2048.0,,-55.04,,us-east-1,use1-az1,x86_64\n",
     ["vms.csv", "line 2", "p5.48xlarge", "'Price'", "'-55.04'"]),
    ("skypilot-price-not-number", "aws", AWS_HEADER + "\np5.48xlarge,H100,8.0,192.0,2048.0,,$55,,us-east-1,use1-az1,x86_64\n",
     ["vms.csv", "line 2", "'Price'", "'$55'"]),
    ("skypilot-spot-not-number", "aws", AWS_HEADER + "\np5.48xlarge,H100,8.0,192.0,2048.0,,55.04,n/a,us-east-1,use1-az1,x86_64\n",
     ["vms.csv", "line 2", "'SpotPrice'", "'n/a'"]),
]


@pytest.mark.parametrize("case, cloud, text, fragments", SKYPILOT_CASES, ids=[c[0] for c in SKYPILOT_CASES])
def test_bad_skypilot_catalog(case, cloud, text, fragments, tmp_path):
    from workbench.inputs.skypilot import instance_rows

    (tmp_path / "vms.csv").write_text(text, encoding="utf-8")
    _expect(lambda: instance_rows(tmp_path / "vms.csv", cloud, as_of="2026-11-29"), fragments)


def test_bad_catalog_row_shape_and_lookups(tmp_path):
    from workbench.inputs.catalog import load_catalog

    header, _ = _first_row("gpus")
    (tmp_path / "gpus.csv").write_text(",".join(header) + "\nA10G,24\n", encoding="utf-8")
    _expect(lambda: load_catalog(tmp_path), ["gpus.csv", "line 2", "wrong number of fields"])
    _expect(lambda: load_catalog(tmp_path / "nope"), ["nope", "does not exist"])
    cat = load_catalog(catalog_dir=None, overrides_dir=None)
    _expect(lambda: cat.gpu("H1000"), ["H1000"])
    _expect(lambda: cat.instance("g5.xlarge", pricing="preemptible"), ["pricing", "'preemptible'"])


# ------------------------------------------------------------------------------------------ targets
def _target(**fields) -> dict:
    base = {"name": "mine", "engine": "external", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    return {k: v for k, v in {**base, **fields}.items() if v is not ...}


TARGET_CASES = [
    ("not-yaml", "targets: [\n", ["targets.yaml", "not valid YAML"]),
    ("no-targets-list", {"target": [_target()]}, ["targets.yaml", "'targets'"]),
    ("entry-not-mapping", {"targets": ["mine"]}, ["targets.yaml", "targets[0]", "str"]),
    ("name-missing", {"targets": [_target(name=...)]}, ["targets.yaml", "targets[0].name", "missing"]),
    ("field-misspelt", {"targets": [_target(api_key_var="X")]}, ["targets.yaml", "'mine'", "'api_key_var'", "did you mean 'api_key_env'"]),
    ("engine-unknown", {"targets": [_target(engine="tgi")]}, ["targets.yaml", "'mine'", "'engine'", "'tgi'"]),
    ("model-missing", {"targets": [_target(model=...)]}, ["targets.yaml", "'mine'", "'model'", "missing"]),
    ("external-no-url", {"targets": [_target(base_url="localhost:8000")]}, ["targets.yaml", "'mine'", "'base_url'", "'localhost:8000'"]),
    ("managed-with-url", {"targets": [_target(engine="vllm")]}, ["targets.yaml", "'mine'", "'base_url'"]),
    ("key-itself-in-key-env", {"targets": [_target(api_key_env="sk-abc123def456")]},
     ["targets.yaml", "'mine'", "'api_key_env'", "NAME of an environment variable"]),
    ("engine-args-not-list", {"targets": [_target(engine_args="--port 1")]}, ["targets.yaml", "'mine'", "'engine_args'"]),
    ("capability-not-bool", {"targets": [_target(capabilities={"ignore_eos": "yes"})]}, ["targets.yaml", "'mine'", "'capabilities'"]),
    ("deployment-field-unknown", {"targets": [_target(deployment={"gpu": "A10G"})]}, ["targets.yaml", "'mine'", "'deployment.gpu'"]),
    ("deployment-kind-unknown", {"targets": [_target(deployment={"kind": "cloud"})]}, ["targets.yaml", "'mine'", "'deployment.kind'", "'cloud'"]),
    ("deployment-count-zero", {"targets": [_target(deployment={"count": 0})]}, ["targets.yaml", "'mine'", "'deployment.count'", "0"]),
    ("retries-negative", {"targets": [_target(retries=-1)]}, ["targets.yaml", "'mine'", "'retries'", "-1"]),
    ("retries-too-many", {"targets": [_target(retries=1000)]}, ["targets.yaml", "'mine'", "'retries'", "1000"]),
    ("name-twice", {"targets": [_target(), _target()]}, ["targets.yaml", "'mine'", "'name'", "twice"]),
]


@pytest.mark.parametrize("case, doc, fragments", TARGET_CASES, ids=[c[0] for c in TARGET_CASES])
def test_bad_targets_file(case, doc, fragments, tmp_path):
    from workbench.inputs.targets import load_targets

    f = tmp_path / "targets.yaml"
    f.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    _expect(lambda: load_targets(f), fragments)


def test_unknown_target_and_missing_targets_file(tmp_path, monkeypatch):
    from workbench.inputs.targets import get_target

    _expect(lambda: get_target("local-vlm"), ["unknown target", "'local-vlm'", "Did you mean 'local-vllm'"])
    monkeypatch.setenv("WORKBENCH_TARGETS", str(tmp_path / "missing.yaml"))
    _expect(lambda: get_target("local-vllm"), ["$WORKBENCH_TARGETS", "missing.yaml", "does not exist"])


# ------------------------------------------------------------------------------------------ notebook parameters
NOTEBOOK_CASES = [
    ("decide-unknown-parameter", "decide", {"volume_sclae": 2}, ["decide.ipynb", "'volume_sclae'", "2", "unknown"]),
    ("decide-number-as-text", "decide", {"volume_scale": "ten"}, ["decide.ipynb", "'volume_scale'", "'ten'"]),
    ("decide-bool-as-number", "decide", {"include_projected": 3}, ["decide.ipynb", "'include_projected'", "3"]),
    ("measure-int-as-text", "measure", {"requests_per_point": "many"}, ["measure.ipynb", "'requests_per_point'", "'many'"]),
    ("evaluate-unknown-parameter", "evaluate", {"api_key": "x"}, ["evaluate.ipynb", "'api_key'", "unknown"]),
    # values of the right type outside what the parameter accepts (workbench.decide.parameters.RULES)
    ("decide-negative-volume", "decide", {"volume_scale": -3}, ["decide.ipynb", "'volume_scale'", "a number > 0", "-3"]),
    ("decide-zero-volume", "decide", {"volume_scale": 0}, ["'volume_scale'", "a number > 0", "got 0"]),
    ("decide-route-above-one", "decide", {"route_fraction": 1.5}, ["'route_fraction'", "from 0 to 1", "1.5"]),
    ("decide-bad-pricing", "decide", {"pricing": "cheap"}, ["'pricing'", "on-demand, spot or reserved", "'cheap'"]),
    ("decide-unknown-workload", "decide", {"workloads": ["ticket-clasification"]},
     ["'workloads'", "unknown 'ticket-clasification'", "did you mean 'ticket-classification'"]),
    ("decide-unknown-api", "decide", {"apis": ["gpt-9"]}, ["'apis'", "unknown 'gpt-9'"]),
    ("decide-missing-results", "decide", {"results_paths": ["/nonexistent/results"]},
     ["'results_paths'", "no such path: /nonexistent/results"]),
    ("decide-assumed-quality-percent", "decide", {"assume_quality": 80}, ["'assume_quality'", "from 0 to 1", "80"]),
    ("decide-zero-retrain-period", "decide", {"retrain_months": 0}, ["'retrain_months'", "months > 0", "got 0"]),
    ("decide-negative-retrain-period", "decide", {"retrain_months": -3}, ["'retrain_months'", "months > 0", "-3"]),
    ("decide-utilization-percent", "decide", {"training_utilization": 30}, ["'training_utilization'", "<= 1", "30"]),
    ("measure-zero-requests", "measure", {"requests_per_point": 0}, ["'requests_per_point'", "whole number > 0"]),
    ("measure-bad-profile", "measure", {"profile": "qps=2"}, ["'profile'", "qps=2"]),
    ("measure-unknown-target", "measure", {"target": "local-vlm"}, ["'target'", "did you mean 'local-vllm'"]),
    ("evaluate-negative-limit", "evaluate", {"limit": -5}, ["evaluate.ipynb", "'limit'", "-5"]),
    ("dashboard-negative-volume", "dashboard", {"volume_requests_per_month": -1}, ["'volume_requests_per_month'", "-1"]),
    ("claims-missing-results", "claims", {"results_paths": "/nonexistent"}, ["'results_paths'", "no such path"]),
]


@pytest.mark.parametrize("case, notebook, params, fragments", NOTEBOOK_CASES, ids=[c[0] for c in NOTEBOOK_CASES])
def test_bad_notebook_parameters_are_refused_before_a_kernel_starts(case, notebook, params, fragments, tmp_path):
    from workbench.present.report import execute

    _expect(lambda: execute(notebook, params, out_dir=tmp_path), fragments)
    assert not list(tmp_path.iterdir())  # refused before papermill wrote anything


# ------------------------------------------------------------------------------------------ CLI
# (case id, argv after `workbench`, extra env, fragments of the one error line)
CLI_CASES = [
    ("measure-unknown-target", ["measure", "--target", "nope"], {}, ["unknown target 'nope'"]),
    ("measure-bad-profile", ["measure", "--target", "local-llamacpp", "--profile", "qps=2"], {}, ["profile 'qps=2'"]),
    ("measure-bad-arrival", ["measure", "--target", "local-llamacpp", "--profile", "rate=2;arrival=uniform"], {},
     ["profile 'rate=2;arrival=uniform'", "arrival"]),
    ("measure-slo-key", ["measure", "--target", "local-llamacpp", "--slo", "latency=5"], {}, ["--slo 'latency=5'", "'latency'"]),
    ("measure-slo-value", ["measure", "--target", "local-llamacpp", "--slo", "ttft_ms=abc"], {}, ["--slo", "ttft_ms", "'abc'"]),
    ("measure-negative-max-tokens", ["measure", "--target", "local-llamacpp", "--max-tokens", "-1"], {}, ["max_tokens", "-1"]),
    ("measure-negative-duration", ["measure", "--target", "local-llamacpp", "--requests", "0", "--duration", "-1"], {},
     ["duration_s", "-1"]),
    ("measure-unknown-workload", ["measure", "--target", "local-llamacpp", "--workload", "tickets"], {},
     ["unknown workload 'tickets'"]),
    ("measure-requests-not-int", ["measure", "--target", "local-llamacpp", "--requests", "many"], {},
     ["--requests", "invalid int value: 'many'"]),
    ("evaluate-no-target", ["evaluate", "--workload", "ticket-classification"], {}, ["--target"]),
    ("evaluate-adapter-missing-folder", ["evaluate", "--target", "local-vllm", "--adapter", "mine=/nonexistent/run",
                                         "--workload", "ticket-classification"], {},
     ["target 'local-vllm+mine'", "adapter 'mine'", "'/nonexistent/run' is not an adapter folder"]),
    ("measure-adapter-on-llamacpp", ["measure", "--target", "local-llamacpp", "--adapter", "mine=/x"], {},
     ["--adapter", "'local-llamacpp' is llamacpp", "only vllm targets"]),
    ("measure-adapter-no-path", ["measure", "--target", "local-vllm", "--adapter", "mine"], {}, ["'name=path'"]),
    ("evaluate-negative-limit", ["evaluate", "--target", "local-llamacpp", "--workload", "ticket-classification",
                                 "--limit", "-1"], {}, ["'limit'", "-1"]),
    ("evaluate-unknown-run", ["evaluate", "--compare", "run-a", "run-b"], {}, ["run 'run-a' not found"]),
    ("report-param-no-value", ["report", "--param", "volume_scale"], {}, ["--param 'volume_scale'", "key=value"]),
    ("report-param-unknown", ["report", "--param", "bogus=1"], {}, ["decide.ipynb", "'bogus'"]),
    ("report-param-negative-volume", ["report", "--param", "volume_scale=-3"], {},
     ["decide.ipynb", "'volume_scale'", "a number > 0", "-3"]),
    ("demo-param-negative-volume", ["demo", "--param", "volume_scale=-3"], {}, ["'volume_scale'", "-3"]),
    ("report-live-param-unknown", ["report", "--live", "--live-param", "concurrency=4"], {}, ["--live-param concurrency"]),
    ("report-unknown-notebook", ["report", "--notebook", "nope"], {}, ["nope.ipynb", "no such notebook"]),
    ("dashboard-missing-notebook", ["dashboard", "--notebook", "nope.ipynb", "--no-browser"], {}, ["nope.ipynb", "not found"]),
    ("engine-start-unknown", ["engine", "start", "local-lamacpp"], {}, ["'local-lamacpp'", "Did you mean 'local-llamacpp'"]),
    ("catalog-show-bad-date", ["catalog", "show", "apis", "--as-of", "yesterday"], {}, ["as_of", "'yesterday'"]),
    ("catalog-refresh-unknown-cloud", ["catalog", "refresh", "--skypilot", "moon", "vms.csv"], {},
     ["unknown cloud 'moon'"]),
    ("targets-env-missing-file", ["targets"], {"WORKBENCH_TARGETS": "/nonexistent/targets.yaml"},
     ["$WORKBENCH_TARGETS", "/nonexistent/targets.yaml"]),
    ("targets-file-bad-engine", ["targets"], {"WORKBENCH_TARGETS": "{bad_targets}"}, ["bad-targets.yaml", "'mine'", "'engine'", "'tgi'"]),
    ("catalog-add-model-not-json", ["catalog", "add-model", "bad-config.json"], {},
     ["bad-config.json", "not valid JSON", "line 2"]),
    ("catalog-add-model-no-layers", ["catalog", "add-model", "partial-config.json"], {},
     ["partial-config.json", "missing key(s)", "num_hidden_layers"]),
    ("catalog-add-model-missing-file", ["catalog", "add-model", "nope/config.json"], {},
     ["nope/config.json", "cannot read config.json"]),
]


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """All CLI cases run as subprocesses, a few at a time (each is one short-lived interpreter)."""
    tmp = tmp_path_factory.mktemp("cli")
    bad = tmp / "bad-targets.yaml"  # not ./targets.yaml: the cwd's file would be read by every case
    bad.write_text(yaml.safe_dump({"targets": [_target(engine="tgi")]}), encoding="utf-8")
    (tmp / "bad-config.json").write_text('{"model_type": "llama", "hidden_size": 4096,\n', encoding="utf-8")
    (tmp / "partial-config.json").write_text('{"model_type": "llama", "hidden_size": 4096}', encoding="utf-8")
    env0 = {**os.environ, "WORKBENCH_RESULTS_DIR": str(tmp / "results"), "WORKBENCH_REPORTS_DIR": str(tmp / "reports")}
    env0.pop("WORKBENCH_TARGETS", None)

    def run(case):
        name, argv, extra, _ = case
        env = {**env0, **{k: v.format(bad_targets=bad) for k, v in extra.items()}}
        p = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], capture_output=True, text=True,
                           env=env, timeout=120, cwd=tmp, check=False)
        return name, p

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(run, CLI_CASES))


@pytest.mark.parametrize("case, argv, env, fragments", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_arguments(case, argv, env, fragments, cli_results):
    p = cli_results[case]
    assert p.returncode == 2, (p.returncode, p.stdout[-500:], p.stderr[-2000:])
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    assert "error:" in p.stderr
    error_lines = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, p.stderr
    for frag in fragments:
        assert frag in p.stderr, (frag, p.stderr)


# ------------------------------------------------------------------------------------------ helpers
def _expect(call, fragments) -> None:
    """``call()`` raises one WorkbenchError whose message contains every fragment."""
    with pytest.raises(WorkbenchError) as info:
        call()
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


def test_the_suite_has_at_least_fifty_cases():
    n = (len(WORKLOAD_CASES) + len(CATALOG_CASES) + len(SKYPILOT_CASES) + len(TARGET_CASES) + len(NOTEBOOK_CASES) + len(CLI_CASES))
    assert n >= 50, n
    print(f"\nbad-input cases: workloads {len(WORKLOAD_CASES)}, catalog {len(CATALOG_CASES)}, targets "
          f"{len(TARGET_CASES)}, notebook parameters {len(NOTEBOOK_CASES)}, CLI {len(CLI_CASES)}; total {n} "
          "(+ the direct cases in the test_bad_* functions below each table)")
