"""evaluate / compare: offline against the fake server, and on the real local engines (marked)."""

import json

import pytest

from workbench.inputs.targets import Target
from workbench.inputs.workloads import load_workload
from workbench.measure.evaluate import EvalError, compare, evaluate, run_metrics
from workbench.results.store import RunWriter, load, validate
from workbench.serving.fakeserver import FakeConfig, FakeServer


def _fake_target(fake):
    return Target(name="fake", engine="external", model="fake", base_url=fake.base_url)


def test_evaluate_against_fake_server(results_root):
    wl = load_workload("ticket-classification")
    with FakeServer(FakeConfig(chunks=1, piece="billing")) as fake:
        res = evaluate(_fake_target(fake), wl, limit=12, concurrency=3, progress=False, seed=2)
    chosen = wl.selected(12, seed=2, split="test")  # evaluate scores the test split by default
    assert {it["split"] for it in chosen} == {"test"}
    n_billing = sum(it["reference"] == "billing" for it in chosen)
    m = res.metrics.set_index("metric")
    assert m.loc["accuracy", "value"] == pytest.approx(n_billing / 12)
    assert m.loc["parsed_ok", "value"] == 1.0 and (m["n"] == 12).all()
    # macro-F1 over the classes present: billing F1 = 2b/(2b + (12-b)), every other class 0
    n_cls = len({it["reference"] for it in chosen} | {"billing"})
    assert m.loc["macro_f1", "value"] == pytest.approx(2 * n_billing / (n_billing + 12) / n_cls)
    assert m.loc["accuracy", "ci_low"] <= m.loc["accuracy", "value"] <= m.loc["accuracy", "ci_high"]
    r = load(results_root)
    validate(r)
    run = r.runs.iloc[0]
    assert (run.kind, run.status, run.workload, run.target) == ("quality", "completed", wl.name, "fake")
    assert len(r.items) == 12 and set(r.items["item_id"]) == {it["id"] for it in chosen}
    assert r.items["prompt_tokens"].notna().all()
    assert run.summary["metrics"]["accuracy"]["value"] == pytest.approx(n_billing / 12)
    assert run_metrics(res.run_id, r).set_index("metric").loc["accuracy", "value"] == pytest.approx(n_billing / 12)


def test_errored_items_are_left_out_of_the_metrics_and_counted(results_root):
    """Every second request fails (HTTP 500): the metrics cover the 3 answered items, n_errors
    says 3, and 50 % errors makes the run degraded (the default limit is 5 %)."""
    with FakeServer(FakeConfig(status=500, fail_every=2, chunks=1, piece='{"title": "x"}')) as fake:
        res = evaluate(_fake_target(fake), "meeting-structured", limit=6, concurrency=1, progress=False)
    m = res.metrics.set_index("metric")
    assert m.loc["parsed_ok", "value"] == 1.0  # every answered item parsed; the failures are not scored
    assert (m["n"] == 3).all() and (m["n_errors"] == 3).all()
    assert res.status == "degraded"
    r = load(results_root)
    items = r.items
    assert (items["error"] != "").sum() == 3 and not items.loc[items["error"] != "", "parsed_ok"].any()
    run = r.runs.iloc[0]
    assert run.status == "degraded" and run.summary["n_errors"] == 3 and run.summary["n_answered"] == 3
    assert run_metrics(res.run_id, r).set_index("metric").loc["parsed_ok", "n_errors"] == 3


def test_an_errored_item_is_not_a_wrong_answer(results_root):
    """The same replies with and without failures in between give the same accuracy on the
    items that were answered; with a higher error limit the run is completed."""
    wl = load_workload("ticket-classification")
    with FakeServer(FakeConfig(status=500, fail_every=3, chunks=1, piece="billing")) as fake:
        res = evaluate(_fake_target(fake), wl, limit=12, concurrency=1, progress=False, seed=2, max_error_rate=0.5)
    items = load(results_root).items.set_index("item_id")
    ok = items[items["error"] == ""]
    chosen = {it["id"]: it for it in wl.selected(12, seed=2, split="test")}
    expected = sum(chosen[i]["reference"] == "billing" for i in ok.index) / len(ok)
    m = res.metrics.set_index("metric")
    assert res.status == "completed" and m.loc["accuracy", "n_errors"] == 12 - len(ok) == 4
    assert m.loc["accuracy", "value"] == pytest.approx(expected)


