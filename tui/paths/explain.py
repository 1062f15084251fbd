"""Every sentence the path engine's answers carry, made from the facts the engine recorded.

The engine says what happened (a hop's kind, a reason code and its parameters, the packet before
and after a rewrite, the doubts); this module alone turns that into words, once, at the end of a
trace (`put_into_words`), in the current language (tui.i18n). Plain strings; views decide how to
show them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui.i18n import N_, _, word
from tui.paths.types import Doubt, DoubtCode, Hop, HopKind, PacketFacts, Path, Reason, Verdict

_CHAIN_ROLE = {
    "PREROUTING": N_("as it arrives, before the routing decision"),
    "INPUT": N_("because it is addressed to the host itself"),
    "FORWARD": N_("because the host routes it on to another interface"),
    "OUTPUT": N_("as the host sends it"),
    "POSTROUTING": N_("as it leaves, after routing"),
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
        return _(" because the packet did not come in on {iif}").format(iif=iif)
    return _(" because the packet came in on {iif}").format(iif=iif)


def _where(hop: Hop) -> str:
    return f"{hop.family} {hop.table}/{hop.chain}" if hop.family else f"{hop.table}/{hop.chain}"


def rule(hop: Hop) -> str:
    where = _where(hop)
    b, a = hop.before, hop.after
    t = hop.target
    if hop.facts.get("vmap") and not hop.doubts:
        key, value = hop.facts.get("vmap_key", "the key"), hop.facts.get("vmap_value", "")
        does = _target_does(hop) if t in ("ACCEPT", "DROP", "REJECT", "RETURN") else \
            (_("sends it to chain {chain} (goto)") if hop.goto else _("sends it to chain {chain}")).format(chain=t)
        return _("{where}: the verdict map {vmap} looks up {key} {value} and {does}.").format(
            where=where, vmap=hop.facts["vmap"], key=key, value=repr(value), does=does)
    if hop.facts.get("maybe") and hop.doubts:
        return _("{where}: whether this rule matches is not known ({doubt}); if it does, {does}. "
                 "The walk goes on as if it did not match.").format(
            where=where, doubt=doubt_detail(hop.doubts[0]), does=_target_does(hop))
    if t == "DNAT" and b and a:
        return _("{where}: DNAT rewrites the destination {dst}:{dport} to {new_dst}:{new_dport}{because}.").format(
            where=where, dst=b.dst, dport=b.dport, new_dst=a.dst, new_dport=a.dport, because=_iface_reason(hop))
    if t == "REDIRECT" and b and a:
        return _("{where}: REDIRECT sends the packet to the host itself, port {dport}.").format(
            where=where, dport=a.dport)
    if t == "MASQUERADE" and b and a:
        return _("{where}: MASQUERADE rewrites the source {src} to {new_src}, the address of {dev}, "
                 "so replies come back through this host.").format(
            where=where, src=b.src, new_src=a.src, dev=b.oif or _("the outgoing interface"))
    if t == "SNAT" and b and a:
        return _("{where}: SNAT rewrites the source {src} to {new_src}.").format(where=where, src=b.src, new_src=a.src)
    if t == "ACCEPT" and hop.family:
        return _("{where}: the rule accepts the packet; the rest of this base chain is skipped, but other base "
                 "chains at this hook (other tables) still run.").format(where=where)
    if t == "ACCEPT":
        return _("{where}: the rule accepts the packet; no further {table} rules run for this hook.").format(
            where=where, table=hop.table)
    if t == "DROP":
        return _("{where}: the rule drops the packet silently; the client sees a timeout.").format(where=where)
    if t == "REJECT":
        return _("{where}: the rule rejects the packet; the client gets an error back at once.").format(where=where)
    if t == "RETURN":
        return _("{where}: RETURN goes back to the chain that jumped here and carries on after the jump.").format(
            where=where)
    if t in ("LOG", "NFLOG", "TRACE"):
        return _("{where}: {target} records the packet and lets it continue.").format(where=where, target=t)
    if t in ("MARK", "CONNMARK"):
        return _("{where}: {target} sets a mark on the packet and lets it continue.").format(where=where, target=t)
    if hop.doubts:
        return _("{where}: {target} — {doubt}; what happens next is uncertain.").format(
            where=where, target=t, doubt=doubt_detail(hop.doubts[0]))
    if t and hop.goto:
        return _("{where}: the rule matches and goes to chain {target}.").format(where=where, target=t)
    if t:
        return _("{where}: the rule matches and jumps to chain {target}.").format(where=where, target=t)
    return _("{where}: the rule matches (it only counts packets).").format(where=where)


def _target_does(hop: Hop) -> str:
    t = hop.target
    known = {"ACCEPT": N_("it accepts the packet"), "DROP": N_("it drops the packet"),
             "REJECT": N_("it rejects the packet"), "RETURN": N_("it returns to the calling chain"),
             "": N_("it only counts the packet")}
    if t in known:
        return _(known[t])
    return (_("it goes to {target}") if hop.goto else _("it jumps to {target}")).format(target=t)


def policy(hop: Hop) -> str:
    role = _(_CHAIN_ROLE[hop.chain]) if hop.chain in _CHAIN_ROLE else ""
    verdicts = {"ACCEPT": N_("lets the packet through"), "DROP": N_("drops the packet")}
    verdict = _(verdicts[hop.policy]) if hop.policy in verdicts else hop.policy
    if hop.family:
        return _("{where}: no rule decided; the base chain's policy {policy} {verdict}.").format(
            where=_where(hop), policy=hop.policy.lower(), verdict=verdict)
    return _("{where}: no rule decided {role}; the chain's policy {policy} {verdict}.").format(
        where=f"{hop.table}/{hop.chain}", role=role, policy=hop.policy, verdict=verdict)


def _arrives(f: dict[str, Any]) -> str:
    p: PacketFacts = f["packet"]
    return _("A client at {src} sends a {proto} packet to {dst}:{dport}; it arrives on {iif}.").format(
        src=p.src, proto=p.proto.upper(), dst=p.dst, dport=p.dport, iif=p.iif)


def _host_sends(f: dict[str, Any]) -> str:
    p: PacketFacts = f["packet"]
    return _("A process on the host sends from {src} to {dst}:{dport} ({proto}).").format(
        src=p.src, dst=p.dst, dport=p.dport, proto=p.proto)


def _container_sends(f: dict[str, Any]) -> str:
    p: PacketFacts = f["packet"]
    return _("{container} sends from {src}:{sport} to {dst}:{dport} out of its eth0.").format(
        container=f["container"], src=p.src, sport=p.sport, dst=p.dst, dport=p.dport)


def _internal_only(f: dict[str, Any]) -> str:
    return _("{container} is only on internal networks, which get no default route: {dst} is "
             "unreachable from inside, so connect() fails at once and no packet leaves the container.").format(
        container=f["container"], dst=f["dst"])


def _veth_out(f: dict[str, Any]) -> str:
    return _("The packet crosses the veth pair to {veth} on bridge {bridge}.").format(
        veth=f["veth"] or _("its host end"), bridge=f["bridge"])


def _bridged(f: dict[str, Any]) -> str:
    if f["nf_bridge"]:
        return _("{bridge} forwards the frame between two of its ports; br_netfilter "
                 "(bridge-nf-call-iptables=1) runs it through iptables as it does so.").format(bridge=f["bridge"])
    return _("{bridge} forwards the frame between two of its ports; bridge-nf-call-iptables=0, so no "
             "iptables rule sees it.").format(bridge=f["bridge"])


def _bridge_up(f: dict[str, Any]) -> str:
    return _("{bridge} hands the packet up to the host's IP stack: {dst} is not on the bridge's "
             "own subnet, so it goes to the gateway.").format(bridge=f["bridge"], dst=f["dst"])


def _route_local(f: dict[str, Any]) -> str:
    return _("Routing: {dst} is one of the host's own addresses, so the packet is delivered locally "
             "(INPUT), not forwarded.").format(dst=f["dst"])


def _route_loopback(f: dict[str, Any]) -> str:
    return _("Routing: {dst} is local, so the packet loops back through lo to a local socket.").format(dst=f["dst"])


def _route_forward(f: dict[str, Any]) -> str:
    via = _(" via {gateway}").format(gateway=f["gateway"]) if f["gateway"] else ""
    if f["from_host"]:
        return _("Routing: {dst} is reached through {dev}{via}.").format(dst=f["dst"], dev=f["dev"], via=via)
    return _("Routing: {dst} is not a host address any more, so is reached through {dev}{via}.").format(
        dst=f["dst"], dev=f["dev"], via=via)


def _no_route(f: dict[str, Any]) -> str:
    return _("No route to {dst}: the packet is dropped.").format(dst=f["dst"])


def _no_route_local(f: dict[str, Any]) -> str:
    return _("No route to {dst}.").format(dst=f["dst"])


def _forwarding_off(f: dict[str, Any]) -> str:
    return _("{key}=0: the host does not forward packets, so the packet to {dst} is "
             "dropped instead of being routed to {dev}.").format(
        key=f.get("key", "net.ipv4.ip_forward"), dst=f["dst"], dev=f["dev"])


def _nat_untracked(f: dict[str, Any]) -> str:
    if f.get("notrack"):
        return _("A rule marked the packet untracked (notrack), so no nat chain runs for it: its "
                 "addresses stay as they are.")
    return _("No rule of this host's IPv{family} tables needs connection tracking, so the kernel tracks "
             "no IPv{family} connections here, and nat chains run only for tracked packets: none of "
             "them runs, and the addresses stay as they are.").format(family=f.get("family", 4))


def _neighbour_filtered(f: dict[str, Any]) -> str:
    if f.get("advert"):
        return _("{target} answers the neighbour solicitation for {dst} (an ICMPv6 neighbour advertisement "
                 "across {bridge}), but the rule above stops that answer too: the sender never learns the "
                 "MAC address, so the connection's first packet is never sent and the client times out.").format(
            target=f["target"], dst=f["dst"], bridge=f["bridge"])
    return _("Before the first packet, the sender asks for {dst}'s MAC address (an ICMPv6 neighbour "
             "solicitation across {bridge}); br_netfilter hands that frame to the FORWARD rules, and the rule "
             "above stops it: the connection's first packet is never sent and the client times out.").format(
        dst=f["dst"], bridge=f["bridge"])


def _loopback_source(f: dict[str, Any]) -> str:
    if f.get("family") == 6:
        return _("The destination became {dst} (via {dev}), and the connection comes from {src}: "
                 "IPv6 has no route_localnet, so a connection from a loopback address never completes "
                 "through {dev} (even when a rule masquerades its source); the client times out.").format(
            dst=f["dst"], dev=f["dev"], src=f["src"])
    return _("The destination became {dst} (via {dev}) but the source is still {src}: the "
             "kernel refuses to send a loopback source out of {dev} "
             "(net.ipv4.conf.{dev}.route_localnet=0), so the connection fails.").format(
        dst=f["dst"], dev=f["dev"], src=f["src"])


def _leaves_host(f: dict[str, Any]) -> str:
    return _("The packet leaves through {dev} towards {dst}; no container has that address, so it "
             "leaves this host.").format(dev=f["dev"], dst=f["dst"])


def _bridge_delivers(f: dict[str, Any]) -> str:
    return _("Bridge {bridge} looks up {dst}'s MAC address and sends the frame to {container}'s port.").format(
        bridge=f["bridge"], dst=f["dst"], container=f["container"])


def _veth_in(f: dict[str, Any]) -> str:
    return _("{veth} on {bridge} is the host end of {container}'s eth0; the frame "
             "crosses into the container's network namespace.").format(
        veth=f["veth"] or _("The veth"), bridge=f["bridge"], container=f["container"])


def _no_route_back(f: dict[str, Any]) -> str:
    return _("{container} receives the packet, but it is only on internal networks and has no route back "
             "to {src}: its answer never leaves, and the client times out.").format(
        container=f["container"], src=f["src"])


def _sockets_unknown(f: dict[str, Any]) -> str:
    return _("{container} receives the packet on {dst}:{dport}; whether a process listens there "
             "is unknown (its sockets were not read).").format(container=f["container"], dst=f["dst"], dport=f["dport"])


def _listening(f: dict[str, Any]) -> str:
    seen = (_("::ffff:{src} (IPv4-mapped: its socket listens on [::])").format(src=f["src"]) if f.get("mapped")
            else f["src"])
    return _("{container} has a {proto} socket listening on port {dport}: the packet is "
             "delivered (source seen by the container: {seen}).").format(
        container=f["container"], proto=f["proto"], dport=f["dport"], seen=seen)


def _nothing_listens(f: dict[str, Any]) -> str:
    answer = _("a TCP reset") if f["proto"] == "tcp" else _("ICMP port unreachable")
    return _("Nothing in {container} listens on {proto} port {dport}: the kernel answers with {answer}.").format(
        container=f["container"], proto=f["proto"], dport=f["dport"], answer=answer)


def _no_proxy(f: dict[str, Any]) -> str:
    if f["known"]:
        text = _("The packet is for the host itself ({dst}:{dport}) and no docker-proxy listens on that "
                 "port: unless another host service owns the port, the connection is refused.")
    else:
        text = _("The packet is for the host itself ({dst}:{dport}) and no docker-proxy listens on that "
                 "port (processes were not captured): unless another host service owns the port, the "
                 "connection is refused.")
    return text.format(dst=f["dst"], dport=f["dport"])


def _proxy(f: dict[str, Any]) -> str:
    six_to_four = ":" in f["host_ip"] and ":" not in f["container_ip"]
    if six_to_four:
        text = _("docker-proxy (pid {pid}) listens on {listen} and accepts the connection; it opens its own "
                 "connection to {target} over IPv4 (the container has no IPv6 address: 6 to 4), so the "
                 "container sees the proxy's address, not the client's.")
    else:
        text = _("docker-proxy (pid {pid}) listens on {listen} and accepts the connection; it opens its own "
                 "connection to {target}, so the container sees the proxy's address, not the client's.")
    return text.format(pid=f["pid"], listen=_hostport(f["host_ip"], f["host_port"]),
                       target=_hostport(f["container_ip"], f["container_port"]))


def _hostport(ip: str, port: object) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _host_network(f: dict[str, Any]) -> str:
    return _("{container} runs with --network host: it has no network namespace, "
             "veth or bridge of its own, so its packets are the host's own.").format(container=f["container"])


_SENTENCES: dict[Reason, Callable[[dict[str, Any]], str]] = {
    Reason.ARRIVES: _arrives,
    Reason.HOST_SENDS: _host_sends,
    Reason.HOST_NETWORK: _host_network,
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
    Reason.NAT_UNTRACKED: _nat_untracked,
    Reason.NEIGHBOUR_FILTERED: _neighbour_filtered,
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
    c, p = d.code, d.param
    if c == DoubtCode.RULES_NOT_READ:
        if not p("captured"):
            return _("the firewall rules were not read (not captured)")
        return _("the firewall rules were not read (no IPv{family} rules)").format(family=p("family"))
    if c == DoubtCode.RULE_LOOP:
        return _("{table}/{chain}: rule loop (a jump back into a chain the packet is already in; the kernel "
                 "refuses to load such rules)").format(table=p("table"), chain=p("chain"))
    if c == DoubtCode.MISSING_CHAIN:
        return _("{table}: jump to missing chain {chain}").format(table=p("table"), chain=p("chain"))
    if c == DoubtCode.UNPARSED_RULE:
        return str(p("error"))
    if c == DoubtCode.MATCH_NOT_EVALUATED:
        return _("-m {module} --{option} is not evaluated").format(module=p("module"), option=p("option"))
    if c == DoubtCode.IPSET_NOT_CAPTURED:
        return _("ipset {ipset} (its members are not captured)").format(ipset=p("ipset"))
    if c == DoubtCode.IPSET_NOT_EVALUATED:
        return _("ipset {ipset} of type {type} with {flags} is not evaluated").format(
            ipset=p("ipset"), type=p("type"), flags=p("flags") or _("no flags"))
    if c == DoubtCode.NAT_NOT_FOLLOWED:
        if p("missing"):
            return _("{target} without {missing}").format(target=p("target"), missing=p("missing"))
        return _("{target} is not followed").format(target=p("target"))
    if c == DoubtCode.TARGET_NOT_FOLLOWED:
        return _("target {target} is not followed").format(target=p("target"))
    if c == DoubtCode.SOCKETS_NOT_READ:
        return _("container sockets not captured")
    if c == DoubtCode.PROCESSES_NOT_CAPTURED:
        return _("processes not captured")
    if c == DoubtCode.ROUTES6_NOT_READ:
        return _("the host's IPv6 routes were not captured (ip -j -6 route show): where IPv6 packets go is a guess")
    if c == DoubtCode.SYSCTL_NOT_READ:
        text = (_("{key} was not read (not in the capture); {assumed} assumed: capture it with `sysctl {key}`")
                if p("captured") else
                _("{key} was not read (sysctls not captured); {assumed} assumed: capture it with `sysctl {key}`"))
        return text.format(key=p("key"), assumed=p("assumed"))
    if c == DoubtCode.UDP_ANSWER_SOURCE:
        return _("docker-proxy (pid {pid}) answers from {answer_from}, not from {asked} where the client sent: a "
                 "connected UDP client (dig, most resolvers) drops the answer, an unconnected one takes it (Docker "
                 "{version}; fixed in 28.0, moby#48571)").format(
            pid=p("pid"), answer_from=p("answer_from"), asked=p("asked"),
            version=p("version") or _("a version not known"))
    if c == DoubtCode.UNKNOWN_POLICY:
        return _("{table}/{chain} has the policy {policy}, which is not one the kernel knows").format(
            table=p("table"), chain=p("chain"), policy=repr(p("policy")))
    if c == DoubtCode.INPUT_NOT_READ:
        more = p("more")
        if more:
            return _("not read: {field} (and {more} more)").format(field=p("field"), more=more)
        return _("not read: {field}").format(field=p("field"))
    if c == DoubtCode.NFT_EXPR_NOT_EVALUATED:
        return _("the nftables expression `{expr}` is not evaluated").format(expr=p("expr"))
    if c == DoubtCode.NFT_NOT_READ:
        return _("native nftables rules were not read ({why}): they may drop, accept or rewrite "
                 "this packet").format(why=p("why"))
    if c == DoubtCode.CONNTRACK_UNKNOWN:
        return _("no IPv{family} rule read needs connection tracking, and native nftables rules were not "
                 "read: if none needs it either, the kernel skips the nat chains walked here").format(
            family=p("family"))
    if c == DoubtCode.NFT_FAMILY_NOT_WALKED:
        return _("{family} table {table} has rules, and {family} tables are not walked").format(
            family=p("family"), table=p("table"))
    if c == DoubtCode.BEYOND_HOST:
        return _("the packet leaves this host through {dev} towards {dst}: what happens "
                 "there is not known here").format(dev=p("dev"), dst=p("dst"))
    raise ValueError(f"no words for doubt {c!r}")


def doubt_sentence(d: Doubt) -> str:
    """The doubt as the answer's reason for being uncertain: names the rule it is about."""
    if d.code == DoubtCode.SOCKETS_NOT_READ:
        return _("sockets inside {container} were not read").format(container=d.param("container"))
    if d.code == DoubtCode.PROCESSES_NOT_CAPTURED:
        return _("host processes were not captured")
    if d.code in (DoubtCode.MATCH_NOT_EVALUATED, DoubtCode.IPSET_NOT_CAPTURED, DoubtCode.IPSET_NOT_EVALUATED,
                  DoubtCode.NFT_EXPR_NOT_EVALUATED):
        return f"{d.rule_ref} `{d.rule_text}`: {doubt_detail(d)}"
    if d.rule_ref:
        return f"{d.rule_ref}: {doubt_detail(d)}"
    return doubt_detail(d)


