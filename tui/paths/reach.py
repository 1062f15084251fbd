"""Who can reach this port? Every origin at once: one trace per origin, plus direct routing to the
container's own address. The answer of `reach` and of the TUI's matrix (`m`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui.i18n import _
from tui.model import HostState
from tui.paths.engine import find_mapping, trace
from tui.paths.types import ORIGINS, Mapping, Path, Query, QueryError


@dataclass
class Reach:
    """One origin's answer: its path, or why the question cannot be asked from there."""

    origin: str
    to: str | None
    path: Path | None
    error: str = ""

    @property
    def direct(self) -> bool:
        return self.to is not None

    def as_json(self) -> dict[str, Any]:
        path = self.path
        deciding = path.deciding_hop() if path is not None else None
        out: dict[str, Any] = {
            "origin": self.origin, "to": self.to,
            "src": path.query.src if path else None, "dst": path.query.dst if path else None,
            "verdict": path.verdict.value if path else None,
            "via": path.via.value if path and path.via else None,
            "deciding": None if deciding is None else {
                "table": deciding.table, "chain": deciding.chain,
                "rule": deciding.rule or f"policy {deciding.policy}"},
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Reachability:
    query: Query
    mapping: Mapping | None
    rows: list[Reach]

    def as_json(self) -> dict[str, Any]:
        q = self.query
        return {"query": {"port": q.port, "proto": q.proto, "family": q.family},
                "mapping": self.mapping.as_json() if self.mapping else None,
                "origins": [r.as_json() for r in self.rows]}


def what_decided(path: Path) -> str:
    """One line: the deciding rule; else docker-proxy's connection on a proxied path; else the last
    hop's first clause (nothing listens, no route...)."""
    deciding = path.deciding_hop()
    last = path.hops[-1] if path.hops else None
    if path.verdict in ("refused", "uncertain") and last is not None and last.kind != "rule":
        return last.explanation.split(":")[0]  # the container or the host said no, or it is not known
    if deciding is not None:
        return deciding.rule or _("{table}/{chain} policy {policy}").format(
            table=deciding.table, chain=deciding.chain, policy=deciding.policy)
    proxy = next((h for h in path.hops if h.kind == "proxy"), None)
    if proxy is not None and path.verdict == "delivered":
        f = proxy.facts
        return _("docker-proxy (pid {pid}) to {ip}:{port}").format(
            pid=f["pid"], ip=f["container_ip"], port=f["container_port"])
    return last.explanation.split(":")[0] if last is not None else ""


def origins_of(state: HostState) -> list[str]:
    """external, host, localhost, then each running container that has an address."""
    return list(ORIGINS) + [f"container:{c.name}" for c in state.containers
                            if c.state == "running" and (any(e.ip or e.ipv6 for e in c.endpoints)
                                                         or c.network_mode == "host")]


def reach(state: HostState, port: int, proto: str = "tcp", family: int = 4) -> Reachability:
    """Every origin's path to PORT on the host's own address, and, for the container behind the
    port, from outside straight to its own address (as a router in front of the host would send it)."""
    rows: list[Reach] = []
    mapping = None
    for origin in origins_of(state):
        rows.append(_ask(state, Query(port, proto, origin, family=family)))
        if mapping is None and rows[-1].path is not None:
            mapping = rows[-1].path.mapping
    query = Query(port, proto, "", family=family)
    if mapping is None:
        # Nobody got as far as a mapping (no route, say): the port's binding still names its container.
        mapping = find_mapping(state, port, proto, "::" if family == 6 else "0.0.0.0", False)
    if mapping is not None:
        c = mapping.container
        address = next((e.ipv6 if family == 6 else e.ip for e in c.endpoints if (e.ipv6 if family == 6 else e.ip)), "")
        if address:
            rows.append(_ask(state, Query(mapping.binding.container_port, proto, "external", to=address,
                                          family=family)))
    return Reachability(query, mapping, rows)


def _ask(state: HostState, query: Query) -> Reach:
    try:
        return Reach(query.origin, query.to, trace(state, query))
    except QueryError as exc:
        return Reach(query.origin, query.to, None, str(exc))
