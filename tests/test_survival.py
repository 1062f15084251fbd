"""The live app ends only when the user, SIGTERM or SIGHUP ends it: table sync in any order, a
display failure kept to the status line, an exit status that says how it ended, no fork."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult

from tui.cli import demo_bundle_path, run_app
from tui.collect.bundle import load_bundle
from tui.model import Container, PortBinding, Stopped, replace
from tui.session import Session
from tui.ui.app import DockportApp, StateLoaded
from tui.ui.widgets.panes import ContainersPane, RulesPane


def _container(cid: str, name: str, ports: tuple[PortBinding, ...], state: str = "running") -> Container:
    return Container(id=cid, name=name, state=state, image="x", pid=1, sandbox_key="", network_mode="bridge",
                     ports=ports)


def _expected_rows(state) -> list[tuple[str, str]]:
    """(row key, name cell) the containers pane must show for a state: worked out here, not by the pane."""
    rows = []
    for c in state.containers:
        keys = dict.fromkeys(f"{c.id}|{b.key}" for b in c.ports) or {f"{c.id}|-": None}
        rows += [(k, c.name) for k in keys]
    return rows or [("-empty-", "no containers")]


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ContainersPane()


def _random_container(rng: random.Random, ids: list[str]) -> Container:
    cid = rng.choice(ids)
    name = f"web{int(cid[:2], 16) % 3}"  # few names, many ids: names are reused by new containers
    ports = tuple(PortBinding(80, "tcp", "0.0.0.0", rng.choice([8080, 8081, None])) for _ in range(rng.randint(0, 2)))
    return _container(cid, name, ports, rng.choice(["running", "running", "exited", "created"]))


async def test_table_sync_in_any_order_of_partial_and_full_states():
    rng = random.Random(20)
    ids = [f"{i:02x}" + "0" * 62 for i in range(12)]
    base = load_bundle(demo_bundle_path(), source="demo")
    session = Session(replace(base, containers=()), "live")
    app = PaneApp()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ContainersPane)
        collections: list[tuple[int, tuple[Container, ...]]] = []
        for step in range(300):
            if rng.random() < 0.6:  # a burst of quick updates, some of them removals
                changes = {c.id: (None if rng.random() < 0.3 else c)
                           for c in (_random_container(rng, ids) for _ in range(rng.randint(1, 4)))}
                session.apply_containers(changes)
            else:  # a full collection that started some time ago (or just now)
                containers = {c.id: c for c in (_random_container(rng, ids) for _ in range(rng.randint(0, 8)))}
                collections.append((session.sequence, tuple(containers.values())))
                started, found = collections[rng.randrange(len(collections))]
                session.apply_full(replace(base, containers=found), "live",
                                   rng.randint(0, session.sequence) if rng.random() < 0.5 else started)
            if rng.random() < 0.2:
                pane.move_cursor(row=rng.randrange(max(1, pane.row_count)))
            pane.show(session.state, None, None)
            if rng.random() < 0.1:
                pane.show(session.state, None, None)  # the same state twice
            # In the order they are on screen (rows are put in place, not always added in order).
            shown = [(row.key.value, pane.get_cell(row.key.value, pane.ordered_columns[1].key).plain)
                     for row in pane.ordered_rows]
            assert shown == _expected_rows(session.state), f"step {step}"
            await pilot.pause(0) if step % 50 == 0 else None
        # A collection that started after every quick update is the whole truth.
        final = tuple(_random_container(rng, ids) for _ in range(5))
        final = tuple({c.id: c for c in final}.values())
        session.apply_full(replace(base, containers=final), "live", session.sequence)
        assert {c.id for c in session.state.containers} == {c.id for c in final}


def test_a_quick_update_newer_than_a_collection_survives_it():
    base = load_bundle(demo_bundle_path(), source="demo")
    session = Session(replace(base, containers=()), "live")
    started = session.sequence  # a collection starts; then a container starts and is inspected
    new = _container("a" * 64, "late", (PortBinding(80, "tcp", "0.0.0.0", 8080),))
    session.apply_containers({new.id: new})
    session.apply_full(replace(base, containers=()), "live", started)  # it did not see it
    assert session.state.container(new.id) == new
    old = _container("b" * 64, "late", (PortBinding(80, "tcp", "0.0.0.0", 8081),))  # same name, old id
    session.apply_full(replace(base, containers=(old,)), "live", started)
    assert {c.id for c in session.state.containers} == {new.id, old.id}
    gone_started = session.sequence
    session.apply_containers({old.id: None})
    session.apply_full(replace(base, containers=(old, new)), "live", gone_started)
    assert [c.id for c in session.state.containers] == [new.id]
    session.apply_full(replace(base, containers=(old,)), "live", session.sequence)
    assert [c.id for c in session.state.containers] == [old.id]  # a newer collection wins


def _demo_app() -> DockportApp:
    state = load_bundle(demo_bundle_path(), source="demo")
    return DockportApp(source=("demo", str(demo_bundle_path())), state=state)


async def test_a_failing_pane_keeps_the_last_screen_and_says_why(monkeypatch):
    app = _demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        before = app.query_one(ContainersPane).row_count
        original = RulesPane.show
        calls = []

        def broken(self, *args, **kw):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("rule text the pane cannot draw")
            return original(self, *args, **kw)

        monkeypatch.setattr(RulesPane, "show", broken)
        app.post_message(StateLoaded(app.state, "demo bundle", app.session.sequence))
        await pilot.pause()
        assert app.is_running
        assert "failed" in app.status and "rule text the pane cannot draw" in app.status
        assert "rule text the pane cannot draw" in str(app.query_one("#status").render())
        assert app.query_one(ContainersPane).row_count == before
        app.post_message(StateLoaded(app.state, "demo bundle", app.session.sequence))
        await pilot.pause()
        assert app.status == "demo bundle"  # the next good state clears it
        await pilot.press("q")
    assert app.return_code == 0


class CrashingApp(DockportApp):
    def on_mount(self) -> None:
        super().on_mount()
        self.set_timer(0.2, self.explode)

    def explode(self) -> None:
        raise ValueError("forced for the test")


def test_an_error_that_ends_the_app_gives_a_nonzero_status_and_the_reason(capsys):
    state = load_bundle(demo_bundle_path(), source="demo")
    code = run_app(CrashingApp(source=("demo", ""), state=state), headless=True, size=(100, 30))
    assert code == 1
    assert "stopped by an error: ValueError: forced for the test" in capsys.readouterr().err


def test_quitting_gives_status_zero():
    app = _demo_app()

    async def quit_soon(pilot) -> None:
        await pilot.pause(0.2)
        await pilot.press("q")

    assert run_app(app, headless=True, size=(100, 30), auto_pilot=quit_soon) == 0


def test_a_die_is_shown_at_once_while_its_inspect_hangs():
    """Under `rm -f` an inspect answers only when the removal is done: the feed must not hold the
    `die` back for it, and the session must show the container stopped, not gone and not running."""
    import threading

    from tui.collect.events import EventFeed


    release = threading.Event()
    cid = "c" * 64

    class Api:
        def inspect_container(self, _cid):
            release.wait(5)
            raise RuntimeError("removed meanwhile")

    class Client:
        api = Api()

        def events(self, **_kw):
            yield {"Type": "container", "Action": "kill", "id": cid}
            yield {"Type": "container", "Action": "die", "id": cid}
            threading.Event().wait(5)  # the stream stays open

    batches: list[dict] = []
    got = threading.Event()
    feed = EventFeed(on_batch=lambda changes, _events: (batches.append(changes), got.set()),
                     on_status=lambda _t: None, client_factory=Client)
    threads = [threading.Thread(target=f, daemon=True) for f in (feed.read_forever, feed.apply_forever)]
    for t in threads:
        t.start()
    try:
        assert got.wait(2), "the die waited for its inspect"
        assert batches[0] == {cid: Stopped()}  # the pid is the session's to know
    finally:
        release.set()
        feed.stop()

    base = load_bundle(demo_bundle_path(), source="demo")
    web = _container(cid, "web", (PortBinding(80, "tcp", "0.0.0.0", 49153, ephemeral=True),
                                  PortBinding(80, "tcp", "::", 49153, ephemeral=True),
                                  PortBinding(81, "tcp", "127.0.0.1", 8081)))
    session = Session(replace(base, containers=(web,)), "live")
    session.apply_containers(batches[0])
    shown = session.state.container(cid)
    assert shown.state == "exited" and shown.listeners == () and shown.interfaces == ()
    assert shown.ports == (PortBinding(80, "tcp", "0.0.0.0", None, ephemeral=True),
                           PortBinding(81, "tcp", "127.0.0.1", 8081))
    session.apply_containers({"d" * 64: Stopped()})  # a container it never saw: nothing to show
    assert session.state.container("d" * 64) is None


def test_a_start_is_not_held_up_by_inspects_that_wait_on_docker(monkeypatch):
    """In a storm the daemon answers the inspect of a just-created container only once its start is
    done, and that of a dead one once its removal is (~1 s each, measured). A `start` that comes
    meanwhile must still be shown at once: its inspect must not queue behind theirs, and its event
    must not wait for the batch thread to stop waiting on them."""
    import threading
    import time

    from tui.collect import events
    from tui.collect.events import EventFeed

    monkeypatch.setattr(events, "BATCH_WAIT", 3.0)  # a batch thread that waits on old inspects shows it
    release = threading.Event()
    started = "s" * 64
    created = [f"{i:02d}" * 32 for i in range(12)]  # more than the inspect workers
    yielded: dict[str, float] = {}

    class Api:
        def inspect_container(self, cid):
            if cid != started:
                release.wait(10)
            return {"Id": cid, "Name": "/storm", "State": {"Status": "running", "Running": True, "Pid": 1},
                    "Config": {}, "HostConfig": {}, "NetworkSettings": {}}

    class Client:
        api = Api()

        def events(self, **_kw):
            for cid in created:
                yield {"Type": "container", "Action": "create", "id": cid}
            threading.Event().wait(0.5)
            yielded["start"] = time.monotonic()
            yield {"Type": "container", "Action": "start", "id": started}
            threading.Event().wait(10)  # the stream stays open

    shown = threading.Event()
    shown_at: list[float] = []

    def on_batch(changes, _events):
        if changes.get(started) is not None:
            shown_at.append(time.monotonic())
            shown.set()

    feed = EventFeed(on_batch=on_batch, on_status=lambda _t: None, client_factory=Client)
    for loop in (feed.read_forever, feed.apply_forever):
        threading.Thread(target=loop, daemon=True).start()
    try:
        assert shown.wait(8), "the start waited for the inspects of the created containers"
        assert shown_at[0] - yielded["start"] < 1.5, shown_at[0] - yielded["start"]
    finally:
        release.set()
        feed.stop()


def test_a_die_outlives_a_collection_that_still_says_running():
    base = load_bundle(demo_bundle_path(), source="demo")
    web = _container("e" * 64, "web", (PortBinding(80, "tcp", "0.0.0.0", 8080),))
    session = Session(replace(base, containers=(web,)), "live")
    session.apply_containers({web.id: Stopped()})
    # A collection that started after the die but read a stale list entry or a cached inspect.
    session.apply_full(replace(base, containers=(web,)), "live", session.sequence)
    assert session.state.container(web.id).state == "exited"
    session.apply_containers({web.id: web})  # its `start`: running again
    assert session.state.container(web.id).state == "running"
    session.apply_containers({web.id: Stopped()})
    session.apply_full(replace(base, containers=(replace(web, state="exited"),)), "live",
                       session.sequence)
    session.apply_full(replace(base, containers=(web,)), "live", session.sequence)
    assert session.state.container(web.id).state == "running"  # confirmed stopped once, then a newer word
    # Started again while no event reached us (the daemon restarted it): another pid, the collection wins.
    session.apply_containers({web.id: Stopped()})
    restarted = replace(web, pid=web.pid + 1)
    session.apply_full(replace(base, containers=(restarted,)), "live", session.sequence)
    assert session.state.container(web.id) == restarted


def test_a_container_first_seen_running_without_its_ports_is_followed_when_they_come():
    """Nothing picked: the app follows the newest published port. A quick update can show a running
    container before its published ports; once they come, it is followed like a new one."""
    base = load_bundle(demo_bundle_path(), source="demo")
    session = Session(replace(base, containers=()), "live")
    assert session.selected is None
    bare = _container("f" * 64, "web", ())
    session.apply_containers({bare.id: bare})
    assert session.selected is None
    published = replace(bare, ports=(PortBinding(80, "tcp", "0.0.0.0", 49160, ephemeral=True),))
    session.apply_containers({bare.id: published})
    assert session.selected is not None and session.selected.container_id == bare.id
