"""The scale trace must not fall far behind: a ratio against reading the same capture raw, timed
interleaved in the same run (so a loaded machine slows both). The margin is generous; this catches
a regression that changes the order of growth (a scan per rule, a parse per origin), not noise.
Absolute figures and their targets are in benchmarks/ (python -m benchmarks)."""

from __future__ import annotations

import gc
import json
import statistics
import time
from pathlib import Path

import pytest

from benchmarks.gen_bundle import generate
from tui.collect.bundle import load_bundle
from tui.paths.engine import trace
from tui.paths.reach import reach
from tui.paths.types import Query
from tui.session import findings_for_path

RATIO = 8.0  # measured about 3–4 on this machine (see benchmarks/RESULTS.md)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scale") / "b"
    generate(root, containers=400, networks=20, rules=8000)
    return root


def _raw_read(root: Path) -> None:
    """The least any tool pays: every file read, the JSON decoded, the rules split into lines."""
    for f in root.rglob("*"):
        if f.is_file():
            text = f.read_text()
            if f.suffix == ".json":
                json.loads(text)
            else:
                text.splitlines()


def _our_trace(root: Path, port: int) -> None:
    state = load_bundle(root)
    path = trace(state, Query(port, "tcp", "external"))
    findings_for_path(state, path)


def _timed(fn) -> float:
    """Seconds `fn` takes, as timeit measures: the garbage of earlier work is collected first and
    the cyclic collector is off meanwhile. By this point the test runner holds ~400 MB of other
    tests' objects, and one full collection over them inside a timed run (0.6 s and more) is the
    runner's noise, not the order of growth these tests are about (CI: a first nft trace read 719 ms
    against ~20 ms alone)."""
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    finally:
        gc.enable()


def _interleaved(*work, runs: int = 5) -> list[float]:
    times: list[list[float]] = [[] for _ in work]
    for _ in range(runs):
        for i, fn in enumerate(work):
            times[i].append(_timed(fn))
    return [statistics.median(t) for t in times]


def test_a_trace_at_scale_stays_within_a_few_raw_reads(bundle):
    port = 20000 + 200
    raw, ours = _interleaved(lambda: _raw_read(bundle), lambda: _our_trace(bundle, port))
    assert ours / raw <= RATIO, f"trace {ours * 1000:.0f} ms = {ours / raw:.1f}× the raw read ({raw * 1000:.0f} ms)"


def test_reach_at_scale_stays_within_a_few_traces(bundle):
    """`reach` asks every origin (400 containers here): it must not cost much more than a trace."""
    port = 20000 + 200
    state = load_bundle(bundle)
    trace(state, Query(port, "tcp", "external"))  # indexes built once, for both
    one, every = _interleaved(lambda: _our_trace(bundle, port),
                              lambda: reach(load_bundle(bundle), port, "tcp", 4), runs=3)
    assert every / one <= 3 * RATIO / 2, f"reach {every * 1000:.0f} ms = {every / one:.1f}× a trace"


NFT_RATIO = 0.6  # the first trace, index built, against one without the index: measured 0.14–0.25


def test_a_native_nftables_trace_at_scale_stays_far_below_a_walk_of_every_rule(tmp_path, monkeypatch):
    """Docker 29's nftables tables and a long inet chain (8,000 native rules): the first trace after
    load, which builds the native chains' index, against the same trace evaluating every rule (the
    order of growth the index removes). Interleaved; the absolute figure is in benchmarks/."""
    from benchmarks.gen_nft import generate_nft
    from tui.paths import chain_index, nft_walk
    from tui.paths.packet import HostView

    root = tmp_path / "nft"
    generate_nft(root, containers=400, networks=20, rules=8000)

    def first_trace(indexed: bool) -> float:
        monkeypatch.setattr(nft_walk, "nft_index_of", chain_index.nft_index_of if indexed else lambda chain: None)
        state = load_bundle(root)
        HostView.of(state)  # the host's own lookups are the iptables figures' business
        return _timed(lambda: trace(state, Query(20000 + 200, "tcp", "external")))

    walked, ours = [], []
    for _ in range(3):
        walked.append(first_trace(False))
        ours.append(first_trace(True))
    full, first = statistics.median(walked), statistics.median(ours)
    assert first / full <= NFT_RATIO, f"first trace {first * 1000:.0f} ms = {first / full:.2f}× a full walk"


LISTING_RATIO = 0.5  # reading the native tables out of the listing, against one plain decode: measured ~0.1


def test_an_iptables_nft_hosts_listing_is_not_decoded_to_be_dropped(bundle):
    """A capture of an iptables-nft host lists every iptables rule again in `nft -j list ruleset`
    (8,000 rules here, made the real way in a throwaway namespace). Reading the native tables out of
    it must cost a fraction of one plain decode of the text; decoding it all and building rule
    objects for iptables-nft's tables, as before, cost about 2.5 decodes."""
    from benchmarks.gen_bundle import add_nft_listing
    from tui.collect.nft_json import tables_from_json

    if not add_nft_listing(bundle):
        pytest.skip("needs root, unshare, iptables-nft-restore and nft")
    text = (bundle / "nft-ruleset.json").read_text()
    assert '"family": "ip", "table": "nat"' in text and len(text) > 1_000_000
    rulesets = list(load_bundle(bundle).rulesets.values())
    plain, ours = _interleaved(lambda: json.loads(text), lambda: tables_from_json(text, rulesets))
    assert ours / plain <= LISTING_RATIO, f"{ours * 1000:.0f} ms = {ours / plain:.2f}× a plain decode"


FIRST_FRAME_RATIO = 2.0  # measured 1.2–1.4 (benchmarks/RESULTS.md; target there 1.2)


def test_the_first_frame_stays_within_twice_a_one_table_textual_app():
    """From the process's start to the first frame with a container's name in it, against the
    smallest Textual app that draws one table of as many rows (benchmarks/minimal_app.py), in a
    terminal of 120x40, interleaved. Catches an import or a pane that lands on the way to the
    first frame, not noise."""
    from benchmarks.__main__ import first_frame_samples

    ours, _whole, ref = first_frame_samples(5, timeout=20)
    assert None not in ours and None not in ref, f"a run drew no frame with data: ours {ours}, reference {ref}"
    ratio = statistics.median(ours) / statistics.median(ref)
    assert ratio <= FIRST_FRAME_RATIO, (f"first frame {statistics.median(ours) * 1000:.0f} ms = {ratio:.2f}× "
                                        f"the one-table app ({statistics.median(ref) * 1000:.0f} ms)")
