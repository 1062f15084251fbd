"""Parsers for what Linux tools print: `ip -j`, `ss`, `ps`, `sysctl`, /proc/net.

Pure functions over text or decoded JSON, shared by the live collectors and the bundle loader.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from tui.collect.fields import Doc, canonical_ip
from tui.model import Address, IpSet, Link, Listener, Proxy, Route

_FAMILY = {"inet": 4, "inet6": 6}


def _objects(value: object, where: str, problems: list[str]) -> list[Doc]:
    """The objects of a top-level JSON list (`ip -j` prints one); anything else is noted."""
    if not isinstance(value, list):
        if value is not None:
            problems.append(f"{where}: expected a list, got {type(value).__name__}")
        return []
    return Doc({"all": value}, where, problems).objects("all")


def links_from_ip_json(link_json: object, addr_json: object | None,
                       problems: list[str] | None = None) -> tuple[Link, ...]:
    found: list[str] = problems if problems is not None else []
    addrs: dict[int, list[Address]] = {}
    for entry in _objects(addr_json, "ip-addr.json", found):
        entry.where = f"ip-addr.json {entry.text('ifname') or '?'}"
        for a in entry.objects("addr_info"):
            fam = _FAMILY.get(a.text("family"))
            ip = a.address("local")
            if fam and ip:
                addrs.setdefault(entry.integer("ifindex"), []).append(Address(ip, a.integer("prefixlen"), fam))
    links = _objects(link_json, "ip-link.json", found)
    by_name = {e.text("ifname"): e.integer("ifindex") for e in links}
    out = []
    for entry in links:
        entry.where = f"ip-link.json {entry.text('ifname') or '?'}"
        index = entry.integer("ifindex")
        # `ip` names the peer ("link": "vethX") when it is in the same netns, else gives its index.
        peer = entry.integer("link_index", default=-1)
        peer_index = peer if peer >= 0 else by_name.get(entry.text("link"))
        kind = entry.obj("linkinfo").text("info_kind") or (
            "loopback" if entry.text("link_type") == "loopback" else "device")
        netnsid = entry.integer("link_netnsid", default=-1)
        out.append(Link(
            index=index,
            name=entry.text("ifname"),
            kind=kind,
            state=entry.text("operstate"),
            mac=entry.text("address"),
            master=entry.text("master"),
            peer_index=peer_index if kind == "veth" else None,
            peer_netnsid=(netnsid if netnsid >= 0 else None) if kind == "veth" else None,
            addresses=tuple(sorted(addrs.get(index, ()), key=lambda a: (a.family, a.ip))),
        ))
    return tuple(sorted(out, key=lambda x: x.index))


def container_ifaces_from_ip_json(link_json: object, problems: list[str] | None = None,
                                  where: str = "netns ip-link.json") -> tuple[tuple[str, int, int], ...]:
    """(ifname, ifindex, peer ifindex) of each veth end inside a container netns."""
    found: list[str] = problems if problems is not None else []
    out = []
    for entry in _objects(link_json, where, found):
        peer = entry.integer("link_index", default=-1)
        if entry.obj("linkinfo").text("info_kind") == "veth" and peer >= 0:
            out.append((entry.text("ifname"), entry.integer("ifindex"), peer))
    return tuple(sorted(out))


def routes_from_ip_json(route_json: object, problems: list[str] | None = None, family: int = 4) -> tuple[Route, ...]:
    """Routes of `ip -j route show` (family 4) or `ip -j -6 route show` (family 6)."""
    found: list[str] = problems if problems is not None else []
    out = []
    for r in _objects(route_json, "ip-route.json" if family == 4 else "ip-6-route.json", found):
        if (r.text("type") or "unicast") != "unicast":
            continue
        dst = r.text("dst")
        if not dst:
            found.append(f"{r.where}: a route without dst")
            continue
        if dst != "default" and not r.network("dst"):
            continue  # not a destination: noted by network()
        out.append(Route(
            dst=dst,
            dev=r.text("dev"),
            gateway=r.address("gateway"),
            prefsrc=r.address("prefsrc"),
            scope=r.text("scope"),
            metric=r.integer("metric"),
            family=6 if ":" in dst else family,
        ))
    return tuple(out)


def _endpoint(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]").split("%", 1)[0]
    if host in ("*", ""):
        host = "::"
    return host, int(port)


def listeners_from_ss(text: str) -> tuple[Listener, ...]:
    """`ss -Hltun` lines: 'tcp LISTEN 0 4096 0.0.0.0:80 0.0.0.0:*'."""
    out = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp"):
            continue
        ep = _endpoint(parts[4])
        if ep:
            out.add(Listener(parts[0], ep[0], ep[1]))
    return tuple(sorted(out, key=lambda x: (x.proto, x.port, x.ip)))


def _hex_addr(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    # /proc/net stores each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listeners_from_proc_net(tables: dict[str, str]) -> tuple[Listener, ...]:
    """/proc/<pid>/net/{tcp,tcp6,udp,udp6} contents, keyed by file name."""
    out = set()
    for name, text in tables.items():
        proto = "tcp" if name.startswith("tcp") else "udp"
        wanted = "0A" if proto == "tcp" else "07"  # LISTEN / unconnected
        for line in text.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 4 or parts[3] != wanted or parts[2].split(":")[0].strip("0"):
                continue
            hexip, _, hexport = parts[1].partition(":")
            try:
                ip = _hex_addr(hexip)
            except ValueError:
                continue
            out.add(Listener(proto, ip, int(hexport, 16)))
    return tuple(sorted(out, key=lambda x: (x.proto, x.port, x.ip)))


def proxy_from_args(pid: int, args: list[str]) -> Proxy | None:
    """docker-proxy's own flags: -proto -host-ip -host-port -container-ip -container-port."""
    if not args or not args[0].rsplit("/", 1)[-1] == "docker-proxy":
        return None
    flags: dict[str, str] = {}
    it = iter(args[1:])
    for a in it:
        if a.startswith("-"):
            key, eq, value = a.lstrip("-").partition("=")
            if not eq:
                value = next(it, "")
            flags[key] = value
    try:
        host_ip, container_ip = canonical_ip(flags.get("host-ip", "")), canonical_ip(flags.get("container-ip", ""))
        host_port, container_port = int(flags.get("host-port", "")), int(flags.get("container-port", ""))
    except ValueError:
        return None  # cut short or not docker-proxy's flags: not one we can follow
    return Proxy(pid, flags.get("proto", "tcp"), host_ip, host_port, container_ip, container_port, " ".join(args))


