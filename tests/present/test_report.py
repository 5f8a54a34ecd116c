"""`workbench report`: the decide notebook executed by papermill into an executed notebook and a
standalone HTML that renders offline (checked in headless Chromium with networking off). The
screenshots (whole page, top table, cost curves, quality vs cost) are kept in test-artifacts/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.present import report

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_parse_params_yaml_values():
    assert report.parse_params(["route_fraction=0.3", "workloads=[a, b]", "results_paths=null",
                                "include_projected=false", "pricing=spot"]) == {
        "route_fraction": 0.3, "workloads": ["a", "b"], "results_paths": None,
        "include_projected": False, "pricing": "spot"}
    with pytest.raises(report.ReportError, match="key=value"):
        report.parse_params(["oops"])


def test_missing_notebook_is_named(tmp_path):
    with pytest.raises(report.ReportError, match="nope.ipynb: no such notebook"):
        report.execute("nope", out_dir=tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One small report through the real CLI (a kernel, the stored results, the catalog)."""
    out = tmp_path_factory.mktemp("reports")
    cmd = [str(Path(sys.executable).parent / "workbench"), "report", "--out", str(out),
           "--param", "workloads=[ticket-classification, policy-retrieval]",
           "--param", "apis=[gpt-4o-mini, gpt-4o, text-embedding-3-small]", "--param", "route_fraction=0.3"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    html = Path(re.search(r"^report \([\d.]+ s\): (.+\.html)$", p.stdout, re.M).group(1))
    nb = Path(re.search(r"^executed notebook: (.+\.ipynb)$", p.stdout, re.M).group(1))
    return html, nb


@pytest.mark.slow
def test_report_outputs(built):
    import nbformat

    html, nb = built
    assert html.is_file() and nb.is_file() and html.parent == nb.parent
    doc = nbformat.read(nb, as_version=4)
    assert doc.metadata.papermill.parameters["route_fraction"] == 0.3
    assert doc.metadata.papermill.exception in (None, False)
    text = html.read_text(encoding="utf-8")
    # 1 portfolio + 2 per workload, each carried as HTML (not just the MIME bundle nbconvert drops)
    assert text.count("Plotly.newPlot(") >= 5
    assert "pipeline.decide_workloads(" not in text  # code cells hidden
    assert not re.search(r'<script[^>]*src="https?://', text)  # plotly.js inlined; no CDN script at all
    for label in ("measured", "published", "projected"):
        assert label in text
    assert "ticket-classification" in text and "policy-retrieval" in text
    # the top table: one row per workload, an evidence level, what to measure next
    top = text[text.index("wb-top"):]
    top = top[:top.index("</table>")]
    assert top.count("<tr") == 3 and "evidence level" in top and "workbench evaluate --target" in top
    assert not re.search(r"<td[^>]*>\s*(NaN|nan|None)\s*</td>", text)  # a missing value shows "—"
    assert not re.search(r"<th[^>]*>\s*\d*\s*</th>\s*<td", text)  # no index column
    notes = text[text.index("wb-notes"):]
    assert "<summary>" in notes[:400] and not re.search(r"\d{8}T\d{6}", notes[:notes.index("</summary>")])


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_offline_in_chromium(built):
    assert CHROMIUM.exists(), f"{CHROMIUM} missing: `make browser` installs it (apt-get install -y chromium)"
    from playwright.sync_api import sync_playwright

    html, _ = built
    blocked: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=OFFLINE_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def route(r):
                if r.request.url.startswith("file://"):
                    return r.continue_()
                blocked.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            page.goto(html.as_uri(), wait_until="load", timeout=60_000)
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
            n_plots = page.locator(".js-plotly-plot").count()
            n_lines = page.locator(".js-plotly-plot .scatterlayer .trace").count()
            n_bars = page.locator(".js-plotly-plot .barlayer .trace").count()
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            page.locator(".wb-top").screenshot(path=str(ARTIFACTS / "report-top-table.png"))
            for i, name in ((1, "report-cost-curves.png"), (2, "report-quality-vs-cost.png")):
                page.locator(".js-plotly-plot").nth(i).screenshot(path=str(ARTIFACTS / name))
            legend = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot')[1]"
                                   ".querySelectorAll('.legend .traces')).map(e => e.textContent)")
            annotations = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot')[2]"
                                        ".querySelectorAll('.annotation')).map(e => {const r = e.getBoundingClientRect();"
                                        " return [r.left, r.top, r.right, r.bottom, e.textContent];})")
        finally:
            browser.close()
    assert n_plots >= 5, n_plots
    assert n_lines >= 5 and n_bars == 3
    assert blocked == []  # opening the report asks nothing of the network (no CDN script, no font)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    assert (ARTIFACTS / "report-top-table.png").stat().st_size > 5_000
    assert sum("infeasible options" in t for t in legend) == 1  # infeasible options: one legend entry
    labels = [a for a in annotations if a[4] and not a[4].startswith(("floor", "measured on", "indicative only"))]
    for i, a in enumerate(labels):  # point labels do not overlap
        for b in labels[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
