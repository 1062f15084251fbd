"""The path engine: where does a packet to PORT go on this host, and why.

Pure functions over a HostState. The walk follows the kernel: netfilter hooks in order for the
packet's origin, the routing decision, then bridge -> veth -> container, or local delivery to a
docker-proxy followed by the proxy's own connection to the container (leg 2).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tui.i18n import _
from tui.model import Container, HostState, Link, NftChain, NftTable, Proxy, RuleSet
from tui.model.memo import per_object
from tui.paths import explain
from tui.paths.netfilter import HookResult, Step, run_hook
from tui.paths.nft_walk import run_chain
from tui.paths.packet import HostView, Packet, parsed_ip, parsed_network
from tui.paths.types import (
    ORIGINS,
    Doubt,
    DoubtCode,
    Hop,
    HopKind,
    Mapping,
    PacketFacts,
    Path,
    Query,
    QueryError,
    Reason,
    Verdict,
    Via,
)

__all__ = ["ORIGINS", "Hop", "Mapping", "Path", "Query", "QueryError", "trace"]

CLIENT_SPORT = 40000  # any ephemeral port: Docker's rules never match on it


class _Walk:
    """State of one trace: hops so far, doubts, the leg being walked."""

    def __init__(self, state: HostState, view: HostView) -> None:
        self.state = state
        self.view = view
        self.other_backend = state.other_backend
        self.hops: list[Hop] = []
        self.doubts: list[Doubt] = []
        self.leg = 1
        self.at_hook = ""  # the hook whose base chains run now: each rule hop records it

    def add(self, hop: Hop) -> None:
        hop.leg = self.leg
        self.hops.append(hop)

    def say(self, kind: HopKind, reason: Reason, name: str = "", doubt: Doubt | None = None,
            **facts: Any) -> None:
        """A hop that is not a rule: what happened (the reason) and the facts its sentence needs."""
        self.add(Hop(kind, reason, facts, name=name, doubts=[doubt] if doubt else []))
        if doubt is not None:
            self.doubts.append(doubt)

    def hook(self, table: str, chain: str, p: Packet) -> str:
        """Run one hook; returns its verdict (ACCEPT when the table/chain doesn't exist).

        When the other backend holds rules too, the kernel runs its chain on the same hook: a packet
        must get through both. (Which of the two runs first is not ours to know; ours goes first.)
        """
        # The packet's own family: docker-proxy's second leg may be IPv4 after an IPv6 first one.
        verdict = self._run(self.state.rulesets.get(p.family), "", table, chain, p)
        other = self.state.other_rulesets.get(p.family)
        if verdict == "ACCEPT" and other is not None:
            verdict = self._run(other, self.other_backend, table, chain, p)
        return verdict

    def _run(self, ruleset: RuleSet | None, backend: str, table: str, chain: str, p: Packet) -> str:
        if ruleset is None:
            return "ACCEPT"
        result: HookResult | None = run_hook(ruleset, table, chain, p, self.view)
        if result is None:
            return "ACCEPT"
        return self._record(result, table, backend)

    def _run_native(self, table: NftTable, base: NftChain, p: Packet) -> str:
        return self._record(run_chain(table, base, p, self.view), table.name, "", table.family)

    def _record(self, result: HookResult, table: str, backend: str, family: str = "") -> str:
        """The steps of one base chain as hops; returns its verdict."""
        prefix = f"{backend}:" if backend else ""
        for step in result.steps:
            if step.rule is None:
                self.add(Hop(HopKind.POLICY, Reason.POLICY, table=table, chain=step.chain, hook=self.at_hook,
                             policy=step.policy, backend=backend, family=family,
                             doubts=[step.doubt] if step.doubt else []))
            else:
                facts = _rule_facts(step) | step.facts | ({"maybe": True} if step.maybe else {})
                self.add(Hop(HopKind.RULE, Reason.RULE, facts,
                             table=table, chain=step.chain,
                             rule=step.rule.text, rule_ref=prefix + step.rule.ref, target=step.target,
                             goto=bool(step.parsed and step.parsed.goto),
                             doubts=[step.doubt] if step.doubt else [], backend=backend, family=family,
                             handle=getattr(step.rule, "handle", None), hook=self.at_hook,
                             before=_facts(step.before), after=_facts(step.after)))
        self.doubts.extend(result.doubts)
        # A doubt that belongs to no rule (a loop, a missing chain) goes with the last hop.
        loose = [d for d in result.doubts if not any(s.doubt is d for s in result.steps)]
        if loose and self.hops and not self.hops[-1].doubts and not self.hops[-1].pinned:
            self.hops[-1].pinned = loose
        return result.verdict

    def sysctl(self, key: str, assumed: str) -> str:
        """A sysctl the walk depends on. One that was not read is assumed, and the answer says so."""
        value = self.state.sysctls.get(key)
        if value is not None:
            return value
        doubt = Doubt.of(DoubtCode.SYSCTL_NOT_READ, key=key, assumed=assumed,
                         captured="sysctls" not in self.state.missing)
        if doubt not in self.doubts:
            self.doubts.append(doubt)
        return assumed

    def through(self, p: Packet, *stages: tuple[str, tuple[str, ...]]) -> Verdict | None:
        """Run hooks in order; None when the packet got through all, else the path's verdict."""
        for chain, tables in stages:
            verdict = self.hooks(chain, tables, p)
            if verdict != "ACCEPT":
                return _stopped(self, verdict)
        return None

    def hooks(self, chain: str, tables: tuple[str, ...], p: Packet) -> str:
        """Every base chain at one hook, in priority order: the iptables tables named (at their
        fixed priorities) and the native nftables chains of the packet's families. `accept` ends
        only its own base chain; NAT binds once, in the first nat chain that rewrites."""
        plan: list[tuple[int, int, str, NftTable | None, NftChain | None]] = [
            (_iptables_priority(t, chain), 0, t, None, None) for t in tables]
        for table, base in native_chains(self.state.nft_tables, HOOK_NAME[chain], p.family):
            if base.type == "nat" and "nat" not in tables:
                continue  # NAT was settled when the connection's first packet passed (looped back)
            plan.append((base.priority, 1, table.name, table, base))
        plan.sort(key=lambda step: (step[0], step[1]))
        if chain == "POSTROUTING" and (p.bridged or p.bridged_dnat):
            # br_netfilter passes no input device to POSTROUTING (a routed packet keeps its own).
            iif, p.iif = p.iif, ""
            try:
                return self._run_plan(chain, plan, p)
            finally:
                p.iif = iif
        return self._run_plan(chain, plan, p)

    def _run_plan(self, chain: str, plan: list[tuple[int, int, str, NftTable | None, NftChain | None]],
                  p: Packet) -> str:
        self.at_hook = chain
        for _prio, _order, name, native, base_chain in plan:
            is_nat = name == "nat" if base_chain is None else base_chain.type == "nat"
            if is_nat and _nat_bound(chain, p):
                continue
            tracked = None if not is_nat or p.ct_untracked else self.view.tracks_connections(p.family)
            if is_nat and (p.ct_untracked or tracked is False):
                if base_chain.rules if base_chain is not None else self._has_nat_rules(chain, p):
                    self._untracked(chain, p)
                continue
            if is_nat and tracked is None and (base_chain.rules if base_chain is not None
                                               else self._has_nat_rules(chain, p)):
                # Walked as if tracked (a host's NAT usually is); whether it is rests on unread rules.
                doubt = Doubt.of(DoubtCode.CONNTRACK_UNKNOWN, family=p.family)
                if doubt not in self.doubts:
                    self.doubts.append(doubt)
            verdict = self.hook(name, chain, p) if native is None or base_chain is None else \
                self._run_native(native, base_chain, p)
            if verdict != "ACCEPT":
                return verdict
        return "ACCEPT"

    def _has_nat_rules(self, chain: str, p: Packet) -> bool:
        rulesets = (self.state.rulesets.get(p.family), self.state.other_rulesets.get(p.family))
        return any(rs is not None and (c := rs.chain("nat", chain)) is not None and c.rules for rs in rulesets)

    def _untracked(self, chain: str, p: Packet) -> None:
        """The kernel skips nat chains for a packet it does not track; said once per leg."""
        if not any(h.reason == Reason.NAT_UNTRACKED and h.leg == self.leg for h in self.hops):
            self.add(Hop(HopKind.CONNTRACK, Reason.NAT_UNTRACKED, {"notrack": p.ct_untracked, "family": p.family},
                         name="conntrack", hook=chain))


HOOK_NAME = {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
             "POSTROUTING": "postrouting"}
# Where iptables' tables hook (include/uapi/linux/netfilter_ipv4.h): the same numbers for nft's and
# legacy's, and the numbers nft's named priorities stand for.
_IPTABLES_PRIORITY = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}


