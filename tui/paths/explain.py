"""Every sentence the path engine's answers carry, made from the facts the engine recorded.

The engine says what happened (a hop's kind, a reason code and its parameters, the packet before
and after a rewrite, the doubts); this module alone turns that into words, once, at the end of a
trace (`put_into_words`). Plain strings; views decide how to show them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui.paths.types import Doubt, DoubtCode, Hop, HopKind, PacketFacts, Path, Reason, Verdict

_CHAIN_ROLE = {
    "PREROUTING": "as it arrives, before the routing decision",
    "INPUT": "because it is addressed to the host itself",
    "FORWARD": "because the host routes it on to another interface",
    "OUTPUT": "as the host sends it",
    "POSTROUTING": "as it leaves, after routing",
}


def put_into_words(path: Path) -> None:
    """Fill the explanation of every hop, the doubts and the summary of a traced path."""
    for hop in path.hops:
        hop.explanation = hop_sentence(hop)
        hop.uncertain = ("; ".join(doubt_detail(d) for d in hop.doubts)
                         or "; ".join(doubt_sentence(d) for d in hop.pinned))
    path.doubts = [doubt_sentence(d) for d in path.doubt_facts]
    path.summary = summary(path)


# -- hops --------------------------------------------------------------------------------------------

def hop_sentence(hop: Hop) -> str:
    if hop.kind == HopKind.RULE:
        return _backend(hop) + rule(hop)
    if hop.kind == HopKind.POLICY:
        return _backend(hop) + policy(hop)
    if hop.reason is None:
        return ""
    return _SENTENCES[hop.reason](hop.facts)


def _backend(hop: Hop) -> str:
    return f"{hop.backend} " if hop.backend else ""  # "legacy filter/FORWARD: ..."


def _iface_reason(hop: Hop) -> str:
    iif = hop.facts.get("iif")
    if not iif:
        return ""
    if hop.facts.get("iif_negated"):
        return f" because the packet did not come in on {iif}"
    return f" because the packet came in on {iif}"


def _where(hop: Hop) -> str:
    return f"{hop.family} {hop.table}/{hop.chain}" if hop.family else f"{hop.table}/{hop.chain}"


def rule(hop: Hop) -> str:
    where = _where(hop)
    b, a = hop.before, hop.after
    t = hop.target
    if hop.facts.get("vmap") and not hop.doubts:
        key, value = hop.facts.get("vmap_key", "the key"), hop.facts.get("vmap_value", "")
        does = _target_does(hop) if t in ("ACCEPT", "DROP", "REJECT", "RETURN") else \
            f"sends it to chain {t}" + (" (goto)" if hop.goto else "")
        return f"{where}: the verdict map {hop.facts['vmap']} looks up {key} {value!r} and {does}."
    if hop.facts.get("maybe") and hop.doubts:
        return (f"{where}: whether this rule matches is not known ({doubt_detail(hop.doubts[0])}); if it does, "
                f"{_target_does(hop)}. The walk goes on as if it did not match.")
    if t == "DNAT" and b and a:
        return (f"{where}: DNAT rewrites the destination {b.dst}:{b.dport} to {a.dst}:{a.dport}"
                f"{_iface_reason(hop)}.")
    if t == "REDIRECT" and b and a:
        return f"{where}: REDIRECT sends the packet to the host itself, port {a.dport}."
    if t == "MASQUERADE" and b and a:
        return (f"{where}: MASQUERADE rewrites the source {b.src} to {a.src}, the address of "
                f"{b.oif or 'the outgoing interface'}, so replies come back through this host.")
    if t == "SNAT" and b and a:
        return f"{where}: SNAT rewrites the source {b.src} to {a.src}."
    if t == "ACCEPT" and hop.family:
        return (f"{where}: the rule accepts the packet; the rest of this base chain is skipped, but other base "
                "chains at this hook (other tables) still run.")
    if t == "ACCEPT":
        return f"{where}: the rule accepts the packet; no further {hop.table} rules run for this hook."
    if t == "DROP":
        return f"{where}: the rule drops the packet silently; the client sees a timeout."
    if t == "REJECT":
        return f"{where}: the rule rejects the packet; the client gets an error back at once."
    if t == "RETURN":
        return f"{where}: RETURN goes back to the chain that jumped here and carries on after the jump."
    if t in ("LOG", "NFLOG", "TRACE"):
        return f"{where}: {t} records the packet and lets it continue."
    if t in ("MARK", "CONNMARK"):
        return f"{where}: {t} sets a mark on the packet and lets it continue."
    if hop.doubts:
        return f"{where}: {t} — {doubt_detail(hop.doubts[0])}; what happens next is uncertain."
    if t:
        return f"{where}: the rule matches and {'goes' if hop.goto else 'jumps'} to chain {t}."
    return f"{where}: the rule matches (it only counts packets)."


def _target_does(hop: Hop) -> str:
    t = hop.target
    return {"ACCEPT": "it accepts the packet", "DROP": "it drops the packet", "REJECT": "it rejects the packet",
            "RETURN": "it returns to the calling chain", "": "it only counts the packet"}.get(
        t, f"{'it goes to' if hop.goto else 'it jumps to'} {t}")


def policy(hop: Hop) -> str:
    role = _CHAIN_ROLE.get(hop.chain, "")
    verdict = {"ACCEPT": "lets the packet through", "DROP": "drops the packet"}.get(hop.policy, hop.policy)
    if hop.family:
        return f"{_where(hop)}: no rule decided; the base chain's policy {hop.policy.lower()} {verdict}."
    return (f"{hop.table}/{hop.chain}: no rule decided {role}; the chain's policy {hop.policy} "
            f"{verdict}.")


def _arrives(f: dict[str, Any]) -> str:
    p: PacketFacts = f["packet"]
    return f"A client at {p.src} sends a {p.proto.upper()} packet to {p.dst}:{p.dport}; it arrives on {p.iif}."


def _host_sends(f: dict[str, Any]) -> str:
    p: PacketFacts = f["packet"]
    return f"A process on the host sends from {p.src} to {p.dst}:{p.dport} ({p.proto})."


def _container_sends(f: dict[str, Any]) -> str:
    p: PacketFacts = f["packet"]
    return f"{f['container']} sends from {p.src}:{p.sport} to {p.dst}:{p.dport} out of its eth0."


def _internal_only(f: dict[str, Any]) -> str:
    return (f"{f['container']} is only on internal networks, which get no default route: {f['dst']} is "
            "unreachable from inside, so connect() fails at once and no packet leaves the container.")


def _veth_out(f: dict[str, Any]) -> str:
    return f"The packet crosses the veth pair to {f['veth'] or 'its host end'} on bridge {f['bridge']}."


def _bridged(f: dict[str, Any]) -> str:
    if f["nf_bridge"]:
        return (f"{f['bridge']} forwards the frame between two of its ports; br_netfilter "
                "(bridge-nf-call-iptables=1) runs it through iptables as it does so.")
    return (f"{f['bridge']} forwards the frame between two of its ports; bridge-nf-call-iptables=0, so no "
            "iptables rule sees it.")


def _bridge_up(f: dict[str, Any]) -> str:
    return (f"{f['bridge']} hands the packet up to the host's IP stack: {f['dst']} is not on the bridge's "
            "own subnet, so it goes to the gateway.")


def _route_local(f: dict[str, Any]) -> str:
    return (f"Routing: {f['dst']} is one of the host's own addresses, so the packet is delivered locally "
            f"(INPUT), not forwarded.")


def _route_loopback(f: dict[str, Any]) -> str:
    return f"Routing: {f['dst']} is local, so the packet loops back through lo to a local socket."


def _route_forward(f: dict[str, Any]) -> str:
    via = f" via {f['gateway']}" if f["gateway"] else ""
    first = "" if f["from_host"] else "is not a host address any more, so "
    return f"Routing: {f['dst']} {first}is reached through {f['dev']}{via}."


def _no_route(f: dict[str, Any]) -> str:
    return f"No route to {f['dst']}: the packet is dropped."


def _no_route_local(f: dict[str, Any]) -> str:
    return f"No route to {f['dst']}."


def _forwarding_off(f: dict[str, Any]) -> str:
    return (f"{f.get('key', 'net.ipv4.ip_forward')}=0: the host does not forward packets, so the packet to "
            f"{f['dst']} is "
            f"dropped instead of being routed to {f['dev']}.")


def _loopback_source(f: dict[str, Any]) -> str:
    if f.get("family") == 6:
        return (f"The destination became {f['dst']} (via {f['dev']}), and the connection comes from {f['src']}: "
                f"IPv6 has no route_localnet, so a connection from a loopback address never completes "
                f"through {f['dev']} (even when a rule masquerades its source); the client times out.")
    return (f"The destination became {f['dst']} (via {f['dev']}) but the source is still {f['src']}: the "
            f"kernel refuses to send a loopback source out of {f['dev']} "
            f"(net.ipv4.conf.{f['dev']}.route_localnet=0), so the connection fails.")


def _leaves_host(f: dict[str, Any]) -> str:
    return (f"The packet leaves through {f['dev']} towards {f['dst']}; no container has that address, so it "
            "leaves this host.")


def _bridge_delivers(f: dict[str, Any]) -> str:
    return f"Bridge {f['bridge']} looks up {f['dst']}'s MAC address and sends the frame to {f['container']}'s port."


def _veth_in(f: dict[str, Any]) -> str:
    return (f"{f['veth'] or 'The veth'} on {f['bridge']} is the host end of {f['container']}'s eth0; the frame "
            "crosses into the container's network namespace.")


def _no_route_back(f: dict[str, Any]) -> str:
    return (f"{f['container']} receives the packet, but it is only on internal networks and has no route back "
            f"to {f['src']}: its answer never leaves, and the client times out.")


def _sockets_unknown(f: dict[str, Any]) -> str:
    return (f"{f['container']} receives the packet on {f['dst']}:{f['dport']}; whether a process listens there "
            "is unknown (its sockets were not read).")


def _listening(f: dict[str, Any]) -> str:
    seen = f"::ffff:{f['src']} (IPv4-mapped: its socket listens on [::])" if f.get("mapped") else f["src"]
    return (f"{f['container']} has a {f['proto']} socket listening on port {f['dport']}: the packet is "
            f"delivered (source seen by the container: {seen}).")


def _nothing_listens(f: dict[str, Any]) -> str:
    answer = "a TCP reset" if f["proto"] == "tcp" else "ICMP port unreachable"
    return f"Nothing in {f['container']} listens on {f['proto']} port {f['dport']}: the kernel answers with {answer}."


def _no_proxy(f: dict[str, Any]) -> str:
    return (f"The packet is for the host itself ({f['dst']}:{f['dport']}) and no docker-proxy listens on that "
            "port" + ("" if f["known"] else " (processes were not captured)") +
            ": unless another host service owns the port, the connection is refused.")


def _proxy(f: dict[str, Any]) -> str:
    six_to_four = ":" in f["host_ip"] and ":" not in f["container_ip"]
    return (f"docker-proxy (pid {f['pid']}) listens on {_hostport(f['host_ip'], f['host_port'])} and accepts "
            f"the connection; it opens its own connection to {_hostport(f['container_ip'], f['container_port'])}"
            + (" over IPv4 (the container has no IPv6 address: 6 to 4)" if six_to_four else "")
            + ", so the container sees the proxy's address, not the client's.")


def _hostport(ip: str, port: object) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


_SENTENCES: dict[Reason, Callable[[dict[str, Any]], str]] = {
    Reason.ARRIVES: _arrives,
    Reason.HOST_SENDS: _host_sends,
    Reason.HOST_NETWORK: lambda f: (f"{f['container']} runs with --network host: it has no network namespace, "
                                    "veth or bridge of its own, so its packets are the host's own."),
    Reason.CONTAINER_SENDS: _container_sends,
    Reason.INTERNAL_ONLY: _internal_only,
    Reason.VETH_OUT: _veth_out,
    Reason.BRIDGED: _bridged,
    Reason.BRIDGE_UP: _bridge_up,
    Reason.ROUTE_LOCAL: _route_local,
    Reason.ROUTE_LOOPBACK: _route_loopback,
    Reason.ROUTE_FORWARD: _route_forward,
    Reason.NO_ROUTE: _no_route,
    Reason.NO_ROUTE_LOCAL: _no_route_local,
    Reason.FORWARDING_OFF: _forwarding_off,
    Reason.LOOPBACK_SOURCE: _loopback_source,
    Reason.LEAVES_HOST: _leaves_host,
    Reason.BRIDGE_DELIVERS: _bridge_delivers,
    Reason.VETH_IN: _veth_in,
    Reason.NO_ROUTE_BACK: _no_route_back,
    Reason.SOCKETS_UNKNOWN: _sockets_unknown,
    Reason.LISTENING: _listening,
    Reason.NOTHING_LISTENS: _nothing_listens,
    Reason.NO_PROXY: _no_proxy,
    Reason.PROXY: _proxy,
}


# -- doubts ------------------------------------------------------------------------------------------

def doubt_detail(d: Doubt) -> str:
    """The doubt on its own, as it reads beside the hop it concerns."""
    c = d.code
    if c == DoubtCode.RULES_NOT_READ:
        why = "not captured" if not d.param("captured") else f"no IPv{d.param('family')} rules"
        return f"the firewall rules were not read ({why})"
    if c == DoubtCode.RULE_LOOP:
        return f"{d.param('table')}/{d.param('chain')}: rule loop"
    if c == DoubtCode.MISSING_CHAIN:
        return f"{d.param('table')}: jump to missing chain {d.param('chain')}"
    if c == DoubtCode.UNPARSED_RULE:
        return str(d.param("error"))
    if c == DoubtCode.MATCH_NOT_EVALUATED:
        return f"-m {d.param('module')} --{d.param('option')} is not evaluated"
    if c == DoubtCode.IPSET_NOT_CAPTURED:
        return f"ipset {d.param('ipset')} (its members are not captured)"
    if c == DoubtCode.IPSET_NOT_EVALUATED:
        return (f"ipset {d.param('ipset')} of type {d.param('type')} with {d.param('flags') or 'no flags'} "
                "is not evaluated")
    if c == DoubtCode.NAT_NOT_FOLLOWED:
        if d.param("missing"):
            return f"{d.param('target')} without {d.param('missing')}"
        return f"{d.param('target')} is not followed"
    if c == DoubtCode.TARGET_NOT_FOLLOWED:
        return f"target {d.param('target')} is not followed"
    if c == DoubtCode.SOCKETS_NOT_READ:
        return "container sockets not captured"
    if c == DoubtCode.PROCESSES_NOT_CAPTURED:
        return "processes not captured"
    if c == DoubtCode.ROUTES6_NOT_READ:
        return "the host's IPv6 routes were not captured (ip -j -6 route show): where IPv6 packets go is a guess"
    if c == DoubtCode.SYSCTL_NOT_READ:
        where = "not in the capture" if d.param("captured") else "sysctls not captured"
        return (f"{d.param('key')} was not read ({where}); {d.param('assumed')} assumed: capture it with "
                f"`sysctl {d.param('key')}`")
    if c == DoubtCode.UDP_ANSWER_SOURCE:
        version = d.param("version") or "a version not known"
        return (f"docker-proxy (pid {d.param('pid')}) answers from {d.param('answer_from')}, not from "
                f"{d.param('asked')} where the client sent: a connected UDP client (dig, most resolvers) drops "
                f"the answer, an unconnected one takes it (Docker {version}; fixed in 28.0, moby#48571)")
    if c == DoubtCode.UNKNOWN_POLICY:
        return (f"{d.param('table')}/{d.param('chain')} has the policy {d.param('policy')!r}, which is not one "
                "the kernel knows")
    if c == DoubtCode.INPUT_NOT_READ:
        more = d.param("more")
        return f"not read: {d.param('field')}" + (f" (and {more} more)" if more else "")
    if c == DoubtCode.NFT_EXPR_NOT_EVALUATED:
        return f"the nftables expression `{d.param('expr')}` is not evaluated"
    if c == DoubtCode.NFT_NOT_READ:
        return (f"native nftables rules were not read ({d.param('why')}): they may drop, accept or rewrite "
                "this packet")
    if c == DoubtCode.NFT_FAMILY_NOT_WALKED:
        return f"{d.param('family')} table {d.param('table')} has rules, and {d.param('family')} tables are not walked"
    if c == DoubtCode.BEYOND_HOST:
        return (f"the packet leaves this host through {d.param('dev')} towards {d.param('dst')}: what happens "
                "there is not known here")
    raise ValueError(f"no words for doubt {c!r}")


def doubt_sentence(d: Doubt) -> str:
    """The doubt as the answer's reason for being uncertain: names the rule it is about."""
    if d.code == DoubtCode.SOCKETS_NOT_READ:
        return f"sockets inside {d.param('container')} were not read"
    if d.code == DoubtCode.PROCESSES_NOT_CAPTURED:
        return "host processes were not captured"
    if d.code in (DoubtCode.MATCH_NOT_EVALUATED, DoubtCode.IPSET_NOT_CAPTURED, DoubtCode.IPSET_NOT_EVALUATED,
                  DoubtCode.NFT_EXPR_NOT_EVALUATED):
        return f"{d.rule_ref} `{d.rule_text}`: {doubt_detail(d)}"
    if d.rule_ref:
        return f"{d.rule_ref}: {doubt_detail(d)}"
    return doubt_detail(d)


