"""What the app's workers tell the UI, and the snapshot of the session the panes show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from msgspec import Struct, field
from textual.message import Message

from tui.model import Container, HostState, Stopped

if TYPE_CHECKING:  # the engine is imported after the first frame
    from tui.paths.findings import Finding
    from tui.paths.types import Path


class StateLoaded(Message):
    """A full collection, stamped with the session's sequence when it started."""

    def __init__(self, state: HostState, status: str, started_at: int) -> None:
        super().__init__()
        self.state = state
        self.status = status
        self.started_at = started_at


class SourceStatus(Message):
    def __init__(self, status: str) -> None:
        super().__init__()
        self.status = status


class ContainersChanged(Message):
    """Containers as Docker reports them right after a burst of events (None when gone, Stopped when it died)."""

    def __init__(self, changes: dict[str, Container | Stopped | None], events: list[object]) -> None:
        super().__init__()
        self.changes = changes
        self.events = events


class RefreshRequested(Message):
    """Something changed on the host (a Docker event, a firewall change): collect again."""


class RulesChanged(Message):
    """The firewall monitor reported a rule change: the rules are read at once, then all of it.
    `by`: the process that committed it, as the monitor names it ("" when not known)."""

    def __init__(self, by: str = "") -> None:
        super().__init__()
        self.by = by


# Compared by identity: a new snapshot is a new screen.
class View(Struct, frozen=True, eq=False):
    """What the data panes show: the app sets one, the panes bound to it redraw themselves."""

    state: HostState
    path: Path | None
    selected_key: str | None
    filter_text: str
    kernel_marks: Mapping[int, str] = field(default_factory=dict)  # hop index -> ✓/≠ after `verify`
    kernel_verdict: str = ""  # "confirmed by the kernel", or where it differs
    counters: Mapping[int, int | None] | None = None  # live: hop index -> packets its rule counted since
    # False on a start with data: the first frame's rows come before the findings are worked out
    # (their module and the path types with it); the marks come with the path, right after.
    findings_marked: bool = True


class Step(Struct, frozen=True, eq=False):
    """What the explanation shows: the path, the hop being explained (-1: the summary), findings."""

    path: Path | None
    index: int
    findings: tuple[Finding, ...]
