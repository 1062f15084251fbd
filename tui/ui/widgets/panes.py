"""The app's panes. Each takes a HostState (and the traced Path) and shows it; none does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.reactive import reactive
from textual.visual import VisualType
from textual.widgets import DataTable, Static, Tree
from textual.widgets.data_table import Column, ColumnKey, RowDoesNotExist, RowKey
from textual.widgets.tree import TreeNode

from tui.i18n import N_, _, word
from tui.model import Container, HostState, NftTable, PortBinding, Proxy, RuleSet, veth_owner
from tui.session import PortChoice, hop_families
from tui.ui.messages import Step, View
from tui.ui.render import (
    MARK,
    NOTE,
    PORT_KIND_STYLE,
    UNCERTAIN,
    VERDICT_STYLE,
    Palette,
    join,
    literal,
    palette,
    rule_gist,
    short_rule,
    wrapped,
)

if TYPE_CHECKING:
    from tui.paths.findings import Finding
    from tui.paths.types import Hop, Path

HIGHLIGHT = "bold reverse"
# A narrow table/chain column: the rule beside it is what decides (long names end in "…"; the
# current rule is written in full in the explanation).
CHAIN_WIDTH = 18


# DataTable keeps what it rendered in caches of 1,000-10,000 entries per table (Tree: 1,024 lines),
# keyed by its update count: each update leaves the entries before it dead until they are pushed
# out. Our tables are updated on every collection, so each cache filled to its size: in a churn of
# one container a second, RSS grew 60 -> 97 MB in 7 minutes, mostly rendered segments of dead
# entries. A frame needs at most its visible cells; these sizes hold several frames of a tall terminal.
RENDER_CACHE_SIZES = {"_cell_render_cache": 2000, "_row_render_cache": 400, "_row_renderable_cache": 400,
                      "_line_cache": 400}


def bound_render_caches(table: DataTable | Tree) -> None:
    for name, size in RENDER_CACHE_SIZES.items():
        cache = getattr(table, name, None)
        if cache is not None and hasattr(cache, "maxsize"):
            cache.maxsize = min(cache.maxsize, size)


def move_to_row(table: DataTable, key: str) -> None:
    """Put the cursor on the row with that key; a row that is not shown (filtered out) is skipped."""
    try:
        table.move_cursor(row=table.get_row_index(key))
    except RowDoesNotExist:
        pass


def sync_rows(table: DataTable, rows: list[tuple[str, list[Text]]], unchanged: set[str] | frozenset = frozenset()
              ) -> None:
    """Make a keyed table show exactly `rows`, in that order; the cursor stays on its row.

    Idempotent and order-free: whatever the table showed before (another state, a partial update,
    the same rows), afterwards it shows these rows. A key given twice is shown once (the first):
    live data is not ours to trust, and a duplicate key must never reach DataTable.add_row.
    `unchanged`: keys whose cells are the very ones this table was given last time (not compared).
    """
    unique: dict[str, list[Text]] = {}
    for key, cells in rows:
        unique.setdefault(key, cells)
    current_key: str | None = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        current_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    shrank = False
    for row in list(table.ordered_rows):
        if row.key.value not in unique:
            table.remove_row(row.key)
            shrank = True
    columns = list(table.columns)
    present = {str(row.key.value) for row in table.ordered_rows}
    changed_rows: dict[str, dict[ColumnKey, Text]] = {}
    added: list[list[Text]] = []
    for key, cells in unique.items():
        if key in present:
            if key in unchanged:
                continue
            changed = {col: cell for col, cell in zip(columns, cells, strict=False)
                       if not _same_label(table.get_cell(key, col), cell)}
            if changed:
                changed_rows[key] = changed
        else:
            table.add_row(*cells, key=key)
            added.append(cells)
    if added:
        # add_row has bumped the counter the rendered cells are cached by: nothing is cached at
        # these widths yet.
        by_index = list(table.columns.values())
        _widen_columns(table, [(by_index[i], cell) for cells in added for i, cell in enumerate(cells[:len(by_index)])])
    _put_in_order(table, list(unique))
    if changed_rows:
        _replace_cells(table, changed_rows)
    if current_key is not None and current_key in unique:
        table.move_cursor(row=table.get_row_index(current_key), animate=False)
    if shrank:
        _fit_columns(table, list(unique.values()))


# More changed rows than this and the whole table is drawn again anyway: the counter is bumped.
_ROWS_REDRAWN_ALONE = 8


def _replace_cells(table: DataTable, changed_rows: Mapping[str, Mapping[ColumnKey, Text]]) -> None:
    """What `DataTable.update_cell` does, without re-rendering the rows that did not change.

    update_cell bumps the table's update counter, which keys Textual's caches of rendered cells,
    rows and lines: one changed cell made the next frame render every visible cell of the table
    again through rich (~50 cells, most of the 40-60 ms frame after a Docker event at 100
    containers). Here a few changed rows get their cells replaced and only their cached renderings
    are dropped (one pass over each cache); their regions are refreshed. A cell wider than its
    auto-sized column widens it at once, and then the whole table is drawn again (every row
    moves), as it is for many changed rows at once. Textual 8.2.8, pinned."""
    columns = table.columns
    for key, cells in changed_rows.items():
        row_data = table._data[RowKey(key)]
        for col, cell in cells.items():
            row_data[col] = cell
    widened = _widen_columns(table, [(columns[col], cell) for cells in changed_rows.values()
                                     for col, cell in cells.items()])
    if widened or len(changed_rows) > _ROWS_REDRAWN_ALONE:
        table._update_count += 1
        table.refresh()
        return
    row_keys = {RowKey(key) for key in changed_rows}
    for cell_key in [k for k in table._cell_render_cache.keys() if k[0] in row_keys]:
        table._cell_render_cache.discard(cell_key)
    for line_key in [k for k in table._row_render_cache.keys() if k[0] in row_keys]:
        table._row_render_cache.discard(line_key)
    indexes = {index for row_key in row_keys if (index := table._row_locations.get(row_key)) is not None}
    for renderables_key in [k for k in table._row_renderable_cache.keys() if k[1] in indexes]:
        table._row_renderable_cache.discard(renderables_key)
    table._line_cache.clear()  # keyed by screen line; rebuilt from the row cache, cheap
    for index in indexes:
        table.refresh_row(index)


def _widen_columns(table: DataTable, cells: list[tuple[Column, Text]]) -> bool:
    """Widen the auto-sized columns these cells do not fit, now. DataTable measures new and
    changed cells only when it is next idle, and that does not bump the counter its rendered cells
    are cached by: a frame drawn in between (a loaded machine) cached the cell cropped to the old
    width, and the cropped cell stayed. The no-root TUI's "Docker not reachable (see status)" was
    shown as "Docker n…" for as long as the app ran. True when a column widened."""
    widened = False
    for column, cell in cells:
        if column.auto_width and (width := _cell_width(cell)) > column.content_width:
            column.content_width = width
            widened = True
    if widened:
        table._require_update_dimensions = True  # the virtual width follows when idle
    return widened


def _cell_width(cell: Text) -> int:
    """What DataTable measures a one-row-high cell as: its widest line."""
    return max(cell_len(line) for line in cell.plain.split("\n"))


def _put_in_order(table: DataTable, keys: list[str]) -> None:
    """Show the rows in the order of `keys`. DataTable adds rows only at the end; a container that
    starts or stops changes its rows' keys in the middle of the table, and clearing the table and
    adding every row again (what this did before) laid out and drew all of it: ~100 ms a Docker
    event at 100 containers. The order is set the way DataTable.sort sets it (textual 8.2.8, pinned)."""
    shown = table.ordered_rows
    if [row.key.value for row in shown] == keys:
        return
    by_value = {row.key.value: row.key for row in shown}
    table._row_locations = TwoWayDict({by_value[k]: i for i, k in enumerate(keys)})
    table._update_count += 1
    table.refresh()


def _fit_columns(table: DataTable, rows: list[list[Text]]) -> None:
    """Columns as wide as what they hold now. DataTable widens a column for a longer cell but never
    narrows it when rows go ("select a port (Enter)" kept the hop column 23 wide for "rule")."""
    for i, column in enumerate(table.columns.values()):
        if not column.auto_width:
            continue
        width = max([column.label.cell_len, *(_cell_width(cells[i]) for cells in rows if i < len(cells))])
        if width != column.content_width:
            column.content_width = width
            # (textual 8.2.8, pinned: the flag DataTable's own width updates set)
            table._require_update_dimensions = True
    table.refresh()


def port_kind(b: PortBinding) -> str:
    if b.unmapped:
        return "routed"
    if not b.published:
        return "expose-only"
    if b.loopback_only:
        return "loopback"
    if b.ephemeral:
        return "ephemeral"
    return "published"


class ContainersPane(DataTable[Text]):
    BORDER_TITLE = N_("Containers & ports")
    view: reactive[View | None] = reactive(None, always_update=True, init=False, repaint=False)

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show(view.state, view.path, view.selected_key, view.filter_text, view.findings_marked)

    def on_mount(self) -> None:
        bound_render_caches(self)
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("!", _("container"), _("address"), _("port"), _("kind"))
        self.border_title = _(self.BORDER_TITLE)
        self.choices: dict[str, PortChoice] = {}
        self.marks = FindingMarks()
        self.redraw_legend()

    def redraw_legend(self) -> None:
        pal = palette(self)
        self.border_subtitle = Text.assemble(
            *((f"{word(kind)} ", pal(style)) for kind, style in PORT_KIND_STYLE.items()),
            (FINDING_MARK["problem"][0], pal(FINDING_MARK["problem"][1])),
            (FINDING_MARK["warn"][0], pal(FINDING_MARK["warn"][1])), (_(" findings"), "dim"))

    def show(self, state: HostState, path: Path | None, selected: str | None, filt: str = "",
             marked: bool = True) -> None:
        rows = []
        pal = palette(self)
        self.choices = {}
        self.marks.enabled = marked
        # A container that is the same object as last time, with the same filter and marks and the
        # selection neither in its rows nor taken from them, gets the same cells: at 100 containers
        # an event or a new selection changes one or two rows, not all (the selection was part of
        # the whole table's context, and a selection that followed a restarted container rebuilt
        # all 100 rows: 70-100 ms of a Docker event's way to the screen).
        # New rules (a rule change, each full collection) change only the marks column: the other
        # cells are kept, and a row whose mark came out the same is not compared at all.
        context = (filt, pal)
        previous = self._rows_of if context == self._rows_context else {}
        new_marks = not self.marks.rest_on(state, pal)
        rows_of: dict[str, tuple[Container, list[tuple[str, list[Text]]], dict[str, PortChoice], str | None]] = {}
        unchanged: set[str] = set()
        for c in state.containers:
            cached = previous.get(c.id)
            if cached is None or cached[0] is not c or cached[3] != (selected if selected in cached[2] else None):
                rows_of_c, choices_of_c = self._container_rows(c, state, selected, filt, pal)
                cached = (c, rows_of_c, choices_of_c, selected if selected in choices_of_c else None)
            else:
                kept = cached[1]
                if new_marks:
                    cached = (c, self._with_new_marks(c, kept, cached[2], state, pal), cached[2], cached[3])
                unchanged.update(key for (key, cells), (_key, before) in zip(cached[1], kept, strict=True)
                                 if cells is before)
            rows_of[c.id] = cached
            rows += cached[1]
            self.choices.update(cached[2])
        if not rows:
            reason = _("no containers") if "docker" not in state.missing else _("Docker not reachable (see status)")
            rows.append(("-empty-", [literal(""), literal(reason, "italic"), literal(""), literal(""), literal("")]))
        sync_rows(self, rows, unchanged)
        # Kept only once the table holds these cells: after a failed sync, every row is compared again.
        self._rows_context, self._rows_of = context, rows_of

    def _with_new_marks(self, c: Container, rows: list[tuple[str, list[Text]]], choices: dict[str, PortChoice],
                        state: HostState, pal: Palette) -> list[tuple[str, list[Text]]]:
        out = []
        for key, cells in rows:
            choice = choices.get(key)
            mark = self.marks.mark(state, c, choice.binding, pal) if choice is not None else None
            out.append((key, cells if mark is None or _same_label(cells[0], mark) else [mark, *cells[1:]]))
        return out

    _rows_context: tuple[object, ...] = ()
    # container id -> (the container, its rows, its port choices, the selected key among them)
    _rows_of: Mapping[str, tuple[Container, list[tuple[str, list[Text]]], dict[str, PortChoice], str | None]] = \
        MappingProxyType({})

    def _container_rows(self, c: Container, state: HostState, selected: str | None, filt: str,
                        pal: Palette) -> tuple[list[tuple[str, list[Text]]], dict[str, PortChoice]]:
        rows: list[tuple[str, list[Text]]] = []
        choices: dict[str, PortChoice] = {}
        ip = ", ".join(e.ip for e in c.endpoints if e.ip) or c.network_mode
        if not c.ports:
            if not filt or filt in c.name.lower():
                rows.append((f"{c.id}|-", [literal(""), literal(c.name, _state_style(c)), literal(ip),
                                           literal("—"), literal(_("no ports"), "dim")]))
            return rows, choices
        for b in c.ports:
            choice = PortChoice(c.name, b, c.id)
            if filt and filt not in f"{c.name} {b.key}".lower():
                continue
            choices[choice.key] = choice
            kind = port_kind(b)
            port = (join((f"{b.host_ip}:{b.host_port}", "bold"), " → ", f"{b.container_port}/{b.proto}")
                    if b.published else literal(f"{b.container_port}/{b.proto}"))
            if selected == choice.key:
                port.stylize(HIGHLIGHT)
            rows.append((choice.key, [self.marks.mark(state, c, b, pal), literal(c.name, _state_style(c)),
                                      literal(ip), port, literal(word(kind), pal(PORT_KIND_STYLE[kind]))]))
        return rows, choices

    def choice_at_cursor(self) -> PortChoice | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.choices.get(key) if key is not None else None


FINDING_MARK = {"problem": ("✖", "bold $error"), "warn": ("▲", "$warning"), "info": ("", "")}


class FindingMarks:
    """The findings mark of each row, worked out again only for a container that changed.

    The quick findings of a port rest on its container and on the host's rules, proxies, networks
    and facts; while those are the same objects, a container that is the same object keeps its mark.
    """

    def __init__(self) -> None:
        self.enabled = True  # False: every mark is empty (not worked out yet)
        self._context: tuple[object, ...] = ()
        self._marks: dict[tuple[int, str], tuple[Container, Text]] = {}

    def _inputs(self, state: HostState, pal: Palette) -> tuple[object, ...]:
        """What the marks rest on besides the container (large: compared by identity)."""
        return (state.rulesets.get(4), state.rulesets.get(6), state.proxies, state.networks, state.facts,
                state.missing, state.problems, pal, self.enabled)

    def rest_on(self, state: HostState, pal: Palette) -> bool:
        """Were the marks kept here worked out from these very objects? They are held, not their
        ids: a freed rule set's id can be the next one's."""
        inputs = self._inputs(state, pal)
        return len(inputs) == len(self._context) and all(a is b for a, b in zip(inputs, self._context, strict=True))

    def mark(self, state: HostState, c: Container, b: PortBinding, pal: Palette) -> Text:
        if not self.rest_on(state, pal):
            self._context, self._marks = self._inputs(state, pal), {}
        hit = self._marks.get((id(c), b.key))
        if hit is not None and hit[0] is c:
            return hit[1]
        text = _finding_mark(state, c, b, pal) if self.enabled else literal("")
        self._marks[(id(c), b.key)] = (c, text)
        return text


def _finding_mark(state: HostState, c: Container, b: PortBinding, pal: Palette) -> Text:
    from tui.paths.findings import port_findings

    found = port_findings(state, c, b, deep=False)
    if not found:
        return literal("")
    mark, style = FINDING_MARK[found[0].severity]
    return literal(mark, pal(style))


def _state_style(c: Container) -> str:
    return "" if c.state == "running" else "dim"


# One node of a tree as it should be: key, label, and its children (None: a leaf).
WantedNode = tuple[str, Text, "list[WantedNode] | None"]


def _same_label(a: object, b: Text) -> bool:
    return isinstance(a, Text) and (a.plain, a.style, a.spans) == (b.plain, b.style, b.spans)


def sync_tree(parent: TreeNode[str], wanted: list[WantedNode], index: dict[str, TreeNode[str]]) -> None:
    """Make `parent`'s children exactly `wanted`, in order, changing only what differs: labels are
    set in place, missing nodes added at their place, gone ones removed. `index` maps key -> node."""
    keys = [key for key, _label, _children in wanted]
    for child in list(parent.children):
        if child.data not in keys:
            _forget(child, index)
            child.remove()
    kept = [child.data for child in parent.children]
    if kept != [k for k in keys if k in set(kept)]:  # out of order: this level starts afresh
        for child in list(parent.children):
            _forget(child, index)
            child.remove()
    existing = {child.data: child for child in parent.children}
    for position, (key, label, children) in enumerate(wanted):
        node: TreeNode[str] | None = existing.get(key)
        if node is not None and (node.allow_expand != (children is not None)):
            _forget(node, index)  # a leaf became a branch or the other way round
            node.remove()
            node = None
        if node is None:
            if children is None:
                node = parent.add_leaf(label, data=key, before=position if position < len(parent.children) else None)
            else:
                node = parent.add(label, data=key, expand=True,
                                  before=position if position < len(parent.children) else None)
        elif not _same_label(node.label, label):
            node.set_label(label)
        index[key] = node
        if children is not None:
            sync_tree(node, children, index)


def _forget(node: TreeNode[str], index: dict[str, TreeNode[str]]) -> None:
    index.pop(node.data or "", None)
    for child in node.children:
        _forget(child, index)


class BridgesPane(Tree[str]):
    view: reactive[View | None] = reactive(None, always_update=True, init=False, repaint=False)

    def on_mount(self) -> None:
        bound_render_caches(self)
        self.border_title = _("Bridges & veths")
        self.show_root = False
        self.guide_depth = 2
        self.node_by_key: dict[str, TreeNode[str]] = {}

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show(view.state, view.path)

    def show(self, state: HostState, path: Path | None) -> None:
        sync_tree(self.root, self._wanted(state, path, palette(self)), self.node_by_key)

    @staticmethod
    def _wanted(state: HostState, path: Path | None, pal: Palette) -> list[WantedNode]:
        on_path = {h.name for h in path.hops if h.kind in ("bridge", "veth")} if path else set()
        if "links" in state.missing:
            return [("-note-", literal(_("links not captured (see status)"), "italic"), None)]
        bridges = [link for link in state.links if link.kind == "bridge"]
        if not bridges:
            return [("-note-", literal(_("no bridges on this host"), "italic"), None)]
        wanted: list[WantedNode] = []
        for br in bridges:
            net = next((n for n in state.networks if n.bridge == br.name), None)
            own = next((f"{a.ip}/{a.prefix}" for a in br.addresses if a.family == 4), "")
            # Docker 20.10 leaves the default bridge's IPAM gateway empty: the bridge's address is it.
            gateway = (net.gateway if net else "") or own.split("/")[0] or "-"
            subnet = (net.subnet if net else "") or own
            label = join((br.name, HIGHLIGHT if br.name in on_path else "bold"),
                         f"  {subnet} gw {gateway}",
                         (f"  [{net.name}]" if net else "", "dim"))
            ports: list[WantedNode] = []
            for port in (link for link in state.links if link.master == br.name):
                owner = veth_owner(state, port)
                who = f"{owner[0].name}:{owner[1]}" if owner else "?"
                ports.append((port.name, join((port.name, HIGHLIGHT if port.name in on_path else ""), " ↔ ",
                                              (who, pal(NOTE))), None))
            wanted.append((br.name, label, ports))
        return wanted

    def focus_key(self, key: str) -> None:
        node = self.node_by_key.get(key)
        if node is not None:
            self.move_cursor(node)


DOCKER_WORDS = ("DOCKER", "docker0", "br-")


def _hops_of_family(path: Path | None) -> list[Hop | None]:
    """The path's hops, None for those of another address family: docker-proxy's leg 2 is IPv4
    after an IPv6 leg 1 (6 to 4), and its rule refs name IPv4 rules, not the ones shown."""
    if path is None:
        return []
    return [h if family == path.query.family else None for h, family in zip(path.hops, hop_families(path),
                                                                               strict=True)]


class RulesPane(DataTable[Text]):
    view: reactive[View | None] = reactive(None, always_update=True, init=False, repaint=False)

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show(view.state, view.path, view.filter_text)

    _drawn_from: tuple[tuple[object, ...], tuple[object, ...]] | None = None

    def on_mount(self) -> None:
        bound_render_caches(self)
        self.cursor_type = "row"
        self.add_column(_("step"))
        self.add_column(_("chain"), width=CHAIN_WIDTH)
        self.add_columns("#", _("pkts"), _("rule"))
        self.border_title = _("Rules (raw/mangle/nat/filter)")

    def show(self, state: HostState, path: Path | None, filt: str = "") -> None:
        steps: dict[str, list[int]] = {}
        for i, h in enumerate(_hops_of_family(path), 1):
            if h is not None and h.kind == "rule":
                steps.setdefault(h.rule_ref, []).append(i)
        decided_by = path.deciding_hop() if path else None
        deciding = decided_by.rule_ref if decided_by is not None and decided_by.kind == "rule" else None
        pal = palette(self)
        # The rules of the path's family: an IPv6 path's refs name ip6tables rules.
        family = path.query.family if path else 4
        rs = state.rulesets.get(family)
        # A container that starts or goes changes neither the rules nor, mostly, the path's rules:
        # the rows would come out the same, so they are not built again (they are thousands at scale).
        same_objects = (rs, state.other_rulesets.get(family), state.nft_tables, pal)  # by identity: they are large
        same_values = (state.missing, tuple((k, tuple(v)) for k, v in steps.items()), deciding, filt)
        last = self._drawn_from
        if last is not None and all(a is b for a, b in zip(same_objects, last[0], strict=True)) \
                and same_values == last[1]:
            return
        self._drawn_from = (same_objects, same_values)
        self.border_title = (_("Rules (raw/mangle/nat/filter + native nftables)") if state.nft_tables else
                             _("Rules (raw/mangle/nat/filter)")) + (" — ip6tables" if family == 6 else "")
        rows = []
        # Each collection parses the rules afresh; a rule that reads the same (text, counters, place
        # on the path) keeps the cells it had, and is not compared again: at 100 containers every
        # collection and rule change built and compared all ~600 rows (~25 ms of the UI thread).
        cells_of: dict[tuple[object, ...], list[Text]] = {}
        reused: set[str] = set()
        native = self._native_rows(state.nft_tables, steps, deciding, filt, pal)
        if rs is None and not native:
            why = _("rules not captured") if "rules" in state.missing else _("no IPv{family} rules read").format(
                family=family)
            rows.append(("-none-", [literal(""), literal(why, "italic"), literal(""), literal(""), literal("")]))
        else:
            other = state.other_rulesets.get(family)
            for prefix, ruleset in (("", rs), (state.other_backend + ":", other)):
                if ruleset is not None:
                    rows += self._rule_rows(ruleset, prefix, steps, deciding, filt, pal, cells_of, reused)
            rows += native
            if not rows:
                rows.append(("-none-", [literal(""), literal(_("no rules match the filter") if filt else _("no rules"),
                                                             "italic"), literal(""), literal(""), literal("")]))
        if "nft" in state.missing:
            rows.append(("-nft-", [literal(""), literal(_("nftables rules not read (see status)"), "italic"),
                                   literal(""), literal(""), literal("")]))
        sync_rows(self, rows, reused)
        self._cells_of = cells_of  # once the table holds them (see ContainersPane.show)

    _cells_of: Mapping[tuple[object, ...], list[Text]] = MappingProxyType({})

    @staticmethod
    def _native_rows(tables: tuple[NftTable, ...], steps: dict[str, list[int]], deciding: str | None, filt: str,
                     pal: Palette) -> list[tuple[str, list[Text]]]:
        """Native nftables rules: family, table and chain, the handle, the counter where the rule has one."""
        rows = []
        for table in tables:
            for chain in table.chains.values():
                for r in chain.rules:
                    if filt and filt not in r.text.lower():
                        continue
                    style = HIGHLIGHT if r.ref in steps else ""
                    mark = ",".join(str(s) for s in steps.get(r.ref, [])) + (" ◆" if r.ref == deciding else "")
                    rows.append((r.ref, [literal(mark, pal(MARK)),
                                         literal(f"{table.family} {table.name}/{chain.name}", style),
                                         literal(f"h{r.handle}", style),
                                         literal("" if r.packets is None else r.packets, style),
                                         literal(r.text, style)]))
        return rows

    def _rule_rows(self, rs: RuleSet, prefix: str, steps: dict[str, list[int]], deciding: str | None, filt: str,
                   pal: Palette, cells_of: dict[tuple[object, ...], list[Text]], reused: set[str]
                   ) -> list[tuple[str, list[Text]]]:
        """Rows of one rule set; `prefix` names the other backend's rules ("legacy:") apart. Cells
        drawn last time for the same row and content are taken from `_cells_of` (their keys go to
        `reused`); `cells_of` collects this time's."""
        rows = []
        last = self._cells_of
        for table in ("raw", "mangle", "nat", "filter"):
            for chain in rs.tables.get(table, {}).values():
                for r in chain.rules:
                    if filt and filt not in r.text.lower():
                        continue
                    ref = prefix + r.ref
                    docker = any(w in r.text for w in DOCKER_WORDS)
                    style = HIGHLIGHT if ref in steps else ("" if docker else "dim")
                    mark = ",".join(str(s) for s in steps.get(ref, []))
                    if ref == deciding:
                        mark += " ◆"
                    drawn_from = (ref, r.text, r.packets, style, mark, pal)
                    cells = last.get(drawn_from)
                    if cells is None:
                        where = f"{prefix.replace(':', ' ')}{table}/{chain.name}"
                        cells = [literal(mark, pal(MARK)), literal(where, style), literal(r.index, style),
                                 literal("" if r.packets is None else r.packets, style),
                                 literal(short_rule(r.text), style)]
                    else:
                        reused.add(ref)
                    cells_of[drawn_from] = cells
                    rows.append((ref, cells))
        return rows

    def focus_ref(self, ref: str) -> None:
        move_to_row(self, ref)


