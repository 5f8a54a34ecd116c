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


# ------------------------------------------------------------------ splits
@pytest.mark.parametrize("name", SIX)
def test_bundled_splits_are_disjoint_by_template(name):
    """Every item has a split; the items of one template (and its paraphrases) share it, so a
    model trained on train is scored on phrasings it never saw; every split has items, and a
    classification workload has every label in every split."""
    wl = load_workload(name)
    assert wl.split_source == "recorded in items.jsonl"
    split_of_template = {}
    for it in wl.items:
        assert split_of_template.setdefault(it["template"], it["split"]) == it["split"], it["id"]
    sizes = {s: len(wl.split(s)) for s in ("train", "dev", "test")}
    assert sum(sizes.values()) == len(wl.items) and min(sizes.values()) >= 15
    assert sizes["train"] >= sizes["test"]
    if wl.task in ("classification", "routing"):
        labels = {it["reference"] for it in wl.items}
        for s in sizes:
            assert {it["reference"] for it in wl.split(s)} == labels, s


@pytest.mark.parametrize("name", SIX)
def test_each_data_card_states_its_split(name):
    """The DATA_CARD says how the split was made and the sizes the files hold."""
    wl = load_workload(name)
    card = (wl.path / "DATA_CARD.md").read_text()
    sizes = "/".join(str(len(wl.split(s))) for s in ("train", "dev", "test"))
    assert "**Splits.**" in card and f"{sizes} items (train/dev/test)" in card


def test_selected_draws_from_one_split():
    wl = load_workload("ticket-classification")
    test = wl.selected(split="test")
    assert test == wl.split("test") and len(wl.selected(10, seed=3, split="test")) == 10
    assert {it["split"] for it in wl.selected(10, seed=3, split="test")} == {"test"}
    assert wl.selected() == wl.items  # no split: every item, as before
    with pytest.raises(WorkloadError, match="field 'split'.*'validation'"):
        wl.split("validation")


def _strip_splits(d, spec_extra=""):
    p = d / "items.jsonl"
    rows = [json.loads(line) for line in p.read_text().splitlines()]
    p.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "split"}) + "\n" for r in rows))
    if spec_extra:
        (d / "spec.yaml").write_text((d / "spec.yaml").read_text() + spec_extra)


def test_a_workload_without_splits_gets_a_seeded_one(wl_copy):
    _strip_splits(wl_copy)
    a, b = load_workload(wl_copy), load_workload(wl_copy)
    assert a.split_source.startswith("seeded (seed 0, group none")
    assert [it["split"] for it in a.items] == [it["split"] for it in b.items]  # reproducible
    n = {s: len(a.split(s)) for s in ("train", "dev", "test")}
    assert n == {"test": 48, "dev": 16, "train": 96}  # 30 % / 10 % of 160 items


def test_a_group_key_keeps_related_items_in_one_split(wl_copy):
    _strip_splits(wl_copy, "split: {seed: 4, group: template, test: 0.25, dev: 0.25}\n")
    wl = load_workload(wl_copy)
    assert "group template" in wl.split_source
    seen = {}
    for it in wl.items:
        assert seen.setdefault(it["template"], it["split"]) == it["split"]
    n_templates = len(seen)
    assert sum(s == "test" for s in seen.values()) == round(0.25 * n_templates)


def test_a_tiny_workload_is_all_test():
    from workbench.inputs.workloads import seeded_splits

    items = [{"id": "a"}, {"id": "b"}]
    assert seeded_splits(items) == {"a": "test", "b": "test"}
    three = seeded_splits([{"id": c} for c in "abc"])
    assert sorted(three.values()) == ["dev", "test", "train"]


@pytest.mark.parametrize("edit,expect", [
    ("bad-split", ["item 'tkt-", "field 'split'", "'validation'"]),
    ("bad-group", ["field 'ticket_group'", "missing"]),
    ("bad-conf", ["spec.yaml", "field 'split'", "size"]),
])
def test_bad_splits_name_field_and_value(wl_copy, edit, expect):
    p = wl_copy / "items.jsonl"
    if edit == "bad-split":
        lines = p.read_text().splitlines()
        row = json.loads(lines[3])
        row["split"] = "validation"
        p.write_text("\n".join(lines[:3] + [json.dumps(row)] + lines[4:]) + "\n")
    else:
        _strip_splits(wl_copy, {"bad-group": "split: {group: ticket_group}\n",
                                "bad-conf": "split: {size: 3}\n"}[edit])
    with pytest.raises(WorkloadError) as e:
        load_workload(wl_copy)
    for s in expect:
        assert s in str(e.value)
