"""`nft -j list ruleset` into native nftables tables, each rule with its text as `nft` prints it.

The tables iptables-nft keeps for `iptables` (ip/ip6 filter, nat, raw, mangle, security) are
left out when the iptables rule set of that family has them: they are walked as iptables rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from tui.model import NftChain, NftRule, NftSet, NftTable, RuleSet

IPTABLES_FAMILY = {"ip": 4, "ip6": 6}
# Meta keys nft prints without the `meta` keyword.
UNQUALIFIED_META = {"iif", "oif", "iifname", "oifname", "iifgroup", "oifgroup"}
NAMED_BY_INTERFACE = {"iifname", "oifname"}  # their values are strings nft prints in quotes


class NftParseError(ValueError):
    pass


def tables_from_json(text: str, iptables: Iterable[RuleSet] = ()) -> tuple[NftTable, ...]:
    """Native tables of a ruleset. Raises NftParseError when the text is not nft's JSON."""
    iptables = list(iptables)
    kept = {(family, name) for family, number in IPTABLES_FAMILY.items() for rs in iptables
            if rs.family == number and "legacy" not in rs.source for name in rs.tables}
    doc = _decode_without(text, kept)
    if doc is None:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NftParseError(f"not JSON: {exc}") from exc
    items = doc.get("nftables") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise NftParseError('no "nftables" list')
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[NftRule]] = {}
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        kind, body = next(iter(item.items()))
        if not isinstance(body, dict):
            continue
        family, table = str(body.get("family", "")), str(body.get("table", body.get("name", "")))
        if (family, table) in kept:
            continue
        if kind == "table":
            tables.setdefault((family, table), {"sets": {}})
        elif kind == "chain":
            chains[(family, table, str(body.get("name", "")))] = body
        elif kind in ("set", "map"):
            tables.setdefault((family, table), {"sets": {}})["sets"][str(body.get("name", ""))] = _set(body, kind)
        elif kind == "rule":
            key = (family, table, str(body.get("chain", "")))
            rules.setdefault(key, []).append(_rule(body))
    out = []
    for (family, name), extra in tables.items():
        table_chains = {}
        for (f, t, cname), body in chains.items():
            if (f, t) != (family, name):
                continue
            table_chains[cname] = NftChain(
                cname, hook=str(body.get("hook", "") or ""), type=str(body.get("type", "") or ""),
                priority=_int(body.get("prio")), policy=str(body.get("policy", "") or ""),
                rules=tuple(rules.get((f, t, cname), ())))
        out.append(NftTable(family, name, table_chains, extra["sets"]))
    return tuple(out)


# The body of a top-level item of `nft -j` output. libnftables prints "family" first in every
# item, then the table ("family", "table", "name" for chains and rules) or its own name ("family",
# "name", "table" for sets, maps, flowtables and objects; "family", "name" for a table). The item
# begins at the `{` before it. A quote inside a JSON string is always escaped, so this never matches
# inside a comment, and statements nested in a rule (a nat statement has a family) name no table.
# Searched from its literal start: 4× faster than from `{"rule"`.
_ITEM_BODY = re.compile(r'\{"family": "(\w+)", "(?:table|name)": "([^"\\]*)"(?:, "table": "([^"\\]*)")?')


_TABLE_ITEM = re.compile(r'\{"table": \{"family": "(\w+)", "name": "([^"\\]*)"')


