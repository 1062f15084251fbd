"""Run a terminal program in a pseudo-terminal of a given size and watch what it draws."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

_ESCAPES = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")


@dataclass
class Running:
    proc: subprocess.Popen
    master: int
    started: float
    seen: bytes = b""

    def wait_for(self, marker: bytes, timeout: float = 30.0) -> float | None:
        """Seconds from process start until `marker` was drawn; None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return None
                self.seen = (self.seen + chunk)[-200000:]
                if marker in self.seen:
                    return time.perf_counter() - self.started
        return None

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    # The program closed the terminal (it is exiting): wait out the time anyway, so
                    # that a loop of drains stays a loop of waits.
                    time.sleep(max(0.0, end - time.monotonic()))
                    return
                self.seen = (self.seen + chunk)[-200000:]

    def screen_text(self, last: int = 4000) -> str:
        """The end of what was drawn, with the terminal's escape sequences taken out: for a
        failing assertion to say what the screen held."""
        plain = _ESCAPES.sub(" ", self.seen[-last * 4:].decode(errors="replace"))
        return re.sub(r" {2,}", " ", plain)[-last:]

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.master)


def start(argv: list[str], cols: int = 120, rows: int = 40, env: dict | None = None) -> Running:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    environment = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows), **(env or {}))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=environment,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    return Running(proc, master, started)
