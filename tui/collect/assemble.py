"""Combine what the collectors read (live or from a bundle) into one HostState.

Both sources fill the same `Pieces`; everything derived (facts, veth ownership, inferred
userland-proxy) is computed here once, so live and bundle can only differ in what they read.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct, field

from tui.collect.docker_json import (
    container_from_inspect,
    daemon_icc_from_rules,
    facts_from_docker,
    network_from_inspect,
)
from tui.i18n import _
from tui.model import (
    Container,
    HostState,
    IpSet,
    Link,
    Listener,
    NftTable,
    Proxy,
    Route,
    RuleSet,
    Warning_,
    replace,
)


class Pieces(Struct):
    source: str = ""
    hostname: str = ""
    captured_at: str = ""
    docker_version: dict[str, Any] | None = None
    docker_info: dict[str, Any] | None = None
    containers_json: list[dict[str, Any]] | None = None
    networks_json: list[dict[str, Any]] | None = None
    links: tuple[Link, ...] | None = None
    routes: tuple[Route, ...] | None = None
    routes6: tuple[Route, ...] | None = None  # None: IPv6 routes not read (a bundle from before they were)
    container_ifaces: dict[str, tuple[tuple[str, int, int], ...]] = field(default_factory=dict)
    container_listeners: dict[str, tuple[Listener, ...]] = field(default_factory=dict)
    backend: str = "unknown"
    rulesets: dict[int, RuleSet] = field(default_factory=dict)
    other_rulesets: dict[int, RuleSet] = field(default_factory=dict)
    nft_json: str | None = None  # `nft -j list ruleset`; None when not read
    nft_unread: str = ""  # why it was not read (no nft binary, not captured)
    proxies: tuple[Proxy, ...] | None = None
    ipsets: dict[str, IpSet] = field(default_factory=dict)
    sysctls: dict[str, str] | None = None
    warnings: list[Warning_] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # fields of the inputs that could not be read


def infer_userland_proxy(rulesets: dict[int, RuleSet], proxies: tuple[Proxy, ...] | None,
                         containers: tuple[Container, ...]) -> bool | None:
    """The API (before 29.5) does not say; Docker's own rules and processes do."""
    v4 = rulesets.get(4)
    if v4 is not None:
        output = v4.chain("nat", "OUTPUT")
        for rule in output.rules if output else ():
            if rule.text.endswith("-j DOCKER") and "--dst-type LOCAL" in rule.text:
                return "! -d 127.0.0.0/8" in rule.text
    if proxies:
        return True
    if proxies is not None and any(p.published for c in containers if c.state == "running" for p in c.ports):
        return False
    return None


def assemble(p: Pieces) -> HostState:
    warnings = list(p.warnings)
    missing: set[str] = set()
    problems: list[str] = list(p.problems)  # fields of the input that could not be read
    facts, w = facts_from_docker(p.docker_version, p.docker_info, problems)
    warnings += w

    v4_rules = p.rulesets.get(4)
    rule_lines = [r.text for r in v4_rules.all_rules()] if v4_rules else []
    daemon_icc = daemon_icc_from_rules(rule_lines)

    if p.containers_json is None:
        missing.add("docker")
    containers = tuple(sorted((container_from_inspect(c, interfaces=p.container_ifaces,
                                                      listeners=p.container_listeners)
                               for c in p.containers_json or []), key=lambda c: c.name))
    networks = tuple(network_from_inspect(n, daemon_icc, problems) for n in p.networks_json or [])
    if p.links is None:
        missing.add("links")
    if p.routes6 is None:
        missing.add("routes6")
    if not p.rulesets:
        missing.add("rules")
    if p.proxies is None:
        missing.add("proxies")
    if p.sysctls is None:
        missing.add("sysctls")
    nft_tables, w = _native_tables(p, facts.docker_firewall, problems)
    warnings += w
    if p.nft_json is None:
        # Unread native rules matter everywhere, but only Docker's own make every answer uncertain;
        # otherwise they decide one question: whether this namespace tracks connections at all.
        missing.add("nft" if facts.docker_firewall == "nftables" else "nft-ruleset")

    userland_proxy = None
    inferred = True
    info_fw = p.docker_info.get("FirewallBackend") if isinstance(p.docker_info, dict) else None
    if isinstance(info_fw, dict) and "UserlandProxy" in info_fw:  # Docker 29.5+ says so itself
        userland_proxy, inferred = bool(info_fw["UserlandProxy"]), False
    else:
        userland_proxy = infer_userland_proxy(p.rulesets, p.proxies, containers)

    facts = replace(
        facts,
        hostname=p.hostname or facts.hostname,
        firewall_backend=p.backend,
        userland_proxy=userland_proxy,
        userland_proxy_inferred=inferred,
        icc_default=daemon_icc,
        captured_at=p.captured_at,
        source=p.source,
    )
    return HostState(
        facts=facts,
        containers=containers,
        networks=tuple(sorted(networks, key=lambda n: n.name)),
        links=p.links or (),
        routes=(p.routes or ()) + (p.routes6 or ()),
        rulesets=dict(p.rulesets),
        other_rulesets=dict(p.other_rulesets),
        nft_tables=nft_tables,
        proxies=p.proxies or (),
        ipsets=dict(p.ipsets),
        sysctls=dict(p.sysctls or {}),
        warnings=tuple(warnings + _problem_warnings(problems, containers)),
        missing=frozenset(missing),
        problems=tuple(problems),
    )


