"""The kernel's own account of one packet: trace output of xtables-monitor, nft monitor and the
TRACE target's log, reduced to the hops of the flow's first packet.

The first packet is found by its IP ID and source port, never by the trace id alone: the kernel
gives a packet a new trace id when it loops back through lo or goes up from a bridge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KernelHop:
    kind: str  # "rule" / "policy"
    table: str
    chain: str
    rule: str = ""  # iptables-save's text for iptables rules, nft's for native ones ("" for a policy)
    verdict: str = ""
    family: str = ""  # set for native nftables rules ("ip", "inet", ...)

    def as_json(self) -> dict[str, str]:
        out = {"kind": self.kind, "table": self.table, "chain": self.chain}
        if self.family:
            out["family"] = self.family
        if self.rule:
            out["rule"] = self.rule
        if self.verdict:
            out["verdict" if self.kind == "rule" else "policy"] = self.verdict
        return out


def _first_packet(fields: dict[str, str], dport: int, src: str | None, proto: str, syn: bool) -> bool:
    return fields.get("dport") == str(dport) and (src is None or fields.get("src") == src) and (proto != "tcp" or syn)


# -- xtables-monitor --trace (iptables-nft) ------------------------------------------------------------

_X_PACKET = re.compile(r"^PACKET: \d+ ([0-9a-f]+) (.*)$")
_X_TRACE = re.compile(r"^\s*TRACE: \d+ ([0-9a-f]+) (\w+):([^:]+):(rule|policy|return):(.*)$")


def from_xtables_monitor(text: str, proto: str, dport: int, src: str | None,
                         skip: str = "-j TRACE") -> list[KernelHop]:
    first, keys, hops = None, {}, []
    for line in text.splitlines():
        m = _X_PACKET.match(line)
        if m:
            tid, rest = m.groups()
            f = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
            keys[tid] = (f.get("ID", ""), f.get("SPORT", ""))
            fields = {"dport": f.get("DPORT", ""), "src": f.get("SRC", "")}
            if first is None and _first_packet(fields, dport, src, proto, " SYN" in rest and " ACK" not in rest):
                first = keys[tid]
            continue
        m = _X_TRACE.match(line)
        if not m or first is None or keys.get(m.group(1)) != first:
            continue
        _tid, table, chain, kind, rest = m.groups()
        rest = rest.strip()
        if kind == "rule":
            verdict, _, text_ = rest.partition("  ")
            rule = re.sub(r"^-[46] -t \S+ ", "", text_.strip())
            if skip in rule:
                continue  # verify's own tracing rule
            hops.append(KernelHop("rule", table, chain, rule, verdict))
        elif kind == "policy":
            hops.append(KernelHop("policy", table, chain, verdict=rest))
    return hops


# -- nft monitor trace (native tables) -------------------------------------------------------------------

_N_LINE = re.compile(r"^trace id ([0-9a-f]+) (\w+) (\S+) (\S+) (packet: |rule |policy |verdict |unknown rule )(.*)$")


def from_nft_monitor(text: str, proto: str, dport: int, src: str | None, own_table: str,
                     native: set[tuple[str, str]],
                     iptables: dict[tuple[str, str, str, int], str] | None = None) -> list[KernelHop]:
    """Hops in the native tables `native` ((family, name)). iptables-nft's own tables are left to
    xtables-monitor, which prints them in iptables' words, unless `iptables` is given: then their
    rules, which the monitor (run with -a) names by handle, are put in iptables' words through it
    ((family, table, chain, handle) -> the rule as iptables-save prints it). For IPv6, where
    xtables-monitor cannot follow a packet, that is the only way."""
    first, keys, hops = None, {}, []
    for line in text.splitlines():
        m = _N_LINE.match(line.strip())
        if not m:
            continue
        tid, family, table, chain, kind, rest = m.groups()
        kind = kind.rstrip(": ").split()[-1]
        if kind == "packet":
            words = rest.split()
            f = {f"{a} {b}": c for a, b, c in zip(words, words[1:], words[2:], strict=False)}
            flags = rest.split("tcp flags", 1)[-1].split("tcp window")[0]
            # IPv6 has no IP ID: a packet is told apart by its flow label, length and TCP flags.
            keys[tid] = ((f.get("ip id", ""),) if "ip6 saddr" not in f else
                         (f.get("ip6 flowlabel", ""), f.get("ip6 length", ""), flags.strip()),
                         f.get(f"{proto} sport", ""))
            fields = {"dport": f.get(f"{proto} dport", ""), "src": f.get("ip saddr") or f.get("ip6 saddr", "")}
            if first is None and _first_packet(fields, dport, src, proto, "syn" in flags and "ack" not in flags):
                first = keys[tid]
            continue
        if first is None or keys.get(tid) != first or table == own_table:
            continue
        vm = re.search(r" \(verdict ([^)]*)\)$", rest)
        verdict = vm.group(1) if vm else ""
        rule = rest[:vm.start()] if vm else rest
        hm = re.search(r" # handle (\d+)$", rule)
        handle = int(hm.group(1)) if hm else -1
        rule = rule[:hm.start()] if hm else rule
        if (family, table) not in native:
            if iptables is None or family not in ("ip", "ip6"):
                continue
            if kind == "rule" and (family, table, chain, handle) in iptables:
                hops.append(KernelHop("rule", table, chain, iptables[(family, table, chain, handle)], verdict))
            elif kind == "policy":
                hops.append(KernelHop("policy", table, chain, verdict=rest.strip().upper()))
            continue
        if kind == "rule":
            hops.append(KernelHop("rule", table, chain, re.sub(r"counter packets \d+ bytes \d+", "counter",
                                                               rule.strip()), verdict, family))
        elif kind == "policy":
            hops.append(KernelHop("policy", table, chain, verdict=rest.strip(), family=family))
    return hops


def save_positions(save: str) -> dict[tuple[str, str, int], str]:
    """(table, chain, 1-based position) -> the rule as iptables-save prints it."""
    out: dict[tuple[str, str, int], str] = {}
    table, count = "", dict[str, int]()
    for line in save.splitlines():
        if line.startswith("*"):
            table, count = line[1:], {}
        elif line.startswith("-A "):
            chain = line.split()[1]
            count[chain] = count.get(chain, 0) + 1
            out[(table, chain, count[chain])] = line
    return out


def iptables_rules_by_handle(ruleset_json: str, saves: dict[str, str]) -> dict[tuple[str, str, str, int], str]:
    """(family, table, chain, handle) -> the rule's text as iptables-save prints it, for the tables
    iptables-nft keeps: `nft -j -a list ruleset` gives each rule's handle in chain order, and the
    save's rule at the same position is that rule. `saves`: family ("ip", "ip6") -> save text."""
    import json

    at = {(family, *where): line for family, save in saves.items() for where, line in save_positions(save).items()}
    out: dict[tuple[str, str, str, int], str] = {}
    position: dict[tuple[str, str, str], int] = {}
    for item in json.loads(ruleset_json).get("nftables", []):
        rule = item.get("rule") if isinstance(item, dict) else None
        if not rule:
            continue
        where = (str(rule.get("family", "")), str(rule.get("table", "")), str(rule.get("chain", "")))
        position[where] = position.get(where, 0) + 1
        text = at.get((*where, position[where]))
        if text is not None:
            out[(*where, int(rule.get("handle", -1)))] = text
    return out


