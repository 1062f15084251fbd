"""Plain-text columns for the command line, measured in terminal cells: a Chinese character takes
two, so `str.ljust` would misalign every column after one (the TUI's widgets measure the same way)."""

from __future__ import annotations

from rich.cells import cell_len

__all__ = ["cell_len", "ljust", "rjust"]


def ljust(text: str, width: int) -> str:
    return text + " " * (width - cell_len(text))


def rjust(text: str, width: int) -> str:
    return " " * (width - cell_len(text)) + text
