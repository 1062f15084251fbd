"""The packet being followed, and the host facts needed to evaluate matches against it."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from functools import cached_property

from tui.model import Container, HostState, Link, PortBinding, Route
from tui.model.memo import per_object

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
# What makes the kernel track connections in a namespace (each calls nf_ct_netns_get on load).
_IPT_NEEDS_CT = re.compile(r" -m (?:conntrack|state|connmark|connlimit|connbytes|conntrack|helper|cluster)\b|"
                           r" -j (?:DNAT|SNAT|MASQUERADE|REDIRECT|NETMAP|CT|NOTRACK|CONNMARK|CONNSECMARK)\b")
_NFT_NEEDS_CT = re.compile(r"(?:^|\s)(?:ct|dnat|snat|masquerade|redirect|notrack|synproxy)\b")


@dataclass
class Packet:
    src: str
    dst: str
    proto: str  # "tcp" / "udp"
    sport: int
    dport: int
    iif: str = ""  # "" for locally generated packets (before they loop back through lo)
    oif: str = ""  # "" until routing chose one
    physdev_in: str = ""  # bridge port it came in on, when br_netfilter sees a bridged frame
    physdev_out: str = ""
    bridged: bool = False
    bridged_dnat: bool = False  # DNAT'ed back to the bridge it came from: the bridge forwards it
    mark: int = 0
    ct_mark: int = 0
    ct_untracked: bool = False
    dnat_done: bool = False  # the connection's destination was rewritten (conntrack DNAT status)
    snat_done: bool = False
    orig_src: str = ""
    orig_dst: str = ""
    orig_dport: int = 0

    def __post_init__(self) -> None:
        self.orig_src = self.orig_src or self.src
        self.orig_dst = self.orig_dst or self.dst
        self.orig_dport = self.orig_dport or self.dport

    @property
    def family(self) -> int:
        return 6 if ":" in self.dst else 4

    def copy(self) -> Packet:
        return Packet(**{k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass
class HostView:
    """Precomputed lookups over a HostState: local addresses by interface, routes."""

    state: HostState
    local_by_iface: dict[str, list[IPAddr]] = field(default_factory=dict)
    local_all: set[IPAddr] = field(default_factory=set)
    broadcast: set[IPAddr] = field(default_factory=set)
    # Each destination looked up once: the view is of one immutable state, and `reach` asks a
    # thousand times.
    _route_cache: dict[str, tuple[str, str, str]] = field(default_factory=dict, repr=False)

    @staticmethod
    def of(state: HostState) -> HostView:
        """The view of a state, built once: a TUI traces the same state many times."""
        return _view_of(state)

    @classmethod
    def _build(cls, state: HostState) -> HostView:
        view = cls(state)
        view.local_by_iface, view.local_all, view.broadcast = _local_addresses(state.links)
        return view

    def is_local(self, addr: str, iface: str | None = None) -> bool:
        ip = parsed_ip(addr)
        if iface is not None:
            return ip in self.local_by_iface.get(iface, ()) or (iface == "lo" and ip.is_loopback)
        return ip in self.local_all or ip.is_loopback

    def addr_type(self, addr: str, iface: str | None = None) -> set[str]:
        ip = parsed_ip(addr)
        types: set[str] = set()
        if self.is_local(addr, iface):
            types.add("LOCAL")
        if ip.is_multicast:
            types.add("MULTICAST")
        elif ip in self.broadcast or str(ip) == "255.255.255.255":
            types.add("BROADCAST")
        elif ip.is_unspecified:
            types.add("UNSPEC")
        else:
            types.add("UNICAST")
        return types

    @property
    def _routes(self) -> list[tuple[int, int, int, int, Route]]:
        return _parsed_routes(self.state.routes)

    @cached_property
    def containers_by_ip(self) -> dict[str, tuple[Container, str]]:
        """Running containers by their addresses: (container, network name)."""
        out: dict[str, tuple[Container, str]] = {}
        for c in self.state.containers:
            if c.state != "running":
                continue
            for e in c.endpoints:
                for ip in (e.ip, e.ipv6):
                    if ip:
                        out.setdefault(ip, (c, e.network))
        return out

    @cached_property
    def bindings_by_port(self) -> dict[tuple[str, int], list[tuple[Container, PortBinding]]]:
        """Every container's ports by (proto, host port) and, for direct access, (proto, -container port)."""
        out: dict[tuple[str, int], list[tuple[Container, PortBinding]]] = {}
        for c in self.state.containers:
            for b in c.ports:
                if b.host_port is not None:
                    out.setdefault((b.proto, b.host_port), []).append((c, b))
                out.setdefault((b.proto, -b.container_port), []).append((c, b))
        return out

    @cached_property
    def veths(self) -> dict[tuple[str, str], Link]:
        """(container id, bridge) -> the host end of that container's veth on the bridge."""
        from tui.model import veth_owner

        out: dict[tuple[str, str], Link] = {}
        for link in self.state.links:
            if link.kind == "veth" and link.master:
                owner = veth_owner(self.state, link)
                if owner:
                    out.setdefault((owner[0].id, link.master), link)
        return out

    def route(self, dst: str) -> tuple[str, str, str]:
        """(out interface, gateway, preferred source) for dst, by longest prefix."""
        found = self._route_cache.get(dst)
        if found is None:
            found = self._route_cache[dst] = self._route(dst)
        return found

    def _route(self, dst: str) -> tuple[str, str, str]:
        ip = ipaddress.ip_address(dst)
        if self.is_local(dst):
            return "lo", "", dst
        best = None
        best_len = -1
        value = int(ip)
        for version, net, mask, prefixlen, r in self._routes:
            if version != ip.version or (value & mask) != net:
                continue
            if prefixlen > best_len or (prefixlen == best_len and best and r.metric < best.metric):
                best, best_len = r, prefixlen
        if best is None:
            return "", "", ""
        src = best.prefsrc or self.primary_address(best.dev, ip.version) or ""
        return best.dev, best.gateway, src

    def tracks_connections(self, family: int) -> bool | None:
        """Does the kernel track connections of this family here? Since Linux 4.10 conntrack runs in
        a network namespace only once a rule needs it (a NAT target, a conntrack or state match, a
        CT target, nft's ct/nat/notrack), and nat chains run only for tracked packets. Rules of the
        family not read: assumed tracked (every Docker host's NAT rules need it). None: the rules
        read need no tracking, but native nftables rules were not read, and one of them might."""
        return self._tracking[family]

    @cached_property
    def _tracking(self) -> dict[int, bool | None]:
        st = self.state
        out: dict[int, bool | None] = {}
        nft_unread = bool({"nft", "nft-ruleset"} & st.missing)
        for family, nft_families in ((4, ("ip", "inet")), (6, ("ip6", "inet"))):
            rulesets = [r for r in (st.rulesets.get(family), st.other_rulesets.get(family)) if r is not None]
            if not rulesets:
                out[family] = True
                continue
            out[family] = any(_IPT_NEEDS_CT.search(rule.text) for rs in rulesets for rule in rs.all_rules()) or \
                any(_NFT_NEEDS_CT.search(rule.text) for t in st.nft_tables if t.family in nft_families
                    for c in t.chains.values() for rule in c.rules) or (None if nft_unread else False)
        return out

    def primary_address(self, iface: str, family: int = 4) -> str:
        """The interface's first address of the family; for IPv6 a global one (link-local
        addresses are only ever chosen for link-local peers)."""
        for ip in self.local_by_iface.get(iface, ()):
            if ip.version == family and not ip.is_link_local:
                return str(ip)
        return ""

    def default_interface(self, family: int = 4) -> str:
        for r in self.state.routes:
            if r.dst == "default" and r.family == family:
                return r.dev
        return ""


