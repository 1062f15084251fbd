"""The live collectors against a real engine, compared with what Docker's and Linux's own tools print."""

from __future__ import annotations

import json
import shutil

import pytest

from tests import rig
from tui.collect.bundle import capture, load_bundle
from tui.collect.live import collect_live
from tui.model import veth_owner
from tui.paths.engine import Query, trace

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def hosts(engine):
    a = rig.run_container(rig.name("colA"), "-p", "80", "-p", "5300:53/udp")
    b = rig.run_container(rig.name("colB"), "-P", "--expose", "9000")
    yield [a, b]
    rig.sh("docker", "rm", "-f", a, b, check=False)


def test_ports_veths_rules_and_proxies_match_the_tools(hosts):
    assert_state_matches_the_tools(collect_live(), hosts, "iptables-save")


def assert_state_matches_the_tools(state, hosts: list[str], save_command: str) -> None:
    """Ports as `docker port` prints them, veths as `ip -d link`, DNAT rules as `save_command`, proxies."""
    saved = rig.sh(save_command).stdout
    links = json.loads(rig.sh("ip", "-j", "-d", "link", "show").stdout)
    for cname in hosts:
        c = state.container(cname)
        published = sorted(f"{b.container_port}/{b.proto} -> {b.host_ip}:{b.host_port}"
                           for b in c.ports if b.published)
        docker_port = sorted(line.replace("[::]", "::")
                             for line in rig.sh("docker", "port", cname).stdout.splitlines())
        assert published == docker_port
        exposed = {f"{b.container_port}/{b.proto}" for b in c.ports}
        assert "80/tcp" in exposed  # the image's EXPOSE
        # The host veth that `ip -d link` says is enslaved to docker0 and peers with the container.
        veths = [link for link in state.links if (o := veth_owner(state, link)) and o[0].id == c.id]
        assert len(veths) == 1
        raw = next(raw_link for raw_link in links if raw_link["ifname"] == veths[0].name)
        assert raw.get("master") == "docker0"
        assert raw["linkinfo"]["info_kind"] == "veth" and raw.get("link_netnsid") is not None
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
    for field in a.__struct_fields__:
        assert getattr(a, field) == getattr(b, field), field


def test_missing_tools_leave_warnings_and_a_partial_state(hosts, tmp_path, monkeypatch):
    """No iptables and no ip on PATH: the rest is still collected, and the gap is named with a hint."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("nsenter", "ps", "sysctl", "ss"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    port = rig.host_port(hosts[0], "80/tcp")
    monkeypatch.setenv("PATH", str(bindir))
    state = collect_live()
    assert "rules" in state.missing
    assert any("iptables" in w.message and "not found" in w.message and "install" in w.hint
               for w in state.warnings)
    assert state.container(hosts[0]) is not None and state.links
    assert trace(state, Query(port, "tcp", "external")).verdict == "uncertain"

    problems = capture(tmp_path / "b")
    assert any("`ip -j -d link show` not found" in p for p in problems)
    bundled = load_bundle(tmp_path / "b")
    assert {"links", "rules"} <= bundled.missing
    assert bundled.container(hosts[0]) is not None
    assert any(w.message == "links: not captured in this bundle" for w in bundled.warnings)


def test_native_nftables_are_read_without_the_iptables_nft_tables(hosts, monkeypatch):
    """A native table beside iptables-nft's: read with its rule and counter. On a large host the
    tables `iptables-save` already showed are not listed again (2 s and 10 MB at 20,000 rules); on
    a small one the whole ruleset is listed, which is cheaper than importing pyroute2 to avoid it."""
    from tui.collect import firewall
    from tui.collect.firewall import collect_firewall

    monkeypatch.setattr(firewall, "LIST_NATIVE_ONLY_FROM", 0)  # as on a large host

    table = rig.name("native").replace("-", "_")
    rig.sh("nft", "-f", "-", input=f"table inet {table} {{\n chain probe {{\n  type filter hook input priority 10;"
                                   f" policy accept;\n  tcp dport 1 counter comment \"dpt probe\"\n }}\n}}\n")
    try:
        fw = collect_firewall()
        assert fw.backend == "nft" and fw.nft_json is not None
        listed = {(body["family"], body["name"]) for item in json.loads(fw.nft_json)["nftables"]
                  if (body := item.get("table"))}
        assert ("inet", table) in listed
        assert not listed & {("ip", "filter"), ("ip", "nat"), ("ip6", "filter")}
        state = collect_live()
        native = [t for t in state.nft_tables if t.name == table]
        assert len(native) == 1 and native[0].family == "inet"
        rule = native[0].chains["probe"].rules[0]
        assert "tcp dport 1" in rule.text and rule.comment == "dpt probe" and rule.packets == 0
        monkeypatch.setattr(firewall, "LIST_NATIVE_ONLY_FROM", 10**9)  # a small host
        small = collect_firewall()
        listed = {(i["table"]["family"], i["table"]["name"]) for i in json.loads(small.nft_json)["nftables"]
                  if "table" in i}
        assert {("inet", table), ("ip", "filter")} <= listed
    finally:
        rig.sh("nft", "delete", "table", "inet", table, check=False)


def test_a_rules_read_that_knows_the_last_collection_reads_the_same(hosts, monkeypatch):
    """A rule change re-reads the rules with the backend and the rule count the last collection
    found: the backend is not detected again, and on a small host the nft listing runs beside
    iptables-save. What is read must not depend on it; and a one-family read is that family's rules."""
    from tui.collect import firewall
    from tui.collect.firewall import collect_firewall, read_iptables_family

    def read(fw):
        texts = {f: [r.text for r in rs.all_rules()] for f, rs in fw.rulesets.items()}
        other = {f: [r.text for r in rs.all_rules()] for f, rs in fw.other_rulesets.items()}
        return fw.backend, texts, other, [w.message for w in fw.warnings], json.loads(fw.nft_json or "{}")

    detected = []
    real_detect = firewall.detect_backend
    monkeypatch.setattr(firewall, "detect_backend", lambda: detected.append(1) or real_detect())
    plain = collect_firewall()
    assert detected == [1]
    hinted = collect_firewall(backend="nft", rules_before=10)
    assert detected == [1], "the backend was detected again"
    assert read(hinted) == read(plain)
    assert 4 in plain.rulesets and 6 in plain.rulesets and plain.nft_json
    large = collect_firewall(backend="nft", rules_before=10**6)  # the listing waits for the saves there
    assert read(large)[:4] == read(plain)[:4]
    only4 = read_iptables_family(4)
    assert list(only4.rulesets) == [4]
    assert [r.text for r in only4.rulesets[4].all_rules()] == read(plain)[1][4]


def test_links_read_with_ip_are_the_ones_netlink_gives(hosts):
    """The live collection reads links, addresses and routes with `ip -j` (the parsers of a
    capture); pyroute2 reads them when `ip` cannot. Both give the same model on the real host."""
    from tui.collect.live import read_links_by_ip
    from tui.collect.netlink import read_links

    by_ip = read_links_by_ip()
    assert by_ip is not None
    links, routes = read_links()
    assert by_ip[0] == links
    assert sorted(by_ip[1], key=repr) == sorted(routes, key=repr)
    assert any(link.kind == "veth" and link.master == "docker0" for link in links)