def with_firewall(state: HostState, backend: str, rulesets: dict[int, RuleSet], other: dict[int, RuleSet],
                  ipsets: dict[str, IpSet], nft_json: str | None, nft_unread: str,
                  family: int | None = None) -> HostState:
    """The state with freshly read rules and nothing else changed: what a rule-change notification
    shows at once, before the full collection that follows settles everything (warnings included).
    `family`: only that family's iptables rules were read (an iptables commit changes nothing else):
    the other family, the legacy tables beside them and the native tables stay as they were."""
    if family is not None:
        if family not in rulesets:
            return state  # not read: the full collection that follows says why
        return replace(state, rulesets={**state.rulesets, family: rulesets[family]}, ipsets={**state.ipsets, **ipsets})
    pieces = Pieces(backend=backend, rulesets=rulesets, other_rulesets=other, nft_json=nft_json,
                    nft_unread=nft_unread)
    nft_tables, _warnings = _native_tables(pieces, state.facts.docker_firewall, [])
    if not rulesets and not nft_tables:
        return state  # nothing read: keep what is shown until the full collection says why
    return replace(state, rulesets=dict(rulesets), other_rulesets=dict(other), nft_tables=nft_tables,
                   ipsets=dict(ipsets))


def _native_tables(p: Pieces, docker_firewall: str,
                   problems: list[str]) -> tuple[tuple[NftTable, ...], list[Warning_]]:
    from tui.collect.nft_json import NftParseError, tables_from_json

    if p.nft_json is None:
        if docker_firewall == "nftables":
            return (), [Warning_("rules", _("Docker writes its rules with nftables, and they were not read "
                                           "({why}): every path is uncertain").format(
                                             why=p.nft_unread or _("nft-ruleset.json not captured")),
                                 _("install nftables (apt-get install nftables) and run as root"), unread=True)]
        return (), []
    try:
        return tables_from_json(p.nft_json, [*p.rulesets.values(), *p.other_rulesets.values()]), []
    except NftParseError as exc:
        problems.append(f"nft ruleset: {exc}")
        return (), [Warning_("rules", _("nft ruleset not read: {error}").format(error=exc), unread=True)]


def _problem_warnings(problems: list[str], containers: tuple[Container, ...]) -> list[Warning_]:
    """One warning per field that could not be read (the first few, then how many more)."""
    every = problems + [x for c in containers for x in c.problems]
    shown = [Warning_("input", _("not read: {field}").format(field=x), _("answers that depend on it are uncertain"),
                      unread=True) for x in every[:20]]
    if len(every) > 20:
        shown.append(Warning_("input", _("not read: {count} more fields").format(count=len(every) - 20), unread=True))
    return shown