def _iptables_priority(table: str, chain: str) -> int:
    if table == "nat":
        return -100 if chain in ("PREROUTING", "OUTPUT") else 100
    return _IPTABLES_PRIORITY.get(table, 0)


def _nat_bound(chain: str, p: Packet) -> bool:
    """Has this connection's NAT of the kind this hook does already been bound?"""
    return p.dnat_done if chain in ("PREROUTING", "OUTPUT") else p.snat_done


def native_chains(tables: tuple[NftTable, ...], hook: str, family: int) -> list[tuple[NftTable, NftChain]]:
    """The native base chains the kernel runs at `hook` for a packet of `family`."""
    families = ("ip", "inet") if family == 4 else ("ip6", "inet")
    return [(t, c) for t in tables if t.family in families for c in t.chains.values() if c.hook == hook]


def _facts(p: Packet | None) -> PacketFacts | None:
    if p is None:
        return None
    return PacketFacts(p.src, p.dst, p.proto, p.sport, p.dport, p.iif, p.oif)


def _rule_facts(step: Step) -> dict[str, Any]:
    """What the rule's sentence needs beyond its target: the input interface it tested."""
    for m in step.parsed.matches if step.parsed else ():
        if m.module != "base":
            continue
        for o in m.options:
            if o.name == "iif":
                return {"iif": o.values[0], "iif_negated": o.negated}
    return {}


