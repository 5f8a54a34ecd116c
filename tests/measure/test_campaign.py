"""Campaigns on the local executor: the file expands into cells, cells run into the store, a
failing cell is retried then recorded, a second run skips what finished."""

import json

import pytest

from workbench import cli
from workbench.measure import campaign as cp
from workbench.measure import campaign_run as cr
from workbench.results import store
from workbench.serving.fakeserver import FakeConfig, FakeServer
from workbench.serving.processes import free_port

PROFILES = """
profiles:
  c1: {profile: "concurrency=1", requests_per_point: 3, output_tokens: 4, warmup: 0}
  c2: {profile: "concurrency=2", requests_per_point: 4, output_tokens: 4, warmup: 0}
"""


def _target(name, url, accel="CPU"):
    return (f"  - {{name: {name}, engine: external, base_url: '{url}', model: fake, "
            f"deployment: {{kind: self-hosted, accelerator: {accel}, count: 1}}}}\n")


@pytest.fixture
def fake():
    with FakeServer(FakeConfig(chunks=4)) as f:
        yield f


def _campaign(tmp_path, body, retries=1):
    path = tmp_path / "campaign.yaml"
    path.write_text(f"name: t\nretries: {retries}\n{body}", encoding="utf-8")
    return path


def test_the_matrix_expands_with_overrides_and_launch_specs(tmp_path):
    c = cp.load_campaign(_campaign(tmp_path, "targets: [local-llamacpp]\n" + """
engines:
  - {name: v-bf16, engine: vllm, model: m, model_path: "smollm2:hf", dtype: bfloat16, quantization: awq,
     tensor_parallel: 2, lora: {a: /tmp/a}, accelerator: H100}
workloads: [null, ticket-classification]
evaluations: [ticket-classification]
evaluation: {limit: 5}
overrides:
  - {match: {target: v-bf16, profile: c2}, skip: true}
  - {match: {profile: c1}, set: {requests_per_point: 1}}
""" + PROFILES))
    load = [x for x in c.cells if x.kind == "load"]
    assert len(load) == 2 * 2 * 2 - 2 and len([x for x in c.cells if x.kind == "quality"]) == 2
    assert all(x.options["requests_per_point"] == 1 for x in load if x.profile == "c1")
    v = next(x.target for x in c.cells if x.target.name == "v-bf16")
    assert v.engine_args == ("--dtype", "bfloat16", "--quantization", "awq", "--tensor-parallel-size", "2",
                             "--enable-lora", "--lora-modules", "a=/tmp/a")
    assert (v.deployment.accelerator, v.deployment.count, v.deployment.dtype) == ("H100", 2, "bfloat16")
    keys = [x.key for x in c.cells]
    assert len(set(keys)) == len(keys)
    assert [x.key for x in cp.load_campaign(tmp_path / "campaign.yaml").cells] == keys  # stable
    assert cp.cell_from_dict(c.cells[0].to_dict()) == c.cells[0]


@pytest.mark.parametrize("body, message", [
    ("targets: [nope]\n" + PROFILES, "unknown target 'nope'"),
    ("targets: [local-llamacpp]\nprofiles: {c1: {profil: x}}\n", "profiles.c1.profil"),
    ("targets: [local-llamacpp]\nprofiles: {c1: 'concurrency=0'}\n", "profiles.c1"),
    ("targets: [local-llamacpp]\n", "give load profiles, evaluations, or both"),
    ("targets: [local-llamacpp]\nretries: 99\n" + PROFILES, "retries"),
    ("engines: [{engine: llamacpp, model: m, tensor_parallel: 2}]\n" + PROFILES, "tensor_parallel"),
    ("targets: [local-llamacpp]\nmatrix: 1\n" + PROFILES, "'matrix': unknown field"),
])
def test_bad_campaign_files_are_one_clear_line(tmp_path, body, message):
    with pytest.raises(cp.CampaignError, match=message.replace("(", r"\(")):
        cp.load_campaign(_campaign(tmp_path, body))


def test_a_local_campaign_runs_every_cell_retries_a_failing_one_and_resumes(tmp_path, fake):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: every request fails
    path = _campaign(tmp_path, "targets:\n" + _target("fake-a", fake.base_url) + _target("dead", dead)
                     + PROFILES)
    root = tmp_path / "store"
    table = cr.run_campaign(cp.load_campaign(path), root=root, progress=False)
    by = {r["what"]: r for r in table.to_dict("records")}
    assert [by[f"fake-a · synthetic @ {p}"]["status"] for p in ("c1", "c2")] == ["completed"] * 2
    assert [by[f"dead · synthetic @ {p}"]["status"] for p in ("c1", "c2")] == ["degraded"] * 2
    assert [by[f"dead · synthetic @ {p}"]["attempts"] for p in ("c1", "c2")] == [2, 2]  # retried once
    res = store.load(root)
    assert len(res.runs) == 6  # 2 good + 2 × 2 attempts of the dead cells: every attempt kept
    assert {p.get("campaign") for p in res.runs.params} == {"t"}
    good = res.runs[res.runs.status == "completed"]
    assert sorted(len(res.requests[res.requests.run_id == r]) for r in good.run_id) == [3, 4]
    # again: the finished cells are skipped, the degraded ones tried again
    table = cr.run_campaign(cp.load_campaign(path), root=root, progress=False)
    assert table.set_index("what").loc["fake-a · synthetic @ c1", "attempts"] == 1
    assert table.set_index("what").loc["dead · synthetic @ c1", "attempts"] == 4
    assert len(store.load(root).runs) == 10


