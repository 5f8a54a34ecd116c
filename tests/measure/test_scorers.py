"""Scorers: hand-computed cases; unparseable output is a scored failure, never an exception."""

import math

import numpy as np
import pytest

from workbench.measure import scorers as sc

CLS_SPEC = {"scorer": "classification", "output": {"labels": ["billing", "feature_request", "it-helpdesk"]}}


@pytest.mark.parametrize("text,expected", [
    ("billing", ("billing", True)),
    (" Billing.\n", ("billing", True)),
    ("Feature request", ("feature_request", True)),
    ("IT helpdesk", ("it-helpdesk", True)),
    ("The category is billing, not it-helpdesk.", ("billing", False)),
    ("I think: it-helpdesk", ("it-helpdesk", False)),
    ("no idea", (None, False)),
    ("", (None, False)),
])
def test_parse_label(text, expected):
    assert sc.parse_label(text, CLS_SPEC["output"]["labels"]) == expected


def test_classification_scores():
    s = sc.score_classification({"reference": "billing"}, "Category: billing", CLS_SPEC)
    assert s.parsed_ok and s.scores == {"correct": 1.0, "strict_format": 0.0} and s.pred == "billing"
    s = sc.score_classification({"reference": "billing"}, "banana", CLS_SPEC)
    assert not s.parsed_ok and s.scores["correct"] == 0.0 and s.pred == ""


@pytest.mark.parametrize("text,obj,strict", [
    ('{"a": 1}', {"a": 1}, True),
    ('```json\n{"a": 1}\n```', {"a": 1}, False),
    ('Sure! Here it is: {"a": {"b": "}"}} Hope this helps {x}', {"a": {"b": "}"}}, False),
    ('{broken {"a": 2}', {"a": 2}, False),
    ("nothing here", None, False),
    ("", None, False),
])
def test_parse_json(text, obj, strict):
    assert sc.parse_json(text) == (obj, strict)


def test_macro_f1_by_hand():
    # class a: TP 1, FP 0, FN 1 -> 2/3; class b: TP 2, FP 1, FN 0 -> 4/5; mean 0.7333
    assert sc.macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx((2 / 3 + 0.8) / 2)
    # a failed prediction ("") is wrong for its gold class: a -> 1.0, b -> 0.0
    assert sc.macro_f1(["a", "b"], ["a", ""]) == pytest.approx(0.5)
    assert sc.f1_from_counts(0, 0, 0) == 0.0


EXT_SPEC = {"scorer": "extraction", "output": {"fields": ["vendor", "total", "date"]}}
EXT_ITEM = {"reference": {"vendor": "Acme Ltd", "total": 1234.5, "date": "2024-03-05"}}


def test_extraction_by_hand():
    s = sc.score_extraction(EXT_ITEM, '{"vendor": "ACME ltd", "total": "1,234.50", "date": "05/03/2024"}', EXT_SPEC)
    assert s.scores["field_f1"] == 1.0 and s.scores["json_strict"] == 1.0
    # vendor wrong (FP+FN), total right (TP), date missing (FN): 2*1 / (2*1 + 1 + 2) = 0.4
    s = sc.score_extraction(EXT_ITEM, 'Result:\n```json\n{"vendor": "Other", "total": 1234.5}\n```', EXT_SPEC)
    assert s.scores["field_f1"] == pytest.approx(0.4)
    assert (s.scores["json_valid"], s.scores["json_strict"]) == (1.0, 0.0)
    assert (s.scores["tp.vendor"], s.scores["fp.vendor"], s.scores["fn.vendor"]) == (0.0, 1.0, 1.0)
    assert (s.scores["tp.date"], s.scores["fp.date"], s.scores["fn.date"]) == (0.0, 0.0, 1.0)
    s = sc.score_extraction(EXT_ITEM, "I cannot do that", EXT_SPEC)
    assert not s.parsed_ok and s.scores["field_f1"] == 0.0 and s.scores["json_valid"] == 0.0


def test_extraction_micro_f1_metric():
    items = [EXT_ITEM, EXT_ITEM]
    scored = [sc.score_extraction(EXT_ITEM, '{"vendor": "Acme Ltd", "total": 1234.5, "date": "2024-03-05"}', EXT_SPEC),
              sc.score_extraction(EXT_ITEM, '{"vendor": "Other", "total": 1234.5}', EXT_SPEC)]
    m = sc.metrics(EXT_SPEC, items, scored)
    # TP 3+1, FP 0+1, FN 0+2: 8 / (8 + 1 + 2)
    assert m["field_f1"].value() == pytest.approx(8 / 11)
    assert m["f1.vendor"].value() == pytest.approx(2 / (2 + 1 + 1))
    assert m["field_f1"].value(np.array([0, 0])) == 1.0
    assert m["json_valid"].binary


