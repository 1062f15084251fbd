"""Pilot tests of the TUI on the demo bundle and on hostile input."""

from __future__ import annotations

from rich.color import Color
from rich.style import Style

from tui.cli import demo_bundle_path
from tui.collect.bundle import load_bundle
from tui.model import Container, PortBinding, replace
from tui.paths.engine import Query, trace
from tui.ui.app import DockportApp, StateLoaded
from tui.ui.widgets.panes import ContainersPane, PathPane, RulesPane
from tui.ui.widgets.title_bar import TitleBar


def _app(state=None, **kw):
    state = state or load_bundle(demo_bundle_path(), source="demo")
    return DockportApp(source=("demo", str(demo_bundle_path())), state=state, **kw), state


async def _select(app, pilot, container="demo-web", host_port=80, host_ip="0.0.0.0"):
    table = app.query_one(ContainersPane)
    key = next(k for k, c in table.choices.items()
               if c.container == container and c.binding.host_port == host_port and c.binding.host_ip == host_ip)
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await pilot.press("enter")
    await pilot.pause()
    return key


async def test_selecting_a_port_highlights_the_engines_rules():
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot)
        expected = trace(state, Query(80, "tcp", "external")).rule_refs()
        assert expected and app.path.rule_refs() == expected
        rules = app.query_one(RulesPane)
        marked = [rk.value for rk in rules.rows if rules.get_cell(rk.value, rules.ordered_columns[0].key).plain]
        assert set(marked) == set(expected)
        assert app.query_one(PathPane).row_count == len(app.path.hops)


async def test_on_a_start_with_data_the_panes_that_mark_the_path_are_drawn_once_it_is_traced(monkeypatch):
    """The first frame holds the containers and bridges; the rules, proxies and path panes are drawn
    once, with the path's marks, when it is traced right after that frame (not first unmarked)."""
    from tui.ui.widgets import panes

    drawn: list[str] = []
    for pane in (panes.RulesPane, panes.ProxiesPane, panes.PathPane):
        real = pane.show

        def counted(self, *args, _real=real, **kwargs):
            drawn.append(type(self).__name__)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(pane, "show", counted)
    seen_at_trace: dict[str, int] = {}
    real_retrace = DockportApp._retrace_and_render

    def retrace(self):
        seen_at_trace.update(containers=self.query_one(ContainersPane).row_count,
                             rules=self.query_one(RulesPane).row_count, panes_drawn=len(drawn))
        real_retrace(self)

    monkeypatch.setattr(DockportApp, "_retrace_and_render", retrace)
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert seen_at_trace == {"containers": app.query_one(ContainersPane).row_count, "rules": 0, "panes_drawn": 0}
        assert seen_at_trace["containers"] > 0
        assert sorted(drawn) == ["PathPane", "ProxiesPane", "RulesPane"]
        rules = app.query_one(RulesPane)
        marked = [rk.value for rk in rules.rows if rules.get_cell(rk.value, rules.ordered_columns[0].key).plain]
        assert app.path is not None and set(marked) == set(app.path.rule_refs()) != set()
        assert app.query_one(PathPane).row_count == len(app.path.hops)


async def test_the_findings_marks_come_with_the_path_and_match_the_findings(monkeypatch):
    """On a start with data the first frame's rows carry no findings marks (the findings are worked
    out with the path, right after); once traced, every row's mark is its port's first finding."""
    from tui.paths.findings import port_findings
    from tui.ui.widgets.panes import FINDING_MARK

    marks_at_trace: list[str] = []
    real_retrace = DockportApp._retrace_and_render

    def retrace(self):
        pane = self.query_one(ContainersPane)
        marks_at_trace.extend(pane.get_cell(rk.value, pane.ordered_columns[0].key).plain for rk in pane.rows)
        real_retrace(self)

    monkeypatch.setattr(DockportApp, "_retrace_and_render", retrace)
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(ContainersPane)
        assert marks_at_trace and set(marks_at_trace) == {""}
        expected, shown = {}, {}
        for key, choice in pane.choices.items():
            c = state.container(choice.container)
            found = port_findings(state, c, choice.binding, deep=False)
            expected[key] = FINDING_MARK[found[0].severity][0] if found else ""
            shown[key] = pane.get_cell(key, pane.ordered_columns[0].key).plain
        assert shown == expected and {"✖", "▲"} <= set(shown.values())


