"""The suite's own rule, tested: a test may skip only for a missing GPU or API key. Any other
skip — a catch-all ``except: skip``, an ``importorskip`` of something broken — fails the run,
so a broken module can no longer turn a run green by skipping its tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_case.py").write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
                           str(tmp_path / "test_case.py")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


def test_a_gpu_or_api_key_skip_is_allowed(tmp_path):
    p = _run(tmp_path, """
        import pytest

        def test_needs_gpu():
            pytest.skip("needs an NVIDIA GPU (none on this machine)")

        def test_needs_key():
            pytest.skip("needs a live API key in $OPENAI_API_KEY")
    """)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 skipped" in p.stdout


def test_any_other_skip_fails_the_run(tmp_path):
    p = _run(tmp_path, """
        import pytest

        def test_catalog():
            try:
                raise TypeError("a bug in Catalog.gpu")
            except Exception as e:
                pytest.skip(f"catalog not ready: {e}")

        def test_fine():
            assert True
    """)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 failed, 1 passed" in p.stdout and "catalog not ready" in p.stdout
    assert "only a missing GPU or API key may skip a test" in p.stdout


def test_a_module_level_importorskip_fails_the_run(tmp_path):
    p = _run(tmp_path, """
        import pytest

        broken = pytest.importorskip("workbench.no_such_module")

        def test_never_collected():
            assert False
    """)
    assert p.returncode != 0, p.stdout + p.stderr
    assert "workbench.no_such_module" in p.stdout and "only a missing GPU or API key" in p.stdout
