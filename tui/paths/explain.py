"""One sentence per hop that a newcomer understands. Plain strings; views decide how to show them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.model import HostState
from tui.paths.netfilter import Step
from tui.paths.packet import Packet
from tui.paths.rules import parse_rule

if TYPE_CHECKING:
    from tui.paths.engine import Path

_CHAIN_ROLE = {
    "PREROUTING": "as it arrives, before the routing decision",
    "INPUT": "because it is addressed to the host itself",
    "FORWARD": "because the host routes it on to another interface",
    "OUTPUT": "as the host sends it",
    "POSTROUTING": "as it leaves, after routing",
}


def _iface_reason(step: Step) -> str:
    parsed = parse_rule(step.rule.text) if step.rule else None
    if not parsed:
        return ""
    for m in parsed.matches:
        if m.module != "base":
            continue
        for o in m.options:
            if o.name == "iif" and o.negated:
                return f" because the packet did not come in on {o.values[0]}"
            if o.name == "iif":
                return f" because the packet came in on {o.values[0]}"
    return ""


def rule(step: Step, state: HostState) -> str:
    where = f"{step.table}/{step.chain}"
    b, a = step.before, step.after
    t = step.target
    if t == "DNAT" and b and a:
        return (f"{where}: DNAT rewrites the destination {b.dst}:{b.dport} to {a.dst}:{a.dport}"
                f"{_iface_reason(step)}.")
    if t == "REDIRECT" and b and a:
        return f"{where}: REDIRECT sends the packet to the host itself, port {a.dport}."
    if t == "MASQUERADE" and b and a:
        return (f"{where}: MASQUERADE rewrites the source {b.src} to {a.src}, the address of "
                f"{b.oif or 'the outgoing interface'}, so replies come back through this host.")
    if t == "SNAT" and b and a:
        return f"{where}: SNAT rewrites the source {b.src} to {a.src}."
    if t == "ACCEPT":
        return f"{where}: the rule accepts the packet; no further {step.table} rules run for this hook."
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
    if step.doubt:
        return f"{where}: {t} — {step.doubt}; what happens next is uncertain."
    if t:
        return f"{where}: the rule matches and {'goes' if parse_rule(step.rule.text).goto else 'jumps'} to chain {t}."
    return f"{where}: the rule matches (it only counts packets)."


def policy(step: Step, p: Packet) -> str:
    role = _CHAIN_ROLE.get(step.chain, "")
    verdict = {"ACCEPT": "lets the packet through", "DROP": "drops the packet"}.get(step.policy, step.policy)
    return (f"{step.table}/{step.chain}: no rule decided {role}; the chain's policy {step.policy} "
            f"{verdict}.")


def arrive(p: Packet) -> str:
    return (f"A client at {p.src} sends a {p.proto.upper()} packet to {p.dst}:{p.dport}; it arrives on "
            f"{p.iif}.")


def local_send(p: Packet) -> str:
    return f"A process on the host sends from {p.src} to {p.dst}:{p.dport} ({p.proto})."


def route_local(p: Packet) -> str:
    return (f"Routing: {p.dst} is one of the host's own addresses, so the packet is delivered locally "
            f"(INPUT), not forwarded.")


def route_loopback(p: Packet) -> str:
    return f"Routing: {p.dst} is local, so the packet loops back through lo to a local socket."


def route_forward(p: Packet, dev: str, gw: str, local: bool = False) -> str:
    via = f" via {gw}" if gw else ""
    first = "" if local else "is not a host address any more, so "
    return f"Routing: {p.dst} {first}is reached through {dev}{via}."


def bridged(bridge: str, nf_bridge: bool) -> str:
    if nf_bridge:
        return (f"{bridge} forwards the frame between two of its ports; br_netfilter "
                "(bridge-nf-call-iptables=1) runs it through iptables as it does so.")
    return (f"{bridge} forwards the frame between two of its ports; bridge-nf-call-iptables=0, so no "
            "iptables rule sees it.")


def summary(path: Path) -> str:
    q = path.query
    head = f"{q.proto}/{q.port} from {q.origin} ({q.src} -> {q.dst})"
    deciding = next((h for h in reversed(path.hops) if h.kind in ("rule", "policy")
                     and (h.target in ("DROP", "REJECT") or h.policy in ("DROP",))), None)
    if path.verdict == "delivered":
        m = path.mapping
        where = f" to {m.container.name}" if m else ""
        how = {"nat": "by DNAT", "proxy": "through docker-proxy", "direct": "by direct routing"}.get(path.via or "", "")
        return f"{head}: delivered{where} {how}".rstrip() + "."
    if path.verdict in ("dropped", "rejected") and deciding is not None:
        return f"{head}: {path.verdict} by {deciding.table}/{deciding.chain} `{deciding.rule or deciding.policy}`."
    if path.verdict == "uncertain":
        return f"{head}: uncertain — " + "; ".join(path.doubts[:2])
    last = path.hops[-1].explanation if path.hops else ""
    return f"{head}: {path.verdict}. {last}"
