"""Rule counters, read again while a path is shown: how many packets each rule has counted.

Keys: (4 or 6, "table/chain#n") for iptables rules of the host's backend, and (0, the native rule's
ref, "ip6 docker-bridges/filter-FORWARD#19") for native nftables rules. A rule without a counter
(a native rule with no `counter` statement) maps to None: the backend keeps none for it.
"""

from __future__ import annotations

from tui.collect.firewall import collect_firewall
from tui.model import RuleSet

Counters = dict[tuple[int, str], int | None]


def read_counters(native: bool = True, backend: str | None = None, rules_before: int | None = None) -> Counters:
    """`native`: read nft's ruleset too (only a path through native nftables rules needs it: the
    JSON of a large ruleset is the costly part, and this runs every second). `backend` and
    `rules_before`: as the last collection found them (see `collect_firewall`)."""
    fw = collect_firewall(read_nft=native, backend=backend, rules_before=rules_before)
    out = counters_of(fw.rulesets)
    if fw.nft_json:
        from tui.collect.nft_json import NftParseError, tables_from_json

        try:
            tables = tables_from_json(fw.nft_json, [*fw.rulesets.values(), *fw.other_rulesets.values()])
        except NftParseError:
            tables = ()
        out |= {(0, r.ref): r.packets for t in tables for c in t.chains.values() for r in c.rules}
    return out


def counters_of(rulesets: dict[int, RuleSet]) -> Counters:
    return {(family, r.ref): r.packets for family, rs in rulesets.items() for r in rs.all_rules()}
