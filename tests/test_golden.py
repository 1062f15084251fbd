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


@pytest.mark.parametrize("name", ["variant-forwarding-off", "variant-internal"])
def test_a_packet_that_routing_drops_is_not_blamed_on_a_rule(name):
    """Before the deciding rule had one definition, the drop finding named the last rule of the path
    (a DNAT rule, an ACCEPT policy) when routing dropped the packet (ip_forward=0, an internal
    network). These two hosts were recorded again after that fix; this is what changed."""
    from tui.paths.engine import Query, trace
    from tui.paths.findings import port_findings

    state = load_bundle(BUNDLES[name])
    checked = 0
    for c in state.containers:
        for b in c.ports:
            if not (b.published and c.state == "running" and not b.loopback_only):
                continue
            path = trace(state, Query(b.host_port or 0, b.proto, "external"))
            found = {f.code for f in port_findings(state, c, b)}
            if path.verdict == "dropped" and path.deciding_hop() is None:
                assert "dropped-by-rule" not in found, (c.name, b.key)
                checked += 1
    assert checked, "no port of this host is dropped by routing: the test would prove nothing"
