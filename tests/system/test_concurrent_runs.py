"""Two runs writing to the same results root at the same time (two processes, same target, same
second): both complete, a reader loading the root while they write never fails, and afterwards
every row of both is there, parseable and in its own run."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from workbench.results.store import load, validate
from workbench.serving.fakeserver import FakeConfig, FakeServer

N = 40


def test_two_processes_share_a_results_root(tmp_path):
    root = tmp_path / "results"
    with FakeServer(FakeConfig(chunks=8, chunk_delay_s=0.005)) as fake:
        cmd = [sys.executable, "-m", "workbench.cli", "measure", "--target", fake.base_url, "--profile",
               "concurrency=4", "--requests", str(N), "--warmup", "0", "--output-tokens", "8",
               "--results-root", str(root), "--no-progress"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        reads = 0
        while any(p.poll() is None for p in procs):  # a reader in the middle of the writes
            r = load(root)
            validate(r)
            assert r.requests["run_id"].isin(r.runs["run_id"]).all()
            reads += 1
            time.sleep(0.05)
        outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert reads >= 1
    r = load(root)
    validate(r)
    assert len(r.runs) == 2 and r.runs["run_id"].nunique() == 2
    assert set(r.runs["status"]) == {"completed"}
    assert r.runs["started_at"].max() < r.runs["ended_at"].min()  # they really ran at the same time
    assert r.runs["run_id"].str.contains(f"127.0.0.1:{fake.port}".replace(":", "-")).all()  # same target, same prefix
    assert r.requests.groupby("run_id").size().tolist() == [N, N]
    assert r.requests["ok"].all()
    for run_id, rows in r.requests.groupby("run_id"):
        assert sorted(rows["request_id"]) == list(range(N))  # nothing lost, nothing from the other run
    for f in root.glob("*/*.jsonl"):  # every line whole: no interleaved or torn writes
        for line in f.read_text(encoding="utf-8").splitlines():
            json.loads(line)
    for run in r.runs.itertuples():
        assert run.summary["points"][0]["completed"] == N
