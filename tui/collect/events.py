"""Docker events turned into container updates, a burst at a time.

One thread reads the daemon's event stream and only queues what it reads, so a slow inspect never
holds up the stream. Another takes everything queued at once, keeps one entry per container (its
last action), inspects those containers side by side and hands over one batch. In a storm of a
hundred events this is a handful of batches instead of a hundred renders, and the inspects of a
batch overlap instead of queueing behind each other.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from tui.collect.docker_json import container_from_inspect
from tui.model import Container, Stopped

# Actions after which the container no longer exists: no inspect needed to know it is gone.
GONE = frozenset({"destroy"})
# Actions after which it is known to be stopped. Its inspect is still asked for, but under `rm -f`
# that answers only once the removal is done, a second or more later.
STOPPED = frozenset({"die", "stop"})
# Actions that change nothing a pane shows: no inspect, no collection. `kill` precedes `die`; the
# rest are exec sessions, health checks and copies, which come every few seconds on busy hosts.
QUIET_PREFIXES = ("kill", "exec_", "attach", "detach", "resize", "top", "export", "commit", "copy",
                  "archive-path", "extract-to-dir", "health_status")
INSPECT_WORKERS = 8
# Actions whose inspect the daemon answers only when it lets go of the container: a created one is
# being started (`docker run`), a dead one removed (`rm -f`). Measured in a storm of 30 containers:
# these inspects took a median 0.4-0.9 s and up to 1.5 s, the inspect after `start` 18 ms. They get
# workers of their own, so that they never hold up the inspects that bring a started container's ports.
HELD_BY_DOCKER = frozenset({"create"}) | STOPPED
HELD_WORKERS = 4
# How long a batch waits for its inspects before it is handed over without the slow ones (a
# container being removed answers its inspect only when the removal is done, a second later).
BATCH_WAIT = 0.15


# Put in the queue when an inspect answers: wakes the batching thread (never handed over).
_ANSWERED = object()


def _action(event: dict) -> str:
    return str(event.get("Action") or event.get("status") or "")


def container_actions(events: Iterable[Any]) -> dict[str, str]:
    """Container id -> its last action that matters to the panes, in first-seen order."""
    out: dict[str, str] = {}
    for event in events:
        if not isinstance(event, dict) or event.get("Type") != "container":
            continue
        cid = event.get("id") or (event.get("Actor") or {}).get("ID")
        action = _action(event)
        if cid and not action.startswith(QUIET_PREFIXES):
            out[cid] = action
    return out


def matters(events: Iterable[Any]) -> bool:
    """Does this burst call for a full collection? Not when it is only exec sessions and the like."""
    return any(not (isinstance(e, dict) and e.get("Type") == "container" and _action(e).startswith(QUIET_PREFIXES))
               for e in events)


def inspect_one(api: Any, cid: str) -> Container | None:
    """The container as it is now; None when it is gone. Other errors propagate."""
    from docker.errors import NotFound

    try:
        return container_from_inspect(api.inspect_container(cid))
    except NotFound:
        return None


class EventFeed:
    """Reads Docker events until stopped; calls `on_batch(changes, raw_events)` per burst and
    `on_status(text)` when the stream breaks. Both callbacks run on the feed's own threads."""

    def __init__(self, on_batch: Callable[[dict[str, Container | Stopped | None], list[Any]], object],
                 on_status: Callable[[str], object], client_factory: Callable[[], Any] | None = None,
                 source: Iterable[Any] | None = None) -> None:
        self._on_batch = on_batch
        self._on_status = on_status
        self._client_factory = client_factory
        self._source = source  # a finite fake stream (tests): read once, no inspects
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        self.stream: Any = None  # the live stream, closed by stop() to unblock its reader
        self._client: Any = None

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        stream = self.stream
        if stream is not None and hasattr(stream, "close"):
            try:
                stream.close()
            except Exception:
                pass

    def read_forever(self) -> None:
        """The reader thread: the event stream into the queue, reconnecting after a break."""
        while not self._stop.is_set():
            try:
                if self._source is not None:
                    stream = self._source
                else:
                    if self._client is None:
                        assert self._client_factory is not None
                        self._client = self._client_factory()
                    stream = self._client.events(decode=True, filters={"type": ["container", "network"]})
                self.stream = stream
                for event in stream:
                    if self._stop.is_set():
                        return
                    self._queue.put(event)
                if self._source is not None:
                    self._queue.put(None)
                    return  # a finite fake source: done
                if not self._stop.is_set():
                    self._on_status("stale: Docker events stream ended (reconnecting)")
            except Exception:
                if not self._stop.is_set():
                    self._on_status("daemon unreachable (retrying)")
                self._client = None
            if self._stop.wait(2.0):
                return
            self._queue.put({"Type": "reconnected"})  # catch up on what happened while away

    def apply_forever(self) -> None:
        """The batching thread: everything queued so far becomes one batch. Inspects run side by
        side; a batch waits for its own quick inspects at most BATCH_WAIT, and an answer that comes
        later goes with a later batch, unless a newer event about that container superseded it
        meanwhile. An answer wakes this thread like an event does (it used to look every BATCH_WAIT,
        and an event that came meanwhile waited for that too)."""
        latest: dict[str, int] = {}  # container id -> number of its newest event
        pending: dict[Future, tuple[str, int]] = {}
        queued: dict[str, Future] = {}  # container id -> its newest inspect, perhaps not started yet
        counter = 0

        def answered(_future: Future) -> None:
            self._queue.put(_ANSWERED)

        with ThreadPoolExecutor(max_workers=INSPECT_WORKERS, thread_name_prefix="dockport-inspect") as pool, \
                ThreadPoolExecutor(max_workers=HELD_WORKERS, thread_name_prefix="dockport-inspect-held") as held:
            while not self._stop.is_set():
                burst = self._take_burst()
                if burst is None:
                    return
                burst = [event for event in burst if event is not _ANSWERED]
                changes: dict[str, Container | Stopped | None] = {}
                quick: list[Future] = []  # this burst's inspects that should answer at once
                client = self._client  # the reader may drop it meanwhile (daemon gone)
                for cid, action in container_actions(burst).items():
                    counter += 1
                    latest[cid] = counter
                    if action in GONE:
                        changes[cid] = None
                        continue
                    if action in STOPPED:
                        changes[cid] = Stopped()
                    if client is not None and self._source is None:
                        older = queued.get(cid)
                        if older is not None and older.cancel():  # superseded before it was asked
                            pending.pop(older, None)
                        lane = held if action in HELD_BY_DOCKER else pool
                        future = lane.submit(inspect_one, client.api, cid)
                        pending[future], queued[cid] = (cid, counter), future
                        future.add_done_callback(answered)
                        if lane is pool:
                            quick.append(future)
                # What is known already (a removal) is not held back for the inspects.
                if quick and not changes:
                    wait(quick, timeout=BATCH_WAIT)
                for future in [f for f in pending if f.done()]:
                    cid, number = pending.pop(future)
                    if latest.get(cid) != number or future.cancelled() or future.exception() is not None:
                        continue  # superseded, or the daemon hiccuped: the collection settles it
                    changes[cid] = future.result()
                waiting = {cid for cid, _n in pending.values()}
                for cid in [c for c in latest if c not in waiting]:
                    del latest[cid]  # nothing of it in flight: its next event starts afresh
                    queued.pop(cid, None)
                if (changes or matters(burst)) and not self._stop.is_set():
                    self._on_batch(changes, burst)

    def _take_burst(self) -> list | None:
        """Everything queued, once something is (an event, or an inspect's answer); None when it is
        time to stop."""
        burst: list = []
        item = self._queue.get()
        while True:
            if item is None:
                if self._stop.is_set() or self._source is not None:
                    return burst or None
            else:
                burst.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return burst
