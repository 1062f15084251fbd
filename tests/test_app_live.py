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