# -- the answer --------------------------------------------------------------------------------------

def summary(path: Path) -> str:
    q = path.query
    head = _("{proto}/{port} from {origin} ({src} -> {dst})").format(
        proto=q.proto, port=q.port, origin=q.origin, src=q.src, dst=q.dst)
    if path.verdict == Verdict.DELIVERED:
        m = path.mapping
        how = {"nat": _("{head}: delivered to {container} by DNAT."),
               "proxy": _("{head}: delivered to {container} through docker-proxy."),
               "direct": _("{head}: delivered to {container} by direct routing.")}.get(
            path.via or "", _("{head}: delivered to {container}."))
        if m is None:
            how = _("{head}: delivered.")
        return how.format(head=head, container=m.container.name if m else "")
    deciding = path.deciding_hop()
    if path.verdict in (Verdict.DROPPED, Verdict.REJECTED) and deciding is not None:
        return _("{head}: {verdict} by {table}/{chain} `{rule}`.").format(
            head=head, verdict=word(path.verdict), table=deciding.table, chain=deciding.chain,
            rule=deciding.rule or deciding.policy)
    if path.verdict == Verdict.UNCERTAIN:
        return _("{head}: uncertain — {why}").format(head=head, why="; ".join(path.doubts[:2]))
    last = path.hops[-1].explanation if path.hops else ""
    return _("{head}: {verdict}. {last}").format(head=head, verdict=word(path.verdict), last=last)


