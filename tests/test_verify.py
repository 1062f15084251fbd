"""`dockport-tui verify` on the real engine: the kernel's trace beside the prediction, for each origin;
a wrong prediction is caught; nothing is left behind, also when interrupted; no root, no run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests import rig
from tests.test_lab import host_snapshot
from tests.test_no_root import _as_nobody

pytestmark = pytest.mark.engine
VERIFY = [sys.executable, "-m", "tui", "verify"]
PORT = 21000 + int(rig.RUN_ID, 16) % 2000


def _snapshot() -> dict[str, str]:
    out = host_snapshot()
    out["nft"] = rig.sh("nft", "-s", "list", "ruleset").stdout  # stateless: counters left out
    out["trace files"] = "\n".join(sorted(p.name for p in Path(tempfile.gettempdir()).glob("dockport-verify-*")))
    return out


@pytest.fixture(scope="module")
def published(engine):
    from tui.verify.verify import heal

    heal()  # what runs killed before this one left (each verify heals; the snapshots must not see it)
    web = rig.run_container(rig.name("vweb"), "-p", f"{PORT}:80")
    peer = rig.run_container(rig.name("vpeer"))
    time.sleep(0.5)
    yield web, peer
    rig.sh("docker", "rm", "-f", web, peer, check=False)


@pytest.mark.parametrize("origin", ["external", "host", "localhost", "peer"])
def test_the_kernel_confirms_the_prediction_and_nothing_stays(published, origin):
    _web, peer = published
    before = _snapshot()
    frm = f"container:{peer}" if origin == "peer" else origin
    out = subprocess.run([*VERIFY, str(PORT), "--from", frm, "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["agree"] is True and result["kernel"]["delivered"] is True
    predicted = [h["rule"] for h in result["predicted"]["hops"] if h["kind"] == "rule"]
    kernel = [h["rule"] for h in result["kernel"]["hops"] if h["kind"] == "rule"]
    assert kernel and kernel == predicted
    # Outside and from the host's own address by DNAT; 127.0.0.1 and docker0 itself go to docker-proxy.
    assert result["predicted"]["via"] == ("nat" if origin in ("external", "host") else "proxy")
    assert any("DNAT" in r for r in kernel) == (origin in ("external", "host"))
    assert _snapshot() == before


def test_a_wrong_prediction_is_caught(published, monkeypatch):
    """The engine made to forget the DNAT rule: verify must show where the kernel differs."""
    from tui.paths import engine
    from tui.verify import verify as verify_mod

    real = engine.trace

    def forgetful(state, query, view=None):
        path = real(state, query, view)
        path.hops = [h for h in path.hops if h.target != "DNAT"]
        return path

    monkeypatch.setattr(verify_mod, "trace", forgetful)
    result = verify_mod.verify(PORT, "tcp", "host", None)
    assert not result.agree
    ours, kernels = result.compared
    assert result.first_difference == 1 and "DNAT" in kernels[1] and "DNAT" not in ours[1]
    assert "differ from step 2" in verify_mod.report(result)


def test_a_table_beside_docker_is_traced_too(published):
    """A native nftables table that rejects the port: both monitors' hops, and a rejected connection."""
    table = f"dpt-vzone-{rig.RUN_ID}"
    rig.sh("nft", "-f", "-", input=(
        f"table inet {table} {{\n chain zone_forward {{\n  type filter hook forward priority 10; policy accept;\n"
        f"  tcp dport 80 ip daddr {rig.container_ip(published[0])} reject with tcp reset\n }}\n}}\n"))
    try:
        out = subprocess.run([*VERIFY, str(PORT), "--json"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        result = json.loads(out.stdout)
        assert result["predicted"]["verdict"] == "rejected" and result["kernel"]["outcome"] == "refused"
        native = [h for h in result["kernel"]["hops"] if h.get("family") == "inet"]
        assert [(h["table"], h["rule"]) for h in native] == [
            (table, f"tcp dport 80 ip daddr {rig.container_ip(published[0])} reject with tcp reset")]
    finally:
        rig.sh("nft", "delete", "table", "inet", table, check=False)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_verify_leaves_nothing(published, sig):
    before = _snapshot()
    proc = subprocess.Popen([*VERIFY, str(PORT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=rig.with_default_sigint)
    for _ in range(400):  # interrupt it once its client namespace exists (it is then tracing)
        if "dockport-verify" in rig.sh("ip", "netns", "list").stdout or proc.poll() is not None:
            break
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert _snapshot() == before


def test_without_root_it_says_why_and_changes_nothing(published):
    before = _snapshot()
    out = subprocess.run(_as_nobody("verify", str(PORT)), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "needs root" in out.stderr, out.stderr
    assert _snapshot() == before


@pytest.mark.parametrize("origin", ["external", "localhost"])
def test_verify_6_confirms_an_ipv6_path_and_nothing_stays(published, origin):
    """`-6`: nft's monitor traces iptables-nft's tables too (xtables-monitor cannot follow IPv6);
    on this daemon the `::` binding's docker-proxy goes 6 to 4, and leg 2 is IPv4."""
    before = _snapshot()
    out = subprocess.run([sys.executable, "-m", "tui", "verify", str(PORT), "-6", "--from", origin, "--json"],
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["agree"] and result["query"]["family"] == 6 and ":" in result["query"]["src"]
    assert result["predicted"]["via"] == "proxy" and result["kernel"]["delivered"]
    assert any(h["kind"] == "policy" for h in result["kernel"]["hops"])  # the kernel showed the chains
    assert _snapshot() == before


def test_after_sigkill_the_next_run_heals_and_says_so(published):
    before = _snapshot()
    proc = subprocess.Popen([*VERIFY, str(PORT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=rig.with_default_sigint)
    for _ in range(400):  # kill it once it traces: its trace rules are in place
        if "dockport-verify" in rig.sh("iptables-save", "-t", "raw").stdout or proc.poll() is not None:
            break
        time.sleep(0.01)
    monitors = [k for k in rig.children(proc.pid) if rig.command_line(k).startswith("xtables-monitor")]
    proc.kill()
    proc.communicate(timeout=30)
    assert _snapshot() != before, "the kill came too late to leave anything"
    # Its trace monitor writes to a file: only the parent-death signal ends it.
    assert monitors, "verify was killed before its monitor started"
    assert rig.gone_within(monitors, 5), "verify's xtables-monitor outlived it"
    out = subprocess.run([*VERIFY, str(PORT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "removed what an interrupted verify left" in out.stdout
    assert _snapshot() == before


def test_a_rule_added_behind_the_engines_back_is_a_difference(published):
    """Between the prediction and the probe, a rule the engine never saw starts to match."""
    from tui.collect.live import collect_live
    from tui.verify.verify import report, verify

    rule = ["DOCKER-USER", "-p", "tcp", "--dport", "80", "-m", "comment", "--comment", f"dpt-behind-{rig.RUN_ID}",
            "-j", "RETURN"]

    def collect_then_change():
        state = collect_live()
        rig.sh("iptables", "-I", *rule)
        return state

    try:
        result = verify(PORT, "tcp", "external", None, collect=collect_then_change)
    finally:
        rig.sh("iptables", "-D", *rule, check=False)
    assert not result.agree
    ours, kernel = result.compared
    step = result.first_difference
    tag = f"dpt-behind-{rig.RUN_ID}"
    assert step is not None and tag in kernel[step] and tag not in ours[step]
    assert "capture" in report(result)


async def test_v_in_the_tui_asks_once_then_marks_the_path_with_the_kernels_word(published):
    from tests.pilot import until
    from tests.test_faults import _select
    from tui.ui.app import DockportApp
    from tui.ui.widgets.panes import PathPane
    from tui.ui.widgets.screens import ConfirmVerify

    web, _peer = published
    before = _snapshot()
    app = DockportApp(source=("live", ""), poll_seconds=600)
    async with app.run_test(size=(140, 45)) as pilot:
        assert await until(pilot, lambda: app.state is not None and app.state.container(web), 30)
        _select(app, web)
        await pilot.pause()
        await pilot.press("v")
        assert isinstance(app.screen, ConfirmVerify)  # read-only until the user says yes
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmVerify) and app._verification is None
        await pilot.press("v")
        await pilot.press("y")
        assert await until(pilot, lambda: app._verification is not None, 60), "no verification came back"
        assert app._verification.agree, app._verification.compared
        await pilot.pause()
        pane = app.query_one(PathPane)
        assert "confirmed by the kernel" in str(pane.border_title)
        rules = [i for i, h in enumerate(app.session.path.hops) if h.kind == "rule"]
        cells = [pane.get_row(f"hop{i + 1}")[0].plain for i in rules]
        assert rules and all(c.endswith("✓") for c in cells), cells
        app._verification = None
        await pilot.press("v")  # asked once per session: this one runs at once
        assert not isinstance(app.screen, ConfirmVerify)
        assert await until(pilot, lambda: app._verification is not None, 60)
    assert _snapshot() == before


def test_a_trace_that_saw_nothing_confirms_nothing():
    """No kernel event at all (a monitor that missed the flow) is never read as agreement."""
    from tui.cli import demo_bundle_path
    from tui.collect.bundle import load_bundle
    from tui.paths.engine import Query, trace
    from tui.verify.verify import _compare, report

    state = load_bundle(demo_bundle_path())
    predicted = trace(state, Query(80, "tcp", "localhost"))
    result = _compare(predicted.query, predicted, [], [], "connected")
    assert not result.agree and "nothing is confirmed" in report(result)


def test_heal_removes_a_dead_runs_trace_file_and_not_a_live_ones(tmp_path, monkeypatch):
    """A trace file names its verify's pid; pids are reused, so a file older than the process that
    now has its pid is a leftover too. A file of a live run (written after its process started) stays."""
    from tui.verify import verify

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    dead = tmp_path / "dockport-verify-999999999-xtables-aaaa"
    reused = tmp_path / "dockport-verify-1-xtables-bbbb"  # pid 1 started at boot, after this file's time
    live = tmp_path / "dockport-verify-1-nft-cccc"
    for f in (dead, reused, live):
        f.write_text("PACKET: ...\n")
    os.utime(reused, (1000, 1000))
    said = verify.heal()
    assert not dead.exists() and not reused.exists()
    assert live.exists()
    assert sum("trace file" in line for line in said) == 2, said