def test_a_cell_whose_engine_cannot_start_is_recorded_failed(tmp_path, fake):
    path = _campaign(tmp_path, "targets:\n" + _target("fake-a", fake.base_url)
                     + "engines: [{name: broken, engine: llamacpp, model: m, model_path: /nonexistent.gguf}]\n"
                     + PROFILES)
    table = cr.run_campaign(cp.load_campaign(path), root=tmp_path / "s", progress=False)
    broken = table[table.what.str.startswith("broken")]
    assert list(broken.status) == ["failed", "failed"] and broken.error.str.contains("engine did not start").all()
    assert (table[table.what.str.startswith("fake-a")].status == "completed").all()
    rec = json.loads((tmp_path / "s" / "campaigns" / "t" / f"{broken.cell.iloc[0]}.json").read_text())
    assert len(rec["attempts"]) == 2 and rec["run_id"] is None


class _Interrupting:
    """An executor that runs the first cell, then reports the second interrupted (Ctrl-C)."""

    name = "test"

    def __init__(self, root):
        self.inner = cr.LocalExecutor(root, "t")

    def run(self, todo):
        first = True
        for cell, attempt, outcome in self.inner.run(todo):
            yield cell, attempt, outcome if first else {**outcome, "status": "interrupted"}
            first = False


def test_an_interrupted_campaign_resumes_where_it_stopped(tmp_path, fake):
    path = _campaign(tmp_path, "targets:\n" + _target("fake-a", fake.base_url) + PROFILES)
    root = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        cr.run_campaign(cp.load_campaign(path), root=root, executor=_Interrupting(root), progress=False)
    assert sorted(r["status"] for r in cr.read_ledger(root, "t").values()) == ["completed", "interrupted"]
    table = cr.run_campaign(cp.load_campaign(path), root=root, progress=False)
    assert list(table.status) == ["completed", "completed"] and sorted(table.attempts) == [1, 2]


def test_campaign_commands_plan_and_run(tmp_path, fake, capsys):
    path = _campaign(tmp_path, "targets:\n" + _target("fake-a", fake.base_url) + PROFILES)
    root = tmp_path / "s"
    assert cli.main(["campaign", "plan", str(path), "--results-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "2 cells, 2 to run" in out and "assumed" in out
    assert cli.main(["campaign", "run", str(path), "--results-root", str(root), "--no-progress"]) == 0
    assert "2 of 2 cells finished" in capsys.readouterr().out
    assert cli.main(["campaign", "plan", str(path), "--results-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "2 cells, 0 to run" in out and out.count(" done ") == 2


def test_the_bundled_campaign_is_both_engines_by_two_quantizations_by_two_profiles():
    from workbench.paths import DATA_DIR

    c = cp.load_campaign(DATA_DIR / "campaigns" / "embedded-default.yaml")
    assert len(c.cells) == 8
    assert sorted({(x.target.engine, x.target.deployment.quantization or x.target.deployment.dtype)
                   for x in c.cells}) == [("llamacpp", "Q2_K"), ("llamacpp", "Q4_1"),
                                          ("vllm", "none"), ("vllm", "none (dequantized from Q4_1)")]
    assert sorted({x.target.deployment.dtype for x in c.cells if x.target.engine == "vllm"}) == ["bfloat16", "float32"]
    assert {x.profile for x in c.cells} == {"serial", "pair"}


def test_quality_cells_run_the_evaluation_and_are_tagged(tmp_path, fake):
    path = _campaign(tmp_path, "targets:\n" + _target("fake-a", fake.base_url)
                     + "evaluations: [ticket-classification]\nevaluation: {limit: 3, concurrency: 2}\n")
    root = tmp_path / "s"
    table = cr.run_campaign(cp.load_campaign(path), root=root, progress=False)
    assert list(table.what) == ["fake-a · eval ticket-classification"] and list(table.status) == ["completed"]
    res = store.load(root)
    assert list(res.runs.kind) == ["quality"] and res.runs.params.iloc[0]["campaign_cell"] == table.cell.iloc[0]
    assert len(res.items) == 3 and set(res.items.workload) == {"ticket-classification"}
