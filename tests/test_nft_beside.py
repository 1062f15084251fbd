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
        counter comment "every forwarded packet"
        ct state established,related accept
        iifname "eth0" oifname "bridge1" tcp dport 80 accept comment "zone public: 80 open"
        iifname "bridge1" accept
    }
}
"""

# A zone that closes the host port at input only: the published port is forwarded, never input.
ZONE_INPUT_ONLY = """table inet dpt-zone {
    chain filter_INPUT {
        type filter hook input priority 10; policy accept;
        iifname "eth0" tcp dport 8080 drop
    }
}
"""
# An admin "opens" the container to the LAN in a table of their own, before Docker's raw drop.
USER_OPENS_DIRECT = """table inet dpt-user {
    chain pre {
        type filter hook prerouting priority -400; policy accept;
        ip daddr 192.0.2.2 tcp dport 80 accept comment "open c1 to the LAN"
    }
}
"""
PORTMAP_NFT = FIXTURES / "v29.7.2-nft" / "usernet-portmap.nft"
# name: (Docker's rules, the other table, ip_forward)
HOSTS = {
    "nft-zone-rejects": (PORTMAP_NFT, ZONE_REJECTS, True),
    "nft-zone-opens": (PORTMAP_NFT, ZONE_OPENS, True),
    "nft-zone-input-only": (PORTMAP_NFT, ZONE_INPUT_ONLY, True),
    "nft-user-opens-direct": (PORTMAP_NFT, USER_OPENS_DIRECT, True),
    "nft-forwarding-off": (PORTMAP_NFT, "", False),
    "iptables-nft-zone-rejects": (FIXTURES / "v28.5.2" / "usernet-portmap.rules", ZONE_REJECTS, True),
}
ORIGINS = ["external", "host", "localhost", "same-network", "other-network", "direct"]
EXPECTED_EXTERNAL = {"nft-zone-rejects": "rejected", "nft-zone-opens": "delivered", "nft-zone-input-only": "delivered",
                     "nft-user-opens-direct": "delivered", "nft-forwarding-off": "dropped",
                     "iptables-nft-zone-rejects": "rejected"}
# The findings each host causes (and no other host here has).
CAUSED = {"nft-zone-rejects": {"docker-accept-other-drops"}, "iptables-nft-zone-rejects": {"docker-accept-other-drops"},
          "nft-zone-input-only": {"nft-input-bypass"}, "nft-user-opens-direct": {"other-accept-docker-drops"},
          "nft-forwarding-off": {"ip-forward-off-nft"}, "nft-zone-opens": set()}
NFT_FINDINGS = {"docker-accept-other-drops", "other-accept-docker-drops", "nft-input-bypass", "ip-forward-off-nft"}


@pytest.fixture(scope="module", params=sorted(HOSTS))
def beside_host(engine, request):
    path, beside, forwarding = HOSTS[request.param]
    host = nsrig.build(path, beside=beside, forwarding=forwarding)
    try:
        yield request.param, host, load_bundle(host.bundle)
    finally:
        host.close()


@pytest.mark.parametrize("origin", ORIGINS)
def test_a_table_beside_docker_is_walked_as_the_kernel_walks_it(beside_host, origin):
    name, host, state = beside_host
    query, ns, ip, port = _origin(host, state, origin)
    connect = lambda: host.connect(ns, ip, port)  # noqa: E731
    judge_native(state, query, "tcp", connect, netns=host.host_ns)
    if not host.scenario.nft:
        judge(state, query, "tcp", connect, netns=host.host_ns)  # the iptables-nft rules, by xtables-monitor


def test_the_other_table_decides_for_outside_clients(beside_host):
    name, host, state = beside_host
    path = trace(state, Query(nsrig.HOST_PORT, "tcp", f"external:{nsrig.CLIENT_IP}"))
    assert path.verdict == EXPECTED_EXTERNAL[name], path.summary
    if path.verdict == "rejected":
        deciding = path.deciding_hop()
        assert deciding is not None and deciding.table == "dpt-zone" and deciding.family == "inet", path.summary


def test_each_nftables_finding_comes_with_its_cause_only(beside_host):
    from tui.paths.findings import host_findings, port_findings

    name, host, state = beside_host
    c1 = state.container("c1")
    found = {f.code for f in host_findings(state)} | {f.code for b in c1.ports for f in port_findings(state, c1, b)}
    assert found & NFT_FINDINGS == CAUSED[name]
    assert ("nft-no-docker-user" in found) == host.scenario.nft
