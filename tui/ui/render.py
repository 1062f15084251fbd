"""The one place where strings become renderables.

Container names, labels, network names, rule comments and command lines are not ours: they are
always wrapped in rich.text.Text so that no markup in them is ever interpreted ("[/oops]",
"[fe80::1]:80", "[@click=app.quit]").
"""

from __future__ import annotations

from rich.text import Text

CONTROL = {i: f"\\x{i:02x}" for i in range(32) if i not in (9,)}
CONTROL[0x7F] = "\\x7f"
# Multi-line text keeps its line breaks; every other control character is made visible.
CONTROL_BUT_NEWLINE = {k: v for k, v in CONTROL.items() if k != 10}


def literal(value: object, style: str = "") -> Text:
    """A literal cell or label: never parsed as markup; control characters made visible."""
    text = str(value).translate(CONTROL)
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def wrapped(value: object, style: str = "") -> Text:
    """Literal text that may wrap and may hold line breaks (an explanation, a help page)."""
    return Text(str(value).translate(CONTROL_BUT_NEWLINE), style=style)


def join(*parts: tuple[object, str] | str) -> Text:
    """Text.assemble of (value, style) pairs, each value literal."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for part in parts:
        if isinstance(part, tuple):
            out.append(str(part[0]).translate(CONTROL), style=part[1])
        else:
            out.append(part.translate(CONTROL))
    return out


VERDICT_STYLE = {
    "delivered": "bold green",
    "refused": "bold yellow",
    "dropped": "bold red",
    "rejected": "bold red",
    "uncertain": "bold magenta",
}

PORT_KIND_STYLE = {
    "published": "green",
    "loopback": "yellow",
    "ephemeral": "cyan",
    "expose-only": "dim",
}