async def test_a_first_trace_that_fails_still_draws_the_panes_that_wait_for_it(monkeypatch):
    """The rules, proxies and path panes wait for the first trace; if it fails, the app says so and
    draws them without a path instead of leaving them empty."""
    from tui.session import Session

    def failing_retrace(self):
        self.path, self.findings, self.hop_index = None, [], -1
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(Session, "retrace", failing_retrace)
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.is_running and "tracing failed" in app.status and app.path is None
        assert app.query_one(RulesPane).row_count == sum(
            len(c.rules) for chains in state.rulesets[4].tables.values() for c in chains.values())
        assert app.query_one(PathPane).row_count >= 1  # it says there is no path, in words
        assert str(app.query_one("#explanation").render()).strip()


async def test_an_ipv6_row_is_traced_in_ipv6():
    """The `:::` row of a -p binding asks in IPv6: on the demo (no ip6tables rules, docker-proxy on
    [::]) the path goes through the proxy, 6 to 4; the IPv4 row of the same port goes by DNAT."""
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot, host_ip="::")
        assert app.path.query.family == 6 and app.path.query.src == "2001:db8::10"
        assert app.path.via == "proxy" and any("6 to 4" in h.explanation for h in app.path.hops)
        assert app.path.as_json() == trace(state, Query(80, "tcp", "external", family=6)).as_json()
        assert "(IPv6)" in str(app.query_one("#status").render())
        rules = app.query_one(RulesPane)
        # The demo has no ip6tables rules: the pane says so, and no IPv4 rule is marked for this path
        # (its leg 2 is IPv4, 6 to 4: its refs name IPv4 rules, which the pane does not show now).
        assert "ip6tables" in str(rules.border_title)
        assert not [rk for rk in rules.rows if rules.get_cell(rk.value, rules.ordered_columns[0].key).plain]
        await _select(app, pilot)
        assert app.path.query.family == 4 and app.path.via == "nat"


async def test_the_matrix_shows_every_origin_and_enter_makes_one_current():
    from textual.widgets import DataTable

    from tui.paths.reach import reach
    from tui.ui.widgets.matrix import MatrixScreen

    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, MatrixScreen)
        table = app.screen.query_one(DataTable)
        expected = reach(state, 80, "tcp")
        assert table.row_count == len(expected.rows) >= 4
        shown = [(table.get_row_at(i)[0].plain, table.get_row_at(i)[1].plain) for i in range(table.row_count)]
        assert shown[:3] == [(r.origin, str(r.path.verdict)) for r in expected.rows[:3]]
        assert shown[-1][0].startswith("external → 172.20.0.5")  # direct to the container's address
        table.move_cursor(row=2)  # localhost
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, MatrixScreen)
        assert app.origin == "localhost" and app.path.query.origin == "localhost" and app.path.via == "proxy"


async def test_at_80x24_the_port_the_current_rule_and_its_sentence_are_on_screen():
    from tui.ui.widgets.panes import Explanation

    app, _state = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        key = await _select(app, pilot)
        await pilot.press("n", "n", "n")  # hop 3: the DNAT rule
        await pilot.pause()
        assert app.screen.has_class("compact")
        assert not app.query_one(RulesPane).display or not app.query_one(RulesPane).region.area
        table = app.query_one(ContainersPane)
        row = table.get_row_index(key)
        assert table.region.height >= 5 and table.scroll_y <= row < table.scroll_y + table.region.height - 3
        hop = app.path.hops[2]
        assert hop.target == "DNAT"
        explanation = app.query_one(Explanation)
        shown = str(explanation.render())
        assert hop.rule in shown.replace("\n", " ") and hop.explanation.split(":")[0] in shown
        assert explanation.region.height >= 4 and explanation.region.bottom <= 24
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert not app.screen.has_class("compact") and app.query_one(RulesPane).region.area