def _first_ip(c: Container, family: int = 4) -> tuple[str, str]:
    for e in c.endpoints:
        ip = e.ip if family == 4 else e.ipv6
        if ip:
            return ip, e.network
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
            if any(dst in (e.ip, e.ipv6) for e in c.endpoints):
                candidates.append(Mapping(c, b, dst))
        elif _binding_covers(b.host_ip or "", dst):
            candidates.append(Mapping(c, b, _ip_on_default(c, dst)))
    # Prefer a running container and an exact address binding over a wildcard one.
    candidates.sort(key=lambda m: (m.container.state != "running", m.binding.host_ip in ("0.0.0.0", "::")))
    return candidates[0] if candidates else None


def _ip_on_default(c: Container, dst: str) -> str:
    """Where a binding's packets go: the container's address of the client's family, or its IPv4
    address when it has no IPv6 one (docker-proxy's 6 to 4)."""
    return (_first_ip(c, 6)[0] if ":" in dst else "") or _first_ip(c)[0]


def _binding_covers(host_ip: str, dst: str) -> bool:
    """Since Docker 20.10 a -p without an address is two bindings, 0.0.0.0 for IPv4 and :: for
    IPv6 only (docker-proxy listens on each with its own family)."""
    if host_ip in ("", "0.0.0.0"):
        return ":" not in dst
    if host_ip == "::":
        return ":" in dst
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
    for given in (q.to, q.origin.split(":", 1)[1] if q.origin.startswith("external:") else None):
        if given is None:
            continue
        try:
            ip = ipaddress.ip_address(given)
        except ValueError:
            raise QueryError(_("--to {given} is not an IP address").format(given=repr(given)) if given == q.to
                             else _("not an IP address: {given}").format(given=repr(given))) from None
        if ip.version == 6:
            q.family = 6  # an IPv6 address in the question implies -6
        elif q.family == 6:
            raise QueryError(_("{given} is an IPv4 address, and the question is asked in IPv6 (-6)").format(
                given=given))
    packet, src_container = _first_packet(state, view, q)
    if not packet.dst or not packet.src:
        why = _("links not captured") if "links" in state.missing else _("no IPv{family} address found").format(
            family=q.family)
        raise QueryError(_("the host's own addresses are unknown ({why}): give the destination with --to").format(
            why=why))
    return packet, src_container


# Where an outside client comes from when the question does not say: documentation ranges.
_OUTSIDE = {4: ("203.0.113.10", "198.51.100.10", "192.0.2.10", "100.64.0.10"),
            6: ("2001:db8::10", "2001:db8:ffff::10")}
_LOOPBACK = {4: "127.0.0.1", 6: "::1"}


