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
    committers: list[str] = []
    monitor = RuleChangeMonitor()
    ended: list[str] = []

    def noticed(by: str) -> None:
        committers.append(by)
        changes.set()

    runner = threading.Thread(target=lambda: ended.append(monitor.run(noticed, "unknown")), daemon=True)
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
    assert set(committers) == {""}  # nft monitor does not name the committing process


def test_xtables_monitor_names_who_committed_each_change(engine):
    """An iptables commit can change only IPv4 iptables tables, an ip6tables one only IPv6: the app
    then reads only that family. Anything else (here nft itself) gets a full read."""
    from tui.collect.firewall import family_written_by

    seen: list[str] = []
    monitor = RuleChangeMonitor()
    runner = threading.Thread(target=monitor.run, args=(seen.append, "nft"), daemon=True)
    runner.start()
    table, comment = f"dpt-watch-{rig.RUN_ID}", f"dpt-watch-{rig.RUN_ID}"
    match4 = ["-s", "203.0.113.79", "-m", "comment", "--comment", comment, "-j", "ACCEPT"]
    match6 = ["-s", "2001:db8::79", "-m", "comment", "--comment", comment, "-j", "ACCEPT"]
    try:
        for _ in range(20):  # the monitor subscribes a moment after it starts
            rig.sh("nft", "add", "table", "inet", table)
            rig.sh("nft", "delete", "table", "inet", table)
            if seen:
                break
            threading.Event().wait(0.25)
        assert seen, "no change noticed"
        rig.sh("iptables", "-t", "raw", "-I", "PREROUTING", *match4)
        rig.sh("ip6tables", "-t", "raw", "-I", "PREROUTING", *match6)
        for _ in range(40):
            if {"iptables", "ip6tables"} <= set(seen):
                break
            threading.Event().wait(0.1)
    finally:
        rig.sh("iptables", "-t", "raw", "-D", "PREROUTING", *match4, check=False)
        rig.sh("ip6tables", "-t", "raw", "-D", "PREROUTING", *match6, check=False)
        rig.sh("nft", "delete", "table", "inet", table, check=False)
        monitor.stop()
        runner.join(5)
    assert "nft" in seen and "iptables" in seen and "ip6tables" in seen, seen
    assert [family_written_by(name) for name in ("nft", "iptables", "ip6tables")] == [None, 4, 6]
