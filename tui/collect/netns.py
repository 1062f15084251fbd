"""Run a function inside another network namespace without a subprocess and without moving the app.

A short-lived thread joins the namespace with setns(2), which changes only the calling thread,
runs the function (sockets it opens belong to that namespace), and ends; the rest of the process
never leaves the host's namespace. Opening the namespace file read-only never creates one.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def call_in_netns(path: str, fn: Callable[[], T], timeout: float = 10.0) -> T:
    target = os.open(path, os.O_RDONLY)  # FileNotFoundError when the namespace is gone
    result: dict[str, object] = {}

    def inside() -> None:
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns {path}: {os.strerror(err)}")
            result["value"] = fn()
        except BaseException as exc:  # handed to the caller
            result["error"] = exc
        # The thread ends here, and its namespace with it: nothing else ran in it.

    try:
        worker = threading.Thread(target=inside, name="dockport-netns", daemon=True)
        worker.start()
        worker.join(timeout)
    finally:
        os.close(target)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    if "value" not in result:
        raise TimeoutError(f"nothing came back from {path} within {timeout:.0f}s")
    return result["value"]  # type: ignore[return-value]
