"""The one way this app runs a program: an argument list, a timeout, never a shell."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

DEFAULT_TIMEOUT = 15.0


class CommandFailed(Exception):
    def __init__(self, argv: list[str], reason: str, *, missing: bool = False,
                 permission: bool = False) -> None:
        super().__init__(f"`{' '.join(argv)}` {reason}")
        self.argv = argv
        self.missing = missing
        self.permission = permission


@dataclass
class Completed:
    stdout: str
    stderr: str


def run(argv: list[str], timeout: float = DEFAULT_TIMEOUT) -> Completed:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except FileNotFoundError:
        raise CommandFailed(argv, "not found", missing=True) from None
    except PermissionError:
        raise CommandFailed(argv, "not permitted", permission=True) from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(argv, f"timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        err = (proc.stderr or "").strip().splitlines()
        reason = err[-1] if err else f"exited with {proc.returncode}"
        denied = any(w in (proc.stderr or "").lower()
                     for w in ("permission denied", "operation not permitted", "must be root"))
        raise CommandFailed(argv, f"failed: {reason}", permission=denied)
    return Completed(proc.stdout, proc.stderr)