def test_retrieval_against_fake_embeddings(results_root):
    with FakeServer(FakeConfig(embedding_dim=16)) as fake:
        res = evaluate(_fake_target(fake), "policy-retrieval", limit=5, progress=False)
    items = load(results_root).items
    assert len(items) == 5 and all(len(json.loads(o)) == 10 for o in items["output"])
    assert set(res.metrics["metric"]) == {"recall_at_1", "recall_at_5", "mrr", "parsed_ok"}


def _write_run(root, target, outputs):
    with RunWriter(kind="quality", target=target, engine="external", model="m", params={}, root=root,
                   hardware="test", host={}, workload="ticket-classification") as run:
        for iid, out in outputs.items():
            run.append("items", {"workload": "ticket-classification", "item_id": iid, "output": out,
                                 "parsed_ok": True, "scores": {}, "error": ""})
    return run.run_id


def test_compare_by_hand(tmp_path):
    wl = load_workload("ticket-classification")
    its = wl.split("test")[:16]
    wrong = lambda it: "billing" if it["reference"] != "billing" else "technical"
    # A right on all 16; B right on the first 10 only -> b = 6 discordant, c = 0
    a = {it["id"]: it["reference"] for it in its}
    b = {it["id"]: (it["reference"] if k < 10 else wrong(it)) for k, it in enumerate(its)}
    b["not-in-a"] = "billing"
    ra, rb = _write_run(tmp_path, "A", a), _write_run(tmp_path, "B", b)
    t = compare(ra, rb, load(tmp_path)).set_index("metric")
    row = t.loc["accuracy"]
    assert (row["a"], row["b"], row["n"]) == (1.0, 10 / 16, 16)
    assert row["diff"] == pytest.approx(6 / 16) and (row["a_only"], row["b_only"]) == (6, 0)
    assert row["test"] == "McNemar exact" and row["p_value"] == pytest.approx(2 * 0.5 ** 6)
    assert t.loc["macro_f1", "test"] == "paired bootstrap"
    with pytest.raises(EvalError, match="not found"):
        compare(ra, "nope", load(tmp_path))


def test_stored_outputs_count_as_evidence_on_the_test_split_only(tmp_path):
    """A run that answered train items right and test items wrong: re-scored evidence
    (rescore, compare) sees only the test items; run_metrics re-scores the run's own split
    (all items for a run written before splits), so it still matches the run's summary."""
    from workbench.measure.evaluate import rescore

    wl = load_workload("ticket-classification")
    train, test = wl.split("train")[:10], wl.split("test")[:6]
    wrong = lambda it: "billing" if it["reference"] != "billing" else "technical"
    outs = {**{it["id"]: it["reference"] for it in train}, **{it["id"]: wrong(it) for it in test}}
    ra = _write_run(tmp_path, "A", outs)
    r = load(tmp_path)
    items, scored, n_errors = rescore(wl, r.items)
    assert {it["id"] for it in items} == {it["id"] for it in test}
    assert all(s.scores["correct"] == 0 for s in scored) and n_errors == 0
    all_items, _, _ = rescore(wl, r.items, "all")
    assert len(all_items) == 16
    assert run_metrics(ra, r).set_index("metric").loc["accuracy", "value"] == pytest.approx(10 / 16)
    rb = _write_run(tmp_path, "B", {it["id"]: it["reference"] for it in train + test})
    t = compare(ra, rb, load(tmp_path)).set_index("metric")
    assert (t.loc["accuracy", "a"], t.loc["accuracy", "b"], t.loc["accuracy", "n"]) == (0.0, 1.0, 6)
    with pytest.raises(EvalError, match="no answered items of split 'test'"):
        compare(_write_run(tmp_path, "C", {it["id"]: "billing" for it in train}),
                _write_run(tmp_path, "D", {it["id"]: "billing" for it in train}), load(tmp_path))


# ------------------------------------------------------------------ real engines, small subsets
GENERATIVE = ["ticket-classification", "intent-routing", "invoice-extraction", "incident-summarization",
              "meeting-structured"]


def _check(res, n):
    m = res.metrics.set_index("metric")
    assert (m["n"] == n).all() and m["value"].notna().all()
    items = load(res.run_dir).items
    assert len(items) == n and (items["error"] == "").all() and items["prompt_tokens"].notna().all()