async def test_at_100_columns_every_rule_on_the_path_shows_its_target_arguments_and_ports():
    """The projector's width: each rule hop's row in the path table shows, inside the pane, the
    target with its arguments and the ports it matches (the full rule is in the explanation)."""
    app, _state = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        checked = 0
        for container, port, presses in (("demo-web", 80, ()), ("demo-web", 80, ("o", "o")),
                                         ("demo-swoole", 32771, ())):
            await _select(app, pilot, container, port)
            if presses:
                await pilot.press(*presses)
                await pilot.pause()
            table = app.query_one(PathPane)
            where = table.ordered_columns[-1]
            left = sum(c.get_render_width(table) for c in table.ordered_columns[:-1]) + table.cell_padding
            visible = table.scrollable_content_region.width - left
            for i, hop in enumerate(app.path.hops):
                if hop.kind != "rule" or hop.family:
                    continue
                shown = table.get_row_at(i)[len(table.ordered_columns) - 1].plain[:visible]
                words = hop.rule.split()
                must = [w for w in words[words.index("-j") + 1:] if not w.startswith("--")]
                must += [words[k + 1] for k, w in enumerate(words) if w in ("--dport", "--dports", "--sport")]
                assert all(w in shown for w in must), (hop.rule, shown)
                checked += 1
            assert where.label.plain == "where"
        assert checked >= 8


async def test_cycling_origins_retraces():
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot)
        seen = []
        for _ in range(4):
            await pilot.press("o")
            seen.append((app.origin, app.path.query.origin, app.path.via))
        assert [s[0] for s in seen][:3] == ["host", "localhost", seen[2][0]]
        assert all(s[0] == s[1] for s in seen)
        assert ("localhost", "localhost", "proxy") in seen


async def test_stepping_through_every_hop():
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot)
        visited = []
        for _ in range(len(app.path.hops) + 2):
            await pilot.press("n")
            visited.append(app.hop_index)
        assert visited[: len(app.path.hops)] == list(range(len(app.path.hops)))
        last = app.path.hops[-1]
        assert last.explanation in str(app.query_one("#explanation").render())
        await pilot.press("p")
        assert app.hop_index == len(app.path.hops) - 2


async def test_event_adds_and_removes_a_container_keeping_selection():
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        key = await _select(app, pilot)
        extra = Container(id="f" * 64, name="newcomer", state="running", image="x", pid=1, sandbox_key="",
                          network_mode="bridge", ports=(PortBinding(80, "tcp", "0.0.0.0", 18080),))
        grown = replace(state, containers=state.containers + (extra,))
        app.post_message(StateLoaded(grown, "live", app.session.sequence))
        await pilot.pause()
        table = app.query_one(ContainersPane)
        assert any(c.container == "newcomer" for c in table.choices.values())
        assert app.selected.key == key and app.path is not None
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == key
        app.post_message(StateLoaded(state, "live", app.session.sequence))
        await pilot.pause()
        assert not any(c.container == "newcomer" for c in table.choices.values())
        assert app.selected.key == key


async def test_a_container_that_changes_redraws_its_rows_and_only_those_are_built_again():
    """Rows of containers that are the same objects are reused; the changed one shows its change,
    and every port stays selectable."""
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(ContainersPane)
        keys = set(table.choices)
        web = state.container("demo-web")
        others = {c.id: table._rows_of[c.id][1] for c in state.containers if c.id != web.id}
        app._apply_containers({web.id: replace(web, state="exited")})
        await pilot.pause()
        assert set(table.choices) == keys
        assert all(table._rows_of[cid][1] is rows for cid, rows in others.items())  # reused, not rebuilt
        web_keys = [k for k, c in table.choices.items() if c.container == "demo-web"]
        assert web_keys and all("dim" in str(table.get_cell(k, list(table.columns)[1]).style) for k in web_keys)
        app._apply_containers({web.id: web})
        await pilot.pause()
        assert all("dim" not in str(table.get_cell(k, list(table.columns)[1]).style) for k in web_keys)


