"""docker-proxy processes, container sockets and sysctls, read from /proc."""

from __future__ import annotations

import glob
import os

from tui.collect.linux_text import listeners_from_proc_net, proxy_from_args
from tui.model import Listener, Proxy

# The sysctls the path engine and the findings rest on. Per-interface route_localnet is added
# for every interface (Docker sets it on bridges when the userland proxy is off).
SYSCTL_KEYS = (
    "net.ipv4.ip_forward",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
# What a shell capture runs to get the same keys (see README and capture.py).
SYSCTL_PATTERN = (r"^net\.(ipv4\.ip_forward|ipv4\.ip_local_port_range|ipv6\.conf\.all\.forwarding"
                  r"|ipv4\.conf\.[^.]+\.route_localnet|bridge\.bridge-nf-call-ip6?tables)$")


def read_proxies(proc: str = "/proc") -> tuple[Proxy, ...]:
    out = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/cmdline", "rb") as fh:
                argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        except OSError:
            continue  # the process went away while we looked
        if argv and argv[0].endswith("docker-proxy"):
            p = proxy_from_args(int(entry.name), argv)
            if p:
                out.append(p)
    return tuple(sorted(out, key=lambda p: p.pid))


def read_container_listeners(pid: int, proc: str = "/proc") -> tuple[Listener, ...]:
    """Sockets of the container's netns, read through one of its processes."""
    tables = {}
    for name in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"{proc}/{pid}/net/{name}") as fh:
                tables[name] = fh.read()
        except FileNotFoundError:
            continue  # no IPv6 in that netns
    if not tables:
        raise FileNotFoundError(f"{proc}/{pid}/net")
    return listeners_from_proc_net(tables)


def container_interfaces_from_sysfs(pid: int, proc: str = "/proc") -> tuple[tuple[str, int, int], ...]:
    """(name, ifindex, peer ifindex) of the container's veth-like interfaces, from its own /sys.

    Docker mounts a sysfs of the container's network namespace at /sys; reading it through
    /proc/PID/root costs a few file reads where opening the namespace with netlink costs a fork.
    """
    base = f"{proc}/{pid}/root/sys/class/net"
    ends = []
    for name in os.listdir(base):  # OSError when there is no /sys in the container
        try:
            with open(f"{base}/{name}/ifindex") as a, open(f"{base}/{name}/iflink") as b:
                index, peer = int(a.read()), int(b.read())
        except (OSError, ValueError):
            continue
        if peer != index:  # its link lives elsewhere: a veth end (lo and dummies point at themselves)
            ends.append((name, index, peer))
    if not os.path.exists(f"{base}/lo"):
        raise FileNotFoundError(f"{base}: not the container's own sysfs")
    return tuple(sorted(ends))


def read_sysctls(proc: str = "/proc") -> dict[str, str]:
    out = {}
    paths = [f"{proc}/sys/" + k.replace(".", "/") for k in SYSCTL_KEYS]
    paths += sorted(p for p in glob.glob(f"{proc}/sys/net/ipv4/conf/*/route_localnet")
                    if "/conf/all/" not in p)
    for path in paths:
        try:
            with open(path) as fh:
                value = " ".join(fh.read().split())
        except OSError:
            continue
        # sysctl prints a dot inside an interface name (eth0.1) as a slash.
        key = path[len(f"{proc}/sys/"):].replace(".", "\0").replace("/", ".").replace("\0", "/")
        out[key] = value
    return out
