"""Walk one native nftables base chain for a packet: expressions, verdict maps, jumps, NAT.

The same Step/HookResult as the iptables walker, so the engine shows both alike. Targets are
given in iptables' words (ACCEPT, DROP, DNAT, a chain name for a jump) so that the rest of the
engine needs no second vocabulary; the rule's own text stays as nft prints it.

An expression the walker cannot evaluate makes its rule a "maybe" step with a doubt that names the
expression; the walk goes on as if it did not match, and the verdict is uncertain.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tui.model import NftChain, NftRule, NftTable
from tui.paths.chain_index import nft_index_of
from tui.paths.netfilter import HookResult, Step
from tui.paths.packet import HostView, Packet, parsed_ip
from tui.paths.types import Doubt, DoubtCode

_VERDICT = {"accept": "ACCEPT", "drop": "DROP", "reject": "REJECT", "return": "RETURN"}
_NAT = {"dnat": "DNAT", "snat": "SNAT", "masquerade": "MASQUERADE", "redirect": "REDIRECT"}
_L4 = {"tcp": 6, "udp": 17, "ipv6-icmp": 58}


class NotEvaluated(Exception):
    """An expression the walker does not know how to evaluate; its text names it."""


def run_chain(table: NftTable, base: NftChain, p: Packet, view: HostView) -> HookResult:
    """Run base chain `base` of `table` for packet `p` (mutated by NAT and marks)."""
    result = HookResult("ACCEPT")
    # The chains the packet is in (see netfilter.run_hook): a jump or goto back into one is a loop,
    # which the kernel refuses to load; a ruleset file can still hold one.
    stack: list[tuple[str, int, list[str]]] = []
    frame = [base.name]
    current, index = base.name, 0
    for _guard in range(100_000):
        chain = table.chains.get(current)
        if chain is None:
            result.verdict = "UNKNOWN"
            result.doubts.append(Doubt.of(DoubtCode.MISSING_CHAIN, table=_where(table), chain=current))
            return result
        idx = nft_index_of(chain)
        if idx is not None:
            dst = str(parsed_ip(p.dst)) if ":" in p.dst else p.dst  # filed canonical
            index = idx.next_candidate(index, dst, p.proto, p.dport)
        if index >= len(chain.rules):
            if stack:
                current, index, frame = stack.pop()
                continue
            return _by_policy(result, table, base)
        rule = chain.rules[index]
        index += 1
        before = p.copy()
        try:
            outcome = _evaluate(rule, table, p, view)
        except NotEvaluated as exc:
            doubt = Doubt.of(DoubtCode.NFT_EXPR_NOT_EVALUATED, _ref(table, rule), rule.text, expr=str(exc))
            result.doubts.append(doubt)
            result.steps.append(Step(_where(table), current, rule, "?", doubt=doubt, before=before, maybe=True))
            continue
        if outcome is None:
            continue  # no match
        verdict, target, facts = outcome
        step = Step(_where(table), current, rule, target, before=before, after=p.copy())
        step.facts = facts
        result.steps.append(step)  # the kernel traces every rule that matched, a counter-only one too
        if verdict is None:
            continue
        kind, arg = verdict
        if kind in ("accept", "drop", "reject"):
            result.verdict = _VERDICT[kind]
            return result
        if kind == "nat":
            result.verdict = "ACCEPT"
            return result
        if kind == "return":
            if stack:
                current, index, frame = stack.pop()
                continue
            return _by_policy(result, table, base)
        if kind in ("jump", "goto"):
            if arg not in table.chains:
                step.doubt = Doubt.of(DoubtCode.MISSING_CHAIN, _ref(table, rule), rule.text, table=_where(table),
                                      chain=arg)
                result.doubts.append(step.doubt)
                result.verdict = "UNKNOWN"
                return result
            if arg in frame or any(arg in entered for _c, _i, entered in stack):
                step.doubt = Doubt.of(DoubtCode.RULE_LOOP, _ref(table, rule), rule.text, table=_where(table),
                                      chain=arg)
                result.doubts.append(step.doubt)
                result.verdict = "UNKNOWN"
                return result
            if kind == "jump":
                stack.append((current, index, frame))
                frame = [arg]
            else:
                frame.append(arg)
            current, index = arg, 0
            continue
        step.doubt = Doubt.of(DoubtCode.TARGET_NOT_FOLLOWED, _ref(table, rule), rule.text, target=kind)
        result.doubts.append(step.doubt)
        result.verdict = "UNKNOWN"
        return result
    result.verdict = "UNKNOWN"
    result.doubts.append(Doubt.of(DoubtCode.RULE_LOOP, table=_where(table), chain=base.name))
    return result


def _where(table: NftTable) -> str:
    return table.name


def _ref(table: NftTable, rule: NftRule) -> str:
    return rule.ref


def _by_policy(result: HookResult, table: NftTable, base: NftChain) -> HookResult:
    policy = (base.policy or "accept").upper()
    step = Step(_where(table), base.name, None, policy, policy=policy)
    result.steps.append(step)
    result.verdict = policy
    if policy not in ("ACCEPT", "DROP"):
        step.doubt = Doubt.of(DoubtCode.UNKNOWN_POLICY, table=_where(table), chain=base.name, policy=base.policy)
        result.doubts.append(step.doubt)
        result.verdict = "UNKNOWN"
    return result


Verdict = tuple[str, str] | None  # (accept|drop|reject|return|jump|goto|nat, chain) or None: go on


def _evaluate(rule: NftRule, table: NftTable, p: Packet, view: HostView) -> tuple[Verdict, str, dict[str, Any]] | None:
    """None when the rule does not match; else (verdict, target in iptables' words, facts)."""
    facts: dict[str, Any] = {}
    target = ""
    for e in rule.expr:
        if not isinstance(e, dict) or len(e) != 1:
            raise NotEvaluated(str(e))
        kind, body = next(iter(e.items()))
        if kind == "match":
            if not _match(body, table, p, view):
                return None
            continue
        if kind in _VERDICT or kind in ("jump", "goto", "continue"):
            verdict = _verdict_of(kind, body)
            return verdict, _target_of(verdict), facts
        if kind == "vmap":
            key = _value_of(body.get("key"), p, view)
            chosen = _map_lookup(body.get("data"), key, table, body.get("key"))
            if chosen is None:
                return None  # no element for this key: the lookup breaks the rule, as a mismatch
            facts.update(vmap=str(body.get("data")), vmap_key=_key_name(body.get("key")), vmap_value=str(key))
            verdict = _verdict_of(*next(iter(chosen.items()))) if isinstance(chosen, dict) else None
            if verdict is None:
                raise NotEvaluated(f"vmap element {chosen}")
            return verdict, _target_of(verdict), facts
        if kind in _NAT:
            _nat(kind, body, p, view)
            return ("nat", ""), _NAT[kind], facts
        if kind == "mangle":
            _mangle(body, p)
            target = target or "MARK"
            continue
        if kind == "notrack":
            p.ct_untracked = True
            continue
        if kind == "xt":
            name = body.get("name", "") if isinstance(body, dict) else ""
            raise NotEvaluated(f"xt {name} (an iptables-nft rule; iptables-save shows it whole)")
        if kind in ("counter", "log"):
            target = target or ("LOG" if kind == "log" else "")
            continue
        raise NotEvaluated(kind)
    return None, target, facts


def _verdict_of(kind: str, body: Any) -> Verdict:
    if kind == "continue":
        return None
    if kind in ("jump", "goto"):
        return kind, str(body.get("target", "")) if isinstance(body, dict) else str(body)
    return kind, ""


def _target_of(verdict: Verdict) -> str:
    if verdict is None:
        return ""
    kind, arg = verdict
    return arg if kind in ("jump", "goto") else _VERDICT.get(kind, kind.upper())


def _key_name(e: Any) -> str:
    if isinstance(e, dict) and isinstance(e.get("meta"), dict):
        return str(e["meta"].get("key", ""))
    return ""


# -- matches -------------------------------------------------------------------------------------------

def _match(body: Any, table: NftTable, p: Packet, view: HostView) -> bool:
    if not isinstance(body, dict):
        raise NotEvaluated(str(body))
    left, right, op = body.get("left"), body.get("right"), body.get("op", "==")
    if isinstance(left, dict) and _is_flags(left):
        have = _flags_of(left, p)
        wanted = set(right) if isinstance(right, list) else {right}
        if not all(isinstance(w, str) for w in wanted):
            raise NotEvaluated(f"{left} {right}")
        hit = bool(have & wanted)
        if op in ("==", "in"):
            return hit
        if op == "!=":
            return not hit
        raise NotEvaluated(f"{op} on flags")
    value = _value_of(left, p, view)
    if value is _ABSENT:
        # The header is not there (a tcp match on a udp packet): nft put a dependency on the protocol
        # before the match, so the rule does not match, whatever the operator.
        return False
    if op in ("==", "in"):
        return _contains(right, value, table, left)
    if op == "!=":
        return not _contains(right, value, table, left)
    if op in ("<", ">", "<=", ">="):
        if not isinstance(value, int) or not isinstance(right, int):
            raise NotEvaluated(f"{op} {right}")
        return {"<": value < right, ">": value > right, "<=": value <= right, ">=": value >= right}[op]
    raise NotEvaluated(f"operator {op}")


_ABSENT = object()


def _is_flags(left: dict[str, Any]) -> bool:
    ct = left.get("ct")
    return isinstance(ct, dict) and ct.get("key") in ("state", "status")


def _flags_of(left: dict[str, Any], p: Packet) -> set[str]:
    if left["ct"].get("key") == "state":
        return {"untracked"} if p.ct_untracked else {"new"}  # the first packet of a connection
    status = set()
    if p.dnat_done:
        status.add("dnat")
    if p.snat_done:
        status.add("snat")
    return status


def _value_of(e: Any, p: Packet, view: HostView) -> Any:
    """The packet's value for an expression: a string, an int, or _ABSENT."""
    if not isinstance(e, dict) or len(e) != 1:
        raise NotEvaluated(str(e))
    kind, body = next(iter(e.items()))
    if kind == "meta" and isinstance(body, dict):
        key = body.get("key")
        if key == "iifname":
            return p.iif
        if key == "oifname":
            return p.oif
        if key == "l4proto":
            return p.proto
        if key == "nfproto":
            return "ipv4" if p.family == 4 else "ipv6"
        if key == "protocol":
            return "ip" if p.family == 4 else "ip6"
        if key == "mark":
            return p.mark
        raise NotEvaluated(f"meta {key}")
    if kind == "payload" and isinstance(body, dict):
        proto, name = body.get("protocol"), body.get("field")
        if proto in ("ip", "ip6"):
            if (proto == "ip") != (p.family == 4):
                return _ABSENT
            if name == "saddr":
                return p.src
            if name == "daddr":
                return p.dst
            if name in ("protocol", "nexthdr"):
                return p.proto
            raise NotEvaluated(f"{proto} {name}")
        if proto in ("tcp", "udp", "th"):
            if proto != "th" and proto != p.proto:
                return _ABSENT
            if p.proto not in ("tcp", "udp"):
                raise NotEvaluated(f"{proto} {name} of {p.proto}")
            if name == "dport":
                return p.dport
            if name == "sport":
                return p.sport
            raise NotEvaluated(f"{proto} {name}")
        raise NotEvaluated(f"{proto} {name}")
    if kind == "fib" and isinstance(body, dict):
        flags = body.get("flags") or []
        flags = flags if isinstance(flags, list) else [flags]
        if body.get("result") == "type" and flags in (["daddr"], ["saddr"]):
            return "local" if view.is_local(p.dst if flags == ["daddr"] else p.src) else "unicast"
        raise NotEvaluated(f"fib {' . '.join(map(str, flags))} {body.get('result')}")
    if kind == "ct" and isinstance(body, dict):
        if body.get("key") == "mark" and not body.get("dir"):
            return p.ct_mark
        raise NotEvaluated(f"ct {body.get('key')}")
    raise NotEvaluated(kind)


def _contains(right: Any, value: Any, table: NftTable, left: Any) -> bool:
    if isinstance(right, str) and right.startswith("@"):
        named = table.sets.get(right[1:])
        if named is None:
            raise NotEvaluated(f"set {right} (not in the ruleset)")
        if "dynamic" in named.flags or "timeout" in named.flags:
            raise NotEvaluated(f"set {right} (its members change as packets pass)")
        return any(_element_has(_element_key(x), value, left) for x in named.elements)
    if isinstance(right, dict) and "set" in right:
        items = right["set"] if isinstance(right["set"], list) else [right["set"]]
        return any(_element_has(_element_key(x), value, left) for x in items)
    return _element_has(right, value, left)


def _element_key(x: Any) -> Any:
    if isinstance(x, list) and len(x) == 2:  # a map element [key, value]
        x = x[0]
    if isinstance(x, dict) and "elem" in x and isinstance(x["elem"], dict):
        x = x["elem"].get("val")
    return x


def _element_has(element: Any, value: Any, left: Any) -> bool:
    """Does one element (a value, a prefix, a range) hold the packet's value?"""
    if isinstance(element, dict) and len(element) == 1:
        kind, body = next(iter(element.items()))
        if kind == "prefix" and isinstance(body, dict):
            return _in_network(value, f"{body.get('addr')}/{body.get('len')}")
        if kind == "range" and isinstance(body, list) and len(body) == 2:
            return _in_range(value, body[0], body[1])
        raise NotEvaluated(f"set element {element}")
    if isinstance(value, str) and isinstance(element, str):
        if _names_address(left):
            return _same_address(value, element)
        if _names_interface(left) and element.endswith("*"):
            return value.startswith(element[:-1])
        return value == element
    if isinstance(value, str) and isinstance(element, int) and value in _L4:
        return _L4[value] == element  # meta l4proto 6
    if isinstance(value, int) and isinstance(element, int):
        return value == element
    if isinstance(value, int) and isinstance(element, str) and element.isdigit():
        return value == int(element)
    raise NotEvaluated(f"{element!r} against {value!r}")


def _names_address(left: Any) -> bool:
    return isinstance(left, dict) and isinstance(left.get("payload"), dict) and \
        left["payload"].get("field") in ("saddr", "daddr")


def _names_interface(left: Any) -> bool:
    return isinstance(left, dict) and isinstance(left.get("meta"), dict) and \
        left["meta"].get("key") in ("iifname", "oifname")


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _in_network(value: Any, net: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(net, strict=False)
    except (ValueError, TypeError):
        return False


def _in_range(value: Any, lo: Any, hi: Any) -> bool:
    if isinstance(value, int):
        return isinstance(lo, int) and isinstance(hi, int) and lo <= value <= hi
    try:
        v = ipaddress.ip_address(value)
        return ipaddress.ip_address(lo) <= v <= ipaddress.ip_address(hi)  # type: ignore[operator]
    except (ValueError, TypeError):
        return False


def _map_lookup(data: Any, key: Any, table: NftTable, left: Any) -> Any:
    """The value a verdict map holds for `key` (None: no element for it)."""
    if isinstance(data, str) and data.startswith("@"):
        named = table.sets.get(data[1:])
        if named is None:
            raise NotEvaluated(f"map {data} (not in the ruleset)")
        elements = named.elements
    elif isinstance(data, dict) and "set" in data:
        elements = tuple(data["set"]) if isinstance(data["set"], list) else (data["set"],)
    else:
        raise NotEvaluated(f"vmap {data}")
    for element in elements:
        if not (isinstance(element, list) and len(element) == 2):
            raise NotEvaluated(f"map element {element}")
        if _element_has(_element_key(element), key, left):
            return element[1]
    return None


# -- statements ----------------------------------------------------------------------------------------

def _nat(kind: str, body: Any, p: Packet, view: HostView) -> None:
    body = body if isinstance(body, dict) else {}
    addr, port = body.get("addr"), body.get("port")
    if not isinstance(addr, (str, type(None))) or not isinstance(port, (int, type(None))):
        raise NotEvaluated(f"{kind} to {addr}:{port}")
    if kind == "dnat":
        if addr:
            p.dst = addr
        if port is not None:
            p.dport = port
        p.dnat_done = True
    elif kind == "redirect":
        p.dst = ("127.0.0.1" if p.family == 4 else "::1") if not p.iif else (view.primary_address(p.iif, p.family)
                                                                            or p.dst)
        if port is not None:
            p.dport = port
        p.dnat_done = True
    elif kind == "snat":
        if addr:
            p.src = addr
        p.snat_done = True
    else:  # masquerade
        _dev, _gw, src = view.route(p.dst)
        p.src = view.primary_address(p.oif, p.family) or src or p.src
        p.snat_done = True


def _mangle(body: Any, p: Packet) -> None:
    key, value = (body.get("key"), body.get("value")) if isinstance(body, dict) else (None, None)
    meta = key.get("meta") if isinstance(key, dict) else None
    ct = key.get("ct") if isinstance(key, dict) else None
    if isinstance(meta, dict) and meta.get("key") == "nftrace":
        return
    if isinstance(meta, dict) and meta.get("key") == "mark" and isinstance(value, int):
        p.mark = value & 0xFFFFFFFF
        return
    if isinstance(ct, dict) and ct.get("key") == "mark" and isinstance(value, int):
        p.ct_mark = value & 0xFFFFFFFF
        return
    raise NotEvaluated(f"set {key}")
