"""Load on the real engine, and the app's delay measured from Docker's own event times.

Used by the suite (short runs) and by `python -m benchmarks` (the storm and the 10-minute churn).
Containers made here carry the rig's prefix and a label naming the run, and are removed again.

The clock: Docker stamps each event with `timeNano` (the daemon's wall clock, this host's). The app
runs in this process (Textual's Pilot); a sampler reads its containers pane every few milliseconds
and stamps, per container id, when its published row was first seen and when the last row of it
went. Both clocks are `time.time()` of one host.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tests import rig


def _docker(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout)


class EventClock:
    """Docker's own times of this run's container events: (id, action) -> seconds since the epoch."""

    def __init__(self, label: str) -> None:
        import docker

        self._client = docker.from_env(timeout=30)
        self._stream = self._client.events(decode=True, filters={"type": ["container"], "label": [label]})
        self.times: dict[tuple[str, str], list[float]] = {}
        self.names: dict[str, str] = {}  # id -> name
        self._thread = threading.Thread(target=self._read, name="dpt-event-clock", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for ev in self._stream:
                cid = ev.get("id") or ""
                action = str(ev.get("Action") or ev.get("status") or "")
                self.times.setdefault((cid, action), []).append(ev["timeNano"] / 1e9)
                name = ((ev.get("Actor") or {}).get("Attributes") or {}).get("name")
                if name:
                    self.names[cid] = name
        except Exception:
            pass

    def first(self, cid: str, action: str) -> float | None:
        t = self.times.get((cid, action))
        return t[0] if t else None

    def ids(self, action: str) -> list[str]:
        return [cid for (cid, a) in self.times if a == action]

    def stop(self) -> None:
        try:
            self._stream.close()
        except Exception:
            pass
        self._thread.join(5)
        self._client.close()


@dataclass
class RowWatch:
    """When each container's published row was first on screen, when no published row of it was
    left (it stopped), and when its last row of any kind went (it was removed)."""

    first_seen: dict[str, float] = field(default_factory=dict)
    unpublished_at: dict[str, float] = field(default_factory=dict)
    gone_at: dict[str, float] = field(default_factory=dict)
    samples: int = 0

    def sample(self, pane) -> None:
        now = time.time()
        self.samples += 1
        shown = {c.container_id for c in pane.choices.values()}
        published = {c.container_id for c in pane.choices.values() if c.binding.host_port}
        for cid in published:
            self.first_seen.setdefault(cid, now)
            self.gone_at.pop(cid, None)
            self.unpublished_at.pop(cid, None)
        for cid in list(self.first_seen):
            if cid not in published:
                self.unpublished_at.setdefault(cid, now)
            if cid not in shown:
                self.gone_at.setdefault(cid, now)


def watch_frames(app, pane, watch: RowWatch) -> None:
    """Stamp the rows at each frame the app composes: a row is on screen from the first frame that
    shows it. (A sampler on the event loop would stamp late under load: Pilot's pause waits for
    every widget's queue to drain first.)"""
    compose = app._display

    def display(screen, renderable):
        compose(screen, renderable)
        if renderable is not None:
            watch.sample(pane)

    app._display = display


def run_labelled(name: str, label: str, *args: str) -> str:
    out = _docker("run", "-d", "--name", name, "--label", label, "-p", "80", *args, rig.IMAGE)
    if out.returncode:
        raise RuntimeError(f"docker run {name}: {out.stderr.strip()}")
    return out.stdout.strip()


def storm(names: list[str], label: str, parallel: int = 8) -> list[str]:
    """Start every container with `parallel` clients at once; returns their ids."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(lambda n: run_labelled(n, label), names))


def remove(names: list[str]) -> None:
    if names:
        _docker("rm", "-f", *names, timeout=300)


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


@dataclass
class StormFigures:
    appear: list[float]  # per container: row first seen - its start event
    all_shown_after_last_start: float
    all_unpublished_after_last_die: float  # no published row left: the containers are stopped
    all_gone_after_last_destroy: float  # no row at all: Docker takes ~1.4 s from the last die to it
    missing: list[str]  # ids whose row never appeared or never left

    @property
    def p95(self) -> float:
        return percentile(self.appear, 95)

    @property
    def median(self) -> float:
        return statistics.median(self.appear) if self.appear else float("nan")


def storm_figures(ids: list[str], clock: EventClock, watch: RowWatch) -> StormFigures:
    appear, missing = [], []
    for cid in ids:
        start, seen = clock.first(cid, "start"), watch.first_seen.get(cid)
        if start is None or seen is None:
            missing.append(cid)
            continue
        appear.append(max(0.0, seen - start))
    starts = [t for cid in ids if (t := clock.first(cid, "start")) is not None]
    dies = [t for cid in ids if (t := clock.first(cid, "die")) is not None]
    destroys = [t for cid in ids if (t := clock.first(cid, "destroy")) is not None]
    seen = [watch.first_seen[c] for c in ids if c in watch.first_seen]
    gone = [watch.gone_at.get(c) for c in ids]
    unpublished = [watch.unpublished_at.get(c) for c in ids]
    missing += [c for c, g in zip(ids, gone, strict=True) if g is None and c not in missing]
    return StormFigures(
        appear=appear,
        all_shown_after_last_start=(max(seen) - max(starts)) if seen and starts else float("nan"),
        all_unpublished_after_last_die=(max(u for u in unpublished if u is not None) - max(dies))
        if dies and any(u is not None for u in unpublished) else float("nan"),
        all_gone_after_last_destroy=(max(g for g in gone if g is not None) - max(destroys))
        if destroys and any(g is not None for g in gone) else float("nan"),
        missing=missing,
    )


def docker_ps_ids() -> set[str]:
    return set(_docker("ps", "-aq", "--no-trunc").stdout.split())


def process_rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or 'self'}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int | None = None, samples: int = 5) -> int:
    """The fewest open descriptors over a second: a connection in flight is not a leak."""
    import os

    counts = []
    for i in range(samples):
        counts.append(len(os.listdir(f"/proc/{pid or 'self'}/fd")))
        if i < samples - 1:
            time.sleep(0.2)
    return min(counts)


def single_figures(ids: list[str], clock: EventClock, watch: RowWatch) -> tuple[list[float], list[float]]:
    """Per container: (row first seen - start event) and (last row gone - destroy event)."""
    appear, leave = [], []
    for cid in ids:
        start, destroy = clock.first(cid, "start"), clock.first(cid, "destroy")
        if start is not None and cid in watch.first_seen:
            appear.append(max(0.0, watch.first_seen[cid] - start))
        if destroy is not None and cid in watch.gone_at:
            leave.append(max(0.0, watch.gone_at[cid] - destroy))
    return appear, leave