class ProxiesPane(DataTable[Text]):
    view: reactive[View | None] = reactive(None, always_update=True, init=False, repaint=False)

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show(view.state, view.path)

    def on_mount(self) -> None:
        bound_render_caches(self)
        self.cursor_type = "row"
        self.add_columns("pid", _("listens"), _("→ container"), _("mapping"))
        self.border_title = "docker-proxy"

    def show(self, state: HostState, path: Path | None) -> None:
        on_path = {h.name for h in path.hops if h.kind == "proxy"} if path else set()
        rows = []
        by_ip = {e.ip: c.name for c in state.containers for e in c.endpoints}
        # A container event redraws every pane; a proxy whose row reads the same keeps its cells
        # (200 proxies at 100 containers were a third of the main thread's work per event).
        previous, self._cells_of = self._cells_of, {}
        unchanged: set[str] = set()
        for p in state.proxies:
            style = HIGHLIGHT if str(p.pid) in on_path else ""
            owner = by_ip.get(p.container_ip, _("no such container!"))
            key = str(p.pid)
            cached = previous.get(key)
            if cached is not None and cached[0] is p and cached[1] == (owner, style):
                unchanged.add(key)
            else:
                cached = (p, (owner, style), [
                    literal(p.pid, style), literal(f"{p.host_ip}:{p.host_port}/{p.proto}", style),
                    literal(f"{p.container_ip}:{p.container_port}", style), literal(owner, style)])
            self._cells_of[key] = cached
            rows.append((key, cached[2]))
        if not rows:
            if "proxies" in state.missing:
                why = _("processes not captured")
            elif state.facts.userland_proxy is False:
                why = _("userland proxy is off: no docker-proxy")
            else:
                why = _("no docker-proxy running")
            rows.append(("-none-", [literal(""), literal(why, "italic"), literal(""), literal("")]))
        sync_rows(self, rows, unchanged)

    _cells_of: Mapping[str, tuple[Proxy, tuple[str, str], list[Text]]] = MappingProxyType({})

    def focus_pid(self, pid: str) -> None:
        move_to_row(self, pid)


