"""Started as an ordinary user: the app says what it could not read, why, and how to get it, shows
what it can, and never calls a path certain when the rules were unreadable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from benchmarks import pty_run
from tests import rig

pytestmark = pytest.mark.engine
REPO = Path(__file__).resolve().parent.parent


def _as_nobody(*args: str) -> list[str]:
    """argv that runs `python -m tui ARGS` as nobody, with a Python nobody may execute."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    site = sysconfig.get_paths()["purelib"]
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "env", "HOME=/tmp", f"PYTHONPATH={REPO}:{site}", python, "-m", "tui", *args]


@pytest.fixture(scope="module")
def published(engine):
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv (util-linux)")
    name = rig.run_container(rig.name("noroot"), "-p", "80")
    yield rig.host_port(name, "80/tcp")
    rig.sh("docker", "rm", "-f", name, check=False)


def test_trace_as_ordinary_user_is_uncertain_and_says_why(published, tmp_path):
    out = subprocess.run(_as_nobody("trace", str(published)), capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr  # uncertain, never "delivered"
    assert "verdict: uncertain" in out.stdout
    assert "the firewall rules were not read" in out.stdout
    err = out.stderr
    assert "Docker daemon not reachable" in err and "docker group" in err
    assert "rules not read" in err and "run as root" in err
    assert "orphan" not in out.stdout and "leftover" not in out.stdout  # no verdicts on unknown containers


def test_tui_as_ordinary_user_names_the_gaps(published, tmp_path):
    r = pty_run.start(_as_nobody())
    try:
        assert r.wait_for(b"Docker not reachable", 60) is not None, r.screen_text()
        r.drain(1.0)
        os.write(r.master, b"w")
        assert r.wait_for(b"Not captured", 10) is not None
        r.drain(0.5)
        screen = r.seen.decode(errors="replace")
        for text in ("docker", "rules", "docker group", "run as root"):
            assert text in screen, text
        os.write(r.master, b"w")  # closes the warnings again
        r.drain(0.5)
        os.write(r.master, b"q")
        # The terminal closes a moment before the process is gone; on a loaded machine, more.
        assert r.proc.wait(timeout=10) == 0
    finally:
        r.stop()
