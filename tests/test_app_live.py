"""The app on the real engine: what `docker run -p` does shows up by itself, and the app stays read-only."""

from __future__ import annotations

import asyncio

import pytest

from tests import rig
from tests.pilot import until
from tui.ui.app import DockportApp
from tui.ui.widgets.panes import ContainersPane, PathPane

pytestmark = pytest.mark.engine


async def test_docker_run_row_and_path_appear_without_a_key(engine):
    name = rig.name("appears")
    app = DockportApp(source=("live", ""), poll_seconds=600)  # the poll must not be what finds it
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            assert await until(pilot, lambda: app.state is not None, 20)
            await asyncio.to_thread(rig.run_container, name, "-p", "80")
            pane = app.query_one(ContainersPane)
            assert await until(pilot, lambda: any(c.container == name for c in pane.choices.values()), 15)
            assert await until(pilot, lambda: app.path is not None and app.selected.container == name
                                and app.path.verdict == "delivered", 10)
            assert app.path.mapping.container.name == name
            assert app.query_one(PathPane).row_count == len(app.path.hops)

            # A firewall change alone (no Docker event) is seen too, through xtables-monitor.
            rule = ["-I", "DOCKER-USER", "-p", "tcp", "-s", "203.0.113.77", "-j", "DROP"]
            await asyncio.to_thread(rig.sh, "iptables", *rule)
            try:
                text = "-s 203.0.113.77/32 -p tcp -j DROP"
                assert await until(pilot, lambda: any(text in r.text for r in app.state.rulesets[4].all_rules()), 10)
            finally:
                rig.sh("iptables", "-D", *rule[1:], check=False)
    finally:
        rig.sh("docker", "rm", "-f", name, check=False)


async def test_the_rules_of_the_path_count_a_real_clients_packets(engine):
    """Live counters: the path's rules show how many packets each counted since the path was
    selected; a real client connecting through the path moves them, on exactly the path's rules."""
    name = rig.name("counted")
    port = 22000 + int(rig.RUN_ID, 16) % 1000
    rig.run_container(name, "-p", f"{port}:80")
    app = DockportApp(source=("live", ""), poll_seconds=600)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            assert await until(pilot, lambda: app.state is not None and any(
                c.name == name for c in app.state.containers), 20)
            pane = app.query_one(ContainersPane)
            key = next(k for k, c in pane.choices.items() if c.container == name and c.binding.host_ip == "0.0.0.0")
            pane.focus()
            pane.move_cursor(row=pane.get_row_index(key))
            await pilot.press("enter")
            app.set_origin(f"external:{rig.CLIENT_IP}")
            assert await until(pilot, lambda: app.session.counter_deltas() is not None, 10)
            path = app.path
            assert path.verdict == "delivered" and path.via == "nat"
            assert all(v == 0 for v in app.session.counter_deltas().values())
            for _ in range(3):
                assert await asyncio.to_thread(rig.connect_from_ns, rig.CLIENT_NS, rig.HOST_SIDE_IP, port)
            dnat = next(i for i, h in enumerate(path.hops) if h.target == "DNAT")

            def moved() -> bool:
                deltas = app.session.counter_deltas() or {}
                return (deltas.get(dnat) or 0) >= 3

            assert await until(pilot, moved, 10)
            # Shown in the path table, in its own column.
            table = app.query_one(PathPane)
            assert "+pkts" in [str(c.label) for c in table.columns.values()]
            assert table.get_row_at(dnat)[1].plain.startswith("+")
    finally:
        rig.sh("docker", "rm", "-f", name, check=False)


async def test_a_rule_change_during_a_rules_read_waits_for_it(engine, monkeypatch):
    """Docker's one rule change comes as several notifications. The second one, arriving while the
    rules are being read, must not start the full collection beside that read (both then share the
    interpreter and the quick read loses its point): the collection starts when the read is done."""
    import threading
    import time

    from tui.collect import live
    from tui.ui.messages import RulesChanged

    app = DockportApp(source=("live", ""), poll_seconds=600)
    spans: dict[str, list[tuple[float, float]]] = {"read": [], "collect": []}
    lock = threading.Lock()
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state is not None, 20)
        await pilot.pause(1.0)
        real_read, real_collect = live.read_firewall, live.LiveCollector.collect

        def timed(kind, fn, pause=0.0):
            def run(*args):
                start = time.monotonic()
                time.sleep(pause)
                try:
                    return fn(*args)
                finally:
                    with lock:
                        spans[kind].append((start, time.monotonic()))
            return run

        monkeypatch.setattr(live, "read_firewall", timed("read", real_read, pause=0.8))
        monkeypatch.setattr(live.LiveCollector, "collect", timed("collect", real_collect))
        app.post_message(RulesChanged())
        await pilot.pause(0.2)
        app.post_message(RulesChanged())  # the read is running now
        assert await until(pilot, lambda: spans["read"] and spans["collect"], 10)
        # No collection ran beside any rules read (a real rule change on the host may add a read).
        read_start, read_end = spans["read"][0]
        assert all(start >= read_end for start, _end in spans["collect"]), (spans, read_start)
        assert not any(c_start < r_end and r_start < c_end
                       for c_start, c_end in spans["collect"] for r_start, r_end in spans["read"]), spans


async def test_a_rule_change_shows_before_the_full_collection(engine):
    """A rule-change notification reads the rules alone and shows them; the full collection (here
    made to take 5 s) follows. Without the quick read the rule would wait for it."""
    import time

    from tui.collect import live

    app = DockportApp(source=("live", ""), poll_seconds=600)
    rule = ["-I", "DOCKER-USER", "-p", "tcp", "-s", "203.0.113.78", "-j", "DROP"]
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state is not None, 20)
        await pilot.pause(1.0)
        real = live.LiveCollector.collect

        def slow(self):
            time.sleep(5)
            return real(self)

        real_read = live.read_firewall
        families: list[int | None] = []

        def read(backend=None, rules_before=None, family=None):
            families.append(family)
            return real_read(backend, rules_before, family)

        live.LiveCollector.collect = slow  # type: ignore[method-assign]
        live.read_firewall = read
        ipv6_before = app.state.rulesets[6]
        try:
            await asyncio.to_thread(rig.sh, "iptables", *rule)
            text = "-s 203.0.113.78/32 -p tcp -j DROP"
            started = time.monotonic()
            assert await until(pilot, lambda: any(text in r.text for r in app.state.rulesets[4].all_rules()), 4)
            assert time.monotonic() - started < 4
            # An iptables commit can change only IPv4's tables: only they were read.
            assert families and families[0] == 4, families
            assert app.state.rulesets[6] is ipv6_before
        finally:
            live.LiveCollector.collect = real  # type: ignore[method-assign]
            live.read_firewall = real_read
            rig.sh("iptables", "-D", *rule[1:], check=False)