# -- findings ----------------------------------------------------------------------------------------

def _binding(f: dict[str, Any]) -> Any:
    return f.get("binding")


def _drops_or_rejects(f: dict[str, Any]) -> str:
    return _("drops") if f["verdict"] == Verdict.DROPPED else _("rejects")


def finding_reason(code: str, f: dict[str, Any]) -> str:
    b = _binding(f)
    if code == "ip-forward-off":
        return _("net.ipv4.ip_forward=0: the host forwards nothing, so no published port is reachable from outside "
                 "through DNAT (only docker-proxy on the host's own sockets answers)")
    if code == "ip-forward-off-nft":
        return _("net.ipv4.ip_forward=0, and Docker's nftables backend does not turn it on (its iptables backend "
                 "does): nothing is forwarded, so no published port is reachable from outside through DNAT; "
                 "set it yourself (sysctl -w net.ipv4.ip_forward=1, and in /etc/sysctl.d)")
    if code == "nft-no-docker-user":
        where = "; ".join(
            (_("{table} (priority {priority}) runs before Docker's") if when == "before" else
             _("{table} (priority {priority}) runs after Docker's")).format(table=name, priority=prio)
            for name, prio, when in f["others"])
        text = _("Docker's nftables tables have no DOCKER-USER chain: your own rules go in a table of your own, in a "
                 "base chain at hook forward; priority below {priority} runs before Docker's filter-FORWARD, "
                 "above it after. An accept in one table ends only that table's chain; a drop anywhere is final"
                 ).format(priority=f["priority"])
        return text + (_(". Here: {where}").format(where=where) if where else "")
    if code == "docker-accept-other-drops":
        return _("{accepted_by} accepts this port, but {table}/{chain} {does} it afterwards: an "
                 "accept ends only its own base chain, and every later base chain (of any table) still runs").format(
            accepted_by=f["accepted_by"], table=f["table"], chain=f["chain"], does=_drops_or_rejects(f))
    if code == "other-accept-docker-drops":
        return _("{accepted_by} accepts this port, yet {table}/{chain} {does} it: accepting it in "
                 "another table does not override Docker's drop").format(
            accepted_by=f["accepted_by"], table=f["table"], chain=f["chain"], does=_drops_or_rejects(f))
    if code == "nft-input-bypass":
        return _("{where} closes port {port} at the input hook, but the port is DNAT'ed in prerouting "
                 "and forwarded to the container: input never sees it, so that table does not protect this port "
                 "(filter it at the forward hook)").format(where=f["where"], port=b.host_port)
    if code == "two-backends":
        return _("{other} iptables tables are in use beside the {ours} ones Docker writes: the kernel runs "
                 "both, `iptables` shows one").format(other=f["other"], ours=f["ours"])
    if code == "orphan-proxy":
        p = f["proxy"]
        return _("docker-proxy (pid {pid}) holds {ip}:{port}/{proto}, but no running container "
                 "publishes that port: a leftover that blocks the port for others").format(
            pid=p.pid, ip=p.host_ip, port=p.host_port, proto=p.proto)
    if code == "rootless":
        return _("rootless Docker: ports are forwarded by rootlesskit in user space, not by host iptables rules, so "
                 "the host's firewall shows no rule for them")
    if code == "routed-unmapped":
        return _("{network} is in gateway mode routed: -p maps no port on the host's "
                 "addresses; {proto}/{port} is open at the container's own address "
                 "{ip}, for clients that route to it through this host").format(
            network=f["network"] or _("its network"), proto=b.proto, port=b.container_port, ip=f["ip"] or "")
    if code == "expose-only":
        return _("{port}/{proto} is only EXPOSEd: nothing on the host's addresses leads to it "
                 "(publish it with -p or -P)").format(port=b.container_port, proto=b.proto)
    if code == "icc-on":
        return _("ICC is on for {network}: every container on it reaches every listening port of "
                 "{container}, EXPOSEd or not (EXPOSE restricts nothing)").format(
            network=f["network"], container=f["container"])
    if code == "loopback-only":
        return _("published on {ip} only: reachable from this host, not from other machines").format(ip=b.host_ip)
    if code == "not-listening":
        return _("nothing in {container} listens on {proto} port {port}: the connection is "
                 "refused even though the mapping exists").format(
            container=f["container"], proto=b.proto, port=b.container_port)
    if code == "no-dnat-rule":
        return _("no DNAT rule for {proto} port {port}: only docker-proxy (or nothing) answers on it "
                 "(rootless Docker, or --iptables=false?)").format(proto=b.proto, port=b.host_port)
    if code == "ipv6-no-rule":
        return _ipv6_no_rule(b, f)
    if code == "family-differs":
        if f["rule"]:
            how = _("by {rule}").format(rule=f["rule"])
        elif f["policy"]:
            how = _("by {where} policy {policy}").format(where=f["where"], policy=f["policy"])
        else:
            how = ""
        return _("from outside, port {port}/{proto} answers over IPv{works} but not over "
                 "IPv{fails} ({verdict})").format(
            port=b.host_port, proto=b.proto, works=f["works"], fails=f["fails"],
            verdict=word(f["verdict"]) + (" " + how if how else ""))
    if code == "ipv6-net-unfiltered":
        fwd = {"1": _("IPv6 forwarding is on"), "0": _("IPv6 forwarding is off for now")}.get(f["forwarding"] or "", "")
        return _("network {network} has IPv6, and ip6tables has no rule of Docker's for {bridge} "
                 "(ip6tables off): its containers are routed to directly on their IPv6 addresses, every port, "
                 "published or not").format(network=f["network"], bridge=f["bridge"]) + (f" ({fwd})" if fwd else "")
    if code == "proxy-missing":
        return _("the userland proxy is on, but no docker-proxy serves {ip}:{port}/{proto}: "
                 "connections to it from this host via 127.0.0.1 get no answer").format(
            ip=b.host_ip, port=b.host_port, proto=b.proto)
    if code == "proxy-mismatch":
        p = f["proxy"]
        return _("docker-proxy on port {port} forwards to {target_ip}:{target_port}, not to "
                 "{container} ({ip}:{container_port})").format(
            port=b.host_port, target_ip=p.container_ip, target_port=p.container_port, container=f["container"],
            ip=f["ip"], container_port=b.container_port)
    if code == "udp-proxy-answer-source":
        return _("containers that send to udp/{port} at the host's address get docker-proxy's answer from "
                 "their bridge's gateway instead: a connected UDP client (dig, most resolvers) drops it "
                 "(Docker {version}; fixed in 28.0)").format(port=b.host_port, version=f["docker_version"] or "≤ 27")
    if code == "dropped-by-rule":
        text = (_("{table}/{chain} {does} it for an outside client (a rule added beside Docker's)")
                if f["beside_docker"] else _("{table}/{chain} {does} it for an outside client"))
        return text.format(table=f["table"], chain=f["chain"], does=_drops_or_rejects(f))
    if code == "input-bypass":
        return _("the INPUT chain filters incoming traffic, but port {port} is DNATed in PREROUTING and "
                 "forwarded: INPUT never sees it, so that firewall does not protect this port").format(port=b.host_port)
    if code == "direct-routing":
        return _("filter/FORWARD policy is ACCEPT on Docker {version}: a machine on the LAN "
                 "that routes {ip} via this host reaches {container}:{port} directly, "
                 "published or not").format(version=f["docker_version"] or "≤ 27", ip=f["ip"],
                                            container=f["container"], port=b.container_port)
    raise ValueError(f"no words for finding {code!r}")


