"""Real bundles with one field broken at a time (issue 12): missing, null, empty, another type, cut
short. Hypothesis picks the bundle, the file and the field; loading, tracing every port from every
origin, the findings and the TUI's rows must answer (with a warning naming the field), never raise."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.golden import questions
from tui.cli import demo_bundle_path
from tui.collect.bundle import BundleError, load_bundle
from tui.paths.engine import QueryError, trace
from tui.paths.types import Query
from tui.session import findings_for_path

pytestmark = pytest.mark.slow

HOSTS = Path(__file__).resolve().parent / "fixtures" / "hosts"
BUNDLES = [demo_bundle_path()] + sorted(p for p in HOSTS.glob("v2*") if p.is_dir())
JSON_FILES = ["docker-inspect.json", "docker-network-inspect.json", "docker-info.json", "docker-version.json",
              "ip-link.json", "ip-addr.json", "ip-route.json", "ip-6-route.json"]
TEXT_FILES = ["iptables-save.txt", "ps.txt", "sysctl.txt", "ipset-save.txt"]
REPLACEMENTS = st.sampled_from([None, "", 0, -1, 1.5, True, [], {}, "x" * 3, [None], {"": None}, "::", "0.0.0.0"])


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON document: a tuple of keys and indexes."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


def _mutate(doc: object, path: tuple, action: str, replacement: object) -> object:
    if not path:
        return replacement if action != "cut" else json.dumps(doc)[: len(json.dumps(doc)) // 2]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]  # type: ignore[index]
    last = path[-1]
    if action == "delete":
        del parent[last]  # type: ignore[attr-defined]
    elif action == "cut" and isinstance(parent[last], str):  # type: ignore[index]
        parent[last] = parent[last][: len(parent[last]) // 2]  # type: ignore[index]
    else:
        parent[last] = replacement  # type: ignore[index]
    return doc


@st.composite
def mutated_bundle(draw) -> tuple[Path, str, str]:
    source = draw(st.sampled_from(BUNDLES))
    names = [n for n in JSON_FILES + TEXT_FILES if (source / n).is_file()]
    name = draw(st.sampled_from(names))
    text = (source / name).read_text()
    if name.endswith(".json"):
        doc = json.loads(text)
        places = _paths(doc)
        path = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["delete", "replace", "cut"] if path else ["replace", "cut"]))
        new = _mutate(doc, path, action, draw(REPLACEMENTS))
        content = new if isinstance(new, str) and action == "cut" and not path else json.dumps(new)
        what = f"{name} {'/'.join(map(str, path))} {action}"
    else:
        lines = text.splitlines()
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        cut = draw(st.integers(0, len(lines[at]) if lines else 0))
        action = draw(st.sampled_from(["cut-line", "drop-line", "cut-file"]))
        if action == "cut-line" and lines:
            lines[at] = lines[at][:cut]
        elif action == "drop-line" and lines:
            del lines[at]
        else:
            lines = lines[:at]
        content = "\n".join(lines) + "\n"
        what = f"{name} line {at + 1} {action}"
    return source, name, content if isinstance(content, str) else json.dumps(content), what


@contextlib.contextmanager
def broken_copy(case: tuple[Path, str, str, str]) -> Iterator[Path]:
    """A temporary copy of the case's bundle with its one broken file."""
    source, name, content, _what = case
    with tempfile.TemporaryDirectory(prefix="dpt-mut-") as tmp:
        root = Path(tmp) / "b"
        shutil.copytree(source, root)
        (root / name).write_text(content)
        yield root


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bundle())
def test_a_bundle_with_one_broken_field_still_answers(case):
    what = case[3]
    with broken_copy(case) as root:
        try:
            state = load_bundle(root)
        except BundleError as exc:
            pytest.fail(f"{what}: the whole bundle refused: {exc}")
        for port, proto, origin, to, family in questions(state)[:60]:
            try:
                path = trace(state, Query(port, proto, origin, to, family=family))
            except QueryError:
                continue
            findings_for_path(state, path)
            assert path.verdict != "uncertain" or path.doubts, f"{what}: uncertain without a reason"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bundle())
def test_the_tui_shows_a_bundle_with_one_broken_field(case):
    """The app on `--bundle` of a broken bundle: up after a key, its panes filled, nothing failed."""
    import asyncio

    from tui.ui.app import DockportApp
    from tui.ui.widgets.panes import ContainersPane, RulesPane

    what = case[3]
    with broken_copy(case) as root:
        state = load_bundle(root)

        async def run() -> None:
            app = DockportApp(source=("bundle", str(root)), state=state)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause()
                await pilot.press("o")
                await pilot.pause()
                assert app.is_running, what
                assert "failed" not in app.status, (what, app.status)
                assert app.query_one(ContainersPane).row_count and app.query_one(RulesPane).row_count, what

        asyncio.run(run())


def _demo_with(tmp_path: Path, change) -> Path:
    root = tmp_path / "b"
    shutil.copytree(demo_bundle_path(), root)
    inspect = json.loads((root / "docker-inspect.json").read_text())
    change(inspect)
    (root / "docker-inspect.json").write_text(json.dumps(inspect))
    return root


def _web(inspect: list) -> dict:
    return next(c for c in inspect if c["Name"] == "/demo-web")


def test_a_binding_without_a_host_port_is_read_as_not_published(tmp_path):
    """Gateway mode "routed" (Docker 28+): `{"HostIp": "0.0.0.0", "HostPort": ""}` once took the tool down."""
    def routed(inspect: list) -> None:
        _web(inspect)["NetworkSettings"]["Ports"]["443/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": ""}]

    state = load_bundle(_demo_with(tmp_path, routed))
    web = state.container("demo-web")
    assert [b.key for b in web.ports if b.container_port == 443] == ["443/tcp"]
    assert trace(state, Query(80, "tcp", "external")).verdict == "delivered"  # the rest still answers


def test_a_field_of_the_wrong_type_is_named_and_its_answers_are_uncertain(tmp_path):
    def broken(inspect: list) -> None:
        _web(inspect)["NetworkSettings"]["Networks"]["demo-backend"]["IPAddress"] = ["172.20.0.5"]

    state = load_bundle(_demo_with(tmp_path, broken))
    named = [w.message for w in state.warnings if "Networks" in w.message and "IPAddress" in w.message]
    assert named and "container demo-web" in named[0] and "expected a string, got a list" in named[0], named
    path = trace(state, Query(80, "tcp", "external"))
    assert path.verdict == "uncertain" and any("IPAddress" in d for d in path.doubts), path.doubts
    other = trace(state, Query(2222, "tcp", "external"))  # demo-ssh: nothing of it is broken
    assert other.verdict == "delivered", other.summary
