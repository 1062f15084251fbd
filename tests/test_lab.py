"""The reachability lab on the real engine, with the daemon restarted under each setting.

The tests (not the lab) restart the test daemon with --icc=false / --userland-proxy=false and put
the default daemon back. Every matrix is measured for real and must agree with the engine in every
cell; `down`, and an `up` interrupted by SIGINT, must leave the host exactly as it was.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from tests import rig

pytestmark = pytest.mark.engine

LAB = [sys.executable, "-m", "tui", "lab"]


def _lab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*LAB, *args], capture_output=True, text=True, timeout=timeout)


def host_snapshot() -> dict[str, str]:
    """What the lab may touch, as the host's own tools print it (ids and counters left out)."""
    rules = rig.sh("iptables-save").stdout
    rules = "\n".join(re.sub(r" \[\d+:\d+\]$", "", line) for line in rules.splitlines() if not line.startswith("#"))
    return {
        "docker ps -a": rig.sh("docker", "ps", "-a", "--format", "{{.Names}} {{.Image}}").stdout,
        "docker network ls": rig.sh("docker", "network", "ls", "--format", "{{.Name}}").stdout,
        "ip netns": rig.sh("ip", "netns", "list").stdout,
        "ip link names": "\n".join(sorted(
            line.split(":")[1].split("@")[0].strip() for line in rig.sh("ip", "-o", "link").stdout.splitlines())),
        "iptables-save": rules,
    }


DAEMONS = {"default": (), "icc-off": ("--icc=false",), "proxy-off": ("--userland-proxy=false",)}


@pytest.fixture(scope="module", params=list(DAEMONS))
def lab_daemon(engine, request):
    flags = DAEMONS[request.param]
    rig.cleanup_docker()
    if flags:
        rig.start_daemon(*flags)
    try:
        yield request.param
    finally:
        _lab("down")
        if flags:
            rig.start_daemon()


def test_lab_matrix_is_measured_and_predicted(lab_daemon):
    before = host_snapshot()
    up = _lab("up")
    assert up.returncode == 0, up.stderr
    assert ("ICC off" if lab_daemon == "icc-off" else "ICC on") in up.stdout
    assert ("userland proxy off" if lab_daemon == "proxy-off" else "userland proxy on") in up.stdout
    try:
        out = _lab("status", "--json")
        matrix = json.loads(out.stdout)
        cells = {(c["experiment"], c["client"]): c for c in matrix["cells"]}
        bad = [c for c in matrix["cells"] if c["measured"] != c["predicted"]]
        assert not bad, bad
        assert out.returncode == 0
        measured = {k: c["measured"] for k, c in cells.items()}
        # Rows 3-5 reachable from outside, 1-2 not, whatever the daemon's settings.
        assert [measured[(n, "outside")] for n in range(1, 6)] == [False, False, True, True, True]
        if lab_daemon == "icc-off":
            # The talk's table: links open exactly the EXPOSEd ports (and -p implies EXPOSE).
            assert [measured[(n, "linked")] for n in range(1, 6)] == [False, True, True, True, True]
            assert [measured[(n, "unlinked")] for n in range(1, 6)] == [False] * 5
        else:
            assert [measured[(n, "linked")] for n in range(1, 6)] == [True] * 5
            assert [measured[(n, "unlinked")] for n in range(1, 6)] == [True] * 5
        assert [measured[(n, "other-network")] for n in range(1, 6)] == [False] * 5
        if lab_daemon == "default":
            # The tour, end to end on the live engine: the five experiments measured by the lab.
            tour = subprocess.run([sys.executable, "-m", "tui", "tour"], capture_output=True, text=True, timeout=300)
            assert tour.returncode == 0, tour.stderr
            assert tour.stdout.count("measured on this host by the lab") == 5, tour.stdout
            assert "dockport-lab-e1 (no port published or exposed): outside: does not connect" in tour.stdout
            assert "10. What the talk got wrong" in tour.stdout and "(not EXPOSEd): delivered" in tour.stdout
    finally:
        down = _lab("down")
        assert down.returncode == 0, down.stderr
    after = host_snapshot()
    for key in before:
        assert before[key] == after[key], key


def test_interrupted_lab_up_leaves_nothing(engine):
    rig.cleanup_docker()
    before = host_snapshot()
    proc = subprocess.Popen([*LAB, "up"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=rig.with_default_sigint)
    # Interrupt it in the middle: once its first container exists. (Asked over the API: a `docker ps`
    # process per poll is slow enough on a loaded machine that `up` could finish in between.)
    import docker

    api = docker.from_env().api
    from tui.lab.lab import LABEL

    for _ in range(2000):
        if api.containers(all=True, filters={"label": LABEL}) or proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    after = host_snapshot()
    for key in before:
        assert before[key] == after[key], key