class PathPane(DataTable[Text]):
    view: reactive[View | None] = reactive(None, always_update=True, init=False, repaint=False)

    def watch_view(self, view: View | None) -> None:
        if view is not None:
            self.show(view.path, view.kernel_marks, view.kernel_verdict, view.counters)

    def on_mount(self) -> None:
        bound_render_caches(self)
        self.cursor_type = "row"
        self._counting(False)
        self.border_title = _("Path")

    _counts_shown: bool | None = None

    def _counting(self, counts: bool) -> None:
        """The columns; live, a "pkts" column with each rule's packets since the path was selected."""
        if counts == self._counts_shown:
            return
        self._counts_shown = counts
        self.clear(columns=True)
        self.add_column("#")
        if counts:
            self.add_column("+pkts")
        self.add_column(_("chain"), width=CHAIN_WIDTH)
        self.add_column(_("where"))

    def show(self, path: Path | None, kernel: Mapping[int, str] | None = None, kernel_verdict: str = "",
             counters: Mapping[int, int | None] | None = None) -> None:
        """`kernel`: after `verify`, ✓ or ≠ per rule hop (the kernel showed that rule there, or not).
        `counters`: live, the packets each rule hop counted since the path was selected."""
        self._counting(counters is not None)
        pal = palette(self)
        kernel = kernel or {}
        rows = []
        if path is None:
            empty = [literal("")] * (2 if counters is not None else 1)
            rows.append(("-none-", [*empty, literal(_("select a port (Enter)"), "italic")]))
        else:
            for i, h in enumerate(path.hops, 1):
                style = pal(UNCERTAIN) if h.uncertain else ""
                # A rule hop names its chain; any other hop names its kind in that column, so the rule
                # text gets the width (at 100 columns its target and ports must show).
                if h.chain:
                    chain = literal(f"{h.family + ' ' if h.family else ''}{h.table}/{h.chain}", style)
                else:
                    chain = literal(word(h.kind), "italic " + style)
                if h.kind == "rule":
                    where = h.rule if h.family else rule_gist(h.rule)
                else:
                    where = _("policy {policy}").format(policy=h.policy) if h.kind == "policy" else h.name
                mark = kernel.get(i - 1, "")
                # docker-proxy's own connection is leg 2; its hops say so in the number.
                number = f"{i} L{h.leg}" if h.leg > 1 else str(i)
                number_cell = join(number, (f" {mark}", pal("$success" if mark == "✓" else "$error"))) if mark \
                    else literal(number)
                cells = [number_cell, chain, literal(where, style)]
                if counters is not None:
                    counted = counters.get(i - 1, "")
                    shown = _("no counter") if counted is None else f"+{counted}" if counted else counted
                    cells.insert(1, literal(shown, "bold" if counted else "dim"))
                rows.append((f"hop{i}", cells))
        sync_rows(self, rows)
        if path is not None:
            verdict = (word(path.verdict), pal(VERDICT_STYLE.get(path.verdict, "")))
            self.border_title = Text.assemble(_("Path — "), verdict,
                                              _(" (via {via})").format(via=word(path.via)) if path.via else "",
                                              (f" — {kernel_verdict}" if kernel_verdict else "", "bold"))
        else:
            self.border_title = _("Path")


