"""The reference for "first frame": the smallest Textual app that shows one DataTable of N rows."""

import sys

from textual.app import App, ComposeResult
from textual.widgets import DataTable


class Minimal(App[None]):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("container", "address", "port", "kind")
        for i in range(self.rows):
            table.add_row(f"row-{i}", "172.17.0.2", "0.0.0.0:80 → 80/tcp", "published")


if __name__ == "__main__":
    Minimal(int(sys.argv[1]) if len(sys.argv) > 1 else 20).run()