# -- the answer --------------------------------------------------------------------------------------

_HOW = {"nat": "by DNAT", "proxy": "through docker-proxy", "direct": "by direct routing"}


def summary(path: Path) -> str:
    q = path.query
    head = f"{q.proto}/{q.port} from {q.origin} ({q.src} -> {q.dst})"
    if path.verdict == Verdict.DELIVERED:
        m = path.mapping
        where = f" to {m.container.name}" if m else ""
        return f"{head}: delivered{where} {_HOW.get(path.via or '', '')}".rstrip() + "."
    deciding = path.deciding_hop()
    if path.verdict in (Verdict.DROPPED, Verdict.REJECTED) and deciding is not None:
        return f"{head}: {path.verdict} by {deciding.table}/{deciding.chain} `{deciding.rule or deciding.policy}`."
    if path.verdict == Verdict.UNCERTAIN:
        return f"{head}: uncertain — " + "; ".join(path.doubts[:2])
    last = path.hops[-1].explanation if path.hops else ""
    return f"{head}: {path.verdict}. {last}"


# -- findings ----------------------------------------------------------------------------------------

def _binding(f: dict[str, Any]) -> Any:
    return f.get("binding")


def finding_reason(code: str, f: dict[str, Any]) -> str:
    b = _binding(f)
    if code == "ip-forward-off":
        return ("net.ipv4.ip_forward=0: the host forwards nothing, so no published port is reachable from outside "
                "through DNAT (only docker-proxy on the host's own sockets answers)")
    if code == "ip-forward-off-nft":
        return ("net.ipv4.ip_forward=0, and Docker's nftables backend does not turn it on (its iptables backend "
                "does): nothing is forwarded, so no published port is reachable from outside through DNAT; "
                "set it yourself (sysctl -w net.ipv4.ip_forward=1, and in /etc/sysctl.d)")
    if code == "nft-no-docker-user":
        where = "; ".join(f"{name} (priority {prio}) runs {when} Docker's" for name, prio, when in f["others"])
        return (f"Docker's nftables tables have no DOCKER-USER chain: your own rules go in a table of your own, in a "
                f"base chain at hook forward; priority below {f['priority']} runs before Docker's filter-FORWARD, "
                "above it after. An accept in one table ends only that table's chain; a drop anywhere is final"
                + (f". Here: {where}" if where else ""))
    if code == "docker-accept-other-drops":
        does = "drops" if f["verdict"] == Verdict.DROPPED else "rejects"
        return (f"{f['accepted_by']} accepts this port, but {f['table']}/{f['chain']} {does} it afterwards: an "
                "accept ends only its own base chain, and every later base chain (of any table) still runs")
    if code == "other-accept-docker-drops":
        does = "drops" if f["verdict"] == Verdict.DROPPED else "rejects"
        return (f"{f['accepted_by']} accepts this port, yet {f['table']}/{f['chain']} {does} it: accepting it in "
                "another table does not override Docker's drop")
    if code == "nft-input-bypass":
        return (f"{f['where']} closes port {b.host_port} at the input hook, but the port is DNAT'ed in prerouting "
                "and forwarded to the container: input never sees it, so that table does not protect this port "
                "(filter it at the forward hook)")
    if code == "two-backends":
        return (f"{f['other']} iptables tables are in use beside the {f['ours']} ones Docker writes: the kernel runs "
                "both, `iptables` shows one")
    if code == "orphan-proxy":
        p = f["proxy"]
        return (f"docker-proxy (pid {p.pid}) holds {p.host_ip}:{p.host_port}/{p.proto}, but no running container "
                "publishes that port: a leftover that blocks the port for others")
    if code == "rootless":
        return ("rootless Docker: ports are forwarded by rootlesskit in user space, not by host iptables rules, so "
                "the host's firewall shows no rule for them")
    if code == "routed-unmapped":
        return (f"{f['network'] or 'its network'} is in gateway mode routed: -p maps no port on the host's "
                f"addresses; {b.proto}/{b.container_port} is open at the container's own address "
                f"{f['ip'] or ''}, for clients that route to it through this host")
    if code == "expose-only":
        return (f"{b.container_port}/{b.proto} is only EXPOSEd: nothing on the host's addresses leads to it "
                "(publish it with -p or -P)")
    if code == "icc-on":
        return (f"ICC is on for {f['network']}: every container on it reaches every listening port of "
                f"{f['container']}, EXPOSEd or not (EXPOSE restricts nothing)")
    if code == "loopback-only":
        return f"published on {b.host_ip} only: reachable from this host, not from other machines"
    if code == "not-listening":
        return (f"nothing in {f['container']} listens on {b.proto} port {b.container_port}: the connection is "
                "refused even though the mapping exists")
    if code == "no-dnat-rule":
        return (f"no DNAT rule for {b.proto} port {b.host_port}: only docker-proxy (or nothing) answers on it "
                "(rootless Docker, or --iptables=false?)")
    if code == "ipv6-no-rule":
        head = f"bound on IPv6 ({b.host_ip}) but ip6tables has no DNAT rule for port {b.host_port}: "
        p = f.get("proxy")
        if p is not None:
            four = " over IPv4 (6 to 4)" if ":" not in p.container_ip else ""
            return head + (f"IPv6 clients reach it only through docker-proxy{four}, so the container sees the "
                           "proxy's address, not the client's, and no ip6tables rule of Docker's filters them")
        if f.get("proxy_on") is False:
            return head + "with the userland proxy off, nothing answers IPv6 clients on it"
        return head + "IPv6 clients reach it only through docker-proxy, which hides their address"
    if code == "family-differs":
        how = f"by {f['rule']}" if f["rule"] else (f"by {f['where']} policy {f['policy']}" if f["policy"] else "")
        return (f"from outside, port {b.host_port}/{b.proto} answers over IPv{f['works']} but not over "
                f"IPv{f['fails']} ({f['verdict']}{' ' + how if how else ''})")
    if code == "ipv6-net-unfiltered":
        fwd = {"1": "IPv6 forwarding is on", "0": "IPv6 forwarding is off for now"}.get(f["forwarding"] or "", "")
        return (f"network {f['network']} has IPv6, and ip6tables has no rule of Docker's for {f['bridge']} "
                f"(ip6tables off): its containers are routed to directly on their IPv6 addresses, every port, "
                f"published or not{' (' + fwd + ')' if fwd else ''}")
    if code == "proxy-missing":
        return (f"the userland proxy is on, but no docker-proxy serves {b.host_ip}:{b.host_port}/{b.proto}: "
                "connections to it from this host via 127.0.0.1 get no answer")
    if code == "proxy-mismatch":
        p = f["proxy"]
        return (f"docker-proxy on port {b.host_port} forwards to {p.container_ip}:{p.container_port}, not to "
                f"{f['container']} ({f['ip']}:{b.container_port})")
    if code == "udp-proxy-answer-source":
        return (f"containers that send to udp/{b.host_port} at the host's address get docker-proxy's answer from "
                "their bridge's gateway instead: a connected UDP client (dig, most resolvers) drops it "
                f"(Docker {f['docker_version'] or '≤ 27'}; fixed in 28.0)")
    if code == "dropped-by-rule":
        does = "drops" if f["verdict"] == Verdict.DROPPED else "rejects"
        return (f"{f['table']}/{f['chain']} {does} it for an outside client"
                + (" (a rule added beside Docker's)" if f["beside_docker"] else ""))
    if code == "input-bypass":
        return (f"the INPUT chain filters incoming traffic, but port {b.host_port} is DNATed in PREROUTING and "
                "forwarded: INPUT never sees it, so that firewall does not protect this port")
    if code == "direct-routing":
        return (f"filter/FORWARD policy is ACCEPT on Docker {f['docker_version'] or '≤ 27'}: a machine on the LAN "
                f"that routes {f['ip']} via this host reaches {f['container']}:{b.container_port} directly, "
                "published or not")
    raise ValueError(f"no words for finding {code!r}")


