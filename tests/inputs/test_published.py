"""Published measurements: the shipped file loads, covers what the issue asks, and a bad row is
one clear error naming its line and field."""

from __future__ import annotations

import csv
import io

import pytest

from workbench.errors import WorkbenchError
from workbench.inputs.published import PUBLISHED_FILE, PublishedError, load_published


def test_shipped_file_has_ten_published_points_of_real_engines_on_real_gpus():
    df = load_published()
    assert len(df) >= 10 and set(df.provenance) == {"published"}
    assert set(df.engine) <= {"vllm", "trtllm", "sglang"} and {"vllm", "trtllm"} <= set(df.engine)
    assert {"H100-SXM", "H200", "B200"} <= set(df.gpu)
    assert df.source.str.len().min() > 20 and df.engine_version.str.len().min() > 0
    # an offline run has no concurrency; every other one has a positive one
    assert df.loc[df["mode"] == "offline", "concurrency"].isna().all()
    assert (df.loc[df["mode"] != "offline", "concurrency"] >= 1).all()


def test_a_figure_is_read_as_published(tmp_path):
    # the first TensorRT-LLM v0.6.1 row: Llama 2 7B, H100 FP8, batch 768, 128/128 -> 19,694 tok/s/GPU
    row = load_published().set_index("id").loc["trt061-l2-7b-1"]
    assert (row.model, row.gpu, row.engine_version, row.concurrency) == ("Llama-2-7B", "H100-SXM", "0.6.1", 768)
    assert (row.input_tokens, row.output_tokens, row.value, row.verified) == (128, 128, 19694.0, True)


@pytest.mark.parametrize("field,value,message", [
    ("provenance", "measured", "provenance 'measured', expected 'published'"),
    ("metric", "goodput", "metric 'goodput' is not one of"),
    ("unit", "ms", "unit 'ms' for output_tokens_per_s_per_gpu"),
    ("value", "fast", "not a number"),
    ("concurrency", "max", "concurrency 'max' goes with mode 'offline'"),
    ("source", "", "source is empty"),
])
def test_a_bad_row_names_its_line_and_field(tmp_path, field, value, message):
    lines = PUBLISHED_FILE.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    first = next(csv.DictReader(io.StringIO("\n".join(lines[:2]))))
    first[field] = value
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header)
    w.writeheader()
    w.writerow(first)
    bad = tmp_path / "m.csv"
    bad.write_text(buf.getvalue(), encoding="utf-8")
    with pytest.raises(PublishedError, match="m.csv line 2 \\(trt061-l2-7b-1\\)") as e:
        load_published(bad)
    assert message in str(e.value) and isinstance(e.value, WorkbenchError)


def test_a_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(PublishedError, match="no published measurements file"):
        load_published(tmp_path / "none.csv")
