"""Findings: "why can't I reach it?" answers for one port, each resting on evidence from the host.

A finding has a code, a severity (info / warn / problem) and the facts it rests on (a rule, a
sysctl, a process, a socket list); `tui.paths.explain` words its one-line reason and its evidence.
Per-port findings come from `port_findings`; findings about the host as a whole (forwarding off,
two firewall backends) from `host_findings`. Pure functions of the HostState (and the path
engine): no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from msgspec import Struct, field

from tui.model import Container, HostState, Network, PortBinding, Rule, RuleSet
from tui.model.memo import per_object
from tui.paths.types import Path, Query, Severity, Verdict

SEVERITY_ORDER = {Severity.PROBLEM: 0, Severity.WARN: 1, Severity.INFO: 2}
PROBLEM, WARN, INFO = Severity.PROBLEM, Severity.WARN, Severity.INFO


class Finding(Struct, frozen=True):
    code: str  # stable identifier, e.g. "expose-only": it also picks the words
    severity: Severity
    facts: dict[str, Any] = field(default_factory=dict)

    # The words are imported when first asked for: the first frame's row marks need only the
    # severity, and `explain` (all of the app's sentences) was 4-5 ms of that frame.
    @property
    def reason(self) -> str:
        from tui.paths import explain

        return explain.finding_reason(self.code, self.facts)

    @property
    def evidence(self) -> str:
        from tui.paths import explain

        return explain.finding_evidence(self.code, self.facts)

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "reason": self.reason, "evidence": self.evidence}


def _rules(rs: RuleSet | None, table: str) -> list[Rule]:
    if rs is None:
        return []
    return [r for chain in rs.tables.get(table, {}).values() for r in chain.rules]


def _network_of(state: HostState, c: Container) -> tuple[Network | None, Any]:
    for e in c.endpoints:
        net = state.network_by_name(e.network)
        if net is not None:
            return net, e
    return None, None


def _listening(c: Container, b: PortBinding) -> bool | None:
    if c.listeners is None:
        return None
    return any(lsn.port == b.container_port and lsn.proto == b.proto for lsn in c.listeners)


DOCKER_NFT_TABLES = frozenset({"docker-bridges"})  # the tables Docker 29's nftables backend writes


def _docker_on_nft(state: HostState) -> bool:
    return state.facts.docker_firewall == "nftables" or any(t.name in DOCKER_NFT_TABLES for t in state.nft_tables)


def host_findings(state: HostState) -> list[Finding]:
    out = []
    fwd = state.sysctl("net.ipv4.ip_forward")
    if fwd == "0":
        # Docker's nftables backend does not turn forwarding on (its iptables backend does).
        out.append(Finding("ip-forward-off-nft" if _docker_on_nft(state) else "ip-forward-off", PROBLEM))
    if _docker_on_nft(state):
        out.append(_no_docker_user(state))
    if state.other_rulesets.get(4) is not None:
        rs = state.other_rulesets[4]
        out.append(Finding("two-backends", WARN, {"other": state.other_backend, "ours": state.facts.firewall_backend,
                                                  "source": rs.source, "size": rs.describe_size()}))
    bound = {(b.proto, b.host_port) for c in state.containers if c.state == "running" for b in c.ports
             if b.published}
    for p in state.proxies if "docker" not in state.missing else ():  # containers unknown: no verdict
        if (p.proto, p.host_port) not in bound:
            out.append(Finding("orphan-proxy", WARN, {"proxy": p}))
    if state.facts.rootless:
        out.append(Finding("rootless", INFO))
    out += _unfiltered_ipv6_networks(state)
    return out


def _family_differs(state: HostState, b: PortBinding, trace: Tracer) -> list[Finding]:
    """An outside client gets through over one family and not the other: the rule (or the lack of
    a proxy, or of a route) that makes the difference."""
    paths = {}
    for family in (4, 6):
        try:
            paths[family] = trace(state, Query(b.host_port or 0, b.proto, "external", family=family))
        except ValueError:
            return []
    if Verdict.UNCERTAIN in (paths[4].verdict, paths[6].verdict):
        return []
    delivered = {family: path.verdict == Verdict.DELIVERED for family, path in paths.items()}
    if delivered[4] == delivered[6]:
        return []
    failing = paths[6] if delivered[4] else paths[4]
    deciding = failing.deciding_hop()
    return [Finding("family-differs", WARN, {
        "binding": b, "works": 4 if delivered[4] else 6, "fails": 6 if delivered[4] else 4,
        "verdict": failing.verdict, "rule": deciding.rule if deciding else "",
        "where": f"{deciding.table}/{deciding.chain}" if deciding else "",
        "policy": deciding.policy if deciding else "", "last": failing.hops[-1].explanation if failing.hops else ""})]


def _unfiltered_ipv6_networks(state: HostState) -> list[Finding]:
    """Bridge networks with IPv6 on and no ip6tables rule of Docker's for their bridge (ip6tables
    off): their containers' IPv6 addresses are routed to directly, published port or not."""
    if "rules" in state.missing or any(t.family in ("ip6", "inet") and t.rule_count for t in state.nft_tables):
        return []
    v6 = state.rulesets.get(6)
    if v6 is None:
        return []  # the IPv6 rules were not read: whether they filter the network is not known
    text = "\n".join(r.text for r in v6.all_rules())
    return [Finding("ipv6-net-unfiltered", WARN, {"network": n.name, "bridge": n.bridge,
                                                  "forwarding": state.sysctl("net.ipv6.conf.all.forwarding")})
            for n in state.networks
            if n.enable_ipv6 and n.bridge and not re.search(rf"-[io] {re.escape(n.bridge)}( |$)", text, re.M)]