def _decode_without(text: str, kept: set[tuple[str, str]]) -> Any:
    """The document without the items of the tables iptables-nft keeps, cut out before decoding: on
    a host with 20,000 iptables rules they are 10 MB of JSON that would be decoded only to be
    dropped. None when there is nothing to cut, or the cut text does not decode (then the caller
    decodes it whole, so a surprise in the format costs time, never an answer)."""
    if not kept or not text.startswith('{"nftables": [') or not text.rstrip().endswith("]}"):
        return None
    tables = _TABLE_ITEM.findall(text)
    if len(tables) == text.count('{"table": {') and kept.issuperset(tables):
        # Only iptables-nft's tables (most hosts): nothing native to decode.
        return {"nftables": []}
    starts = [(text.rfind("{", 0, m.start()), (m.group(1), m.group(3) or m.group(2)) in kept)
              for m in _ITEM_BODY.finditer(text)]
    if not any(drop for _pos, drop in starts):
        return None
    pieces = [text[:starts[0][0]]]
    ends = [pos for pos, _drop in starts[1:]] + [len(text)]
    for (pos, drop), end in zip(starts, ends, strict=True):
        if not drop:
            pieces.append(text[pos:end])
    cut = "".join(pieces)
    if starts[-1][1]:  # the last item went, and with it the list's end
        cut = cut.rstrip().removesuffix(",") + "]}"
    try:
        return json.loads(cut)
    except json.JSONDecodeError:
        return None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _set(body: dict[str, Any], kind: str) -> NftSet:
    flags = body.get("flags") or ()
    return NftSet(str(body.get("name", "")), _type_text(body.get("type")), is_map=kind == "map",
                  map_type=_type_text(body.get("map")),
                  flags=tuple(flags) if isinstance(flags, list) else (str(flags),),
                  elements=tuple(body.get("elem") or ()))


def _type_text(value: Any) -> str:
    if isinstance(value, list):
        return " . ".join(str(v) for v in value)
    return str(value or "")


def _rule(body: dict[str, Any]) -> NftRule:
    expr = body.get("expr") or []
    expr = tuple(expr) if isinstance(expr, list) else ()
    comment = str(body.get("comment") or "")
    packets = bytes_ = None
    for e in expr:
        if isinstance(e, dict) and isinstance(e.get("counter"), dict):
            packets, bytes_ = _int(e["counter"].get("packets")), _int(e["counter"].get("bytes"))
    return NftRule(str(body.get("family", "")), str(body.get("table", "")), str(body.get("chain", "")),
                   _int(body.get("handle")),
                   rule_text(expr, comment), expr, comment, packets, bytes_)


# -- text as `nft list ruleset` prints it ----------------------------------------------------------

def rule_text(expr: Iterable[Any], comment: str = "") -> str:
    words = [statement_text(e) for e in expr]
    if comment:
        words.append(f"comment {_quote(comment)}")
    return " ".join(w for w in words if w)


def statement_text(e: Any) -> str:
    if not isinstance(e, dict) or len(e) != 1:
        return json.dumps(e)
    kind, body = next(iter(e.items()))
    if kind == "match":
        return _match_text(body)
    if kind == "counter":
        return "counter"
    if kind in ("accept", "drop", "continue", "return"):
        return kind
    if kind in ("jump", "goto"):
        return f"{kind} {body.get('target', '') if isinstance(body, dict) else body}"
    if kind == "reject":
        return _reject_text(body)
    if kind == "vmap":
        return f"{expression_text(body.get('key'))} vmap {_value_text(body.get('data'), None)}"
    if kind in ("dnat", "snat"):
        return _nat_text(kind, body)
    if kind == "masquerade":
        port = body.get("port") if isinstance(body, dict) else None
        return "masquerade" + (f" to :{port}" if port is not None else "")
    if kind == "redirect":
        port = body.get("port") if isinstance(body, dict) else None
        return "redirect" + (f" to :{port}" if port is not None else "")
    if kind == "log":
        prefix = body.get("prefix") if isinstance(body, dict) else None
        return "log" + (f" prefix {_quote(str(prefix))}" if prefix else "")
    if kind == "mangle" and isinstance(body, dict):
        return f"{expression_text(body.get('key'))} set {_value_text(body.get('value'), body.get('key'))}"
    if kind == "notrack":
        return "notrack"
    if kind == "xt" and isinstance(body, dict):  # an iptables extension inside nftables (iptables-nft)
        return f'xt {body.get("type", "")} "{body.get("name", "")}"'
    return f"{kind} {json.dumps(body)}" if body is not None else kind


