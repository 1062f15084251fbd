"""The Textual app: four panes and the Path, live on Docker events, step-through for demos."""

from __future__ import annotations

import threading
from pathlib import Path as FsPath
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.model import HostState
from tui.render import literal
from tui.widgets.panes import (
    BridgesPane,
    ContainersPane,
    Explanation,
    PathPane,
    PortChoice,
    ProxiesPane,
    RulesPane,
)
from tui.widgets.screens import HelpScreen, WarningsScreen

if TYPE_CHECKING:
    from tui.paths.engine import Path, Query

STYLES = FsPath(__file__).resolve().parent / "styles"
if not STYLES.is_dir():  # editable install: styles/ sits at the repository root
    STYLES = FsPath(__file__).resolve().parent.parent / "styles"


class StateLoaded(Message):
    def __init__(self, state: HostState, status: str) -> None:
        super().__init__()
        self.state = state
        self.status = status


class SourceStatus(Message):
    def __init__(self, status: str) -> None:
        super().__init__()
        self.status = status


class ContainerChanged(Message):
    """One container as Docker reports it right after its event (None when it is gone)."""

    def __init__(self, container_id: str, container: object) -> None:
        super().__init__()
        self.container_id = container_id
        self.container = container


class RefreshRequested(Message):
    """Something changed on the host (a Docker event, a firewall change): collect again."""


def _status_colour(status: str) -> str:
    if status.startswith(("live", "demo", "bundle", "loaded")):
        return "green"
    if status.startswith(("stale", "loading")):
        return "yellow"
    return "red"  # daemon unreachable, cannot load, collection failed


class DockportCommands(Provider):
    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, DockportApp)
        commands = [(f"Trace from {o}", lambda o=o: app.set_origin(o)) for o in app.origins()]
        commands += [
            ("Presenter mode (toggle)", app.action_presenter),
            ("Save screen as SVG", app.action_save_svg),
            ("Refresh now", app.action_refresh),
            ("Lab view (experiments: measured vs predicted)", app.action_lab),
            ("Next hop", app.action_next_hop),
            ("Previous hop", app.action_prev_hop),
        ]
        matcher = self.matcher(query)
        for label, callback in commands:
            score = matcher.match(label)
            if score > 0:
                # Content built literally: container names are not ours (no markup in labels).
                yield Hit(score, literal(label), callback, text=label)