@functools.lru_cache(maxsize=65536)
def parsed_ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address parsed once (the walk asks about the same few addresses at every hook)."""
    return ipaddress.ip_address(addr)


@functools.lru_cache(maxsize=65536)
def parsed_network(spec: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(spec, strict=False)


# A container event makes a new state with the same links and routes objects: what is worked out
# from them alone is kept across such states (the live app traces the selected path again each time).
@per_object(maxsize=8)
def _local_addresses(links: tuple[Link, ...]) -> tuple[dict[str, list[IPAddr]], set[IPAddr], set[IPAddr]]:
    by_iface: dict[str, list[IPAddr]] = {}
    every: set[IPAddr] = set()
    broadcast: set[IPAddr] = set()
    for link in links:
        for a in link.addresses:
            ip = ipaddress.ip_address(a.ip)
            by_iface.setdefault(link.name, []).append(ip)
            every.add(ip)
            if a.family == 4 and 0 <= a.prefix < 31:  # (a broken capture may say -1)
                net = ipaddress.ip_network(f"{a.ip}/{a.prefix}", strict=False)
                broadcast.add(net.broadcast_address)
    return by_iface, every, broadcast


@per_object(maxsize=8)
def _parsed_routes(routes: tuple[Route, ...]) -> list[tuple[int, int, int, int, Route]]:
    out: list[tuple[int, int, int, int, Route]] = []
    for r in routes:
        try:
            default = "::/0" if r.family == 6 else "0.0.0.0/0"
            net = ipaddress.ip_network(default if r.dst == "default" else r.dst, strict=False)
        except ValueError:
            continue
        out.append((net.version, int(net.network_address), int(net.netmask), net.prefixlen, r))
    return out


@per_object(maxsize=8)
def _view_of(state: HostState) -> HostView:
    return HostView._build(state)