def _first_packet(state: HostState, view: HostView, q: Query) -> tuple[Packet, Container | None]:
    origin, family = q.origin, q.family
    ext_if = view.default_interface(family)
    primary = view.primary_address(ext_if, family) if ext_if else ""
    if not primary:
        primary = next((str(ip) for name, ips in view.local_by_iface.items() if name != "lo"
                        for ip in ips if ip.version == family and not ip.is_link_local), "")
    no_address = _("the host has no IPv{family} address to connect to").format(family=family)
    src_container = None
    if origin == "external" or origin.startswith("external:"):
        if origin.startswith("external:"):
            q.src = origin.split(":", 1)[1]
            iface, _gw, _s = view.route(q.src)
            if iface in ("", "lo"):
                raise QueryError(_("the host has no route back to {src}").format(src=q.src))
        else:
            iface = ext_if
            if not iface:
                raise QueryError(_("the host has no IPv{family} default route: give the client as "
                                   "external:{address}").format(family=family, address="IP" if family == 4 else "IPV6"))
            q.src = _outside_address(view, family)
        q.dst = q.to or view.primary_address(iface, family) or primary
        return Packet(q.src, q.dst, q.proto, CLIENT_SPORT, q.port, iif=iface), None
    if origin in ("host", "localhost"):
        if origin == "localhost":
            q.dst = q.to or _LOOPBACK[family]
            q.src = q.dst if ipaddress.ip_address(q.dst).is_loopback else _LOOPBACK[family]
        else:
            q.dst = q.to or primary
            if not q.dst:
                raise QueryError(no_address)
            _dev, _gw, q.src = view.route(q.dst)
        return Packet(q.src, q.dst, q.proto, CLIENT_SPORT, q.port), None
    if origin.startswith("container:"):
        name = origin.split(":", 1)[1]
        src_container = state.container(name)
        if src_container is None:
            raise QueryError(_("no container named {name}").format(name=repr(name)))
        if src_container.network_mode == "host":
            # --network host: the container's process is a process of the host, network-wise.
            q.dst = q.to or primary
            if not q.dst:
                raise QueryError(no_address)
            _dev, _gw, q.src = view.route(q.dst)
            if ipaddress.ip_address(q.dst).is_loopback:
                q.src = q.dst
            return Packet(q.src, q.dst, q.proto, CLIENT_SPORT, q.port), src_container
        q.src, _net = _first_ip(src_container, family)
        if not q.src:
            raise QueryError(_("container {name} has no IPv{family} address on a network").format(
                name=repr(name), family=family) + (_(" (its networks have IPv6 off)") if family == 6 else ""))
        q.dst = q.to or primary
        if not q.dst:
            raise QueryError(no_address)
        return Packet(q.src, q.dst, q.proto, CLIENT_SPORT, q.port), src_container
    raise QueryError(_("unknown origin {origin}: use external, external:IP, host, localhost or container:NAME").format(
        origin=repr(origin)))


def _outside_address(view: HostView, family: int = 4) -> str:
    for candidate in _OUTSIDE[family]:
        dev, _gw, _src = view.route(candidate)
        connected = any(
            r.gateway == "" and r.dst != "default" and r.family == family and ipaddress.ip_address(candidate) in
            ipaddress.ip_network(r.dst, strict=False) for r in view.state.routes)
        if dev and dev != "lo" and not connected:
            return candidate
    return _OUTSIDE[family][0]


def trace(state: HostState, query: Query, view: HostView | None = None) -> Path:
    view = view or HostView.of(state)
    p, src_container = resolve_query(state, view, query)
    family = p.family
    ruleset = state.rulesets.get(family)
    walk = _Walk(state, view)
    if ruleset is None and not state.nft_tables:
        walk.doubts.append(Doubt.of(DoubtCode.RULES_NOT_READ, captured="rules" not in state.missing,
                                    family=family))
    walk.doubts += _native_doubts(state)
    if family == 6 and "routes6" in state.missing:
        walk.doubts.append(Doubt.of(DoubtCode.ROUTES6_NOT_READ))
    to_container = query.to is not None and _container_by_ip(state, query.to) is not None
    mapping = find_mapping(state, query.port, query.proto, query.dst, to_container)

    verdict, via = _walk_from_origin(walk, p, query, src_container)
    walk.doubts += _input_doubts(state, mapping, src_container, walk.hops)
    if walk.doubts:
        # Not even a drop is certain after a rule that was not evaluated: it might have accepted.
        verdict = Verdict.UNCERTAIN
    path = Path(query, mapping, verdict, via, walk.hops, walk.doubts)
    explain.put_into_words(path)
    return path


