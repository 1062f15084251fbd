"""The line at the top: the app's title and subtitle (the source and the host's name).

Textual's Header draws the same line from four widgets (an icon that opens the command palette, a
title, a clock space, the bar); each is styled twice before the first frame. One Static is enough
here: the palette has its key (Ctrl+P, in the footer)."""

from __future__ import annotations

from textual.widgets import Static

from tui.ui.render import join


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        content-align: center middle;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "title", self._show, init=False)
        self.watch(self.app, "sub_title", self._show)

    def _show(self) -> None:
        # The subtitle holds the host's name: literal, its control characters made visible.
        title, sub_title = self.app.title, self.app.sub_title
        self.update(join(title, (" — ", "dim"), (sub_title, "dim")) if sub_title else join(title))
