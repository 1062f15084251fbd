"""Docker hosts we cannot run, rebuilt in network namespaces (DESIGN §4.5) so the kernel can judge.

From one fixture rule set (`tests/fixtures/docker-rulesets/vX/SCENARIO.rules`) this builds:

- a "host" netns with the bridges the rules name (docker0 and the user network's bridge: bridge1, or
  bridgeICC in moby's internal-network document), an uplink `eth0` and the rules
  loaded with iptables-restore;
- container namespaces behind veths on those bridges: c1 (192.0.2.2, busybox httpd on :80, the
  published one), c2 (192.0.2.3, same network) and c0 (172.17.0.2, the default bridge);
- an outside client netns (203.0.113.2) whose default route is the host;
- the real docker-proxy binary in the host netns when the scenario has the userland proxy on;
- a capture bundle of that host (the same files `dockport-tui capture` writes), so the path engine
  sees it exactly as it would see a real host.

A dual-stack scenario (`tests/fixtures/dual-stack/vX/SCENARIO/`: the IPv4 and IPv6 rule sets moby's
own firewaller tests generate for one network `br-dummy`) builds the same host in both families:
c1 at 192.168.0.2 and fd49:efd7:54aa::1 (the addresses those rules name), c2 beside it, no default
bridge, IPv6 forwarding on, and with the proxy on two docker-proxies per binding (0.0.0.0 or
127.0.0.1 to c1's IPv4, :: or ::1 to its IPv6 address), as Docker starts them.

Everything is named `dpt-fx-...-RUNID` and removed again by `FixtureHost.close()`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests import rig
from tui.collect.bundle import load_bundle
from tui.model import HostState

FIXTURES = Path(__file__).with_name("fixtures") / "docker-rulesets"
UPLINK_IP, CLIENT_IP = "203.0.113.1", "203.0.113.2"
UPLINK_IP6, CLIENT_IP6 = "2001:db8:ff::1", "2001:db8:ff::2"
DUAL_STACK = Path(__file__).with_name("fixtures") / "dual-stack"
HOST_PORT, CONTAINER_PORT = 8080, 80
SYSCTL_PATTERN = (r"^net\.(ipv4\.ip_forward|ipv4\.ip_local_port_range|ipv4\.conf\.[^.]+\.route_localnet|"
                  r"ipv6\.conf\.all\.forwarding|bridge\.bridge-nf-call-ip6?tables)$")


@dataclass
class Box:
    """One container-like namespace."""

    name: str  # container name: c0, c1, c2
    ns: str
    ip: str
    prefix: int
    bridge: str
    network: str
    gateway: str
    publishes: bool = False
    ip6: str = ""
    gateway6: str = ""


@dataclass
class Scenario:
    version: str
    name: str
    rules: str
    proxy: bool
    bind_ip: str
    bridge1_options: dict[str, str]
    internal: bool
    has_bridge1: bool
    user_bridge: str = "bridge1"  # the user network's bridge (and network) name
    nft: bool = False  # Docker's nftables backend: `rules` is an nft ruleset
    beside: str = ""  # an nft ruleset of another owner (firewalld, an admin), loaded after Docker's
    forwarding: bool = True  # net.ipv4.ip_forward (Docker's nftables backend leaves it as it finds it)
    rules6: str = ""  # dual-stack: the IPv6 rule set (ip6tables-save text, or an nft ip6 table)
    # The user network: subnet, gateway, c1, c2 (IPv4; and IPv6 for a dual-stack scenario).
    net4: tuple[str, str, str, str] = ("192.0.2.0/24", "192.0.2.1", "192.0.2.2", "192.0.2.3")
    net6: tuple[str, str, str, str] | None = None
    default_bridge: bool = True  # docker0 and c0 on it

    @classmethod
    def from_file(cls, path: Path, text: str | None = None) -> Scenario:
        name = path.stem
        user_bridge = "bridgeICC" if name == "usernet-internal" else "bridge1"
        opts = {"com.docker.network.bridge.name": user_bridge}
        if name.endswith("-noicc"):
            opts["com.docker.network.bridge.enable_icc"] = "false"
        if name.endswith("-routed"):
            opts["com.docker.network.bridge.gateway_mode_ipv4"] = "routed"
        if name.endswith("-natunprot"):
            opts["com.docker.network.bridge.gateway_mode_ipv4"] = "nat-unprotected"
        nft = path.suffix == ".nft"
        # A routed network's IPv4 ports are not mapped: no DNAT, no docker-proxy (Docker 28+; moby's
        # documents), and docker inspect gives them no host port.
        proxy = not name.endswith("-noproxy") and not name.endswith("-routed")
        return cls(path.parent.name, name, path.read_text() if text is None else text, proxy=proxy, nft=nft,
                   bind_ip="127.0.0.1" if name.endswith("-lo") else "0.0.0.0", bridge1_options=opts,
                   internal=name == "usernet-internal", has_bridge1=name.startswith("usernet"),
                   user_bridge=user_bridge)

    @classmethod
    def dual_stack(cls, folder: Path) -> Scenario:
        """moby's firewaller goldens for one network, both families: `iptables.rules` and
        `ip6tables.rules`, or `ip.nft` and `ip6.nft` (Docker's nftables backend)."""
        nft = (folder / "ip.nft").exists()
        v4, v6 = ("ip.nft", "ip6.nft") if nft else ("iptables.rules", "ip6tables.rules")
        sc = cls.from_file(folder.with_suffix(".nft" if nft else ".rules"), text=(folder / v4).read_text())
        sc.rules6 = (folder / v6).read_text()
        sc.user_bridge = "br-dummy"
        sc.bridge1_options = {**sc.bridge1_options, "com.docker.network.bridge.name": "br-dummy"}
        if "com.docker.network.bridge.gateway_mode_ipv4" in sc.bridge1_options:
            sc.bridge1_options["com.docker.network.bridge.gateway_mode_ipv6"] = \
                sc.bridge1_options["com.docker.network.bridge.gateway_mode_ipv4"]
        sc.bind_ip = "127.0.0.1" if folder.name.endswith("-lo") else "0.0.0.0"
        sc.net4 = ("192.168.0.0/24", "192.168.0.1", "192.168.0.2", "192.168.0.3")
        # moby's tests give the endpoint ::1 of the subnet; the bridge takes another address.
        sc.net6 = ("fd49:efd7:54aa::/64", "fd49:efd7:54aa::fe", "fd49:efd7:54aa::1", "fd49:efd7:54aa::3")
        sc.default_bridge = False
        return sc

    @property
    def bind_ip6(self) -> str:
        return "::1" if self.bind_ip == "127.0.0.1" else "::"

    @property
    def publishes(self) -> bool:
        return self.has_bridge1 and not self.internal


def dual_stack_scenarios() -> list[Path]:
    return sorted(p for p in DUAL_STACK.glob("v*/*") if p.is_dir())


def scenarios(kind: str = "rules") -> list[Path]:
    """Fixture rule sets: "rules" (iptables-save text) or "nft" (Docker's nftables backend)."""
    return sorted(FIXTURES.glob(f"v*/*.{kind}"))


def nft_loadable(rules: str) -> str:
    """Debian's nft 1.0.6 takes `priority dstnat` only at prerouting: the number elsewhere."""
    return re.sub(r"(type nat hook output priority) dstnat", r"\1 -100", rules)


@dataclass
class FixtureHost:
    scenario: Scenario
    host_ns: str
    client_ns: str
    boxes: dict[str, Box]
    bundle: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def run(self, ns: str, *argv: str, check: bool = True, timeout: float = 30,
            input: str | None = None) -> subprocess.CompletedProcess:
        return rig.sh("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout, input=input)

    def connect(self, ns: str, ip: str, port: int) -> bool:
        return rig.connect_from_ns(ns, ip, port, "tcp")

    def close(self) -> None:
        for p in self.processes:
            p.kill()
            p.wait(5)
        for ns in self.namespaces:
            rig.sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.bundle.parent, ignore_errors=True)


class OneHostAtATime:
    """The host of a scenario, built for its first case and kept for the cases that follow it; the
    previous scenario's host is closed first, so one host exists at a time.

    A module-scoped fixture does not do this for `parametrize(..., indirect=...)` over (scenario,
    origin) pairs: pytest tears it down whenever the pair's index changes, and every case built its
    host afresh (244 builds instead of 32 in the fixture-host tests, ~0.4 s each)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.built: tuple[FixtureHost, HostState] | None = None

    def get(self, path: Path) -> tuple[FixtureHost, HostState]:
        if path != self.path or self.built is None:
            self.close()
            host = build(path)
            try:
                state = load_bundle(host.bundle)
            except BaseException:
                host.close()
                raise
            self.path, self.built = path, (host, state)
        return self.built

    def close(self) -> None:
        if self.built is not None:
            self.built[0].close()
        self.path = self.built = None


def build(path: Path, beside: str = "", forwarding: bool = True) -> FixtureHost:
    sc = Scenario.dual_stack(path) if path.is_dir() else Scenario.from_file(path)
    sc.beside, sc.forwarding = beside, forwarding
    tag = f"{sc.version.replace('.', '')}-{sc.name[8:16] or 'base'}-{rig.RUN_ID}"[:30]
    host_ns, client_ns = f"dpt-fx-h-{tag}", f"dpt-fx-cl-{tag}"
    boxes = {}
    if sc.default_bridge:
        boxes["c0"] = Box("c0", f"dpt-fx-c0-{tag}", "172.17.0.2", 16, "docker0", "bridge", "172.17.0.1")
    if sc.has_bridge1:
        br, (_net, gw, ip1, ip2) = sc.user_bridge, sc.net4
        _net6, gw6, ip61, ip62 = sc.net6 or ("", "", "", "")
        plen = int(sc.net4[0].split("/")[1])
        boxes["c1"] = Box("c1", f"dpt-fx-c1-{tag}", ip1, plen, br, br, gw, publishes=sc.publishes,
                          ip6=ip61, gateway6=gw6)
        boxes["c2"] = Box("c2", f"dpt-fx-c2-{tag}", ip2, plen, br, br, gw, ip6=ip62, gateway6=gw6)
    work = Path(tempfile.mkdtemp(prefix="dpt-fx-"))
    host = FixtureHost(sc, host_ns, client_ns, boxes, work / "bundle")
    try:
        _wire(host)
        _write_bundle(host)
    except BaseException:
        host.close()
        raise
    return host


def _wire(host: FixtureHost) -> None:
    sc, h = host.scenario, host.host_ns
    for ns in (h, host.client_ns, *(b.ns for b in host.boxes.values())):
        rig.sh("ip", "netns", "del", ns, check=False)
        rig.sh("ip", "netns", "add", ns)
        host.namespaces.append(ns)
        rig.sh("ip", "-n", ns, "link", "set", "lo", "up")
        if sc.net6:
            # No duplicate address detection: a tentative link-local address delays the first
            # neighbour discovery, and the first connection of a test timed out.
            host.run(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
    # The uplink: eth0 in the host, eth0 in the client.
    rig.sh("ip", "-n", h, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", host.client_ns)
    rig.sh("ip", "-n", h, "addr", "add", f"{UPLINK_IP}/24", "dev", "eth0")
    rig.sh("ip", "-n", h, "link", "set", "eth0", "up")
    rig.sh("ip", "-n", host.client_ns, "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
    rig.sh("ip", "-n", host.client_ns, "link", "set", "eth0", "up")
    rig.sh("ip", "-n", host.client_ns, "route", "add", "default", "via", UPLINK_IP)
    rig.sh("ip", "-n", h, "route", "add", "default", "via", CLIENT_IP)
    if sc.net6:
        host.run(h, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        rig.sh("ip", "-n", h, "addr", "add", f"{UPLINK_IP6}/64", "dev", "eth0", "nodad")
        rig.sh("ip", "-n", host.client_ns, "addr", "add", f"{CLIENT_IP6}/64", "dev", "eth0", "nodad")
        rig.sh("ip", "-n", host.client_ns, "-6", "route", "add", "default", "via", UPLINK_IP6)
        rig.sh("ip", "-n", h, "-6", "route", "add", "default", "via", CLIENT_IP6)
    bridges = {"docker0": ("172.17.0.1", 16)} if sc.default_bridge else {}
    if sc.has_bridge1:
        bridges[sc.user_bridge] = (sc.net4[1], int(sc.net4[0].split("/")[1]))
    for br, (ip, plen) in bridges.items():
        rig.sh("ip", "-n", h, "link", "add", br, "type", "bridge")
        rig.sh("ip", "-n", h, "addr", "add", f"{ip}/{plen}", "dev", br)
        if sc.net6 and br == sc.user_bridge:
            rig.sh("ip", "-n", h, "addr", "add", f"{sc.net6[1]}/64", "dev", br, "nodad")
        rig.sh("ip", "-n", h, "link", "set", br, "up")
    for b in host.boxes.values():
        veth = f"veth{b.name}"
        rig.sh("ip", "-n", h, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", b.ns)
        rig.sh("ip", "-n", h, "link", "set", veth, "master", b.bridge, "up")
        rig.sh("ip", "-n", b.ns, "addr", "add", f"{b.ip}/{b.prefix}", "dev", "eth0")
        rig.sh("ip", "-n", b.ns, "link", "set", "eth0", "up")
        if b.ip6:
            rig.sh("ip", "-n", b.ns, "addr", "add", f"{b.ip6}/64", "dev", "eth0", "nodad")
        if not (sc.internal and b.bridge == sc.user_bridge):  # internal networks get no default route
            rig.sh("ip", "-n", b.ns, "route", "add", "default", "via", b.gateway)
            if b.gateway6:
                rig.sh("ip", "-n", b.ns, "-6", "route", "add", "default", "via", b.gateway6)
    host.run(h, "sysctl", "-qw", f"net.ipv4.ip_forward={int(sc.forwarding)}")
    host.run(h, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1", check=False)
    host.run(h, "sysctl", "-qw", "net.bridge.bridge-nf-call-ip6tables=1", check=False)
    if not sc.proxy:
        # Docker sets route_localnet on its bridges when the proxy is off, for 127.0.0.1 DNAT.
        for br in bridges:
            host.run(h, "sysctl", "-qw", f"net.ipv4.conf.{br}.route_localnet=1")
    if "docker-ext-bridges-v4" in sc.rules:
        # Docker 28.0.0 keeps the subnets of its bridges with external access in this ipset.
        host.run(h, "ipset", "create", "docker-ext-bridges-v4", "hash:net")
        for subnet in ("172.17.0.0/16", *([] if sc.internal or not sc.has_bridge1 else ["192.0.2.0/24"])):
            host.run(h, "ipset", "add", "docker-ext-bridges-v4", subnet)
    if sc.nft:
        host.run(h, "nft", "-f", "-", input=nft_loadable(sc.rules + sc.rules6))
    else:
        host.run(h, "iptables-restore", input=sc.rules)
        if sc.rules6:
            host.run(h, "ip6tables-restore", input=sc.rules6)
    if sc.beside:
        host.run(h, "nft", "-f", "-", input=sc.beside)
    if "c1" in host.boxes:
        www = host.bundle.parent / "www"
        www.mkdir(parents=True)
        (www / "index.html").write_text("hi\n")
        busybox = shutil.which("busybox") or "/bin/busybox"
        host.processes.append(subprocess.Popen(
            ["ip", "netns", "exec", host.boxes["c1"].ns, busybox, "httpd", "-f", "-p", str(CONTAINER_PORT),
             "-h", str(www)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if sc.proxy and sc.publishes:
        c1 = host.boxes["c1"]
        host.processes.append(_start_proxy(h, sc.bind_ip, c1.ip))
        if c1.ip6:
            host.processes.append(_start_proxy(h, sc.bind_ip6, c1.ip6))
    _wait_listening(host)
    if sc.net6:
        rig.wait_ipv6_addresses_settled(*(f"/run/netns/{ns}" for ns in host.namespaces), host=False)


def _start_proxy(ns: str, host_ip: str, container_ip: str) -> subprocess.Popen:
    # docker-proxy reports readiness on fd 3 and then closes it; without one open there it would
    # close its own listening socket instead.
    ready_r, ready_w = os.pipe()
    try:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, _docker_proxy(), "-proto", "tcp", "-host-ip", host_ip,
             "-host-port", str(HOST_PORT), "-container-ip", container_ip, "-container-port", str(CONTAINER_PORT)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(3,),
            preexec_fn=lambda: os.dup2(ready_w, 3))
    finally:
        os.close(ready_w)
        os.close(ready_r)


def _docker_proxy() -> str:
    return shutil.which("docker-proxy") or "/usr/sbin/docker-proxy"


def _wait_listening(host: FixtureHost) -> None:
    want = []
    if "c1" in host.boxes:
        want.append((host.boxes["c1"].ns, CONTAINER_PORT))
    if host.scenario.proxy and host.scenario.publishes:
        want.append((host.host_ns, HOST_PORT))
    for ns, port in want:
        for _ in range(50):
            if f":{port} " in host.run(ns, "ss", "-Hltn").stdout:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"nothing listens on :{port} in {ns}")


# -- the bundle: the files `dockport-tui capture` would write on that host ------------------------

def _cid(box: Box) -> str:
    return (box.name.encode().hex() * 32)[:64]


def rewrite_bundle(host: FixtureHost) -> None:
    """Capture the host again after a test changed it."""
    shutil.rmtree(host.bundle)
    _write_bundle(host)


def _write_bundle(host: FixtureHost) -> None:
    sc, h, root = host.scenario, host.host_ns, host.bundle
    (root / "netns").mkdir(parents=True)
    (root / "meta.json").write_text(json.dumps({"format": "dockport-bundle/1", "hostname": h,
                                                "captured_at": "2026-01-01T00:00:00+00:00"}))
    (root / "docker-version.json").write_text(json.dumps({"Server": {"Version": sc.version.lstrip("v").split("-")[0]}}))
    info: dict = {"Name": h}
    if sc.nft:
        info["FirewallBackend"] = {"Driver": "nftables"}
    (root / "docker-info.json").write_text(json.dumps(info))
    (root / "docker-inspect.json").write_text(json.dumps([_inspect(host, b) for b in host.boxes.values()]))
    (root / "docker-network-inspect.json").write_text(json.dumps(_networks(host)))
    for name, argv in (("iptables-save.txt", ["iptables-save", "-c"]),
                       ("ip6tables-save.txt", ["ip6tables-save", "-c"]),
                       ("ip-link.json", ["ip", "-j", "-d", "link", "show"]),
                       ("ip-addr.json", ["ip", "-j", "addr", "show"]),
                       ("ip-route.json", ["ip", "-j", "route", "show"]),
                       ("ip-6-route.json", ["ip", "-j", "-6", "route", "show"]),
                       ("sysctl.txt", ["sysctl", "-a", "--pattern", SYSCTL_PATTERN]),
                       ("ipset-save.txt", ["ipset", "save"]),
                       ("nft-ruleset.json", ["nft", "-j", "list", "ruleset"])):
        (root / name).write_text(host.run(h, *argv).stdout)
    pids = [str(p.pid) for p in host.processes]
    ps = rig.sh("ps", "-ww", "-eo", "pid,args").stdout.splitlines()
    # Only this host's processes: the machine's own docker-proxies belong to another host.
    # (`ip netns exec` execs its command, so each pid is the program's own.)
    mine = [line for line in ps[1:] if line.split(None, 1)[0] in pids]
    (root / "ps.txt").write_text("\n".join([ps[0], *mine]) + "\n")
    for b in host.boxes.values():
        (root / "netns" / f"{_cid(b)}.ip-link.json").write_text(host.run(b.ns, "ip", "-j", "-d", "link", "show").stdout)
        (root / "netns" / f"{_cid(b)}.ss.txt").write_text(host.run(b.ns, "ss", "-Hltun").stdout)


def _inspect(host: FixtureHost, b: Box) -> dict:
    sc = host.scenario
    ports: dict = {}
    bindings: dict = {}
    exposed = {}
    if b.publishes:
        key = f"{CONTAINER_PORT}/tcp"
        exposed[key] = {}
        routed = sc.bridge1_options.get("com.docker.network.bridge.gateway_mode_ipv4") == "routed"
        # As Docker reports a routed network's IPv4 binding: no host port.
        ports[key] = [{"HostIp": sc.bind_ip, "HostPort": "" if routed else str(HOST_PORT)}]
        bindings[key] = [{"HostIp": "" if sc.bind_ip == "0.0.0.0" else sc.bind_ip, "HostPort": str(HOST_PORT)}]
        if b.ip6:
            ports[key].append({"HostIp": sc.bind_ip6, "HostPort": "" if routed else str(HOST_PORT)})
            if sc.bind_ip6 != "::":
                bindings[key].append({"HostIp": sc.bind_ip6, "HostPort": str(HOST_PORT)})
    endpoint = {"NetworkID": _nid(b.network), "IPAddress": b.ip, "IPPrefixLen": b.prefix, "Gateway": b.gateway}
    if b.ip6:
        endpoint.update(GlobalIPv6Address=b.ip6, GlobalIPv6PrefixLen=64, IPv6Gateway=b.gateway6)
    return {
        "Id": _cid(b), "Name": f"/{b.name}",
        "State": {"Status": "running", "Running": True, "Pid": 0},
        "Config": {"Image": "busybox", "ExposedPorts": exposed},
        "HostConfig": {"NetworkMode": b.network, "PortBindings": bindings},
        "NetworkSettings": {
            "SandboxKey": f"/run/netns/{b.ns}", "Ports": ports,
            "Networks": {b.network: endpoint},
        },
    }


def _nid(network: str) -> str:
    return (network.encode().hex() * 16)[:64]


def _networks(host: FixtureHost) -> list[dict]:
    sc = host.scenario
    members = lambda net: {_cid(b): {"IPv4Address": f"{b.ip}/{b.prefix}",  # noqa: E731
                                     **({"IPv6Address": f"{b.ip6}/64"} if b.ip6 else {})}
                           for b in host.boxes.values() if b.network == net}
    nets = [{"Id": _nid("bridge"), "Name": "bridge", "Driver": "bridge", "Internal": False,
             "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
             "Options": {"com.docker.network.bridge.default_bridge": "true",
                         "com.docker.network.bridge.name": "docker0"},
             "Containers": members("bridge")}]
    if not sc.default_bridge:
        nets = []
    if sc.has_bridge1:
        ipam = [{"Subnet": sc.net4[0], "Gateway": sc.net4[1]}]
        if sc.net6:
            ipam.append({"Subnet": sc.net6[0], "Gateway": sc.net6[1]})
        nets.append({"Id": _nid(sc.user_bridge), "Name": sc.user_bridge, "Driver": "bridge", "Internal": sc.internal,
                     "EnableIPv6": bool(sc.net6), "IPAM": {"Config": ipam},
                     "Options": sc.bridge1_options, "Containers": members(sc.user_bridge)})
    return nets