def _native_doubts(state: HostState) -> list[Doubt]:
    """Native nftables rules the walk cannot account for: not read, or in families it does not walk."""
    out = []
    if "nft" in state.missing:
        out.append(Doubt.of(DoubtCode.NFT_NOT_READ, why="Docker uses nftables, and `nft -j list ruleset` was not read"))
    for t in state.nft_tables:
        if t.family in ("bridge", "netdev") and t.rule_count:
            out.append(Doubt.of(DoubtCode.NFT_FAMILY_NOT_WALKED, family=t.family, table=t.name))
    return out


def _input_doubts(state: HostState, mapping: Mapping | None, source: Container | None,
                  hops: list[Hop]) -> list[Doubt]:
    """Fields of the input that could not be read, where this answer rests on them: any that belong
    to no container, and those of the containers the question or the path touches."""
    touched = {h.name for h in hops if h.kind == HopKind.CONTAINER}
    touched |= {c.name for c in (mapping.container if mapping else None, source) if c is not None}
    problems = list(state.problems) + [x for name, unread in _container_problems(state) if name in touched
                                       for x in unread]
    if not problems:
        return []
    return [Doubt.of(DoubtCode.INPUT_NOT_READ, field=problems[0], more=len(problems) - 1)]


@per_object(maxsize=8)
def _container_problems(state: HostState) -> list[tuple[str, tuple[str, ...]]]:
    """The containers that have fields not read, in order (usually none of 1,000)."""
    return [(c.name, c.problems) for c in state.containers if c.problems]


Outcome = tuple[Verdict, Via | None]


def _walk_from_origin(walk: _Walk, p: Packet, q: Query, src_container: Container | None) -> Outcome:
    if src_container is not None and src_container.network_mode == "host":
        walk.say(HopKind.CONTAINER, Reason.HOST_NETWORK, src_container.name, container=src_container.name)
        return _local_out(walk, p)
    if src_container is not None:
        return _from_container(walk, p, src_container)
    if q.origin in ("host", "localhost"):
        return _local_out(walk, p)
    walk.say(HopKind.INTERFACE, Reason.ARRIVES, p.iif, packet=_facts(p))
    return _prerouting_onwards(walk, p)


def _from_container(walk: _Walk, p: Packet, c: Container) -> Outcome:
    state = walk.state
    _ip, net_name = _first_ip(c, p.family)
    bridge = _bridge_of(state, net_name)
    veth = _host_veth(state, c, bridge)
    walk.say(HopKind.CONTAINER, Reason.CONTAINER_SENDS, c.name, container=c.name, packet=_facts(p))
    if not _on_own_subnet(c, p.dst) and not _has_default_route(state, c, p.family):
        walk.say(HopKind.ROUTE, Reason.INTERNAL_ONLY, "unreachable", container=c.name, dst=p.dst)
        return Verdict.REJECTED, None
    walk.say(HopKind.VETH, Reason.VETH_OUT, veth.name if veth else "", veth=veth.name if veth else "",
             bridge=bridge)
    p.iif = bridge
    p.physdev_in = veth.name if veth else ""
    dst_target = _container_by_ip(state, p.dst)
    same_bridge = dst_target is not None and _bridge_of(state, dst_target[1]) == bridge and \
        any(p.dst in (e.ip, e.ipv6) for e in dst_target[0].endpoints if e.network == dst_target[1])
    nf_bridge = walk.sysctl(_NF_CALL[p.family], "1") == "1"
    if same_bridge:
        # Layer 2: the bridge forwards the frame itself; iptables sees it only through br_netfilter.
        assert dst_target is not None
        target, _tnet = dst_target
        out_veth = _host_veth(state, target, bridge)
        walk.say(HopKind.BRIDGE, Reason.BRIDGED, bridge, bridge=bridge, nf_bridge=nf_bridge)
        p.bridged = True
        p.physdev_out = out_veth.name if out_veth else ""
        if nf_bridge and p.family == 6:
            stopped = _neighbour_discovery(walk, p, out_veth.name if out_veth else "", target.name)
            if stopped:
                return stopped, None
        if nf_bridge:
            stopped = walk.through(p, ("PREROUTING", ("raw", "mangle", "nat")))
            if stopped:
                return stopped, None
            p.oif = bridge
            stopped = walk.through(p, ("FORWARD", ("mangle", "filter")), ("POSTROUTING", ("mangle", "nat")))
            if stopped:
                return stopped, None
        return _into_container(walk, p, target, bridge, out_veth, Via.DIRECT)
    walk.say(HopKind.BRIDGE, Reason.BRIDGE_UP, bridge, bridge=bridge, dst=p.dst)
    return _prerouting_onwards(walk, p)


