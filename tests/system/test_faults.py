"""Fault injection: the fault proxy (workbench.serving.faultproxy) sits between the load harness and a real
llama.cpp engine and injects 429 (with and without Retry-After), 500, 503, a connection reset
mid-stream, a stream that stalls past the client's timeout and a slow first token; a separate
engine is killed mid-run. Every failure must be a row with its status, retries happen only when the
target asks for them (bounded, with backoff), and no response the proxy delivered complete is lost.

The engine is a private llama.cpp server started for this module: the shared one serves other
users, whose requests would queue ahead of ours in its single slot and blur the timings."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from workbench.inputs.targets import Deployment, Target
from workbench.measure.harness import measure
from workbench.results.store import load, validate
from workbench.serving import engines
from workbench.serving.faultproxy import Fault, FaultProxy

pytestmark = pytest.mark.engines

NO_FORCING = {"ignore_eos": False, "min_tokens": False, "stream_usage": False}


@pytest.fixture(scope="module")
def engine():
    with engines.running("local-llamacpp", quiet=True) as e:
        yield e


def _target(base_url: str, model: str, retries: int = 0) -> Target:
    return Target(name="faulty-llamacpp", engine="external", model=model, base_url=base_url,
                  capabilities=NO_FORCING, retries=retries,
                  deployment=Deployment(kind="self-hosted", engine="llama.cpp"))


def _measure(target, root, n: int, *, concurrency: int = 1, timeout_s: float = 60):
    return measure(target, profile=f"concurrency={concurrency}", requests_per_point=n, warmup=0, max_tokens=4,
                   input_tokens=16, results_root=root, progress=False, timeout_s=timeout_s)


def _posts(proxy: FaultProxy):
    return [e for e in proxy.exchanges if e.path.endswith("/completions")]


def _report(title: str, rows, proxy: FaultProxy) -> None:
    """Print sent / completed / failed / lost per fault kind (the figures in docs/hardening.md)."""
    ex = _posts(proxy)
    print(f"\n{title}\n{'fault':<32}{'sent':>5}{'completed':>10}{'failed':>7}{'lost':>5}")
    kinds = sorted({e.fault for e in ex})
    for k in kinds:
        idx = [e.index for e in ex if e.fault == k]
        mine = rows.iloc[idx] if len(rows) == len(ex) else rows.iloc[0:0]
        delivered = sum(ex[i].delivered_complete for i in idx)
        print(f"{k:<32}{len(idx):>5}{int(mine['ok'].sum()):>10}{int((~mine['ok']).sum()):>7}"
              f"{delivered - int(mine['ok'].sum()):>5}")


def _check_nothing_lost(rows, proxy: FaultProxy) -> None:
    """Every request the proxy received is a row; every complete delivery is an ok row."""
    counts = {"received": len(_posts(proxy)), "delivered_complete": sum(e.delivered_complete for e in _posts(proxy))}
    assert len(rows) == counts["received"], (len(rows), proxy.ledger())
    assert int(rows["ok"].sum()) == counts["delivered_complete"], (rows[["ok", "http_status", "error"]], proxy.ledger())


def test_each_fault_is_a_row_with_its_status_and_nothing_is_lost(engine, tmp_path):
    plan = {1: Fault.http(429, retry_after_s=0.5), 2: Fault.http(429), 3: Fault.http(500), 4: Fault.http(503),
            5: Fault.reset(after_events=3), 6: Fault.stall(after_events=2), 7: Fault.slow_first(1.5)}
    with FaultProxy(engine.base_url, plan) as proxy:
        res = _measure(_target(proxy.base_url, engine.target.model), tmp_path, 8, timeout_s=15)
    r = load(tmp_path)
    validate(r)
    rows = r.requests.sort_values("request_id").reset_index(drop=True)
    _report("faults, no retries (target retries: 0)", rows, proxy)
    # 6 of 8 requests failed: a run of faults is never a clean measurement
    assert res.status == "degraded" and r.runs.iloc[0]["status"] == "degraded"
    _check_nothing_lost(rows, proxy)
    assert set(rows["attempt"]) == {0}  # retries are off unless the target asks: one row per request
    # concurrency 1: row i is the proxy's request i
    assert list(rows["http_status"]) == [200, 429, 429, 500, 503, 200, 200, 200]
    assert list(rows["ok"]) == [True, False, False, False, False, False, False, True]
    assert rows.loc[1:4, "error"].str.contains("injected fault").all()
    assert "stream cut" in rows.loc[5, "error"] and len(rows.loc[5, "chunk_times_s"]) >= 1
    assert "timeout after 15 s" in rows.loc[6, "error"]
    assert rows.loc[7, "ttft_ms"] >= 1500
    # Retry-After is honoured by the closed-loop worker even without retries: it waits before its next send
    assert rows.loc[2, "sent_s"] - rows.loc[1, "sent_s"] >= 0.5
    assert rows.loc[3, "sent_s"] - rows.loc[2, "sent_s"] < 0.5  # no Retry-After, no wait
    point = res.summary.iloc[0]
    assert (point["completed"], point["failed"]) == (2, 6)


def test_retries_are_bounded_with_backoff_and_honour_retry_after(engine, tmp_path):
    plan = {0: Fault.http(429, retry_after_s=0.3),                      # request 0: retried once, then ok
            2: Fault.http(503), 3: Fault.http(503), 4: Fault.http(503),  # request 1: gives up after 2 retries
            5: Fault.reset(after_events=3),                             # request 2: a cut stream is not re-sent
            6: Fault.http(500)}                                         # request 3: backoff 0.5 s, then ok
    with FaultProxy(engine.base_url, plan) as proxy:
        res = _measure(_target(proxy.base_url, engine.target.model, retries=2), tmp_path, 4)
    rows = load(tmp_path).requests.sort_values("sent_s").reset_index(drop=True)
    _report("faults, target retries: 2", rows, proxy)
    _check_nothing_lost(rows, proxy)
    assert list(zip(rows["request_id"], rows["attempt"], rows["http_status"], rows["ok"])) == [
        (0, 0, 429, False), (0, 1, 200, True),
        (1, 0, 503, False), (1, 1, 503, False), (1, 2, 503, False),
        (2, 0, 200, False),
        (3, 0, 500, False), (3, 1, 200, True)]
    gap = rows["sent_s"].diff()
    assert 0.3 <= gap[1] < 2.3  # Retry-After: 0.3 s
    assert 0.5 <= gap[3] < 2.5 and 1.0 <= gap[4] < 3.0  # no Retry-After: 0.5 s, then 1.0 s
    assert 0.5 <= gap[7] < 2.5
    assert load(tmp_path).runs.iloc[0]["params"]["retries"] == 2
    point = res.summary.iloc[0]
    assert (point["completed"], point["failed"]) == (2, 6)  # refusals stay counted as failures


def test_engine_killed_mid_run_keeps_every_finished_request(tmp_path):
    eng = engines.start_engine("local-llamacpp", quiet=True)
    try:
        with FaultProxy(eng.base_url) as proxy:  # no faults: the proxy only counts what it delivers
            target = _target(proxy.base_url, eng.target.model)
            out: dict = {}
            runner = threading.Thread(target=lambda: out.setdefault("res", _measure(target, tmp_path, 12,
                                                                                    concurrency=2)))
            runner.start()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and sum(e.delivered_complete for e in _posts(proxy)) < 2:
                time.sleep(0.05)
            os.killpg(eng.pid, signal.SIGKILL)  # the engine and its process group, mid-run
            runner.join(120)
            assert not runner.is_alive()
        r = load(tmp_path)
        validate(r)
        rows = r.requests.sort_values("request_id").reset_index(drop=True)
        _report("engine killed mid-run (SIGKILL to its process group)", rows, proxy)
        _check_nothing_lost(rows, proxy)
        # measured through a proxy (an external target): no process to watch, but most requests
        # failed, so the run is degraded, never a clean measurement
        assert out["res"].status == "degraded" and r.runs.iloc[0]["status"] == "degraded"
        assert len(rows) == 12 and 2 <= rows["ok"].sum() < 12
        dead = rows[~rows["ok"]]
        assert (dead["http_status"].isin([0, 200])).all() and (dead["error"] != "").all()
        assert out["res"].summary.iloc[0]["completed"] == rows["ok"].sum()
    finally:
        eng.stop()
