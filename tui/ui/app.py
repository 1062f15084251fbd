"""The Textual app: four panes and the Path, live on Docker events, step-through for demos."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Static

# Imported where first used: the live collector pulls in the Docker SDK, and the event feed and the
# modal screens are not needed for the first frame.
if TYPE_CHECKING:
    from tui.collect.events import EventFeed
    from tui.collect.live import LiveCollector
    from tui.collect.watch import RuleChangeMonitor
    from tui.verify.verify import Verification
from tui.i18n import N_, _, on_off
from tui.model import Container, HostState, Stopped
from tui.session import PortChoice, Session
from tui.ui.messages import ContainersChanged, RefreshRequested, RulesChanged, SourceStatus, StateLoaded, Step, View
from tui.ui.render import literal, palette
from tui.ui.widgets.panes import (
    BridgesPane,
    ContainersPane,
    Explanation,
    PathPane,
    ProxiesPane,
    RulesPane,
)
from tui.ui.widgets.title_bar import TitleBar
from tui.ui.words import translate_bindings

# The wheel carries styles/ inside the package (tui/styles); an editable install finds it at the root.
_PACKAGE = FsPath(__file__).resolve().parent.parent
STYLES = next((d for d in (_PACKAGE / "styles", _PACKAGE.parent / "styles") if d.is_dir()), _PACKAGE / "styles")


# The status stays English inside (its first words pick the colour); it is translated as shown: a
# whole sentence of ours, or the words of ours in front of a path or an error of the host.
STATUS_WORDS = (N_("demo bundle"), N_("live"), N_("loaded"), N_("daemon unreachable (retrying)"))
STATUS_PREFIXES = (N_("daemon unreachable (retrying) — showing the state of"), N_("live (firewall changes polled"),
                   N_("collection failed"), N_("cannot load"), N_("bundle"))


def status_words(status: str) -> str:
    if status in STATUS_WORDS:
        return _(status)
    prefix = next((p for p in STATUS_PREFIXES if status.startswith(p)), "")
    return _(prefix) + status[len(prefix):] if prefix else status


def _status_colour(status: str) -> str:
    if status.startswith(("live", "demo", "bundle", "loaded")):
        return "$success"
    if status.startswith(("stale", "loading")):
        return "$warning"
    return "$error"  # daemon unreachable, cannot load, collection failed, display failed


class DockportCommands(Provider):
    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, DockportApp)
        commands: list[tuple[str, Callable[[], object]]] = [
            (_("Trace from {origin}").format(origin=o), functools.partial(app.set_origin, o)) for o in app.origins()]
        commands += [
            (_("Presenter mode (toggle)"), app.action_presenter),
            (_("Save screen as SVG"), app.action_save_svg),
            (_("Refresh now"), app.action_refresh),
            (_("Lab view (experiments: measured vs predicted)"), app.action_lab),
            (_("Next hop"), app.action_next_hop),
            (_("Previous hop"), app.action_prev_hop),
        ]
        # The rest of the keys, in the help screen's words (one sentence each, translated once).
        from tui.ui.widgets.screens import HELP_KEYS

        actions = {"w": app.action_warnings, "v": app.action_verify, "j": app.action_journey,
                   "t": app.action_tour, "m": app.action_matrix}
        commands += [(sentence[:1].upper() + sentence[1:], actions[key])
                     for key, sentence in ((key, _(what)) for key, what in HELP_KEYS) if key in actions]
        matcher = self.matcher(query)
        for label, callback in commands:
            score = matcher.match(label)
            if score > 0:
                # Content built literally: container names are not ours (no markup in labels).
                yield Hit(score, literal(label), callback, text=label)


class DockportApp(App[None]):
    CSS_PATH = str(STYLES / "app.tcss")
    # What the panes show; set as a whole, so every pane bound to it redraws from one snapshot.
    # (repaint=False: the panes bound to them draw what changed themselves.)
    view: reactive[View | None] = reactive(None, always_update=True, init=False, repaint=False)
    # The same snapshot for the panes that show the path's marks (rules, proxies, the path): on a
    # start with data they are drawn once the path is traced, right after the first frame.
    path_view: reactive[View | None] = reactive(None, always_update=True, init=False, repaint=False)
    step: reactive[Step | None] = reactive(None, always_update=True, init=False, repaint=False)
    TITLE = "dockport-tui"
    COMMANDS = App.COMMANDS | {DockportCommands}
    # The footer shows what a first look needs, and ? for the rest: at 120 columns all of them cut
    # off Help and Quit. The others are in the help screen and (most) in the command palette.
    BINDINGS = [
        Binding("enter", "trace_selected", N_("Trace"), show=True, priority=False),
        Binding("o", "next_origin", N_("Origin")),
        Binding("O", "prev_origin", N_("Origin←"), show=False),
        Binding("n", "next_hop", N_("Next")),
        Binding("p", "prev_hop", N_("Prev")),
        Binding("f2", "presenter", N_("Present")),
        Binding("slash", "filter", N_("Filter")),
        Binding("r", "refresh", N_("Refresh"), show=False),
        Binding("ctrl+s", "save_svg", N_("SVG"), show=False),
        Binding("l", "lab", N_("Lab"), show=False),
        Binding("w", "warnings", N_("Warnings"), show=False),
        Binding("v", "verify", N_("Verify")),
        Binding("m", "matrix", N_("Who reaches")),
        Binding("j", "journey", N_("Journey")),
        Binding("t", "tour", N_("Tour"), show=False),
        Binding("question_mark", "help", N_("Help")),
        Binding("q", "quit", N_("Quit")),
        Binding("ctrl+c", "quit", N_("Quit"), show=False, priority=True),
    ]

    def __init__(self, source: tuple[str, str] = ("demo", ""), state: HostState | None = None,
                 event_source=None, poll_seconds: float | None = None) -> None:
        super().__init__()
        translate_bindings(self)
        self.source = source
        self.session = Session()
        self._initial_state = state
        self.filter_text = ""
        self._event_source = event_source
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._feed: EventFeed | None = None
        self._rule_monitor: RuleChangeMonitor | None = None
        self._verify_confirmed = False  # the app is read-only until the user says yes to `v`, once
        self._verification: Verification | None = None
        self._firewall_watched = False
        self._poll_started = False
        self._collector: LiveCollector | None = None  # its caches live as long as the app
        self._collecting = False
        self._dirty = False
        self.failure: str | None = None  # why the app ended, when it was not the user
        if source[0] == "live":
            from tui.collect.firewall import load_python_iptables

            load_python_iptables()  # before the app's threads start: see its docstring

    # The session holds what is shown; these read it for key handlers and tests.
    @property
    def state(self) -> HostState | None:
        return self.session.state

    @property
    def path(self):
        return self.session.path

    @property
    def selected(self) -> PortChoice | None:
        return self.session.selected

    @property
    def origin(self) -> str:
        return self.session.origin

    @property
    def status(self) -> str:
        return self.session.status

    @property
    def hop_index(self) -> int:
        return self.session.hop_index

    @property
    def findings(self) -> list:
        return self.session.findings

    @property
    def events_stream(self):
        return self._feed.stream if self._feed else None

    def origins(self) -> list[str]:
        return self.session.origins()

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TitleBar()
        # The panes draw themselves from the snapshot they are bound to (see _render_all).
        with Horizontal(id="top"):
            yield ContainersPane(id="containers").data_bind(DockportApp.view)
            # A Text label: a str one is parsed as markup, and that imports rich's emoji table.
            yield BridgesPane(Text("host"), id="bridges").data_bind(DockportApp.view)
        with Horizontal(id="middle"):
            yield RulesPane(id="rules").data_bind(view=DockportApp.path_view)
            yield ProxiesPane(id="proxies").data_bind(view=DockportApp.path_view)
        with Horizontal(id="bottom"):
            yield PathPane(id="path").data_bind(view=DockportApp.path_view)
            yield Explanation(id="explanation").data_bind(DockportApp.step)
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        import gc

        # `dockport-tui` starts with the cyclic collector off (see `cli.entry`): its passes over the
        # objects of Textual's and our imports and of the first layout were ~35 ms of the first frame.
        self.call_after_refresh(gc.enable)
        self._exit_on_signals()
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.query_one(ContainersPane).focus()  # not the hidden filter box: keys are commands
        if self._initial_state is not None:
            kind, where = self.source
            status = {"demo": "demo bundle", "bundle": f"bundle: {where}"}.get(kind, "loaded")
            # The containers and bridges first; the path (and the engine's import), and with it the
            # panes that mark it, right after that frame.
            self.session.load(self._initial_state, status, retrace=False)
            self._initial_state = None
            self._render_all(traced=False)
            self.call_after_refresh(self._retrace_and_render)
        else:
            self.step = Step(None, -1, ())
            self.request_refresh()
        if self.source[0] == "live":
            self._start_event_feed()

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

    def _handle_exception(self, error: Exception) -> None:
        # Textual ends the app on an exception nothing caught; keep the reason for the exit status
        # and the line printed once the terminal is given back (tui.cli).
        if self.failure is None:
            self.failure = f"{type(error).__name__}: {error}"
        super()._handle_exception(error)

    def _guarded(self, what: str, fn: Callable[..., object], *args: object) -> None:
        """Run one step of applying data to the screen. Live data changes while it is rendered; a
        failure here keeps the last good screen, says what failed, and the app goes on."""
        try:
            fn(*args)
        except Exception as exc:
            self.session.status = f"{what} failed: {type(exc).__name__}: {exc}"[:300]
            self.log.error(self.session.status)
            try:
                self._show_status()
            except Exception:
                pass

    # -- data ------------------------------------------------------------------------------------

    def request_refresh(self) -> None:
        """Collect again: at once when idle, else once more right after the running collection,
        so a burst of events costs one collection at a time and one more after it. While a quick
        rules read runs, the collection waits for it: that read starts one when it is done. (Both
        at once was what every rule change did: the second of Docker's notifications for one
        change found the read running and started the collection beside it, and the two shared
        the interpreter: the rules read took 100-300 ms instead of ~60 ms.)"""
        if self._collecting or self._reading_rules:
            self._dirty = True
            return
        self._collecting, self._dirty = True, False
        self.collect(self.session.sequence)

    def _collection_done(self) -> None:
        self._collecting = False
        if self._dirty:
            # Events came meanwhile: one more, at once. (A pause here, for the quick row updates to
            # have the interpreter, was measured: 0.3 s changed nothing in the storm's p95.)
            self.request_refresh()

    @work(thread=True, group="collect", exit_on_error=False)
    def collect(self, started_at: int) -> None:
        try:
            self._collect(started_at)
        finally:
            try:
                self.call_from_thread(self._collection_done)
            except RuntimeError:
                pass  # the app is shutting down

    def _collect(self, started_at: int) -> None:
        kind, where = self.source
        try:
            if kind == "live":
                from tui.collect.live import LiveCollector

                if self._collector is None:
                    self._collector = LiveCollector()
                state = self._collector.collect()
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
        self.post_message(StateLoaded(state, status, started_at))

    def _start_event_feed(self) -> None:
        from tui.collect.events import EventFeed
        from tui.collect.live import docker_client

        self._feed = EventFeed(
            on_batch=lambda changes, events: self.post_message(ContainersChanged(changes, events)),
            on_status=lambda text: self.post_message(SourceStatus(text)),
            client_factory=docker_client, source=self._event_source)
        self._background("dockport-events", self._feed.read_forever)
        self._background("dockport-event-batches", self._feed.apply_forever)

    def _background(self, name: str, loop: Callable[[], object]) -> None:
        """A loop that runs as long as the app: a daemon thread, not a Textual worker. Workers run in
        asyncio's executor, which the interpreter waits for on exit; a loop blocked on a socket
        would then hold the process after the app is gone. on_unmount stops these loops."""
        def run() -> None:
            try:
                loop()
            except Exception as exc:  # say it, and keep the app
                if not self._stop.is_set():
                    self.post_message(SourceStatus(f"{name} stopped: {exc}"))

        threading.Thread(target=run, name=name, daemon=True).start()

    @on(ContainersChanged)
    def _on_containers_changed(self, message: ContainersChanged) -> None:
        if message.changes:
            self._guarded("updating containers", self._apply_containers, message.changes)
            # The collection that follows holds the interpreter for ~0.2 s at 100 containers: started
            # after the frame with the changed rows is drawn, not beside it (event -> screen median
            # 190 -> 130-145 ms, two runs each of `python -m benchmarks.event_latency`).
            self.call_after_refresh(self.request_refresh)
            return
        self.request_refresh()  # rules, links and proxies follow with the full collection

    def _apply_containers(self, changes: dict[str, Container | Stopped | None]) -> None:
        if self.session.state is None:
            return
        self.session.apply_containers(changes)
        self._render_all()

    def watch_firewall(self) -> None:
        """Re-collect when the nft ruleset changes (legacy iptables has no notification: the poll covers it)."""
        from tui.collect.watch import RuleChangeMonitor

        monitor = RuleChangeMonitor()
        self._rule_monitor = monitor
        if self._stop.is_set():
            return
        backend = self.session.state.facts.firewall_backend if self.session.state else "nft"
        why = monitor.run(lambda by: self.post_message(RulesChanged(by)), backend)
        if why != "stopped" and not self._stop.is_set():
            self.post_message(SourceStatus(f"live (firewall changes polled: {why})"))

    @on(RefreshRequested)
    def _on_refresh(self, _message: RefreshRequested) -> None:
        self.request_refresh()

    _reading_rules = False

    @on(RulesChanged)
    def _on_rules_changed(self, message: RulesChanged) -> None:
        # A full collection takes half a second at 100 containers; when the app is otherwise idle the
        # rules alone are read and shown first, and the collection starts after them. While a
        # collection or a rules read runs (a storm: Docker rewrites rules for every container), the
        # change just joins the next collection: one reader at a time, never a thread per change
        # (a thread per change starved a storm's rows for seconds; a rules read beside a running
        # collection was measured too: storms slower, rule changes not faster).
        if self._collecting or self._reading_rules:
            self.request_refresh()
            return
        self._reading_rules = True
        from tui.collect.firewall import family_written_by

        self.read_rules(family_written_by(message.by))

    def _firewall_as_last_read(self) -> tuple[str | None, int | None]:
        """The backend and the number of rules the last collection found (None: not known), so
        that a rules-only read need not find them out again."""
        state = self.session.state
        if state is None or "rules" in state.missing:
            return None, None
        backend = state.facts.firewall_backend
        return (None if backend == "unknown" else backend,
                sum(rs.rule_count for rs in (*state.rulesets.values(), *state.other_rulesets.values())))

    @work(thread=True, group="rules", exit_on_error=False)
    def read_rules(self, family: int | None = None) -> None:
        """`family`: only that family's iptables rules changed (an iptables commit): only they are read."""
        from tui.collect.live import read_firewall

        try:  # whatever fails, show_then_collect must run: it ends the read and starts the collection
            backend, rules = self._firewall_as_last_read()
            fw = read_firewall(backend, rules, family)
        except Exception:  # the full collection that follows says what is wrong
            fw = None

        def show() -> None:
            from tui.collect.assemble import with_firewall

            if fw is not None and self.session.state is not None:
                self.session.load(with_firewall(self.session.state, *fw, family=family), self.session.status)
                self._render_all()

        def show_then_collect() -> None:
            self._reading_rules = False
            self._guarded("showing the new rules", show)
            # Links and proxies change with rules, and events may have come meanwhile: collect, but
            # after the frame with the new rules is written (as after a container's quick update).
            self.call_after_refresh(self.request_refresh)

        try:
            self.call_from_thread(show_then_collect)
        except RuntimeError:
            pass  # the app is shutting down

    @on(SourceStatus)
    def _on_status(self, message: SourceStatus) -> None:
        self.session.status = message.status
        self._guarded("status", self._show_status)

    @on(StateLoaded)
    def _on_state(self, message: StateLoaded) -> None:
        self._guarded("showing the new state", self._apply_loaded, message)

    def _apply_loaded(self, message: StateLoaded) -> None:
        new, old = message.state, self.session.state
        if ("docker" in new.missing and old is not None and "docker" not in old.missing
                and self.source[0] == "live"):
            # The daemon went away: keep showing the last good state (and the selection), marked stale.
            when = (old.facts.captured_at or "")[11:19]
            self.session.status = (f"daemon unreachable (retrying) — showing the state of "
                                   f"{when or 'the last collection'}")
            self._show_status()
            return
        first = old is None
        self.session.apply_full(new, message.status, message.started_at)
        self._render_all()
        if first:
            self._start_watching(new)

    def _start_watching(self, state: HostState) -> None:
        if self.source[0] != "live" or self._poll_started:
            return
        from tui.collect.watch import RuleChangeMonitor

        self._poll_started = True
        watched = RuleChangeMonitor.available(state.facts.firewall_backend)
        if watched:
            self._firewall_watched = True
            self._background("dockport-firewall-events", self.watch_firewall)
        # Docker events and (on nft) rule events drive re-collection; the poll is a safety net,
        # and on legacy iptables, which has no rule events, the way rule changes are noticed.
        self.set_interval(self._poll_seconds or (300.0 if watched else 30.0), self.request_refresh)
        # The rules of a shown path count packets: read every second (read-only), shown as deltas.
        self.set_interval(1.0, self._poll_counters)

    _counting = False

    def _poll_counters(self) -> None:
        path = self.session.path
        if self._counting or path is None:
            return
        self._counting = True
        native = any(h.family for h in path.hops)

        def run() -> None:
            from tui.collect.counters import read_counters

            try:
                counters = read_counters(native, *self._firewall_as_last_read())
            except Exception as exc:  # a counter read must not take the UI down
                self.log.warning(f"counters not read: {exc}")
                counters = {}

            def done() -> None:
                self._counting = False
                if counters:
                    shown = self.session.counter_deltas()
                    self.session.take_counters(counters)
                    # An idle host counts nothing: drawing every pane again each second cost ~7 % CPU.
                    if self.session.counter_deltas() != shown:
                        self._render_all()

            try:
                self.call_from_thread(done)
            except RuntimeError:
                pass  # shutting down

        self.run_worker(run, thread=True, group="counters", exit_on_error=False)

    # -- tracing ---------------------------------------------------------------------------------

    def _retrace_and_render(self) -> None:
        # A trace that fails leaves no path (Session.retrace clears it first) and says so in the
        # status; every pane is drawn all the same, so the ones that wait for the trace never stay empty.
        self._guarded("tracing", self.session.retrace)
        self._render_all()

    def set_origin(self, origin: str) -> None:
        self._guarded("tracing", self.session.set_origin, origin)
        self._render_all()

    # -- rendering -------------------------------------------------------------------------------

    def _render_all(self, traced: bool = True) -> None:
        """Draw every pane from the session. Guarded here, once, for every caller (a key, a timer, new
        data): a failure keeps the last good screen and says what failed; it never ends the app.
        `traced=False`: the path is not traced yet; the panes that mark it are left for then."""
        self._guarded("drawing", self._draw_all, traced)

    def _draw_all(self, traced: bool = True) -> None:
        for notice in self.session.take_notices():
            self.notify(notice, severity="warning", markup=False)
        s = self.session
        if s.state is None or not self.query(ContainersPane):
            return  # nothing yet, or the app is shutting down and its panes are gone
        marks, verdict = self._kernel_marks()
        with self.batch_update():
            self.view = View(s.state, s.path, s.selected.key if s.selected else None, self.filter_text, marks, verdict,
                             s.counter_deltas(), findings_marked=traced)
            if traced:
                self.path_view = self.view
                self.step = Step(s.path, s.hop_index, tuple(s.findings))
        self._show_status()

    def _on_theme_changed(self, _theme: object) -> None:
        """Colours are resolved from the theme when drawn: draw everything again. (A signal callback:
        guarded like every other step of drawing, and a no-op while the panes are gone.)"""
        def redraw() -> None:
            for pane in self.query(ContainersPane):
                pane.redraw_legend()
            self._render_all()
            self._show_status()

        self._guarded("redrawing in the new theme", redraw)

    _status_shown: tuple[object, ...] = ()

    def _show_status(self) -> None:
        if not self.query("#status"):
            return  # shutting down
        st = self.session.state
        status = self.session.status
        pal = palette(self.screen)
        parts = [("● ", pal(_status_colour(status))), (status_words(status), "bold"),
                 _("   origin: {origin} (IPv{family})").format(origin=self.session.origin, family=self.session.family)]
        if st:
            f = st.facts
            proxy = on_off(f.userland_proxy)
            parts.append(_("   docker {version}  firewall {backend}  userland-proxy {proxy}").format(
                version=f.docker_version or "?", backend=f.firewall_backend, proxy=proxy)
                + (_(" (inferred)") if f.userland_proxy_inferred else ""))
            if st.warnings:
                parts.append((f"   ⚠ {len(st.warnings)}: {st.warnings[0].message}", pal("$warning")))
        text = Text.assemble(*[(literal(p[0], p[1]) if isinstance(p, tuple) else literal(p)) for p in parts])
        shown = (text.plain, tuple(text.spans))
        if shown != self._status_shown:  # Static.update lays the whole screen out again
            self._status_shown = shown
            self.query_one("#status", Static).update(text, layout=False)  # one line, always
        self.sub_title = f"{self.source[0]} · {st.facts.hostname if st else ''}"

    # -- actions ---------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#containers")
    def _on_container_row(self, event: DataTable.RowSelected) -> None:
        self.action_trace_selected()

    def action_trace_selected(self) -> None:
        choice = self.query_one(ContainersPane).choice_at_cursor()
        if choice is None:
            self.notify(_("Pick a row with a port first."), markup=False)
            return
        self._guarded("tracing", self.session.select, choice)
        self._render_all()

    def action_next_origin(self) -> None:
        self._guarded("tracing", self.session.cycle_origin, 1)
        self._render_all()

    def action_prev_origin(self) -> None:
        self._guarded("tracing", self.session.cycle_origin, -1)
        self._render_all()

    def _step(self, delta: int) -> None:
        if not self.session.step(delta):
            self.notify(_("Trace a port first (Enter)."), markup=False)
            return
        hop = self.path.hops[self.hop_index]
        self.step = Step(self.path, self.hop_index, tuple(self.findings))
        self.query_one(PathPane).move_cursor(row=self.hop_index)
        pane: Widget
        if hop.kind == "rule":
            rules = self.query_one(RulesPane)
            rules.focus_ref(hop.rule_ref)
            pane = rules
        elif hop.kind in ("bridge", "veth"):
            bridges = self.query_one(BridgesPane)
            bridges.focus_key(hop.name)
            pane = bridges
        elif hop.kind == "proxy":
            proxies = self.query_one(ProxiesPane)
            proxies.focus_pid(hop.name)
            pane = proxies
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
        """Presenter mode: the journey of the selected path, stage by stage (without a path, the path
        and a large explanation, fewer panes)."""
        if self.session.path is not None and self.screen is self.screen_stack[0]:
            self.action_journey()
            return
        self.screen_stack[0].toggle_class("presenter")

    # Below this, four panes side by side show three rows each and no rule text: the layout turns
    # compact (the containers, the path and the explanation, one above the other).
    COMPACT_BELOW = (100, 30)

    def on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        compact = width < self.COMPACT_BELOW[0] or height < self.COMPACT_BELOW[1]
        for screen in self.screen_stack[:1]:
            screen.set_class(compact, "compact")

    async def action_filter(self) -> None:
        if len(self.screen_stack) > 1:
            return  # it filters the main panes: behind another screen it would open where no one sees it
        box = self._filter_box()
        if box is None:
            # Mounted on first use: hidden in the first frame, it still cost that frame its styles.
            box = Input(placeholder=_("filter containers and rules…"), id="filter")
            await self.mount(box, before=self.query_one("#status"))
        box.display = True
        box.focus()

    def _filter_box(self) -> Input | None:
        found = self.query("#filter").results(Input)
        return next(found, None)

    @on(Input.Changed, "#filter")
    def _on_filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip().lower()
        self._render_all()

    @on(Input.Submitted, "#filter")
    def _on_filter_done(self, event: Input.Submitted) -> None:
        self.query_one(ContainersPane).focus()

    def key_escape(self) -> None:
        box = self._filter_box()
        if box is not None and box.display:
            box.value = ""
            box.display = False
            self.query_one(ContainersPane).focus()

    def action_refresh(self) -> None:
        self.request_refresh()

    def action_save_svg(self) -> None:
        path = self.save_screenshot()
        self.notify(_("saved {path}").format(path=path), markup=False)

    def action_warnings(self) -> None:
        from tui.ui.widgets.screens import WarningsScreen

        self.push_screen(WarningsScreen(self.state))

    def action_lab(self) -> None:
        from tui.ui.widgets.lab_view import LabScreen

        self.push_screen(LabScreen())

    def action_help(self) -> None:
        from tui.ui.widgets.screens import HelpScreen

        self.push_screen(HelpScreen())

    def action_journey(self) -> None:
        """The packet's journey through the host's hooks, stage by stage, for the selected path."""
        from tui.ui.widgets.journey import JourneyScreen

        if self.session.path is None:
            self.notify(_("select a port first (Enter on a row of the containers pane)"), severity="warning")
            return
        self.push_screen(JourneyScreen(self.session.path, self.session.hop_index))

    def action_tour(self) -> None:
        """The talk's experiments and open questions, answered on this host (predicted; `dockport-tui
        tour` on the live host measures the experiments with the lab)."""
        from tui.lab.tour import tour
        from tui.ui.widgets.tour import TourScreen

        if self.session.state is None:
            self.notify(_("nothing collected yet"), severity="warning")
            return
        # Worked out from live data, from a key or the palette: a failure is said, not the app's end.
        state = self.session.state
        self._guarded("the tour", lambda: self.push_screen(TourScreen(tour(state))))

    def action_matrix(self) -> None:
        """Every origin's verdict for the selected port; Enter picks one as the current origin."""
        from tui.paths.reach import reach
        from tui.ui.widgets.matrix import MatrixScreen

        choice, state = self.session.selected, self.session.state
        if choice is None or state is None:
            self.notify(_("select a port first (Enter on a row of the containers pane)"), severity="warning")
            return
        def open_matrix() -> None:
            q = self.session.query_for(choice)
            self.push_screen(MatrixScreen(reach(state, q.port, q.proto, q.family)), callback=self._matrix_answer)

        # Every origin traced on live data, from a key or the palette: a failure is said, not the app's end.
        self._guarded("who reaches", open_matrix)

    def _matrix_answer(self, origin: str | None) -> None:
        if not origin:
            return
        origin, _sep, to = origin.partition("|")
        if to:
            self.notify(_("direct routing to {to}: `dockport-tui trace PORT --to {to}` asks it; the origin is now "
                          "external").format(to=to), markup=False)
        self.set_origin(origin)

    # -- verify: the kernel's own trace beside the path ------------------------------------------

    def action_verify(self) -> None:
        if self.source[0] != "live":
            self.notify(_("verify asks this host's kernel: it runs on the live host only"), severity="warning")
            return
        if self.session.selected is None or self.session.path is None:
            self.notify(_("select a port first (Enter)"), severity="warning")
            return
        if not self._verify_confirmed:
            from tui.ui.widgets.screens import ConfirmVerify

            self.push_screen(ConfirmVerify(), callback=self._verify_answer)
            return
        self._start_verify()

    def _verify_answer(self, yes: bool | None) -> None:
        if yes:
            self._verify_confirmed = True
            self._start_verify()

    def _start_verify(self) -> None:
        assert self.session.selected is not None
        q = self.session.query_for(self.session.selected)
        self.notify(_("verify: one {proto} connection to port {port} from {origin}, traced by the kernel…").format(
            proto=q.proto, port=q.port, origin=q.origin), markup=False)

        def run() -> None:
            from tui.verify.verify import VerifyError, verify

            try:
                result = verify(q.port, q.proto, q.origin, q.to, family=q.family)
            except VerifyError as exc:
                self.call_from_thread(self.notify, f"verify: {exc}", severity="error", markup=False)
                return
            except Exception as exc:  # say it, keep the app
                self.call_from_thread(self.notify, _("verify failed: {error}").format(error=exc), severity="error",
                                      markup=False)
                return
            self.call_from_thread(self._verified, result)

        self.run_worker(run, thread=True, exclusive=True, group="verify")

    def _verified(self, result: Verification) -> None:
        self._verification = result
        self.notify(f"verify: {result.headline}", severity="information" if result.agree else "error", markup=False)
        self._render_all()

    def _kernel_marks(self) -> tuple[dict[int, str], str]:
        """The last verification's marks, while the path is the one it verified (same query, same
        rules: a re-collection that changed nothing on the path keeps them)."""
        v, path = self._verification, self.session.path
        if v is None or path is None:
            return {}, ""
        vq, q = v.predicted.query, path.query
        if (vq.port, vq.proto, vq.origin.split(":")[0], vq.to, vq.family) != \
                (q.port, q.proto, q.origin.split(":")[0], q.to, q.family):
            return {}, ""
        if v.predicted.rule_refs() != path.rule_refs():
            # verify's own outside client took other rules than the client shown: say so, mark nothing.
            return {}, f"{v.headline} for verify's client {vq.src} (its path differs from this one)"
        return v.marks(path), v.headline

    def on_unmount(self) -> None:
        self._stop.set()
        if self._rule_monitor is not None:
            self._rule_monitor.stop()
        if self._feed is not None:
            self._feed.stop()  # closes the stream: unblocks the reader's socket read
