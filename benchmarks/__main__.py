"""dockport-tui benchmarks:  sudo .venv/bin/python -m benchmarks [--quick] [--skip-engine]

Prints a table and writes benchmarks/RESULTS.md. Every figure is the median of several runs; where
the target is a ratio, the reference is timed in the same run, interleaved with ours, because these
machines are noisy. Parts that need the Docker engine (live collection, event to screen, idle CPU,
RSS at 100 containers) are skipped with a reason when it is not available.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import pty_run
from benchmarks.figures import Figure
from benchmarks.gen_bundle import add_nft_listing, generate

HERE = Path(__file__).resolve().parent
PY = sys.executable
PREFIX = "dpt-bench-"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# -- time to first frame --------------------------------------------------------------------------

def demo_rows() -> int:
    """The rows the demo's containers pane has: the reference app draws as many."""
    from tui.cli import demo_bundle_path
    from tui.collect.bundle import load_bundle

    return sum(max(1, len(c.ports)) for c in load_bundle(demo_bundle_path()).containers)


def first_frame_samples(runs: int, timeout: float = 30.0) -> tuple[list[float | None], list[float | None],
                                                                    list[float | None]]:
    """Seconds from the process's start, per run, interleaved so that drift in machine load hits both
    alike: our first frame with data (a container's name), our whole screen (the path traced, every
    pane drawn: the path pane's title says the verdict), and the reference's frame. None: not seen."""
    rows = demo_rows()
    ours: list[float | None] = []
    whole: list[float | None] = []
    ref: list[float | None] = []
    for _ in range(runs):
        r = pty_run.start([PY, str(HERE / "minimal_app.py"), str(rows)])
        ref.append(r.wait_for(f"row-{rows - 1}".encode(), timeout))
        r.stop()
        r = pty_run.start([PY, "-m", "tui", "--demo"])
        t = r.wait_for(b"demo-web", timeout)
        ours.append(t)
        whole.append(r.wait_for("Path — ".encode(), timeout) if t is not None else None)
        r.stop()
    return ours, whole, ref


def first_frame(runs: int) -> list[Figure]:
    rows = demo_rows()
    samples = first_frame_samples(runs)
    ours, whole, ref = ([t for t in times if t is not None] for times in samples)
    if not ours or not ref:
        return [Figure("first frame (demo bundle)", "no frame seen", "≤ 1.2× reference", False)]
    ratio = median(ours) / median(ref)
    out = [Figure("first frame (demo bundle)", f"{median(ours) * 1000:.0f} ms = {ratio:.2f}× reference "
                  f"({median(ref) * 1000:.0f} ms, DataTable of {rows} rows)", "≤ 1.2×", ratio <= 1.2)]
    if whole:
        out.append(Figure("  whole screen: path traced, every pane drawn",
                          f"{median(whole) * 1000:.0f} ms = {median(whole) / median(ref):.2f}× reference",
                          "(no target)", None))
    return out


# -- scale: a generated bundle --------------------------------------------------------------------

