"""Regenerate screenshots/ from the demo bundle:  python -m tests.screenshots  [--check]."""

from __future__ import annotations

import argparse
import asyncio
import filecmp
import tempfile
from pathlib import Path

from tui.cli import demo_bundle_path
from tui.collect.bundle import load_bundle
from tui.ui.app import DockportApp

OUT = Path(__file__).resolve().parent.parent / "screenshots"


def demo_app() -> DockportApp:
    state = load_bundle(demo_bundle_path(), source="demo")
    return DockportApp(source=("demo", str(demo_bundle_path())), state=state)


async def show_view(name: str, pilot) -> None:
    """Bring the app to one of the named views (shared with the snapshot tests)."""
    app = pilot.app
    await pilot.pause()
    table = app.query_one("#containers")
    table.focus()
    key = next(k for k, c in table.choices.items() if c.container == "demo-web" and c.binding.host_port == 80)
    table.move_cursor(row=table.get_row_index(key))
    await pilot.press("enter")
    if name in ("stepping", "presenter"):
        await pilot.press("n", "n", "n", "n")
    if name == "presenter":
        await pilot.press("f2")
    if name in ("localhost", "journey-proxy"):
        await pilot.press("o", "o")
    if name.startswith("journey"):
        await pilot.press("j", "n", "n")
    if name == "matrix":
        await pilot.press("m")
    if name == "tour":
        await pilot.press("t", "n", "n")
    if name == "help":
        await pilot.press("question_mark")
    await pilot.pause()


async def _drive(name: str, out_dir: Path) -> None:
    from tui import i18n

    # "main-zh": the main view, a path stepped into, every sentence in Chinese.
    lang = "zh" if name.endswith("-zh") else "en"
    view = name.removesuffix("-zh")
    i18n.set_language(lang)
    try:
        app = demo_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await show_view("stepping" if view == "main" and lang == "zh" else view, pilot)
            app.save_screenshot(f"{name}.svg", str(out_dir))
    finally:
        i18n.set_language("en")


NAMES = ("main", "stepping", "presenter", "localhost", "journey", "journey-proxy", "matrix", "tour")
# Screenshots only (the snapshot tests take the Chinese views at two sizes themselves).
SHOTS = (*NAMES, "main-zh")


def render(out_dir: Path) -> None:
    for name in SHOTS:
        asyncio.run(_drive(name, out_dir))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="fail when screenshots/ is stale")
    args = ap.parse_args()
    if not args.check:
        OUT.mkdir(exist_ok=True)
        render(OUT)
        return
    with tempfile.TemporaryDirectory() as tmp:
        render(Path(tmp))
        stale = [n for n in SHOTS if not (OUT / f"{n}.svg").exists()
                 or not filecmp.cmp(Path(tmp) / f"{n}.svg", OUT / f"{n}.svg", shallow=False)]
    if stale:
        raise SystemExit(f"stale screenshots (run python -m tests.screenshots): {stale}")
    print("screenshots up to date")


if __name__ == "__main__":
    main()