def _no_docker_user(state: HostState) -> Finding:
    """Docker's nftables tables have no DOCKER-USER: a user's rules live in a table of their own,
    and its base chain's priority at the hook says whether they run before or after Docker's."""
    docker = [c.priority for t in state.nft_tables if t.name in DOCKER_NFT_TABLES for c in t.chains.values()
              if c.hook == "forward"]
    anchor = min(docker) if docker else 0
    others = tuple((f"{t.family} {t.name}/{c.name}", c.priority, "before" if c.priority < anchor else
                    "after" if c.priority > anchor else "at the same priority as")
                   for t in state.nft_tables if t.name not in DOCKER_NFT_TABLES and t.family in ("ip", "inet")
                   for c in t.chains.values() if c.hook == "forward")
    return Finding("nft-no-docker-user", INFO, {"priority": anchor, "others": others})


def _native_dnat_ports(state: HostState) -> set[tuple[str, int]]:
    """(proto, port) that a native nftables dnat rule matches on, as far as its expressions say."""
    ports: set[tuple[str, int]] = set()
    for t in state.nft_tables:
        for chain in t.chains.values():
            for r in chain.rules:
                if not any(isinstance(e, dict) and "dnat" in e for e in r.expr):
                    continue
                for e in r.expr:
                    m = e.get("match") if isinstance(e, dict) else None
                    left = m.get("left") if isinstance(m, dict) else None
                    pay = left.get("payload") if isinstance(left, dict) else None
                    if isinstance(m, dict) and isinstance(pay, dict) and pay.get("field") == "dport" \
                            and isinstance(m.get("right"), int):
                        for proto in (("tcp", "udp") if pay.get("protocol") == "th" else (pay.get("protocol"),)):
                            ports.add((str(proto), m["right"]))
    return ports


