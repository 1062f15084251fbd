"""On the real engine: the live app under churn and in a storm of events stays up and ends with the
rows `docker ps` has; a collection never forks the app, even where a container's sysfs is unreadable."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tests import load, rig
from tests.pilot import until
from tui.collect.live import LiveCollector
from tui.ui.app import DockportApp
from tui.ui.widgets.panes import ContainersPane

pytestmark = pytest.mark.engine


def _label(kind: str) -> str:
    return f"dpt.load={kind}-{rig.RUN_ID}"


def _rows_match_docker(app: DockportApp) -> bool:
    """Every container `docker ps -a` lists has a row, and no row is of a container it does not list."""
    pane = app.query_one(ContainersPane)
    shown = {row.key.value.split("|", 1)[0] for row in pane.ordered_rows if "|" in row.key.value}
    return shown == load.docker_ps_ids()


async def _settled(pilot, app: DockportApp, seconds: float = 15) -> bool:
    return await until(pilot, lambda: _rows_match_docker(app), seconds)


async def test_churn_with_a_reused_name_keeps_the_app_up(engine):
    name = rig.name("churn")
    label = _label("churn")
    app = DockportApp(source=("live", ""), poll_seconds=600)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            assert await until(pilot, lambda: app.state is not None, 30)
            seen_ids = []
            for _ in range(30):
                seen_ids.append(await asyncio.to_thread(load.run_labelled, name, label))
                await pilot.pause(0.3)
                await asyncio.to_thread(load.remove, [name])
                assert app.is_running
            seen_ids.append(await asyncio.to_thread(load.run_labelled, name, label))
            assert await _settled(pilot, app), "the rows never matched docker ps"
            assert app.is_running and "failed" not in app.status, app.status
            # Following a port across recreations: the selection becomes the newest container's. Not
            # at once: its row comes with the `create` event, its published port (what is followed)
            # with the `start` that follows, and on a loaded host the rows match `docker ps` in
            # between (seen: selection None for ~0.3 s after the rows matched).
            assert await until(pilot, lambda: app.selected is not None
                               and app.selected.container_id == seen_ids[-1], 15), \
                f"selected {app.selected}, newest {seen_ids[-1][:12]}"
    finally:
        load.remove([name])


async def test_a_storm_of_containers_keeps_the_app_up(engine):
    label = _label("storm")
    names = [rig.name(f"storm{i}") for i in range(10)]
    app = DockportApp(source=("live", ""), poll_seconds=600)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            assert await until(pilot, lambda: app.state is not None, 30)
            ids = await asyncio.to_thread(load.storm, names, label)
            assert await _settled(pilot, app), "rows after the starts never matched docker ps"
            # A row comes with the create event; its host port with the start that follows.
            assert await until(pilot, lambda: set(ids) <= {c.container_id for c in app.query_one(ContainersPane)
                                                           .choices.values() if c.binding.host_port}, 15)
            await asyncio.to_thread(load.remove, names)
            assert await _settled(pilot, app), "rows after the removal never matched docker ps"
            assert app.is_running and "failed" not in app.status, app.status
    finally:
        load.remove(names)


def test_a_collection_never_forks_even_when_sysfs_cannot_be_read(engine, monkeypatch):
    plain = rig.run_container(rig.name("plainsys"), "-p", "80")
    hidden = rig.run_container(rig.name("nosys"), "--cap-add", "SYS_ADMIN", "-p", "80")
    try:
        # A tmpfs over the container's /sys: its own sysfs is out of reach, as while it starts or goes.
        rig.sh("docker", "exec", hidden, "/bin/busybox", "mount", "-t", "tmpfs", "none", "/sys")
        pid = rig.sh("docker", "inspect", "-f", "{{.State.Pid}}", hidden).stdout.strip()
        assert not os.path.exists(f"/proc/{pid}/root/sys/class/net")

        def no_fork() -> int:
            raise AssertionError("the app forked itself")

        monkeypatch.setattr(os, "fork", no_fork)
        started = time.monotonic()
        state = LiveCollector().collect()
        assert time.monotonic() - started < 30
        for cname in (plain, hidden):
            c = state.container(cname)
            assert c is not None and c.interfaces, f"{cname}: veth ends not read"
            peer = c.interfaces[0][2]
            host_end = state.link_by_index(peer)
            assert host_end is not None and host_end.kind == "veth" and host_end.master == "docker0"
        assert not [w for w in state.warnings if "netns" in w.message], state.warnings
    finally:
        rig.sh("docker", "rm", "-f", plain, hidden, check=False)


def test_a_died_container_is_shown_as_docker_shows_it_stopped(engine):
    """`die` is answered without an inspect (under `rm -f` the inspect waits for the removal); the
    view it gives must be what an inspect of the stopped container gives."""
    import docker

    from tui.collect.docker_json import container_from_inspect
    from tui.model import stopped_view

    port = 20000 + os.getpid() % 20000
    made = [rig.run_container(rig.name("stopfix"), "-p", "80", "-p", f"127.0.0.1:{port}:81", "-p", f"{port + 1}:82",
                              "--expose", "83", "-p", "84/udp"),
            rig.run_container(rig.name("stopall"), "-P", "--expose", "85", "--expose", "86/udp")]
    api = docker.from_env().api
    try:
        for cid in made:
            running = container_from_inspect(api.inspect_container(cid))
            assert any(b.published for b in running.ports)
            rig.sh("docker", "stop", "-t", "0", cid)
            stopped = container_from_inspect(api.inspect_container(cid))
            derived = stopped_view(running)
            assert sorted(derived.ports, key=repr) == sorted(stopped.ports, key=repr)
            assert (derived.state, derived.pid) == (stopped.state, stopped.pid)
            assert [e.ip for e in derived.endpoints] == [e.ip for e in stopped.endpoints] == [""]
    finally:
        rig.sh("docker", "rm", "-f", *made, check=False)
