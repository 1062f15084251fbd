"""Links, addresses, routes and container veth ends, read over netlink with pyroute2.

Produces the same model objects as the `ip -j` parsers in linux_text, so a live collection and a
capture bundle of the same host compare equal.
"""

from __future__ import annotations

import os
import socket

from tui.i18n import _
from tui.model import Address, Link, Route, Warning_

_SCOPES = {253: "link", 254: "host", 200: "site"}


def _kind(msg) -> str:
    info = msg.get_attr("IFLA_LINKINFO")
    if info is not None:
        kind = info.get_attr("IFLA_INFO_KIND")
        if kind:
            return kind
    return "loopback" if msg["ifi_type"] == 772 else "device"


def read_links() -> tuple[tuple[Link, ...], tuple[Route, ...]]:
    from pyroute2 import IPRoute  # deferred: pyroute2 is slow to import

    with IPRoute() as ipr:
        raw_links = list(ipr.get_links())
        raw_addrs = list(ipr.get_addr())
        raw_routes = list(ipr.get_routes(family=socket.AF_INET, table=254)) + \
            list(ipr.get_routes(family=socket.AF_INET6, table=254))
    names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in raw_links}
    addrs: dict[int, list[Address]] = {}
    for a in raw_addrs:
        fam = {socket.AF_INET: 4, socket.AF_INET6: 6}.get(a["family"])
        ip = a.get_attr("IFA_LOCAL") or a.get_attr("IFA_ADDRESS")
        if fam and ip:
            addrs.setdefault(a["index"], []).append(Address(ip, a["prefixlen"], fam))
    links = []
    for m in raw_links:
        kind = _kind(m)
        master = m.get_attr("IFLA_MASTER")
        links.append(Link(
            index=m["index"],
            name=m.get_attr("IFLA_IFNAME"),
            kind=kind,
            state=m.get_attr("IFLA_OPERSTATE") or "",
            mac=m.get_attr("IFLA_ADDRESS") or "",
            master=names.get(master, "") if master else "",
            peer_index=m.get_attr("IFLA_LINK") if kind == "veth" else None,
            peer_netnsid=m.get_attr("IFLA_LINK_NETNSID") if kind == "veth" else None,
            addresses=tuple(sorted(addrs.get(m["index"], ()), key=lambda a: (a.family, a.ip))),
        ))
    routes = []
    for r in raw_routes:
        if r["type"] != 1:  # unicast only, as `ip route show` lists by default
            continue
        dst = r.get_attr("RTA_DST")
        oif = r.get_attr("RTA_OIF")
        routes.append(Route(
            dst=f"{dst}/{r['dst_len']}" if dst else "default",
            dev=names.get(oif, ""),
            gateway=r.get_attr("RTA_GATEWAY") or "",
            prefsrc=r.get_attr("RTA_PREFSRC") or "",
            scope=_SCOPES.get(r["scope"], ""),
            metric=r.get_attr("RTA_PRIORITY") or 0,
            family=6 if r["family"] == socket.AF_INET6 else 4,
        ))
    return tuple(sorted(links, key=lambda link: link.index)), tuple(routes)


def container_interfaces(sandbox_key: str) -> tuple[tuple[str, int, int], ...]:
    """The veth ends inside one container netns: (ifname, ifindex there, peer ifindex on the host).

    Read by a short-lived thread that joins the namespace (`call_in_netns`), never with
    `IPRoute(netns=...)`: pyroute2 serves that by forking the running app, and the child shares
    asyncio's signal wakeup fd, so the SIGTERM that ends the child can end the app.
    """
    from tui.collect.netns import call_in_netns

    if not sandbox_key or not os.path.exists(sandbox_key):
        raise FileNotFoundError(sandbox_key or "(no SandboxKey)")
    return call_in_netns(sandbox_key, _veth_ends_here)


def _veth_ends_here() -> tuple[tuple[str, int, int], ...]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        ends = [(m.get_attr("IFLA_IFNAME"), m["index"], m.get_attr("IFLA_LINK")) for m in ipr.get_links()
                if _kind(m) == "veth" and m.get_attr("IFLA_LINK") is not None]
    return tuple(sorted(ends))


def netlink_warning(exc: Exception) -> Warning_:
    return Warning_("links", _("links, addresses and routes not read: {error}").format(error=exc),
                    _("run as root, or load a capture bundle"), unread=True)
