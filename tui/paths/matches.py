"""Evaluate one rule's criteria against the packet, as the kernel would for the first packet.

`evaluate` returns (matched, doubt). `doubt` (a `Doubt`, or None) names what could not be
evaluated (an ipset's contents, an owner, an unknown module); the engine then marks the hop and
verdict uncertain.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from tui.paths.packet import HostView, Packet, parsed_ip
from tui.paths.rules import Match, Option, ParsedRule
from tui.paths.types import Doubt, DoubtCode

Result = tuple[bool, Doubt | None]


def _iface_match(pattern: str, name: str) -> bool:
    if not name:
        return False
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern


@lru_cache(maxsize=65536)
def _networks(spec: str) -> tuple[tuple[int, int, int], ...]:
    """(version, network as int, mask as int) for each comma-separated network of a rule."""
    out = []
    for s in spec.split(","):
        try:
            n = ipaddress.ip_network(s, strict=False)
        except ValueError:
            continue
        out.append((n.version, int(n.network_address), int(n.netmask)))
    return tuple(out)


@lru_cache(maxsize=65536)
def _address(addr: str) -> tuple[int, int] | None:
    try:
        ip = parsed_ip(addr)
    except ValueError:
        return None
    return ip.version, int(ip)


def in_net(addr: str, spec: str) -> bool:
    """Whether `addr` is in one of the comma-separated networks of `spec` (as -s/-d write them)."""
    return _in_net(addr, spec)


def _in_net(addr: str, spec: str) -> bool:
    a = _address(addr)
    if a is None:
        return False
    version, value = a
    return any(v == version and (value & mask) == net for v, net, mask in _networks(spec))


def _port_in(port: int, spec: str) -> bool:
    for part in spec.split(","):
        lo, sep, hi = part.partition(":")
        if not sep:
            lo, sep, hi = part.partition("-")
        try:
            if sep:
                if int(lo or 0) <= port <= int(hi or 65535):
                    return True
            elif int(part) == port:
                return True
        except ValueError:
            continue
    return False


def _ct_states(p: Packet) -> set[str]:
    if p.ct_untracked:
        return {"UNTRACKED"}
    states = {"NEW"}  # the first packet of a connection
    if p.dnat_done:
        states.add("DNAT")
    if p.snat_done:
        states.add("SNAT")
    return states


def _mark_match(value: int, spec: str) -> bool:
    want, _, mask = spec.partition("/")
    m = int(mask, 0) if mask else 0xFFFFFFFF
    return (value & m) == (int(want, 0) & m)


def _base(opt: Option, p: Packet) -> bool:
    v = opt.values[0] if opt.values else ""
    if opt.name == "src":
        return _in_net(p.src, v)
    if opt.name == "dst":
        return _in_net(p.dst, v)
    if opt.name == "iif":
        return _iface_match(v, p.iif)
    if opt.name == "oif":
        return _iface_match(v, p.oif)
    if opt.name == "proto":
        return v in (p.proto, "all", "0") or (v == "6" and p.proto == "tcp") or (v == "17" and p.proto == "udp") \
            or (v in ("58", "icmpv6", "ipv6-icmp") and p.proto == "ipv6-icmp")
    if opt.name == "fragment":
        return False  # the first packet is never a non-first fragment
    return False


def _tcp_flags(opt: Option) -> bool:
    # The first packet is a SYN: flags set = {SYN}.
    if opt.name == "syn":
        return True
    if opt.name == "tcp-flags" and len(opt.values) == 2:
        mask = set(opt.values[0].split(","))
        comp = set(opt.values[1].split(","))
        if "ALL" in mask:
            mask = {"FIN", "SYN", "RST", "PSH", "ACK", "URG"}
        return ({"SYN"} & mask) == (comp - {"NONE"})
    return False


def _module(match: Match, p: Packet, view: HostView) -> Result:
    """All options must match. One that certainly does not settles it, even beside one that
    cannot be evaluated; otherwise an option that cannot be evaluated makes the answer unknown."""
    mod = match.module
    unknown: Doubt | None = None
    for opt in match.options:
        ok, doubt = _option(mod, opt, p, view, match)
        if doubt:
            unknown = unknown or doubt
        elif ok == opt.negated:
            return False, None
    return (False, unknown) if unknown else (True, None)


def _option(mod: str, opt: Option, p: Packet, view: HostView, match: Match) -> Result:
    v = " ".join(opt.values)
    name = opt.name
    if mod == "base":
        return _base(opt, p), None
    if mod in ("tcp", "udp", "sctp", "_implicit"):
        if mod in ("tcp", "udp") and p.proto != mod:
            return opt.negated, None  # -m tcp on a udp packet never matches
        if name in ("dport", "destination-port"):
            return _port_in(p.dport, v), None
        if name in ("sport", "source-port"):
            return _port_in(p.sport, v), None
        if name in ("syn", "tcp-flags"):
            return _tcp_flags(opt), None
        return False, Doubt.of(DoubtCode.MATCH_NOT_EVALUATED, module=mod, option=name)
    if mod == "multiport":
        if name in ("dports", "destination-ports"):
            return _port_in(p.dport, v), None
        if name in ("sports", "source-ports"):
            return _port_in(p.sport, v), None
        if name == "ports":
            return _port_in(p.dport, v) or _port_in(p.sport, v), None
    if mod == "comment":
        return not opt.negated, None
    if mod == "addrtype":
        limit_in = any(o.name == "limit-iface-in" for o in match.options)
        limit_out = any(o.name == "limit-iface-out" for o in match.options)
        iface = p.iif if limit_in else (p.oif if limit_out else None)
        if name in ("limit-iface-in", "limit-iface-out"):
            return not opt.negated, None
        addr = p.src if name == "src-type" else p.dst
        if name in ("src-type", "dst-type"):
            wanted = set(v.split(","))
            return bool(wanted & view.addr_type(addr, iface)), None
    if mod in ("conntrack", "state"):
        if name in ("ctstate", "state"):
            return bool(set(v.split(",")) & _ct_states(p)), None
        if name == "ctorigdst":
            return _in_net(p.orig_dst, v), None
        if name == "ctorigsrc":
            return _in_net(p.orig_src, v), None
        if name == "ctrepldst":
            return _in_net(p.orig_src if not p.snat_done else p.src, v), None
        if name == "ctreplsrc":
            return _in_net(p.dst, v), None
        if name == "ctorigdstport":
            return _port_in(p.orig_dport, v), None
        if name == "ctproto":
            return v == p.proto, None
        if name == "ctdir":
            return v == "ORIGINAL", None
        if name == "ctstatus":
            return False, None  # nothing is set on the first packet (not even CONFIRMED)
    if mod == "physdev":
        if name == "physdev-in":
            return _iface_match(v, p.physdev_in), None
        if name == "physdev-out":
            return _iface_match(v, p.physdev_out), None
        if name == "physdev-is-bridged":
            return p.bridged, None
        if name == "physdev-is-in":
            return bool(p.physdev_in), None
        if name == "physdev-is-out":
            return bool(p.physdev_out), None
    if mod in ("icmp", "icmp6", "icmpv6"):
        return False, None  # we follow tcp/udp packets only
    if mod == "mark" and name == "mark":
        return _mark_match(p.mark, v), None
    if mod == "connmark" and name == "mark":
        return _mark_match(p.ct_mark, v), None
    if mod == "iprange":
        if name == "src-range":
            return _in_range(p.src, v), None
        if name == "dst-range":
            return _in_range(p.dst, v), None
    if mod == "pkttype" and name == "pkt-type":
        return v == "unicast", None
    if mod == "set":
        return _match_set(opt, p, view)
    return False, Doubt.of(DoubtCode.MATCH_NOT_EVALUATED, module=mod, option=name)


_SET_TYPES = {"hash:net", "hash:ip"}


def _match_set(opt: Option, p: Packet, view: HostView) -> Result:
    if opt.name != "match-set":
        return not opt.negated, None  # --return-nomatch, counters ...: no effect on a one-dimension set
    name, _, flags = " ".join(opt.values).partition(" ")
    ipset = view.state.ipsets.get(name)
    if ipset is None:
        return False, Doubt.of(DoubtCode.IPSET_NOT_CAPTURED, ipset=name)
    first = flags.split(",")[0]
    if ipset.type not in _SET_TYPES or first not in ("src", "dst"):
        return False, Doubt.of(DoubtCode.IPSET_NOT_EVALUATED, ipset=name, type=ipset.type, flags=flags)
    addr = p.src if first == "src" else p.dst
    return any(_in_net(addr, m) for m in ipset.members), None


def _in_range(addr: str, spec: str) -> bool:
    lo, _, hi = spec.partition("-")
    try:
        ip, first, last = (ipaddress.ip_address(a) for a in (addr, lo, hi or lo))
        if not ip.version == first.version == last.version:
            return False
        return int(first) <= int(ip) <= int(last)
    except (ValueError, TypeError):
        return False


def evaluate(rule: ParsedRule, p: Packet, view: HostView) -> Result:
    """(matched, doubt): a definite mismatch of any match wins over a doubt about another."""
    unknown: Doubt | None = None
    for match in rule.matches:
        ok, doubt = _module(match, p, view)
        if doubt:
            unknown = unknown or doubt
        elif not ok:
            return False, None
    return (False, unknown) if unknown else (True, None)
