"""One comparison, used for every host the tests build: the engine's path against the kernel's trace."""

from __future__ import annotations

from tests import rig
from tui.paths.engine import Query, trace
from tui.paths.packet import HostView

JUDGED = [0]  # kernel-judged cases in this run (the CI summary says how many)
# What a real TCP client sees for each verdict (rig.Reach). Through docker-proxy a container that
# does not listen looks "closed": the proxy accepts, then hangs up.
CLIENT_SEES = {"delivered": {"connected"}, "dropped": {"timeout"}, "refused": {"refused", "closed"},
               "rejected": {"refused", "unreachable"}}


def check_outcome(path, query: Query, proto: str, connected) -> None:
    """`delivered` must agree with the connection; for TCP, the kind of failure too, where the
    client could tell it (a probe's Reach; `docker exec nc` only says yes or no)."""
    if path.verdict == "uncertain":
        assert path.doubts, f"{query}: uncertain without a reason"
        return  # honest: the kernel's outcome is not held against it
    words = "\n".join(h.explanation for h in path.hops)
    assert (path.verdict == "delivered") == bool(connected), (
        f"{query.origin} {query.port}/{proto}: engine says {path.verdict}, connection "
        f"{'succeeded' if connected else 'failed'} ({connected!s})\n" + words)
    if proto == "tcp" and isinstance(connected, rig.Reach):
        assert str(connected) in CLIENT_SEES[path.verdict], (
            f"{query.origin} {query.port}/{proto}: engine says {path.verdict}, the client saw {connected!s}\n" + words)


def _predicted(state, query: Query):
    """The engine's path, counted as one judged case; the docker-proxy it goes through, if any; and
    the ports to trace (the client's, and the proxy's own connection's)."""
    JUDGED[0] += 1
    path = trace(state, query)
    proxy_hop = next((h for h in path.hops if h.kind == "proxy"), None)
    proxy = next((x for x in state.proxies if str(x.pid) == proxy_hop.name), None) if proxy_hop else None
    ports = [query.port] + ([proxy.container_port] if proxy and proxy.container_port != query.port else [])
    return path, proxy, ports


def _never_sent(path) -> bool:
    """The engine says the connection's first packet never leaves its sender: no route, or IPv6
    neighbour discovery filtered. The kernel must then trace none of it."""
    return any((h.kind == "route" and h.name == "unreachable") or h.reason == "neighbour-filtered"
               for h in path.hops)


def judge(state, query: Query, proto: str, connect, netns: str | None = None) -> None:
    """Leg 1 (and docker-proxy's own connection, leg 2) rule by rule against the kernel's trace."""
    path, proxy, ports = _predicted(state, query)
    for _attempt in range(3):
        with rig.kernel_trace(proto, ports, netns) as read:
            connected = connect()
            text = read()
        events = rig.parse_trace(text, proto, query.port, query.src)
        if events:
            break  # else xtables-monitor missed the flow (it subscribes late now and then): measure again
    if _never_sent(path):
        # The engine says no packet leaves the origin: the kernel must trace none, and connect() fails.
        assert not events and not connected, f"{query}: a packet left although the engine says unreachable"
        return
    unfiltered = any(h.kind == "bridge" and h.facts.get("nf_bridge") is False for h in path.hops)
    if unfiltered and not any(h.kind == "rule" for h in path.hops):
        # bridge-nf-call-iptables=0: the bridge forwards the frame without iptables; nothing to trace.
        assert not [e for e in events if e.kind == "rule"], f"{query}: the kernel ran rules on a bridged frame"
        check_outcome(path, query, proto, connected)
        return
    kernel_rules = [e.rule for e in events if e.kind == "rule"]
    # A rule the engine could not evaluate is a hop of its own that may or may not have matched:
    # it is compared only where the kernel shows it.
    # Native nftables rules are not iptables' to show: `judge_native` compares them.
    ours = [h.rule for h in path.hops if h.kind == "rule" and h.leg == 1 and not h.family
            and not h.facts.get("neighbour") and (not h.facts.get("maybe") or h.rule in kernel_rules)]
    assert events, f"the kernel traced no packet for {query}"
    assert ours == kernel_rules, f"{query.origin}: engine {ours}\n kernel {kernel_rules}"
    # Policies too. Every policy the engine says decided, the kernel shows, in the same order; and
    # every policy that did not let the packet through, the engine shows. (The kernel also shows
    # ACCEPT policies of empty chains that iptables-save cannot tell exist; raw is left out, as the
    # trace's own TRACE rule lives there.)
    kernel_policies = [(e.table, e.chain, e.verdict) for e in events if e.kind == "policy" and e.table != "raw"]
    our_policies = [(h.table, h.chain, h.policy) for h in path.hops
                    if h.kind == "policy" and h.leg == 1 and h.table != "raw" and not h.backend and not h.family]
    _same_stopping_policies(query, our_policies, kernel_policies)
    if proxy is not None:
        gateway = HostView.of(state).route(proxy.container_ip)[2]
        leg2 = rig.parse_trace(text, proto, proxy.container_port, gateway)
        assert leg2, f"the kernel traced no docker-proxy connection to {proxy.container_ip}"
        ours2 = [h.rule for h in path.hops if h.kind == "rule" and h.leg == 2 and not h.family]
        assert ours2 == [e.rule for e in leg2 if e.kind == "rule"], f"leg 2 of {query}"
    check_outcome(path, query, proto, connected)