STRUCT_SPEC = {"scorer": "structured", "output": {
    "schema": {"type": "object", "required": ["day", "n"],
               "properties": {"day": {"enum": ["Monday", "Friday"]}, "n": {"type": "integer"}}},
    "fields": ["day", "n"]}}


def test_structured_by_hand():
    item = {"reference": {"day": "Friday", "n": 30}}
    s = sc.score_structured(item, '{"day": "Friday", "n": 30}', STRUCT_SPEC)
    assert s.scores == {"json_valid": 1.0, "json_strict": 1.0, "schema_valid": 1.0, "field_accuracy": 1.0, "exact_match": 1.0}
    s = sc.score_structured(item, '{"day": "Friday", "n": "30 minutes"}', STRUCT_SPEC)
    assert s.scores["schema_valid"] == 0.0 and s.scores["field_accuracy"] == 0.5 and s.scores["exact_match"] == 0.0
    s = sc.score_structured(item, '["Friday"]', STRUCT_SPEC)
    assert not s.parsed_ok and s.scores["schema_valid"] == 0.0 and s.scores["json_valid"] == 0.0


def test_rouge_l_by_hand():
    # LCS("the cat sat", "the cat sat on the mat") = 3: P = 3/3, R = 3/6, F = 2PR/(P+R) = 2/3
    assert sc.rouge_l("the cat sat", "the cat sat on the mat") == pytest.approx(2 / 3)
    s = sc.score_summarization({"reference": "x y"}, "   ", {"scorer": "summarization"})
    assert not s.parsed_ok and s.scores["rougeL"] == 0.0


def test_retrieval_by_hand():
    spec = {"scorer": "retrieval", "output": {"k": [1, 2]}}
    s = sc.score_retrieval({"reference": ["p1"]}, '["p2", "p1", "p3"]', spec)
    assert s.scores == {"recall_at_1": 0.0, "recall_at_2": 1.0, "rr": 0.5}
    s = sc.score_retrieval({"reference": ["p1", "p3"]}, '["p3", "p2", "p1"]', spec)
    assert s.scores == {"recall_at_1": 0.5, "recall_at_2": 0.5, "rr": 1.0}
    s = sc.score_retrieval({"reference": ["p1"]}, "", spec)
    assert not s.parsed_ok and s.scores["rr"] == 0.0
    m = sc.metrics(spec, [{"reference": ["p1"]}] * 2,
                   [sc.score_retrieval({"reference": ["p1"]}, '["p2", "p1"]', spec),
                    sc.score_retrieval({"reference": ["p1"]}, '["p1"]', spec)])
    assert m["mrr"].value() == pytest.approx(0.75)


@pytest.mark.parametrize("garbage", ["", "{", "}{", "```", "null", "[1, 2", "\x00\xff", "{" * 50, "💥"])
def test_garbage_never_raises(garbage):
    for name, spec in [("classification", CLS_SPEC), ("extraction", EXT_SPEC), ("structured", STRUCT_SPEC),
                       ("summarization", {"scorer": "summarization"}),
                       ("retrieval", {"scorer": "retrieval", "output": {"k": [1]}})]:
        item = {"reference": {"classification": "billing", "retrieval": ["p1"], "summarization": "a b"}.get(
            name, {"vendor": "a", "total": 1, "date": "2024-01-01", "day": "Monday", "n": 1})}
        s = sc.SCORERS[name](item, garbage, spec)
        assert all(math.isfinite(v) for v in s.scores.values())
        earned = {k: v for k, v in s.scores.items() if not k.startswith("fn.")}  # fn.*: fields missed, counts
        assert all(v == 0.0 for v in earned.values()), (name, garbage, s.scores)  # garbage earns nothing


def test_the_scorers_a_workload_may_name_are_the_ones_implemented():
    """workloads.SCORERS (what a spec may name, checked when a workload loads) and the scorers
    implemented here are the same set: inputs cannot import measure, so the names live twice."""
    from workbench.inputs.workloads import SCORERS as NAMES
    from workbench.measure.scorers import SCORERS

    assert set(NAMES) == set(SCORERS)


