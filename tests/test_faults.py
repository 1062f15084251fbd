"""Faults caused for real: the daemon stops and comes back, a container or its namespace goes away
mid-collection, the events stream breaks, a tool or libiptc is missing, the terminal shrinks."""

from __future__ import annotations

import asyncio
import shutil
import sys

import pytest

from tests import rig
from tests.pilot import until
from tui.collect import firewall, live
from tui.ui.app import DockportApp
from tui.ui.widgets.panes import ContainersPane, RulesPane


def _select(app, name: str) -> None:
    pane = app.query_one(ContainersPane)
    key = next(k for k, c in pane.choices.items() if c.container == name and c.binding.host_port)
    pane.move_cursor(row=pane.get_row_index(key))
    app.action_trace_selected()


@pytest.mark.engine
async def test_daemon_stops_and_comes_back_selection_kept(engine):
    name = rig.name("survivor")
    port = 20000 + int(rig.RUN_ID, 16) % 5000
    rig.run_container(name, "--restart", "always", "-p", f"{port}:80")
    app = DockportApp(source=("live", ""), poll_seconds=600)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            assert await until(pilot, lambda: app.state is not None and app.state.container(name), 20)
            _select(app, name)
            await asyncio.to_thread(rig.stop_daemon)
            assert await until(pilot, lambda: "unreachable" in app.status or "stale" in app.status, 20), app.status
            assert app.selected.container == name  # the last good state stays on screen, marked
            assert app.query_one(ContainersPane).choices
            await asyncio.to_thread(rig.start_daemon)
            assert await until(pilot, lambda: app.status == "live" and app.state.container(name) is not None
                                and app.state.container(name).state == "running", 60), app.status
            assert app.selected.container == name and app.selected.binding.host_port == port
            assert app.path is not None
    finally:
        if not rig.daemon_running():
            rig.start_daemon()
        rig.sh("docker", "rm", "-f", name, check=False)


@pytest.mark.engine
async def test_events_stream_breaks_and_reconnects(engine):
    app = DockportApp(source=("live", ""), poll_seconds=600)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.events_stream is not None and app.status == "live", 20)
        stream = app.events_stream
        await asyncio.to_thread(stream.close)  # the connection to the daemon breaks
        assert await until(pilot, lambda: app.status.startswith(("stale", "daemon unreachable")), 10), app.status
        assert await until(pilot, lambda: app.status == "live" and app.events_stream is not stream, 20), app.status
        name = rig.name("afterbreak")
        try:
            await asyncio.to_thread(rig.run_container, name, "-p", "80")
            pane = app.query_one(ContainersPane)
            assert await until(pilot, lambda: any(c.container == name for c in pane.choices.values()), 10)
        finally:
            rig.sh("docker", "rm", "-f", name, check=False)


@pytest.mark.engine
def test_container_removed_in_the_middle_of_a_collection(engine, monkeypatch):
    keep = rig.run_container(rig.name("keep"), "-p", "80")
    doomed = rig.run_container(rig.name("doomed"), "-p", "80")
    from docker.api.client import APIClient

    original = APIClient.inspect_container

    def inspect_after_removing(self, container):
        doomed_id = rig.sh("docker", "inspect", "-f", "{{.Id}}", doomed, check=False).stdout.strip()
        if container.startswith(doomed_id or "x"):
            rig.sh("docker", "rm", "-f", doomed)
        return original(self, container)

    monkeypatch.setattr(APIClient, "inspect_container", inspect_after_removing)
    try:
        state = live.collect_live()
        assert state.container(keep) is not None
        assert state.container(doomed) is None
        assert "docker" not in state.missing
    finally:
        rig.sh("docker", "rm", "-f", keep, doomed, check=False)


@pytest.mark.engine
def test_namespace_vanishes_before_its_details_are_read(engine, monkeypatch):
    victim = rig.run_container(rig.name("vanish"), "-p", "80")
    original = live.read_container_details

    def kill_first(pieces, *rest):
        rig.sh("docker", "kill", victim)  # its network namespace is torn down now
        return original(pieces, *rest)

    monkeypatch.setattr(live, "read_container_details", kill_first)
    try:
        state = live.collect_live()
        c = state.container(victim)
        assert c is not None and c.listeners is None  # unknown, not "nothing listens"
        assert not [w for w in state.warnings if "Traceback" in w.message]
    finally:
        rig.sh("docker", "rm", "-f", victim, check=False)


