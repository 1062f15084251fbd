"""The chain index only skips rules that cannot match: every answer on a large generated host is
the same with and without it (rule hops, verdict, via), for every origin kind."""

from __future__ import annotations

import pytest

from benchmarks.gen_bundle import generate
from tui.collect.bundle import load_bundle
from tui.paths import chain_index, netfilter
from tui.paths.engine import trace
from tui.paths.types import Query


@pytest.fixture(scope="module")
def big_host(tmp_path_factory):
    root = tmp_path_factory.mktemp("big")
    generate(root / "b", containers=120, networks=12, rules=3000)
    return load_bundle(root / "b", source="bundle")


def _answers(state, queries):
    out = []
    for q in queries:
        p = trace(state, Query(q.port, q.proto, q.origin, q.to))
        out.append((p.verdict, p.via, [(h.kind, h.table, h.chain, h.rule) for h in p.hops]))
    return out


def test_every_answer_is_the_same_without_the_index(big_host, monkeypatch):
    ports = sorted({b.host_port for c in big_host.containers for b in c.ports if b.published})
    containers = [c.name for c in big_host.containers][:: 7]
    queries = [Query(port, "tcp", origin) for port in ports[:: 3]
               for origin in ("external", "host", "localhost", *(f"container:{n}" for n in containers[:3]))]
    # Straight to containers' own addresses too (FORWARD's per-bridge rules decide those).
    queries += [Query(b.container_port, "tcp", origin, e.ip) for c in big_host.containers[:: 11]
                for b in c.ports[:1] for e in c.endpoints[:1] for origin in ("external", f"container:{containers[1]}")]
    assert len(queries) > 150
    indexed = _answers(big_host, queries)
    # The big chains are indexed: the walk skipped rules (else this test would prove nothing).
    chains = [ch for t in big_host.rulesets[4].tables.values() for ch in t.values()]
    idx = [chain_index.index_of(ch) for ch in chains if chain_index.index_of(ch) is not None]
    assert all(any(getattr(i, key) for i in idx) for key in ("by_dst", "by_port", "by_iif", "by_oif", "by_src"))
    monkeypatch.setattr(netfilter, "index_of", lambda chain: None)
    assert _answers(big_host, queries) == indexed


@pytest.fixture(scope="module")
def big_nft_host(tmp_path_factory):
    from benchmarks.gen_nft import generate_nft

    root = tmp_path_factory.mktemp("bignft")
    generate_nft(root / "b", containers=120, networks=12, rules=3000)
    return load_bundle(root / "b", source="bundle")


def test_every_native_nftables_answer_is_the_same_without_the_index(big_nft_host, monkeypatch):
    """Docker 29's nftables tables beside a long inet chain: the native chains' index (by `ip daddr`
    and `tcp dport` matches) skips only rules that cannot match."""
    from tui.paths import nft_walk

    host = big_nft_host
    ports = sorted({b.host_port for c in host.containers for b in c.ports if b.published})
    containers = [c.name for c in host.containers][:: 7]
    queries = [Query(port, "tcp", origin) for port in ports[:: 3]
               for origin in ("external", "host", *(f"container:{n}" for n in containers[:2]))]
    queries += [Query(b.container_port, "tcp", "external", e.ip) for c in host.containers[:: 11]
                for b in c.ports[:1] for e in c.endpoints[:1]]
    assert len(queries) > 150
    indexed = _answers(host, queries)
    assert {p[0] for p in indexed} >= {"delivered", "dropped"}
    chains = [ch for t in host.nft_tables for ch in t.chains.values()]
    idx = [i for i in map(chain_index.nft_index_of, chains) if i is not None]
    assert all(any(getattr(i, key) for i in idx) for key in ("by_dst", "by_port", "wildcard"))
    monkeypatch.setattr(nft_walk, "nft_index_of", lambda chain: None)
    assert _answers(host, queries) == indexed
