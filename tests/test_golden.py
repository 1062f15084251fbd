"""Every answer `trace --json` gave before a refactor, given again: the demo host and the Docker 28
fixture hosts (their bundles stored under tests/fixtures/hosts), every port and every origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import golden
from tui.cli import demo_bundle_path
from tui.collect.bundle import load_bundle

HOSTS = Path(__file__).resolve().parent / "fixtures" / "hosts"
BUNDLES = {"demo": demo_bundle_path()} | {p.name: p for p in sorted(HOSTS.glob("*")) if p.is_dir()}


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_trace_answers_are_as_recorded(name):
    before = golden.recorded(name)
    now = golden.answers(load_bundle(BUNDLES[name]))
    assert sorted(now) == sorted(before)
    changed = [key for key in before if now[key] != before[key]]
    assert not changed, f"{len(changed)} answers changed, first: {changed[0]}"
