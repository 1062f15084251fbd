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
    # A run that died (a crash skips every finally) or a hand repair may have left another host.
    for change in rig.default_host():
        print(f"default host: {change}")
    rig.ensure_image()
    rig.make_client_ns()
    yield
    rig.cleanup_docker()
    rig.remove_client_ns()
    # A daemon restarted after an IPv6 one turns IPv6 forwarding on again (its bridge remembers
    # IPv6): the machine goes back to the default host when the run ends, not only when it starts.
    for change in rig.default_host():
        print(f"default host restored: {change}")


@pytest.fixture(scope="module")
def built_hosts(engine):
    """The network-namespace hosts of one test module's scenarios, one at a time (nsrig.OneHostAtATime)."""
    from tests import nsrig

    hosts = nsrig.OneHostAtATime()
    yield hosts
    hosts.close()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} not present")
    return FIXTURES


# Under CI (CI=true, set by .ci/run) an engine test that skips is a failure: a green run must mean
# that the kernel judged. The summary says how many cases it judged.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and item.get_closest_marker("engine") is not None:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"engine test skipped under CI: {reason}"


def pytest_terminal_summary(terminalreporter):
    from tests.judge import JUDGED

    terminalreporter.write_line(f"kernel-judged cases: {JUDGED[0]}")
    # The runner's own peak, for whoever looks at memory: a child's ru_maxrss starts from it.
    with open("/proc/self/status") as status:
        peak = next((line.split()[1] for line in status if line.startswith("VmHWM:")), "?")
    terminalreporter.write_line(f"test runner peak RSS: {int(peak) // 1024 if peak.isdigit() else peak} MB")