async def test_a_new_selection_rebuilds_only_the_rows_it_leaves_and_the_rows_it_enters():
    """The selection is drawn in its own row: moving it builds the two containers' rows again, not
    the table (which was 70-100 ms of a Docker event's way to the screen at 100 containers)."""
    from tui.ui.widgets.panes import HIGHLIGHT

    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ContainersPane)
        published = [c for c in table.choices.values() if c.binding.published]
        first = published[0]
        second = next(c for c in published if c.container != first.container)
        await _select(app, pilot, first.container, first.binding.host_port, first.binding.host_ip)
        before = {cid: entry[1] for cid, entry in table._rows_of.items()}
        await _select(app, pilot, second.container, second.binding.host_port, second.binding.host_ip)
        rebuilt = {cid for cid, rows in before.items() if table._rows_of[cid][1] is not rows}
        assert rebuilt == {first.container_id, second.container_id}
        assert len(state.containers) > 2 and first.container_id != second.container_id

        def highlighted(key: str) -> bool:
            cell = table.get_cell(key, list(table.columns)[3])
            return any(str(span.style) == HIGHLIGHT for span in cell.spans)

        assert highlighted(second.key) and not highlighted(first.key)


async def test_new_rules_build_only_the_marks_again_and_the_table_is_as_if_drawn_afresh():
    """A rule change or a full collection brings new rule objects: only the marks column depends on
    them, so the other cells are kept; what the table shows equals rows built from scratch."""
    from tui.ui.render import palette

    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(ContainersPane)
        before = {cid: [cells[1:] for _key, cells in entry[1]] for cid, entry in table._rows_of.items()}
        marks_before = {key: table.get_cell(key, list(table.columns)[0]).plain for key in table.choices}
        for changed in (replace(state, rulesets=dict(state.rulesets)),  # the same rules, new objects
                        replace(state, rulesets={})):  # no rules read: the marks change
            app.post_message(StateLoaded(changed, "live", app.session.sequence))
            await pilot.pause()
            for cid, entry in table._rows_of.items():
                assert all(a is b for (_key, cells), kept in zip(entry[1], before[cid], strict=True)
                           for a, b in zip(cells[1:], kept, strict=True))
            for c in changed.containers:
                selected = app.selected.key if app.selected else None
                for key, cells in table._container_rows(c, changed, selected, "", palette(table))[0]:
                    shown = [table.get_cell(key, col) for col in table.columns]
                    assert [(t.plain, t.style, t.spans) for t in shown] == [(t.plain, t.style, t.spans) for t in cells]
        marks_after = {key: table.get_cell(key, list(table.columns)[0]).plain for key in table.choices}
        assert marks_after != marks_before  # the second state did change marks: the test saw a redraw


async def test_rules_that_read_the_same_keep_their_cells_and_a_changed_count_is_redrawn():
    """Each collection parses the rules afresh. Rows of rules that read the same keep their cells;
    a rule whose packet count moved is drawn again and shows the new count."""
    import copy

    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot)
        rules = app.query_one(RulesPane)
        before = {row.key.value: rules.get_row(row.key) for row in rules.ordered_rows}
        rows_before = dict(rules._cells_of)
        app.post_message(StateLoaded(replace(state, rulesets=copy.deepcopy(state.rulesets)), "live",
                                     app.session.sequence))
        await pilot.pause()
        assert rules._cells_of and all(cells is rows_before[k] for k, cells in rules._cells_of.items())
        rs = state.rulesets[4]
        chain = next(c for c in rs.tables["nat"].values() if c.rules)
        moved = replace(chain.rules[0], packets=(chain.rules[0].packets or 0) + 7)
        tables = {t: dict(chains) for t, chains in copy.deepcopy(rs.tables).items()}
        tables["nat"][chain.name] = replace(chain, rules=(moved, *copy.deepcopy(chain.rules[1:])))
        app.post_message(StateLoaded(replace(state, rulesets={**state.rulesets,
                                                                          4: replace(rs, tables=tables)}),
                                     "live", app.session.sequence))
        await pilot.pause()
        redrawn = {k[0] for k, cells in rules._cells_of.items() if rows_before.get(k) is not cells}
        assert redrawn == {moved.ref}
        assert rules.get_cell(moved.ref, list(rules.columns)[3]).plain == str(moved.packets)
        assert {row.key.value for row in rules.ordered_rows} == set(before)