def _same_stopping_policies(query: Query, ours: list, theirs: list) -> None:
    """Every policy the engine names, the kernel shows in that order; and the policies that did not
    let the packet through are the same on both sides."""
    rest = iter(theirs)
    assert all(p in rest for p in ours), f"{query.origin}: engine {ours}\n kernel {theirs}"
    assert [p for p in ours if p[2] != "ACCEPT"] == [p for p in theirs if p[2] != "ACCEPT"], (
        f"{query.origin}: engine {ours}\n kernel {theirs}")


def judge_native(state, query: Query, proto: str, connect, netns: str | None = None) -> None:
    """For hosts whose rules are native nftables tables: `nft monitor trace` judges. The rule hops of
    the native tables, in order, and their policies equal the kernel's; `delivered` agrees with the
    connection."""
    path, proxy, ports = _predicted(state, query)
    for _attempt in range(3):
        with rig.nft_trace(proto, ports, netns) as read:
            connected = connect()
            text = read()
        events = rig.parse_nft_trace(text, proto, query.port, query.src)
        if events or not connected:
            break
    if _never_sent(path):
        assert not events and not connected, f"{query}: a packet left although the engine says unreachable"
        return

    def ours(leg: int) -> tuple[list, list]:
        hops = [h for h in path.hops if h.leg == leg and h.family]
        return ([(h.table, h.chain, h.rule) for h in hops if h.kind == "rule" and not h.facts.get("maybe")
                 and not h.facts.get("neighbour")],
                [(h.table, h.chain, h.policy.lower()) for h in hops if h.kind == "policy"])

    native = {(t.family, t.name) for t in state.nft_tables}

    def kernel(evs) -> tuple[list, list]:
        # Only the native tables: iptables-nft's own tables are judged by `judge`, in iptables' words.
        evs = [e for e in evs if (e.family, e.table) in native]
        return ([(e.table, e.chain, e.rule) for e in evs if e.kind == "rule"],
                [(e.table, e.chain, e.verdict) for e in evs if e.kind == "policy"])

    assert events, f"the kernel traced no packet for {query}"
    assert ours(1) == kernel(events), f"{query.origin}: engine {ours(1)}\n kernel {kernel(events)}"
    if proxy is not None:
        gateway = HostView.of(state).route(proxy.container_ip)[2]
        leg2 = rig.parse_nft_trace(text, proto, proxy.container_port, gateway)
        assert leg2, f"the kernel traced no docker-proxy connection to {proxy.container_ip}"
        assert ours(2) == kernel(leg2), f"leg 2 of {query}: engine {ours(2)}\n kernel {kernel(leg2)}"
    if path.verdict == "uncertain":
        assert path.doubts, f"{query}: uncertain without a reason"
        return
    check_outcome(path, query, proto, connected)


def judge_by_trace_log(state, query: Query, proto: str, connect) -> None:
    """iptables-legacy: the TRACE target's kernel log, in order. The rules the engine says matched
    (both legs), by position in their chains, equal the log's rule lines; the policies it says
    decided appear in the log in the same order; `delivered` and the failure kind agree."""
    path, proxy, ports = _predicted(state, query)
    with rig.legacy_trace_log(proto, ports) as read:
        connected = connect()
        text = read()
    shift = {"PREROUTING": len(ports), "OUTPUT": len(ports)}  # our TRACE rules sit on top of raw's chains

    rules_of = state.rulesets.get(4)

    def explicit_return(e) -> bool:
        """The log calls an unconditional `-j RETURN` rule "return": to the kernel's trace it looks
        like the chain's own end (ip_tables.c, get_chainname_rulenum). Such a rule is a rule hop."""
        chain = rules_of.chain(e.table, e.chain) if rules_of else None
        return bool(chain and e.kind == "return" and 0 < e.number <= len(chain.rules)
                    and chain.rules[e.number - 1].text == f"-A {e.chain} -j RETURN")

    def kernel(events) -> tuple[list[str], list[tuple[str, str]]]:
        rules = [f"{e.table}/{e.chain}#{e.number - (shift.get(e.chain, 0) if e.table == 'raw' else 0)}"
                 for e in events if (e.kind == "rule" or explicit_return(e))
                 and not (e.table == "raw" and e.number <= shift.get(e.chain, 0))]
        return rules, [(e.table, e.chain) for e in events if e.kind == "policy" and e.table != "raw"]

    def ours(leg: int) -> tuple[list[str], list[tuple[str, str]]]:
        hops = [h for h in path.hops if h.leg == leg and not h.family and not h.backend]
        return ([h.rule_ref for h in hops if h.kind == "rule" and not h.facts.get("maybe")
                 and not h.facts.get("neighbour")],
                [(h.table, h.chain) for h in hops if h.kind == "policy" and h.table != "raw"
                 and not h.facts.get("neighbour")])

    events = rig.parse_trace_log(text, proto, query.port, query.src)
    if _never_sent(path):
        assert not events and not connected, f"{query}: a packet left although the engine says unreachable"
        return
    unfiltered = any(h.kind == "bridge" and h.facts.get("nf_bridge") is False for h in path.hops)
    if not (unfiltered and not any(h.kind == "rule" for h in path.hops)):
        assert events, f"the kernel logged no TRACE for {query}"
        k_rules, k_policies = kernel(events)
        o_rules, o_policies = ours(1)
        assert o_rules == k_rules, f"{query.origin}: engine {o_rules}\n kernel {k_rules}"
        rest = iter(k_policies)
        assert all(p in rest for p in o_policies), f"{query.origin}: engine {o_policies}\n kernel {k_policies}"
        if proxy is not None:
            gateway = HostView.of(state).route(proxy.container_ip)[2]
            leg2 = rig.parse_trace_log(text, proto, proxy.container_port, gateway)
            assert leg2, f"the kernel logged no docker-proxy connection to {proxy.container_ip}"
            assert ours(2)[0] == kernel(leg2)[0], f"leg 2 of {query}: engine {ours(2)[0]}\n kernel {kernel(leg2)[0]}"
    check_outcome(path, query, proto, connected)


