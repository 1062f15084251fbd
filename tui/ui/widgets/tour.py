"""The talk's tour (`t`): one stop per screen, n/p between them, Enter opens the stop's path in the
journey view."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui.i18n import N_, _
from tui.lab.tour import TourStop
from tui.ui.render import NOTE, VERDICT_STYLE, join, palette, wrapped
from tui.ui.words import translate_bindings


class TourScreen(Screen[None]):
    BINDINGS = [Binding("n,right", "move(1)", N_("Next stop")), Binding("p,left", "move(-1)", N_("Prev stop")),
                Binding("enter", "journey", N_("Its journey")), Binding("escape,t,q", "dismiss", N_("Back"))]

    def __init__(self, stops: list[TourStop]) -> None:
        super().__init__()
        translate_bindings(self)
        self.stops = stops
        self.index = 0

    def compose(self) -> ComposeResult:
        yield Static(id="tour-title")
        with VerticalScroll(id="tour"):
            yield Static(id="tour-body")
        yield Footer()

    def on_mount(self) -> None:
        self._draw()

    def action_move(self, step: int) -> None:
        self.index = max(0, min(len(self.stops) - 1, self.index + step))
        self._draw()

    def action_journey(self) -> None:
        from tui.ui.widgets.journey import JourneyScreen

        stop = self.stops[self.index]
        if stop.path is None:
            self.notify(_("this stop has no path on this host"), severity="warning")
            return
        self.app.push_screen(JourneyScreen(stop.path))

    def _draw(self) -> None:
        pal = palette(self)
        stop = self.stops[self.index]
        self.query_one("#tour-title", Static).update(
            join((_("Tour {n}/{total}  ").format(n=self.index + 1, total=len(self.stops)), "bold"),
                 (stop.title, "bold " + pal(NOTE)), (_("   n/p: stop · Enter: its journey · Esc: back"), "dim")))
        body = wrapped(stop.question, "bold")
        body.append("\n\n")
        body.append_text(wrapped(stop.answer))
        if stop.source:
            body.append("\n\n")
            body.append_text(wrapped(stop.source, "italic dim"))
        if stop.path is not None:
            body.append("\n\n" + _("The path that explains it: "), style="bold")
            body.append_text(wrapped(stop.path.summary, pal(VERDICT_STYLE.get(stop.path.verdict, ""))))
        self.query_one("#tour-body", Static).update(body)
