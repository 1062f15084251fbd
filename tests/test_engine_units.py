"""Path engine behaviour that needs no engine: on the demo bundle, with rule sets changed in memory."""

from __future__ import annotations

from tui.cli import demo_bundle_path
from tui.collect.bundle import load_bundle
from tui.collect.iptables_save import parse_iptables_save
from tui.model import replace
from tui.paths.engine import Query, trace

LEFTOVER_NFT = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
"""


def _demo():
    return load_bundle(demo_bundle_path())


def test_the_other_backends_drop_policy_stops_a_forwarded_packet():
    """After a switch to legacy, the nft FORWARD policy DROP that Docker set is still run by the kernel."""
    state = _demo()
    assert trace(state, Query(80, "tcp", "external")).verdict == "delivered"
    other, _ = parse_iptables_save(LEFTOVER_NFT.splitlines(), 4, "iptables-legacy-save.txt")
    both = replace(state, other_rulesets={4: other})
    path = trace(both, Query(80, "tcp", "external"))
    assert path.verdict == "dropped"
    last_policy = [h for h in path.hops if h.kind == "policy"][-1]
    assert (last_policy.backend, last_policy.chain, last_policy.policy) == ("legacy", "FORWARD", "DROP")
    assert last_policy.explanation.startswith("legacy filter/FORWARD")
    assert path.as_json()["hops"][[h.kind for h in path.hops].index("policy")].get("backend") == "legacy"


def test_the_other_backend_without_rules_on_the_path_changes_nothing():
    state = _demo()
    other, _ = parse_iptables_save(LEFTOVER_NFT.replace("FORWARD DROP", "FORWARD ACCEPT").splitlines(), 4, "x")
    both = replace(state, other_rulesets={4: other})
    a, b = trace(state, Query(80, "tcp", "external")), trace(both, Query(80, "tcp", "external"))
    assert [h.explanation for h in a.hops] == [h.explanation for h in b.hops]


NAT_WITHOUT_CONNTRACK = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -p tcp -m tcp --dport 2222 -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
"""


def test_nat_chains_run_only_where_a_rule_makes_the_kernel_track_connections():
    """Since Linux 4.10 a namespace tracks connections only once a rule needs it, and nat chains run
    only for tracked packets (judged by the kernel on the dual-stack internal-network hosts)."""
    state = _demo()

    def nat_hops(text: str) -> tuple[list[str], list[str]]:
        rules, _ = parse_iptables_save(text.splitlines(), 4, "iptables-save.txt")
        path = trace(replace(state, rulesets={**state.rulesets, 4: rules}), Query(2222, "tcp", "external"))
        return [h.chain for h in path.hops if h.table == "nat"], [str(h.kind) for h in path.hops]

    untracked_nat, kinds = nat_hops(NAT_WITHOUT_CONNTRACK)
    assert untracked_nat == [] and "conntrack" in kinds
    tracked = NAT_WITHOUT_CONNTRACK.replace(
        ":OUTPUT ACCEPT [0:0]\nCOMMIT\n", ":OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED "
        "-j ACCEPT\nCOMMIT\n")
    tracked_nat, kinds = nat_hops(tracked)
    assert tracked_nat[:2] == ["PREROUTING", "DOCKER"] and "conntrack" not in kinds
    notrack = NAT_WITHOUT_CONNTRACK.replace("*nat", "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j CT --notrack\n"
                                             "COMMIT\n*nat")
    untracked_nat, kinds = nat_hops(notrack)
    assert untracked_nat == [] and "conntrack" in kinds


def test_tracking_rests_on_unread_native_rules_the_answer_is_uncertain():
    """No rule read needs conntrack, but the native nftables ruleset was not read (no `nft` on the
    host): one of its rules might turn tracking on, so skipping the nat chains would be a guess."""
    state = _demo()
    rules, _ = parse_iptables_save(NAT_WITHOUT_CONNTRACK.splitlines(), 4, "iptables-save.txt")
    known = replace(state, rulesets={**state.rulesets, 4: rules}, nft_tables=())
    assert "nft-ruleset" not in known.missing
    certain = trace(known, Query(2222, "tcp", "external"))
    assert "conntrack-unknown" not in [d.code for d in certain.doubt_facts]
    assert "conntrack" in [h.kind for h in certain.hops]

    unread = replace(known, missing=known.missing | {"nft-ruleset"})
    path = trace(unread, Query(2222, "tcp", "external"))
    assert path.verdict == "uncertain"
    assert [d.code for d in path.doubt_facts].count("conntrack-unknown") == 1
    assert [h.chain for h in path.hops if h.table == "nat"][:2] == ["PREROUTING", "DOCKER"]
    assert "conntrack" not in [h.kind for h in path.hops]


def test_an_unread_native_ruleset_is_recorded_whoever_uses_nftables(tmp_path):
    """A capture without `nft -j list ruleset` says so; Docker's own nftables make it a doubt on
    every answer ("nft"), otherwise it is the narrower "nft-ruleset"."""
    import shutil
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle_path(), copy)
    (copy / "nft-ruleset.json").unlink(missing_ok=True)
    state = load_bundle(copy)
    assert state.facts.docker_firewall != "nftables"
    assert "nft-ruleset" in state.missing and "nft" not in state.missing
    assert "nft-ruleset" not in _demo().missing


def _trace_with_mangle_output(rules: str):
    state = _demo()
    text = f"*mangle\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n:Y - [0:0]\n{rules}\nCOMMIT\n"
    mangle, _ = parse_iptables_save(text.splitlines(), 4, "iptables-save.txt")
    merged = replace(state.rulesets[4], tables={**state.rulesets[4].tables, **mangle.tables})
    return trace(replace(state, rulesets={**state.rulesets, 4: merged}), Query(80, "tcp", "host"))


def test_a_rule_loop_stops_the_walk_at_the_jump_that_closes_it():
    """The kernel refuses to load a loop ("Too many links", checked in a namespace for iptables-nft,
    legacy and nft), so only a file holds one: the walk names the jump and stays uncertain, instead
    of recording a million hops (this set took 26 s and 1.2 GB before)."""
    for rules in ("-A OUTPUT -g X\n-A X -j X", "-A OUTPUT -j X\n-A X -g Y\n-A Y -j X", "-A OUTPUT -j X\n-A X -j Y\n"
                  "-A Y -g OUTPUT"):
        path = _trace_with_mangle_output(rules)
        assert path.verdict == "uncertain", rules
        mangle = [h for h in path.hops if h.table == "mangle"]
        assert len(mangle) == rules.count("\n") + 1, (rules, [h.rule for h in mangle])
        assert mangle[-1].rule == rules.splitlines()[-1]
        assert any("rule loop" in d for d in path.doubts), path.doubts


def test_a_chain_entered_again_after_it_returned_is_no_loop():
    """Jumping to a chain twice, or jumping and then going to one, is a tree the kernel loads: the walk
    follows it to a certain end."""
    path = _trace_with_mangle_output("-A OUTPUT -j X\n-A OUTPUT -j X\n-A X -j Y\n-A X -g Y\n-A Y -j RETURN")
    mangle = [(h.chain, h.rule) for h in path.hops if h.table == "mangle" and h.kind == "rule"]
    assert [c for c, _ in mangle] == ["OUTPUT", "X", "Y", "X", "Y"] * 2 and path.verdict != "uncertain", mangle
    assert not any("rule loop" in d for d in path.doubts)