async def test_a_sync_that_failed_is_not_remembered_as_drawn(monkeypatch):
    """The panes keep the cells they drew to skip comparing them next time. If filling the table
    failed halfway, the next drawing must compare every row again, or a row would stay stale."""
    from tui.ui.widgets import panes

    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.query_one(ContainersPane)
        web = state.container("demo-web")
        name_col = list(table.columns)[1]
        web_keys = [k for k, c in table.choices.items() if c.container == "demo-web"]
        real_sync = panes.sync_rows

        def failing_sync(*_args, **_kwargs):
            raise RuntimeError("the table went away")

        monkeypatch.setattr(panes, "sync_rows", failing_sync)
        app._apply_containers({web.id: replace(web, state="exited")})
        await pilot.pause()
        assert app.is_running and "drawing failed" in app.status
        assert all("dim" not in str(table.get_cell(k, name_col).style) for k in web_keys)  # not drawn
        monkeypatch.setattr(panes, "sync_rows", real_sync)
        app._render_all()  # the same state again: nothing new, but the table does not hold it yet
        await pilot.pause()
        assert all("dim" in str(table.get_cell(k, name_col).style) for k in web_keys)

async def test_proxy_rows_are_reused_until_their_owner_changes():
    """A container event redraws the proxies pane from the same proxies: their cells are kept, and
    a proxy whose container went away reads so (its row is built again)."""
    from tui.ui.widgets.panes import ProxiesPane

    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(ProxiesPane)
        assert pane._cells_of, "the demo has docker-proxies"
        before = {key: cached[2] for key, cached in pane._cells_of.items()}
        other = next(c for c in state.containers if not any(p.container_ip in {e.ip for e in c.endpoints}
                                                           for p in state.proxies))
        app._apply_containers({other.id: replace(other, state="exited")})
        await pilot.pause()
        assert all(pane._cells_of[key][2] is cells for key, cells in before.items())
        owner = next(c for c in state.containers if any(e.ip == state.proxies[0].container_ip for e in c.endpoints))
        app._apply_containers({owner.id: None})  # removed
        await pilot.pause()
        key = str(state.proxies[0].pid)
        assert pane._cells_of[key][2] is not before[key]
        assert pane.get_cell(key, list(pane.columns)[3]).plain == "no such container!"


HOSTILE = ["[/oops]", "[bold]evil", "[@click=app.quit]q", "[fe80::1]:80", "\x1b[31mred", "a\x07b", "[$primary]x"]


async def test_hostile_names_render_literally():
    _app0, state = _app()
    evil = []
    for i, name in enumerate(HOSTILE):
        c = state.containers[0]
        evil.append(replace(c, id=f"{i:064x}", name=name, labels=(("k", name),)))
    hostile = replace(state, containers=state.containers + tuple(evil))
    app, _ = _app(hostile)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.query_one(ContainersPane)
        names = {table.get_cell(rk.value, table.ordered_columns[1].key).plain for rk in table.rows}
        for name in HOSTILE:
            shown = name.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
            assert shown in names
        assert app.is_running


async def test_keys_are_commands_from_the_start_and_lab_view_explains_itself():
    """The first key press is a command (not text for the hidden filter box); `l` opens the lab view,
    which says how to start a lab when none is up."""
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("o")
        assert app.origin == "host"
        await pilot.press("l")
        for _ in range(100):
            await pilot.pause(0.1)
            head = str(app.screen.query_one("#lab-head").render())
            if "measuring" not in head:
                break
        assert type(app.screen).__name__ == "LabScreen"
        assert "lab up" in head and "\\x0a" not in head
        await pilot.press("escape")
        assert type(app.screen).__name__ != "LabScreen"


async def test_switching_the_theme_recolours_every_pane_and_the_status():
    """Colours are the theme's: after a switch, the published port, the hop numbers on the matched
    rules and the status dot are drawn in the new theme's success colour, and no longer in the old one."""
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot)

        def success_styles() -> list[str]:
            table = app.query_one(ContainersPane)
            kind = table.get_cell(app.selected.key, table.ordered_columns[4].key)
            rules = app.query_one(RulesPane)
            mark = rules.get_cell(app.path.rule_refs()[0], rules.ordered_columns[0].key)
            status = app.query_one("#status").render()
            styles = [str(kind.style), str(mark.style), str(status.spans[0].style)]
            return [tuple(Style.parse(s).color.get_truecolor()) for s in styles]

        def success() -> tuple:
            return tuple(Color.parse(app.theme_variables["success"]).get_truecolor())

        before = success()
        assert success_styles() == [before] * 3
        app.theme = "nord"
        await pilot.pause()
        assert success() != before
        assert success_styles() == [success()] * 3


