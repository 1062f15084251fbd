"""The reachability matrix (`m`): every origin's verdict for the selected port at once, the way an
admin asks "who can reach this?". Enter on a row makes that origin the current one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.i18n import N_, _, word
from tui.paths.reach import Reachability, what_decided
from tui.ui.render import VERDICT_STYLE, literal, palette, short_rule, wrapped
from tui.ui.words import translate_bindings


class MatrixScreen(ModalScreen[str | None]):
    """Dismissed with the origin chosen (Enter), or None (Esc)."""

    BINDINGS = [Binding("escape,q,m", "dismiss(None)", N_("Close"))]

    def __init__(self, answer: Reachability) -> None:
        super().__init__()
        translate_bindings(self)
        self.answer = answer

    def compose(self) -> ComposeResult:
        a = self.answer
        m = a.mapping
        head = _("Who reaches {proto}/{port} (IPv{family})").format(
            proto=a.query.proto, port=a.query.port, family=a.query.family) + (
            f": {m.container.name}, {m.binding.key}" if m else _(": no container publishes it"))
        yield Static(wrapped(head + _("   Enter: trace from that origin · Esc: close")), id="matrix-head")
        yield DataTable(id="matrix", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        pal = palette(self)
        table.add_columns(_("origin"), _("verdict"), _("via"), _("deciding rule (or what decided)"))
        for i, r in enumerate(self.answer.rows):
            who = f"{r.origin} → {r.to}" if r.to else r.origin
            if r.path is None:
                table.add_row(literal(who), literal("—"), literal(""), literal(r.error, "dim"), key=str(i))
                continue
            verdict = str(r.path.verdict)
            table.add_row(literal(who), literal(word(verdict), pal(VERDICT_STYLE.get(verdict, ""))),
                          literal(word(r.path.via or "")), literal(_short(what_decided(r.path))), key=str(i))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row (the table's own select)."""
        row = self.answer.rows[event.cursor_row]
        self.dismiss(row.origin if row.to is None else f"{row.origin}|{row.to}")


def _short(decided: str) -> str:
    """An iptables rule as the panes show it, its chain in front ("DOCKER: ! -i br0 -p tcp ...")."""
    if decided.startswith("-A "):
        return f"{decided.split()[1]}: {short_rule(decided)}"
    return decided
