"""The path engine: where does a packet to PORT go on this host, and why.

Pure functions over a HostState. The walk follows the kernel: netfilter hooks in order for the
packet's origin, the routing decision, then bridge -> veth -> container, or local delivery to a
docker-proxy followed by the proxy's own connection to the container (leg 2).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from tui.model import Container, HostState, Link, PortBinding, Proxy, RuleSet
from tui.paths import explain
from tui.paths.netfilter import HookResult, run_hook
from tui.paths.packet import HostView, Packet

ORIGINS = ("external", "host", "localhost")  # plus "external:IP" and "container:NAME"
CLIENT_SPORT = 40000  # any ephemeral port: Docker's rules never match on it


class QueryError(ValueError):
    """The question can't be asked of this host (unknown container, no address...)."""


@dataclass
class Query:
    port: int
    proto: str = "tcp"
    origin: str = "external"
    to: str | None = None
    src: str = ""
    dst: str = ""


@dataclass
class Hop:
    kind: str  # interface, rule, policy, route, bridge, veth, proxy, container, drop, local
    explanation: str = ""
    name: str = ""
    table: str = ""
    chain: str = ""
    rule: str = ""
    rule_ref: str = ""
    target: str = ""
    policy: str = ""
    leg: int = 1
    uncertain: str = ""
    backend: str = ""  # set for rules of the other backend ("legacy" beside nft, "nft" beside legacy)

    def as_json(self) -> dict:
        out: dict = {"kind": self.kind}
        for key in ("name", "table", "chain", "rule", "target", "policy", "backend"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.leg != 1:
            out["leg"] = self.leg
        if self.uncertain:
            out["uncertain"] = self.uncertain
        out["explanation"] = self.explanation
        return out


@dataclass
class Mapping:
    container: Container
    binding: PortBinding
    container_ip: str

    def as_json(self) -> dict:
        return {"container": self.container.name, "container_ip": self.container_ip,
                "container_port": self.binding.container_port, "host_ip": self.binding.host_ip,
                "host_port": self.binding.host_port, "proto": self.binding.proto}


@dataclass
class Path:
    query: Query
    mapping: Mapping | None
    verdict: str  # delivered / dropped / rejected / refused / uncertain
    via: str | None  # nat / proxy / direct / None
    hops: list[Hop] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    summary: str = ""

    def as_json(self) -> dict:
        return {
            "query": {"port": self.query.port, "proto": self.query.proto, "origin": self.query.origin,
                      "src": self.query.src, "dst": self.query.dst},
            "mapping": self.mapping.as_json() if self.mapping else None,
            "verdict": self.verdict,
            "via": self.via,
            "summary": self.summary,
            "uncertain_because": self.doubts,
            "hops": [h.as_json() for h in self.hops],
        }

    def rule_refs(self) -> list[str]:
        return [h.rule_ref for h in self.hops if h.kind == "rule"]


class _Walk:
    """State of one trace: hops so far, doubts, the leg being walked."""

    def __init__(self, state: HostState, view: HostView, ruleset: RuleSet | None,
                 other: RuleSet | None = None) -> None:
        self.state = state
        self.view = view
        self.ruleset = ruleset
        self.other = other
        self.other_backend = "nft" if state.facts.firewall_backend == "legacy" else "legacy"
        self.hops: list[Hop] = []
        self.doubts: list[str] = []
        self.leg = 1

    def add(self, hop: Hop) -> None:
        hop.leg = self.leg
        self.hops.append(hop)

    def hook(self, table: str, chain: str, p: Packet) -> str:
        """Run one hook; returns its verdict (ACCEPT when the table/chain doesn't exist).

        When the other backend holds rules too, the kernel runs its chain on the same hook: a packet
        must get through both. (Which of the two runs first is not ours to know; ours goes first.)
        """
        verdict = self._run(self.ruleset, "", table, chain, p)
        if verdict == "ACCEPT" and self.other is not None:
            verdict = self._run(self.other, self.other_backend, table, chain, p)
        return verdict

    def _run(self, ruleset: RuleSet | None, backend: str, table: str, chain: str, p: Packet) -> str:
        if ruleset is None:
            return "ACCEPT"
        result: HookResult | None = run_hook(ruleset, table, chain, p, self.view)
        if result is None:
            return "ACCEPT"
        prefix = f"{backend}:" if backend else ""
        said = f"{backend} " if backend else ""  # "legacy filter/FORWARD: ..."
        for step in result.steps:
            if step.rule is None:
                self.add(Hop("policy", said + explain.policy(step, p), table=table, chain=step.chain,
                             policy=step.policy, backend=backend))
            else:
                self.add(Hop("rule", said + explain.rule(step, self.state), table=table,
                             chain=step.chain, rule=step.rule.text, rule_ref=prefix + step.rule.ref,
                             target=step.target, uncertain=step.doubt, backend=backend))
        for d in result.doubts:
            self.doubts.append(d)
        if result.doubts and self.hops:
            self.hops[-1].uncertain = self.hops[-1].uncertain or "; ".join(result.doubts)
        return result.verdict

    def through(self, p: Packet, *stages: tuple[str, tuple[str, ...]]) -> str | None:
        """Run hooks in order; None when the packet got through all, else the path's verdict."""
        for chain, tables in stages:
            verdict = self.hooks(chain, tables, p)
            if verdict != "ACCEPT":
                return _stopped(self, verdict)
        return None

    def hooks(self, chain: str, tables: tuple[str, ...], p: Packet) -> str:
        for table in tables:
            verdict = self.hook(table, chain, p)
            if verdict != "ACCEPT":
                return verdict
        return "ACCEPT"


def _first_ip(c: Container) -> tuple[str, str]:
    for e in c.endpoints:
        if e.ip:
            return e.ip, e.network
    return "", ""


def _container_by_ip(state: HostState, ip: str) -> tuple[Container, str] | None:
    return HostView.of(state).containers_by_ip.get(ip)


def _host_veth(state: HostState, c: Container, bridge: str) -> Link | None:
    return HostView.of(state).veths.get((c.id, bridge))


def _bridge_of(state: HostState, network_name: str) -> str:
    n = state.network_by_name(network_name)
    return n.bridge if n else ""


def find_mapping(state: HostState, port: int, proto: str, dst: str, to_container: bool) -> Mapping | None:
    """The published (or, towards a container address, exposed) port the question is about."""
    candidates = []
    near = HostView.of(state).bindings_by_port.get((proto, -port if to_container else port), [])
    for c, b in near:
        if to_container:
            if any(e.ip == dst for e in c.endpoints):
                candidates.append(Mapping(c, b, dst))
        elif _binding_covers(b.host_ip or "", dst):
            candidates.append(Mapping(c, b, _ip_on_default(c)))
    # Prefer a running container and an exact address binding over a wildcard one.
    candidates.sort(key=lambda m: (m.container.state != "running", m.binding.host_ip in ("0.0.0.0", "::")))
    return candidates[0] if candidates else None


def _ip_on_default(c: Container) -> str:
    return _first_ip(c)[0]


def _binding_covers(host_ip: str, dst: str) -> bool:
    if host_ip in ("", "0.0.0.0"):
        return ":" not in dst
    if host_ip == "::":
        return True
    return host_ip == dst


def _listener_covers(listen_ip: str, ip: str, port: int, lport: int) -> bool:
    if lport != port:
        return False
    if listen_ip in ("0.0.0.0",):
        return ":" not in ip
    if listen_ip == "::":
        return True  # dual-stack unless v6only, which ss/proc do not show
    return listen_ip == ip


def resolve_query(state: HostState, view: HostView, q: Query) -> tuple[Packet, Container | None]:
    """Fill q.src / q.dst and build the first packet for the origin."""
    if q.to:
        try:
            ipaddress.ip_address(q.to)
        except ValueError:
            raise QueryError(f"--to {q.to!r} is not an IP address") from None
    packet, src_container = _first_packet(state, view, q)
    if not packet.dst or not packet.src:
        why = "links not captured" if "links" in state.missing else "no IPv4 address found"
        raise QueryError(f"the host's own addresses are unknown ({why}): give the destination with --to")
    return packet, src_container


def _first_packet(state: HostState, view: HostView, q: Query) -> tuple[Packet, Container | None]:
    origin = q.origin
    ext_if = view.default_interface()
    primary = view.primary_address(ext_if) if ext_if else ""
    if not primary:
        primary = next((str(ip) for name, ips in view.local_by_iface.items() if name != "lo"
                        for ip in ips if ip.version == 4), "")
    src_container = None
    if origin == "external" or origin.startswith("external:"):
        if origin.startswith("external:"):
            q.src = origin.split(":", 1)[1]
            try:
                ipaddress.ip_address(q.src)
            except ValueError:
                raise QueryError(f"not an IP address: {q.src!r}") from None
            iface, _gw, _s = view.route(q.src)
            if iface in ("", "lo"):
                raise QueryError(f"the host has no route back to {q.src}")
        else:
            iface = ext_if
            if not iface:
                raise QueryError("the host has no default route: give the client as external:IP")
            q.src = _outside_address(view)
        q.dst = q.to or view.primary_address(iface) or primary
        return Packet(q.src, q.dst, q.proto, CLIENT_SPORT, q.port, iif=iface), None
    if origin in ("host", "localhost"):
        if origin == "localhost":
            q.dst = q.to or "127.0.0.1"
            q.src = q.dst if ipaddress.ip_address(q.dst).is_loopback else "127.0.0.1"
        else:
            q.dst = q.to or primary
            if not q.dst:
                raise QueryError("the host has no IPv4 address to connect to")
            _dev, _gw, q.src = view.route(q.dst)
        return Packet(q.src, q.dst, q.proto, CLIENT_SPORT, q.port), None
    if origin.startswith("container:"):
        name = origin.split(":", 1)[1]
        src_container = state.container(name)
        if src_container is None:
            raise QueryError(f"no container named {name!r}")
        q.src, _net = _first_ip(src_container)
        if not q.src:
            raise QueryError(f"container {name!r} has no IPv4 address on a network")
        q.dst = q.to or primary
        return Packet(q.src, q.dst, q.proto, CLIENT_SPORT, q.port), src_container
    raise QueryError(f"unknown origin {origin!r}: use external, external:IP, host, localhost or container:NAME")


def _outside_address(view: HostView) -> str:
    for candidate in ("203.0.113.10", "198.51.100.10", "192.0.2.10", "100.64.0.10"):
        dev, _gw, _src = view.route(candidate)
        connected = any(
            r.gateway == "" and r.dst != "default" and ipaddress.ip_address(candidate) in
            ipaddress.ip_network(r.dst, strict=False) for r in view.state.routes)
        if dev and dev != "lo" and not connected:
            return candidate
    return "203.0.113.10"


def trace(state: HostState, query: Query, view: HostView | None = None) -> Path:
    view = view or HostView.of(state)
    p, src_container = resolve_query(state, view, query)
    family = p.family
    ruleset = state.rulesets.get(family)
    walk = _Walk(state, view, ruleset, state.other_rulesets.get(family))
    if ruleset is None:
        walk.doubts.append("the firewall rules were not read (" +
                           ("not captured" if "rules" in state.missing else f"no IPv{family} rules") + ")")
    to_container = bool(query.to) and _container_by_ip(state, query.to) is not None
    mapping = find_mapping(state, query.port, query.proto, query.dst, to_container)

    verdict, via = _walk_from_origin(walk, p, query, src_container)
    doubts = walk.doubts
    if doubts and verdict not in ("dropped", "rejected"):
        verdict = "uncertain"
    elif doubts and verdict in ("dropped", "rejected"):
        # A drop after an unevaluated rule may not happen: the skipped rule might have accepted.
        verdict = "uncertain"
    path = Path(query, mapping, verdict, via, walk.hops, doubts)
    path.summary = explain.summary(path)
    return path


def _walk_from_origin(walk: _Walk, p: Packet, q: Query, src_container: Container | None) -> tuple[str, str | None]:
    if src_container is not None:
        return _from_container(walk, p, src_container)
    if q.origin in ("host", "localhost"):
        return _local_out(walk, p)
    walk.add(Hop("interface", explain.arrive(p), name=p.iif))
    return _prerouting_onwards(walk, p)


def _from_container(walk: _Walk, p: Packet, c: Container) -> tuple[str, str | None]:
    state = walk.state
    _ip, net_name = _first_ip(c)
    bridge = _bridge_of(state, net_name)
    veth = _host_veth(state, c, bridge)
    walk.add(Hop("container", f"{c.name} sends from {p.src}:{p.sport} to {p.dst}:{p.dport} out of its eth0.",
                 name=c.name))
    if not _on_own_subnet(c, p.dst) and not _has_default_route(state, c):
        walk.add(Hop("route", f"{c.name} is only on internal networks, which get no default route: "
                     f"{p.dst} is unreachable from inside, so connect() fails at once and no packet "
                     "leaves the container.", name="unreachable"))
        return "rejected", None
    walk.add(Hop("veth", f"The packet crosses the veth pair to {veth.name if veth else 'its host end'} "
                 f"on bridge {bridge}.", name=veth.name if veth else ""))
    p.iif = bridge
    p.physdev_in = veth.name if veth else ""
    dst_target = _container_by_ip(state, p.dst)
    same_bridge = dst_target is not None and _bridge_of(state, dst_target[1]) == bridge and \
        any(e.ip == p.dst for e in dst_target[0].endpoints if e.network == dst_target[1])
    nf_bridge = state.sysctl("net.bridge.bridge-nf-call-iptables", "1") == "1"
    if same_bridge:
        # Layer 2: the bridge forwards the frame itself; iptables sees it only through br_netfilter.
        target, tnet = dst_target
        out_veth = _host_veth(state, target, bridge)
        walk.add(Hop("bridge", explain.bridged(bridge, nf_bridge), name=bridge))
        p.bridged = True
        p.physdev_out = out_veth.name if out_veth else ""
        if nf_bridge:
            stopped = walk.through(p, ("PREROUTING", ("raw", "mangle", "nat")))
            if stopped:
                return stopped, None
            p.oif = bridge
            stopped = walk.through(p, ("FORWARD", ("mangle", "filter")), ("POSTROUTING", ("mangle", "nat")))
            if stopped:
                return stopped, None
        return _into_container(walk, p, target, bridge, out_veth, "direct")
    walk.add(Hop("bridge", f"{bridge} hands the packet up to the host's IP stack: {p.dst} is not on "
                 f"the bridge's own subnet, so it goes to the gateway.", name=bridge))
    return _prerouting_onwards(walk, p)


def _on_own_subnet(c: Container, ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
        return any(addr in ipaddress.ip_network(f"{e.ip}/{e.prefix or 32}", strict=False)
                   for e in c.endpoints if e.ip)
    except ValueError:
        return False


def _has_default_route(state: HostState, c: Container) -> bool:
    """Docker gives a container a default route through any network of it that is not internal."""
    for e in c.endpoints:
        net = state.network_by_name(e.network)
        if net is None or not net.internal:
            return True
    return not c.endpoints


def _stopped(walk: _Walk, verdict: str) -> str:
    if verdict == "DROP":
        return "dropped"
    if verdict == "REJECT":
        return "rejected"
    return "uncertain"


def _prerouting_onwards(walk: _Walk, p: Packet) -> tuple[str, str | None]:
    stopped = walk.through(p, ("PREROUTING", ("raw", "mangle", "nat")))
    if stopped:
        return stopped, None
    if walk.view.is_local(p.dst):
        walk.add(Hop("route", explain.route_local(p), name="local"))
        stopped = walk.through(p, ("INPUT", ("mangle", "filter", "nat")))
        if stopped:
            return stopped, None
        return _local_delivery(walk, p)
    return _forward(walk, p, "nat" if p.dnat_done else "direct")


def _forward(walk: _Walk, p: Packet, via: str) -> tuple[str, str | None]:
    state = walk.state
    dev, gw, _src = walk.view.route(p.dst)
    if not dev:
        walk.add(Hop("route", f"No route to {p.dst}: the packet is dropped.", name="none"))
        return "dropped", None
    if state.sysctl("net.ipv4.ip_forward", "1") != "1":
        walk.add(Hop("route", f"net.ipv4.ip_forward=0: the host does not forward packets, so the packet "
                     f"to {p.dst} is dropped instead of being routed to {dev}.", name=dev))
        return "dropped", None
    walk.add(Hop("route", explain.route_forward(p, dev, gw), name=dev))
    p.oif = dev
    p.bridged = False
    p.physdev_out = ""
    stopped = walk.through(p, ("FORWARD", ("mangle", "filter")), ("POSTROUTING", ("mangle", "nat")))
    if stopped:
        return stopped, None
    return _out_to_bridge(walk, p, dev, via)


def _out_to_bridge(walk: _Walk, p: Packet, dev: str, via: str) -> tuple[str, str | None]:
    state = walk.state
    target = _container_by_ip(state, p.dst)
    if target is None:
        walk.add(Hop("interface", f"The packet leaves through {dev} towards {p.dst}; no container has "
                     "that address, so it leaves this host.", name=dev))
        return "uncertain", via
    c, _net = target
    walk.add(Hop("bridge", f"Bridge {dev} looks up {p.dst}'s MAC address and sends the frame to "
                 f"{c.name}'s port.", name=dev))
    return _into_container(walk, p, c, dev, _host_veth(state, c, dev), via)


def _into_container(walk: _Walk, p: Packet, c: Container, bridge: str, veth: Link | None,
                    via: str) -> tuple[str, str | None]:
    walk.add(Hop("veth", f"{veth.name if veth else 'The veth'} on {bridge} is the host end of "
                 f"{c.name}'s eth0; the frame crosses into the container's network namespace.",
                 name=veth.name if veth else ""))
    if not _on_own_subnet(c, p.src) and not _has_default_route(walk.state, c):
        walk.add(Hop("container", f"{c.name} receives the packet, but it is only on internal networks and "
                     f"has no route back to {p.src}: its answer never leaves, and the client times out.",
                     name=c.name))
        return "dropped", via
    if c.listeners is None:
        walk.add(Hop("container", f"{c.name} receives the packet on {p.dst}:{p.dport}; whether a process "
                     "listens there is unknown (its sockets were not read).", name=c.name,
                     uncertain="container sockets not captured"))
        walk.doubts.append(f"sockets inside {c.name} were not read")
        return "uncertain", via
    if any(_listener_covers(lsn.ip, p.dst, p.dport, lsn.port) for lsn in c.listeners if lsn.proto == p.proto):
        walk.add(Hop("container", f"{c.name} has a {p.proto} socket listening on port {p.dport}: "
                     f"the packet is delivered (source seen by the container: {p.src}).", name=c.name))
        return "delivered", via
    walk.add(Hop("container", f"Nothing in {c.name} listens on {p.proto} port {p.dport}: the kernel "
                 f"answers with {'a TCP reset' if p.proto == 'tcp' else 'ICMP port unreachable'}.",
                 name=c.name))
    return "refused", via


def _local_out(walk: _Walk, p: Packet) -> tuple[str, str | None]:
    """A packet the host itself sends (a client on the host, or docker-proxy's own connection)."""
    walk.add(Hop("interface", explain.local_send(p), name="local"))
    stopped = walk.through(p, ("OUTPUT", ("raw", "mangle", "nat", "filter")))
    if stopped:
        return stopped, None
    dev, gw, _src = walk.view.route(p.dst)
    if dev == "lo" or walk.view.is_local(p.dst):
        p.oif = "lo"
        walk.add(Hop("route", explain.route_loopback(p), name="lo"))
        stopped = walk.through(p, ("POSTROUTING", ("mangle", "nat")))
        if stopped:
            return stopped, None
        # Back in through lo: raw/mangle PREROUTING run again; NAT was settled on the way out.
        p.iif = "lo"
        stopped = walk.through(p, ("PREROUTING", ("raw", "mangle")), ("INPUT", ("mangle", "filter")))
        if stopped:
            return stopped, None
        return _local_delivery(walk, p)
    if not dev:
        walk.add(Hop("route", f"No route to {p.dst}.", name="none"))
        return "dropped", None
    if ipaddress.ip_address(p.src).is_loopback and \
            walk.state.sysctl(f"net.ipv4.conf.{dev}.route_localnet", "0") != "1" and \
            walk.state.sysctl("net.ipv4.conf.all.route_localnet", "0") != "1":
        walk.add(Hop("route", f"The destination became {p.dst} (via {dev}) but the source is still {p.src}: "
                     f"the kernel refuses to send a loopback source out of {dev} "
                     f"(net.ipv4.conf.{dev}.route_localnet=0), so the connection fails.", name=dev))
        return "dropped", None
    p.oif = dev
    walk.add(Hop("route", explain.route_forward(p, dev, gw, local=True), name=dev))
    stopped = walk.through(p, ("POSTROUTING", ("mangle", "nat")))
    if stopped:
        return stopped, None
    return _out_to_bridge(walk, p, dev, "nat" if p.dnat_done else "direct")


def _proxy_for(state: HostState, p: Packet) -> Proxy | None:
    for px in state.proxies:
        if px.proto == p.proto and px.host_port == p.dport and _binding_covers(px.host_ip, p.dst):
            return px
    return None


def _local_delivery(walk: _Walk, p: Packet) -> tuple[str, str | None]:
    state = walk.state
    proxy = _proxy_for(state, p)
    if proxy is None:
        known = "proxies" not in state.missing
        walk.add(Hop("local", f"The packet is for the host itself ({p.dst}:{p.dport}) and no docker-proxy "
                     f"listens on that port" + ("" if known else " (processes were not captured)") +
                     ": unless another host service owns the port, the connection is refused.",
                     name=p.dst, uncertain="" if known else "processes not captured"))
        if not known:
            walk.doubts.append("host processes were not captured")
        return "refused", None
    walk.add(Hop("proxy", f"docker-proxy (pid {proxy.pid}) listens on {proxy.host_ip}:{proxy.host_port} and "
                 f"accepts the connection; it opens its own connection to {proxy.container_ip}:"
                 f"{proxy.container_port}, so the container sees the proxy's address, not the client's.",
                 name=str(proxy.pid)))
    walk.leg = 2
    view = walk.view
    dev, _gw, src = view.route(proxy.container_ip)
    leg2 = Packet(src or p.dst, proxy.container_ip, proxy.proto, CLIENT_SPORT + 1, proxy.container_port)
    verdict, _via = _local_out(walk, leg2)
    return verdict, "proxy"
