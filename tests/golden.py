"""Recorded `trace --json` answers, to prove a refactor leaves every answer as it was.

`python -m tests.golden record BUNDLE NAME` writes tests/golden_answers/NAME.json.gz: for every port of the
bundle (each published host port, each container port asked at the container's address) and every
origin (external, host, localhost, each running container), the JSON `trace --json` prints, or the
usage error it gives. test_golden.py asks again and compares.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "golden_answers"


def questions(state) -> list[tuple[int, str, str, str | None, int]]:
    """(port, proto, origin, to, family) for every port and origin of a host; IPv6 for the ports
    bound on an IPv6 address."""
    origins = ["external", "host", "localhost"] + sorted(
        f"container:{c.name}" for c in state.containers if c.state == "running" and any(e.ip for e in c.endpoints))
    ports: set[tuple[int, str, str | None, int]] = set()
    for c in state.containers:
        ip = next((e.ip for e in c.endpoints if e.ip), None)
        for b in c.ports:
            if b.published and b.host_port:
                ports.add((b.host_port, b.proto, None, 6 if ":" in (b.host_ip or "") else 4))
            if ip:
                ports.add((b.container_port, b.proto, ip, 4))
    return [(port, proto, origin, to, family) for port, proto, to, family in sorted(ports, key=str)
            for origin in origins]


def answers(state) -> dict[str, object]:
    from tui.paths.engine import Query, QueryError, trace
    from tui.session import findings_for_path

    out: dict[str, object] = {}
    for port, proto, origin, to, family in questions(state):
        key = f"{port}/{proto} from {origin}" + (f" to {to}" if to else "") + (" -6" if family == 6 else "")
        try:
            path = trace(state, Query(port, proto, origin, to, family=family))
        except QueryError as exc:
            out[key] = {"error": str(exc)}
            continue
        out[key] = path.as_json() | {"findings": [f.as_json() for f in findings_for_path(state, path)]}
    return out


def record(bundle: str, name: str) -> Path:
    from tui.collect.bundle import load_bundle

    target = HERE / f"{name}.json.gz"
    text = json.dumps(answers(load_bundle(bundle)), indent=1, sort_keys=True) + "\n"
    target.write_bytes(gzip.compress(text.encode(), mtime=0))
    return target


def recorded(name: str) -> dict[str, object]:
    return json.loads(gzip.decompress((HERE / f"{name}.json.gz").read_bytes()))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "record":
        raise SystemExit("usage: python -m tests.golden record BUNDLE NAME")
    print(record(sys.argv[2], sys.argv[3]))
