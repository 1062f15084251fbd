"""The host model: plain, immutable data. No I/O, no Textual, no Rich.

Everything a view or the path engine needs about one Docker host at one moment.
Collectors (live or from a capture bundle) build it; nothing else changes it.

The classes are msgspec Structs, not dataclasses: on Python 3.11 a frozen dataclass compiles six
generated methods when its module is imported (~0.6 ms a class, 13 ms for this module, on the way
to the app's first frame), where a Struct is made in C. They read and compare the same way;
`replace` (msgspec.structs.replace) makes a changed copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec import Struct, field
from msgspec.structs import replace

from tui.model.memo import per_object


class Warning_(Struct, frozen=True):
    """Something a collector could not read, or a finding about the host's setup."""

    source: str
    message: str
    hint: str = ""
    unread: bool = False  # it says what was not read (not a finding about the host's setup)


class PortBinding(Struct, frozen=True):
    """One container port and, when published, the host address it is bound to."""

    container_port: int
    proto: str
    host_ip: str | None = None  # None when the port is only EXPOSEd
    host_port: int | None = None
    ephemeral: bool = False  # host port chosen by Docker (-p C or -P)
    publish_all: bool = False  # came from -P rather than an explicit -p
    unmapped: bool = False  # asked for with -p/-P, but the network maps no host port (gateway mode routed)

    @property
    def published(self) -> bool:
        return self.host_port is not None

    @property
    def loopback_only(self) -> bool:
        return self.host_ip in ("127.0.0.1", "::1") or (self.host_ip or "").startswith("127.")

    @property
    def key(self) -> str:
        if not self.published:
            return f"{self.container_port}/{self.proto}"
        return f"{self.host_ip}:{self.host_port}->{self.container_port}/{self.proto}"


class Endpoint(Struct, frozen=True):
    network: str
    network_id: str
    ip: str
    prefix: int
    gateway: str
    mac: str = ""
    ipv6: str = ""
    prefix6: int = 0
    gateway6: str = ""


class Listener(Struct, frozen=True):
    """A listening socket (tcp LISTEN or an unconnected udp socket)."""

    proto: str
    ip: str  # "0.0.0.0", "::" (also v4 unless v6only), or an address
    port: int


class Container(Struct, frozen=True):
    id: str
    name: str
    state: str
    image: str
    pid: int
    sandbox_key: str
    network_mode: str
    ports: tuple[PortBinding, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    links: tuple[str, ...] = ()  # legacy --link targets ("/other:/me/alias")
    # Sockets listening inside the container's netns; None when not known.
    listeners: tuple[Listener, ...] | None = None
    # The container's own veth ends: (ifname, ifindex inside its netns, peer ifindex on the host).
    interfaces: tuple[tuple[str, int, int], ...] = ()
    # Fields of its inspect that could not be read ("container web: State.Pid: expected a number").
    problems: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def endpoint_on(self, network_name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.network == network_name), None)


class Stopped(Struct, frozen=True):
    """Docker said a container stopped (`die`); its inspect may not answer until a removal is done.
    `pid`: the process that died, when known (a later "running" with that pid is stale news)."""

    pid: int = 0


def stopped_view(c: Container) -> Container:
    """The container as a stopped one looks, from what it was: nothing published but fixed host
    ports it asked for (as `docker inspect` of a stopped container shows them), no addresses, no
    namespace and nothing listening. The next inspect or collection replaces it."""
    ports: dict[tuple[int, str, str | None, int | None], PortBinding] = {}
    for b in c.ports:
        if b.publish_all or not b.published:
            kept = PortBinding(b.container_port, b.proto)
        else:
            # Docker 20.10+ binds 0.0.0.0 and :: for one -p; the stopped container shows the request once.
            kept = replace(b, host_ip="0.0.0.0" if b.host_ip == "::" else b.host_ip,
                           host_port=None if b.ephemeral else b.host_port)
        ports.setdefault((kept.container_port, kept.proto, kept.host_ip, kept.host_port), kept)
    return replace(c, state="exited", pid=0, ports=tuple(ports.values()),
                   endpoints=tuple(replace(e, ip="", prefix=0, gateway="", mac="", ipv6="", prefix6=0, gateway6="")
                                   for e in c.endpoints),
                   listeners=(), interfaces=())


class Network(Struct, frozen=True):
    id: str
    name: str
    driver: str
    bridge: str  # Linux bridge device, "" when not a bridge network
    subnet: str
    gateway: str
    internal: bool = False
    icc: bool = True
    gateway_mode_ipv4: str = "nat"
    enable_ipv6: bool = False
    options: tuple[tuple[str, str], ...] = ()
    containers: tuple[str, ...] = ()  # container ids


