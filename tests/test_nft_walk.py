"""The nftables walker on tables added beside Docker 29's (a kernel-judged fixture bundle): what the
kernel does at a hook with several base chains, sets and maps, and what the walker cannot know.

The tables are given as `nft -j list ruleset` prints them (the schema the live collector reads).
"""

from __future__ import annotations

import json
from pathlib import Path

from tui.collect.bundle import load_bundle
from tui.collect.nft_json import tables_from_json
from tui.model import replace
from tui.paths.engine import Query, trace

BUNDLE = Path(__file__).resolve().parent / "fixtures" / "hosts" / "v29.7.2-nft-usernet-portmap"
OUTSIDE = "external:198.51.100.10"


def _host_with(*items: dict):
    """The fixture host plus one more inet table "t" made of `items` (chains, sets, rules)."""
    state = load_bundle(BUNDLE)
    doc = {"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}}, *items]}
    extra = tables_from_json(json.dumps(doc))
    return replace(state, nft_tables=state.nft_tables + extra)


def _chain(name: str, hook: str = "", prio: int = 0, policy: str = "accept", kind: str = "filter") -> dict:
    body: dict = {"family": "inet", "table": "t", "name": name, "handle": 2}
    if hook:
        body |= {"type": kind, "hook": hook, "prio": prio, "policy": policy}
    return {"chain": body}


def _rule(chain: str, handle: int, *expr: dict) -> dict:
    return {"rule": {"family": "inet", "table": "t", "chain": chain, "handle": handle, "expr": list(expr)}}


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}
DPORT = {"payload": {"protocol": "tcp", "field": "dport"}}


def test_an_expression_it_cannot_evaluate_makes_the_answer_uncertain_and_names_it():
    state = _host_with(_chain("fwd", "forward", -10), _rule("fwd", 3, _match({"meta": {"key": "skuid"}}, 0),
                                                            {"drop": None}))
    path = trace(state, Query(8080, "tcp", OUTSIDE))
    assert path.verdict == "uncertain"
    maybe = [h for h in path.hops if h.facts.get("maybe")]
    assert [h.rule for h in maybe] == ["meta skuid 0 drop"]
    assert any("meta skuid" in d for d in path.doubts), path.doubts


def test_a_named_interval_set_decides_by_the_source_address():
    blocked = {"set": {"family": "inet", "table": "t", "name": "blocked", "type": "ipv4_addr", "handle": 5,
                       "flags": ["interval"], "elem": [{"prefix": {"addr": "203.0.113.0", "len": 24}},
                                                       {"range": ["198.51.100.1", "198.51.100.20"]}]}}
    state = _host_with(blocked, _chain("fwd", "forward", -10),
                       _rule("fwd", 3, _match(SADDR, "@blocked"), {"counter": {"packets": 0, "bytes": 0}},
                             {"drop": None}))
    inside = trace(state, Query(8080, "tcp", OUTSIDE))
    assert inside.verdict == "dropped"
    assert inside.deciding_hop().rule == "ip saddr @blocked counter drop"
    outside = trace(state, Query(8080, "tcp", "external:198.51.100.30"))
    assert outside.verdict == "delivered", outside.summary


def test_return_from_a_chain_entered_by_goto_ends_the_base_chain():
    vmap = {"vmap": {"key": DPORT, "data": {"set": [[80, {"goto": {"target": "c80"}}]]}}}
    state = _host_with(_chain("fwd", "forward", -5, policy="drop"), _chain("c80"),
                       _rule("fwd", 3, vmap), _rule("fwd", 4, {"accept": None}), _rule("c80", 5, {"return": None}))
    path = trace(state, Query(8080, "tcp", OUTSIDE))
    ours = [(h.chain, h.kind, h.rule or h.policy) for h in path.hops if h.table == "t"]
    # goto leaves no way back: return ends the base chain, and its policy (drop) decides.
    assert ours == [("fwd", "rule", "tcp dport vmap { 80 : goto c80 }"), ("c80", "rule", "return"),
                    ("fwd", "policy", "DROP")]
    assert path.verdict == "dropped"


def test_an_accept_ends_only_its_own_base_chain():
    state = _host_with(_chain("early", "forward", -10), _chain("late", "forward", 10),
                       _rule("early", 3, {"accept": None}), _rule("late", 4, _match(DPORT, 80), {"drop": None}))
    path = trace(state, Query(8080, "tcp", OUTSIDE))
    assert path.verdict == "dropped"
    order = [(h.table, h.chain) for h in path.hops if h.kind in ("rule", "policy") and h.chain in (
        "early", "late", "filter-FORWARD", "filter-forward-in__bridge1")]
    assert order == [("t", "early"), ("docker-bridges", "filter-FORWARD"),
                     ("docker-bridges", "filter-forward-in__bridge1"), ("t", "late")]