def _reject_text(body: Any) -> str:
    if not isinstance(body, dict) or not body:
        return "reject"
    kind, code = body.get("type", ""), body.get("expr")
    if kind == "tcp reset":
        return "reject with tcp reset"
    return f"reject with {kind} {code}".rstrip() if kind else "reject"


def _nat_text(kind: str, body: Any) -> str:
    if not isinstance(body, dict):
        return kind
    family = f" {body['family']}" if body.get("family") else ""
    addr = body.get("addr")
    port = body.get("port")
    where = _value_text(addr, None) if addr is not None else ""
    if port is not None:
        # As nft prints it: an IPv6 address with a port goes in brackets.
        where = f"[{where}]" if ":" in where else where
        where += f":{_value_text(port, None)}"
    return f"{kind}{family} to {where}" if where else kind


def _match_text(body: Any) -> str:
    if not isinstance(body, dict):
        return json.dumps(body)
    left, right, op = body.get("left"), body.get("right"), body.get("op", "==")
    lhs = expression_text(left)
    rhs = _value_text(right, left)
    if op in ("==", "in"):
        return f"{lhs} {rhs}"
    return f"{lhs} {op} {rhs}"


def expression_text(e: Any) -> str:
    if not isinstance(e, dict) or len(e) != 1:
        return _value_text(e, None)
    kind, body = next(iter(e.items()))
    if kind == "meta" and isinstance(body, dict):
        key = str(body.get("key", ""))
        return key if key in UNQUALIFIED_META else f"meta {key}"
    if kind == "payload" and isinstance(body, dict):
        if "protocol" in body:
            return f"{body['protocol']} {body.get('field', '')}"
        return f"@{body.get('base', '')},{body.get('offset', '')},{body.get('len', '')}"
    if kind == "fib" and isinstance(body, dict):
        flags = body.get("flags") or []
        flags = flags if isinstance(flags, list) else [flags]
        return f"fib {' . '.join(str(f) for f in flags)} {body.get('result', '')}"
    if kind == "ct" and isinstance(body, dict):
        direction = f" {body['dir']}" if body.get("dir") else ""
        return f"ct{direction} {body.get('key', '')}"
    if kind == "concat" and isinstance(body, list):
        return " . ".join(expression_text(x) for x in body)
    return json.dumps(e)


def _value_text(v: Any, left: Any) -> str:
    if isinstance(v, str):
        if v.startswith("@"):
            return v
        if _names_interface(left):
            return _quote(v)
        return v
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):  # flags: ct state established,related
        return ",".join(_value_text(x, left) for x in v)
    if isinstance(v, dict) and len(v) == 1:
        kind, body = next(iter(v.items()))
        if kind == "prefix" and isinstance(body, dict):
            return f"{body.get('addr')}/{body.get('len')}"
        if kind == "range" and isinstance(body, list) and len(body) == 2:
            return f"{_value_text(body[0], left)}-{_value_text(body[1], left)}"
        if kind == "set":
            items = body if isinstance(body, list) else [body]
            return "{ " + ", ".join(_element_text(x, left) for x in items) + " }"
        if kind in ("jump", "goto") and isinstance(body, dict):
            return f"{kind} {body.get('target', '')}"
        if kind in ("accept", "drop", "continue", "return"):
            return kind
        return expression_text(v)
    return json.dumps(v)


def _element_text(x: Any, left: Any) -> str:
    if isinstance(x, list) and len(x) == 2:  # a map element: key : value
        return f"{_value_text(x[0], left)} : {_value_text(x[1], None)}"
    return _value_text(x, left)


def _names_interface(left: Any) -> bool:
    return isinstance(left, dict) and isinstance(left.get("meta"), dict) and \
        left["meta"].get("key") in NAMED_BY_INTERFACE


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'
