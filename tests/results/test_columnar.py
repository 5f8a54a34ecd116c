"""The Parquet mirror of the store: written when a run finishes, read by load() where it is up
to date, never trusted over the JSON Lines it was made from."""

import json
import math
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from workbench.results import columnar, store


def _row(i, ok=True):
    return {
        "request_id": i, "phase": "measure", "load_point": "concurrency=1", "concurrency": 1,
        "request_rate": None, "endpoint": "chat", "item_id": None, "scheduled_s": 0.0,
        "sent_s": 0.1 * i, "chunk_times_s": [0.05, 0.07 + i], "ttft_ms": 50.0, "e2el_ms": 70.0 + i,
        "prompt_tokens": 10, "output_tokens": 2, "token_source": "usage", "max_tokens": 2,
        "forced_length": False, "http_status": 200, "error": "", "ok": ok,
    }


def _records(df):
    """Rows as plain Python values: lists as lists, missing values (None, NaN, NA) as None."""
    def plain(v):
        if isinstance(v, (list, tuple)) or hasattr(v, "tolist") and not isinstance(v, (int, float)):
            return list(v)
        return None if v is None or v is pd.NA or isinstance(v, float) and math.isnan(v) else v
    return [{k: plain(v) for k, v in r.items()} for r in df.to_dict("records")]


def _run(root, n=3, model="org/m 1", hardware="CPU (x86)"):
    with store.RunWriter(kind="load", target="t", engine="vllm", model=model, hardware=hardware,
                         root=root) as run:
        run.extend("requests", (_row(i, ok=i != 1) for i in range(n)))
        run.append("samples", {"t_s": 0.5, "source": "process", "device": "engine",
                               "metric": "rss_gib", "value": 1.5})
        run.append("items", {"workload": "w", "item_id": "a", "output": "x", "parsed_ok": True,
                             "scores": {"correct": 1.0, "f1": 0.5}, "latency_ms": 3.0, "error": ""})
    return run


def test_a_finished_run_is_mirrored_as_hive_partitioned_parquet(tmp_path):
    run = _run(tmp_path)
    files = columnar.mirrored_files(run.dir)
    assert files is not None and set(files) == {"requests", "samples", "items"}
    rel = files["requests"].relative_to(tmp_path).as_posix()
    assert rel.startswith("parquet/requests/engine=vllm/model=org%2Fm%201/hardware=CPU%20%28x86%29/date=")
    dataset = ds.dataset(tmp_path / "parquet" / "requests", format="parquet", partitioning="hive")
    rows = dataset.to_table().to_pylist()
    assert [r["model"] for r in rows] == ["org/m 1"] * 3 and [r["ok"] for r in rows] == [True, False, True]
    assert rows[2]["chunk_times_s"] == [0.05, 2.07]


def test_load_from_parquet_equals_load_from_json_lines(tmp_path):
    runs = [_run(tmp_path, n=n) for n in (3, 1, 5)]
    with store.RunWriter(kind="load", target="t", engine="vllm", model="m", hardware="cpu", root=tmp_path) as r:
        r.extend("requests", [{**_row(0, ok=False), "chunk_times_s": []}, {**_row(1), "chunk_times_s": [0.25]}])
    runs.append(r)
    from_parquet = store.load(tmp_path)
    assert from_parquet.requests.chunk_times_s.array._pa_array.num_chunks == 1  # one buffer, fast to select from
    for run in runs:
        (run.dir / columnar.MARKER).unlink()  # no mirror: the JSON Lines path
    from_jsonl = store.load(tmp_path)
    store.validate(from_parquet)
    for t in ("requests", "samples", "items"):
        a, b = getattr(from_parquet, t), getattr(from_jsonl, t)
        assert list(a.columns) == list(b.columns)
        assert _records(a) == _records(b), t
    assert from_parquet.items.scores.iloc[0] == {"correct": 1.0, "f1": 0.5}


def test_load_reads_the_parquet_file_not_the_json_lines(tmp_path):
    run = _run(tmp_path)
    path = columnar.mirrored_files(run.dir)["requests"]
    table = pq.read_table(path)
    i = table.schema.get_field_index("e2el_ms")
    pq.write_table(table.set_column(i, "e2el_ms", pa.array([999.0] * len(table))), path)
    assert store.load(tmp_path).requests.e2el_ms.tolist() == [999.0] * 3


def test_a_json_lines_file_that_grew_after_mirroring_is_read_again(tmp_path):
    run = _run(tmp_path)
    with open(run.dir / "requests.jsonl", "a") as f:
        f.write(json.dumps({"run_id": run.run_id, **_row(9)}) + "\n")
    assert columnar.mirrored_files(run.dir) is None
    assert store.load(tmp_path).requests.request_id.tolist() == [0, 1, 2, 9]