def finding_evidence(code: str, f: dict[str, Any]) -> str:
    b = _binding(f)
    if code in ("ip-forward-off", "ip-forward-off-nft"):
        return "sysctl net.ipv4.ip_forward = 0"
    if code == "nft-no-docker-user":
        return f"Docker's filter-FORWARD: hook forward priority {f['priority']}"
    if code in ("docker-accept-other-drops", "other-accept-docker-drops"):
        return f"{f['accept_rule']}  →  {f['rule'] or 'policy ' + f['policy']}"
    if code == "nft-input-bypass":
        return f["rule"] or f"{f['where']} policy {f['policy']}"
    if code == "two-backends":
        return f"{f['source']}: {f['size']}"
    if code in ("orphan-proxy", "proxy-mismatch", "udp-proxy-answer-source"):
        return f"pid {f['proxy'].pid}: {f['proxy'].args}"
    if code == "rootless":
        return "docker info: SecurityOptions name=rootless"
    if code == "expose-only":
        return "no host port in NetworkSettings.Ports"
    if code == "routed-unmapped":
        return f'NetworkSettings.Ports["{b.container_port}/{b.proto}"]: HostPort ""'

    if code == "icc-on":
        return f["rule"] or f"network option com.docker.network.bridge.enable_icc={'true' if f['icc'] else 'false'}"
    if code == "loopback-only":
        return f"binding {b.key}"
    if code == "not-listening":
        return "container sockets: " + (", ".join(f"{lsn.proto}/{lsn.port}" for lsn in f["listeners"]) or "none")
    if code == "no-dnat-rule":
        return f"{f['source']}: nat table has no --dport {b.host_port} DNAT"
    if code == "ipv6-no-rule":
        return "ip6tables-save: no matching DNAT" + (f"; {f['proxy'].args}" if f.get("proxy") else "")
    if code == "family-differs":
        return f["rule"] or (f"{f['where']} policy {f['policy']}" if f["policy"] else f["last"])
    if code == "ipv6-net-unfiltered":
        return f"ip6tables-save: no -i/-o {f['bridge']}; net.ipv6.conf.all.forwarding={f['forwarding'] or '?'}"
    if code == "proxy-missing":
        return f"no docker-proxy process with -host-port {b.host_port}"
    if code == "dropped-by-rule":
        return f["rule"] or f"{f['table']}/{f['chain']} policy {f['policy']}"
    if code == "input-bypass":
        return f["rule"] or f"filter/INPUT policy {f['policy']}"
    if code == "direct-routing":
        return "filter/FORWARD policy ACCEPT"
    raise ValueError(f"no evidence words for finding {code!r}")
