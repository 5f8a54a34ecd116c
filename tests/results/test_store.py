import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from workbench.results import store
from workbench.results.schema import TABLES


def _request_row(i, ok=True):
    return {
        "request_id": i, "phase": "measure", "load_point": "concurrency=1", "concurrency": 1,
        "request_rate": None, "endpoint": "chat", "item_id": None, "scheduled_s": 0.0,
        "sent_s": 0.1 * i, "chunk_times_s": [0.05, 0.07], "ttft_ms": 50.0, "e2el_ms": 70.0,
        "prompt_tokens": 10, "output_tokens": 2, "token_source": "usage", "max_tokens": 2,
        "forced_length": False, "http_status": 200, "error": "", "ok": ok,
    }


def test_run_round_trip_matches_schema(results_root):
    with store.RunWriter(kind="load", target="t", engine="vllm", model="m", hardware="cpu",
                         params={"profile": "concurrency=1"}) as run:
        for i in range(3):
            run.append("requests", _request_row(i))
        run.append("samples", {"t_s": 0.5, "source": "process", "device": "engine",
                               "metric": "rss_gib", "value": 1.5})
    res = store.load(results_root)
    store.validate(res)
    assert len(res.runs) == 1 and len(res.requests) == 3 and len(res.samples) == 1
    r = res.runs.iloc[0]
    assert r.status == "completed" and r.provenance == "measured" and r.run_id == run.run_id
    assert r.host["cpu_count"] == os.cpu_count()
    assert res.requests.chunk_times_s.iloc[0] == [0.05, 0.07]


def test_failed_run_is_marked_and_keeps_rows(results_root):
    with pytest.raises(RuntimeError):
        with store.RunWriter(kind="load", target="t", engine="vllm", model="m", hardware="cpu") as run:
            run.append("requests", _request_row(0))
            raise RuntimeError("boom")
    res = store.load(results_root)
    assert res.runs.status.tolist() == ["failed"] and "boom" in res.runs.summary.iloc[0]["error"]
    assert len(res.requests) == 1


def test_load_merges_runs_copied_from_other_machines(tmp_path):
    roots = []
    for host in ("a", "b"):
        root = tmp_path / host
        with store.RunWriter(kind="load", target=host, engine="vllm", model="m", hardware="cpu",
                             root=root, host={"cpu_model": host}) as run:
            run.append("requests", _request_row(0))
        roots.append(root)
    merged = tmp_path / "merged"
    for root in roots:  # `cp -r a/* b/* merged/`: run directories and the Parquet datasets
        shutil.copytree(root, merged, dirs_exist_ok=True)
    res = store.load(merged)
    assert sorted(res.runs.target) == ["a", "b"] and len(res.requests) == 2
    assert set(res.requests.run_id) == set(res.runs.run_id)


def test_torn_last_line_is_ignored(results_root):
    with store.RunWriter(kind="load", target="t", engine="vllm", model="m", hardware="cpu") as run:
        run.append("requests", _request_row(0))
    with open(run.dir / "requests.jsonl", "a") as f:
        f.write('{"run_id": "x", "request_id": 1, "pha')  # a crash mid-write
    assert len(store.load(results_root).requests) == 1


def test_secrets_are_refused(results_root, monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", "acme-secret-value-123456")
    with pytest.raises(store.StoreError, match="ACME_API_KEY"):
        store.RunWriter(kind="load", target="t", engine="e", model="m", hardware="cpu",
                        params={"header": "acme-secret-value-123456"})
    with pytest.raises(store.StoreError, match="API key"):
        store.RunWriter(kind="load", target="t", engine="e", model="m", hardware="cpu",
                        params={"k": "sk-" + "a" * 30})


def test_schema_names_a_unit_for_every_timed_or_counted_column():
    for table in TABLES.values():
        for name, col in table.items():
            if name.endswith(("_ms", "_s")) or name.endswith("_tokens"):
                assert col.unit, f"{name} has no unit"


def test_interrupted_run_keeps_completed_rows_on_disk(tmp_path):
    """Ctrl-C in the middle of a run: every row written before it is on disk, status 'interrupted'."""
    script = textwrap.dedent(f"""
        import time, sys
        from workbench.results.store import RunWriter
        with RunWriter(kind="load", target="t", engine="e", model="m", hardware="cpu", root={str(tmp_path)!r}) as run:
            for i in range(10_000):
                run.append("requests", {{"request_id": i, "ok": True}})
                if i == 5:
                    print("ready", flush=True)
                time.sleep(0.01)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=20)
    (run_dir,) = store.find_run_dirs(tmp_path)
    meta = json.loads((run_dir / "run.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    assert meta["status"] == "interrupted"
    assert len(rows) >= 6 and [r["request_id"] for r in rows] == list(range(len(rows)))
