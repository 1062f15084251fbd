"""SVG snapshots of the main views on the demo bundle (pytest-textual-snapshot).

Plain `def` tests, as the plugin requires. Update after an intended UI change with
`.venv/bin/python -m pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest

from tests.screenshots import NAMES, demo_app, show_view


@pytest.mark.parametrize("view", NAMES)
def test_view(snap_compare, view):
    async def bring_up(pilot):
        await show_view(view, pilot)

    assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=bring_up)


def test_narrow_terminal(snap_compare):
    async def bring_up(pilot):
        await show_view("main", pilot)

    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=bring_up)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)])
def test_journey_at_projector_and_small_sizes(snap_compare, size):
    async def bring_up(pilot):
        await show_view("journey", pilot)

    assert snap_compare(demo_app(), terminal_size=size, run_before=bring_up)


@pytest.fixture
def chinese():
    from tui import i18n

    i18n.set_language("zh")
    yield
    i18n.set_language("en")


@pytest.mark.parametrize("size", [(100, 30), (120, 40)])
@pytest.mark.parametrize("view", ["stepping", "journey", "help"])
def test_chinese_at_projector_and_wide_sizes(snap_compare, chinese, view, size):
    """Every sentence in Chinese; the panes keep their columns (CJK is two cells a character)."""
    async def bring_up(pilot):
        await show_view(view, pilot)

    assert snap_compare(demo_app(), terminal_size=size, run_before=bring_up)