def judge_by_nft_trace(state, query: Query, proto: str, connect, netns: str | None = None) -> None:
    """Any family, by `nft -a monitor trace`: for IPv6, where xtables-monitor cannot judge (Debian's
    1.8.9 exits at the first ip6 rule with a port match). The rules of iptables-nft's tables are
    named by handle: each is found by its position in its chain, as `iptables-save` lists it, and
    compared with the engine's rule refs; the rules of native tables are compared as nft prints them.
    Both legs, in order; the policies that stopped the packet; `delivered` and the failure kind."""
    path, proxy, ports = _predicted(state, query)
    # iptables-nft's tables of both families: docker-proxy's leg 2 may be IPv4 after an IPv6 leg 1.
    iptables_tables = {(fam, t) for number, fam in ((4, "ip"), (6, "ip6")) if state.rulesets.get(number)
                       for t in state.rulesets[number].tables}
    native = {(t.family, t.name) for t in state.nft_tables}
    for _attempt in range(3):
        with rig.nft_trace(proto, ports, netns) as read:
            connected = connect()
            text = read()
        positions = rig.rule_positions(netns)
        events = rig.parse_nft_trace(text, proto, query.port, query.src)
        if events or not connected:
            break
    if _never_sent(path):
        assert not events and not connected, f"{query}: a packet left although the engine says unreachable"
        return

    def kernel(evs) -> tuple[list[str], list[tuple[str, str, str]]]:
        rules, policies = [], []
        for e in evs:
            if (e.family, e.table) in iptables_tables:
                if e.kind == "rule":
                    rules.append(f"{e.table}/{e.chain}#{positions[(e.family, e.table, e.chain, e.handle)]}")
                elif e.kind == "policy" and e.table != "raw":
                    policies.append((e.table, e.chain, e.verdict.upper()))
            elif (e.family, e.table) in native:
                if e.kind == "rule":
                    rules.append(f"{e.family} {e.table}/{e.chain}: {e.rule}")
                elif e.kind == "policy":
                    policies.append((e.table, e.chain, e.verdict.upper()))
        return rules, policies

    def ours(leg: int) -> tuple[list[str], list[tuple[str, str, str]]]:
        hops = [h for h in path.hops if h.leg == leg and not h.backend]
        rules = [f"{h.family} {h.table}/{h.chain}: {h.rule}" if h.family else h.rule_ref
                 for h in hops if h.kind == "rule" and not h.facts.get("maybe")
                 and not h.facts.get("neighbour")]
        return rules, [(h.table, h.chain, h.policy.upper()) for h in hops if h.kind == "policy" and h.table != "raw"
                 and not h.facts.get("neighbour")]

    assert events, f"the kernel traced no packet for {query}"
    words = "\n".join(f"  {h.kind} {h.rule or h.name}" for h in path.hops)
    k_rules, k_policies = kernel(events)
    o_rules, o_policies = ours(1)
    assert o_rules == k_rules, f"{query.origin}: engine {o_rules}\n kernel {k_rules}\n{words}"
    _same_stopping_policies(query, o_policies, k_policies)
    if proxy is not None:
        gateway = HostView.of(state).route(proxy.container_ip)[2]
        leg2 = rig.parse_nft_trace(text, proto, proxy.container_port, gateway)
        assert leg2, f"the kernel traced no docker-proxy connection to {proxy.container_ip}"
        assert ours(2)[0] == kernel(leg2)[0], f"leg 2 of {query}: engine {ours(2)[0]}\n kernel {kernel(leg2)[0]}"
        assert kernel(leg2)[1], f"leg 2 of {query}: the kernel showed no chain of it (a family left out?)"
    if path.verdict == "uncertain":
        assert path.doubts, f"{query}: uncertain without a reason"
        return
    check_outcome(path, query, proto, connected)
