"""Walk one netfilter hook's chains for a packet: rules in order, jumps, gotos, returns, policies.

Produces hops (every rule that matched, and the policy when a base chain's end decided) and a
verdict for the hook: "ACCEPT", "DROP", "REJECT", or "UNKNOWN" when a target can't be followed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from tui.model import NftRule, Rule, RuleSet
from tui.paths.chain_index import index_of
from tui.paths.matches import evaluate
from tui.paths.packet import HostView, Packet
from tui.paths.rules import ParsedRule, parse_rule
from tui.paths.types import Doubt, DoubtCode

# Targets that let the packet continue with the next rule.
CONTINUING = {"LOG", "NFLOG", "ULOG", "TRACE", "MARK", "CONNMARK", "CHECKSUM", "CT", "NOTRACK",
              "TCPMSS", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "AUDIT", "CONNSECMARK", "SECMARK",
              "IDLETIMER", "LED", "TEE", ""}
NAT_TARGETS = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"}


@dataclass
class Step:
    """One matched rule or one policy, with what it did to the packet."""

    table: str
    chain: str
    rule: Rule | NftRule | None  # None for a policy
    target: str
    policy: str = ""
    doubt: Doubt | None = None  # why this step is uncertain
    before: Packet | None = None
    after: Packet | None = None
    parsed: ParsedRule | None = None
    maybe: bool = False  # whether the rule matches is unknown (see `doubt`)
    facts: dict[str, Any] = field(default_factory=dict)  # what its sentence needs (a verdict map's choice)


@dataclass
class HookResult:
    verdict: str  # ACCEPT / DROP / REJECT / UNKNOWN
    steps: list[Step] = field(default_factory=list)
    doubts: list[Doubt] = field(default_factory=list)


def _nat_apply(rule: ParsedRule, target: str, p: Packet, view: HostView, hook: str) -> Doubt | None:
    """Rewrite the packet as the NAT target would. Returns a doubt when it can't be followed."""
    if target == "DNAT":
        spec = rule.target_opt("to-destination") or rule.target_opt("to")
        if not spec:
            return Doubt.of(DoubtCode.NAT_NOT_FOLLOWED, target=target, missing="--to-destination")
        addr, port = _split_hostport(spec)
        if addr:
            p.dst = addr.split("-")[0]
        if port:
            p.dport = _pick_port(port, p.dport)
        p.dnat_done = True
        return None
    if target == "REDIRECT":
        ports = rule.target_opt("to-ports")
        if hook in ("OUTPUT",):
            p.dst = "127.0.0.1" if p.family == 4 else "::1"
        else:
            p.dst = view.primary_address(p.iif, p.family) or p.dst
        if ports:
            p.dport = _pick_port(ports, p.dport)
        p.dnat_done = True
        return None
    if target == "SNAT":
        spec = rule.target_opt("to-source") or rule.target_opt("to")
        addr, _port = _split_hostport(spec)
        if addr:
            p.src = addr.split("-")[0]
        p.snat_done = True
        return None
    if target == "MASQUERADE":
        _dev, _gw, src = view.route(p.dst)
        p.src = view.primary_address(p.oif, p.family) or src or p.src
        p.snat_done = True
        return None
    return Doubt.of(DoubtCode.NAT_NOT_FOLLOWED, target=target)


def _split_hostport(spec: str) -> tuple[str, str]:
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, rest.lstrip(":")
    if spec.count(":") == 1:
        host, _, port = spec.partition(":")
        return host, port
    return spec, ""


def _pick_port(spec: str, current: int) -> int:
    lo, _, hi = spec.partition("-")
    try:
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        return current
    return current if lo_i <= current <= hi_i else lo_i


def _apply_mark(rule: ParsedRule, p: Packet, connmark: bool) -> None:
    def parse(v: str) -> tuple[int, int]:
        val, _, mask = v.partition("/")
        return int(val, 0), int(mask, 0) if mask else 0xFFFFFFFF

    try:
        if rule.has_target_opt("set-xmark"):
            val, mask = parse(rule.target_opt("set-xmark"))
            cur = p.ct_mark if connmark else p.mark
            new = (cur & ~mask) ^ val
        elif rule.has_target_opt("set-mark"):
            val, mask = parse(rule.target_opt("set-mark"))
            cur = p.ct_mark if connmark else p.mark
            new = (cur & ~mask) | val
        elif connmark and rule.has_target_opt("save-mark"):
            p.ct_mark = p.mark
            return
        elif connmark and rule.has_target_opt("restore-mark"):
            p.mark = p.ct_mark
            return
        else:
            return
    except ValueError:
        return
    if connmark:
        p.ct_mark = new & 0xFFFFFFFF
    else:
        p.mark = new & 0xFFFFFFFF


