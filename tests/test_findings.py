"""Each finding, caused for real on the engine (or a host rebuilt in namespaces), seen; and not seen
when its cause is absent."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests import nsrig, rig
from tests.judge import judge
from tui.collect.bundle import load_bundle
from tui.collect.live import collect_live
from tui.paths.engine import Query, trace
from tui.paths.findings import host_findings, port_findings

pytestmark = pytest.mark.engine

BASE = 24000 + (int(rig.RUN_ID, 16) % 500) * 10


@pytest.fixture(scope="module")
def hosts(engine):
    net = rig.name("noicc")
    rig.sh("docker", "network", "create", "-o", "com.docker.network.bridge.enable_icc=false", net)
    c = {
        "exp": rig.run_container(rig.name("fexp"), "--expose", "9000"),
        "pub": rig.run_container(rig.name("fpub"), "-p", f"{BASE}:80"),
        "lo": rig.run_container(rig.name("flo"), "-p", f"127.0.0.1:{BASE + 1}:80"),
        "nl": rig.run_container(rig.name("fnl"), "-p", f"{BASE + 2}:81"),
        "v4": rig.run_container(rig.name("fv4"), "-p", f"0.0.0.0:{BASE + 3}:80"),
        "noicc": rig.run_container(rig.name("fni"), "--network", net, "-p", f"{BASE + 4}:80"),
    }
    time.sleep(0.5)
    yield c
    rig.cleanup_docker()


def codes(state, cname: str, container_port: int, host_ip: str | None = "0.0.0.0") -> set[str]:
    c = state.container(cname)
    b = next(b for b in c.ports if b.container_port == container_port and (b.host_ip == host_ip or not b.published))
    return {f.code for f in port_findings(state, c, b)}


def host_codes(state) -> set[str]:
    return {f.code for f in host_findings(state)}


def test_expose_only(hosts):
    state = collect_live()
    assert "expose-only" in codes(state, hosts["exp"], 9000, None)
    assert "expose-only" not in codes(state, hosts["pub"], 80)


def test_icc_on_and_off(hosts):
    state = collect_live()
    assert "icc-on" in codes(state, hosts["pub"], 80)
    assert "icc-on" not in codes(state, hosts["noicc"], 80)


def test_loopback_only(hosts):
    state = collect_live()
    assert "loopback-only" in codes(state, hosts["lo"], 80, "127.0.0.1")
    assert "loopback-only" not in codes(state, hosts["pub"], 80)


def test_nothing_listening(hosts):
    state = collect_live()
    assert "not-listening" in codes(state, hosts["nl"], 81)
    assert "not-listening" not in codes(state, hosts["pub"], 80)


def test_ipv6_binding_without_ip6tables_rule(hosts):
    state = collect_live()
    assert "ipv6-no-rule" in codes(state, hosts["pub"], 80, "::")
    assert "ipv6-no-rule" not in codes(state, hosts["v4"], 80)


def test_mapping_without_its_proxy(hosts):
    state = collect_live()
    assert "proxy-missing" not in codes(state, hosts["v4"], 80)
    proxy = next(p for p in state.proxies if p.host_port == BASE + 3)
    os.kill(proxy.pid, 9)  # the container keeps running; its mapping has lost its proxy
    time.sleep(0.3)
    assert "proxy-missing" in codes(collect_live(), hosts["v4"], 80)


def test_proxy_without_mapping(engine):
    state = collect_live()
    assert "orphan-proxy" not in host_codes(state)
    port = BASE + 7
    ready_r, ready_w = os.pipe()
    proc = subprocess.Popen(["docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", str(port),
                             "-container-ip", "172.17.255.254", "-container-port", "80"],
                            pass_fds=(3,), preexec_fn=lambda: os.dup2(ready_w, 3),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(ready_w)
    os.close(ready_r)
    try:
        time.sleep(0.3)
        found = [f for f in host_findings(collect_live()) if f.code == "orphan-proxy"]
        assert found and str(port) in found[0].reason
    finally:
        proc.kill()
        proc.wait()


def test_docker_user_rule_that_drops(hosts):
    state = collect_live()
    ip = state.container(hosts["pub"]).endpoints[0].ip
    assert "dropped-by-rule" not in codes(state, hosts["pub"], 80)
    rule = ["DOCKER-USER", "-d", f"{ip}/32", "-p", "tcp", "--dport", "80", "-j", "DROP"]
    rig.sh("iptables", "-I", *rule)
    try:
        now = collect_live()
        c = now.container(hosts["pub"])
        binding = next(b for b in c.ports if b.host_ip == "0.0.0.0")
        found = [f for f in port_findings(now, c, binding) if f.code == "dropped-by-rule"]
        assert found and "DOCKER-USER" in found[0].reason and "-j DROP" in found[0].evidence
    finally:
        rig.sh("iptables", "-D", *rule, check=False)


def test_forward_policy_accept_allows_direct_routing(hosts):
    state = collect_live()
    assert "direct-routing" not in codes(state, hosts["exp"], 9000, None)
    rig.sh("iptables", "-P", "FORWARD", "ACCEPT")
    try:
        assert "direct-routing" in codes(collect_live(), hosts["exp"], 9000, None)
    finally:
        rig.sh("iptables", "-P", "FORWARD", "DROP")


def test_input_chain_firewall_is_bypassed(hosts):
    assert "input-bypass" not in codes(collect_live(), hosts["pub"], 80)
    rule = ["INPUT", "-s", "203.0.113.99/32", "-j", "DROP"]  # a ufw-style INPUT filter (harmless address)
    rig.sh("iptables", "-A", *rule)
    try:
        assert "input-bypass" in codes(collect_live(), hosts["pub"], 80)
    finally:
        rig.sh("iptables", "-D", *rule, check=False)


@pytest.fixture()
def fixture_host(engine):
    host = nsrig.build(nsrig.FIXTURES / "v28.5.2" / "usernet-portmap.rules")
    try:
        yield host
    finally:
        host.close()


def _c1(state):
    c = state.container("c1")
    return c, next(b for b in c.ports if b.published)


def test_ip_forward_off_and_no_dnat_rule(fixture_host):
    """On a host rebuilt in namespaces: forwarding off, and the DNAT rule gone (as with rootless Docker)."""
    state = load_bundle(fixture_host.bundle)
    assert "ip-forward-off" not in host_codes(state)
    assert "no-dnat-rule" not in {f.code for f in port_findings(state, *_c1(state))}
    fixture_host.run(fixture_host.host_ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    fixture_host.run(fixture_host.host_ns, "iptables", "-t", "nat", "-F", "DOCKER")
    nsrig.rewrite_bundle(fixture_host)
    state = load_bundle(fixture_host.bundle)
    assert "ip-forward-off" in host_codes(state)
    assert "no-dnat-rule" in {f.code for f in port_findings(state, *_c1(state))}
    # The kernel still lets outside clients in, through docker-proxy (no forwarding needed): the
    # engine's path for it is judged rule by rule.
    query = Query(nsrig.HOST_PORT, "tcp", f"external:{nsrig.CLIENT_IP}")
    assert trace(state, query).via == "proxy"
    judge(state, query, "tcp", lambda: fixture_host.connect(fixture_host.client_ns, nsrig.UPLINK_IP,
                                                             nsrig.HOST_PORT), netns=fixture_host.host_ns)
