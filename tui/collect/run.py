"""The one way this app runs a program: an argument list, a timeout, never a shell."""

from __future__ import annotations

import functools
import shutil
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


def ends_with_its_thread(argv: list[str]) -> list[str]:
    """argv for a long-lived child (a monitor) that must not outlive this process, even when it is
    SIGKILLed and has no chance to stop it: under util-linux's setpriv, the child gets SIGTERM when
    the thread that started it ends (the kernel's parent-death signal). Each monitor is started
    by the thread that waits on it for the whole of its life. (A preexec_fn would do the same
    without setpriv, but is unsafe in a process with threads.) Without setpriv: argv unchanged."""
    return ["setpriv", "--pdeathsig", "TERM", "--", *argv] if _setpriv_knows_pdeathsig() else argv


@functools.cache
def _setpriv_knows_pdeathsig() -> bool:
    if not shutil.which("setpriv"):
        return False
    try:  # --pdeathsig came with util-linux 2.33
        out = subprocess.run(["setpriv", "--help"], capture_output=True, text=True, timeout=5,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--pdeathsig" in out.stdout
