"""Certainty only with grounds (issue 12, part 4), each point judged on the real engine or by a
real client: RETURN after a goto from a base chain, a definite mismatch beside a doubt, a rule the
engine cannot evaluate shown as its own hop, sysctls not read, and an uncertain verdict's reason."""

from __future__ import annotations

import shutil

import pytest

from tests import rig
from tests.judge import judge
from tui.cli import demo_bundle_path
from tui.collect.bundle import capture, load_bundle
from tui.collect.live import collect_live
from tui.paths.engine import Query, trace


@pytest.fixture(scope="module")
def web(engine):
    name = rig.run_container(rig.name("certain"), "-p", "80")
    try:
        yield name, rig.host_port(name, "80/tcp"), rig.container_ip(name)
    finally:
        rig.sh("docker", "rm", "-f", name, check=False)


def _outside(port: int):
    return lambda: rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP, port, "tcp")


@pytest.mark.engine
def test_return_after_a_goto_from_a_base_chain_applies_its_policy(web):
    """FORWARD -g CHAIN, CHAIN -j RETURN: the kernel applies FORWARD's policy (DROP), not ACCEPT."""
    _name, port, ip = web
    chain = f"{rig.PREFIX}GOTO-{rig.RUN_ID}"
    policy = rig.sh("iptables", "-S", "FORWARD").stdout.splitlines()[0].split()[-1]
    goto = ["FORWARD", "-d", f"{ip}/32", "-p", "tcp", "-m", "tcp", "--dport", "80", "-g", chain]
    rig.sh("iptables", "-N", chain)
    try:
        rig.sh("iptables", "-A", chain, "-j", "RETURN")
        rig.sh("iptables", "-P", "FORWARD", "DROP")
        rig.sh("iptables", "-I", *goto)
        state = collect_live()
        path = trace(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"))
        assert path.verdict == "dropped", path.summary
        assert path.hops[-1].kind == "policy" and path.hops[-1].chain == "FORWARD"
        judge(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"), "tcp", _outside(port))
    finally:
        rig.sh("iptables", "-D", *goto, check=False)
        rig.sh("iptables", "-P", "FORWARD", policy, check=False)
        rig.sh("iptables", "-F", chain, check=False)
        rig.sh("iptables", "-X", chain, check=False)


@pytest.mark.engine
def test_a_definite_mismatch_wins_over_a_match_the_engine_cannot_evaluate(web):
    """`-m statistic ... --dport 9999` cannot match port 80, whatever the statistic says."""
    _name, port, _ip = web
    # The match the engine cannot evaluate comes first, as an admin may write it.
    rule = ["DOCKER-USER", "-p", "tcp", "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0",
            "-m", "tcp", "--dport", "9999", "-j", "DROP"]
    rig.sh("iptables", "-I", *rule)
    try:
        state = collect_live()
        path = trace(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"))
        assert path.verdict == "delivered", path.summary
        judge(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"), "tcp", _outside(port))
    finally:
        rig.sh("iptables", "-D", *rule, check=False)


@pytest.mark.engine
def test_a_rule_the_engine_cannot_evaluate_is_a_hop_of_its_own(web):
    _name, port, ip = web
    rule = ["DOCKER-USER", "-d", f"{ip}/32", "-p", "tcp", "-m", "tcp", "--dport", "80", "-m", "statistic",
            "--mode", "nth", "--every", "1", "--packet", "0", "-j", "LOG", "--log-prefix", "dpt-certainty "]
    rig.sh("iptables", "-I", *rule)
    try:
        state = collect_live()
        path = trace(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"))
        maybe = [h for h in path.hops if h.facts.get("maybe")]
        assert len(maybe) == 1 and "-m statistic" in maybe[0].rule, [h.rule for h in path.hops]
        assert "--mode is not evaluated" in maybe[0].uncertain and "whether this rule matches" in maybe[0].explanation
        assert path.verdict == "uncertain" and "-m statistic" in path.summary
        judge(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"), "tcp", _outside(port))  # the kernel shows it
    finally:
        rig.sh("iptables", "-D", *rule, check=False)


@pytest.mark.engine
def test_sysctls_not_read_make_the_answer_uncertain(web, tmp_path):
    """The same host without its sysctl.txt: a real client gets through, yet the engine cannot know
    that forwarding is on; it says so and what to capture, instead of assuming."""
    _name, port, _ip = web
    capture(tmp_path / "host")
    (tmp_path / "host" / "sysctl.txt").unlink()
    state = load_bundle(tmp_path / "host")
    path = trace(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"))
    assert rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP, port, "tcp")
    assert path.verdict == "uncertain"
    assert any("net.ipv4.ip_forward was not read" in d and "sysctl net.ipv4.ip_forward" in d for d in path.doubts)


def test_every_uncertain_answer_names_its_reason(tmp_path):
    """A packet that leaves the host is beyond what the engine sees: uncertain, and it says why."""
    path = trace(load_bundle(demo_bundle_path()), Query(443, "tcp", "host", to="198.51.100.99"))
    assert path.verdict == "uncertain"
    assert path.doubts and "leaves this host" in path.doubts[0]
    root = tmp_path / "demo"
    shutil.copytree(demo_bundle_path(), root)
    (root / "sysctl.txt").unlink()
    for origin in ("external", "host", "localhost", "container:demo-dns"):
        for port in (80, 443, 2222, 6379):
            p = trace(load_bundle(root), Query(port, "tcp", origin))
            if p.verdict == "uncertain":
                assert p.doubts, (origin, port, p.summary)


@pytest.mark.engine
@pytest.mark.parametrize("origin", ["host", "localhost"])
def test_output_interface_after_a_nat_output_dnat_is_the_first_routes(web, origin):
    """filter OUTPUT matches `-o` against the route taken before nat OUTPUT rewrote the destination:
    the host's packet to its own address, DNATed to a container, still goes `-o lo` there; the
    proxy's own connection to the container goes `-o docker0`."""
    _name, port, ip = web
    state = collect_live()
    from tui.paths.packet import HostView

    view = HostView.of(state)
    host_ip = view.primary_address(view.default_interface())
    rules = [["OUTPUT", "-d", f"{ip}/32", "-o", "lo", "-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "ACCEPT"],
             ["OUTPUT", "-d", f"{ip}/32", "-o", "docker0", "-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "ACCEPT"],
             ["OUTPUT", "-o", "lo", "-p", "tcp", "-m", "tcp", "--dport", str(port), "-j", "ACCEPT"]]
    for rule in rules:
        rig.sh("iptables", "-I", *rule)
    try:
        state = collect_live()
        target = host_ip if origin == "host" else "127.0.0.1"
        query = Query(port, "tcp", origin)
        path = trace(state, query)
        assert any(h.chain == "OUTPUT" and "-o lo" in h.rule for h in path.hops), [h.rule for h in path.hops]
        judge(state, query, "tcp", lambda: rig.connect_from_ns(None, target, port, "tcp"))
    finally:
        for rule in rules:
            rig.sh("iptables", "-D", *rule, check=False)


@pytest.mark.engine
def test_udp_through_docker_proxy_from_a_container_reaches_only_an_unconnected_client(engine):
    """Docker <= 27: docker-proxy answers a container's UDP datagram from the bridge's gateway, not
    from the host address the container sent to. A real connected client gets nothing; an
    unconnected one gets the answer. The engine must not call that path delivered."""
    import subprocess
    import sys

    server = rig.run_container(rig.name("udpsrv"), "-p", "5399/udp", cmd=("sleep", "600"))
    client = rig.run_container(rig.name("udpcli"), cmd=("sleep", "600"))
    sandbox = rig.sh("docker", "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", server).stdout.strip()
    echo = subprocess.Popen(["nsenter", f"--net={sandbox}", sys.executable,
                             str(rig.PROBE.with_name("udp_echo.py")), "5399", "60"])
    try:
        import time

        from tui.paths.packet import HostView

        port = rig.host_port(server, "5399/udp")
        view = HostView.of(collect_live())
        host_ip = view.primary_address(view.default_interface())
        client_box = rig.sh("docker", "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", client).stdout.strip()
        for _ in range(20):  # until the echo server is bound (an unconnected client is answered)
            if rig.connect_from_sandbox(client_box, host_ip, port, "udp"):
                break
            time.sleep(0.25)
        state = collect_live()
        connected = rig.connect_from_sandbox(client_box, host_ip, port, "udp-connected")
        unconnected = rig.connect_from_sandbox(client_box, host_ip, port, "udp")
        path = trace(state, Query(port, "udp", f"container:{client}"))
        major = state.facts.docker_major
        if major is not None and major < 28:
            assert unconnected and not connected, (unconnected, connected)
            assert path.verdict == "uncertain", path.summary
            assert any("connected UDP client" in d for d in path.doubts), path.doubts
            proxy_hop = next(h for h in path.hops if h.kind == "proxy")
            assert "answers from" in proxy_hop.uncertain
            from tui.paths.findings import port_findings

            c = state.container(server)
            binding = next(b for b in c.ports if b.host_port == port)
            assert "udp-proxy-answer-source" in {f.code for f in port_findings(state, c, binding)}
        else:
            assert connected and path.verdict == "delivered", path.summary
    finally:
        echo.kill()
        echo.wait()
        rig.sh("docker", "rm", "-f", server, client, check=False)
