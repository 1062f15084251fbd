"""Under CI=true an engine test that skips fails the run, and the summary counts the kernel's verdicts."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).with_name("conftest.py")).read_text()


def test_a_skipped_engine_test_fails_under_ci(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    engine: needs the engine\n")
    pytester.makepyfile(test_x="""
import pytest

@pytest.mark.engine
def test_needs_the_kernel():
    pytest.skip("no dockerd here")

def test_plain():
    pytest.skip("not an engine test")
""")
    # A process of its own, without the snapshot plugin, which keeps one temporary directory per process.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    args = ("-q", "-p", "no:cacheprovider", "-p", "no:textual-snapshot", "-p", "no:syrupy")
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*engine test skipped under CI: *no dockerd here*", "kernel-judged cases: *"])
    monkeypatch.delenv("CI")
    pytester.runpytest_subprocess(*args).assert_outcomes(skipped=2)
