from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import rig

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures" / "docker-rulesets"


def _engine_available() -> str:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("dockerd"):
        return "needs dockerd (scripts/test installs it)"
    return ""


@pytest.fixture(scope="session")
def engine():
    """A running default daemon (iptables-nft, proxy on), the test image and the outside client."""
    reason = _engine_available()
    if reason:
        pytest.skip(reason)
    if rig.current_backend() != "nft":
        rig.set_backend("nft")
    if not rig.daemon_running():
        rig.start_daemon()
    rig.ensure_image()
    rig.make_client_ns()
    yield
    rig.cleanup_docker()
    rig.remove_client_ns()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} not present")
    return FIXTURES
