"""`dockport-tui serve`: the same app in a browser tab (textual-serve), for the projector.

textual-serve starts one app process per browser tab (`python -m tui ...`, Textual's web driver)
and relays the terminal over a websocket. Loopback by default: from a laptop, `ssh -L` reaches it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
import signal
import sys
from pathlib import Path

from tui.i18n import _


def app_command(demo: bool, bundle: str | None, lang: str | None) -> str:
    """The shell command textual-serve runs for each tab: this Python, this package, same source."""
    argv = [sys.executable, "-m", "tui"]
    if demo:
        argv.append("--demo")
    elif bundle:
        argv += ["--bundle", str(Path(bundle).resolve())]
    if lang:
        argv += ["--lang", lang]
    return " ".join(shlex.quote(a) for a in argv)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def exposure_warning(host: str) -> str:
    return _("warning: serving on {host}: anyone who can reach this port can use the app with the rights of "
             "{user} (uid {uid}). Prefer the default 127.0.0.1 and `ssh -L 8000:127.0.0.1:8000 HOST` from your "
             "laptop.").format(host=host, user=_user_name(), uid=os.geteuid())


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return "?"


def live_allowed() -> str:
    """Why this user could not run the live TUI ("" when it can): root, or access to Docker's socket."""
    if os.geteuid() == 0:
        return ""
    sock = Path("/var/run/docker.sock")
    if sock.exists() and os.access(sock, os.R_OK | os.W_OK):
        return ""
    return _("the live view needs root (or access to /var/run/docker.sock); serve --demo or --bundle DIR "
             "works without")


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (the app processes of open tabs), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_children() -> None:
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def serve(command: str, host: str, port: int, title: str = "dockport-tui") -> None:
    from textual_serve.server import Server

    server = Server(command, host=host, port=port, title=title)
    try:
        server.serve()
    finally:
        # A tab still open when the server stops would leave its app process running.
        stop_children()
