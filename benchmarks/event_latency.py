"""Event → screen, measured from the event itself (issue 16 §3).

The live app runs in a pseudo-terminal of 120x40, as a user runs it, on a host with 100 containers.
For each change the clock starts at the moment the source reported it and stops when the terminal
receives a frame that shows it:

- container start, stop and a new `-p` mapping: Docker's own `timeNano` of the `start` / `die`
  event (the daemon's clock is this machine's clock);
- a rule change: the moment our own `xtables-monitor --event` (or `nft monitor`) delivered the
  change, since no Docker event exists for it; the app should show it within 100 ms of that.

The changed row must be on screen, so the benchmark's own containers sort first ("0dpt-bench-…"),
and the rule goes to raw/PREROUTING, the first chain of the rules pane. What the terminal received
is read from the pty as it arrives: a frame "shows" the change when the marker (a started
container's own address, the stopped container's name, the new rule's source) is in the bytes
written after the change. (Not the host port: a created container's row shows the port it asked
for already, and Textual writes only the cells that changed.)
"""

from __future__ import annotations

import functools
import os
import queue
import re
import select
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from benchmarks import pty_run
from benchmarks.figures import Figure

PY = sys.executable
PREFIX = "dpt-bench-"
FIRST = "0" + PREFIX  # sorts before every other name: the row is on screen
RULE_COMMENT = PREFIX + "rule"


def _docker(*argv: str, check: bool = True) -> str:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=check, timeout=120).stdout