def port_findings(state: HostState, c: Container, b: PortBinding, deep: bool = True,
                  known: Iterable[Path] = ()) -> list[Finding]:
    """What a user should know about one port of one container.

    `deep=False` leaves out the findings that need a trace (drops, direct routing): cheap enough
    for every row of a large host. `known`: paths already traced on this state (the one on screen),
    so that a finding that asks the same question does not walk it again.
    """
    trace = _reusing(known)

    out: list[Finding] = []
    net, endpoint = _network_of(state, c)
    rs = state.rulesets.get(4)
    listening = _listening(c, b)

    if b.unmapped:
        out.append(Finding("routed-unmapped", INFO, {"binding": b, "network": net.name if net else "",
                                                     "ip": endpoint.ip if endpoint else ""}))
    elif not b.published:
        out.append(Finding("expose-only", INFO, {"binding": b}))
    if net is not None and net.icc and net.driver == "bridge":
        out.append(Finding("icc-on", INFO, {"network": net.name, "container": c.name,
                                            "rule": _icc_rule(state, net), "icc": net.icc}))
    if b.published and b.loopback_only:
        out.append(Finding("loopback-only", WARN, {"binding": b}))
    if listening is False:
        out.append(Finding("not-listening", PROBLEM, {"container": c.name, "binding": b,
                                                     "listeners": tuple(c.listeners or ())}))
    if b.published and c.state == "running":
        out += _proxy_findings(state, c, b, endpoint.ip if endpoint else "")
        out += _udp_answer_source(state, b)
        if deep:
            out += _drop_findings(state, b, trace)
        if rs is not None and not _has_dnat(rs, b) and not state.facts.rootless and "rules" not in state.missing \
                and (b.proto, b.host_port) not in _native_dnat_ports(state):
            out.append(Finding("no-dnat-rule", WARN, {"binding": b, "source": rs.source}))
        if rs is not None:
            out += _input_bypass(rs, b)
        if deep and state.nft_tables:
            out += _native_input_bypass(state, b, trace)
        if b.host_ip == "::" or (b.host_ip or "").count(":") >= 2:
            v6 = state.rulesets.get(6)
            if v6 is not None and not _has_dnat(v6, b):  # (not read: nothing to say)
                proxy = next((p for p in state.proxies if p.proto == b.proto and p.host_port == b.host_port
                              and p.host_ip == b.host_ip), None)
                out.append(Finding("ipv6-no-rule", WARN, {"binding": b, "proxy": proxy,
                                                          "proxy_on": state.facts.userland_proxy}))
            if deep:
                out += _family_differs(state, b, trace)
    if deep and endpoint is not None and c.state == "running":
        out += _direct_routing(state, c, b, endpoint.ip, trace)
        if state.nft_tables:
            out += _native_direct(state, b, endpoint.ip, trace)
    out.sort(key=lambda f: SEVERITY_ORDER.get(f.severity, 9))
    return out


def _icc_rule(state: HostState, net: Network) -> str:
    """Docker's rule that lets the network's containers reach each other, "" when there is none."""
    rs = state.rulesets.get(4)
    return (_icc_accepts(rs).get(net.bridge) if rs is not None else None) or ""


@per_object(maxsize=16)
def _icc_accepts(rs: RuleSet) -> dict[str, str]:
    """bridge -> Docker's `-i br -o br -j ACCEPT` rule (ICC on), once per rule set."""
    out: dict[str, str] = {}
    for r in _rules(rs, "filter"):
        m = re.search(r"-i (\S+) -o (\S+) -j ACCEPT$", r.text)
        if m and m.group(1) == m.group(2):
            out.setdefault(m.group(1), r.text)
    return out


_DNAT_PORT = re.compile(r"-p (tcp|udp) .*--dport (\d+)(?::(\d+))? .*-j DNAT")


@per_object(maxsize=16)
def _dnat_ports(rs: RuleSet) -> set[tuple[str, int]]:
    """(proto, port) of every DNAT rule's destination port(s), once per rule set."""
    ports: set[tuple[str, int]] = set()
    for r in _rules(rs, "nat"):
        # The substring test first: a Kubernetes node's 17,000 service rules jump, they do not DNAT,
        # and the regex's backtracking over each of them was 25 ms of a one-port `trace`.
        m = _DNAT_PORT.search(r.text) if "-j DNAT" in r.text else None
        if m:
            lo = int(m.group(2))
            hi = int(m.group(3) or lo)
            ports.update((m.group(1), p) for p in range(lo, min(hi, lo + 65535) + 1))
    return ports


def _has_dnat(rs: RuleSet, b: PortBinding) -> bool:
    return (b.proto, b.host_port) in _dnat_ports(rs)


