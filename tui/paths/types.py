"""The path engine's question and answer: Query, Hop, Path, and the facts they carry.

Facts only. The engine fills them (what kind of hop, which rule, the packet before and after a
rewrite, a reason code with its parameters); `tui.paths.explain` turns them into sentences, once,
at the end of a trace. The enums are `str` enums: their JSON values are the plain words they were.
The classes are msgspec Structs, as the host model's are (see `tui.model.state`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from msgspec import Struct, field

from tui.model import Container, PortBinding

# Where a question can start; plus "external:IP" and "container:NAME".
ORIGINS = ("external", "host", "localhost")


class QueryError(ValueError):
    """The question can't be asked of this host (unknown container, no address...)."""


class HopKind(StrEnum):
    INTERFACE = "interface"
    RULE = "rule"
    POLICY = "policy"
    ROUTE = "route"
    BRIDGE = "bridge"
    VETH = "veth"
    PROXY = "proxy"
    CONTAINER = "container"
    LOCAL = "local"
    CONNTRACK = "conntrack"  # connection tracking decided something of the path (nat skipped)


class Verdict(StrEnum):
    DELIVERED = "delivered"
    DROPPED = "dropped"
    REJECTED = "rejected"
    REFUSED = "refused"
    UNCERTAIN = "uncertain"


class Via(StrEnum):
    NAT = "nat"
    PROXY = "proxy"
    DIRECT = "direct"


class Severity(StrEnum):
    PROBLEM = "problem"
    WARN = "warn"
    INFO = "info"


class Reason(StrEnum):
    """Why a hop happened: each has one sentence in `explain`, filled from the hop's facts."""

    ARRIVES = "arrives"  # a client's packet arrives on an interface
    HOST_SENDS = "host-sends"  # a process on the host sends
    HOST_NETWORK = "host-network"  # a container on --network host: its packets are the host's own
    RULE = "rule"  # a rule matched (the words depend on its target)
    POLICY = "policy"  # a base chain's end decided
    CONTAINER_SENDS = "container-sends"
    INTERNAL_ONLY = "internal-only"  # only internal networks: no default route out
    VETH_OUT = "veth-out"  # from a container to its host end
    BRIDGED = "bridged"  # layer 2 between two ports of one bridge
    BRIDGE_UP = "bridge-up"  # handed up to the host's IP stack
    ROUTE_LOCAL = "route-local"  # for one of the host's addresses
    ROUTE_LOOPBACK = "route-loopback"
    ROUTE_FORWARD = "route-forward"  # routed on (forwarded, or sent by the host)
    NO_ROUTE = "no-route"  # forwarded packet without a route
    NO_ROUTE_LOCAL = "no-route-local"  # the host's own packet without a route
    FORWARDING_OFF = "forwarding-off"
    LOOPBACK_SOURCE = "loopback-source"  # route_localnet=0 refuses a 127/8 source out of a device
    LEAVES_HOST = "leaves-host"  # no container has that address
    BRIDGE_DELIVERS = "bridge-delivers"
    VETH_IN = "veth-in"
    NO_ROUTE_BACK = "no-route-back"  # container on internal networks only: its answer never leaves
    SOCKETS_UNKNOWN = "sockets-unknown"
    LISTENING = "listening"
    NOTHING_LISTENS = "nothing-listens"
    NO_PROXY = "no-proxy"
    PROXY = "proxy"
    NAT_UNTRACKED = "nat-untracked"  # an untracked packet passes no nat chain
    NEIGHBOUR_FILTERED = "neighbour-filtered"  # IPv6 neighbour discovery between two ports dropped


class DoubtCode(StrEnum):
    """Why an answer is uncertain: each has one wording in `explain`."""

    RULES_NOT_READ = "rules-not-read"
    RULE_LOOP = "rule-loop"
    MISSING_CHAIN = "missing-chain"
    UNPARSED_RULE = "unparsed-rule"
    MATCH_NOT_EVALUATED = "match-not-evaluated"  # -m MOD --OPT
    IPSET_NOT_CAPTURED = "ipset-not-captured"
    IPSET_NOT_EVALUATED = "ipset-not-evaluated"
    NAT_NOT_FOLLOWED = "nat-not-followed"  # a NAT target that cannot be applied
    TARGET_NOT_FOLLOWED = "target-not-followed"
    SOCKETS_NOT_READ = "sockets-not-read"
    PROCESSES_NOT_CAPTURED = "processes-not-captured"
    SYSCTL_NOT_READ = "sysctl-not-read"
    INPUT_NOT_READ = "input-not-read"  # a field of the capture that could not be read
    UNKNOWN_POLICY = "unknown-policy"
    UDP_ANSWER_SOURCE = "udp-answer-source"  # docker-proxy answers UDP from another address
    BEYOND_HOST = "beyond-host"  # the packet leaves this host: what happens next is not ours to see
    NFT_EXPR_NOT_EVALUATED = "nft-expr-not-evaluated"  # an nftables expression the walker does not know
    NFT_NOT_READ = "nft-not-read"  # the host has native nftables rules (or may have), and they were not read
    # nat chains walked although no rule read needs conntrack: unread native nft rules might turn it on
    CONNTRACK_UNKNOWN = "conntrack-unknown"
    NFT_FAMILY_NOT_WALKED = "nft-family-not-walked"  # bridge/netdev tables with rules: not walked
    ROUTES6_NOT_READ = "routes6-not-read"  # an IPv6 question on a capture without IPv6 routes


