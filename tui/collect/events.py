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
# How long a batch waits for its inspects before it is handed over without the slow ones (a
# container being removed answers its inspect only when the removal is done, a second later).
BATCH_WAIT = 0.15


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
        side; a batch waits for them at most BATCH_WAIT, and an answer that comes later goes with
        a later batch, unless a newer event about that container superseded it meanwhile."""
        latest: dict[str, int] = {}  # container id -> number of its newest event
        pending: dict[Future, tuple[str, int]] = {}
        counter = 0
        with ThreadPoolExecutor(max_workers=INSPECT_WORKERS, thread_name_prefix="dockport-inspect") as pool:
            while not self._stop.is_set():
                burst = self._take_burst(block=not pending)
                if burst is None:
                    return
                changes: dict[str, Container | Stopped | None] = {}
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
                        pending[pool.submit(inspect_one, client.api, cid)] = (cid, counter)
                if pending:
                    # What is known already (a removal) is not held back for the slow inspects.
                    done, _ = wait(list(pending), timeout=0 if changes else BATCH_WAIT)
                    for future in done:
                        cid, number = pending.pop(future)
                        if latest.get(cid) != number or future.exception() is not None:
                            continue  # superseded, or the daemon hiccuped: the collection settles it
                        changes[cid] = future.result()
                waiting = {cid for cid, _n in pending.values()}
                for cid in [c for c in latest if c not in waiting]:
                    del latest[cid]  # nothing of it in flight: its next event starts afresh
                if (changes or matters(burst)) and not self._stop.is_set():
                    self._on_batch(changes, burst)

    def _take_burst(self, block: bool) -> list | None:
        """Everything queued now ([] when nothing and not blocking); None when it is time to stop."""
        burst: list = []
        try:
            item = self._queue.get() if block else self._queue.get_nowait()
        except queue.Empty:
            return burst
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
