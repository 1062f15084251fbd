"""The app's panes. Each takes a HostState (and the traced Path) and shows it; none does I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable, Static, Tree
from textual.widgets.data_table import RowDoesNotExist

from tui.model import Container, HostState, PortBinding, veth_owner
from tui.session import PortChoice

if TYPE_CHECKING:
    from tui.paths.engine import Path
from tui.render import PORT_KIND_STYLE, VERDICT_STYLE, join, literal, wrapped

HIGHLIGHT = "bold reverse"


def move_to_row(table: DataTable, key: str) -> None:
    """Put the cursor on the row with that key; a row that is not shown (filtered out) is skipped."""
    try:
        table.move_cursor(row=table.get_row_index(key))
    except RowDoesNotExist:
        pass


def sync_rows(table: DataTable, rows: list[tuple[str, list[Text]]]) -> None:
    """Make a keyed table show exactly `rows`, in that order; the cursor stays on its row.

    Idempotent and order-free: whatever the table showed before (another state, a partial update,
    the same rows), afterwards it shows these rows. A key given twice is shown once (the first):
    live data is not ours to trust, and a duplicate key must never reach DataTable.add_row.
    """
    unique: dict[str, list[Text]] = {}
    for key, cells in rows:
        unique.setdefault(key, cells)
    current_key = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        current_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    existing = [rk.value for rk in table.rows]
    kept = [k for k in existing if k in unique]
    # Rows can be changed in place and new ones appended, but DataTable cannot insert in the middle:
    # when the kept rows are out of order or a new row belongs before an old one, start afresh.
    if list(unique)[:len(kept)] != kept:
        table.clear()
        existing, kept = [], []
    for key in existing:
        if key not in unique:
            table.remove_row(key)
    columns = list(table.columns)
    present = set(kept)
    for key, cells in unique.items():
        if key in present:
            for col, cell in zip(columns, cells, strict=False):
                old = table.get_cell(key, col)
                if not isinstance(old, Text) or (old.plain, old.style, old.spans) != (cell.plain, cell.style,
                                                                                     cell.spans):
                    table.update_cell(key, col, cell)
        else:
            table.add_row(*cells, key=key)
    if current_key is not None and current_key in unique:
        table.move_cursor(row=table.get_row_index(current_key), animate=False)


def port_kind(b: PortBinding) -> str:
    if not b.published:
        return "expose-only"
    if b.loopback_only:
        return "loopback"
    if b.ephemeral:
        return "ephemeral"
    return "published"


class ContainersPane(DataTable):
    BORDER_TITLE = "Containers & ports"

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("!", "container", "address", "port", "kind")
        self.border_title = self.BORDER_TITLE
        self.border_subtitle = Text.assemble(("published ", "green"), ("loopback ", "yellow"),
                                             ("ephemeral ", "cyan"), ("expose-only ", "dim"),
                                             ("✖", "bold red"), ("▲", "yellow"), (" findings", "dim"))
        self.choices: dict[str, PortChoice] = {}

    def show(self, state: HostState, path: Path | None, selected: str | None, filt: str = "") -> None:
        rows = []
        self.choices = {}
        for c in state.containers:
            ip = ", ".join(e.ip for e in c.endpoints if e.ip) or c.network_mode
            bindings = c.ports or ()
            if not bindings:
                if filt and filt not in c.name.lower():
                    continue
                rows.append((f"{c.id}|-", [literal(""), literal(c.name, _state_style(c)), literal(ip),
                                           literal("—"), literal("no ports", "dim")]))
                continue
            for b in bindings:
                choice = PortChoice(c.name, b, c.id)
                if filt and filt not in f"{c.name} {b.key}".lower():
                    continue
                self.choices[choice.key] = choice
                kind = port_kind(b)
                port = (join((f"{b.host_ip}:{b.host_port}", "bold"), " → ", f"{b.container_port}/{b.proto}")
                        if b.published else literal(f"{b.container_port}/{b.proto}"))
                if selected == choice.key:
                    port.stylize(HIGHLIGHT)
                rows.append((choice.key, [_finding_mark(state, c, b), literal(c.name, _state_style(c)),
                                          literal(ip), port, literal(kind, PORT_KIND_STYLE[kind])]))
        if not rows:
            reason = "no containers" if "docker" not in state.missing else "Docker not reachable (see status)"
            rows.append(("-empty-", [literal(""), literal(reason, "italic"), literal(""), literal(""), literal("")]))
        sync_rows(self, rows)

    def choice_at_cursor(self) -> PortChoice | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.choices.get(key)


FINDING_MARK = {"problem": ("✖", "bold red"), "warn": ("▲", "yellow"), "info": ("", "")}


def _finding_mark(state: HostState, c: Container, b: PortBinding) -> Text:
    from tui.paths.findings import port_findings

    found = port_findings(state, c, b, deep=False)
    return literal(*FINDING_MARK[found[0].severity]) if found else literal("")


def _state_style(c: Container) -> str:
    return "" if c.state == "running" else "dim"


class BridgesPane(Tree):
    def on_mount(self) -> None:
        self.border_title = "Bridges & veths"
        self.show_root = False
        self.guide_depth = 2
        self.node_by_key: dict[str, object] = {}

    def show(self, state: HostState, path: Path | None) -> None:
        on_path = {h.name for h in path.hops if h.kind in ("bridge", "veth")} if path else set()
        self.clear()
        self.node_by_key = {}
        if "links" in state.missing:
            self.root.add_leaf(literal("links not captured (see status)", "italic"))
            return
        bridges = [link for link in state.links if link.kind == "bridge"]
        if not bridges:
            self.root.add_leaf(literal("no bridges on this host", "italic"))
        for br in bridges:
            net = next((n for n in state.networks if n.bridge == br.name), None)
            own = next((f"{a.ip}/{a.prefix}" for a in br.addresses if a.family == 4), "")
            # Docker 20.10 leaves the default bridge's IPAM gateway empty: the bridge's address is it.
            gateway = (net.gateway if net else "") or own.split("/")[0] or "-"
            subnet = (net.subnet if net else "") or own
            label = join((br.name, HIGHLIGHT if br.name in on_path else "bold"),
                         f"  {subnet} gw {gateway}",
                         (f"  [{net.name}]" if net else "", "dim"))
            node = self.root.add(label, expand=True)
            self.node_by_key[br.name] = node
            for port in (link for link in state.links if link.master == br.name):
                owner = veth_owner(state, port)
                who = f"{owner[0].name}:{owner[1]}" if owner else "?"
                leaf = node.add_leaf(join((port.name, HIGHLIGHT if port.name in on_path else ""), " ↔ ",
                                          (who, "cyan")))
                self.node_by_key[port.name] = leaf

    def focus_key(self, key: str) -> None:
        node = self.node_by_key.get(key)
        if node is not None:
            self.move_cursor(node)  # type: ignore[arg-type]


DOCKER_WORDS = ("DOCKER", "docker0", "br-")


class RulesPane(DataTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("step", "table/chain", "#", "pkts", "rule")
        self.border_title = "Rules (raw/mangle/nat/filter)"

    def show(self, state: HostState, path: Path | None, filt: str = "") -> None:
        steps: dict[str, list[int]] = {}
        deciding = None
        if path:
            for i, h in enumerate(path.hops, 1):
                if h.kind == "rule":
                    steps.setdefault(h.rule_ref, []).append(i)
                    if h.target in ("DROP", "REJECT", "DNAT", "ACCEPT", "MASQUERADE"):
                        deciding = h.rule_ref
        rows = []
        rs = state.rulesets.get(4)
        if rs is None:
            why = "rules not captured" if "rules" in state.missing else "no IPv4 rules read"
            rows.append(("-none-", [literal(""), literal(why, "italic"), literal(""), literal(""), literal("")]))
        else:
            other = state.other_rulesets.get(4)
            other_name = "nft" if state.facts.firewall_backend == "legacy" else "legacy"
            for prefix, ruleset in (("", rs), (other_name + ":", other)):
                if ruleset is not None:
                    rows += self._rule_rows(ruleset, prefix, steps, deciding, filt)
            if not rows:
                rows.append(("-none-", [literal(""), literal("no rules" + (" match the filter" if filt else ""),
                                                             "italic"), literal(""), literal(""), literal("")]))
        sync_rows(self, rows)

    @staticmethod
    def _rule_rows(rs, prefix: str, steps: dict[str, list[int]], deciding: str | None, filt: str) -> list:
        """Rows of one rule set; `prefix` names the other backend's rules ("legacy:") apart."""
        rows = []
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
                    where = f"{prefix.replace(':', ' ')}{table}/{chain.name}"
                    rows.append((ref, [literal(mark, "bold green"), literal(where, style),
                                       literal(r.index, style),
                                       literal("" if r.packets is None else r.packets, style),
                                       literal(r.text, style)]))
        return rows

    def focus_ref(self, ref: str) -> None:
        move_to_row(self, ref)