class Doubt(Struct, frozen=True):
    """What the engine could not know. `rule` names the rule it is about (`ref` and text), if any."""

    code: DoubtCode
    params: tuple[tuple[str, Any], ...] = ()
    rule_ref: str = ""
    rule_text: str = ""

    @staticmethod
    def of(code: DoubtCode, rule_ref: str = "", rule_text: str = "", **params: Any) -> Doubt:
        return Doubt(code, tuple(sorted(params.items())), rule_ref, rule_text)

    def param(self, name: str, default: Any = "") -> Any:
        return dict(self.params).get(name, default)


class PacketFacts(Struct, frozen=True):
    """The packet as a rule saw it (before) or left it (after)."""

    src: str
    dst: str
    proto: str
    sport: int
    dport: int
    iif: str = ""
    oif: str = ""


class Query(Struct):
    port: int
    proto: str = "tcp"
    origin: str = "external"
    to: str | None = None
    src: str = ""
    dst: str = ""
    family: int = 4  # 6: the client speaks IPv6 (`-6`, or an IPv6 address in the question)


class Hop(Struct):
    kind: HopKind
    reason: Reason | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # the reason's parameters
    name: str = ""
    table: str = ""
    chain: str = ""
    rule: str = ""
    rule_ref: str = ""
    target: str = ""
    goto: bool = False  # the rule's target was reached by -g, not -j
    policy: str = ""
    leg: int = 1
    doubts: list[Doubt] = field(default_factory=list)  # about this hop itself
    pinned: list[Doubt] = field(default_factory=list)  # about rules passed over just before it
    backend: str = ""  # set for rules of the other backend ("legacy" beside nft, "nft" beside legacy)
    family: str = ""  # a native nftables rule's family (ip, ip6, inet); "" for an iptables rule
    handle: int | None = None  # a native nftables rule's handle
    before: PacketFacts | None = None
    after: PacketFacts | None = None
    hook: str = ""  # a rule's or policy's netfilter hook (PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING)
    # Words, filled by tui.paths.explain at the end of a trace.
    explanation: str = ""
    uncertain: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("name", "family", "table", "chain", "rule", "target", "policy", "backend"):
            value = getattr(self, key)
            if value:
                out[key] = value.lower() if key == "policy" and self.family else value  # nft's own word
        if self.handle is not None:
            out["handle"] = self.handle
        if self.leg != 1:
            out["leg"] = self.leg
        if self.uncertain:
            out["uncertain"] = self.uncertain
        out["explanation"] = self.explanation
        return out


class Mapping(Struct):
    container: Container
    binding: PortBinding
    container_ip: str

    def as_json(self) -> dict[str, Any]:
        return {"container": self.container.name, "container_ip": self.container_ip,
                "container_port": self.binding.container_port, "host_ip": self.binding.host_ip,
                "host_port": self.binding.host_port, "proto": self.binding.proto}


class Path(Struct):
    query: Query
    mapping: Mapping | None
    verdict: Verdict
    via: Via | None
    hops: list[Hop] = field(default_factory=list)
    doubt_facts: list[Doubt] = field(default_factory=list)
    # Words, filled by tui.paths.explain at the end of a trace.
    doubts: list[str] = field(default_factory=list)
    summary: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "query": {"port": self.query.port, "proto": self.query.proto, "origin": self.query.origin,
                      "src": self.query.src, "dst": self.query.dst, "family": self.query.family},
            "mapping": self.mapping.as_json() if self.mapping else None,
            "verdict": self.verdict,
            "via": self.via,
            "summary": self.summary,
            "uncertain_because": self.doubts,
            "hops": [h.as_json() for h in self.hops],
        }

    def rule_refs(self) -> list[str]:
        return [h.rule_ref for h in self.hops if h.kind == HopKind.RULE]

    def deciding_hop(self) -> Hop | None:
        """The rule (or policy) that decided: the last one that dropped or rejected the packet; on a
        path that no rule stopped, the last rule that accepted or rewrote it. None when the packet
        was stopped by something else (routing, a container)."""
        stop = next((h for h in reversed(self.hops) if h.kind in (HopKind.RULE, HopKind.POLICY)
                     and (h.target in ("DROP", "REJECT") or h.policy == "DROP")), None)
        if stop is not None or self.verdict in (Verdict.DROPPED, Verdict.REJECTED):
            return stop
        return next((h for h in reversed(self.hops) if h.kind == HopKind.RULE
                     and h.target in ("ACCEPT", "DNAT", "MASQUERADE")), None)