class Address(Struct, frozen=True):
    ip: str
    prefix: int
    family: int  # 4 or 6


class Link(Struct, frozen=True):
    index: int
    name: str
    kind: str  # "bridge", "veth", "loopback", "device", ...
    state: str
    mac: str = ""
    master: str = ""  # name of the bridge this port belongs to
    peer_index: int | None = None  # IFLA_LINK: the veth peer's ifindex (in peer_netnsid)
    peer_netnsid: int | None = None
    addresses: tuple[Address, ...] = ()


class Route(Struct, frozen=True):
    dst: str  # "default" or a CIDR
    dev: str
    gateway: str = ""
    prefsrc: str = ""
    scope: str = ""
    metric: int = 0
    family: int = 4


class Rule(Struct, frozen=True):
    table: str
    chain: str
    index: int  # 1-based position in its chain
    text: str  # exactly as iptables-save prints it, without counters: "-A CHAIN ..."
    packets: int | None = None
    bytes: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.table}/{self.chain}#{self.index}"


class Chain(Struct, frozen=True):
    name: str
    policy: str | None  # None for user-defined chains
    rules: tuple[Rule, ...] = ()
    packets: int | None = None
    bytes: int | None = None


class RuleSet(Struct, frozen=True):
    """One address family's tables as iptables-save shows them."""

    family: int
    source: str  # "iptables-save (nf_tables)", "python-iptables (legacy)", a file name ...
    tables: Mapping[str, Mapping[str, Chain]] = field(default_factory=dict)

    def chain(self, table: str, name: str) -> Chain | None:
        return self.tables.get(table, {}).get(name)

    def all_rules(self) -> list[Rule]:
        return [r for chains in self.tables.values() for c in chains.values() for r in c.rules]

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for chains in self.tables.values() for c in chains.values())

    @property
    def passes_everything(self) -> bool:
        """No rules and no policy but ACCEPT: the kernel runs it without effect."""
        return not self.rule_count and all((c.policy or "ACCEPT") == "ACCEPT"
                                           for chains in self.tables.values() for c in chains.values())

    def describe_size(self) -> str:
        dropping = [f"{t}/{c.name} policy {c.policy}" for t, chains in self.tables.items()
                    for c in chains.values() if c.policy not in (None, "ACCEPT")]
        return f"{self.rule_count} rules" + (f" and {', '.join(dropping)}" if dropping else "")


class NftRule(Struct, frozen=True, eq=False):
    """One rule of a native nftables chain. `expr` is the rule's expression list as `nft -j` gives it."""

    family: str
    table: str
    chain: str
    handle: int
    text: str  # as `nft -a list ruleset` prints it, without counter values and without `# handle N`
    expr: tuple[Any, ...] = ()
    comment: str = ""
    packets: int | None = None
    bytes: int | None = None

    @property
    def ref(self) -> str:
        return f"{self.family} {self.table}/{self.chain}#{self.handle}"


class NftChain(Struct, frozen=True, eq=False):
    name: str
    hook: str = ""  # "" for a regular chain
    type: str = ""  # filter / nat / route, for a base chain
    priority: int = 0
    policy: str = ""  # "accept" / "drop" for a base chain
    rules: tuple[NftRule, ...] = ()

    @property
    def is_base(self) -> bool:
        return bool(self.hook)


class NftSet(Struct, frozen=True, eq=False):
    """A named set or map. Elements are kept as `nft -j` gives them (a map's as [key, value])."""

    name: str
    type: str
    is_map: bool = False
    map_type: str = ""
    flags: tuple[str, ...] = ()
    elements: tuple[Any, ...] = ()


class NftTable(Struct, frozen=True, eq=False):
    """A native nftables table: not one of the tables iptables-nft keeps for `iptables`."""

    family: str  # ip, ip6, inet, bridge, netdev, arp
    name: str
    chains: Mapping[str, NftChain] = field(default_factory=dict)
    sets: Mapping[str, NftSet] = field(default_factory=dict)

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains.values())


class IpSet(Struct, frozen=True):
    """One ipset as `ipset save` lists it (Docker 28.0.0 keeps its bridges' subnets in one)."""

    name: str
    type: str  # hash:net, hash:ip, ...
    family: int
    members: tuple[str, ...] = ()


class Proxy(Struct, frozen=True):
    pid: int
    proto: str
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int
    args: str


