"""One measured figure of the benchmark table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    value: str
    target: str
    ok: bool | None  # None: not measured
    note: str = ""
