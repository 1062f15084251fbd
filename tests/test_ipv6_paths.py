"""IPv6 paths judged by the kernel, on a real Docker engine (issue 17).

Three daemons: IPv6 with ip6tables (DNAT in ip6tables, two docker-proxies per -p: 0.0.0.0 to the
container's IPv4 and :: to its IPv6 address), the same without the userland proxy, and the default
daemon (no IPv6 on the bridge, no ip6tables rules: IPv6 reaches a container only through
docker-proxy's 6-to-4). The kernel's word comes from `nft -a monitor trace` (xtables-monitor 1.8.9
stops at the first ip6 rule with a port match): the engine's rule hops equal the kernel's, both legs,
and `delivered` agrees with a real connection from the outside client's namespace, the host, or a
container.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests import rig
from tests.judge import judge_by_nft_trace
from tui.collect.live import collect_live
from tui.paths.engine import Query, QueryError, trace
from tui.paths.findings import host_findings, port_findings
from tui.paths.packet import HostView

pytestmark = pytest.mark.engine

BASE = 24000 + (int(rig.RUN_ID, 16) % 1000) * 8  # host ports unique to this run
V6_NET_SUBNET = "fd01:d0c:6::/64"

DAEMONS = {"ip6tables": ("ipv6",), "ip6tables-no-userland-proxy": ("ipv6", "--userland-proxy=false"),
           "default": ()}


@pytest.fixture(scope="module", params=list(DAEMONS))
def daemon6(engine, request):
    flags = DAEMONS[request.param]
    if flags and flags[0] == "ipv6":
        with rig.ipv6_daemon(*flags[1:]):
            yield request.param
        return
    yield request.param


@pytest.fixture(scope="module")
def scene6(daemon6):
    v6net = rig.name("v6net")
    rig.sh("docker", "network", "create", "--ipv6", "--subnet", V6_NET_SUBNET, v6net)
    c = {
        "web": rig.run_container(rig.name("web6"), "-p", f"{BASE}:80"),
        "peer": rig.run_container(rig.name("peer6")),
        "nweb": rig.run_container(rig.name("nweb6"), "--network", v6net, "-p", f"{BASE + 1}:80"),
        "npeer": rig.run_container(rig.name("npeer6"), "--network", v6net),
    }
    rig.wait_ipv6_addresses_settled(*(_sandbox(name) for name in c.values()))
    try:
        yield {"daemon": daemon6, **c}
    finally:
        rig.cleanup_docker()


def _sandbox(cname: str) -> str:
    return rig.sh("docker", "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", cname).stdout.strip()


def _ipv6(state, cname: str) -> str:
    c = state.container(cname)
    return next((e.ipv6 for e in c.endpoints if e.ipv6), "") if c else ""


def _cases(scene, state):
    """(query, connect) for every IPv6 origin; connect() reads the query's addresses after the trace
    filled them in."""
    out = []
    for key, port in (("web", BASE), ("nweb", BASE + 1)):
        out.append((Query(port, "tcp", f"external:{rig.CLIENT_IP6}", family=6),
                    lambda port=port: rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP6, port)))
        out.append((Query(port, "tcp", "host", to=rig.HOST_SIDE_IP6),
                    lambda port=port: rig.connect_from_ns(None, rig.HOST_SIDE_IP6, port)))
        out.append((Query(port, "tcp", "localhost", family=6),
                    lambda port=port: rig.connect_from_ns(None, "::1", port)))
        direct = _ipv6(state, scene[key])
        if direct:
            out.append((Query(80, "tcp", f"external:{rig.CLIENT_IP6}", to=direct),
                        lambda direct=direct: rig.connect_from_ns(rig.CLIENT_NS, direct, 80)))
    for peer, target in (("peer", "web"), ("npeer", "nweb")):
        if not _ipv6(state, scene[peer]):
            continue
        sandbox = _sandbox(scene[peer])
        port = BASE if target == "web" else BASE + 1
        out.append((Query(port, "tcp", f"container:{scene[peer]}", to=rig.HOST_SIDE_IP6),
                    lambda sandbox=sandbox, port=port: rig.connect_from_sandbox(sandbox, rig.HOST_SIDE_IP6, port)))
        direct = _ipv6(state, scene[target])
        if direct:
            out.append((Query(80, "tcp", f"container:{scene[peer]}", to=direct),
                        lambda sandbox=sandbox, direct=direct: rig.connect_from_sandbox(sandbox, direct, 80)))
    return out


def test_every_ipv6_origin_agrees_with_the_kernel(scene6):
    state = collect_live()
    cases = _cases(scene6, state)
    assert len(cases) >= 6, [q for q, _ in cases]
    for query, connect in cases:
        judge_by_nft_trace(state, query, "tcp", connect)


def test_a_container_asks_in_ipv6_only_with_an_ipv6_address(scene6):
    state = collect_live()
    query = Query(BASE, "tcp", f"container:{scene6['peer']}", family=6)
    if _ipv6(state, scene6["peer"]):
        assert trace(state, query).query.src == _ipv6(state, scene6["peer"])
    else:
        with pytest.raises(QueryError, match="no IPv6 address"):
            trace(state, query)


def test_the_ipv6_binding_goes_where_the_daemon_sends_it(scene6):
    """Proxy on: `::` -> the container's IPv6 address (6 to 6), or its IPv4 address when it has no
    IPv6 (6 to 4, the default daemon), and then the container sees the proxy, not the client (a
    finding). Proxy off: DNAT in ip6tables, no proxy. Each judged by the kernel in the test above."""
    state = collect_live()
    path = trace(state, Query(BASE, "tcp", "localhost", family=6))
    proxy = next((h for h in path.hops if h.kind == "proxy"), None)
    web = state.container(scene6["web"])
    v6_binding = next(b for b in web.ports if b.host_ip == "::")
    codes = {f.code for f in port_findings(state, web, v6_binding)}
    if scene6["daemon"] == "ip6tables-no-userland-proxy":
        assert proxy is None and path.verdict == "dropped"  # ::1 has no route_localnet (measured)
        assert "ipv6-no-rule" not in codes
    elif scene6["daemon"] == "ip6tables":
        assert proxy is not None and proxy.facts["container_ip"] == _ipv6(state, scene6["web"])
        assert "6 to 4" not in proxy.explanation and "ipv6-no-rule" not in codes
    else:
        assert proxy is not None and ":" not in proxy.facts["container_ip"]
        assert "6 to 4" in proxy.explanation
        assert "ipv6-no-rule" in codes


def test_ipv6_network_without_ip6tables_is_found(scene6):
    state = collect_live()
    codes = {f.code for f in host_findings(state)}
    assert ("ipv6-net-unfiltered" in codes) == (scene6["daemon"] == "default"), codes


def test_a_v6_question_resolves_the_default_addresses(scene6):
    state = collect_live()
    view = HostView.of(state)
    q = Query(BASE, "tcp", "localhost", family=6)
    trace(state, q)
    assert (q.src, q.dst) == ("::1", "::1")
    q = Query(BASE, "tcp", f"external:{rig.CLIENT_IP6}")
    trace(state, q)
    assert q.family == 6 and q.dst == rig.HOST_SIDE_IP6  # the address on the interface the client is behind
    if view.default_interface(6):
        q = Query(BASE, "tcp", "host", family=6)
        trace(state, q)
        assert q.dst == view.primary_address(view.default_interface(6), 6)
        assert not ipaddress.ip_address(q.dst).is_link_local


def test_the_host_is_put_back_after_an_ipv6_daemon(engine):
    """After the IPv6 daemon, the default one runs on the host it found: IPv6 forwarding as it was,
    no fe80::1 on docker0, no Docker rules in ip6tables and FORWARD's policy ACCEPT."""
    before = rig.sh("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip()
    with rig.ipv6_daemon():
        assert rig.sh("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == "1"
        assert "DOCKER" in rig.sh("ip6tables-save").stdout
    assert rig.daemon_running()
    assert rig.sh("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == before
    assert "fe80::1/" not in rig.sh("ip", "-6", "addr", "show", "docker0").stdout
    saved = rig.sh("ip6tables-save").stdout
    assert "DOCKER" not in saved and ":FORWARD ACCEPT" in saved


def test_a_rule_that_drops_only_ipv6_is_found_and_judged(scene6):
    """A user's ip6tables rule closes the published port to IPv6 only: IPv4 still answers. The
    finding names that rule, and the kernel agrees that IPv6 is dropped there."""
    if not scene6["daemon"].startswith("ip6tables"):
        return  # under the default daemon no IPv6 packet is forwarded to the container: no such rule applies
    state = collect_live()
    target = _ipv6(state, scene6["web"])
    rule = ["FORWARD", "-d", f"{target}/128", "-p", "tcp", "--dport", "80", "-m", "comment",
            "--comment", f"{rig.PREFIX}v6-only-drop", "-j", "DROP"]
    rig.sh("ip6tables", "-I", *rule)
    try:
        state = collect_live()
        web = state.container(scene6["web"])
        found = [f for f in port_findings(state, web, next(b for b in web.ports if b.host_ip == "::"))
                 if f.code == "family-differs"]
        assert found and found[0].facts["works"] == 4 and f"{rig.PREFIX}v6-only-drop" in found[0].facts["rule"]
        judge_by_nft_trace(state, Query(BASE, "tcp", f"external:{rig.CLIENT_IP6}", family=6), "tcp",
                           lambda: rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP6, BASE))
    finally:
        rig.sh("ip6tables", "-D", *rule, check=False)


def test_a_native_inet_table_is_walked_for_ipv6(scene6):
    """A hand-written `inet` table beside Docker's (as firewalld or a host firewall writes one)
    drops IPv6 to the published port at the forward hook: the walker runs its chain in priority
    order among iptables-nft's, and the kernel agrees rule by rule."""
    if not scene6["daemon"].startswith("ip6tables"):
        return  # no IPv6 packet is forwarded to the container under the default daemon
    state = collect_live()
    target = _ipv6(state, scene6["web"])
    table = f"{rig.PREFIX}v6zone"
    rig.sh("nft", "-f", "-", input=(
        f"table inet {table} {{\n chain zone_forward {{ type filter hook forward priority -10; policy accept;\n"
        f"  ip6 daddr {target} tcp dport 80 counter drop\n }}\n}}\n"))
    try:
        state = collect_live()
        query = Query(BASE, "tcp", f"external:{rig.CLIENT_IP6}", family=6)
        path = trace(state, query)
        assert path.verdict == "dropped" and path.deciding_hop().table == table
        judge_by_nft_trace(state, Query(BASE, "tcp", f"external:{rig.CLIENT_IP6}", family=6), "tcp",
                           lambda: rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP6, BASE))
    finally:
        rig.sh("nft", "delete", "table", "inet", table, check=False)


def test_verify_6_agrees_for_every_origin(scene6):
    """`verify -6` on each daemon: its own client namespace, nft's monitor for every table, and the
    kernel confirms the prediction (both legs and the outcome); nothing of it stays."""
    from tui.verify.verify import verify

    origins = [("external", None), ("localhost", None), ("host", rig.HOST_SIDE_IP6)]
    if _ipv6(collect_live(), scene6["npeer"]):
        origins.append((f"container:{scene6['npeer']}", rig.HOST_SIDE_IP6))
    for origin, to in origins:
        result = verify(BASE + 1, "tcp", origin, to, family=6)
        assert result.agree, (origin, result.compared, result.outcome)
        assert result.legs[0], origin
    assert "dockport-verify" not in rig.sh("ip", "netns", "list").stdout
    assert "dockport-verify" not in rig.sh("nft", "list", "tables").stdout
