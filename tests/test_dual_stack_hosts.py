"""Docker 28 and 29 dual-stack hosts, rebuilt in network namespaces from the IPv4 and IPv6 rule sets
moby's own firewaller tests generate (`tests/fixtures/dual-stack/`), judged by the kernel in IPv6.

moby's generated documentation (iptablesdoc, nftablesdoc) lists IPv4 rules only; the IPv6 rules of
a network with `--ipv6` come from the goldens of `iptabler` and `nftabler` at the release tags: one
network `br-dummy`, a container at 192.168.0.2 and fd49:efd7:54aa::1 publishing 80 as 8080. Every
IPv6 origin is asked of the engine and of the kernel (`nft monitor trace`: xtables-monitor cannot
follow IPv6), both legs of docker-proxy, and `delivered` agrees with a real connection.
"""

from __future__ import annotations

import pytest

from tests import nsrig
from tests.judge import judge_by_nft_trace
from tui.paths.engine import Query

pytestmark = pytest.mark.engine

SCENARIOS = nsrig.dual_stack_scenarios()
ORIGINS = ["external", "host", "localhost", "same-network", "direct", "icc"]


@pytest.fixture
def dual_host(built_hosts, request):
    return built_hosts.get(request.param)


def _origin(host, origin: str):
    """(query, namespace to connect from, address to connect to, port), in IPv6."""
    up, port, c1, c2 = nsrig.UPLINK_IP6, nsrig.HOST_PORT, host.boxes["c1"], host.boxes["c2"]
    if origin == "external":
        return Query(port, "tcp", f"external:{nsrig.CLIENT_IP6}"), host.client_ns, up, port
    if origin == "host":
        return Query(port, "tcp", "host", to=up), host.host_ns, up, port
    if origin == "localhost":
        return Query(port, "tcp", "localhost", family=6), host.host_ns, "::1", port
    if origin == "same-network":
        return Query(port, "tcp", "container:c2", to=up), c2.ns, up, port
    if origin == "direct":
        return (Query(nsrig.CONTAINER_PORT, "tcp", f"external:{nsrig.CLIENT_IP6}", to=c1.ip6), host.client_ns,
                c1.ip6, nsrig.CONTAINER_PORT)
    # container to container, straight to the address: ICC decides
    return Query(nsrig.CONTAINER_PORT, "tcp", "container:c2", to=c1.ip6), c2.ns, c1.ip6, nsrig.CONTAINER_PORT


CASES = [(path, origin) for path in SCENARIOS for origin in ORIGINS]


@pytest.mark.parametrize(("dual_host", "origin"), CASES, indirect=["dual_host"],
                         ids=[f"{p.parent.name}/{p.name}-{o}" for p, o in CASES])
def test_ipv6_path_agrees_with_the_kernel(dual_host, origin):
    host, state = dual_host
    query, ns, ip, port = _origin(host, origin)
    judge_by_nft_trace(state, query, "tcp", lambda: host.connect(ns, ip, port), netns=host.host_ns)


@pytest.mark.parametrize("dual_host", SCENARIOS, indirect=True, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dual_stack_bundle_reads_both_families(dual_host):
    host, state = dual_host
    assert not [w for w in state.warnings if w.source in ("bundle", "rules")], state.warnings
    sc = host.scenario
    if sc.nft:
        assert sorted((t.family, t.name) for t in state.nft_tables) == [("ip", "docker-bridges"),
                                                                         ("ip6", "docker-bridges")]
    else:
        assert state.rulesets[6].rule_count == sum(1 for line in sc.rules6.splitlines() if line.startswith("-A"))
    c1 = state.container("c1")
    assert c1 is not None and [e.ipv6 for e in c1.endpoints] == ["fd49:efd7:54aa::1"]
    if sc.proxy and sc.publishes:
        assert sorted((p.host_ip, p.container_ip) for p in state.proxies) == sorted(
            [(sc.bind_ip, "192.168.0.2"), (sc.bind_ip6, "fd49:efd7:54aa::1")])