async def test_a_table_shows_new_rows_in_their_place_without_being_built_again():
    """sync_rows: a row that belongs in the middle goes there, the rows around it keep their cells
    (the table is not cleared and filled again), the cursor stays on its row, and any sequence of
    updates ends showing exactly the rows given."""
    import random

    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from tui.ui.widgets.panes import sync_rows

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    def rows(keys: list[str]) -> list[tuple[str, list[Text]]]:
        return [(k, [Text(k), Text(k.upper())]) for k in keys]

    def shown(table: DataTable) -> list[tuple[str, str]]:
        return [(str(r.key.value), table.get_row(r.key)[1].plain) for r in table.ordered_rows]

    async with One().run_test() as pilot:
        table = pilot.app.query_one(DataTable)
        table.add_columns("a", "b")
        sync_rows(table, rows(["a", "c", "e"]))
        table.move_cursor(row=2)
        kept = table.get_cell("e", list(table.columns)[0])
        sync_rows(table, rows(["a", "b", "c", "d", "e"]))
        assert shown(table) == [(k, k.upper()) for k in "abcde"]
        assert table.get_cell("e", list(table.columns)[0]) is kept  # not cleared and added again
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "e"
        sync_rows(table, rows(["e", "x", "a"]))
        assert shown(table) == [("e", "E"), ("x", "X"), ("a", "A")]
        rnd = random.Random(7)
        for _ in range(40):
            keys = rnd.sample("abcdefghij", rnd.randint(0, 10))
            sync_rows(table, rows(keys))
            assert shown(table) == [(k, k.upper()) for k in keys]


async def test_a_changed_cell_is_drawn_and_only_its_row_is_rendered_again(monkeypatch):
    """sync_rows replaces a changed row's cells without DataTable.update_cell, which made every
    visible cell render again: the table must still draw exactly what a table built afresh from the
    same rows draws, after any sequence of changes, and a one-cell change renders only its row."""
    import random

    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from tui.ui.widgets.panes import sync_rows

    class Two(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="kept")
            yield DataTable(id="fresh")

    def drawn(table: DataTable) -> list[str]:
        return [table.render_line(y).text for y in range(table.size.height)]

    rnd = random.Random(11)
    keys = [f"row{i}" for i in range(8)]
    async with Two().run_test(size=(60, 24)) as pilot:
        kept, fresh = pilot.app.query_one("#kept", DataTable), pilot.app.query_one("#fresh", DataTable)
        for table in (kept, fresh):  # fixed widths: a fresh table would size auto columns anew
            table.add_column("name", width=8)
            table.add_column("state", width=12)
        sync_rows(kept, [(k, [Text(k), Text("up")]) for k in keys])
        await pilot.pause()
        await pilot.pause()  # focus and measuring settle: every cell is rendered and cached now
        renders: list[object] = []
        real = DataTable._render_cell

        def counting(self, row_index, column_index, *args, **kwargs):
            if self is kept and row_index >= 0:
                renders.append(self._row_locations.get_key(row_index))
            return real(self, row_index, column_index, *args, **kwargs)

        monkeypatch.setattr(DataTable, "_render_cell", counting)
        sync_rows(kept, [(k, [Text(k), Text("stopped" if k == "row3" else "up")]) for k in keys])
        await pilot.pause()
        # The frame rendered the changed row's cells only (drawing every line below asks for all).
        assert renders and {key.value for key in renders} == {"row3"}  # type: ignore[attr-defined]
        monkeypatch.undo()
        assert any("stopped" in line for line in drawn(kept))
        for _ in range(30):
            shown = rnd.sample(keys, rnd.randint(1, len(keys)))
            rows = [(k, [Text(k), Text(rnd.choice(["up", "stopped", "exited (137)", "restarting"]))])
                    for k in shown]
            sync_rows(kept, rows)
            fresh.clear()
            sync_rows(fresh, rows)
            await pilot.pause()
            assert drawn(kept) == drawn(fresh)
        # An auto-sized column widens for a longer cell, as when the table is built afresh.
        kept.clear(columns=True)
        kept.add_columns("name", "state")
        sync_rows(kept, [(k, [Text(k), Text("up")]) for k in keys])
        await pilot.pause()
        sync_rows(kept, [(k, [Text(k), Text("exited (137)" if k == "row5" else "up")]) for k in keys])
        await pilot.pause()
        assert any("exited (137)" in line for line in drawn(kept))