def test_a_jump_back_into_a_chain_on_the_way_is_a_loop_and_uncertain():
    """nft refuses this set ("Too many links", checked in a namespace); a ruleset file can still hold
    it, and the walk stops at the goto that closes the loop instead of running 100,000 rounds."""
    state = _host_with(_chain("fwd", "forward", -10), _chain("x"), _chain("y"),
                       _rule("fwd", 3, {"goto": {"target": "x"}}), _rule("x", 4, {"jump": {"target": "y"}}),
                       _rule("y", 5, {"goto": {"target": "x"}}))
    path = trace(state, Query(8080, "tcp", OUTSIDE))
    ours = [(h.chain, h.rule) for h in path.hops if h.table == "t"]
    assert ours == [("fwd", "goto x"), ("x", "jump y"), ("y", "goto x")]
    assert path.verdict == "uncertain" and any("t/x: rule loop" in d for d in path.doubts), path.doubts


def test_a_chain_jumped_to_twice_is_no_loop():
    state = _host_with(_chain("fwd", "forward", -10), _chain("x"), _chain("y"),
                       _rule("fwd", 3, {"jump": {"target": "x"}}), _rule("fwd", 4, {"jump": {"target": "x"}}),
                       _rule("x", 5, {"jump": {"target": "y"}}), _rule("x", 6, {"goto": {"target": "y"}}),
                       _rule("y", 7, {"counter": {"packets": 0, "bytes": 0}}))
    path = trace(state, Query(8080, "tcp", OUTSIDE))
    ours = [h.chain for h in path.hops if h.table == "t" and h.kind == "rule"]
    assert ours == ["fwd", "x", "y", "x", "y"] * 2 and path.verdict == "delivered", path.summary


def test_nat_binds_once_in_the_first_nat_chain_that_rewrites():
    dnat = {"dnat": {"addr": "192.0.2.3", "port": 80}}
    state = _host_with(_chain("pre", "prerouting", -150, kind="nat"), _rule("pre", 3, _match(DPORT, 8080), dnat))
    path = trace(state, Query(8080, "tcp", OUTSIDE))
    nat_rules = [h.rule for h in path.hops if h.target == "DNAT"]
    assert nat_rules == ["tcp dport 8080 dnat to 192.0.2.3:80"]  # Docker's own DNAT (priority -100) never runs
    assert not any(h.chain == "nat-PREROUTING" for h in path.hops)


def test_docker_on_nftables_without_its_ruleset_is_uncertain_everywhere(tmp_path):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    (bundle / "nft-ruleset.json").unlink()
    state = load_bundle(bundle)
    assert "nft" in state.missing and not state.nft_tables
    assert any("nftables" in w.message and "not read" in w.message for w in state.warnings)
    for origin in (OUTSIDE, "host", "localhost", "container:c2"):
        path = trace(state, Query(8080, "tcp", origin))
        assert path.verdict == "uncertain", (origin, path.summary)
        assert any("nftables rules were not read" in d for d in path.doubts), path.doubts


async def test_the_rules_pane_lists_native_rules_and_lights_the_path():
    from tui.ui.app import DockportApp
    from tui.ui.widgets.panes import RulesPane

    state = load_bundle(BUNDLE)
    app = DockportApp(source=("bundle", str(BUNDLE)), state=state)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        pane = app.query_one(RulesPane)
        keys = [row.key.value for row in pane.ordered_rows]  # as on screen
        native = [r for t in state.nft_tables for c in t.chains.values() for r in c.rules]
        assert [r.ref for r in native] == [k for k in keys if k.startswith("ip docker-bridges/")]
        path = app.session.path
        assert path is not None and path.verdict == "delivered"
        on_path = [h for h in path.hops if h.kind == "rule"]
        assert on_path and all(h.family == "ip" for h in on_path)
        for h in on_path:
            row = pane.get_row(h.rule_ref)
            assert row[0].plain.strip(), f"no step mark on {h.rule_ref}"
            assert row[1].plain == f"ip docker-bridges/{h.chain}" and row[2].plain == f"h{h.handle}"
        assert "nftables" in str(pane.border_title)