def _proxy_findings(state: HostState, c: Container, b: PortBinding, ip: str) -> list[Finding]:
    if state.facts.userland_proxy is False or "proxies" in state.missing:
        return []
    mine = [p for p in state.proxies if p.host_port == b.host_port and p.proto == b.proto]
    if not mine:
        return [Finding("proxy-missing", WARN, {"binding": b})]
    wrong = [p for p in mine if p.container_ip != ip or p.container_port != b.container_port]
    if wrong and len(wrong) == len(mine):
        p = wrong[0]
        return [Finding("proxy-mismatch", PROBLEM, {"binding": b, "proxy": p, "container": c.name, "ip": ip})]
    return []


Tracer = Callable[[HostState, Query], Path]


def _question(q: Query) -> tuple[object, ...]:
    return (q.port, q.proto, q.origin, q.to, q.family)


def _reusing(known: Iterable[Path]) -> Tracer:
    """The engine's trace, answering a question asked twice (or already on screen) once."""
    answers = {_question(p.query): p for p in known}

    def traced(state: HostState, query: Query) -> Path:
        key = _question(query)  # before the trace fills in the addresses
        if key not in answers:
            # Imported on the first trace: the cheap findings (the marks of the first frame's rows)
            # need none, and the engine's import was ~12 ms of the app's first frame.
            from tui.paths.engine import trace

            answers[key] = trace(state, query)
        return answers[key]

    return traced


def _udp_answer_source(state: HostState, b: PortBinding) -> list[Finding]:
    """Up to Docker 27, docker-proxy answers UDP from the address the kernel picks for the way back:
    a container that sends to the host's address gets the answer from its bridge's gateway, and a
    connected UDP client drops it (moby#11998; fixed in 28.0 by moby#48571)."""
    major = state.facts.docker_major
    if b.proto != "udp" or (major is not None and major >= 28):
        return []
    proxy = next((p for p in state.proxies if p.proto == "udp" and p.host_port == b.host_port), None)
    if proxy is None or not any(n.driver == "bridge" for n in state.networks):
        return []
    return [Finding("udp-proxy-answer-source", WARN, {"binding": b, "proxy": proxy,
                                                       "docker_version": state.facts.docker_version})]


def _drop_findings(state: HostState, b: PortBinding, trace: Tracer) -> list[Finding]:
    if b.loopback_only:
        return []
    try:
        path = trace(state, Query(b.host_port or 0, b.proto, "external"))
    except ValueError:  # QueryError, or an address the engine cannot take
        return []
    if path.verdict not in (Verdict.DROPPED, Verdict.REJECTED):
        return []
    deciding = path.deciding_hop()
    if deciding is None:
        return []
    if deciding.family:
        return _native_drop(path, deciding)
    user = "DOCKER-USER" in deciding.chain or (deciding.chain == "FORWARD" and "DOCKER" not in deciding.rule)
    return [Finding("dropped-by-rule", PROBLEM, {"table": deciding.table, "chain": deciding.chain,
                                                 "rule": deciding.rule, "policy": deciding.policy,
                                                 "verdict": path.verdict, "beside_docker": user})]


def _native_drop(path: Path, deciding: Any) -> list[Finding]:
    """A native table decided. Where another table had accepted the packet at the same hook before,
    say so: an accept ends only its own base chain, so it protects nothing from the next table."""
    facts = {"table": f"{deciding.family} {deciding.table}", "chain": deciding.chain, "rule": deciding.rule,
             "policy": deciding.policy.lower(), "verdict": path.verdict, "beside_docker": False}
    stop = path.hops.index(deciding)
    accepted = next((h for h in reversed(path.hops[:stop]) if h.kind == "rule" and h.target == "ACCEPT"
                     and (h.family, h.table) != (deciding.family, deciding.table)), None)
    if accepted is None:
        return [Finding("dropped-by-rule", PROBLEM, facts | {"beside_docker": deciding.table not in DOCKER_NFT_TABLES})]
    facts |= {"accepted_by": f"{accepted.family} {accepted.table}/{accepted.chain}".strip(),
              "accept_rule": accepted.rule}
    code = "docker-accept-other-drops" if accepted.table in DOCKER_NFT_TABLES or not accepted.family \
        else "other-accept-docker-drops"
    return [Finding(code, PROBLEM, facts)]