async def test_missing_iptables_shows_why_the_rules_pane_is_empty(monkeypatch, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("ps", "sysctl", "ss", "nsenter"):
        if shutil.which(tool):
            (bindir / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(bindir))
    app = DockportApp(source=("live", ""), poll_seconds=600)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state is not None, 20)
        await pilot.pause()
        rules = app.query_one(RulesPane)
        cells = [str(rules.get_cell_at((0, i))) for i in range(len(rules.columns))]
        assert any("rules not captured" in c for c in cells), cells
        assert any("iptables" in w.message and w.hint for w in app.state.warnings)


def test_python_iptables_that_cannot_load_libiptc_falls_back(monkeypatch):
    if not firewall.legacy_tables(4):
        pytest.skip("no legacy table on this host to read")
    monkeypatch.setitem(sys.modules, "iptc", None)  # `import iptc` now fails, as without libiptc
    result = firewall.FirewallResult()
    rs = firewall._read_legacy(4, result, prefer_iptc=True)
    assert rs is not None and rs.source.startswith("iptables-legacy-save")
    assert any("python-iptables could not read" in w.message and "falling back" in w.message
               for w in result.warnings)


def _iptc_reads_in_a_thread(reads: int, first=lambda: None) -> list[Exception]:
    """What `firewall._iptc_module()` raised, read `reads` times in a collection-like thread."""
    import threading

    raised: list[Exception] = []

    def run() -> None:
        first()
        for _ in range(reads):
            try:
                firewall._iptc_module()
            except Exception as exc:
                raised.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    return raised


def test_a_collection_thread_does_not_import_python_iptables(monkeypatch):
    """Its first import can deadlock the process when another thread imports beside it (see
    `firewall.load_python_iptables`). In a thread, without the import done at start, the read
    fails with the reason (and the caller falls back to iptables-legacy-save) instead."""
    monkeypatch.delitem(sys.modules, "iptc", raising=False)
    monkeypatch.setattr(firewall, "_iptc_import_error", None)
    monkeypatch.setattr(firewall, "legacy_tables", lambda family: ["filter"])
    monkeypatch.setattr(firewall, "detect_backend", lambda: ("legacy", []))
    failures = _iptc_reads_in_a_thread(1, first=firewall.load_python_iptables)  # not the main thread: does nothing
    assert "iptc" not in sys.modules
    assert len(failures) == 1 and "not loaded at start" in str(failures[0])
    firewall.load_python_iptables()  # the main thread, a legacy table "exists": imported now
    assert "iptc" in sys.modules and firewall._iptc_module() is sys.modules["iptc"]


def test_an_nft_host_with_legacy_tables_does_not_import_python_iptables(monkeypatch):
    """Its legacy tables are read with iptables-legacy-save, so the ~0.3 s import would buy nothing."""
    monkeypatch.delitem(sys.modules, "iptc", raising=False)
    monkeypatch.setattr(firewall, "_iptc_import_error", None)
    monkeypatch.setattr(firewall, "legacy_tables", lambda family: ["filter"])
    monkeypatch.setattr(firewall, "detect_backend", lambda: ("nft", []))
    firewall.load_python_iptables()
    assert "iptc" not in sys.modules


def test_a_failed_start_up_import_is_reported_afresh_on_every_read(monkeypatch):
    """Where libiptc could not be loaded at start, each read in a thread says why with a new
    exception: the stored one raised again would grow its traceback every second."""
    monkeypatch.delitem(sys.modules, "iptc", raising=False)
    monkeypatch.setattr(firewall, "_iptc_import_error", OSError("libip4tc.so.2: cannot open shared object file"))
    raised = _iptc_reads_in_a_thread(2)
    assert len(raised) == 2 and raised[0] is not raised[1]
    assert all("libip4tc.so.2" in str(exc) for exc in raised)
    assert "iptc" not in sys.modules


async def test_terminal_shrinks_to_80x24():
    from tests.screenshots import demo_app, show_view

    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await show_view("stepping", pilot)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press("n", "o", "p", "f2", "f2")
        await pilot.pause()
        assert app.is_running and app.path is not None
        assert app.size.width == 80 and app.size.height == 24
        assert app.query_one("#status").region.height >= 1
