"""The talk's tour: end to end on the demo (CLI and TUI); on the live engine with the lab up, the
experiments are measured (tests/test_lab.py)."""

from __future__ import annotations

import subprocess
import sys

from tui.cli import demo_bundle_path
from tui.collect.bundle import load_bundle
from tui.lab.tour import tour
from tui.paths.engine import trace
from tui.ui.app import DockportApp
from tui.ui.widgets.journey import JourneyScreen
from tui.ui.widgets.tour import TourScreen

DEMO = load_bundle(demo_bundle_path(), source="demo")


def test_the_tour_on_the_demo_answers_each_stop_with_its_path():
    stops = tour(DEMO)
    titles = [s.title for s in stops]
    assert titles[:5] == ["Experiment 1: no EXPOSE, no -p", "Experiment 2: EXPOSE without -p",
                          "Experiment 3: EXPOSE with -p", "Experiment 4: EXPOSE with -P", "Experiment 5: -p only"]
    assert [t.split(":")[0] for t in titles[5:9]] == [f"Open question {n}" for n in range(1, 5)]
    assert titles[9] == "What the talk got wrong for today's Docker"
    with_paths = [s for s in stops if s.path is not None]
    assert len(with_paths) >= 7
    for s in with_paths:
        assert s.path.as_json() == trace(DEMO, s.path.query).as_json()  # the path is the engine's own answer
        assert s.source == "predicted by the path engine" and s.answer
    # -P is asked of a container started with -P, and it answers through DNAT from outside.
    assert "demo-swoole" in stops[3].answer and "outside: delivered (via nat)" in stops[3].answer


def test_tour_command_on_the_demo():
    out = subprocess.run([sys.executable, "-m", "tui", "tour", "--demo"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n1. Experiment 1") + out.stdout.startswith("1. Experiment 1") == 1
    assert "10. What the talk got wrong" in out.stdout and "path: " in out.stdout


async def test_t_walks_the_tour_and_enter_opens_a_stops_journey():
    app = DockportApp(source=("demo", str(demo_bundle_path())), state=DEMO)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TourScreen)
        await pilot.press("n", "n")
        await pilot.pause()
        assert screen.index == 2 and "Experiment 3" in str(screen.query_one("#tour-title").render())
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, JourneyScreen)
        assert app.screen.journey.path.as_json() == screen.stops[2].path.as_json()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