class DockerEvents:
    """Docker's event stream, read in a thread: (action, name, timeNano) of our containers."""

    def __init__(self) -> None:
        import docker

        self.client = docker.from_env(timeout=30)
        self.stream = self.client.events(decode=True, filters={"type": "container"})
        self.events: queue.Queue[tuple[str, str, int]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for ev in self.stream:
                name = (ev.get("Actor") or {}).get("Attributes", {}).get("name", "")
                if name.startswith(FIRST):
                    self.events.put((ev.get("Action", ""), name, int(ev.get("timeNano", 0))))
        except Exception:
            return

    def wait(self, action: str, name: str, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            if got[0] == action and got[1] == name:
                return got[2]
        raise TimeoutError(f"no {action} event for {name}")

    def close(self) -> None:
        self.stream.close()
        self.client.close()


class FirewallMonitor:
    """Our own `xtables-monitor --event` (or `nft monitor`): when each change was delivered."""

    def __init__(self) -> None:
        from tui.collect.watch import RuleChangeMonitor

        argv = RuleChangeMonitor.command("nft") or ["nft", "monitor"]
        # The app's own monitor, line-buffered as the app runs it (both block-buffer into a pipe).
        self.proc = subprocess.Popen(["stdbuf", "-oL", *argv], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.lines: queue.Queue[tuple[str, int]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((line, time.time_ns()))

    def wait(self, marker: str, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line, at = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if marker in line:
                return at
        raise TimeoutError(f"the monitor did not report {marker}")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


class Screen:
    """The app's terminal: bytes as they arrive, each chunk stamped with the wall clock.

    A thread of its own reads the terminal all the time. (Read only while the benchmark waited, a
    frame written while `docker kill` or the event wait ran was stamped when it was read, up to a
    hundred milliseconds after it was written: the stops measured the docker CLI, not the app.)"""

    def __init__(self, running: pty_run.Running) -> None:
        self.r = running
        self.chunks: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            ready, _, _ = select.select([self.r.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.r.master, 65536)
            except OSError:
                return  # the app closed its terminal
            with self._lock:
                self.chunks.append((time.time_ns(), chunk))

    def close(self) -> None:
        self._closed.set()
        self._reader.join(2)

    def pump(self, seconds: float) -> None:
        """Let the app run (the reader thread takes what it draws)."""
        time.sleep(seconds)

    def drawn(self, text: bytes) -> bool:
        with self._lock:
            return any(text in chunk for _t, chunk in self.chunks)

    def mark(self) -> None:
        """Forget what was drawn so far; what follows is compared against the next change."""
        with self._lock:
            self.chunks.clear()

    def shown_at(self, marker: bytes, timeout: float = 10, after: int = 0) -> int | None:
        """Wall time (ns) of the first chunk after `mark()`, and written at `after` or later, that
        completes `marker` (not followed by a digit: 172.17.0.3 is not 172.17.0.37)."""
        deadline = time.monotonic() + timeout
        seen = b""
        checked = 0
        pattern = re.compile(re.escape(marker) + rb"(?!\d)")
        while time.monotonic() < deadline:
            with self._lock:
                fresh = self.chunks[checked:]
                checked = len(self.chunks)
            for at, chunk in fresh:
                if at < after:
                    continue
                seen += chunk
                if pattern.search(seen):
                    return at
            time.sleep(0.02)
        return None


def _sample(samples: list[float], screen: Screen, t0: int, marker: Callable[[], bytes]) -> None:
    """Milliseconds from `t0` (ns, this machine's clock) to the first frame written after it that
    shows `marker()` (asked for after `t0`: a container's address exists once it started)."""
    shown = screen.shown_at(marker(), after=t0)
    if shown is not None:
        samples.append((shown - t0) / 1e6)


def _address(name: str) -> bytes:
    return _docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).strip().encode()


def _fill(count: int, image: str) -> list[str]:
    names = [f"{PREFIX}fill{i}" for i in range(count)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda n: _docker("run", "-d", "--name", n, "-p", "80", image), names))
    return names


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _figure(what: str, samples: list[float], target: str, ok: bool) -> Figure:
    return Figure(what, f"median {statistics.median(samples):.0f} ms, p95 {_percentile(samples, 0.95):.0f} ms "
                  f"({len(samples)} events)", target, ok)


def event_to_screen(rounds: int, containers: int = 100) -> list[Figure]:
    from tests import rig

    rig.ensure_image()
    made: list[str] = []
    app = events = monitor = screen = None
    starts, stops, maps, rules = [], [], [], []
    try:
        existing = len(_docker("ps", "-aq").split())
        made += _fill(max(0, containers - 2 - existing), rig.IMAGE)  # with each round's two: `containers`
        events, monitor = DockerEvents(), FirewallMonitor()
        app = pty_run.start([PY, "-m", "tui"], cols=120, rows=40)
        screen = Screen(app)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not screen.drawn(f"{PREFIX}fill".encode()):
            screen.pump(0.2)
        screen.pump(3.0)  # the first collection settles
        for i in range(rounds):
            name, other = f"{FIRST}ev{i}", f"{FIRST}map{i}"
            port, port2, rule_port = 47000 + i, 47500 + i, 48000 + i
            # A created container is a row already; starting it maps its port.
            _docker("create", "--name", name, "-p", f"{port}:80", rig.IMAGE)
            made.append(name)
            screen.pump(1.5)
            screen.mark()
            _docker("start", name)
            # The started container's own address: the one thing of its row that a frame must
            # draw (Textual writes only the cells that changed, so the port need not be redrawn).
            _sample(starts, screen, events.wait("start", name), functools.partial(_address, name))
            screen.pump(1.0)
            screen.mark()
            _docker("kill", name)
            _sample(stops, screen, events.wait("die", name), name.encode)
            screen.pump(1.0)
            screen.mark()
            _docker("run", "-d", "--name", other, "-p", f"{port2}:80", rig.IMAGE)
            made.append(other)
            # Its row shows the port it asked for from `create` on: the address shows it started.
            _sample(maps, screen, events.wait("start", other), functools.partial(_address, other))
            screen.pump(1.0)
            screen.mark()
            subprocess.run(["iptables", "-t", "raw", "-I", "PREROUTING", "-s", f"198.51.100.{i + 1}/32", "-p", "tcp",
                            "--dport", str(rule_port), "-m", "comment", "--comment", RULE_COMMENT, "-j", "ACCEPT"],
                           check=True, capture_output=True)
            # The start of the rule's short form in the rules pane.
            _sample(rules, screen, monitor.wait(str(rule_port)), f"198.51.100.{i + 1}/32".encode)
            # The next round's containers sort before this one's: remove these to keep the top rows ours.
            _docker("rm", "-f", name, other)
            made = [m for m in made if m not in (name, other)]
            screen.pump(1.0)
    finally:
        if screen is not None:
            screen.close()  # before the terminal is closed under its reader
        if app is not None:
            app.stop()
        for closing in (events, monitor):
            if closing is not None:
                closing.close()
        _remove_rules()
        if made:
            subprocess.run(["docker", "rm", "-f", *made], capture_output=True, timeout=300)
    docker_samples = starts + stops + maps
    missed = 3 * rounds - len(docker_samples)
    out = [_figure(f"event → screen from Docker's timeNano, {containers} containers: start, stop, new -p"
                   + (f" ({missed} never shown)" if missed else ""), docker_samples,
                   "median ≤ 100 ms, p95 ≤ 250 ms",
                   not missed and statistics.median(docker_samples) <= 100 and _percentile(docker_samples, .95) <= 250)]
    for what, xs in (("start", starts), ("stop", stops), ("new -p mapping", maps)):
        if xs:
            out.append(_figure(f"  of which {what}", xs, "", None))
    if rules:
        out.append(_figure("rule change → screen, from the firewall monitor's delivery", rules,
                           "≤ 100 ms after the monitor", len(rules) == rounds and statistics.median(rules) <= 100))
    return out


def _remove_rules() -> None:
    listing = subprocess.run(["iptables", "-t", "raw", "-S", "PREROUTING"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if RULE_COMMENT in line and line.startswith("-A "):
            subprocess.run(["iptables", "-t", "raw", "-D", *line.split()[1:]], capture_output=True)


if __name__ == "__main__":
    for f in event_to_screen(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
        print(f"{f.name}: {f.value} (target {f.target})")
