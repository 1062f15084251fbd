"""The journey view: stages built from a path (hooks lit or dim, the header rewritten where NAT
happened, docker-proxy's connection as its own leg), and the screen that shows them."""

from __future__ import annotations

from tests.screenshots import demo_app, show_view
from tui.cli import demo_bundle_path
from tui.collect.bundle import load_bundle
from tui.collect.iptables_save import parse_iptables_save
from tui.model import replace
from tui.paths.engine import Query, trace
from tui.paths.journey import journey_of
from tui.ui.widgets.journey import JourneyScreen, StageBox

DEMO = load_bundle(demo_bundle_path(), source="demo")


def _stages(path):
    return [(s.leg, s.name, s.passed) for s in journey_of(path).stages]


def test_external_via_nat_rewrites_the_destination_in_prerouting():
    path = trace(DEMO, Query(80, "tcp", "external"))
    j = journey_of(path)
    names = [s.name for s in j.stages]
    assert names == ["client", "interface", "PREROUTING", "routing", "FORWARD", "POSTROUTING", "bridge", "veth",
                     "container"]
    pre = j.stages[2]
    assert pre.changed == ("dst",) and pre.before.dst == "192.0.2.2" and pre.packet.dst == "172.20.0.5"
    assert all(s.passed for s in j.stages)
    assert next(s for s in j.stages if s.deciding).name == "FORWARD"
    # Every hop of the path is in exactly one stage, in order.
    assert sorted(i for s in j.stages for i in s.hops) == list(range(len(path.hops)))


def test_localhost_through_the_proxy_has_two_legs_and_input_not_forward():
    path = trace(DEMO, Query(80, "tcp", "localhost"))
    stages = _stages(path)
    leg1 = [(n, p) for leg, n, p in stages if leg == 1]
    leg2 = [(n, p) for leg, n, p in stages if leg == 2]
    assert [n for n, _ in leg1] == ["client", "OUTPUT", "routing", "POSTROUTING", "PREROUTING", "INPUT", "socket"]
    assert all(p for _, p in leg1)
    assert [n for n, _ in leg2] == ["client", "OUTPUT", "routing", "POSTROUTING", "bridge", "veth", "container"]
    first2 = next(s for s in journey_of(path).stages if s.leg == 2)
    assert first2.packet.src == "172.20.0.1"  # the proxy's own source: the container sees it, not the client


def _with_user_drop(port: int):
    rs = DEMO.rulesets[4]
    text = []
    for table, chains in rs.tables.items():
        text.append(f"*{table}")
        text += [f":{c.name} {c.policy or '-'} [0:0]" for c in chains.values()]
        for c in chains.values():
            if table == "filter" and c.name == "DOCKER-USER":
                text.append(f"-A DOCKER-USER -p tcp -m tcp --dport {port} -j DROP")
            text += [r.text for r in c.rules]
        text.append("COMMIT")
    new, _ = parse_iptables_save(text, 4, "test")
    return replace(DEMO, rulesets={**DEMO.rulesets, 4: new})


def test_dropped_by_docker_user_leaves_the_later_stages_dim():
    path = trace(_with_user_drop(80), Query(80, "tcp", "external"))
    assert path.verdict == "dropped"
    stages = {name: passed for _leg, name, passed in _stages(path)}
    assert stages["FORWARD"] and not stages["POSTROUTING"] and not stages["container"]
    forward = next(s for s in journey_of(path).stages if s.name == "FORWARD")
    assert forward.deciding


def test_refused_reaches_the_container_and_no_further():
    path = trace(DEMO, Query(5353, "udp", "external"))
    assert path.verdict == "refused"
    last = journey_of(path).stages[-1]
    assert last.name == "container" and last.passed and last.packet.dport == 53
    pre = next(s for s in journey_of(path).stages if s.name == "PREROUTING")
    assert set(pre.changed) == {"dst", "dport"}


async def test_the_journey_screen_steps_through_the_lit_stages_and_keeps_the_verdict():
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await show_view("main", pilot)  # demo-web's port 80 selected and traced
        await pilot.press("o", "o")  # localhost: through docker-proxy
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, JourneyScreen)
        boxes = list(screen.query(StageBox))
        assert len(boxes) == len(journey_of(app.path).stages)
        assert screen.query(".leg-break")  # docker-proxy's own connection drawn as its own leg
        seen = [screen.current]
        for _ in range(30):
            await pilot.press("n")
            seen.append(screen.current)
        assert seen == sorted(seen) and seen[-1] == len(boxes) - 1
        assert "current" in boxes[-1].classes and "current" not in boxes[0].classes
        verdict = str(screen.query_one("#journey-verdict").render())
        assert "delivered to demo-web through docker-proxy" in verdict
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, JourneyScreen)


def test_counter_deltas_start_at_selection_and_follow_the_path():
    from tui.collect.counters import counters_of
    from tui.session import PortChoice, Session

    session = Session(DEMO, "demo")
    c = DEMO.container("demo-web")
    b = next(b for b in c.ports if b.host_port == 80 and b.host_ip == "0.0.0.0")
    session.select(PortChoice(c.name, b, c.id))
    assert session.counter_deltas() is None  # nothing read yet: no column, not zeros
    counts = counters_of(DEMO.rulesets)
    session.take_counters(counts)
    path = session.path
    assert set(session.counter_deltas().values()) == {0}
    dnat = next(i for i, h in enumerate(path.hops) if h.target == "DNAT")
    later = dict(counts)
    later[(4, path.hops[dnat].rule_ref)] = (counts[(4, path.hops[dnat].rule_ref)] or 0) + 3
    session.take_counters(later)
    assert session.counter_deltas()[dnat] == 3
    assert [d for i, d in session.counter_deltas().items() if i != dnat] == [0] * (len(session.counter_deltas()) - 1)
    session.set_origin("localhost")  # another path: counted from now on
    session.take_counters(later)
    assert set(session.counter_deltas().values()) <= {0}


async def test_presenter_mode_is_the_journey_of_the_current_hop():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await show_view("main", pilot)  # demo-web's port 80 selected and traced
        await pilot.press("n", "n", "n")  # hop 3: nat DOCKER's DNAT, in PREROUTING
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, JourneyScreen)
        assert screen.journey.stages[screen.current].name == "PREROUTING"
        await pilot.press("f2")
        await pilot.pause()
        assert not isinstance(app.screen, JourneyScreen)


def test_a_frame_switched_by_the_bridge_has_no_routing_stage():
    path = trace(DEMO, Query(27017, "tcp", "container:demo-mysql", to="172.20.0.3"))
    names = [s.name for s in journey_of(path).stages]
    assert "routing" not in names and names.index("PREROUTING") < names.index("FORWARD")
    assert sorted(i for s in journey_of(path).stages for i in s.hops) == list(range(len(path.hops)))
