"""Findings: "why can't I reach it?" answers for one port, each resting on evidence from the host.

A finding has a severity (info / warn / problem), a one-line reason, and the evidence it rests on
(a rule, a sysctl, a process, a socket list). Per-port findings come from `port_findings`; findings
about the host as a whole (forwarding off, two firewall backends) from `host_findings`. Pure
functions of the HostState (and the path engine): no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tui.model import Container, HostState, PortBinding, RuleSet
from tui.model.memo import per_object

SEVERITY_ORDER = {"problem": 0, "warn": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    code: str  # stable identifier, e.g. "expose-only"
    severity: str  # info / warn / problem
    reason: str
    evidence: str = ""

    def as_json(self) -> dict:
        return {"code": self.code, "severity": self.severity, "reason": self.reason, "evidence": self.evidence}


def _rules(rs: RuleSet | None, table: str) -> list:
    if rs is None:
        return []
    return [r for chain in rs.tables.get(table, {}).values() for r in chain.rules]


def _docker_major(state: HostState) -> int | None:
    m = re.match(r"(\d+)\.", state.facts.docker_version or "")
    return int(m.group(1)) if m else None


def _network_of(state: HostState, c: Container):
    for e in c.endpoints:
        net = state.network_by_name(e.network)
        if net is not None:
            return net, e
    return None, None


def _listening(c: Container, b: PortBinding) -> bool | None:
    if c.listeners is None:
        return None
    return any(lsn.port == b.container_port and lsn.proto == b.proto for lsn in c.listeners)


def host_findings(state: HostState) -> list[Finding]:
    out = []
    fwd = state.sysctl("net.ipv4.ip_forward")
    if fwd == "0":
        out.append(Finding("ip-forward-off", "problem",
                           "net.ipv4.ip_forward=0: the host forwards nothing, so no published port is reachable "
                           "from outside through DNAT (only docker-proxy on the host's own sockets answers)",
                           "sysctl net.ipv4.ip_forward = 0"))
    if state.other_rulesets.get(4) is not None:
        other = "nft" if state.facts.firewall_backend == "legacy" else "legacy"
        rs = state.other_rulesets[4]
        out.append(Finding("two-backends", "warn",
                           f"{other} iptables tables are in use beside the {state.facts.firewall_backend} ones "
                           "Docker writes: the kernel runs both, `iptables` shows one",
                           f"{rs.source}: {rs.describe_size()}"))
    bound = {(b.proto, b.host_port) for c in state.containers if c.state == "running" for b in c.ports
             if b.published}
    for p in state.proxies if "docker" not in state.missing else ():  # containers unknown: no verdict
        if (p.proto, p.host_port) not in bound:
            out.append(Finding("orphan-proxy", "warn",
                               f"docker-proxy (pid {p.pid}) holds {p.host_ip}:{p.host_port}/{p.proto}, but no running "
                               "container publishes that port: a leftover that blocks the port for others",
                               f"pid {p.pid}: {p.args}"))
    if state.facts.rootless:
        out.append(Finding("rootless", "info",
                           "rootless Docker: ports are forwarded by rootlesskit in user space, not by host "
                           "iptables rules, so the host's firewall shows no rule for them",
                           "docker info: SecurityOptions name=rootless"))
    return out


def port_findings(state: HostState, c: Container, b: PortBinding, deep: bool = True) -> list[Finding]:
    """What a user should know about one port of one container.

    `deep=False` leaves out the findings that need a trace (drops, direct routing): cheap enough
    for every row of a large host.
    """
    from tui.paths.engine import Query, trace

    out: list[Finding] = []
    net, endpoint = _network_of(state, c)
    rs = state.rulesets.get(4)
    listening = _listening(c, b)

    if not b.published:
        out.append(Finding("expose-only", "info",
                           f"{b.container_port}/{b.proto} is only EXPOSEd: nothing on the host's addresses leads "
                           "to it (publish it with -p or -P)",
                           "no host port in NetworkSettings.Ports"))
    if net is not None and net.icc and net.driver == "bridge":
        out.append(Finding("icc-on", "info",
                           f"ICC is on for {net.name}: every container on it reaches every listening port of "
                           f"{c.name}, EXPOSEd or not (EXPOSE restricts nothing)",
                           _icc_evidence(state, net)))
    if b.published and b.loopback_only:
        out.append(Finding("loopback-only", "warn",
                           f"published on {b.host_ip} only: reachable from this host, not from other machines",
                           f"binding {b.key}"))
    if listening is False:
        sockets = ", ".join(f"{lsn.proto}/{lsn.port}" for lsn in c.listeners or ()) or "none"
        out.append(Finding("not-listening", "problem",
                           f"nothing in {c.name} listens on {b.proto} port {b.container_port}: the connection "
                           "is refused even though the mapping exists",
                           f"container sockets: {sockets}"))
    if b.published and c.state == "running":
        out += _proxy_findings(state, c, b, endpoint.ip if endpoint else "")
        if deep:
            out += _drop_findings(state, b, trace, Query)
        if rs is not None and not _has_dnat(rs, b) and not state.facts.rootless and "rules" not in state.missing:
            out.append(Finding("no-dnat-rule", "warn",
                               f"no DNAT rule for {b.proto} port {b.host_port}: only docker-proxy (or nothing) "
                               "answers on it (rootless Docker, or --iptables=false?)",
                               f"{rs.source}: nat table has no --dport {b.host_port} DNAT"))
        if rs is not None:
            out += _input_bypass(rs, b)
        if b.host_ip == "::" or (b.host_ip or "").count(":") >= 2:
            v6 = state.rulesets.get(6)
            if v6 is None or not _has_dnat(v6, b):
                out.append(Finding("ipv6-no-rule", "warn",
                                   f"bound on IPv6 ({b.host_ip}) but ip6tables has no DNAT rule for port "
                                   f"{b.host_port}: IPv6 clients reach it only through docker-proxy, "
                                   "which hides their address", "ip6tables-save: no matching DNAT"))
    if deep and endpoint is not None and c.state == "running":
        out += _direct_routing(state, c, b, endpoint.ip, trace, Query)
    out.sort(key=lambda f: SEVERITY_ORDER.get(f.severity, 9))
    return out


def _icc_evidence(state: HostState, net) -> str:
    rs = state.rulesets.get(4)
    rule = _icc_accepts(rs).get(net.bridge) if rs is not None else None
    return rule or f"network option com.docker.network.bridge.enable_icc={'true' if net.icc else 'false'}"


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
        m = _DNAT_PORT.search(r.text)
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
        return [Finding("proxy-missing", "warn",
                        f"the userland proxy is on, but no docker-proxy serves {b.host_ip}:{b.host_port}/{b.proto}: "
                        "connections to it from this host via 127.0.0.1 get no answer",
                        "no docker-proxy process with -host-port " + str(b.host_port))]
    wrong = [p for p in mine if p.container_ip != ip or p.container_port != b.container_port]
    if wrong and len(wrong) == len(mine):
        p = wrong[0]
        return [Finding("proxy-mismatch", "problem",
                        f"docker-proxy on port {b.host_port} forwards to {p.container_ip}:{p.container_port}, "
                        f"not to {c.name} ({ip}:{b.container_port})", f"pid {p.pid}: {p.args}")]
    return []


def _drop_findings(state: HostState, b: PortBinding, trace, Query) -> list[Finding]:
    if b.loopback_only:
        return []
    try:
        path = trace(state, Query(b.host_port or 0, b.proto, "external"))
    except ValueError:
        return []
    if path.verdict not in ("dropped", "rejected"):
        return []
    deciding = next((h for h in reversed(path.hops) if h.kind in ("rule", "policy")), None)
    if deciding is None:
        return []
    where = f"{deciding.table}/{deciding.chain}"
    evidence = deciding.rule or f"{where} policy {deciding.policy}"
    user = "DOCKER-USER" in deciding.chain or (deciding.chain == "FORWARD" and "DOCKER" not in deciding.rule)
    return [Finding("dropped-by-rule", "problem",
                    f"{where} {'drops' if path.verdict == 'dropped' else 'rejects'} it for an outside client"
                    + (" (a rule added beside Docker's)" if user else ""), evidence)]


def _input_bypass(rs: RuleSet, b: PortBinding) -> list[Finding]:
    """ufw/firewalld-style INPUT filtering does not see published ports: DNAT comes first."""
    chain = rs.chain("filter", "INPUT")
    if chain is None or b.loopback_only:
        return []
    closing = chain.policy in ("DROP", "REJECT") or any(
        r.text.rstrip().endswith(("-j DROP", "-j REJECT")) or "-j REJECT " in r.text for r in chain.rules)
    if not closing:
        return []
    evidence = f"filter/INPUT policy {chain.policy}" if chain.policy in ("DROP", "REJECT") else next(
        r.text for r in chain.rules if "DROP" in r.text or "REJECT" in r.text)
    return [Finding("input-bypass", "warn",
                    f"the INPUT chain filters incoming traffic, but port {b.host_port} is DNATed in PREROUTING "
                    "and forwarded: INPUT never sees it, so that firewall does not protect this port",
                    evidence)]


def _direct_routing(state: HostState, c: Container, b: PortBinding, ip: str, trace, Query) -> list[Finding]:
    """Docker <= 27 left FORWARD open to container addresses: the LAN can route to them directly."""
    major = _docker_major(state)
    forward = state.rulesets.get(4).chain("filter", "FORWARD") if state.rulesets.get(4) else None
    if forward is None or forward.policy != "ACCEPT" or (major is not None and major >= 28):
        return []
    try:
        path = trace(state, Query(b.container_port, b.proto, "external", to=ip))
    except ValueError:
        return []
    if path.verdict not in ("delivered", "refused"):  # refused: the packet got there, nothing listened
        return []
    return [Finding("direct-routing", "warn",
                    f"filter/FORWARD policy is ACCEPT on Docker {state.facts.docker_version or '≤ 27'}: a machine on "
                    f"the LAN that routes {ip} via this host reaches {c.name}:{b.container_port} directly, "
                    "published or not", "filter/FORWARD policy ACCEPT")]
