"""The packet's journey: a path as the stages a packet passes through the host, for the journey
view (`j`). Pure data, built from a traced Path.

A leg from outside (or from a container through its bridge) passes: the client, the interface,
PREROUTING, the routing decision, then INPUT (for the host itself) or FORWARD and POSTROUTING (on
to a bridge), and the bridge, the veth and the container, or a local socket (docker-proxy). A leg
the host sends (a process on the host, docker-proxy's own connection) passes OUTPUT, the routing
decision and POSTROUTING, and then either a bridge or, looped back through lo, PREROUTING and
INPUT again. Every hook of that plan is a stage: lit when the packet passed it, dim when its route
does not go that way or the packet never got there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.paths.types import Hop, HopKind, PacketFacts, Path, Reason

HOOKS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")


@dataclass
class Stage:
    name: str  # a hook ("PREROUTING"), or "client", "interface", "routing", "bridge", "veth", ...
    leg: int
    hops: list[int] = field(default_factory=list)  # indices into path.hops
    passed: bool = False  # the packet went through this stage
    packet: PacketFacts | None = None  # the header as the packet leaves this stage
    changed: tuple[str, ...] = ()  # header fields this stage rewrote: "src", "sport", "dst", "dport"
    before: PacketFacts | None = None  # the header as it came in, when this stage rewrote it
    deciding: bool = False  # the path's deciding rule (or policy) is in this stage
    label: str = ""  # what the stage is here: the interface's name, the bridge's, "local" ...

    @property
    def is_hook(self) -> bool:
        return self.name in HOOKS


@dataclass
class Journey:
    path: Path
    stages: list[Stage]

    def stage_of_hop(self, index: int) -> int:
        return next((i for i, s in enumerate(self.stages) if index in s.hops), 0)


def journey_of(path: Path) -> Journey:
    stages: list[Stage] = []
    deciding = path.deciding_hop()
    for leg in sorted({h.leg for h in path.hops}):
        stages += _leg_stages(path, leg, deciding)
    return Journey(path, stages)


def _leg_stages(path: Path, leg: int, deciding: Hop | None) -> list[Stage]:
    hops = [(i, h) for i, h in enumerate(path.hops) if h.leg == leg]
    if not hops:
        return []
    local = hops[0][1].reason in (Reason.HOST_SENDS, Reason.HOST_NETWORK)
    routed = next((h for _i, h in hops if h.kind == HopKind.ROUTE), None)
    looped = routed is not None and routed.reason == Reason.ROUTE_LOOPBACK
    to_host = routed is not None and routed.reason == Reason.ROUTE_LOCAL
    if local:
        plan = ["client", "OUTPUT", "routing", "POSTROUTING"] + (
            ["PREROUTING", "INPUT", "socket"] if looped else ["bridge", "veth", "container"])
    else:
        plan = ["client", "interface", "PREROUTING", "routing"] + (
            ["INPUT", "socket"] if to_host else ["FORWARD", "POSTROUTING", "bridge", "veth", "container"])
        if any(h.reason == Reason.BRIDGED for _i, h in hops):
            plan.remove("routing")  # switched by the bridge at layer 2: no routing decision
    stages = {name: Stage(name, leg) for name in plan}
    order = list(plan)
    for i, h in hops:
        slot = _slot(h, local, looped)
        if slot not in stages:  # a hop the plan did not foresee: its own stage, where it happened
            stages[slot] = Stage(slot, leg)
            order.insert(order.index("routing") + 1 if slot in HOOKS else len(order), slot)
        stage = stages[slot]
        stage.hops.append(i)
        stage.passed = True
        if h is deciding:
            stage.deciding = True
        if not stage.label:
            stage.label = h.name if h.kind not in (HopKind.RULE, HopKind.POLICY, HopKind.CONNTRACK) else ""
    # The header, stage by stage: the client's packet, rewritten where a rule said so.
    current = _first_packet(hops)
    last_passed = max((order.index(n) for n, s in stages.items() if s.passed), default=-1)
    for n, name in enumerate(order):
        stage = stages[name]
        for i in stage.hops:
            h = path.hops[i]
            if h.after is not None and h.before is not None and h.after != h.before:
                changed = tuple(f for f in ("src", "sport", "dst", "dport")
                                if getattr(h.before, f) != getattr(h.after, f))
                if changed:
                    stage.before = stage.before or current
                    stage.changed = tuple(dict.fromkeys(stage.changed + changed))
                current = h.after
        # A hook with no rule hop was still passed when a later stage was (no rule of it matched).
        if not stage.passed and n < last_passed and name in plan:
            stage.passed = True
        stage.packet = current if stage.passed else None
    return [stages[name] for name in order]


def _slot(h: Hop, local: bool, looped: bool) -> str:
    if h.kind in (HopKind.RULE, HopKind.POLICY, HopKind.CONNTRACK):
        return h.hook or "rules"
    if h.kind == HopKind.ROUTE:
        return "routing"
    if h.kind == HopKind.INTERFACE:
        return "client" if h.reason in (Reason.HOST_SENDS, Reason.ARRIVES) and local else \
            ("interface" if h.reason == Reason.ARRIVES else "socket" if h.reason == Reason.LEAVES_HOST else "client")
    if h.kind == HopKind.CONTAINER:
        return "client" if h.reason in (Reason.CONTAINER_SENDS, Reason.HOST_NETWORK) else "container"
    if h.kind == HopKind.VETH:
        return "interface" if h.reason == Reason.VETH_OUT else "veth"
    if h.kind == HopKind.BRIDGE:
        return "interface" if h.reason in (Reason.BRIDGE_UP, Reason.BRIDGED) else "bridge"
    if h.kind in (HopKind.PROXY, HopKind.LOCAL):
        return "socket"
    return str(h.kind)


def _first_packet(hops: list[tuple[int, Hop]]) -> PacketFacts | None:
    for _i, h in hops:
        facts = h.facts.get("packet")
        if isinstance(facts, PacketFacts):
            return facts
        if h.before is not None:
            return h.before
    return None