def _native_direct(state: HostState, b: PortBinding, ip: str, trace: Tracer) -> list[Finding]:
    """Straight to the container's address from outside: where another table accepted it and
    Docker's table still dropped it, say that the accept did not override the drop."""
    try:
        path = trace(state, Query(b.container_port, b.proto, "external", to=ip))
    except ValueError:
        return []
    deciding = path.deciding_hop() if path.verdict in (Verdict.DROPPED, Verdict.REJECTED) else None
    if deciding is None or not deciding.family:
        return []
    return [f for f in _native_drop(path, deciding) if f.code == "other-accept-docker-drops"]


def _native_input_bypass(state: HostState, b: PortBinding, trace: Tracer) -> list[Finding]:
    """A native table (a firewalld zone, an admin's) that closes the port at the input hook looks
    protective, but a published port is DNAT'ed in prerouting and forwarded: input never sees it."""
    from tui.paths.nft_walk import run_chain
    from tui.paths.packet import HostView, Packet

    if b.loopback_only or not b.host_port:
        return []
    try:
        path = trace(state, Query(b.host_port, b.proto, "external"))
    except ValueError:
        return []
    if path.verdict != Verdict.DELIVERED or path.via != "nat":
        return []  # stopped anyway, or it does reach the host's input (docker-proxy)
    view = HostView.of(state)
    dev = view.default_interface()
    dst = view.primary_address(dev, 4) if dev else ""
    if not dst:
        return []
    for t in state.nft_tables:
        if t.name in DOCKER_NFT_TABLES or t.family not in ("ip", "inet"):
            continue
        for chain in t.chains.values():
            if chain.hook != "input":
                continue
            p = Packet("198.51.100.10", dst, b.proto, 40000, b.host_port, iif=dev)
            result = run_chain(t, chain, p, view)
            if result.verdict in ("DROP", "REJECT") and not result.doubts:
                last = result.steps[-1] if result.steps else None
                rule = last.rule.text if last is not None and last.rule is not None else ""
                return [Finding("nft-input-bypass", WARN, {"binding": b, "where": f"{t.family} {t.name}/{chain.name}",
                                                          "rule": rule, "policy": chain.policy})]
    return []


def _input_bypass(rs: RuleSet, b: PortBinding) -> list[Finding]:
    """ufw/firewalld-style INPUT filtering does not see published ports: DNAT comes first."""
    chain = rs.chain("filter", "INPUT")
    if chain is None or b.loopback_only:
        return []
    closing = chain.policy in ("DROP", "REJECT") or any(
        r.text.rstrip().endswith(("-j DROP", "-j REJECT")) or "-j REJECT " in r.text for r in chain.rules)
    if not closing:
        return []
    rule = "" if chain.policy in ("DROP", "REJECT") else next(
        r.text for r in chain.rules if "DROP" in r.text or "REJECT" in r.text)
    return [Finding("input-bypass", WARN, {"binding": b, "policy": chain.policy, "rule": rule})]


def _direct_routing(state: HostState, c: Container, b: PortBinding, ip: str, trace: Tracer) -> list[Finding]:
    """Docker <= 27 left FORWARD open to container addresses: the LAN can route to them directly."""
    major = state.facts.docker_major
    rs = state.rulesets.get(4)
    forward = rs.chain("filter", "FORWARD") if rs is not None else None
    if forward is None or forward.policy != "ACCEPT" or (major is not None and major >= 28):
        return []
    try:
        path = trace(state, Query(b.container_port, b.proto, "external", to=ip))
    except ValueError:  # QueryError, or an address the engine cannot take
        return []
    if path.verdict not in (Verdict.DELIVERED, Verdict.REFUSED):  # refused: it got there, nothing listened
        return []
    return [Finding("direct-routing", WARN, {"docker_version": state.facts.docker_version, "ip": ip,
                                             "container": c.name, "binding": b})]