class ProxiesPane(DataTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("pid", "listens", "→ container", "mapping")
        self.border_title = "docker-proxy"

    def show(self, state: HostState, path: Path | None) -> None:
        on_path = {h.name for h in path.hops if h.kind == "proxy"} if path else set()
        rows = []
        by_ip = {e.ip: c.name for c in state.containers for e in c.endpoints}
        for p in state.proxies:
            style = HIGHLIGHT if str(p.pid) in on_path else ""
            owner = by_ip.get(p.container_ip, "no such container!")
            rows.append((str(p.pid), [literal(p.pid, style), literal(f"{p.host_ip}:{p.host_port}/{p.proto}", style),
                                      literal(f"{p.container_ip}:{p.container_port}", style), literal(owner, style)]))
        if not rows:
            if "proxies" in state.missing:
                why = "processes not captured"
            elif state.facts.userland_proxy is False:
                why = "userland proxy is off: no docker-proxy"
            else:
                why = "no docker-proxy running"
            rows.append(("-none-", [literal(""), literal(why, "italic"), literal(""), literal("")]))
        sync_rows(self, rows)

    def focus_pid(self, pid: str) -> None:
        move_to_row(self, pid)


class PathPane(DataTable):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("#", "leg", "hop", "where")
        self.border_title = "Path"

    def show(self, path: Path | None) -> None:
        rows = []
        if path is None:
            rows.append(("-none-", [literal(""), literal(""), literal("select a port (Enter)", "italic"), literal("")]))
        else:
            for i, h in enumerate(path.hops, 1):
                where = h.rule or (f"{h.table}/{h.chain} policy {h.policy}" if h.kind == "policy" else h.name)
                style = "magenta" if h.uncertain else ""
                rows.append((f"hop{i}", [literal(i), literal(h.leg), literal(h.kind, "bold " + style),
                                         literal(where, style)]))
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if path is not None:
            self.border_title = Text.assemble("Path — ", (path.verdict, VERDICT_STYLE.get(path.verdict, "")),
                                              f" (via {path.via})" if path.via else "")
        else:
            self.border_title = "Path"


class Explanation(Static):
    def show_hop(self, path: Path | None, index: int, findings: list | None = None) -> None:
        if path is None:
            self.update(literal("Pick a port in the Containers pane and press Enter. "
                                "o changes the origin; n/p step through the hops.", "italic"))
            return
        if 0 <= index < len(path.hops):
            h = path.hops[index]
            head = join((f"hop {index + 1}/{len(path.hops)} ", "bold"), (f"[{h.kind}] ", "bold cyan"))
            body = wrapped(h.explanation)
            if h.uncertain:
                body.append(f"\nuncertain: {h.uncertain}", style="magenta")
            self.update(Text.assemble(head, body))
        else:
            text = Text.assemble(wrapped(path.summary, VERDICT_STYLE.get(path.verdict, "")))
            for f in findings or ():
                mark, style = FINDING_MARK.get(f.severity) or ("", "")
                text.append("\n")
                text.append(f"{mark or '•'} ", style or "dim")
                text.append_text(wrapped(f.reason))
                if f.evidence:
                    text.append("\n    ")
                    text.append_text(wrapped(f.evidence, "dim"))
            self.update(text)
