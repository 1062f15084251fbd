"""Rule changes in native nftables tables reach the app: through `nft monitor` where there is no
xtables-monitor (a Docker 29 host on its nftables backend need not have iptables at all)."""

from __future__ import annotations

import threading

import pytest

from tests import rig
from tui.collect import watch
from tui.collect.watch import RuleChangeMonitor

pytestmark = pytest.mark.engine


def test_a_native_table_change_is_noticed_without_xtables_monitor(engine, monkeypatch):
    real_which = watch.shutil.which
    monkeypatch.setattr(watch.shutil, "which", lambda name: None if name == "xtables-monitor" else real_which(name))
    assert RuleChangeMonitor.command("unknown") == ["nft", "monitor", "ruleset"]
    changes = threading.Event()
    monitor = RuleChangeMonitor()
    ended: list[str] = []
    runner = threading.Thread(target=lambda: ended.append(monitor.run(changes.set, "unknown")), daemon=True)
    runner.start()
    table = f"dpt-watch-{rig.RUN_ID}"
    try:
        for _ in range(20):  # the monitor subscribes a moment after it starts
            rig.sh("nft", "add", "table", "inet", table)
            rig.sh("nft", "delete", "table", "inet", table)
            if changes.wait(0.25):
                break
        assert changes.is_set(), "no change noticed"
    finally:
        rig.sh("nft", "delete", "table", "inet", table, check=False)
        monitor.stop()
        runner.join(5)
    assert ended == ["stopped"]