class HostFacts(Struct, frozen=True):
    hostname: str = ""
    docker_version: str = ""
    api_version: str = ""
    firewall_backend: str = "unknown"  # "nft", "legacy" or "unknown": what the `iptables` command uses
    docker_firewall: str = ""  # what Docker writes its rules with: "iptables", "nftables", "" (not said)
    userland_proxy: bool | None = None
    userland_proxy_inferred: bool = True  # True when we deduced it (the API of <29.5 does not say)
    rootless: bool = False
    icc_default: bool | None = None
    captured_at: str = ""
    source: str = ""  # "live", "bundle DIR", "demo"

    @property
    def docker_major(self) -> int | None:
        """Docker's major version (20, 27, 28, ...), None when not known."""
        head = (self.docker_version or "").split(".", 1)[0]
        return int(head) if head.isdigit() else None


class HostState(Struct, frozen=True):
    facts: HostFacts = HostFacts()
    containers: tuple[Container, ...] = ()
    networks: tuple[Network, ...] = ()
    links: tuple[Link, ...] = ()
    routes: tuple[Route, ...] = ()
    rulesets: Mapping[int, RuleSet] = field(default_factory=dict)  # keyed by family 4 / 6
    # Rules of the backend Docker does not use (legacy beside nft, nft beside legacy): the kernel
    # runs them too, so the path engine evaluates them after the main set.
    other_rulesets: Mapping[int, RuleSet] = field(default_factory=dict)
    # Native nftables tables (Docker 29's nftables backend, firewalld, hand-written ones); the tables
    # iptables-nft keeps for `iptables` are in `rulesets`, not here.
    nft_tables: tuple[NftTable, ...] = ()
    proxies: tuple[Proxy, ...] = ()
    ipsets: Mapping[str, IpSet] = field(default_factory=dict)  # by name; empty when none (or not read)
    sysctls: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[Warning_, ...] = ()
    # Which inputs could not be read at all ("rules", "links", "docker", ...): shown as "not captured".
    missing: frozenset[str] = frozenset()
    # Fields of the inputs that could not be read, not tied to one container: every answer rests
    # on them, so every answer is uncertain while there are any.
    problems: tuple[str, ...] = ()

    # -- lookups used by the path engine and the views ------------------------------------

    @property
    def other_backend(self) -> str:
        """The iptables backend Docker does not use here: its tables, if any, are `other_rulesets`."""
        return "nft" if self.facts.firewall_backend == "legacy" else "legacy"

    def container(self, name_or_id: str) -> Container | None:
        """By name, id, or an id prefix of 6 or more; the first in order that matches."""
        key = name_or_id.lstrip("/")
        if len(key) < 6 or not _HEX.issuperset(key):
            # No id starts with it (ids are hex): a name or a whole id, from the index (a host with
            # 1,000 containers asks this once per origin of `reach`).
            return _containers_by_key(self).get(key)
        for c in self.containers:
            if c.name == key or c.id == key or c.id.startswith(key):
                return c
        return None

    def network_by_name(self, name: str) -> Network | None:
        return next((n for n in self.networks if n.name == name or n.id == name), None)

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links if link.name == name), None)

    def link_by_index(self, index: int) -> Link | None:
        return next((link for link in self.links if link.index == index), None)

    def host_addresses(self, family: int = 4) -> list[tuple[str, str]]:
        """(address, interface) for every address on the host."""
        return [(a.ip, link.name) for link in self.links for a in link.addresses if a.family == family]

    def sysctl(self, key: str, default: str = "") -> str:
        return self.sysctls.get(key, default)

    def with_warnings(self, *extra: Warning_) -> HostState:
        return replace(self, warnings=self.warnings + tuple(extra))

    def without_volatile(self) -> HostState:
        """The same state with counters and timestamps dropped, for comparing two collections."""

        def strip(rs: RuleSet) -> RuleSet:
            tables = {
                t: {
                    n: replace(c, packets=None, bytes=None,
                               rules=tuple(replace(r, packets=None, bytes=None) for r in c.rules))
                    for n, c in chains.items()
                }
                for t, chains in rs.tables.items()
            }
            return replace(rs, tables=tables, source="")

        return replace(
            self,
            facts=replace(self.facts, captured_at="", source=""),
            rulesets={f: strip(r) for f, r in self.rulesets.items()},
            other_rulesets={f: strip(r) for f, r in self.other_rulesets.items()},
            warnings=(),
        )


_HEX = frozenset("0123456789abcdef")


@per_object(maxsize=8)
def _containers_by_key(state: HostState) -> dict[str, Container]:
    out: dict[str, Container] = {}
    for c in state.containers:  # the first in order wins, as in a scan
        out.setdefault(c.name, c)
        out.setdefault(c.id, c)
    return out
