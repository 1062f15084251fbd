"""Skip the rules of a chain that cannot match the packet, without changing the kernel's order.

Hosts with Kubernetes or hundreds of containers have chains of thousands of rules that each match
one destination address (`-d 10.96.0.1/32 ...`) or one destination port (`-m tcp --dport 20001`).
The index files every rule under that one address or port when its text says so, and under
"wildcard" otherwise; walking the chain then visits, in order, only the wildcard rules and those
filed under the packet's own address or port. Every visited rule is still fully evaluated, so the
index can only skip rules whose own text proves they cannot match.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field

from tui.model import Chain, NftChain
from tui.model.memo import per_object
from tui.paths.matches import in_net
from tui.paths.packet import parsed_ip, parsed_network

# iptables-save prints -s, -d, -i, -o in that order, a negated one as "! -d": negated ones, and
# interface names ending in "+" (a wildcard), are not captured here.
_DST = re.compile(r"^-A \S+ (?:(?:! )?-s \S+ )?-d (\d+\.\d+\.\d+\.\d+)/32 ")
_DPORT = re.compile(r" -m (tcp|udp) --dport (\d+) ")
_ADDRS = r"^-A \S+ (?:(?:! )?-s \S+ )?(?:(?:! )?-d \S+ )?"
_IIF = re.compile(_ADDRS + r"-i ([^\s+]+) ")
_OIF = re.compile(_ADDRS + r"(?:(?:! )?-i \S+ )?-o ([^\s+]+) ")
_SRC = re.compile(r"^-A \S+ -s (\S+) ")
_IPV4 = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_NFT_LEADING_DADDR = re.compile(r"ip6? daddr ([0-9a-f.:]+) ")


@dataclass
class ChainIndex:
    size: int
    wildcard: list[int] = field(default_factory=list)
    by_dst: dict[str, list[int]] = field(default_factory=dict)
    by_port: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    # Docker writes one isolation and four FORWARD rules per bridge: `-i br-x`, `-o br-x`.
    by_iif: dict[str, list[int]] = field(default_factory=dict)
    by_oif: dict[str, list[int]] = field(default_factory=dict)
    # By source network (Docker's MASQUERADE per network): which networks hold a source is worked
    # out once per source, then merged.
    by_src: dict[str, list[int]] = field(default_factory=dict)
    _src_hits: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, chain: Chain) -> ChainIndex:
        idx = cls(len(chain.rules))
        for i, rule in enumerate(chain.rules):
            text = rule.text
            m = _DST.match(text)
            if m:
                idx.by_dst.setdefault(m.group(1), []).append(i)
                continue
            m = _DPORT.search(text)
            if m and " ! --dport" not in text:
                idx.by_port.setdefault((m.group(1), int(m.group(2))), []).append(i)
                continue
            m = _IIF.match(text)
            if m:
                idx.by_iif.setdefault(m.group(1), []).append(i)
                continue
            m = _OIF.match(text)
            if m:
                idx.by_oif.setdefault(m.group(1), []).append(i)
                continue
            m = _SRC.match(text)
            if m and _is_network(m.group(1)):  # a bad one stays for the matcher to flag
                idx.by_src.setdefault(m.group(1), []).append(i)
                continue
            idx.wildcard.append(i)
        return idx

    def _from_source(self, src: str) -> list[int]:
        hits = self._src_hits.get(src)
        if hits is None:
            hits = self._src_hits[src] = sorted(i for spec, positions in self.by_src.items() if in_net(src, spec)
                                                for i in positions)
        return hits

    def next_candidate(self, start: int, dst: str, proto: str, dport: int, iif: str = "", oif: str = "",
                       src: str = "") -> int:
        """The first rule at or after `start` that might match; `size` when none is left."""
        best = self.size
        for positions in (self.wildcard, self.by_dst.get(dst), self.by_port.get((proto, dport)),
                          self.by_iif.get(iif), self.by_oif.get(oif), self._from_source(src) if self.by_src else None):
            if positions:
                j = bisect_left(positions, start)
                if j < len(positions) and positions[j] < best:
                    best = positions[j]
        return best


def _is_network(spec: str) -> bool:
    try:
        parsed_network(spec)
    except ValueError:
        return False
    return True


_SMALL = 32  # shorter chains are walked rule by rule: indexing them costs more than it saves


def index_of(chain: Chain) -> ChainIndex | None:
    return None if len(chain.rules) < _SMALL else _index(chain)


@per_object(maxsize=4096)
def _index(chain: Chain) -> ChainIndex:
    return ChainIndex.of(chain)


def nft_index_of(chain: NftChain) -> ChainIndex | None:
    """The same index for a native nftables chain: a rule whose own top-level matches say
    `ip daddr ADDR` (or ip6) or `tcp|udp dport N` is filed under it. An `ip daddr` match carries an
    implicit family dependency and a `tcp dport` one a protocol dependency, so a packet of another
    address, port, family or protocol cannot match it."""
    return None if len(chain.rules) < _SMALL else _nft_index(chain)


@per_object(maxsize=4096)
def _nft_index(chain: NftChain) -> ChainIndex:
    idx = ChainIndex(len(chain.rules))
    by_dst, by_port, wildcard = idx.by_dst, idx.by_port, idx.wildcard
    for i, rule in enumerate(chain.rules):
        lead = _NFT_LEADING_DADDR.match(rule.text)  # the common case, without walking the JSON
        if lead is not None and (dst := _nft_address(lead.group(1))) is not None:
            by_dst.setdefault(dst, []).append(i)
            continue
        dst = port = None
        for e in rule.expr:  # matches come first; the first statement ends them
            m = e.get("match") if type(e) is dict else None
            if m is None:
                break
            left = m.get("left")
            payload = left.get("payload") if type(left) is dict and m.get("op") == "==" else None
            if payload is None:
                continue
            field, right = payload.get("field"), m.get("right")
            if field == "daddr" and type(right) is str:
                dst = _nft_address(right)
                if dst is not None:
                    break
            elif field == "dport" and type(right) is int and port is None and payload.get("protocol") in ("tcp", "udp"):
                port = (payload["protocol"], right)
        if dst is not None:
            by_dst.setdefault(dst, []).append(i)
        elif port is not None:
            by_port.setdefault(port, []).append(i)
        else:
            wildcard.append(i)
    return idx


def _nft_address(text: str) -> str | None:
    """An `ip daddr` / `ip6 daddr` operand as the packet's address is written (IPv6 canonical)."""
    if ":" not in text:
        return text if _IPV4.match(text) else None
    if ":" in text:
        try:
            return str(parsed_ip(text))
        except ValueError:
            return None  # a MAC address (ether daddr)
    return None