async def test_a_cell_drawn_before_the_table_is_idle_is_not_left_cropped():
    """DataTable measures a new or changed cell only when it is next idle, and that does not bump
    the counter its rendered cells are cached by. On a loaded machine a frame came in between: the
    cell was cached cropped to the old width and stayed so (the no-root TUI showed "Docker n…"
    for as long as it ran). Here the frame in between is drawn on purpose."""
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from tui.ui.widgets.panes import sync_rows

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    async with One().run_test(size=(80, 10)) as pilot:
        table = pilot.app.query_one(DataTable)
        table.add_columns("!", "container", "port")
        await pilot.pause()
        reason = "Docker not reachable (see status)"
        sync_rows(table, [("-empty-", [Text(""), Text(reason), Text("")])])
        table.render_line(1)  # the frame drawn before the table's idle measuring
        await pilot.pause()
        await pilot.pause()
        assert reason in table.render_line(1).text
        # A changed cell that outgrows its column, the same way.
        longer = "a container name much longer than the reason was"
        sync_rows(table, [("-empty-", [Text("!"), Text(longer), Text("80")])])
        table.render_line(1)
        await pilot.pause()
        await pilot.pause()
        assert longer in table.render_line(1).text and "80" in table.render_line(1).text


async def test_a_failure_on_a_key_press_keeps_the_app_and_shows_no_stale_path(monkeypatch):
    """A key's tracing or drawing that fails says what failed; the app goes on, and the last port's
    path is not left on screen as the answer for the new question."""
    import tui.paths.engine as engine
    from tui.ui.widgets.panes import BridgesPane

    app, _state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _select(app, pilot)
        assert app.path is not None

        def broken_trace(*_a, **_k):
            raise ValueError("engine broke")

        monkeypatch.setattr(engine, "trace", broken_trace)
        await pilot.press("o")  # next origin: traces again
        await pilot.pause()
        assert app.is_running and app.path is None
        assert "tracing failed: ValueError: engine broke" in app.status
        monkeypatch.undo()

        def broken_draw(self, *_a):
            raise RuntimeError("pane broke")

        monkeypatch.setattr(BridgesPane, "watch_view", broken_draw)
        await pilot.press("o")
        await pilot.pause()
        assert app.is_running and app.path is not None
        assert "drawing failed: RuntimeError: pane broke" in app.status


async def test_the_filter_box_narrows_the_panes_and_escape_brings_every_row_back():
    """The filter box is mounted on the first `/` (the first frame does not pay for it), and only on
    the main screen: typing narrows the containers and the rules to what holds the text, Escape
    hides it and shows every row again, and `/` again shows the same box, empty."""
    app, state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        containers, rules = app.query_one(ContainersPane), app.query_one(RulesPane)
        every_row, every_rule = containers.row_count, rules.row_count
        assert not app.query("#filter")
        await pilot.press("j", "slash")  # behind another screen `/` opens nothing
        await pilot.pause()
        assert not app.query("#filter")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("slash", *"dnat")
        await pilot.pause()
        assert app.focused is app.query_one("#filter")
        assert not containers.choices and containers.row_count < every_row  # no container is named so
        shown = [rules.get_row(rk.value)[-1].plain for rk in rules.rows]
        assert shown and all("dnat" in rule.lower() for rule in shown) and len(shown) < every_rule
        await pilot.press("escape")
        await pilot.pause()
        assert containers.row_count == every_row and rules.row_count == every_rule
        assert not app.query_one("#filter").display
        assert app.focused is containers
        await pilot.press("slash", *"demo-web")
        await pilot.pause()
        assert {c.container for c in containers.choices.values()} == {"demo-web"}
        await pilot.press("escape")
        await pilot.press("slash")
        await pilot.pause()
        assert len(app.query("#filter")) == 1 and app.query_one("#filter").value == ""


