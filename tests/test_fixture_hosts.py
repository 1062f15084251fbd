"""Docker 28 hosts rebuilt in network namespaces from real rule sets, judged by the kernel (DESIGN §4.5).

Each fixture becomes a host netns with its bridges, containers, client and (when the scenario has it)
a real docker-proxy; a capture bundle of that host feeds the path engine, and the kernel's trace of a
real connection judges every origin, plus direct routing to the container's address.
"""

from __future__ import annotations

import pytest

from tests import nsrig
from tests.judge import judge, judge_native
from tui.paths.engine import Query

pytestmark = pytest.mark.engine

RUNNABLE = [p for p in nsrig.scenarios() + nsrig.scenarios("nft") if not p.stem.startswith("swarm")]


ORIGINS = ["external", "host", "localhost", "same-network", "other-network", "direct", "icc"]
NEEDS_USER_NETWORK = {"same-network", "direct", "icc"}
# Only the questions a host can be asked: a scenario without a user network has no c1 to reach.
CASES = [(path, origin) for path in RUNNABLE for origin in ORIGINS
         if origin not in NEEDS_USER_NETWORK or nsrig.Scenario.from_file(path).has_bridge1]


@pytest.fixture
def fixture_host(built_hosts, request):
    return built_hosts.get(request.param)


def _origin(host, state, origin: str):
    """(query, namespace to connect from, address to connect to, port)."""
    b, up, port = host.boxes, nsrig.UPLINK_IP, nsrig.HOST_PORT
    if origin == "external":
        return Query(port, "tcp", f"external:{nsrig.CLIENT_IP}"), host.client_ns, up, port
    if origin == "host":
        return Query(port, "tcp", "host"), host.host_ns, up, port
    if origin == "localhost":
        return Query(port, "tcp", "localhost"), host.host_ns, "127.0.0.1", port
    if origin in ("same-network", "other-network"):
        box = b["c2"] if origin == "same-network" else b["c0"]
        return Query(port, "tcp", f"container:{box.name}"), box.ns, up, port
    c1 = b["c1"]
    if origin == "direct":
        return (Query(nsrig.CONTAINER_PORT, "tcp", f"external:{nsrig.CLIENT_IP}", to=c1.ip), host.client_ns,
                c1.ip, nsrig.CONTAINER_PORT)
    # container to container, straight to the address: ICC decides
    return Query(nsrig.CONTAINER_PORT, "tcp", "container:c2", to=c1.ip), b["c2"].ns, c1.ip, nsrig.CONTAINER_PORT


@pytest.mark.parametrize(("fixture_host", "origin"), CASES, indirect=["fixture_host"],
                         ids=[f"{p.parent.name}/{p.stem}-{o}" for p, o in CASES])
def test_fixture_host_path_agrees_with_the_kernel(fixture_host, origin):
    host, state = fixture_host
    query, ns, ip, port = _origin(host, state, origin)
    by = judge_native if host.scenario.nft else judge
    by(state, query, "tcp", lambda: host.connect(ns, ip, port), netns=host.host_ns)


@pytest.mark.parametrize("fixture_host", RUNNABLE, indirect=True, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_bundle_reads_cleanly(fixture_host):
    host, state = fixture_host
    assert not [w for w in state.warnings if w.source in ("bundle", "rules")], state.warnings
    if host.scenario.nft:
        native = [r.text for t in state.nft_tables for c in t.chains.values() for r in c.rules]
        assert [(t.family, t.name) for t in state.nft_tables] == [("ip", "docker-bridges")]
        assert len(native) == sum(1 for line in host.scenario.rules.splitlines() if _is_nft_rule(line))
    else:
        assert state.rulesets[4].rule_count == sum(1 for line in host.scenario.rules.splitlines()
                                                   if line.startswith("-A"))
    if host.scenario.name.endswith("-routed"):
        # Docker's shape for a routed network: the binding has no host port; the port is open at
        # the container's own address (the "direct" origin above is delivered, judged by the kernel).
        from tui.paths.findings import port_findings

        c1 = state.container("c1")
        assert [(b.container_port, b.published, b.unmapped) for b in c1.ports] == [(80, False, True)]
        assert [f.code for f in port_findings(state, c1, c1.ports[0])][:1] == ["routed-unmapped"]
        assert not state.proxies
    if host.scenario.proxy and host.scenario.publishes:
        assert [(p.host_port, p.container_ip) for p in state.proxies] == [(nsrig.HOST_PORT, "192.0.2.2")]


def _is_nft_rule(line: str) -> bool:
    """A rule line of an nft ruleset file (not a table, chain, map, its type/policy line or a brace)."""
    text = line.strip()
    return bool(text) and not text.startswith(("#", "table ", "chain ", "map ", "set ", "type ", "elements", "}",
                                               '"', "flags ")) and not text.endswith("{")
