"""The catalog: shipped files load and validate, dated lookups, overrides, LiteLLM import,
and clear errors that name the file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.inputs.catalog import CATALOG_DIR, TABLES, CatalogError, import_litellm, load_catalog

FIXTURE = Path(__file__).parents[1] / "data" / "litellm_prices_sample.json"


@pytest.fixture()
def cat():
    return load_catalog(catalog_dir=CATALOG_DIR, overrides_dir=None)


@pytest.fixture(autouse=True)
def _no_user_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_CATALOG_OVERRIDES", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./catalog-overrides/ from the caller's directory


def _copy_catalog(tmp_path: Path) -> Path:
    d = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, d, ignore=shutil.ignore_patterns("README.md"))
    return d


def test_shipped_catalog_has_the_required_rows(cat):
    gpus = set(cat.gpus.name)
    assert {"A10G", "L4", "L40S", "A100-40GB", "A100-80GB", "H100-SXM", "H100-PCIe", "H200"} <= gpus
    models = set(cat.models.name)
    assert {"SmolLM2-135M-Instruct", "Llama-2-7B", "Llama-2-13B", "Llama-2-70B", "Llama-3-8B",
            "Llama-3-70B", "Mistral-7B", "Mixtral-8x7B", "Qwen2-7B", "Gemma-2-9B", "Phi-3-mini"} <= models
    apis = set(cat.apis.model)
    assert {"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20240620", "claude-3-haiku-20240307",
            "gemini/gemini-1.5-pro", "gemini/gemini-1.5-flash", "text-embedding-3-small",
            "text-embedding-3-large", "text-embedding-ada-002", "groq/llama3-8b-8192"} <= apis
    assert "local-cpu" in set(cat.instances.instance)
    for name, frame in [("gpus", cat.gpus), ("instances", cat.instances), ("apis", cat.apis),
                        ("models", cat.models), ("quality", cat.quality)]:
        assert list(frame.columns[: len(TABLES[name][2])]) == list(TABLES[name][2]), name
        assert frame.as_of.str.match(r"^\d{4}-\d{2}-\d{2}$").all(), name
        assert (frame.source.str.len() > 0).all(), name


def test_unverified_research_numbers_are_flagged(cat):
    # research/cost.md marks these with a warning sign: they must not pass as verified
    assert cat.gpu("A10G")["verified"] is False
    assert cat.instance("p5.48xlarge", as_of="2026-11-29")["verified"] is False  # post-cut 55.04, code tables
    assert cat.instance("p5.48xlarge", as_of="2025-03-01")["verified"] is True  # pre-cut 98.32
    assert cat.model("Phi-3-mini")["verified"] is False
    assert cat.instance("local-cpu")["source"].startswith("assumed")
    q = cat.quality
    assert not q[(q.model == "claude-3-haiku-20240307") & (q.benchmark == "mmlu")].verified.iloc[0]


def test_gpu_and_model_lookups(cat):
    a10g = cat.gpu("a10g")
    assert (a10g["mem_gib"], a10g["mem_bw_tbps"]) == (24, 0.6)
    assert cat.gpu("H100-SXM")["fp8_tflops"] == 1979
    assert cat.gpu("A100-80GB")["fp8_tflops"] is None
    llama = cat.model("meta-llama/Meta-Llama-3-8B")
    assert (llama["name"], llama["layers"], llama["kv_heads"], llama["head_dim"]) == ("Llama-3-8B", 32, 8, 128)
    smol = cat.model("SmolLM2-135M-Instruct")
    assert (smol["layers"], smol["hidden"], smol["heads"], smol["kv_heads"], smol["tied_embeddings"]) == (30, 576, 9, 3, True)
    mixtral = cat.model("Mixtral-8x7B")
    assert (mixtral["experts"], mixtral["experts_per_token"], mixtral["active_params_b"]) == (8, 2, 12.88)


def test_instance_prices_are_dated(cat):
    g5 = cat.instance("g5.xlarge")
    assert (g5["usd_per_hour"], g5["gpu"], g5["gpu_count"], g5["cloud"]) == (1.006, "A10G", 1, "aws")
    # the June 2025 AWS GPU price cut
    assert cat.instance("p5.48xlarge", as_of="2025-05-31")["usd_per_hour"] == 98.32
    assert cat.instance("p5.48xlarge", as_of="2025-06-01")["usd_per_hour"] == 55.04
    assert cat.instance("p4d.24xlarge", pricing="reserved", as_of="2024-12-01")["usd_per_hour"] == 14.75
    # after the Capacity Block window, the reserved price is the labelled assumption
    assert cat.instance("p4d.24xlarge", pricing="reserved", as_of="2026-01-01")["source"].startswith("assumed")
    with pytest.raises(CatalogError, match="no price in force on 2024-12-31"):
        cat.instance("g6e.16xlarge", pricing="spot", as_of="2024-12-31")
    # spot and reserved are real options: published where a source gives them, else assumed
    assert cat.instance("g6e.16xlarge", pricing="spot")["usd_per_hour"] == 1.4678
    spot = cat.instance("g5.xlarge", pricing="spot")
    assert spot["source"].startswith("assumed") and spot["verified"] is False
    assert spot["usd_per_hour"] == pytest.approx(0.35 * 1.006, abs=1e-4)
    with pytest.raises(CatalogError, match="no spot price.*on-demand"):
        cat.instance("local-cpu", pricing="spot")
    with pytest.raises(CatalogError, match="pricing: must be one of"):
        cat.instance("g5.xlarge", pricing="cheap")


def test_current_gcp_and_azure_gpu_instances_are_shipped(cat):
    # GCP a4 (B200), g2 (L4) and a3-ultra (H200) from the verbatim SkyPilot GCP excerpt: VM + GPU rows
    a4 = cat.instance("a4-highgpu-8g", as_of="2026-11-30")
    assert (a4["cloud"], a4["gpu"], a4["gpu_count"], a4["usd_per_hour"], a4["verified"]) == ("gcp", "B200", 8, 90.216, True)
    assert "gcp_vms_excerpt.csv" in a4["source"]
    assert cat.instance("a4-highgpu-8g", pricing="spot", as_of="2026-11-30")["usd_per_hour"] == 32.6064
    g2 = cat.instance("g2-standard-4", as_of="2026-11-30")
    assert (g2["gpu"], g2["gpu_count"], g2["usd_per_hour"]) == ("L4", 1, 0.70683)
    assert cat.instance("g2-standard-96", as_of="2026-11-30")["gpu_count"] == 8
    # a3-ultra: the SkyPilot price supersedes the Jan-2026 survey's, which stays as history
    assert cat.instance("a3-ultragpu-8g", as_of="2026-11-30")["usd_per_hour"] == 86.75992
    assert cat.instance("a3-ultragpu-8g", as_of="2026-06-01")["usd_per_hour"] == 86.8
    spot = cat.instance("a3-ultragpu-8g", pricing="spot", as_of="2026-11-30")
    assert (spot["usd_per_hour"], spot["verified"]) == (40.81698, True)  # sourced, no longer assumed
    assert cat.instance("a3-ultragpu-8g", pricing="spot", as_of="2026-06-01")["source"].startswith("assumed")
    # Azure ND H100 v5 and ND MI300X v5: a secondary source only, so unverified
    for name, gpu, usd in [("Standard_ND96isr_H100_v5", "H100-SXM", 98.32),
                           ("Standard_ND96isr_MI300X_v5", "MI300X", 48.0)]:
        row = cat.instance(name, as_of="2026-11-30")
        assert (row["cloud"], row["gpu"], row["gpu_count"], row["usd_per_hour"]) == ("azure", gpu, 8, usd)
        assert row["verified"] is False
        for kind in ("spot", "reserved"):
            assert cat.instance(name, pricing=kind, as_of="2026-11-30")["source"].startswith("assumed")


def test_aws_spot_prices_from_skypilot_replace_the_assumption(cat):
    """Where the SkyPilot excerpt gives a us-east-1 spot price, it is shipped (verified) from
    its date, and the 35% assumption only answers for the dates before."""
    for name, usd in [("g6.xlarge", 0.349), ("p4de.24xlarge", 8.6505), ("p5.48xlarge", 10.2397),
                      ("p5en.48xlarge", 16.5551), ("p6-b200.48xlarge", 13.0338)]:
        spot = cat.instance(name, pricing="spot", as_of="2026-11-30")
        assert (spot["usd_per_hour"], spot["verified"]) == (usd, True), name
        assert "aws_vms_excerpt.csv" in spot["source"]
        assert cat.instance(name, pricing="spot", as_of="2026-11-29")["source"].startswith("assumed"), name
    # the excerpt confirms the post-cut on-demand figures the code tables gave (unverified before)
    assert cat.instance("p5.48xlarge", as_of="2026-11-30")["verified"] is True
    assert cat.instance("p5.48xlarge", as_of="2026-11-30")["usd_per_hour"] == 55.04
    # no spot price published for p5.4xlarge: the assumption stays, labelled
    assert cat.instance("p5.4xlarge", pricing="spot", as_of="2026-11-30")["source"].startswith("assumed")


def test_published_quality_of_current_open_models_is_checked_or_labelled(cat):
    q = cat.quality

    def row(model, benchmark):
        hit = q[(q.model == model) & (q.benchmark == benchmark)]
        assert len(hit) == 1, (model, benchmark, list(hit.protocol))
        return hit.iloc[0]

    # read in a source named in `source`: verified
    ds = row("DeepSeek-V3", "ifeval")
    assert (ds.score, bool(ds.verified)) == (86.1, True) and "DeepSeek-V3 README.md" in ds.source
    assert bool(row("Qwen3-30B-A3B", "gpqa-diamond").verified) and row("Qwen3-30B-A3B", "gpqa-diamond").score == 65.8
    assert row("Phi-4", "ifeval").score == 63.0 and bool(row("Phi-4", "ifeval").verified)
    # corrected to the card's own precision, and said so
    mistral = row("Mistral-Small-3.1", "mmlu-pro")
    assert mistral.score == 66.76 and "was 66.8" in mistral.notes
    # tool calling beyond Llama: BFCL v3 from the Qwen3 report, protocol kept apart from Meta's BFCL v2
    assert row("Qwen3-8B", "bfcl").score == 68.1
    assert "Qwen team" in row("Phi-4", "bfcl").protocol  # a third party's run, said in the protocol
    assert row("Llama-3.1-8B", "bfcl").protocol.startswith("BFCL v2")
    # not found in a readable source: still unverified, and the note says so
    for model, benchmark in [("gpt-oss-20b", "gpqa-diamond"), ("Gemma-3-27B", "ifeval")]:
        r = row(model, benchmark)
        assert not bool(r.verified) and "not found in a source" in r.notes


def test_api_prices_are_dated(cat):
    assert cat.api("gpt-4o", as_of="2024-06-01")["input_cost_per_token"] == pytest.approx(5e-6)
    now = cat.api("gpt-4o")
    assert (now["input_cost_per_token"], now["output_cost_per_token"]) == (pytest.approx(2.5e-6), pytest.approx(1e-5))
    mini = cat.api("gpt-4o-mini")
    assert (mini["input_cost_per_token"], mini["output_cost_per_token"]) == (pytest.approx(1.5e-7), pytest.approx(6e-7))
    assert mini["input_cost_per_token_batches"] == pytest.approx(7.5e-8)
    flash = "gemini-1.5-flash"  # provider prefix optional when unambiguous
    assert cat.api(flash, as_of="2024-07-01")["input_cost_per_token"] == pytest.approx(3.5e-7)
    assert cat.api(flash, as_of="2024-09-01")["input_cost_per_token"] == pytest.approx(7.5e-8)
    emb = cat.api("text-embedding-3-small")
    assert (emb["mode"], emb["output_cost_per_token"]) == ("embedding", 0.0)


def test_unknown_names_list_close_matches(cat):
    with pytest.raises(CatalogError, match=r"unknown GPU 'H100'.*Did you mean.*'H100-SXM'"):
        cat.gpu("H100")
    with pytest.raises(CatalogError, match=r"unknown model 'Llama-3-7B'.*'Llama-3-8B'"):
        cat.model("Llama-3-7B")
    with pytest.raises(CatalogError, match=r"unknown API model 'gpt4o-mini'.*'gpt-4o-mini'"):
        cat.api("gpt4o-mini")
    with pytest.raises(CatalogError, match=r"unknown instance 'g5.large'.*'g5.xlarge'"):
        cat.instance("g5.large")
    assert issubclass(CatalogError, WorkbenchError)


def test_overrides_replace_rows_by_key_and_add_new_ones(tmp_path):
    over = tmp_path / "over"
    over.mkdir()
    (over / "instances.csv").write_text(
        "cloud,instance,gpu,gpu_count,pricing,usd_per_hour,valid_from,valid_to,as_of,source,verified\n"
        "aws,g5.xlarge,A10G,1,on-demand,0.90,,,2026-01-01,our negotiated rate,true\n"
        "aws,g5.xlarge,A10G,1,spot,0.45,,,2026-01-01,our spot average,false\n")
    cat = load_catalog(over)
    assert cat.instance("g5.xlarge")["usd_per_hour"] == 0.90
    assert cat.instance("g5.xlarge")["source"] == "our negotiated rate"
    assert cat.instance("g5.xlarge", pricing="spot")["usd_per_hour"] == 0.45
    assert cat.instance("g6.xlarge")["usd_per_hour"] == 0.8048  # untouched
    # both rows replace shipped ones by key: the on-demand price and the assumed spot price
    assert len(cat.instances) == len(load_catalog(None).instances)
    assert cat.instance("g5.xlarge")["catalog_file"] == str(over / "instances.csv")


def test_overrides_from_environment_and_cwd(tmp_path, monkeypatch):
    over = tmp_path / "catalog-overrides"
    over.mkdir()
    (over / "gpus.csv").write_text(
        "name,mem_gib,mem_bw_tbps,bf16_tflops,as_of,source,verified\n"
        "B200,180,8.0,2250,2026-01-01,vendor sheet,false\n")
    monkeypatch.chdir(tmp_path)
    assert load_catalog().gpu("B200")["mem_gib"] == 180
    monkeypatch.setenv("WORKBENCH_CATALOG_OVERRIDES", str(tmp_path / "nowhere"))
    with pytest.raises(CatalogError, match="WORKBENCH_CATALOG_OVERRIDES.*nowhere"):
        load_catalog()


def test_import_litellm_fixture():
    df = import_litellm(FIXTURE, as_of="2026-02-01")
    assert list(df.columns[: len(TABLES["apis"][2])]) == list(TABLES["apis"][2])
    assert sorted(df.model) == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]  # no image model, no sample_spec
    mini = df.set_index("model").loc["gpt-4o-mini"]
    assert mini.input_cost_per_token == pytest.approx(1.5e-7)
    assert mini.cache_read_input_token_cost == pytest.approx(7.5e-8)
    assert mini.max_input_tokens == 128000
    assert (mini.as_of, mini.valid_from, mini.source) == ("2026-02-01", "2026-02-01", str(FIXTURE))
    emb = df.set_index("model").loc["text-embedding-3-small"]
    assert (emb["mode"], emb.output_cost_per_token) == ("embedding", 0.0)
    assert not df.verified.any()


def test_litellm_json_in_overrides_is_used_from_its_date(tmp_path):
    over = tmp_path / "over"
    over.mkdir()
    shutil.copy(FIXTURE, over / "model_prices_and_context_window.json")
    cat = load_catalog(over)
    # the fixture's gpt-4o price (2e-06, made up for this test) wins from the file's date on ...
    assert cat.api("gpt-4o")["input_cost_per_token"] == pytest.approx(2e-6)
    # ... and history stays as shipped
    assert cat.api("gpt-4o", as_of="2024-06-01")["input_cost_per_token"] == pytest.approx(5e-6)


@pytest.mark.parametrize("body, match", [
    ('{"m": {"mode": "chat", "litellm_provider": "x", "input_cost_per_token": -1, "output_cost_per_token": 0}}',
     r"model 'm': field 'input_cost_per_token': must be a finite number >= 0, got '-1'"),
    ('{"m": {"mode": "chat", "litellm_provider": "x", "output_cost_per_token": 0}}',
     r"model 'm': field 'input_cost_per_token': missing"),
    ('{"m": {"mode": "chat", "litellm_provider": "x", "input_cost_per_token": "cheap", "output_cost_per_token": 0}}',
     r"field 'input_cost_per_token': must be a number, got 'cheap'"),
    ('[1, 2]', "expected a JSON object"),
    ('{"m": ', "not valid JSON"),
])
def test_import_litellm_bad_input(tmp_path, body, match):
    p = tmp_path / "prices.json"
    p.write_text(body)
    with pytest.raises(CatalogError, match=match) as e:
        import_litellm(p)
    assert str(p) in str(e.value)


def test_import_litellm_skip_mode(tmp_path):
    p = tmp_path / "prices.json"
    p.write_text('{"bad": {"mode": "chat", "litellm_provider": "x", "input_cost_per_token": -1,'
                 ' "output_cost_per_token": 0}, "good": {"mode": "chat", "litellm_provider": "x",'
                 ' "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}')
    assert list(import_litellm(p, errors="skip").model) == ["good"]


@pytest.mark.parametrize("file, old, new, match", [
    ("instances.csv", "g6.xlarge,L4,1,4,on-demand,0.8048", "g6.xlarge,L4,1,4,on-demand,-0.8",
     r"instances.csv: line \d+ \(aws/g6.xlarge/on-demand/-\): field 'usd_per_hour': must be a finite number >= 0, got '-0.8'"),
    ("instances.csv", "g6.xlarge,L4,1,4,on-demand,0.8048", "g6.xlarge,L4,1,4,on-demand,",
     r"instances.csv: line \d+ \(aws/g6.xlarge/on-demand/-\): field 'usd_per_hour': missing"),
    ("instances.csv", "g6.xlarge,L4,1", "g6.xlarge,L5,1",
     r"instances.csv: line \d+ \(aws/g6.xlarge/on-demand\): field 'gpu': unknown GPU 'L5'; did you mean 'L4'"),
    ("instances.csv", "g6.xlarge,L4,1,4,on-demand", "g6.xlarge,L4,1,4,sometimes",
     r"field 'pricing': must be one of on-demand, spot, reserved"),
    ("gpus.csv", "L4,24,0.300", "L4,24GB,0.300", r"gpus.csv: line 4 \(L4\): field 'mem_gib': must be a number, got '24GB'"),
    ("apis.csv", "2024-05-13,2024-10-02,2024-07-25", "2024-05-13,2024-10-02,25/07/2024",
     r"apis.csv: line 2 \(gpt-4o/2024-05-13\): field 'as_of': must be a date YYYY-MM-DD"),
    ("models.csv", "Qwen2-7B,7.62,7.62,28", "Qwen2-7B,7.62,7.62,28.5", r"field 'layers': must be a whole number"),
    ("models.csv", "152064,32768,,1,1,false,", "152064,32768,,1,1,maybe,", r"models.csv: line \d+ \(Qwen2-7B\): field 'tied_embeddings': must be true or false"),
    ("quality.csv", "Llama-2-7B,mmlu,44.4,", "Llama-2-7B,mmlu,44.4,extra,", r"quality.csv: line 2.*wrong number of fields"),
])
def test_malformed_rows_name_file_line_and_field(tmp_path, file, old, new, match):
    d = _copy_catalog(tmp_path)
    text = (d / file).read_text()
    assert old in text
    (d / file).write_text(text.replace(old, new, 1))
    with pytest.raises(CatalogError, match=match) as e:
        load_catalog(catalog_dir=d)
    assert str(d / file) in str(e.value)


def test_malformed_headers_and_repeated_keys(tmp_path):
    d = _copy_catalog(tmp_path)
    (d / "gpus.csv").write_text("name,mem_gib,as_of,source,verified\nX,1,2024-01-01,s,true\n")
    with pytest.raises(CatalogError, match=r"gpus.csv: missing column\(s\) mem_bw_tbps, bf16_tflops"):
        load_catalog(catalog_dir=d)
    (d / "gpus.csv").write_text("name,mem_gib,mem_bw_tbps,bf16_tflop,as_of,source,verified\n")
    with pytest.raises(CatalogError, match=r"unknown column 'bf16_tflop'; did you mean 'bf16_tflops'"):
        load_catalog(catalog_dir=d)
    shutil.copy(CATALOG_DIR / "gpus.csv", d / "gpus.csv")
    with open(d / "gpus.csv", "a") as f:
        f.write("L4,24,0.3,121,,,,,2024-01-01,dup,true,\n")  # 12 columns (fp4_tflops since 2026)
    with pytest.raises(CatalogError, match=r"line \d+ \(L4\): key 'L4' repeats line 4"):
        load_catalog(catalog_dir=d)


def test_catalog_is_cached_until_a_file_changes(tmp_path):
    d = _copy_catalog(tmp_path)
    a = load_catalog(catalog_dir=d)
    assert load_catalog(catalog_dir=d) is a
    text = (d / "gpus.csv").read_text().replace("L4,24,0.300", "L4,24,0.310")
    (d / "gpus.csv").write_text(text)
    import os
    os.utime(d / "gpus.csv", ns=(1, 10**18))
    b = load_catalog(catalog_dir=d)
    assert b is not a and b.gpu("L4")["mem_bw_tbps"] == 0.31