# ---------------------------------------------------------------------------- metrics over items, by hand
def _s(parsed_ok=True, pred=None, **scores):
    return sc.Scored(parsed_ok, scores, pred)


def test_classification_metrics_by_hand():
    """Refs billing, billing, it, feature; preds billing, it, it, '' (unparsed). accuracy 2/4;
    strict 3/4; parsed 3/4; macro-F1 over the classes present (an unparsed reply is no class):
    billing P 1 R 1/2 → F 2/3, it P 1/2 R 1 → F 2/3, feature 0 → (2/3 + 2/3 + 0) / 3 = 4/9."""
    items = [{"reference": r} for r in ("billing", "billing", "it", "feature")]
    scored = [_s(pred="billing", correct=1, strict_format=1), _s(pred="it", correct=0, strict_format=1),
              _s(pred="it", correct=1, strict_format=1), _s(False, None, correct=0, strict_format=0)]
    m = sc.metrics({"scorer": "classification"}, items, scored)
    assert set(m) == {"accuracy", "macro_f1", "strict_format", "parsed_ok"}
    assert m["accuracy"].value() == 0.5 and m["strict_format"].value() == 0.75 and m["parsed_ok"].value() == 0.75
    assert m["macro_f1"].value() == pytest.approx(4 / 9)
    assert m["accuracy"].binary and not m["macro_f1"].binary
    assert m["accuracy"].value(np.array([0, 2])) == 1.0  # on a subset of items (the bootstrap's view)
    assert m["macro_f1"].value(np.array([0, 2])) == 1.0


def test_extraction_metrics_pool_field_counts():
    """Two invoices, fields vendor and total: vendor tp 1+1, total tp 1 fp 1 fn 1 → field F1 =
    2·3 / (2·3 + 1 + 1) = 0.75 (micro, pooled); per field: vendor 1.0, total 2/(2+1+1) = 0.5."""
    spec = {"scorer": "extraction", "output": {"fields": ["vendor", "total"]}}
    items = [{"reference": {"vendor": "a", "total": 1}}] * 2
    scored = [_s(**{"tp.vendor": 1, "fp.vendor": 0, "fn.vendor": 0, "tp.total": 1, "fp.total": 0, "fn.total": 0,
                    "json_valid": 1, "json_strict": 1}),
              _s(**{"tp.vendor": 1, "fp.vendor": 0, "fn.vendor": 0, "tp.total": 0, "fp.total": 1, "fn.total": 1,
                    "json_valid": 1, "json_strict": 0})]
    m = sc.metrics(spec, items, scored)
    assert set(m) == {"field_f1", "json_valid", "json_strict", "f1.vendor", "f1.total", "parsed_ok"}
    assert m["field_f1"].value() == pytest.approx(0.75)
    assert m["f1.vendor"].value() == 1.0 and m["f1.total"].value() == pytest.approx(0.5)
    assert m["json_valid"].value() == 1.0 and m["json_strict"].value() == 0.5
    assert m["field_f1"].value(np.array([1])) == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    # without a field list, the fields are the first reference's keys
    assert set(sc.metrics({"scorer": "extraction", "output": {}}, items, scored)) == set(m)


@pytest.mark.parametrize("kind, scores, expected", [
    ("structured", [{"schema_valid": 1, "field_accuracy": 0.5, "exact_match": 0, "json_valid": 1, "json_strict": 1},
                    {"schema_valid": 0, "field_accuracy": 0.25, "exact_match": 0, "json_valid": 1, "json_strict": 0}],
     {"schema_valid": 0.5, "field_accuracy": 0.375, "exact_match": 0.0, "json_valid": 1.0, "json_strict": 0.5}),
    ("summarization", [{"rougeL": 0.25}, {"rougeL": 0.75}], {"rougeL": 0.5}),
    ("retrieval", [{"recall_at_1": 0, "recall_at_3": 1, "rr": 0.5}, {"recall_at_1": 1, "recall_at_3": 1, "rr": 1.0}],
     {"recall_at_1": 0.5, "recall_at_3": 1.0, "mrr": 0.75}),
])
def test_mean_metrics_by_hand(kind, scores, expected):
    spec = {"scorer": kind, "output": {"k": [1, 3]}}
    m = sc.metrics(spec, [{"reference": None}] * 2, [_s(**x) for x in scores])
    assert set(m) == set(expected) | {"parsed_ok"}
    for name, value in expected.items():
        assert m[name].value() == pytest.approx(value), name