def scale(runs: int, containers: int, rules: int) -> list[Figure]:
    from tui.collect.bundle import load_bundle
    from tui.paths.engine import Query, trace

    out: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        info = generate(Path(tmp) / "b", containers=containers, networks=50, rules=rules)
        listed = add_nft_listing(Path(tmp) / "b")
        loads = []
        for _ in range(runs):
            t = time.perf_counter()
            state = load_bundle(Path(tmp) / "b")
            loads.append(time.perf_counter() - t)
        what = f"{info['containers']} containers, {info['networks']} networks, {info['rules']} rules" + (
            ", with `nft -j list ruleset` as a capture has it" if listed else ", without an nft listing (not root)")
        out.append(Figure("bundle load", f"{median(loads) * 1000:.0f} ms ({what})", "(no target)", None))

        ports = [(b.host_port, b.proto) for c in state.containers for b in c.ports if b.published]
        t = time.perf_counter()
        trace(state, Query(*ports[len(ports) // 2], "external"))
        cold = time.perf_counter() - t
        warm = []
        for port, proto in ports[:: max(1, len(ports) // 25)]:
            t = time.perf_counter()
            trace(state, Query(port, proto, "external"))
            warm.append(time.perf_counter() - t)
        out.append(Figure("trace one port", f"{median(warm) * 1000:.1f} ms median of {len(warm)}; first trace "
                          f"after load {cold * 1000:.0f} ms (builds the chain indexes)", "≤ 50 ms",
                          median(warm) <= 0.050))
        alls = []
        for _ in range(max(1, runs // 2)):
            t = time.perf_counter()
            for port, proto in ports:
                trace(state, Query(port, proto, "external"))
            alls.append(time.perf_counter() - t)
        out.append(Figure("trace every published port", f"{median(alls):.2f} s for {len(ports)} ports",
                          "≤ 5 s", median(alls) <= 5.0))
        out += cli_scale(runs, Path(tmp) / "b", ports[len(ports) // 2][0])
        out += nft_scale(runs, Path(tmp) / "nft", containers, rules)
        latency = asyncio.run(_keypress_latency(state))
        out.append(Figure("key press → frame, rules pane", f"{median(latency) * 1000:.0f} ms median of "
                          f"{len(latency)} (max {max(latency) * 1000:.0f} ms)", "≤ 100 ms",
                          median(latency) <= 0.100))
        rss = _rss_of_bundle_app(Path(tmp) / "b")
        out.append(Figure(f"RSS at {info['containers']} containers (bundle)", f"{rss:.0f} MB", "≤ 150 MB",
                          rss <= 150))
    return out


def nft_scale(runs: int, root: Path, containers: int, rules: int) -> list[Figure]:
    """Docker 29's nftables backend at scale (benchmarks/gen_nft.py): one trace in process once the
    capture is loaded, the first one (which indexes the native chains) and later ones."""
    from benchmarks.gen_nft import generate_nft
    from tui.collect.bundle import load_bundle
    from tui.paths.engine import Query, trace
    from tui.paths.packet import HostView

    info = generate_nft(root, containers=containers, networks=50, rules=rules)
    firsts, warm, loads = [], [], []
    for i in range(runs):
        t = time.perf_counter()
        state = load_bundle(root)
        loads.append(time.perf_counter() - t)
        HostView.of(state)
        t = time.perf_counter()
        trace(state, Query(20000 + containers // 2, "tcp", "external"))
        firsts.append(time.perf_counter() - t)
        t = time.perf_counter()
        trace(state, Query(20000 + (containers // 2 + 1 + i) % containers, "tcp", "external"))
        warm.append(time.perf_counter() - t)
    return [Figure(f"nftables trace, {info['native rules']} native rules",
                   f"first {median(firsts) * 1000:.0f} ms (indexes the chains), then {median(warm) * 1000:.1f} ms; "
                   f"load {median(loads) * 1000:.0f} ms", "≤ 50 ms", median(firsts) <= 0.050)]


# As an installed package runs: pip compiles the bytecode at install; a checkout under
# PYTHONDONTWRITEBYTECODE=1 would compile every module on every run instead.
_RUN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def process_seconds(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=_RUN_ENV)
    return time.perf_counter() - t


def cli_scale(runs: int, bundle: Path, port: int) -> list[Figure]:
    """`trace` and `reach` as a user runs them on a large capture, each a whole process, net of
    the interpreter's own start (`python -c pass`, timed interleaved with them)."""
    start, traces, reaches = [], [], []
    process_seconds([PY, "-m", "tui", "reach", str(port), "--bundle", str(bundle)])  # bytecode written
    for _ in range(runs):
        start.append(process_seconds([PY, "-c", "pass"]))
        traces.append(process_seconds([PY, "-m", "tui", "trace", str(port), "--bundle", str(bundle)]))
        reaches.append(process_seconds([PY, "-m", "tui", "reach", str(port), "--bundle", str(bundle)]))
    base = median(start)
    trace_net, reach_net = median(traces) - base, median(reaches) - base
    with open(bundle / "ps.txt") as fh:
        proxies = sum("docker-proxy" in line for line in fh)
    return [
        Figure(f"CLI trace, one port ({proxies} docker-proxies)", f"{trace_net * 1000:.0f} ms net of process start "
               f"({median(traces) * 1000:.0f} ms − {base * 1000:.0f} ms)", "≤ 300 ms", trace_net <= 0.300),
        Figure("CLI reach, one port, every origin", f"{reach_net * 1000:.0f} ms net = {reach_net / trace_net:.2f}× "
               "trace", "≤ 2× trace", reach_net <= 2 * trace_net),
    ]


async def _keypress_latency(state) -> list[float]:
    from tui.ui.app import DockportApp
    from tui.ui.widgets.panes import RulesPane

    app = DockportApp(source=("bundle", "generated"), state=state)
    times = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(RulesPane)
        pane.focus()
        await pilot.pause()
        for _ in range(30):
            t = time.perf_counter()
            await pilot.press("down")
            await pilot.pause()  # the key is handled and the screen refreshed
            times.append(time.perf_counter() - t)
    return times


def _rss_of_bundle_app(bundle: Path) -> float:
    r = pty_run.start([PY, "-m", "tui", "--bundle", str(bundle)])
    try:
        r.wait_for(b"svc-0000", 60)
        r.drain(2.0)
        return r.rss_mb()
    finally:
        r.stop()


# -- the real engine ------------------------------------------------------------------------------

def engine_ready() -> str:
    if os.geteuid() != 0:
        return "needs root"
    if subprocess.run(["docker", "version"], capture_output=True).returncode != 0:
        return "Docker engine not reachable (scripts/test starts one)"
    return ""


def _docker(*argv: str) -> str:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=True, timeout=120).stdout


def _import_seconds() -> float:
    """What the first collection of a process pays once before any of it: importing the Docker SDK
    (requests, urllib3), in a fresh interpreter, net of its own start. This process imports it
    here, so the first collection is timed without it. (pyroute2 is imported only where `ip` is
    missing or the host has thousands of iptables-nft rules.)"""
    start = min(process_seconds([PY, "-c", "pass"]) for _ in range(3))
    cost = min(process_seconds([PY, "-c", "import docker"]) for _ in range(3)) - start
    import docker  # noqa: F401

    return cost


_FIRST_COLLECTION = """
import time
from tui.collect.live import LiveCollector
import docker
collector = LiveCollector()
t = time.perf_counter()
collector.collect()
print(time.perf_counter() - t)
"""


def _first_collection_seconds() -> float:
    """The first collection of a fresh process, its modules (and the Docker SDK) imported."""
    out = subprocess.run([PY, "-c", _FIRST_COLLECTION], capture_output=True, text=True, check=True,
                         timeout=120, env=_RUN_ENV).stdout
    return float(out.split()[-1])


def _raw_reference() -> None:
    ids = _docker("ps", "-aq").split()
    nets = _docker("network", "ls", "-q").split()
    if ids:
        _docker("inspect", *ids)
    _docker("network", "inspect", *nets)
    for argv in (["iptables-save"], ["ip", "-j", "-d", "link"], ["ip", "-j", "addr"]):
        subprocess.run(argv, capture_output=True, check=True)


def live(runs: int, count: int, idle_seconds: float) -> list[Figure]:
    from tests import rig
    from tui.collect.live import LiveCollector

    rig.ensure_image()
    made = []
    out: list[Figure] = []
    try:
        for i in range(count):
            name = f"{PREFIX}{i}"
            subprocess.run(["docker", "run", "-d", "--name", name, "-p", "80", rig.IMAGE],
                           capture_output=True, check=True, timeout=60)
            made.append(name)
        time.sleep(1.0)
        imports = _import_seconds()
        # The first collection inspects every container. One in this process was a single sample
        # beside everything the benchmark holds; a fresh process each time, interleaved with the raw
        # tools, as the app meets it (its modules imported first, the Docker SDK's cost named below).
        colds, cold_refs = [], []
        for _ in range(runs):
            t = time.perf_counter()
            _raw_reference()
            cold_refs.append(time.perf_counter() - t)
            colds.append(_first_collection_seconds())
        cold = median(colds)
        collector = LiveCollector()  # as the app keeps one: later collections inspect only what changed
        collector.collect()
        ours, ref = [], []
        for _ in range(runs):
            t = time.perf_counter()
            _raw_reference()
            ref.append(time.perf_counter() - t)
            t = time.perf_counter()
            state = collector.collect()
            ours.append(time.perf_counter() - t)
        ratio = median(ours) / median(ref)
        out.append(Figure(f"live collection, {len(state.containers)} containers",
                          f"{median(ours) * 1000:.0f} ms = {ratio:.2f}× raw ({median(ref) * 1000:.0f} ms)",
                          "≤ 1.5× raw", ratio <= 1.5))
        out.append(Figure(f"first live collection, {len(state.containers)} containers, modules imported",
                          f"{cold * 1000:.0f} ms = {cold / median(cold_refs):.2f}× raw ({median(cold_refs) * 1000:.0f} "
                          f"ms), median of {runs} fresh processes; counting the one-time import of "
                          f"the Docker SDK ({imports * 1000:.0f} ms): "
                          f"{(cold + imports) / median(cold_refs):.2f}×", "≤ 2× raw", cold <= 2 * median(cold_refs)))
        out.append(asyncio.run(_event_to_screen(runs)))
        from benchmarks.event_latency import event_to_screen

        out += event_to_screen(max(3, runs), containers=100)
        r = pty_run.start([PY, "-m", "tui"])
        try:
            r.wait_for(f"{PREFIX}0".encode(), 60)
            r.drain(3.0)
            rss = r.rss_mb()
            before = r.cpu_seconds()
            t = time.monotonic()
            r.drain(idle_seconds)
            cpu = (r.cpu_seconds() - before) / (time.monotonic() - t) * 100
        finally:
            r.stop()
        out.append(Figure(f"idle CPU, live app, {idle_seconds:.0f} s", f"{cpu:.2f} %", "≤ 1 %", cpu <= 1.0))
        out.append(Figure(f"RSS at {len(state.containers)} containers (live)", f"{rss:.0f} MB", "≤ 150 MB",
                          rss <= 150))
    finally:
        if made:
            subprocess.run(["docker", "rm", "-f", *made], capture_output=True, timeout=300)
    return out


async def _event_to_screen(runs: int) -> Figure:
    from tests.pilot import until
    from tui.ui.app import DockportApp
    from tui.ui.widgets.panes import ContainersPane

    app = DockportApp(source=("live", ""), poll_seconds=3600)
    times, from_start = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state is not None, 30)
        pane = app.query_one(ContainersPane)
        for i in range(runs):
            name = f"{PREFIX}ev{i}"
            def shown(name: str = name) -> bool:  # the running container's row, with the host port Docker picked
                c = app.state.container(name) if app.state else None
                return bool(c and c.state == "running" and any(
                    ch.container == name and ch.binding.host_port for ch in pane.choices.values()))

            try:
                started = time.perf_counter()
                await asyncio.to_thread(subprocess.run, ["docker", "run", "-d", "--name", name, "-p", "80",
                                                         "dockport-test:busybox"], capture_output=True, check=True)
                t = time.perf_counter()
                await until(pilot, shown, 5, step=0.005)
                times.append(time.perf_counter() - t)
                from_start.append(time.perf_counter() - started)
            finally:
                await asyncio.to_thread(subprocess.run, ["docker", "rm", "-f", name], capture_output=True)
            await pilot.pause(0.5)
    return Figure("event → row on screen", f"{median(times) * 1000:.0f} ms median of {len(times)} after `docker run` "
                  f"returned ({median(from_start) * 1000:.0f} ms from its start)", "≤ 300 ms", median(times) <= 0.300)


# -- report ---------------------------------------------------------------------------------------

def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        mem = f"{int(open('/proc/meminfo').readline().split()[1]) // 1024} MB RAM"
    except OSError:
        pass
    docker = shutil.which("docker") and subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                                       capture_output=True, text=True).stdout.strip()
    return (f"{platform.node()}: {platform.platform()}, {os.cpu_count()} CPUs ({cpu}), {mem}, "
            f"Python {platform.python_version()}, Docker {docker or 'n/a'}")


def report(figures: list[Figure], skipped: list[str]) -> str:
    lines = ["# Benchmark results", "", f"Machine: {machine()}", "",
             f"Run: `python -m benchmarks` at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; medians of several runs.", "",
             "| figure | measured | target | met |", "|---|---|---|---|"]
    for f in figures:
        met = {True: "yes", False: "**no**", None: "-"}[f.ok]
        lines.append(f"| {f.name} | {f.value} | {f.target} | {met} |")
    for s in skipped:
        lines.append(f"| {s} | not measured | | - |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("--quick", action="store_true", help="fewer runs, smaller scale (a smoke test)")
    ap.add_argument("--skip-engine", action="store_true", help="skip the parts that need Docker")
    ap.add_argument("--storms", type=int, default=None, help="storms in a row (default 10, quick 2)")
    ap.add_argument("--churn-minutes", type=float, default=None, help="churn length (default 10, quick 1)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    a = ap.parse_args()
    runs = 3 if a.quick else 7
    # The noisiest figure: the same code reads 1.13-1.31x minutes apart over 11 runs; 41 runs (about
    # 40 s) tell changes of ~10 ms apart.
    figures: list[Figure] = first_frame(7 if a.quick else 41)
    figures += scale(runs, 200 if a.quick else 1000, 4000 if a.quick else 20000)
    skipped: list[str] = []
    reason = "skipped by --skip-engine" if a.skip_engine else engine_ready()
    if reason:
        skipped.append(f"live collection, event → screen, idle CPU, RSS live ({reason})")
    else:
        figures += live(runs, 20 if a.quick else 100, 10 if a.quick else 30)
        from benchmarks import under_load

        figures += under_load.single(runs)
        figures += under_load.storm(a.storms if a.storms is not None else (2 if a.quick else 10))
        figures += under_load.churn(a.churn_minutes if a.churn_minutes is not None else (1 if a.quick else 10))
    text = report(figures, skipped)
    print(text)
    Path(a.out).write_text(text + _notes_from(Path(a.out)))


def _notes_from(path: Path) -> str:
    """Keep the hand-written analysis below the table across re-runs."""
    try:
        old = path.read_text()
    except OSError:
        return ""
    marker = "\n## Notes"
    return old[old.index(marker):] if marker in old else ""


if __name__ == "__main__":
    main()
