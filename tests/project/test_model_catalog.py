"""`workbench catalog add-model config.json`: the row it writes, where, and that a failure leaves the
table as it was. The config.json files are the user's input, written here by hand."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from workbench.cli import main
from workbench.inputs.catalog import CATALOG_DIR, CatalogError, load_catalog
from workbench.project.arch import Arch
from workbench.project.model_catalog import add_model

# a small Qwen3-MoE-shaped config: 2 layers, d = 64, 4 heads × 16 (2 KV heads), 8 experts of 32, top-2
TOY = {"_name_or_path": "org/Toy-MoE", "model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 2,
       "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128,
       "moe_intermediate_size": 32, "num_experts": 8, "num_experts_per_tok": 2, "vocab_size": 1000,
       "max_position_embeddings": 4096, "tie_word_embeddings": False}
# by hand: attention 2·64·4·16 + 2·64·2·16 = 12,288; norms 128; router 64·8 = 512; an expert 3·64·32 = 6144
# layer 12,288 + 128 + 512 + 8·6144 = 62,080; 2 layers + final norm 64 + embeddings 2·1000·64 = 252,224
# active: 252,224 − 2·6·6144 = 178,496
TOY_PARAMS, TOY_ACTIVE = 252_224, 178_496


def _rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def toy_config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TOY), encoding="utf-8")
    return path


@pytest.fixture
def models_csv(tmp_path):
    dest = tmp_path / "catalog" / "models.csv"
    dest.parent.mkdir()
    shutil.copy(CATALOG_DIR / "models.csv", dest)
    return dest


def test_add_model_appends_one_row_and_keeps_the_others(toy_config, models_csv):
    before = models_csv.read_text(encoding="utf-8").splitlines()
    _, dest, arch = add_model(toy_config, to=models_csv, source="hub: org/Toy-MoE", as_of="2026-11-01")
    after = models_csv.read_text(encoding="utf-8").splitlines()
    assert dest == models_csv and after[:-1] == before  # every old row byte for byte
    got = next(r for r in _rows(models_csv) if r["name"] == "Toy-MoE")
    assert float(got["params_b"]) * 1e9 == pytest.approx(TOY_PARAMS, rel=1e-3)
    assert float(got["active_params_b"]) * 1e9 == pytest.approx(TOY_ACTIVE, rel=1e-3)
    assert (got["experts"], got["experts_per_token"], got["moe_ffn"], got["ffn"]) == ("8", "2", "32", "128")
    assert (got["source"], got["as_of"], got["verified"], got["weight_format"]) == (
        "hub: org/Toy-MoE", "2026-11-01", "true", "bf16")
    assert (arch.params, arch.active_params) == (TOY_PARAMS, TOY_ACTIVE)


def test_the_added_row_is_read_back_by_the_catalog(toy_config, tmp_path, monkeypatch):
    over = tmp_path / "overrides"
    over.mkdir()
    monkeypatch.setenv("WORKBENCH_CATALOG_OVERRIDES", str(over))
    _, dest, _ = add_model(toy_config, name="toy", verified=False)
    assert dest == over / "models.csv"
    arch = Arch.from_catalog("toy", load_catalog(over))
    assert (arch.params, arch.active_params, arch.moe_ffn) == (TOY_PARAMS, TOY_ACTIVE, 32)
    assert arch.source.endswith("⚠ unverified")
    assert Arch.from_catalog("Llama-3.1-8B", load_catalog(over)).layers == 32  # shipped rows still there


def test_a_name_already_there_is_refused_unless_replaced(toy_config, models_csv):
    before = models_csv.read_bytes()
    with pytest.raises(CatalogError, match=r"'Qwen3-8B' is already there \(line \d+\); pass --replace"):
        add_model(toy_config, to=models_csv, name="Qwen3-8B")
    assert models_csv.read_bytes() == before
    add_model(toy_config, to=models_csv, name="qwen3-8b", replace=True)
    names = [r["name"] for r in _rows(models_csv)]
    assert "Qwen3-8B" not in names and names.count("qwen3-8b") == 1


def test_a_row_that_would_not_validate_leaves_the_table_untouched(tmp_path, models_csv):
    """No max_position_embeddings: max_context is required, so the new table does not validate."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({k: v for k, v in TOY.items() if k != "max_position_embeddings"}), encoding="utf-8")
    before = models_csv.read_bytes()
    with pytest.raises(CatalogError) as info:
        add_model(cfg, to=models_csv)
    msg = str(info.value)
    assert str(cfg) in msg and "'max_context'" in msg and "missing" in msg and ".tmp" not in msg
    assert models_csv.read_bytes() == before
    assert not list(models_csv.parent.glob("*.tmp"))


def test_cli_add_model_prints_what_it_added(toy_config, models_csv, capsys):
    assert main(["catalog", "add-model", str(toy_config), "--to", str(models_csv), "--name", "toy"]) == 0
    out = capsys.readouterr().out
    # KV per token: 2 layers · 2·2·16 elements · 2 B = 256 B = 0.25 KiB
    assert out.startswith("toy: 0.000252224 B parameters (0.000178496 B active), 2 layers, KV 0.25 KiB per token")
    assert str(models_csv) in out
    assert main(["catalog", "add-model", str(toy_config), "--to", str(models_csv), "--name", "toy"]) == 2
    assert "already there" in capsys.readouterr().err
