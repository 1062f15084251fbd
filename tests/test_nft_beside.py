"""Native nftables tables of other owners beside Docker's rules, judged by the kernel.

A firewalld-like `inet` table hooks forward and input at its own priority. The kernel runs every
base chain at a hook: Docker's accept ends only Docker's chain, so the other table can still drop
or reject a published port; and where it accepts, the packet goes on. Built beside Docker 29's
nftables tables, and beside Docker 28's iptables-nft rules (one host, both kinds of rules).
"""

from __future__ import annotations

import pytest

from tests import nsrig
from tests.judge import judge, judge_native
from tests.test_fixture_hosts import _origin
from tui.collect.bundle import load_bundle
from tui.paths.engine import Query, trace

pytestmark = pytest.mark.engine

FIXTURES = nsrig.FIXTURES

# After DNAT the packet is for the container's port 80: a zone that does not open it rejects it.
ZONE_REJECTS = """table inet dpt-zone {
    chain filter_FORWARD {
        type filter hook forward priority 10; policy accept;
        ct state established,related accept
        iifname "eth0" tcp dport 80 reject with icmpx admin-prohibited comment "zone public: 80 not open"
    }
    chain filter_INPUT {
        type filter hook input priority 10; policy accept;
        iifname "eth0" tcp dport 8080 drop
    }
}
"""
ZONE_OPENS = """table inet dpt-zone {
    chain filter_FORWARD {
        type filter hook forward priority 10; policy drop;
        ct state established,related accept
        iifname "eth0" oifname "bridge1" tcp dport 80 accept comment "zone public: 80 open"
        iifname "bridge1" accept
    }
}
"""

HOSTS = {
    "nft-zone-rejects": (FIXTURES / "v29.7.2-nft" / "usernet-portmap.nft", ZONE_REJECTS),
    "nft-zone-opens": (FIXTURES / "v29.7.2-nft" / "usernet-portmap.nft", ZONE_OPENS),
    "iptables-nft-zone-rejects": (FIXTURES / "v28.5.2" / "usernet-portmap.rules", ZONE_REJECTS),
}
ORIGINS = ["external", "host", "localhost", "same-network", "other-network"]
EXPECTED_EXTERNAL = {"nft-zone-rejects": "rejected", "nft-zone-opens": "delivered",
                     "iptables-nft-zone-rejects": "rejected"}


@pytest.fixture(scope="module", params=sorted(HOSTS))
def beside_host(engine, request):
    path, beside = HOSTS[request.param]
    host = nsrig.build(path, beside=beside)
    try:
        yield request.param, host, load_bundle(host.bundle)
    finally:
        host.close()


@pytest.mark.parametrize("origin", ORIGINS)
def test_a_table_beside_docker_is_walked_as_the_kernel_walks_it(beside_host, origin):
    name, host, state = beside_host
    assert [t.name for t in state.nft_tables if t.family == "inet"] == ["dpt-zone"]
    query, ns, ip, port = _origin(host, state, origin)
    connect = lambda: host.connect(ns, ip, port)  # noqa: E731
    judge_native(state, query, "tcp", connect, netns=host.host_ns)
    if not host.scenario.nft:
        judge(state, query, "tcp", connect, netns=host.host_ns)  # the iptables-nft rules, by xtables-monitor


def test_the_other_table_decides_for_outside_clients(beside_host):
    name, host, state = beside_host
    path = trace(state, Query(nsrig.HOST_PORT, "tcp", f"external:{nsrig.CLIENT_IP}"))
    assert path.verdict == EXPECTED_EXTERNAL[name], path.summary
    deciding = path.deciding_hop()
    assert deciding is not None and deciding.table == "dpt-zone" and deciding.family == "inet", path.summary
