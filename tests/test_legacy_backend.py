"""The iptables-legacy backend: python-iptables reads the rules, and the kernel's counters judge the path.

Switches the host to iptables-legacy and restarts dockerd; puts back iptables-nft, the default
daemon and empty legacy tables afterwards, also when a test fails.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import rig
from tests.judge import judge_by_trace_log
from tests.test_live_collection import assert_state_matches_the_tools
from tui.collect.bundle import capture, load_bundle
from tui.collect.live import collect_live
from tui.paths.engine import Query, trace
from tui.paths.findings import host_findings

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def legacy(engine):
    with rig.legacy_daemon():
        web = rig.run_container(rig.name("lweb"), "-p", "80")
        rig.run_container(rig.name("lpall"), "-P", "--expose", "9000", "-p", "5301:53/udp")
        yield web


def test_legacy_rules_read_with_python_iptables_equal_iptables_save(legacy, tmp_path):
    live = collect_live()
    assert live.facts.firewall_backend == "legacy"
    assert live.rulesets[4].source.startswith("python-iptables")
    capture(tmp_path / "b")
    bundled = load_bundle(tmp_path / "b")
    a, b = live.without_volatile(), bundled.without_volatile()
    assert a.rulesets == b.rulesets
    assert any("DNAT" in r.text for r in live.rulesets[4].all_rules())


# Run `python -m tui ...` with an audit hook that reports every import of python-iptables or
# distutils, and on which thread: setuptools' distutils hook imports while it holds the global
# import lock, and the process then hangs if another thread imports at the same time.
_REPORTING_IMPORTS = """
import runpy, sys, threading
def hook(event, args):
    if event == "import" and args[0].split(".")[0] in ("iptc", "distutils", "setuptools"):
        where = "MAIN" if threading.current_thread() is threading.main_thread() else "OFF-MAIN"
        sys.stderr.write(where + " IMPORT " + args[0] + "\\n")
sys.addaudithook(hook)
sys.argv = ["dockport-tui", *sys.argv[1:]]
runpy.run_module("tui", run_name="__main__")
"""


def test_python_iptables_is_imported_before_the_collection_threads_start(legacy):
    """`trace` on a legacy host hung in about one run of ten (a deadlock in the import system):
    python-iptables' first import went through setuptools' hook in one collection thread while
    the Docker SDK was imported in the other. It is now imported before the threads start."""
    port = rig.host_port(legacy, "80/tcp")
    done = subprocess.run([sys.executable, "-c", _REPORTING_IMPORTS, "trace", str(port), "--from", "host", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"verdict"' in done.stdout
    assert "MAIN IMPORT iptc" in done.stderr.splitlines(), done.stderr  # the rules were read with python-iptables
    assert "OFF-MAIN IMPORT" not in done.stderr, done.stderr


def test_legacy_host_state_matches_the_tools(legacy):
    names = [legacy, rig.name("lpall")]
    assert_state_matches_the_tools(collect_live(), names, "iptables-legacy-save")


def test_nft_leftovers_on_a_legacy_host_are_read_and_judged(legacy, tmp_path):
    """The stale nft FORWARD policy DROP after a backend switch: warned about, and it drops the packet."""
    port = rig.host_port(legacy, "80/tcp")
    rig.sh("iptables-nft", "-P", "FORWARD", "DROP")
    try:
        state = collect_live()
        assert any("nft tables hold" in w.message for w in state.warnings)
        assert "two-backends" in {f.code for f in host_findings(state)}
        path = trace(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}"))
        connected = rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP, port)
        assert not connected and path.verdict == "dropped"
        assert [(h.backend, h.chain, h.policy) for h in path.hops if h.kind == "policy"][-1] == \
            ("nft", "FORWARD", "DROP")
        capture(tmp_path / "b")
        assert load_bundle(tmp_path / "b").without_volatile().other_rulesets == \
            state.without_volatile().other_rulesets
    finally:
        rig.sh("iptables-nft", "-P", "FORWARD", "ACCEPT", check=False)
    state = collect_live()
    assert not state.other_rulesets
    assert "two-backends" not in {f.code for f in host_findings(state)}
    assert trace(state, Query(port, "tcp", f"external:{rig.CLIENT_IP}")).verdict == "delivered"
    assert rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP, port)


def test_legacy_path_agrees_with_the_trace_log(legacy):
    """The TRACE target's log, in order, equals the rules the engine says matched; delivery agrees."""
    port = rig.host_port(legacy, "80/tcp")
    judge_by_trace_log(collect_live(), Query(port, "tcp", f"external:{rig.CLIENT_IP}"), "tcp",
                       lambda: rig.connect_from_ns(rig.CLIENT_NS, rig.HOST_SIDE_IP, port))


def test_verify_on_legacy_reads_the_trace_log(legacy):
    """`verify` on iptables-legacy: the TRACE target's kernel log, in order, beside the prediction."""
    import json
    import subprocess
    import sys

    port = rig.host_port(legacy, "80/tcp")
    out = subprocess.run([sys.executable, "-m", "tui", "verify", str(port), "--json"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    kernel = [h["rule"] for h in result["kernel"]["hops"] if h["kind"] == "rule"]
    assert kernel and kernel == [h["rule"] for h in result["predicted"]["hops"] if h["kind"] == "rule"]
    assert result["kernel"]["delivered"] is True
    assert "TRACE" not in rig.sh("iptables-legacy-save").stdout  # its trace rules are gone
