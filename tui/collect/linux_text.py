"""Parsers for what Linux tools print: `ip -j`, `ss`, `ps`, `sysctl`, /proc/net.

Pure functions over text or decoded JSON, shared by the live collectors and the bundle loader.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable
from typing import Any

from tui.model import Address, IpSet, Link, Listener, Proxy, Route

_FAMILY = {"inet": 4, "inet6": 6}


def links_from_ip_json(link_json: list[dict[str, Any]], addr_json: list[dict[str, Any]] | None) -> tuple[Link, ...]:
    addrs: dict[int, list[Address]] = {}
    for entry in addr_json or []:
        for a in entry.get("addr_info") or []:
            fam = _FAMILY.get(a.get("family", ""))
            if fam and a.get("local"):
                addrs.setdefault(int(entry.get("ifindex", 0)), []).append(
                    Address(a["local"], int(a.get("prefixlen", 0)), fam))
    by_name = {e.get("ifname"): int(e.get("ifindex", 0)) for e in link_json}
    out = []
    for entry in link_json:
        index = int(entry.get("ifindex", 0))
        # `ip` names the peer ("link": "vethX") when it is in the same netns, else gives its index.
        peer = entry.get("link_index", by_name.get(entry.get("link")))
        info = entry.get("linkinfo") or {}
        kind = info.get("info_kind") or ("loopback" if entry.get("link_type") == "loopback" else "device")
        out.append(Link(
            index=index,
            name=entry.get("ifname", ""),
            kind=kind,
            state=entry.get("operstate", ""),
            mac=entry.get("address", ""),
            master=entry.get("master", ""),
            peer_index=peer if kind == "veth" else None,
            peer_netnsid=entry.get("link_netnsid") if kind == "veth" else None,
            addresses=tuple(sorted(addrs.get(index, ()), key=lambda a: (a.family, a.ip))),
        ))
    return tuple(sorted(out, key=lambda x: x.index))


def container_ifaces_from_ip_json(link_json: list[dict[str, Any]]) -> tuple[tuple[str, int, int], ...]:
    """(ifname, ifindex, peer ifindex) of each veth end inside a container netns."""
    out = []
    for entry in link_json:
        if ((entry.get("linkinfo") or {}).get("info_kind") == "veth"
                and entry.get("link_index") is not None):
            out.append((entry.get("ifname", ""), int(entry["ifindex"]), int(entry["link_index"])))
    return tuple(sorted(out))


def routes_from_ip_json(route_json: list[dict[str, Any]]) -> tuple[Route, ...]:
    out = []
    for r in route_json:
        if r.get("type", "unicast") not in ("unicast",):
            continue
        out.append(Route(
            dst=r.get("dst", ""),
            dev=r.get("dev", ""),
            gateway=r.get("gateway", ""),
            prefsrc=r.get("prefsrc", ""),
            scope=r.get("scope", ""),
            metric=int(r.get("metric", 0) or 0),
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
        return Proxy(pid, flags.get("proto", "tcp"), flags.get("host-ip", ""),
                     int(flags.get("host-port", "")), flags.get("container-ip", ""),
                     int(flags.get("container-port", "")), " ".join(args))
    except ValueError:
        return None


def proxies_from_ps(text: str) -> tuple[Proxy, ...]:
    """`ps -eo pid,args`."""
    out = []
    for line in text.splitlines():
        pid, _, args = line.strip().partition(" ")
        if not pid.isdigit() or "docker-proxy" not in args:
            continue
        try:
            argv = shlex.split(args)
        except ValueError:
            argv = args.split()
        p = proxy_from_args(int(pid), argv)
        if p:
            out.append(p)
    return tuple(sorted(out, key=lambda p: p.pid))


def sysctls_from_text(lines: Iterable[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = " ".join(value.split())
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
