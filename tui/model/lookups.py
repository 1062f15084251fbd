"""Lookups across the model that views and the path engine share."""

from __future__ import annotations

from tui.model.memo import per_object
from tui.model.state import Container, HostState, Link


def veth_owner(state: HostState, link: Link) -> tuple[Container, str] | None:
    """The container and interface at the other end of a host veth.

    Both ends must agree: the host veth's peer index is the container interface's index, and that
    interface's peer index is the host veth. Indexes repeat across namespaces, so one side is not enough.
    """
    if link.kind != "veth" or link.peer_index is None:
        return None
    return _container_ends(state).get((link.peer_index, link.index))


@per_object(maxsize=8)
def _container_ends(state: HostState) -> dict[tuple[int, int], tuple[Container, str]]:
    """(interface index, its peer index) -> (container, interface name), built once per state."""
    ends: dict[tuple[int, int], tuple[Container, str]] = {}
    for c in state.containers:
        for ifname, index, peer in c.interfaces:
            ends.setdefault((index, peer), (c, ifname))
    return ends