# -- the TRACE target's kernel log (iptables-legacy) --------------------------------------------------

_L_LINE = re.compile(r"TRACE: (\w+):([^:]+):(rule|policy|return):(\d+) (.*)$")


def from_trace_log(text: str, proto: str, dport: int, src: str | None,
                   rule_at: dict[tuple[str, str, int], str], shift: dict[str, int]) -> list[KernelHop]:
    """`rule_at`: (table, chain, position) -> the rule's text, from iptables-legacy-save taken
    while the trace rules were in place (`shift`: how many of ours sit on top of raw's chains)."""
    first, hops = None, []
    for line in text.splitlines():
        m = _L_LINE.search(line)
        if not m:
            continue
        table, chain, kind, number, rest = m.groups()
        f = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
        key = (f.get("ID", ""), f.get("SPT", ""))
        fields = {"dport": f.get("DPT", ""), "src": f.get("SRC", "")}
        syn = " SYN " in f" {rest} " and " ACK " not in f" {rest} "
        if first is None and f.get("PROTO", "").lower() == proto and _first_packet(fields, dport, src, proto, syn):
            first = key
        if key != first:
            continue
        n = int(number)
        text_ = rule_at.get((table, chain, n), "")
        if table == "raw" and n <= shift.get(chain, 0):
            continue  # verify's own TRACE rule
        # An unconditional `-j RETURN` rule looks like the chain's end to the kernel's log.
        if kind == "rule" or (kind == "return" and text_ == f"-A {chain} -j RETURN"):
            hops.append(KernelHop("rule", table, chain, text_ or f"{table}/{chain}#{n}"))
        elif kind == "policy":
            hops.append(KernelHop("policy", table, chain))
    return hops
