"""Campaigns on a local Ray cluster (2 CPUs, 2 logical GPUs of type H100): cells land where
their resources are, their runs come back into the driver's store, and a worker killed in the
middle of a cell costs one recorded attempt, never a cell."""

import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from workbench.measure import campaign as cp
from workbench.measure import campaign_run as cr
from workbench.results import columnar, store
from workbench.serving.fakeserver import FakeConfig, FakeServer

RAY_SITE = Path(__file__).parent / "ray_site"


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(RAY_SITE), *([saved] if saved else [])])
    ray.init(num_cpus=2, num_gpus=2, resources={"accelerator_type:H100": 1}, include_dashboard=False,
             log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _campaign(tmp_path, targets, profiles, retries=1):
    lines = [f"  - {{name: {n}, engine: external, base_url: '{u}', model: fake, "
             f"deployment: {{kind: self-hosted, accelerator: {a}, count: 1}}}}" for n, u, a in targets]
    path = tmp_path / "campaign.yaml"
    path.write_text(f"name: r\nretries: {retries}\ntargets:\n" + "\n".join(lines) + "\nprofiles:\n"
                    + "".join(f"  {k}: {v}\n" for k, v in profiles.items()), encoding="utf-8")
    return cp.load_campaign(path)


def test_cells_run_as_ray_tasks_on_logical_gpus_and_come_back_to_the_store(ray_cluster, tmp_path):
    from workbench.measure.campaign_ray import RayExecutor

    with FakeServer(FakeConfig(chunks=4)) as fake:
        c = _campaign(tmp_path, [("gpu-cell", fake.base_url, "H100"), ("cpu-cell", fake.base_url, "CPU")],
                      {"c1": '{profile: "concurrency=1", requests_per_point: 3, output_tokens: 4, warmup: 0}',
                       "c2": '{profile: "concurrency=2", requests_per_point: 4, output_tokens: 4, warmup: 0}'})
        root = tmp_path / "store"
        ex = RayExecutor(root, c.name)
        assert ex.missing_resources(c.cells) == []
        table = cr.run_campaign(c, root=root, executor=ex, progress=False)
    assert list(table.status) == ["completed"] * 4 and list(table.attempts) == [1] * 4
    ledger = cr.read_ledger(root, "r")
    for rec in ledger.values():
        (attempt,) = rec["attempts"]
        assert attempt["executor"] == "ray" and attempt["placed"]["pid"] != os.getpid()
        assert len(attempt["placed"]["gpu_ids"]) == (1 if rec["target"] == "gpu-cell" else 0)
    res = store.load(root)
    assert len(res.runs) == 4 and set(res.runs.status) == {"completed"}
    assert all(columnar.mirrored_files(d) for d in store.find_run_dirs(root))  # written by the driver
    assert sorted(res.requests.groupby("run_id").size()) == [3, 3, 4, 4]
    h200 = _campaign(tmp_path, [("h200-cell", "http://127.0.0.1:9/v1", "H200")], {"c1": "concurrency=1"})
    assert ex.missing_resources(h200.cells) == ["h200-cell · synthetic @ c1: the cluster has no accelerator_type:H200"]


def _kill_once(prefix: str, killed: list, stop: threading.Event) -> None:
    """Kill -9 the Ray worker whose process title starts with ``prefix`` (once), as soon as
    its cell has been running for a second."""
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = p.info["cmdline"] or []
            if cmd and cmd[0].startswith(prefix):
                time.sleep(1.0)  # mid-cell: requests in flight, rows written
                p.kill()
                killed.append(p.info["pid"])
                return
        time.sleep(0.1)


def test_a_worker_killed_mid_cell_is_retried_and_nothing_is_lost(ray_cluster, tmp_path):
    from workbench.measure.campaign_ray import RayExecutor

    with FakeServer(FakeConfig(chunks=4)) as fast, FakeServer(FakeConfig(chunks=20, chunk_delay_s=0.1)) as slow:
        c = _campaign(tmp_path, [("slow", slow.base_url, "H100"), ("fast", fast.base_url, "CPU")],
                      {"c1": '{profile: "concurrency=1", requests_per_point: 3, output_tokens: 20, warmup: 0}'})
        root = tmp_path / "shared"
        victim = next(x for x in c.cells if x.target.name == "slow")
        killed, stop = [], threading.Event()
        killer = threading.Thread(target=_kill_once, args=(f"ray::cell-{victim.key}-1", killed, stop))
        killer.start()
        try:
            table = cr.run_campaign(c, root=root, executor=RayExecutor(root, c.name, shared_root=str(root)),
                                    progress=False)
        finally:
            stop.set()
            killer.join()
    assert killed, "the slow cell's worker was never seen"
    by = table.set_index("what")
    assert by.loc["slow · synthetic @ c1", "status"] == "completed" and by.loc["slow · synthetic @ c1", "attempts"] == 2
    assert by.loc["fast · synthetic @ c1", "status"] == "completed" and by.loc["fast · synthetic @ c1", "attempts"] == 1
    first = cr.read_ledger(root, "r")[victim.key]["attempts"][0]
    assert first["status"] == "failed" and first["error"].startswith(("WorkerCrashedError", "OwnerDiedError",
                                                                       "RayTaskError")), first["error"]
    res = store.load(root)
    # the killed attempt's run stays in the shared store, with what it wrote before it died
    assert sorted(res.runs.status) == ["completed", "completed", "running"]
    assert len(res.requests[res.runs.set_index("run_id").loc[res.requests.run_id, "status"].values == "completed"]) == 6


@pytest.mark.engines
def test_a_cell_on_the_embedded_engine_starts_it_on_the_worker(ray_cluster, tmp_path):
    from workbench.measure.campaign_ray import RayExecutor

    path = tmp_path / "campaign.yaml"
    path.write_text("name: e\ntargets: [local-llamacpp]\nprofiles:\n"
                    "  c1: {profile: 'concurrency=1', requests_per_point: 2, max_tokens: 8, warmup: 0}\n")
    c = cp.load_campaign(path)
    root = tmp_path / "store"
    table = cr.run_campaign(c, root=root, executor=RayExecutor(root, c.name), progress=False)
    assert list(table.status) == ["completed"], table.error.tolist()
    (attempt,) = cr.read_ledger(root, "e")[c.cells[0].key]["attempts"]
    res = store.load(root)
    run = res.runs.iloc[0]
    assert run.engine == "llamacpp" and run.params["campaign"] == "e" and run.params["base_url"].startswith("http://127.0.0.1")
    assert attempt["placed"]["pid"] != os.getpid() and len(res.requests) == 2 and res.requests.ok.all()
