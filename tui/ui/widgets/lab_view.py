"""The lab view: the reachability matrix of `dockport-tui lab status`, measured and predicted."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.i18n import N_, _, on_off, word
from tui.ui.render import literal, palette, wrapped
from tui.ui.words import translate_bindings


class LabScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,l", "dismiss", N_("Close")), Binding("r", "measure", N_("Measure again"))]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="lab-body"):
            yield Static(literal(_("Lab: measuring… (each cell is a real connection)"), "bold"), id="lab-head")
            yield DataTable(id="lab-table", cursor_type="cell")
            yield Static(id="lab-why")

    def on_mount(self) -> None:
        self.action_measure()

    def action_measure(self) -> None:
        self.query_one("#lab-head", Static).update(literal(_("Lab: measuring…"), "bold"))
        self._measure()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _measure(self) -> None:
        from tui.lab import lab

        try:
            matrix = lab.status()
        except Exception as exc:  # the lab is not up, no root, no daemon
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, matrix)

    def _show_error(self, message: str) -> None:
        self.query_one("#lab-head", Static).update(wrapped(
            _("Lab: {message}\nStart it with `sudo dockport-tui lab up` (and remove it with `lab down`).").format(
                message=message),
            palette(self)("$warning")))

    def _show(self, matrix) -> None:
        from tui.lab.experiments import CLIENT_TITLES, CLIENTS, EXPERIMENTS

        self.matrix = matrix
        pal = palette(self)
        table = self.query_one("#lab-table", DataTable)
        table.clear(columns=True)
        table.add_columns(_("experiment"), *(_(CLIENT_TITLES[c]) for c in CLIENTS))
        for exp in EXPERIMENTS:
            cells = []
            for client in CLIENTS:
                cell = matrix.cells[(exp.number, client)]
                style = ("bold $error reverse" if not cell.agrees else
                         "$success" if cell.measured else "dim" if cell.measured is None else "$error")
                cells.append(literal(cell.text, pal(style)))
            table.add_row(literal(f"{exp.number} {_(exp.title)}"), *cells, key=str(exp.number))
        bad = len(matrix.disagreements())
        self.query_one("#lab-head", Static).update(literal(
            _("Lab — ICC {icc}, userland proxy {proxy}: measured (predicted); ").format(
                icc=on_off(matrix.icc), proxy=on_off(matrix.userland_proxy))
            + (_("prediction and measurement agree everywhere") if not bad else
               _("{bad} cells disagree (!)").format(bad=bad)), "bold"))

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        from tui.lab.experiments import CLIENTS

        matrix = getattr(self, "matrix", None)
        if matrix is None or event.coordinate.column == 0:
            return
        number = event.coordinate.row + 1
        client = CLIENTS[event.coordinate.column - 1]
        cell = matrix.cells.get((number, client))
        if cell is not None:
            self.query_one("#lab-why", Static).update(wrapped(
                _("{number} / {client} → {target}: engine says {verdict}; deciding: {reason}").format(
                    number=number, client=client, target=cell.target or _("nothing to connect to"),
                    verdict=word(cell.verdict) if cell.verdict else "-", reason=cell.reason)))