def run_hook(ruleset: RuleSet, table: str, chain: str, p: Packet, view: HostView) -> HookResult | None:
    """Run `table`/`chain` (a base chain) for packet `p`, mutating it. None when the chain doesn't exist."""
    chains = ruleset.tables.get(table)
    if not chains or chain not in chains:
        return None
    result = HookResult("ACCEPT")
    if not chains[chain].rules and (chains[chain].policy or "ACCEPT") == "ACCEPT":
        # Nothing to decide. (iptables-nft does not even create such a chain, so the kernel's
        # trace shows no policy line for it either.)
        return result
    # The chains the packet is in: one frame per jump not yet returned from, each with the chains a
    # goto entered in it. A jump or goto into one of them is a loop, which the kernel refuses to load
    # (iptables-restore: "Too many links"); such a set comes only from a file, and walking
    # it would record a million hops.
    stack: list[tuple[str, int, list[str]]] = []
    frame = [chain]
    current, index = chain, 0
    guard = 0
    while True:
        guard += 1
        if guard > 1_000_000:
            result.verdict = "UNKNOWN"
            result.doubts.append(Doubt.of(DoubtCode.RULE_LOOP, table=table, chain=chain))
            return result
        rules = chains.get(current)
        if rules is None:
            result.verdict = "UNKNOWN"
            result.doubts.append(Doubt.of(DoubtCode.MISSING_CHAIN, table=table, chain=current))
            return result
        if index >= len(rules.rules):
            if stack:
                current, index, frame = stack.pop()
                continue
            if rules.policy is None:  # a goto from a base chain ran off a user chain: base policy
                base = chains[chain]
                policy = base.policy or "ACCEPT"
            else:
                policy = rules.policy
            return _by_policy(result, table, chain, policy)
        idx = index_of(rules)
        if idx is not None:
            index = idx.next_candidate(index, p.dst, p.proto, p.dport, p.iif, p.oif, p.src)
            if index >= len(rules.rules):
                continue  # the end of the chain: return or policy, as above
        rule = rules.rules[index]
        index += 1
        parsed = parse_rule(rule.text)
        if parsed.error:
            unparsed = Doubt.of(DoubtCode.UNPARSED_RULE, rule.ref, rule.text, error=parsed.error)
            result.doubts.append(unparsed)
            result.steps.append(Step(table, current, rule, "?", doubt=unparsed, parsed=parsed))
            continue
        ok, doubt = evaluate(parsed, p, view)
        if doubt:
            # Whether it matches is unknown: it is shown as a hop of its own, and the walk goes on
            # as if it did not match (the verdict is uncertain either way).
            unknown = Doubt(doubt.code, doubt.params, rule.ref, rule.text)
            result.doubts.append(unknown)
            result.steps.append(Step(table, current, rule, parsed.target, doubt=unknown, parsed=parsed,
                                     before=p.copy(), maybe=True))
            continue
        if not ok:
            continue
        target = parsed.target
        before = p.copy()
        step = Step(table, current, rule, target, before=before, parsed=parsed)
        result.steps.append(step)
        if target in ("ACCEPT", "DROP", "REJECT"):
            result.verdict = target
            step.after = p.copy()
            return result
        if target == "RETURN":
            if stack:
                current, index, frame = stack.pop()
                continue
            # RETURN with nothing to return to: the base chain's policy decides, also when the
            # chain was entered by a goto from it (a user chain has no policy of its own).
            policy = chains[chain].policy or "ACCEPT"
            return _by_policy(result, table, chain, policy)
        if target in NAT_TARGETS:
            nat_doubt = _nat_apply(parsed, target, p, view, chain)
            step.after = p.copy()
            if nat_doubt:
                step.doubt = Doubt(nat_doubt.code, nat_doubt.params, rule.ref, rule.text)
                result.doubts.append(step.doubt)
            result.verdict = "ACCEPT"
            return result
        if target in ("MARK", "CONNMARK"):
            _apply_mark(parsed, p, target == "CONNMARK")
            continue
        if target in ("CT", "NOTRACK"):
            if target == "NOTRACK" or parsed.has_target_opt("notrack"):
                p.ct_untracked = True
            continue
        if target in CONTINUING:
            continue
        if target in chains:
            if target in frame or any(target in entered for _c, _i, entered in stack):
                step.doubt = Doubt.of(DoubtCode.RULE_LOOP, rule.ref, rule.text, table=table, chain=target)
                result.doubts.append(step.doubt)
                result.verdict = "UNKNOWN"
                return result
            if parsed.goto:
                frame.append(target)
            else:
                stack.append((current, index, frame))
                frame = [target]
            current, index = target, 0
            continue
        step.doubt = Doubt.of(DoubtCode.TARGET_NOT_FOLLOWED, rule.ref, rule.text, target=target)
        result.doubts.append(step.doubt)
        result.verdict = "UNKNOWN"
        return result


def _by_policy(result: HookResult, table: str, chain: str, policy: str) -> HookResult:
    """The base chain's policy decides (a policy we do not know: the verdict is unknown, and why)."""
    step = Step(table, chain, None, policy, policy=policy)
    result.steps.append(step)
    result.verdict = policy
    if policy not in ("ACCEPT", "DROP"):
        step.doubt = Doubt.of(DoubtCode.UNKNOWN_POLICY, table=table, chain=chain, policy=policy)
        result.doubts.append(step.doubt)
        result.verdict = "UNKNOWN"
    return result


def address_family_ok(addr: str, family: int) -> bool:
    try:
        return ipaddress.ip_address(addr).version == family
    except ValueError:
        return False