def _neighbour_discovery(walk: _Walk, p: Packet, out_port: str, target: str) -> Verdict | None:
    """Before its first IPv6 packet to a neighbour, a container asks for the neighbour's MAC address
    (an ICMPv6 neighbour solicitation to the solicited-node multicast address; the answer comes back
    as a unicast advertisement). Both are bridged frames, so br_netfilter hands them to the same
    FORWARD rules: a rule that drops them (ICC off drops everything between the bridge's ports) means
    the connection's packet is never sent. ND packets are never tracked (nf_conntrack_proto_icmpv6).
    Their hops stay in the path only when they decide it or leave a doubt."""
    addr = parsed_ip(p.dst).packed
    solicit = Packet(p.src, str(ipaddress.IPv6Address(b"\xff\x02" + bytes(9) + b"\x01\xff" + addr[13:])),
                     "ipv6-icmp", 0, 0, iif=p.iif, oif=p.iif, physdev_in=p.physdev_in, physdev_out=out_port,
                     bridged=True, ct_untracked=True)
    advert = Packet(p.dst, p.src, "ipv6-icmp", 0, 0, iif=p.iif, oif=p.iif, physdev_in=out_port,
                    physdev_out=p.physdev_in, bridged=True, ct_untracked=True)
    hops, doubts = len(walk.hops), len(walk.doubts)
    for nd in (solicit, advert):
        stopped = walk.through(nd, ("PREROUTING", ("raw", "mangle")), ("FORWARD", ("mangle", "filter")),
                               ("POSTROUTING", ("mangle",)))
        for h in walk.hops[hops:]:
            h.facts.setdefault("neighbour", True)
        if stopped in (Verdict.DROPPED, Verdict.REJECTED):
            walk.say(HopKind.BRIDGE, Reason.NEIGHBOUR_FILTERED, p.iif, bridge=p.iif, dst=p.dst, target=target,
                     advert=nd is advert, neighbour=True)
            return stopped
        if stopped:
            return stopped  # not known whether it passes: the doubts of its hops say why
    if len(walk.doubts) == doubts:
        del walk.hops[hops:]
    return None


_NF_CALL = {4: "net.bridge.bridge-nf-call-iptables", 6: "net.bridge.bridge-nf-call-ip6tables"}
_FORWARDING = {4: "net.ipv4.ip_forward", 6: "net.ipv6.conf.all.forwarding"}


def _on_own_subnet(c: Container, ip: str) -> bool:
    try:
        addr = parsed_ip(ip)
        own = [(e.ip, e.prefix or 32) for e in c.endpoints if e.ip] + \
            [(e.ipv6, e.prefix6 or 128) for e in c.endpoints if e.ipv6]
        return any(addr in parsed_network(f"{a}/{n}") for a, n in own)
    except ValueError:
        return False


def _has_default_route(state: HostState, c: Container, family: int = 4) -> bool:
    """Docker gives a container a default route through any network of it that is not internal
    (for IPv6, any such network with IPv6 on)."""
    for e in c.endpoints:
        net = state.network_by_name(e.network)
        if (net is None or not net.internal) and (family == 4 or e.gateway6):
            return True
    return not c.endpoints


def _stopped(walk: _Walk, verdict: str) -> Verdict:
    if verdict == "DROP":
        return Verdict.DROPPED
    if verdict == "REJECT":
        return Verdict.REJECTED
    return Verdict.UNCERTAIN


def _prerouting_onwards(walk: _Walk, p: Packet) -> Outcome:
    stopped = walk.through(p, ("PREROUTING", ("raw", "mangle", "nat")))
    if stopped:
        return stopped, None
    if walk.view.is_local(p.dst):
        walk.say(HopKind.ROUTE, Reason.ROUTE_LOCAL, "local", dst=p.dst)
        stopped = walk.through(p, ("INPUT", ("mangle", "filter", "nat")))
        if stopped:
            return stopped, None
        return _local_delivery(walk, p)
    return _forward(walk, p, Via.NAT if p.dnat_done else Via.DIRECT)


