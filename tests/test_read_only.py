"""The read-only guarantee, proven on both iptables backends: after the live app and every read-only
feature (trace from every origin, stepping, filter, refresh, capture, the trace command), the host's
firewall, links, namespaces, containers and networks are exactly as before.

Compared with packet counters, iptables-save's timestamp comments and a bridge's running timers
taken out (time and traffic move those, not the app), and `docker ps -a` without its "Up 3 seconds"
column.
"""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import rig
from tests.pilot import until
from tui.ui.app import DockportApp
from tui.ui.widgets.panes import ContainersPane

REPO = Path(__file__).resolve().parent.parent

SNAPSHOT = {
    "iptables-save": ["iptables-save"],
    "ip6tables-save": ["ip6tables-save"],
    "nft list ruleset": ["nft", "list", "ruleset"],
    "ip -d link": ["ip", "-d", "link"],
    "ip netns list": ["ip", "netns", "list"],
    "docker ps -a": ["docker", "ps", "-a", "--no-trunc", "--format",
                     "{{.ID}} {{.Image}} {{.Command}} {{.Ports}} {{.Names}} {{.State}}"],
    "docker network ls": ["docker", "network", "ls", "--no-trunc"],
}


def host_snapshot() -> dict[str, str]:
    out = {}
    for name, argv in SNAPSHOT.items():
        text = rig.sh(*argv, check=False).stdout
        text = "\n".join(line for line in text.splitlines() if not line.startswith("# "))
        text = re.sub(r"\[\d+:\d+\]", "[counters]", text)
        text = re.sub(r"counter packets \d+ bytes \d+", "counter", text)
        text = re.sub(r"(\w+_timer)\s+[\d.]+", r"\1 T", text)  # a bridge's running timers
        out[name] = text
    return out


async def _use_every_feature(tmp: Path) -> None:
    app = DockportApp(source=("live", ""))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await until(pilot, lambda: app.state is not None, 30)
        pane = app.query_one(ContainersPane)
        pane.focus()
        for i, key in enumerate(list(pane.choices)[:6]):
            pane.move_cursor(row=pane.get_row_index(key))
            await pilot.press("enter")
            for _ in range(len(app.origins())):
                await pilot.press("o")
                # Stepping only draws what the trace found: every hop of every origin of the first
                # port is enough (all of them for all six ports took half a minute of key presses).
                for _ in range(len(app.path.hops) if app.path and i == 0 else 0):
                    await pilot.press("n")
        await pilot.press("slash", "d", "p", "t", "escape", "r", "f2", "f2")
        await pilot.pause(1.0)


@pytest.fixture(params=["nft", "legacy"])
def backend(engine, request):
    if request.param == "nft":
        yield "nft"
        return
    with rig.legacy_daemon():
        yield "legacy"


@pytest.mark.engine
def test_every_read_only_feature_leaves_the_host_unchanged(backend, tmp_path):
    web = rig.run_container(rig.name(f"ro{backend}"), "-p", "80", "-p", "5353:53/udp")
    try:
        before = host_snapshot()
        asyncio.run(_use_every_feature(tmp_path))
        cli = [sys.executable, "-m", "tui"]
        assert subprocess.run([*cli, "capture", str(tmp_path / "bundle")], capture_output=True,
                              timeout=120).returncode == 0
        port = rig.host_port(web, "80/tcp")
        for origin in ("external", "host", "localhost", f"container:{web}"):
            subprocess.run([*cli, "trace", str(port), "--from", origin, "--json"], capture_output=True, timeout=60)
        after = host_snapshot()
        for name in SNAPSHOT:
            assert before[name] == after[name], f"{name} changed ({backend})"
    finally:
        rig.sh("docker", "rm", "-f", web, check=False)


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, owner, name


def test_no_shell_and_every_subprocess_has_a_list_and_a_timeout():
    """Static proof over the package: no shell, no os.system/popen; run() calls carry argv lists;
    the long-lived children have their stop: the rule-change monitor its stop(), verify's trace
    monitors a callback on the ExitStack that undoes everything verify added."""
    for path in sorted((REPO / "tui").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node, owner, name in _calls(tree):
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            assert not any(k.arg == "shell" for k in node.keywords), f"shell= at {where}"
            assert (owner, name) not in (("os", "system"), ("os", "popen")), f"{owner}.{name} at {where}"
            if owner == "subprocess" and name == "run":
                assert any(k.arg == "timeout" for k in node.keywords), f"subprocess.run without timeout at {where}"
            if owner == "subprocess" and name == "Popen":
                assert path.name in ("watch.py", "verify.py"), f"a long-lived child outside watch.py at {where}"
                if path.name == "verify.py":
                    assert "undo.callback(_stop, proc)" in path.read_text(), f"verify's monitor never stopped: {where}"
            if name == "run" and owner == "" and node.args:
                assert isinstance(node.args[0], (ast.List, ast.Name, ast.ListComp)), \
                    f"run() without an argv list at {where}"
