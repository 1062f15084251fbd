"""The live app under load, timed from Docker's own event times (`timeNano`).

- storm: 30 containers with a published port started by 8 parallel clients, then removed with one
  `docker rm -f`; repeated. Per container: its published row first on screen minus its `start`
  event; then all rows on screen after the last start, and all gone after the last `die`.
- single: one container at a time; row on screen after `start`, row gone after `destroy`.
- churn: one container a second under the same name, for minutes; the app must stay up, its RSS
  within 15 % of its value after the first minute, and its open descriptors must not grow.

The app runs under Textual's Pilot: the singles in this process, the storms and the churn in one of
their own (`_in_own_process`); see tests/load.py for the clocks.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

from benchmarks.figures import Figure
from tests import load, rig
from tests.pilot import until


def _app():
    from tui.ui.app import DockportApp

    return DockportApp(source=("live", ""), poll_seconds=600)


async def _with_app(body):
    from tui.ui.widgets.panes import ContainersPane

    app = _app()
    watch = load.RowWatch()
    async with app.run_test(size=(120, 40)) as pilot:
        if not await until(pilot, lambda: app.state is not None, 30):
            raise RuntimeError("the live app never showed a state")
        pane = app.query_one(ContainersPane)
        load.watch_frames(app, pane, watch)
        return await body(app, pilot, watch)


async def _storms(count: int, size: int) -> list[tuple[load.StormFigures, bool]]:
    out = []
    for _ in range(count):
        tag = uuid.uuid4().hex[:6]
        label = f"dpt.load={tag}"
        names = [f"{rig.PREFIX}storm-{tag}-{i}" for i in range(size)]
        clock = load.EventClock(label)

        async def body(app, pilot, watch, names=names, label=label, clock=clock):
            try:
                ids = await asyncio.to_thread(load.storm, names, label)
                await until(pilot, lambda: all(i in watch.first_seen for i in ids), 20, step=0.02)
                await asyncio.to_thread(load.remove, names)
                await until(pilot, lambda: all(i in watch.gone_at for i in ids), 20, step=0.02)
            finally:
                await asyncio.to_thread(load.remove, names)
            await pilot.pause(0.5)
            return load.storm_figures(ids, clock, watch), app.is_running

        try:
            out.append(await _with_app(body))
        finally:
            clock.stop()
    return out


def _storm_numbers(count: int, size: int) -> dict:
    results = asyncio.run(_storms(count, size))
    return {"p95s": [f.p95 for f, _ in results], "shown": [f.all_shown_after_last_start for f, _ in results],
            "gone": [f.all_unpublished_after_last_die for f, _ in results],
            "ours": [f.all_gone_after_last_destroy for f, _ in results],
            "up": sum(1 for _, running in results if running), "missing": sum(len(f.missing) for f, _ in results)}


def _in_own_process(*argv: str, timeout: float) -> dict:
    """`python -m benchmarks.under_load ARGV...` in a process of its own, as the app runs: the
    benchmark's process holds the scale benchmarks' objects by now (1.3 million at 357 MB, 646 MB
    by the churn), and the interpreter's full collections over them took 0.6-1.3 s each, three to
    five of them during four storms: those, not the app, made the storms' worst rows."""
    import json
    import subprocess
    from pathlib import Path

    out = subprocess.run([sys.executable, "-m", "benchmarks.under_load", *argv], capture_output=True, text=True,
                         timeout=timeout, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        raise RuntimeError(f"{argv[0]}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def storm(count: int, size: int = 30) -> list[Figure]:
    n = _in_own_process("storm", str(count), str(size), timeout=count * 120 + 120)
    p95s, shown, gone, ours, up, missing = (n["p95s"], n["shown"], n["gone"], n["ours"], n["up"], n["missing"])
    ms = lambda xs: ", ".join(f"{x * 1000:.0f}" for x in xs)  # noqa: E731
    return [
        Figure(f"storm ({size} containers, 8 clients, then one rm -f) × {count}: app still up",
               f"{up} of {count}" + (f" ({missing} rows never shown or never gone)" if missing else ""),
               "all", up == count and not missing),
        Figure("storm: row on screen after its `start` event, p95 per storm", f"{ms(p95s)} ms", "≤ 1000 ms",
               max(p95s) <= 1.0),
        Figure("storm: all rows on screen after the last `start`", f"{ms(shown)} ms", "≤ 2000 ms", max(shown) <= 2.0),
        Figure("storm: all published rows gone after the last `die` (the containers are stopped)", f"{ms(gone)} ms",
               "≤ 2000 ms", max(gone) <= 2.0),
        Figure("storm: all rows gone after the last `destroy` (the containers are removed)", f"{ms(ours)} ms",
               "(no target)", None),
    ]


async def _singles(runs: int) -> tuple[list[float], list[float]]:
    tag = uuid.uuid4().hex[:6]
    label = f"dpt.load={tag}"
    clock = load.EventClock(label)

    async def body(app, pilot, watch):
        ids = []
        for i in range(runs):
            name = f"{rig.PREFIX}one-{tag}-{i}"
            try:
                cid = await asyncio.to_thread(load.run_labelled, name, label)
                ids.append(cid)
                await until(pilot, lambda cid=cid: cid in watch.first_seen, 5, step=0.01)
                await pilot.pause(1.0)  # the collections the start caused are over
            finally:
                await asyncio.to_thread(load.remove, [name])
            await until(pilot, lambda cid=cid: cid in watch.gone_at, 5, step=0.01)
            await pilot.pause(1.0)
        return load.single_figures(ids, clock, watch)

    try:
        return await _with_app(body)
    finally:
        clock.stop()


def single(runs: int) -> list[Figure]:
    appear, leave = asyncio.run(_singles(runs))
    a, g = statistics.median(appear) * 1000, statistics.median(leave) * 1000
    return [Figure(f"one container: row on screen after `start`, median of {len(appear)}", f"{a:.0f} ms",
                   "≤ 100 ms", a <= 100),
            Figure(f"one container: row gone after `destroy`, median of {len(leave)}", f"{g:.0f} ms",
                   "≤ 100 ms", g <= 100)]


async def _churn(minutes: float) -> dict:
    tag = uuid.uuid4().hex[:6]
    label = f"dpt.load={tag}"
    name = f"{rig.PREFIX}churn-{tag}"

    async def body(app, pilot, watch):
        start = time.monotonic()
        cycles, marks = 0, {}
        try:
            while time.monotonic() - start < minutes * 60:
                t = time.monotonic()
                await asyncio.to_thread(load.run_labelled, name, label)
                await pilot.pause(0.2)
                await asyncio.to_thread(load.remove, [name])
                cycles += 1
                elapsed = time.monotonic() - start
                if "minute" not in marks and elapsed >= min(60, minutes * 60 / 2):
                    marks["minute"] = (load.process_rss_mb(), load.open_fds())
                if not app.is_running:
                    break
                await pilot.pause(max(0.0, 1.0 - (time.monotonic() - t)))
        finally:
            await asyncio.to_thread(load.remove, [name])
        await pilot.pause(3.0)  # the last collections settle
        return {"cycles": cycles, "up": app.is_running, "status": app.status, "rss_minute": marks["minute"][0],
                "fds_minute": marks["minute"][1], "rss_end": load.process_rss_mb(), "fds_end": load.open_fds()}

    return await _with_app(body)


def churn(minutes: float) -> list[Figure]:
    """In a process of its own (see `_in_own_process`): in the benchmark's ~650 MB process the app's
    own growth vanished (an RSS growth of +41 % alone read as +0.0 % there)."""
    r = _in_own_process("churn", str(minutes), timeout=minutes * 60 + 300)
    growth = (r["rss_end"] - r["rss_minute"]) / r["rss_minute"] * 100
    return [
        Figure(f"churn, same name, ~1/s for {minutes:g} min ({r['cycles']} cycles): app still up",
               "yes" if r["up"] else f"no ({r['status']})", "yes", r["up"]),
        Figure("churn: RSS of the app's process, end vs after the first minute",
               f"{r['rss_minute']:.0f} → {r['rss_end']:.0f} MB ({growth:+.1f} %)", "within 15 %", abs(growth) <= 15),
        Figure("churn: open file descriptors, end vs after the first minute",
               f"{r['fds_minute']} → {r['fds_end']}", "no growth", r["fds_end"] <= r["fds_minute"]),
    ]


if __name__ == "__main__":
    import json

    if sys.argv[1:2] == ["churn"]:
        print(json.dumps(asyncio.run(_churn(float(sys.argv[2])))))
    elif sys.argv[1:2] == ["storm"]:
        print(json.dumps(_storm_numbers(int(sys.argv[2]), int(sys.argv[3]))))