def _forward(walk: _Walk, p: Packet, via: Via) -> Outcome:
    dev, gw, _src = walk.view.route(p.dst)
    if not dev:
        walk.say(HopKind.ROUTE, Reason.NO_ROUTE, "none", dst=p.dst)
        return Verdict.DROPPED, None
    if walk.sysctl(_FORWARDING[p.family], "1") != "1":
        walk.say(HopKind.ROUTE, Reason.FORWARDING_OFF, dev, dst=p.dst, dev=dev, key=_FORWARDING[p.family])
        return Verdict.DROPPED, None
    walk.say(HopKind.ROUTE, Reason.ROUTE_FORWARD, dev, dst=p.dst, dev=dev, gateway=gw, from_host=False)
    p.oif = dev
    p.bridged = False
    p.physdev_out = ""
    if dev == p.iif and p.dnat_done and any(n.bridge == dev for n in walk.state.networks) and \
            walk.sysctl(_NF_CALL[p.family], "1") == "1":
        # A DNAT back to the bridge it came in from: br_netfilter hands it to the bridge to forward,
        # and the bridge's POSTROUTING passes no input device (br_nf_pre_routing_finish).
        p.bridged_dnat = True
    stopped = walk.through(p, ("FORWARD", ("mangle", "filter")), ("POSTROUTING", ("mangle", "nat")))
    if stopped:
        return stopped, None
    return _out_to_bridge(walk, p, dev, via)


def _out_to_bridge(walk: _Walk, p: Packet, dev: str, via: Via) -> Outcome:
    state = walk.state
    target = _container_by_ip(state, p.dst)
    if target is None:
        walk.say(HopKind.INTERFACE, Reason.LEAVES_HOST, dev, Doubt.of(DoubtCode.BEYOND_HOST, dst=p.dst, dev=dev),
                 dev=dev, dst=p.dst)
        return Verdict.UNCERTAIN, via
    c, _net = target
    walk.say(HopKind.BRIDGE, Reason.BRIDGE_DELIVERS, dev, bridge=dev, dst=p.dst, container=c.name)
    return _into_container(walk, p, c, dev, _host_veth(state, c, dev), via)


def _into_container(walk: _Walk, p: Packet, c: Container, bridge: str, veth: Link | None, via: Via) -> Outcome:
    walk.say(HopKind.VETH, Reason.VETH_IN, veth.name if veth else "", veth=veth.name if veth else "",
             bridge=bridge, container=c.name)
    if not _on_own_subnet(c, p.src) and not _has_default_route(walk.state, c, p.family):
        walk.say(HopKind.CONTAINER, Reason.NO_ROUTE_BACK, c.name, container=c.name, src=p.src)
        return Verdict.DROPPED, via
    if c.listeners is None:
        walk.say(HopKind.CONTAINER, Reason.SOCKETS_UNKNOWN, c.name, Doubt.of(DoubtCode.SOCKETS_NOT_READ,
                 container=c.name), container=c.name, dst=p.dst, dport=p.dport)
        return Verdict.UNCERTAIN, via
    socket = next((lsn for lsn in c.listeners if lsn.proto == p.proto
                   and _listener_covers(lsn.ip, p.dst, p.dport, lsn.port)), None)
    if socket is not None:
        # An IPv4 packet to a socket on [::] reaches it as an IPv4-mapped address (::ffff:a.b.c.d).
        walk.say(HopKind.CONTAINER, Reason.LISTENING, c.name, container=c.name, proto=p.proto, dport=p.dport,
                 src=p.src, mapped=socket.ip == "::" and p.family == 4)
        return Verdict.DELIVERED, via
    walk.say(HopKind.CONTAINER, Reason.NOTHING_LISTENS, c.name, container=c.name, proto=p.proto, dport=p.dport)
    return Verdict.REFUSED, via


