"""What the user is looking at, without Textual: the host state, the selected port and origin, the
traced path and its findings.

The app, the CLI and tests drive this object; the app only shows it. Live data reaches it two ways:
full collections (slow, everything) and quick container updates (one inspect per Docker event).
They race: a collection that started before an event can finish after the event's quick update.
`apply_full` therefore keeps every quick update made after that collection started, so the newest
word on a container wins whatever order the two arrive in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from msgspec import Struct

from tui.i18n import _
from tui.model import Container, HostState, PortBinding, Stopped, replace, stopped_view

if TYPE_CHECKING:
    from tui.paths.findings import Finding
    from tui.paths.types import Path, Query


class PortChoice(Struct, frozen=True):
    """One port row: a binding of one container. Keyed by the container's id, never its name: a
    name is reused at once by a recreated container while the old one is still being removed."""

    container: str  # the name, for people and for following a recreated container
    binding: PortBinding
    container_id: str = ""

    @property
    def key(self) -> str:
        return f"{self.container_id or self.container}|{self.binding.key}"


class Session:
    def __init__(self, state: HostState | None = None, status: str = "loading…", retrace: bool = True) -> None:
        """`retrace=False`: a session that only answers questions (`ask`: the CLI, the lab) does not
        trace the port it would follow on screen."""
        self.state: HostState | None = None
        self.status = status
        self.origin = "external"
        self.selected: PortChoice | None = None
        self.path: Path | None = None
        self.findings: list[Finding] = []
        self.hop_index = -1
        self.following = False  # the selection was made by the app, not the user
        self.notices: list[str] = []  # for the user, once (the app shows and clears them)
        # Live rule counters: those read when the path was selected, and the latest ones.
        self._counted_query: tuple[object, ...] | None = None
        self.counters_base: dict[tuple[int, str], int | None] = {}
        self.counters_now: dict[tuple[int, str], int | None] = {}
        # Quick container updates not yet confirmed by a full collection: id -> (sequence, container
        # or None when gone). A full collection that started at sequence s supersedes those <= s.
        self._quick: dict[str, tuple[int, Container | Stopped | None]] = {}
        self._sequence = 0
        if state is not None and retrace:
            self.load(state, status)
        elif state is not None:
            self.state = state  # questions only: no port to select or follow

    # -- live data -----------------------------------------------------------------------------

    @property
    def sequence(self) -> int:
        """Stamp a full collection with this when it starts; hand it back to `apply_full`."""
        return self._sequence

    def load(self, state: HostState, status: str, retrace: bool = True) -> None:
        """A whole new state (a bundle, or a collection with no quick updates to keep)."""
        # What was there before, for following what appears: a running container counts once it has
        # shown a published port, so one first seen without them (a quick update that raced the
        # port allocation) is still followed when they come.
        before = None if self.state is None else {c.id for c in self.state.containers if c.state == "running"
                                                  and any(b.published for b in c.ports)}
        self.state = state
        self.status = status
        self._keep_or_follow_selection(state, before)
        if retrace:
            self.retrace()

    def apply_full(self, state: HostState, status: str, started_at: int) -> None:
        """A full collection that started when `sequence` was `started_at`."""
        running = {c.id: c.pid for c in state.containers if c.state == "running"}
        # A `die` stays in force against a collection that says the process that died still runs:
        # it read a stale list entry or a cached inspect. A running container with another pid was
        # started again (perhaps while the event stream was down), and the collection wins.
        self._quick = {cid: q for cid, q in self._quick.items()
                       if q[0] > started_at or (isinstance(q[1], Stopped) and q[1].pid
                                                and running.get(cid) == q[1].pid)}
        if self._quick:
            state = replace(state, containers=self._overlay(state.containers, self._quick))
        self.load(state, status)

    def apply_containers(self, changes: Mapping[str, Container | Stopped | None]) -> None:
        """Containers as Docker reported them right after their events (None: removed; Stopped: it
        died, and its inspect has not answered yet)."""
        if self.state is None or not changes:
            return
        self._sequence += 1
        for cid, container in changes.items():
            if isinstance(container, Stopped):
                old = self.state.container(cid)
                container = Stopped(old.pid if old is not None else 0)
            self._quick[cid] = (self._sequence, container)
        containers = self._overlay(self.state.containers, {cid: (0, c) for cid, c in changes.items()})
        self.load(replace(self.state, containers=containers), self.status)

    @staticmethod
    def _overlay(containers: tuple[Container, ...],
                 changes: Mapping[str, tuple[int, Container | Stopped | None]]) -> tuple[Container, ...]:
        by_id = {c.id: c for c in containers}
        for cid, (_seq, change) in changes.items():
            old = by_id.pop(cid, None)
            if isinstance(change, Stopped):
                if old is not None:
                    by_id[cid] = stopped_view(old)
                continue
            if change is None:
                continue
            new = change
            if old is not None and not new.interfaces and new.listeners is None and new.pid and new.pid == old.pid:
                # Namespace details (veth ends, sockets) come with the full collection: keep the last
                # ones while it is the same process (a restart has a new namespace).
                new = replace(new, interfaces=old.interfaces, listeners=old.listeners)
            by_id[cid] = new
        return tuple(sorted(by_id.values(), key=lambda c: (c.name, c.id)))

    # -- the selection -------------------------------------------------------------------------

    def _keep_or_follow_selection(self, state: HostState, before: set[str] | None) -> None:
        if self.selected and not self.choice_exists(self.selected):
            same = self._same_port_now(state, self.selected)
            if same is None:
                self.notices.append(_("{container} {port} is gone").format(container=self.selected.container,
                                                                          port=self.selected.binding.key))
                self.path = None
            # Same container (or its successor under that name), same container port, new binding.
            self.selected = same
        if self.selected is None or self.following:
            # Until the user picks a port, follow what appears (nothing new: keep the current one).
            newest = first_published(state, before)
            if newest is not None or self.selected is None:
                self.selected = newest
            self.following = True

    def choice_exists(self, choice: PortChoice) -> bool:
        c = self._container_of(choice)
        return bool(c and any(b.key == choice.binding.key for b in c.ports))

    def _container_of(self, choice: PortChoice) -> Container | None:
        if self.state is None:
            return None
        if choice.container_id:
            return next((c for c in self.state.containers if c.id == choice.container_id), None)
        return self.state.container(choice.container)

    def _same_port_now(self, state: HostState, choice: PortChoice) -> PortChoice | None:
        # By name: a container recreated under the same name is the one the user was looking at.
        named = [c for c in state.containers if c.name == choice.container]
        named.sort(key=lambda c: c.state != "running")
        for c in named:
            for b in c.ports:
                if (b.container_port, b.proto, b.published) == \
                        (choice.binding.container_port, choice.binding.proto, choice.binding.published):
                    return PortChoice(c.name, b, c.id)
        return None

    def select(self, choice: PortChoice) -> None:
        """The user picked this port: stop following, trace it."""
        self.selected = choice
        self.following = False
        self.retrace()

    # -- tracing -------------------------------------------------------------------------------

    def origins(self) -> list[str]:
        from tui.paths.types import ORIGINS  # with the engine, after the first frame

        base = list(ORIGINS)
        if self.state:
            base += [f"container:{c.name}" for c in self.state.containers if c.state == "running"
                     and any(e.ip for e in c.endpoints)]
        return base

    def set_origin(self, origin: str) -> None:
        self.origin = origin
        self.retrace()

    def cycle_origin(self, step: int) -> None:
        origins = self.origins()
        i = origins.index(self.origin) if self.origin in origins else 0
        self.set_origin(origins[(i + step) % len(origins)])

    @property
    def family(self) -> int:
        """The address family the selected port is asked in: 6 for a binding on an IPv6 address."""
        return _family_of(self.selected.binding) if self.selected else 4

    def query_for(self, choice: PortChoice) -> Query:
        from tui.paths.types import Query

        b = choice.binding
        if b.published:
            to = b.host_ip if b.host_ip not in ("0.0.0.0", "::", None) and self.origin != "external" else None
            if b.host_ip and b.host_ip.startswith("127.") and self.origin == "localhost":
                to = b.host_ip
            # A binding on [::] or another IPv6 address is asked in IPv6.
            return Query(b.host_port or 0, b.proto, self.origin, to, family=_family_of(b))
        c = self._container_of(choice)
        ip = next((e.ip for e in c.endpoints if e.ip), None) if c else None
        return Query(b.container_port, b.proto, self.origin, ip)

    def retrace(self) -> None:
        # The engine is imported on first use: the first frame does not wait for it.
        from tui.paths.engine import QueryError, trace
        from tui.paths.findings import host_findings, port_findings

        # No path until this one is known: a failure below must not leave the last port's path
        # on screen as the answer for this one.
        self.path, self.findings, self.hop_index = None, [], -1
        if not self.selected or not self.state:
            return
        try:
            path = trace(self.state, self.query_for(self.selected))
        except QueryError as exc:
            self.notices.append(str(exc))
            return
        c = self._container_of(self.selected)
        findings = host_findings(self.state) + (
            port_findings(self.state, c, self.selected.binding, known=[path]) if c else [])
        self.path, self.findings = path, findings

    def ask(self, query: Query) -> tuple[Path, list[Finding]]:
        """One question about the current state, away from the selection: the CLI's and the lab's."""
        from tui.paths.engine import trace

        assert self.state is not None
        path = trace(self.state, query)
        return path, findings_for_path(self.state, path)

    def take_counters(self, counters: dict[tuple[int, str], int | None]) -> None:
        """The rule counters just read. The first reading for a path (another port, origin or
        family) is its baseline: the path shows what each of its rules counted since."""
        q = self.path.query if self.path else None
        key = (q.port, q.proto, q.origin, q.to, q.family) if q else None
        if key != self._counted_query:
            self._counted_query = key
            self.counters_base = dict(counters)
        self.counters_now = counters

    def counter_deltas(self) -> dict[int, int | None] | None:
        """Hop index -> packets its rule counted since the path was selected (None: the rule keeps no
        counter). None when no counters were read for this path (a bundle, or not yet)."""
        path = self.path
        if path is None or not self.counters_now or self._counted_query is None:
            return None
        q = path.query
        if self._counted_query != (q.port, q.proto, q.origin, q.to, q.family):
            return None
        out: dict[int, int | None] = {}
        for i, (h, family) in enumerate(zip(path.hops, hop_families(path), strict=True)):
            if h.kind != "rule" or h.backend:
                continue
            key = (0, h.rule_ref) if h.family else (family, h.rule_ref)
            now, base = self.counters_now.get(key), self.counters_base.get(key)
            out[i] = None if now is None else now - (base or 0)
        return out

    def step(self, delta: int) -> bool:
        """Move the current hop; False when there is no path to step through."""
        if not self.path or not self.path.hops:
            return False
        self.hop_index = max(0, min(len(self.path.hops) - 1, self.hop_index + delta))
        return True

    def take_notices(self) -> list[str]:
        out, self.notices = self.notices, []
        return out


def hop_families(path: Path) -> list[int]:
    """The address family of each hop's packet: the question's, except docker-proxy's leg 2, which
    goes to the container's address of whatever family the proxy connects to (6 to 4)."""
    proxy = next((h for h in path.hops if h.kind == "proxy"), None)
    leg2 = 6 if proxy is not None and ":" in str(proxy.facts.get("container_ip", "")) else 4
    return [path.query.family if h.leg == 1 else leg2 for h in path.hops]


def _family_of(b: PortBinding) -> int:
    return 6 if b.published and ":" in (b.host_ip or "") else 4


def findings_for_path(state: HostState, path: Path) -> list[Finding]:
    """The host's findings, and those of the port the path is about."""
    from tui.paths.findings import host_findings, port_findings

    found = host_findings(state)
    if path.mapping is not None:
        found += port_findings(state, path.mapping.container, path.mapping.binding, known=[path])
    return found


def first_published(state: HostState, before: set[str] | None) -> PortChoice | None:
    """With nothing picked yet, follow what just appeared: a new container's first published port
    (or, at start, the first published port at all), so a path is on screen without a key."""
    candidates = [PortChoice(c.name, b, c.id) for c in state.containers if c.state == "running"
                  and (before is None or c.id not in before) for b in c.ports if b.published]
    by_id = {c.id: c for c in state.containers}

    # A port something listens behind makes the better first path to look at.
    def listened(choice: PortChoice) -> bool:
        c = by_id.get(choice.container_id)
        return bool(c and c.listeners and any(lst.port == choice.binding.container_port
                                              and lst.proto == choice.binding.proto for lst in c.listeners))

    return next((ch for ch in candidates if listened(ch)), candidates[0] if candidates else None)
