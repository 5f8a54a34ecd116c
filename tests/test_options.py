"""Options and their quality (workbench.options): published-proxy matching, worked by hand;
the names decide re-exports are the same objects."""

from __future__ import annotations

import pytest

from workbench import cost, options


def test_requests_per_month_uses_the_730_hour_month():
    assert cost.requests_per_month(24) == pytest.approx(730)


def test_published_proxy_matching():
    import pandas as pd

    q = pd.DataFrame({"model": ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "Llama-3-8B-Instruct"],
                      "benchmark": ["mmlu"] * 3, "score": [82.0, 88.7, 68.4], "protocol": ["p"] * 3,
                      "as_of": ["2025-07-01"] * 3, "source": ["s"] * 3, "verified": [True, True, False]})
    assert options.published_proxy("gpt-4o", "classification", q).value == pytest.approx(0.887)
    assert options.published_proxy("gpt-4o-mini", "routing", q).value == pytest.approx(0.82)
    p = options.published_proxy("groq/llama3-8b-8192", "extraction", q)
    assert p.value == pytest.approx(0.684) and "unverified" in p.source and p.provenance == "published"
    assert options.published_proxy("text-embedding-3-small", "retrieval", q) is None
