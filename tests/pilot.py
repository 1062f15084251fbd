"""Waiting on a running app (Textual Pilot) without a fixed sleep: bounded polling of a condition."""

from __future__ import annotations

from collections.abc import Callable


async def until(pilot, condition: Callable[[], object], seconds: float, step: float = 0.1) -> bool:
    """True as soon as `condition()` holds, False when it still does not after `seconds`."""
    for _ in range(int(seconds / step)):
        if condition():
            return True
        await pilot.pause(step)
    return bool(condition())