def test_runs_without_a_mirror_and_with_one_load_together_and_mirror_backfills(tmp_path):
    a, b = _run(tmp_path, n=2), _run(tmp_path, n=3)
    (a.dir / columnar.MARKER).unlink()
    shutil.rmtree(tmp_path / "parquet" / "requests")  # b's copy is gone too
    res = store.load(tmp_path)
    assert len(res.requests) == 5 and set(res.requests.run_id) == {a.run_id, b.run_id}
    assert sorted(store.mirror(tmp_path)) == sorted([a.dir, b.dir])
    assert columnar.mirrored_files(a.dir) and columnar.mirrored_files(b.dir)
    assert store.mirror(tmp_path) == []  # nothing left to do
    assert len(store.load(tmp_path).requests) == 5


def test_a_run_still_running_is_not_mirrored(tmp_path):
    run = store.RunWriter(kind="load", target="t", engine="vllm", model="m", hardware="cpu", root=tmp_path)
    run.append("requests", _row(0))
    assert store.mirror(tmp_path) == [] and columnar.mirrored_files(run.dir) is None
    assert len(store.load(tmp_path).requests) == 1
    run.finish()
    assert columnar.mirrored_files(run.dir) is not None


def test_an_empty_run_mirrors_and_loads(tmp_path):
    with store.RunWriter(kind="load", target="t", engine="vllm", model="m", hardware="cpu", root=tmp_path):
        pass
    res = store.load(tmp_path)
    store.validate(res)
    assert len(res.runs) == 1 and len(res.requests) == 0


def test_sql_over_mirrored_and_unmirrored_runs_counts_each_row_once(tmp_path):
    from workbench.results import query

    a, b = _run(tmp_path, n=2), _run(tmp_path, n=3, model="other")
    (a.dir / columnar.MARKER).unlink()  # a is read from JSON Lines, b from Parquet
    df = query.query("SELECT model, count(*) AS n, sum(ok::INT) AS ok FROM requests GROUP BY 1 ORDER BY 1",
                     [tmp_path])
    assert df.to_dict("records") == [{"model": "org/m 1", "n": 2, "ok": 1}, {"model": "other", "n": 3, "ok": 2}]
    runs = query.query("SELECT run_id, status, params FROM runs ORDER BY run_id", [tmp_path])
    assert sorted(runs.run_id) == sorted([a.run_id, b.run_id]) and set(runs.status) == {"completed"}
    items = query.query("SELECT (scores->>'correct')::DOUBLE AS c FROM items", [tmp_path])
    assert items.c.tolist() == [1.0, 1.0]


def test_bad_sql_is_one_line_naming_the_views(tmp_path):
    import pytest

    from workbench.results import query

    _run(tmp_path)
    with pytest.raises(query.QueryError, match="views: runs, requests, samples, items"):
        query.query("SELECT nope FROM requests", [tmp_path])


def test_results_query_command_prints_the_answer(tmp_path, capsys):
    from workbench import cli

    _run(tmp_path, n=4)
    assert cli.main(["results", "query", "SELECT count(*) AS n FROM requests", "--root", str(tmp_path),
                     "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "4"]
    assert cli.main(["results", "query", "SELECT bad FROM requests", "--root", str(tmp_path)]) == 2


def test_load_points_from_the_parquet_copy_equal_those_from_json_lines(tmp_path):
    """The decision summarizes a run's requests whichever path load() took: Parquet gives
    chunk times as arrays, JSON Lines as lists, and both give the same inter-token latencies
    (a live run of `make demo` is mirrored, so its report reads the Parquet path)."""
    from workbench.measure.metrics import summarize

    runs = [_run(tmp_path, n=6), _run(tmp_path, n=4)]
    (runs[1].dir / columnar.MARKER).unlink()  # one run from each path, as with live runs beside data/results
    from_parquet = summarize(store.load(tmp_path).requests)
    for run in runs:
        (run.dir / columnar.MARKER).unlink(missing_ok=True)
    from_jsonl = summarize(store.load(tmp_path).requests)
    assert from_parquet.p50_itl_ms.iloc[0] == from_jsonl.p50_itl_ms.iloc[0] > 0
    cols = [c for c in from_jsonl.columns if c.endswith("_ms") or c in ("completed", "failed", "output_tokens_per_s")]
    pd.testing.assert_frame_equal(from_parquet[cols], from_jsonl[cols])
