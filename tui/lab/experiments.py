"""The talk's five experiments and the clients that probe them: names, flags, and what to ask.

Pure data and pure functions: which container each experiment is, how it is started, and for each
(experiment, client) pair, where the client connects and which path-engine query predicts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.i18n import N_

LABEL = "dockport.lab"
PREFIX = "dockport-lab-"
IMAGE = "dockport-lab:busybox"
OTHER_NETWORK = f"{PREFIX}other"
CLIENT_NS = f"{PREFIX}client"
HOST_SIDE, CLIENT_SIDE = "203.0.113.1", "203.0.113.2"
VETH_HOST, VETH_CLIENT = "dpl-h0", "dpl-c0"
SERVICE_PORT = 80


@dataclass(frozen=True)
class Experiment:
    number: int
    title: str
    expose: bool
    publish: str  # "" none, "-p" a fixed host port, "-P" all exposed ports

    @property
    def name(self) -> str:
        return f"{PREFIX}e{self.number}"


EXPERIMENTS = (
    Experiment(1, N_("no EXPOSE, no -p"), False, ""),
    Experiment(2, N_("EXPOSE without -p"), True, ""),
    Experiment(3, N_("EXPOSE with -p"), True, "-p"),
    Experiment(4, N_("EXPOSE with -P"), True, "-P"),
    Experiment(5, N_("-p only"), False, "-p"),
)

CLIENTS = ("outside", "linked", "unlinked", "other-network", "host-localhost", "host-address")
CLIENT_TITLES = {
    "outside": N_("outside"),
    "linked": N_("linked"),
    "unlinked": N_("unlinked"),
    "other-network": N_("other net"),
    "host-localhost": N_("host 127.0.0.1"),
    "host-address": N_("host address"),
}
CONTAINER_CLIENTS = {"linked": f"{PREFIX}linked", "unlinked": f"{PREFIX}unlinked",
                     "other-network": f"{PREFIX}other"}


def fixed_host_port(exp: Experiment, base: int) -> int:
    return base + exp.number


@dataclass(frozen=True)
class Probe:
    """Where one client connects for one experiment; `target` None means "nothing to connect to"."""

    client: str
    experiment: int
    target: tuple[str, int] | None
    origin: str  # the path engine's origin
    to: str | None  # the engine's --to


def probe_for(exp: Experiment, client: str, container_ip: str, host_port: int | None, host_ip: str) -> Probe:
    if client in ("linked", "unlinked", "other-network"):
        # Container to container goes straight to the address (what --link resolves the name to).
        return Probe(client, exp.number, (container_ip, SERVICE_PORT), f"container:{CONTAINER_CLIENTS[client]}",
                     container_ip)
    if client == "outside":
        if host_port:
            return Probe(client, exp.number, (HOST_SIDE, host_port), f"external:{CLIENT_SIDE}", HOST_SIDE)
        # Not published: the most an outside machine can try is to route to the container itself.
        return Probe(client, exp.number, (container_ip, SERVICE_PORT), f"external:{CLIENT_SIDE}", container_ip)
    if client == "host-localhost":
        if not host_port:
            return Probe(client, exp.number, None, "localhost", None)
        return Probe(client, exp.number, ("127.0.0.1", host_port), "localhost", "127.0.0.1")
    if not host_port:
        # The host itself sits on the bridge: it can always try the container's own address.
        return Probe(client, exp.number, (container_ip, SERVICE_PORT), "host", container_ip)
    return Probe(client, exp.number, (host_ip, host_port), "host", host_ip)