class Explanation(Static):
    step: reactive[Step | None] = reactive(None, always_update=True, init=False, repaint=False)
    _shown: tuple[object, ...] = ()

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        """Static.update lays the whole screen out again; a container event re-sets the same step,
        and that relayout was most of the frame that shows the event."""
        shown = (content.plain, content.style, tuple(content.spans)) if isinstance(content, Text) else (content,)
        if shown != self._shown:
            self._shown = shown
            # Its height is the pane's (100%) except where the stylesheet says auto (compact
            # screens): only then can new text change the layout.
            height = self.styles.height
            super().update(content, layout=layout and (height is None or height.is_auto))

    def watch_step(self, step: Step | None) -> None:
        if step is not None:
            self.show_hop(step.path, step.index, list(step.findings))

    def show_hop(self, path: Path | None, index: int, findings: list[Finding] | None = None) -> None:
        pal = palette(self)
        if path is None:
            self.update(literal(_("Pick a port in the Containers pane and press Enter. "
                                  "o changes the origin; n/p step through the hops."), "italic"))
            return
        if 0 <= index < len(path.hops):
            h = path.hops[index]
            head = join((_("hop {n}/{total} ").format(n=index + 1, total=len(path.hops)), "bold"),
                        (f"[{word(h.kind)}] ", pal("bold " + NOTE)))
            body = wrapped(h.explanation)
            if h.kind == "rule":
                # The rule in full, wrapped: the short form in the tables may be cut.
                body.append("\n")
                body.append_text(wrapped(f"{h.family + ' ' if h.family else ''}{h.table}/{h.chain}: {h.rule}", "dim"))
            if h.uncertain:
                body.append("\n" + _("uncertain: {why}").format(why=h.uncertain), style=pal(UNCERTAIN))
            self.update(Text.assemble(head, body))
        else:
            text = Text.assemble(wrapped(path.summary, pal(VERDICT_STYLE.get(path.verdict, ""))))
            for f in findings or ():
                mark, style = FINDING_MARK.get(f.severity) or ("", "")
                text.append("\n")
                text.append(f"{mark or '•'} ", pal(style) or "dim")
                text.append_text(wrapped(f.reason))
                if f.evidence:
                    text.append("\n    ")
                    text.append_text(wrapped(f.evidence, "dim"))
            self.update(text)
