"""Firewall change notifications: `xtables-monitor --event` on iptables-nft hosts, `nft monitor`
where only nftables is installed (a Docker 29 host on its nftables backend). Both report every
nftables commit, of iptables-nft's tables and native ones alike.

Legacy iptables has no change notification; there the app keeps its cheap periodic re-collection.
The monitor is one child process with an argument list; `stop()` ends it, and the reader then returns.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from tui.collect.run import ends_with_its_thread


class RuleChangeMonitor:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._stopped = False

    @staticmethod
    def command(backend: str) -> list[str] | None:
        """The monitor for this host, None when it has none (legacy iptables, no tools). On a legacy
        host neither monitor hears iptables' own changes: the app's poll must stay frequent there."""
        if backend == "legacy":
            return None
        if shutil.which("xtables-monitor"):
            return ["xtables-monitor", "--event"]
        if shutil.which("nft"):
            return ["nft", "monitor", "ruleset"]
        return None

    @staticmethod
    def available(backend: str) -> bool:
        return RuleChangeMonitor.command(backend) is not None

    def run(self, on_change: Callable[[str], object], backend: str = "nft") -> str:
        """Block, calling on_change for each rule change, until stop(); returns why it ended.
        on_change gets the name of the process that committed the change ("" when not known)."""
        argv = self.command(backend)
        if argv is None:
            return "no xtables-monitor or nft"
        tool = argv[0]
        # Both block-buffer into a pipe: stdbuf makes each event arrive when it happens.
        if shutil.which("stdbuf"):
            argv = ["stdbuf", "-oL", *argv]
        # A killed app closes the pipe, and the monitor would live on until the next rule change.
        argv = ends_with_its_thread(argv)
        try:
            self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                                          errors="replace")
        except OSError as exc:
            return f"{tool}: {exc.strerror}"
        if self._stopped:  # stop() came while we were starting
            self._proc.terminate()
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if self._stopped:
                break
            # xtables-monitor: one NEWGEN line per committed change (after its EVENT lines); nft monitor
            # prints the change itself, a line per object (the collection that follows coalesces them).
            if tool != "xtables-monitor":
                if line.strip():
                    on_change("")
            elif line.startswith("NEWGEN:"):
                on_change(committed_by(line))
        code = self._proc.wait()
        return "stopped" if self._stopped else f"{tool} exited ({code})"

    def stop(self) -> None:
        self._stopped = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def committed_by(newgen: str) -> str:
    """The committing process's name in xtables-monitor's "NEWGEN: GENID=5 PID=31735 NAME=iptables"."""
    _, found, name = newgen.partition(" NAME=")
    return name.strip() if found else ""
