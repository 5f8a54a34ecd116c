"""Workloads: the six bundled ones load and render; bad files fail naming file, field/line, value."""

import json
import shutil

import pytest

from workbench.inputs.workloads import (
    TASKS,
    WorkloadError,
    list_workloads,
    load_workload,
    workloads_dir,
)
from workbench.measure.loadgen import corpus_requests, workload_requests

SIX = ["incident-summarization", "intent-routing", "invoice-extraction", "meeting-structured",
       "policy-retrieval", "ticket-classification"]


def test_six_workloads_ship():
    assert set(SIX) <= set(list_workloads())
    tasks = set()
    for name in SIX:
        wl = load_workload(name)
        tasks.add(wl.task)
        assert len(wl.items) >= 150 and len({it["id"] for it in wl.items}) == len(wl.items)
        assert wl.primary_metric and wl.daily_volume > 0 and wl.peak_factor >= 1
        assert wl.privacy in ("internal-only", "any")
        assert (wl.path / "DATA_CARD.md").is_file()
    assert tasks == set(TASKS)


def test_prompts_fit_the_context():
    # SmolLM2 runs with a 2048-token context: prompt + max_tokens must fit (at ~4 chars/token, 3x margin)
    for name in SIX:
        wl = load_workload(name)
        for it in wl.items:
            chars = sum(len(m["content"]) for m in wl.messages(it)) if wl.task != "retrieval" else len(it["query"])
            assert chars / 4 * 3 + wl.max_tokens < 2048, (name, it["id"])


def test_requests_render_chat_at_temperature_zero():
    wl = load_workload("ticket-classification")
    reqs = workload_requests(wl, limit=5, seed=1)
    assert len(reqs) == 5 and reqs == workload_requests(wl, limit=5, seed=1)
    r = reqs[0]
    assert r.endpoint == "chat" and r.body["temperature"] == 0 and r.body["max_tokens"] == 8
    msgs = r.body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    item = next(it for it in wl.items if it["id"] == r.item_id)
    assert msgs[-1]["content"] == f"Ticket: {item['text']}\nCategory:"


def test_retrieval_requests_are_embeddings():
    wl = load_workload("policy-retrieval")
    r = workload_requests(wl, limit=2)[0]
    assert r.endpoint == "embeddings" and isinstance(r.body["input"], list)
    corpus = corpus_requests(wl)
    assert len(corpus) == len(wl.corpus) and corpus[0].body["input"] == [wl.corpus[0]["text"]]


@pytest.fixture
def wl_copy(tmp_path):
    dst = tmp_path / "ticket-classification"
    shutil.copytree(workloads_dir() / "ticket-classification", dst)
    return dst


def _edit_spec(d, old, new):
    p = d / "spec.yaml"
    p.write_text(p.read_text().replace(old, new))


def test_load_by_path(wl_copy):
    assert len(load_workload(wl_copy).items) == 160


@pytest.mark.parametrize("old,new,expect", [
    ("task: classification", "task: clasification", ["spec.yaml", "'task'", "clasification"]),
    ("scorer: classification", "scorer: clasification", ["'scorer'", "clasification", "did you mean 'classification'"]),
    ("max_tokens: 8", "max_tokens: lots", ["'max_tokens'", "lots"]),
    ("privacy: any", "privacy: secret", ["'privacy'", "secret"]),
    ("slo: {ttft_ms: 1000, e2el_ms: 2000}", "slo: {ttft: 1000}", ["slo.ttft"]),
    ("peak_factor: 3.0", "peak_factor: -1", ["volume.peak_factor", "-1"]),
])
def test_bad_spec_names_field_and_value(wl_copy, old, new, expect):
    _edit_spec(wl_copy, old, new)
    with pytest.raises(WorkloadError) as e:
        load_workload(wl_copy)
    for s in expect:
        assert s in str(e.value)


@pytest.mark.parametrize("line,expect", [
    ("not json", ["line 2", "not valid JSON", "not json"]),
    ('{"id": "x"}', ["line 2", "'reference'", "'x'"]),
    ('{"id": "y", "reference": "billing"}', ["line 2", "'text'", "'y'"]),
    ('{"id": 7, "text": "t", "reference": "billing"}', ["line 2", "'id'", "7"]),
])
def test_bad_item_names_line_and_field(wl_copy, line, expect):
    p = wl_copy / "items.jsonl"
    lines = p.read_text().splitlines()
    p.write_text("\n".join([lines[0], line] + lines[1:]) + "\n")
    with pytest.raises(WorkloadError) as e:
        load_workload(wl_copy)
    assert "items.jsonl" in str(e.value)
    for s in expect:
        assert s in str(e.value)


def test_duplicate_id(wl_copy):
    p = wl_copy / "items.jsonl"
    first = p.read_text().splitlines()[0]
    p.write_text(p.read_text() + first + "\n")
    with pytest.raises(WorkloadError, match=rf"line 161: field 'id': duplicate id '{json.loads(first)['id']}'"):
        load_workload(wl_copy)


def test_unknown_workload_suggests():
    with pytest.raises(WorkloadError, match="Did you mean 'intent-routing'"):
        load_workload("intent-routng")