def _local_out(walk: _Walk, p: Packet) -> Outcome:
    """A packet the host itself sends (a client on the host, or docker-proxy's own connection)."""
    walk.say(HopKind.INTERFACE, Reason.HOST_SENDS, "local", packet=_facts(p))
    # The kernel routes a packet of its own before LOCAL_OUT, and every OUTPUT table matches `-o`
    # against that first route's device, even after nat OUTPUT rewrote the destination: the new
    # route is taken from POSTROUTING on (the kernel's trace shows `-o lo` matching in filter OUTPUT).
    first_dev, _gw, _src = walk.view.route(p.dst)
    p.oif = "lo" if first_dev == "lo" or walk.view.is_local(p.dst) else first_dev
    stopped = walk.through(p, ("OUTPUT", ("raw", "mangle", "nat", "filter")))
    if stopped:
        return stopped, None
    dev, gw, _src = walk.view.route(p.dst)
    if dev == "lo" or walk.view.is_local(p.dst):
        p.oif = "lo"
        walk.say(HopKind.ROUTE, Reason.ROUTE_LOOPBACK, "lo", dst=p.dst)
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
        walk.say(HopKind.ROUTE, Reason.NO_ROUTE_LOCAL, "none", dst=p.dst)
        return Verdict.DROPPED, None
    loopback_source = ipaddress.ip_address(p.src).is_loopback
    if loopback_source and p.family == 4 and \
            walk.sysctl(f"net.ipv4.conf.{dev}.route_localnet", "0") != "1" and \
            walk.sysctl("net.ipv4.conf.all.route_localnet", "0") != "1":
        walk.say(HopKind.ROUTE, Reason.LOOPBACK_SOURCE, dev, dst=p.dst, dev=dev, src=p.src, family=4)
        return Verdict.DROPPED, None
    src = p.src
    p.oif = dev
    walk.say(HopKind.ROUTE, Reason.ROUTE_FORWARD, dev, dst=p.dst, dev=dev, gateway=gw, from_host=True)
    stopped = walk.through(p, ("POSTROUTING", ("mangle", "nat")))
    if stopped:
        return stopped, None
    if loopback_source and p.family == 6:
        # IPv6 has no route_localnet: the packet leaves (the kernel's trace shows POSTROUTING), but
        # the connection from ::1 never completes through a device (measured: the client times out).
        walk.say(HopKind.ROUTE, Reason.LOOPBACK_SOURCE, dev, dst=p.dst, dev=dev, src=src, family=6)
        return Verdict.DROPPED, None
    return _out_to_bridge(walk, p, dev, Via.NAT if p.dnat_done else Via.DIRECT)


def _proxy_for(state: HostState, p: Packet) -> Proxy | None:
    for px in _proxies_by_port(state).get((p.proto, p.dport), ()):
        if _binding_covers(px.host_ip, p.dst):
            return px
    return None


@per_object(maxsize=8)
def _proxies_by_port(state: HostState) -> dict[tuple[str, int], list[Proxy]]:
    """docker-proxies by (proto, host port), in the state's order (2,000 on a busy host)."""
    out: dict[tuple[str, int], list[Proxy]] = {}
    for px in state.proxies:
        out.setdefault((px.proto, px.host_port), []).append(px)
    return out


def _local_delivery(walk: _Walk, p: Packet) -> Outcome:
    state = walk.state
    proxy = _proxy_for(state, p)
    if proxy is None:
        known = "proxies" not in state.missing
        walk.say(HopKind.LOCAL, Reason.NO_PROXY, p.dst,
                 None if known else Doubt.of(DoubtCode.PROCESSES_NOT_CAPTURED), dst=p.dst, dport=p.dport,
                 known=known)
        return Verdict.REFUSED, None
    walk.say(HopKind.PROXY, Reason.PROXY, str(proxy.pid), pid=proxy.pid, host_ip=proxy.host_ip,
             host_port=proxy.host_port, container_ip=proxy.container_ip, container_port=proxy.container_port)
    answer, proxy_hop = _udp_answer_doubt(walk, p, proxy), walk.hops[-1]
    walk.leg = 2
    view = walk.view
    _dev, _gw, src = view.route(proxy.container_ip)
    leg2 = Packet(src or p.dst, proxy.container_ip, proxy.proto, CLIENT_SPORT + 1, proxy.container_port)
    verdict, _via = _local_out(walk, leg2)
    if answer is not None and verdict == Verdict.DELIVERED:
        proxy_hop.doubts.append(answer)
        walk.doubts.append(answer)
    return verdict, Via.PROXY


def _udp_answer_doubt(walk: _Walk, p: Packet, proxy: Proxy) -> Doubt | None:
    """docker-proxy up to Docker 27 answers a UDP client from the address the kernel picks for the
    way back, not from the one the client sent to (moby#11998, fixed in 28.0 by moby#48571). A
    connected UDP client (dig, most resolvers) drops such an answer; an unconnected one takes it."""
    if p.proto != "udp":
        return None
    _dev, _gw, answer_from = walk.view.route(p.src)
    if not answer_from or answer_from == p.dst:
        return None
    major = walk.state.facts.docker_major
    if major is not None and major >= 28:
        return None
    return Doubt.of(DoubtCode.UDP_ANSWER_SOURCE, pid=proxy.pid, answer_from=answer_from, asked=p.dst,
                    version=walk.state.facts.docker_version)