async def test_the_title_bar_shows_a_hostile_host_name_literally():
    _app0, state = _app()
    name = "[bold]evil\x1b[31m[@click=app.quit]"
    app, _ = _app(replace(state, facts=replace(state.facts, hostname=name)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        shown = app.query_one(TitleBar).render()
        assert str(shown) == "dockport-tui — demo · [bold]evil\\x1b[31m[@click=app.quit]"
        assert app.is_running


async def test_every_screen_key_is_also_in_the_command_palette():
    """Keys off the footer (w, t) and the screens' keys (v, j, m) are found in the palette by a word of
    their help sentence, and picking one opens what the key opens."""
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for word, screen in (("warnings", "WarningsScreen"), ("tour", "TourScreen"), ("journey", "JourneyScreen"),
                             ("who reaches", "MatrixScreen")):
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*word)
            await pilot.pause(0.5)
            await pilot.press("enter")
            await pilot.pause(0.3)
            assert type(app.screen).__name__ == screen, (word, type(app.screen).__name__)
            await pilot.press("escape")
            await pilot.pause()
            assert type(app.screen).__name__ == "Screen"


async def test_a_screen_that_fails_to_work_out_its_answer_is_said_and_the_app_stays(monkeypatch):
    """`m` and `t` (from a key or the palette) work on live data; if that fails, the status says so
    and the app keeps its main screen, instead of ending."""
    import tui.lab.tour
    import tui.paths.reach

    def broken(*_args, **_kwargs):
        raise RuntimeError("odd data")

    monkeypatch.setattr(tui.paths.reach, "reach", broken)
    monkeypatch.setattr(tui.lab.tour, "tour", broken)
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key, what in (("m", "who reaches failed"), ("t", "the tour failed")):
            await pilot.press(key)
            await pilot.pause()
            assert app.is_running and type(app.screen).__name__ == "Screen", key
            assert app.status.startswith(what) and "odd data" in app.status, app.status


async def test_the_tables_render_caches_stay_bounded_over_many_collections():
    """Each collection updates the tables, and DataTable's render caches are keyed by its update
    count: without a bound, a long-running live view kept up to 10,000 dead cell renders per table
    (RSS 60 -> 97 MB in 7 minutes of container churn). The latest state is still what is drawn."""
    from tui.ui.widgets.panes import RENDER_CACHE_SIZES, BridgesPane, ProxiesPane

    app, state = _app()
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        tables = [app.query_one(cls) for cls in (ContainersPane, RulesPane, ProxiesPane, PathPane, BridgesPane)]
        for i in range(120):
            renamed = tuple(replace(c, name=f"{c.name}-{i}") for c in state.containers)
            rules = {f: replace(rs, source=f"{rs.source} {i}") for f, rs in state.rulesets.items()}
            app.post_message(StateLoaded(replace(state, containers=renamed, rulesets=rules), "live",
                                         app.session.sequence))
            await pilot.pause()
        for table in tables:
            for name, bound in RENDER_CACHE_SIZES.items():  # a Tree has only the line cache
                size = len(getattr(table, name, ()))
                assert size <= bound, (type(table).__name__, name, size)
        containers = tables[0]
        shown = {containers.get_cell_at((row, 1)).plain for row in range(containers.row_count)}
        assert {f"{c.name}-119" for c in state.containers} <= shown


async def test_a_rules_read_that_fails_before_reading_still_lets_collections_run(monkeypatch):
    """The quick rules read holds back collections until it is done. A failure anywhere in it
    (here: working out what the last collection found) must still end it, or no collection would
    ever run again; the app stays up."""
    from tests.pilot import until
    from tui.ui.messages import RulesChanged

    def broken(_self):
        raise RuntimeError("no state to read")

    app, _state = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        monkeypatch.setattr(DockportApp, "_firewall_as_last_read", broken)
        collected: list[int] = []
        monkeypatch.setattr(DockportApp, "collect", lambda self, started_at: collected.append(started_at))
        app.post_message(RulesChanged("iptables"))
        assert await until(pilot, lambda: collected, 5), "the failed read held back every collection"
        assert not app._reading_rules and app.is_running