@pytest.mark.engines
@pytest.mark.parametrize("workload", GENERATIVE)
def test_workloads_on_vllm(vllm_engine, results_root, workload):
    _check(evaluate(vllm_engine, workload, limit=5, concurrency=5, progress=False), 5)


@pytest.mark.engines
@pytest.mark.parametrize("workload", GENERATIVE)
def test_workloads_on_llamacpp(llamacpp_engine, results_root, workload):
    _check(evaluate(llamacpp_engine, workload, limit=5, concurrency=1, progress=False), 5)


@pytest.mark.engines
def test_retrieval_on_llamacpp_embeddings(results_root):
    res = evaluate("local-llamacpp-embed", "policy-retrieval", limit=5, progress=False)
    _check(res, 5)



@pytest.mark.engines
def test_a_target_name_reuses_the_detached_engine(tmp_path, monkeypatch):
    from workbench.serving import client, detached, engines

    monkeypatch.setenv("WORKBENCH_CACHE_DIR", str(tmp_path))  # engine state of this test only
    started = engines.start_engine("local-llamacpp", detach=True)  # as `workbench engine start`
    try:
        with engines.endpoint("local-llamacpp") as endpoint:  # how evaluate and measure resolve a name
            assert (endpoint.base_url, endpoint.detached, endpoint.pid, endpoint.target.name) == (
                started.base_url, True, started.pid, "local-llamacpp")
            assert endpoint.exited() is None and endpoint.log_path == started.log_path
        assert client.models_ready(started.base_url, timeout=30) is not None  # left running
    finally:
        assert detached.stop_detached("local-llamacpp")


def test_interrupted_run_keeps_what_it_measured(results_root):
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        with FakeServer(FakeConfig(chunks=1, piece="billing", header_delay_s=0.2)) as fake:
            signal.setitimer(signal.ITIMER_REAL, 1.1)
            with pytest.raises(KeyboardInterrupt):
                evaluate(_fake_target(fake), "ticket-classification", limit=30, concurrency=1, progress=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    r = load(results_root)
    assert r.runs.iloc[0].status == "interrupted"
    assert 1 <= len(r.items) < 30
    from workbench.measure.evaluate import quality_table

    q = quality_table(r).set_index("metric")
    assert q.loc["parsed_ok", "n"] == len(r.items) and q.loc["parsed_ok", "status"] == "interrupted"


def test_retrieval_without_embeddings_fails_clearly(results_root):
    with FakeServer(FakeConfig()) as fake:
        target = Target(name="no-embed", engine="external", model="fake", base_url=fake.base_url + "/nothing-here")
        with pytest.raises(EvalError, match="embedding the corpus failed at passage 'pol-000'"):
            evaluate(target, "policy-retrieval", limit=3, progress=False)
    assert not results_root.exists() or not any(results_root.iterdir())


def test_decide_leaves_out_a_degraded_quality_run_and_says_so(results_root):
    """Half the items errored: the run is degraded, so the decision neither scores it nor uses it
    as measured quality; its notes name the run and why. A clean run of the same target counts."""
    from workbench.decide.quality import measured_quality
    from workbench.decide.pipeline import decide_workloads

    wl = load_workload("meeting-structured")
    with FakeServer(FakeConfig(status=500, fail_every=2, chunks=1, piece='{"title": "x"}')) as fake:
        bad = evaluate(_fake_target(fake), wl, limit=6, concurrency=1, progress=False)
    assert bad.status == "degraded"
    r = load(results_root)
    assert measured_quality(r, wl, targets=["fake"]) is None
    ctx = decide_workloads([wl.name], results_paths=[str(results_root)], include_projected=False)
    notes = ctx.built[wl.name].notes
    assert any(f"left out run {bad.run_id} (quality, fake): degraded" in n for n in notes), notes
    from workbench.present.dashboard import Dashboard, load_data  # the dashboard says so too

    dash = Dashboard(load_data([wl.name], results_paths=[str(results_root)], include_projected=False), wl.name)
    assert "Not used as evidence" in dash.provenance.value and bad.run_id in dash.provenance.value
    with FakeServer(FakeConfig(chunks=1, piece='{"title": "x"}')) as fake:
        good = evaluate(_fake_target(fake), wl, limit=6, concurrency=1, progress=False)
    q = measured_quality(load(results_root), wl, targets=["fake"])
    assert good.status == "completed" and q is not None and q.n_items == 6 and bad.run_id not in q.source