def proxies_from_ps(text: str) -> tuple[Proxy, ...]:
    """`ps -eo pid,args`."""
    out = []
    for line in text.splitlines():
        pid, _, args = line.strip().partition(" ")
        if not pid.isdigit() or "docker-proxy" not in args:
            continue
        # docker-proxy's arguments are flags, addresses and numbers, never quoted: a shell lexer
        # (0.7 s for 1,800 proxies) buys nothing here.
        p = proxy_from_args(int(pid), args.split())
        if p:
            out.append(p)
    return tuple(sorted(out, key=lambda p: p.pid))


def sysctls_from_text(lines: Iterable[str]) -> dict[str, str]:
    """`key = value` lines; a line without a value (cut short) is as if the key was not read."""
    out = {}
    for line in lines:
        key, sep, value = line.partition("=")
        value = " ".join(value.split())
        if sep and key.strip() and value:
            out[key.strip()] = value
    return out


def ipsets_from_save(text: str) -> dict[str, IpSet]:
    """`ipset save`: `create NAME TYPE family inet ...` then `add NAME MEMBER` lines."""
    kinds: dict[str, tuple[str, int]] = {}
    members: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "create":
            family = 6 if "inet6" in parts[3:] else 4
            kinds[parts[1]] = (parts[2], family)
            members.setdefault(parts[1], [])
        elif len(parts) >= 3 and parts[0] == "add":
            members.setdefault(parts[1], []).append(parts[2])
    return {name: IpSet(name, kinds.get(name, ("", 4))[0], kinds.get(name, ("", 4))[1], tuple(m))
            for name, m in members.items()}
