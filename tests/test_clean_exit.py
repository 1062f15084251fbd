"""Quitting leaves nothing behind: `q`, Ctrl-C and SIGTERM end the live app quickly, its child
processes (xtables-monitor) and threads with it, and the terminal is given back."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from benchmarks import pty_run
from tests import rig

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("how", ["q", "ctrl-c", "sigterm", "sighup"])
def test_quit_leaves_no_process_and_restores_the_terminal(engine, how):
    r = pty_run.start([sys.executable, "-m", "tui"])
    try:
        assert r.wait_for(b"Containers", 60) is not None
        for _ in range(50):  # the firewall monitor starts after the first collection
            kids = rig.children(r.proc.pid)
            if kids:
                break
            r.drain(0.1)
        assert kids, "no xtables-monitor child: the rule-change watch did not start"
        threads = len(os.listdir(f"/proc/{r.proc.pid}/task"))
        assert threads > 1
        started = time.monotonic()
        if how == "q":
            os.write(r.master, b"q")
        elif how == "ctrl-c":
            os.write(r.master, b"\x03")
        else:
            r.proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
        while r.proc.poll() is None and time.monotonic() - started < 10:
            r.drain(0.1)
        r.drain(0.2)
        elapsed = time.monotonic() - started
        assert r.proc.poll() is not None, f"still running {elapsed:.1f}s after {how}"
        assert elapsed < 5, f"{how}: took {elapsed:.1f}s to exit"
        assert r.proc.returncode == 0, f"{how}: exit status {r.proc.returncode}"
        time.sleep(0.3)
        assert not [k for k in kids if rig.alive(k)], f"children left after {how}"
        # Textual leaves the alternate screen and shows the cursor again on its way out.
        assert b"\x1b[?1049l" in r.seen[-8000:], f"terminal not restored after {how}"
    finally:
        r.stop()


def test_a_killed_app_leaves_no_rule_monitor(engine):
    """SIGKILL gives the app no chance to stop its xtables-monitor. Its pipe closes, but the monitor
    would notice only when it next writes, at the next rule change: the kernel's parent-death
    signal ends it at once."""
    r = pty_run.start([sys.executable, "-m", "tui"])
    try:
        assert r.wait_for(b"Containers", 60) is not None
        kids: set[int] = set()
        for _ in range(50):  # the firewall monitor starts after the first collection
            kids = {k for k in rig.children(r.proc.pid) if "xtables-monitor" in rig.command_line(k)}
            if kids:
                break
            r.drain(0.1)
        assert kids, "no xtables-monitor child: the rule-change watch did not start"
        r.proc.kill()
        r.proc.wait(10)
        assert rig.gone_within(kids, 5), "the rule monitor outlived the killed app"
    finally:
        r.stop()