def _ipv6_no_rule(b: Any, f: dict[str, Any]) -> str:
    head = _("bound on IPv6 ({ip}) but ip6tables has no DNAT rule for port {port}: ").format(
        ip=b.host_ip, port=b.host_port)
    p = f.get("proxy")
    if p is not None:
        if ":" not in p.container_ip:
            return head + _("IPv6 clients reach it only through docker-proxy over IPv4 (6 to 4), so the "
                            "container sees the proxy's address, not the client's, and no ip6tables rule "
                            "of Docker's filters them")
        return head + _("IPv6 clients reach it only through docker-proxy, so the container sees the "
                        "proxy's address, not the client's, and no ip6tables rule of Docker's filters them")
    if f.get("proxy_on") is False:
        return head + _("with the userland proxy off, nothing answers IPv6 clients on it")
    return head + _("IPv6 clients reach it only through docker-proxy, which hides their address")


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
        return _("no host port in NetworkSettings.Ports")
    if code == "routed-unmapped":
        return f'NetworkSettings.Ports["{b.container_port}/{b.proto}"]: HostPort ""'

    if code == "icc-on":
        return f["rule"] or f"network option com.docker.network.bridge.enable_icc={'true' if f['icc'] else 'false'}"
    if code == "loopback-only":
        return f"binding {b.key}"
    if code == "not-listening":
        return _("container sockets: {sockets}").format(
            sockets=", ".join(f"{lsn.proto}/{lsn.port}" for lsn in f["listeners"]) or _("none"))
    if code == "no-dnat-rule":
        return _("{source}: nat table has no --dport {port} DNAT").format(source=f["source"], port=b.host_port)
    if code == "ipv6-no-rule":
        return _("ip6tables-save: no matching DNAT") + (f"; {f['proxy'].args}" if f.get("proxy") else "")
    if code == "family-differs":
        return f["rule"] or (f"{f['where']} policy {f['policy']}" if f["policy"] else f["last"])
    if code == "ipv6-net-unfiltered":
        return f"ip6tables-save: no -i/-o {f['bridge']}; net.ipv6.conf.all.forwarding={f['forwarding'] or '?'}"
    if code == "proxy-missing":
        return _("no docker-proxy process with -host-port {port}").format(port=b.host_port)
    if code == "dropped-by-rule":
        return f["rule"] or f"{f['table']}/{f['chain']} policy {f['policy']}"
    if code == "input-bypass":
        return f["rule"] or f"filter/INPUT policy {f['policy']}"
    if code == "direct-routing":
        return "filter/FORWARD policy ACCEPT"
    raise ValueError(f"no evidence words for finding {code!r}")