class DockportApp(App[None]):
    CSS_PATH = str(STYLES / "app.tcss")
    TITLE = "dockport-tui"
    COMMANDS = App.COMMANDS | {DockportCommands}
    BINDINGS = [
        Binding("enter", "trace_selected", "Trace", show=True, priority=False),
        Binding("o", "next_origin", "Origin"),
        Binding("O", "prev_origin", "Origin←", show=False),
        Binding("n", "next_hop", "Next"),
        Binding("p", "prev_hop", "Prev"),
        Binding("f2", "presenter", "Present"),
        Binding("slash", "filter", "Filter"),
        Binding("r", "refresh", "Refresh"),
        Binding("ctrl+s", "save_svg", "SVG"),
        Binding("l", "lab", "Lab"),
        Binding("w", "warnings", "Warnings"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, source: tuple[str, str] = ("demo", ""), state: HostState | None = None,
                 event_source=None, poll_seconds: float | None = None) -> None:  # noqa: ANN001
        super().__init__()
        self.source = source
        self.state: HostState | None = state
        self.path: Path | None = None
        self.findings: list = []
        self.origin = "external"
        self.selected: PortChoice | None = None
        self.hop_index = -1
        self.filter_text = ""
        self.status = "loading…"
        self._event_source = event_source
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._events_stream = None
        self._rule_monitor = None
        self._firewall_watched = False
        self._following = False  # the selection was made by the app, not the user
        self._collecting = False
        self._dirty = False

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield ContainersPane(id="containers")
            yield BridgesPane("host", id="bridges")
        with Horizontal(id="middle"):
            yield RulesPane(id="rules")
            yield ProxiesPane(id="proxies")
        with Horizontal(id="bottom"):
            yield PathPane(id="path")
            yield Explanation(id="explanation")
        yield Input(placeholder="filter containers and rules…", id="filter")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._exit_on_signals()
        self.query_one("#filter", Input).display = False
        self.query_one(ContainersPane).focus()  # not the hidden filter box: keys are commands
        self.query_one(Explanation).show_hop(None, -1)
        if self.state is not None:
            kind, where = self.source
            status = {"demo": "demo bundle", "bundle": f"bundle: {where}"}.get(kind, "loaded")
            self._apply_state(self.state, status, first=True)
        else:
            self.request_refresh()
        if self.source[0] == "live":
            self.watch_events()

    def _exit_on_signals(self) -> None:
        """SIGTERM (kill) and SIGHUP (the SSH session dropped) end the app the way `q` does: workers
        stopped, child processes ended, the terminal given back."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self.exit)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests), or no signals on this platform

    # -- data ------------------------------------------------------------------------------------

    def request_refresh(self) -> None:
        """Collect again: at once when idle, else once more right after the running collection,
        so a burst of events (create, connect, start) costs at most one extra collection."""
        if self._collecting:
            self._dirty = True
            return
        self._collecting, self._dirty = True, False
        self.collect()

    def _collection_done(self) -> None:
        self._collecting = False
        if self._dirty:
            self.request_refresh()

    @work(thread=True, group="collect", exit_on_error=False)
    def collect(self) -> None:
        try:
            self._collect()
        finally:
            try:
                self.call_from_thread(self._collection_done)
            except RuntimeError:
                pass  # the app is shutting down

    def _collect(self) -> None:
        kind, where = self.source
        try:
            if kind == "live":
                from tui.collect.live import collect_live

                state = collect_live()
                reachable = "docker" not in state.missing
                status = "live" if reachable else "daemon unreachable (retrying)"
            else:
                from tui.collect.bundle import BundleError, load_bundle

                try:
                    state = load_bundle(where, source=kind)
                except BundleError as exc:
                    self.post_message(SourceStatus(f"cannot load {where}: {exc}"))
                    return
                status = f"{kind}: {where}" if kind == "bundle" else "demo bundle"
        except Exception as exc:  # a collector bug must not take the UI down
            self.post_message(SourceStatus(f"collection failed: {exc}"))
            return
        self.post_message(StateLoaded(state, status))

    @work(thread=True, exclusive=True, group="events", exit_on_error=False)
    def watch_events(self) -> None:
        """Docker events drive re-collection; a cheap periodic check catches firewall changes."""
        while not self._stop.is_set():
            try:
                source = self._event_source
                if source is None:
                    from tui.collect.live import docker_client

                    client = docker_client()
                    source = client.events(decode=True, filters={"type": ["container", "network"]})
                self._events_stream = source
                for event in source:
                    if self._stop.is_set():
                        return
                    quick = self._container_now(client, event) if self._event_source is None else None
                    if quick is not None:
                        self.post_message(ContainerChanged(*quick))
                    self.post_message(RefreshRequested())
                if self._event_source is not None:
                    return  # a finite fake source: done
                if not self._stop.is_set():
                    self.post_message(SourceStatus("stale: Docker events stream ended (reconnecting)"))
            except Exception:
                if not self._stop.is_set():
                    self.post_message(SourceStatus("daemon unreachable (retrying)"))
            if self._stop.wait(2.0):
                return
            self.post_message(RefreshRequested())  # catch up on what happened while we were away

    @staticmethod
    def _container_now(client, event: dict) -> tuple[str, object] | None:  # noqa: ANN001
        """For a container event, that container as it is now (None: gone): the row can change at
        once, while the full collection (rules, links, proxies) follows."""
        if not isinstance(event, dict) or event.get("Type") != "container":
            return None
        cid = event.get("id") or (event.get("Actor") or {}).get("ID")
        if not cid:
            return None
        from tui.collect.docker_json import container_from_inspect

        from docker.errors import NotFound

        try:
            return cid, container_from_inspect(client.api.inspect_container(cid))
        except NotFound:
            return cid, None  # removed
        except Exception:
            return None  # the daemon is going away, or hiccuped: the full collection settles it

    @on(ContainerChanged)
    def _on_container_changed(self, message: ContainerChanged) -> None:
        if self.state is None:
            return
        import dataclasses

        others = tuple(c for c in self.state.containers if c.id != message.container_id)
        if message.container is None:
            containers = others
        else:
            old = self.state.container(message.container_id)
            # Namespace details (veth ends, sockets) come with the full collection; keep the old ones.
            new = message.container if old is None else dataclasses.replace(
                message.container, interfaces=old.interfaces, listeners=old.listeners)
            containers = tuple(sorted(others + (new,), key=lambda c: c.name))
        self._apply_state(dataclasses.replace(self.state, containers=containers), self.status)

    @work(thread=True, exclusive=True, group="firewall", exit_on_error=False)
    def watch_firewall(self) -> None:
        """Re-collect when the nft ruleset changes (legacy iptables has no notification: the poll covers it)."""
        from tui.collect.watch import RuleChangeMonitor

        monitor = RuleChangeMonitor()
        self._rule_monitor = monitor
        if self._stop.is_set():
            return
        why = monitor.run(lambda: self.post_message(RefreshRequested()))
        if why != "stopped" and not self._stop.is_set():
            self.post_message(SourceStatus(f"live (firewall changes polled: {why})"))

    @on(RefreshRequested)
    def _on_refresh(self, _message: RefreshRequested) -> None:
        self.request_refresh()

    @on(SourceStatus)
    def _on_status(self, message: SourceStatus) -> None:
        self.status = message.status
        self._show_status()

    @on(StateLoaded)
    def _on_state(self, message: StateLoaded) -> None:
        new, old = message.state, self.state
        if ("docker" in new.missing and old is not None and "docker" not in old.missing
                and self.source[0] == "live"):
            # The daemon went away: keep showing the last good state (and the selection), marked stale.
            when = (old.facts.captured_at or "")[11:19]
            self.status = f"daemon unreachable (retrying) — showing the state of {when or 'the last collection'}"
            self._show_status()
            return
        self._apply_state(new, message.status)

    def _apply_state(self, state: HostState, status: str, first: bool = False) -> None:
        first = first or self.state is None
        # What was running before: a container that starts (not one merely created) gets followed.
        before = None if first else {c.id for c in self.state.containers if c.state == "running"}
        self.state = state
        self.status = status
        if self.selected and not self._choice_exists(self.selected):
            same = self._same_port_now(state, self.selected)
            if same is None:
                self.notify(f"{self.selected.container} {self.selected.binding.key} is gone", markup=False)
            # Same container, same container port, new binding (e.g. Docker picked the host port at start).
            self.selected = same
            if same is None:
                self.path = None
        if self.selected is None or self._following:
            # Until the user picks a port, follow what appears (nothing new: keep the current one).
            newest = self._first_published(state, before)
            if newest is not None or self.selected is None:
                self.selected = newest
            self._following = True
        if first:
            # Data on screen first; the path (and the engine's import) right after that frame.
            self.path = None
            self._render_all()
            self.call_after_refresh(self._retrace_and_render)
        else:
            self._retrace()
            self._render_all()
        if self.source[0] == "live" and not getattr(self, "_poll_started", False):
            from tui.collect.watch import RuleChangeMonitor

            self._poll_started = True
            watched = RuleChangeMonitor.available(state.facts.firewall_backend)
            if watched:
                self._firewall_watched = True
                self.watch_firewall()
            # Docker events and (on nft) rule events drive re-collection; the poll is a safety net,
            # and on legacy iptables, which has no rule events, the way rule changes are noticed.
            self.set_interval(self._poll_seconds or (300.0 if watched else 30.0), self.request_refresh)

    @staticmethod
    def _first_published(state: HostState, before: set[str] | None) -> PortChoice | None:
        """With nothing picked yet, follow what just appeared: a new container's first published
        port (or, at start, the first published port at all), so a path is on screen without a key."""
        candidates = [PortChoice(c.name, b) for c in state.containers if c.state == "running"
                      and (before is None or c.id not in before) for b in c.ports if b.published]
        # A port something listens behind makes the better first path to look at.
        def listened(choice: PortChoice) -> bool:
            c = state.container(choice.container)
            return bool(c and c.listeners and any(l.port == choice.binding.container_port
                                                  and l.proto == choice.binding.proto for l in c.listeners))

        return next((ch for ch in candidates if listened(ch)), candidates[0] if candidates else None)

    @staticmethod
    def _same_port_now(state: HostState, choice: PortChoice) -> PortChoice | None:
        c = state.container(choice.container)
        for b in c.ports if c else ():
            if (b.container_port, b.proto) == (choice.binding.container_port, choice.binding.proto) and \
                    b.published == choice.binding.published:
                return PortChoice(c.name, b)
        return None

    def _choice_exists(self, choice: PortChoice) -> bool:
        c = self.state.container(choice.container) if self.state else None
        return bool(c and any(b.key == choice.binding.key for b in c.ports))

    # -- tracing ---------------------------------------------------------------------------------

    def origins(self) -> list[str]:
        base = ["external", "host", "localhost"]
        if self.state:
            base += [f"container:{c.name}" for c in self.state.containers if c.state == "running"
                     and any(e.ip for e in c.endpoints)]
        return base

    def _query_for(self, choice: PortChoice) -> Query:
        from tui.paths.engine import Query

        b = choice.binding
        if b.published:
            to = b.host_ip if b.host_ip not in ("0.0.0.0", "::", None) and self.origin != "external" else None
            if b.host_ip and b.host_ip.startswith("127.") and self.origin in ("localhost",):
                to = b.host_ip
            return Query(b.host_port or 0, b.proto, self.origin, to)
        c = self.state.container(choice.container) if self.state else None
        ip = next((e.ip for e in c.endpoints if e.ip), None) if c else None
        return Query(b.container_port, b.proto, self.origin, ip)

    def _retrace(self) -> None:
        # The engine is imported on first use: the first frame does not wait for it.
        from tui.paths.engine import QueryError, trace

        self.findings = []
        if not self.selected or not self.state:
            self.path = None
            return
        try:
            self.path = trace(self.state, self._query_for(self.selected))
            self.findings = self._findings_for(self.selected)
        except QueryError as exc:
            self.path = None
            self.notify(str(exc), severity="warning", markup=False)
        self.hop_index = -1

    def _findings_for(self, choice: PortChoice) -> list:
        from tui.paths.findings import host_findings, port_findings

        c = self.state.container(choice.container) if self.state else None
        return host_findings(self.state) + (port_findings(self.state, c, choice.binding) if c else [])

    def _retrace_and_render(self) -> None:
        self._retrace()
        self._render_all()

    def set_origin(self, origin: str) -> None:
        self.origin = origin
        self._retrace()
        self._render_all()

    # -- rendering -------------------------------------------------------------------------------

    def _render_all(self) -> None:
        if not self.state or not self.query(ContainersPane):
            return  # nothing yet, or the app is shutting down and its panes are gone
        state, path = self.state, self.path
        with self.batch_update():
            self.query_one(ContainersPane).show(state, path, self.selected.key if self.selected else None,
                                                self.filter_text)
            self.query_one(BridgesPane).show(state, path)
            self.query_one(RulesPane).show(state, path, self.filter_text)
            self.query_one(ProxiesPane).show(state, path)
            self.query_one(PathPane).show(path)
            self.query_one(Explanation).show_hop(path, self.hop_index, self.findings)
        self._show_status()

    def _show_status(self) -> None:
        if not self.query("#status"):
            return  # shutting down
        st = self.state
        parts = [("● ", _status_colour(self.status)), (self.status, "bold"), f"   origin: {self.origin}"]
        if st:
            f = st.facts
            proxy = {True: "on", False: "off", None: "unknown"}[f.userland_proxy]
            parts.append(f"   docker {f.docker_version or '?'}  firewall {f.firewall_backend}  "
                         f"userland-proxy {proxy}{' (inferred)' if f.userland_proxy_inferred else ''}")
            if st.warnings:
                parts.append((f"   ⚠ {len(st.warnings)}: {st.warnings[0].message}", "yellow"))
        text = Text.assemble(*[(literal(p[0], p[1]) if isinstance(p, tuple) else literal(p)) for p in parts])
        self.query_one("#status", Static).update(text)
        self.sub_title = f"{self.source[0]} · {st.facts.hostname if st else ''}"

    # -- actions ---------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#containers")
    def _on_container_row(self, event: DataTable.RowSelected) -> None:
        self.action_trace_selected()

    def action_trace_selected(self) -> None:
        choice = self.query_one(ContainersPane).choice_at_cursor()
        if choice is None:
            self.notify("Pick a row with a port first.", markup=False)
            return
        self.selected = choice
        self._following = False
        self._retrace()
        self._render_all()

    def _cycle_origin(self, step: int) -> None:
        origins = self.origins()
        i = origins.index(self.origin) if self.origin in origins else 0
        self.set_origin(origins[(i + step) % len(origins)])

    def action_next_origin(self) -> None:
        self._cycle_origin(1)

    def action_prev_origin(self) -> None:
        self._cycle_origin(-1)

    def _step(self, delta: int) -> None:
        if not self.path or not self.path.hops:
            self.notify("Trace a port first (Enter).", markup=False)
            return
        self.hop_index = max(0, min(len(self.path.hops) - 1, self.hop_index + delta))
        hop = self.path.hops[self.hop_index]
        self.query_one(Explanation).show_hop(self.path, self.hop_index, self.findings)
        self.query_one(PathPane).move_cursor(row=self.hop_index)
        if hop.kind == "rule":
            pane = self.query_one(RulesPane)
            pane.focus_ref(hop.rule_ref)
        elif hop.kind in ("bridge", "veth"):
            pane = self.query_one(BridgesPane)
            pane.focus_key(hop.name)
        elif hop.kind == "proxy":
            pane = self.query_one(ProxiesPane)
            pane.focus_pid(hop.name)
        elif hop.kind == "container":
            pane = self.query_one(ContainersPane)
        else:
            pane = self.query_one(PathPane)
        pane.focus()

    def action_next_hop(self) -> None:
        self._step(1)

    def action_prev_hop(self) -> None:
        self._step(-1)

    def action_presenter(self) -> None:
        self.screen.toggle_class("presenter")

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _on_filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip().lower()
        self._render_all()

    @on(Input.Submitted, "#filter")
    def _on_filter_done(self, event: Input.Submitted) -> None:
        self.query_one(ContainersPane).focus()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one(ContainersPane).focus()

    def action_refresh(self) -> None:
        self.request_refresh()

    def action_save_svg(self) -> None:
        path = self.save_screenshot()
        self.notify(f"saved {path}", markup=False)

    def action_warnings(self) -> None:
        self.push_screen(WarningsScreen(self.state))

    def action_lab(self) -> None:
        from tui.widgets.lab_view import LabScreen

        self.push_screen(LabScreen())

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def on_unmount(self) -> None:
        self._stop.set()
        if self._rule_monitor is not None:
            self._rule_monitor.stop()
        stream = self._events_stream
        if stream is not None and hasattr(stream, "close"):
            try:
                stream.close()  # unblocks the events thread's socket read
            except Exception:
                pass
