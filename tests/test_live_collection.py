"""The live collectors against a real engine, compared with what Docker's and Linux's own tools print."""

from __future__ import annotations

import json

import pytest

from tests import rig
from tui.collect.assemble import veth_owner
from tui.collect.bundle import capture, load_bundle
from tui.collect.live import collect_live

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def hosts(engine):
    a = rig.run_container(rig.name("colA"), "-p", "80", "-p", "5300:53/udp")
    b = rig.run_container(rig.name("colB"), "-P", "--expose", "9000")
    yield [a, b]
    rig.sh("docker", "rm", "-f", a, b, check=False)


def test_ports_veths_rules_and_proxies_match_the_tools(hosts):
    state = collect_live()
    saved = rig.sh("iptables-save").stdout
    links = json.loads(rig.sh("ip", "-j", "-d", "link", "show").stdout)
    for cname in hosts:
        c = state.container(cname)
        published = sorted(f"{b.container_port}/{b.proto} -> {b.host_ip}:{b.host_port}"
                           for b in c.ports if b.published)
        docker_port = sorted(l.replace("[::]", "::")
                             for l in rig.sh("docker", "port", cname).stdout.splitlines())
        assert published == docker_port
        exposed = {f"{b.container_port}/{b.proto}" for b in c.ports}
        assert "80/tcp" in exposed  # the image's EXPOSE
        # The host veth that `ip -d link` says is enslaved to docker0 and peers with the container.
        veths = [l for l in state.links if (o := veth_owner(state, l)) and o[0].id == c.id]
        assert len(veths) == 1
        raw = next(l for l in links if l["ifname"] == veths[0].name)
        assert raw.get("master") == "docker0"
        ip = c.endpoints[0].ip
        for b in c.ports:
            if b.published and b.host_ip == "0.0.0.0":
                dnat = f"--dport {b.host_port} -j DNAT --to-destination {ip}:{b.container_port}"
                assert dnat in saved
                assert any(dnat in r.text for r in state.rulesets[4].all_rules())
                assert any(p.host_port == b.host_port and p.container_ip == ip and p.proto == b.proto
                           for p in state.proxies)


def test_live_and_capture_give_the_same_state(hosts, tmp_path):
    live = collect_live()
    problems = capture(tmp_path / "b")
    assert not [p for p in problems if "nft" not in p]
    bundled = load_bundle(tmp_path / "b")
    a, b = live.without_volatile(), bundled.without_volatile()
    for field in a.__dataclass_fields__:
        assert getattr(a, field) == getattr(b, field), field
