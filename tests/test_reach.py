"""`reach`: every origin at once. Each row is what `trace` answers for that origin, on the demo and
on the live engine (through the real command lines)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests import rig


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=120)


def _agrees_with_trace(port: str, source: list[str], ipv6: bool = False) -> dict:
    six = ["-6"] if ipv6 else []
    out = _cli("reach", port, *source, *six, "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["origins"], answer
    for row in answer["origins"]:
        to = ["--to", row["to"]] if row["to"] else []
        traced = _cli("trace", port if not row["to"] else str(answer["mapping"]["container_port"]),
                      *source, *six, "--from", row["origin"], *to, "--json")
        if row.get("error"):
            assert traced.returncode == 2 and row["error"] in traced.stderr, (row, traced.stderr)
            continue
        path = json.loads(traced.stdout)
        assert (row["src"], row["dst"], row["verdict"], row["via"]) == (
            path["query"]["src"], path["query"]["dst"], path["verdict"], path["via"]), (row, path["summary"])
        rules = [h.get("rule") for h in path["hops"] if h["kind"] in ("rule", "policy")]
        assert row["deciding"] is None or row["deciding"]["rule"] in rules or \
            row["deciding"]["rule"].startswith("policy "), row
    return answer


def test_reach_on_the_demo_agrees_with_trace_for_every_origin():
    answer = _agrees_with_trace("80", ["--demo"])
    origins = [r["origin"] for r in answer["origins"]]
    assert origins[:3] == ["external", "host", "localhost"]
    assert any(o.startswith("container:") for o in origins)
    assert answer["origins"][-1]["to"] == answer["mapping"]["container_ip"]  # direct to the container


def test_reach_in_ipv6_on_the_demo():
    answer = _agrees_with_trace("2222", ["--demo"], ipv6=True)
    assert answer["query"]["family"] == 6
    by_origin = {r["origin"]: r for r in answer["origins"] if not r["to"]}
    assert by_origin["external"]["via"] == "proxy" and by_origin["localhost"]["src"] == "::1"
    # Containers without an IPv6 address cannot ask: said per row, the answer still complete.
    assert all("no IPv6 address" in r["error"] for o, r in by_origin.items() if o.startswith("container:"))


def test_reach_text_names_each_origin_and_its_verdict():
    out = _cli("reach", "5353/udp", "--demo")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].startswith("udp/5353 (IPv4): demo-dns")
    assert any(line.startswith("localhost") and "refused" in line and "Nothing in demo-dns listens" in line
               for line in lines)


@pytest.mark.engine
def test_reach_on_the_live_engine_agrees_with_trace(engine):
    port = 23000 + int(rig.RUN_ID, 16) % 1000
    web = rig.run_container(rig.name("rweb"), "-p", f"{port}:80")
    peer = rig.run_container(rig.name("rpeer"))
    try:
        time.sleep(0.5)
        answer = _agrees_with_trace(str(port), [])
        by_origin = {r["origin"]: r for r in answer["origins"]}
        assert by_origin["external"]["verdict"] == "delivered" and by_origin["localhost"]["via"] == "proxy"
        assert by_origin[f"container:{peer}"]["verdict"] == "delivered"
    finally:
        rig.sh("docker", "rm", "-f", web, peer, check=False)
