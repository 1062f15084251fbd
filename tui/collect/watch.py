"""Firewall change notifications: `xtables-monitor --event` on iptables-nft hosts.

Legacy iptables has no change notification; there the app keeps its cheap periodic re-collection.
The monitor is one child process with an argument list; `stop()` ends it, and the reader then returns.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable


class RuleChangeMonitor:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._stopped = False

    @staticmethod
    def available(backend: str) -> bool:
        return backend == "nft" and shutil.which("xtables-monitor") is not None

    def run(self, on_change: Callable[[], object]) -> str:
        """Block, calling on_change for each rule change, until stop(); returns why it ended."""
        # xtables-monitor block-buffers into a pipe: stdbuf makes each event arrive when it happens.
        argv = ["xtables-monitor", "--event"]
        if shutil.which("stdbuf"):
            argv = ["stdbuf", "-oL", *argv]
        try:
            self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                                          errors="replace")
        except OSError as exc:
            return f"xtables-monitor: {exc.strerror}"
        if self._stopped:  # stop() came while we were starting
            self._proc.terminate()
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if self._stopped:
                break
            if line.startswith("NEWGEN:"):  # one per committed ruleset change (after its EVENT lines)
                on_change()
        code = self._proc.wait()
        return "stopped" if self._stopped else f"xtables-monitor exited ({code})"

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
