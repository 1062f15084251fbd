"""Listening sockets of a container's network namespace, asked of the kernel through sock_diag.

`/proc/PID/net/tcp` walks the whole established-connection hash table on every read (milliseconds
each on a large machine, for every container); sock_diag with a LISTEN filter walks only the
listening sockets. The netlink socket has to be made inside the container's namespace (see `tui.collect.netns`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

from tui.collect.netns import call_in_netns
from tui.model import Listener

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN, TCP_CLOSE = 10, 7  # an unconnected udp socket is in state CLOSE ("UNCONN" in ss)


def _request(family: int, proto: int, states: int) -> bytes:
    # struct inet_diag_req_v2, then a zeroed struct inet_diag_sockid (48 bytes): "any socket".
    body = struct.pack("=BBBxI", family, proto, 0, states) + bytes(48)
    return struct.pack("=IHHII", 16 + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body


def _dump(sock: socket.socket, family: int, proto: int, states: int) -> list[tuple[int, str, int, bytes]]:
    """(state, local address, local port, remote address bytes) of each socket."""
    sock.send(_request(family, proto, states))
    out: list[tuple[int, str, int, bytes]] = []
    alen = 4 if family == socket.AF_INET else 16
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if length < 16:
                return out
            if kind == NLMSG_DONE:
                return out
            if kind == NLMSG_ERROR:
                errno = -struct.unpack_from("=i", data, offset + 16)[0]
                raise OSError(errno, os.strerror(errno))
            msg = offset + 16
            state = data[msg + 1]
            sport = struct.unpack_from("!H", data, msg + 4)[0]
            src = data[msg + 8: msg + 8 + alen]
            dst = data[msg + 24: msg + 24 + alen]
            out.append((state, str(ipaddress.ip_address(src)), sport, dst))
            offset += (length + 3) & ~3


def _listeners_here() -> tuple[Listener, ...]:
    found = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(2.0)
        for family in (socket.AF_INET, socket.AF_INET6):
            for state, ip, port, _dst in _dump(sock, family, socket.IPPROTO_TCP, 1 << TCP_LISTEN):
                if state == TCP_LISTEN:
                    found.add(Listener("tcp", ip, port))
            for state, ip, port, dst in _dump(sock, family, socket.IPPROTO_UDP, 1 << TCP_CLOSE):
                if state == TCP_CLOSE and not any(dst):
                    found.add(Listener("udp", ip, port))
    return tuple(sorted(found, key=lambda x: (x.proto, x.port, x.ip)))


def listeners_in_netns(path: str) -> tuple[Listener, ...]:
    """The listeners of the network namespace at `path` (a SandboxKey or /proc/PID/ns/net)."""
    return call_in_netns(path, _listeners_here)
