"""The one place where strings become renderables.

Container names, labels, network names, rule comments and command lines are not ours: they are
always wrapped in rich.text.Text so that no markup in them is ever interpreted ("[/oops]",
"[fe80::1]:80", "[@click=app.quit]").
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.errors import StyleSyntaxError
from rich.style import Style
from rich.text import Text

if TYPE_CHECKING:
    from textual.dom import DOMNode

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


def short_rule(text: str) -> str:
    """A rule as the panes show it: without `-A CHAIN` (the chain has its own column) and without the
    `-m tcp` / `-m udp` that `-p tcp` / `-p udp` already implies. Everything else, as written."""
    words = text.split(" ")
    if len(words) >= 2 and words[0] in ("-A", "-I"):
        words = words[2:]
    out: list[str] = []
    proto = ""
    skip = 0
    for i, w in enumerate(words):
        if skip:
            skip -= 1
            continue
        if w == "-p" and i + 1 < len(words):
            proto = words[i + 1]
        if w == "-m" and i + 1 < len(words) and words[i + 1] == proto and proto in ("tcp", "udp", "sctp"):
            skip = 1
            continue
        out.append(w)
    return " ".join(out)


# `iptables -L`'s words for what decides: the target with its arguments and the ports.
_PORT_WORDS = {"--dport": "dpt:", "--destination-port": "dpt:", "--sport": "spt:", "--source-port": "spt:",
               "--dports": "dpts:", "--destination-ports": "dpts:", "--sports": "spts:", "--source-ports": "spts:"}
_TARGET_WORDS = {"--to-destination": "", "--to-source": "", "--to-ports": "ports:"}


def rule_gist(text: str) -> str:
    """A rule as the path table shows it, what decides first: the target and its arguments, then the
    protocol and ports (as `iptables -L` writes them), then every other match as written.
    `! -i br-79b4db416e28 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.20.0.5:80` becomes
    `DNAT 172.20.0.5:80 tcp dpt:80 ! -i br-79b4db416e28`: a narrow column still shows where it
    sends the packet and for which port; the full rule is beside it."""
    words = short_rule(text).split(" ")
    jump = next((i for i, w in enumerate(words) if w in ("-j", "-g") and i + 1 < len(words)), None)
    if jump is None:
        return " ".join(words)
    target = ["goto" if words[jump] == "-g" else "", words[jump + 1]]
    args = words[jump + 2:]
    for i, w in enumerate(args):
        if w in _TARGET_WORDS and i + 1 < len(args):
            args[i + 1] = _TARGET_WORDS[w] + args[i + 1]
            args[i] = ""
    head, proto, ports, rest = words[:jump], "", [], []
    i = 0
    while i < len(head):
        w, nxt = head[i], head[i + 1] if i + 1 < len(head) else ""
        negated = w == "!" and nxt in _PORT_WORDS
        if negated:
            w, nxt = nxt, head[i + 2] if i + 2 < len(head) else ""
        if w == "-p" and nxt and (i == 0 or head[i - 1] != "!"):
            proto, i = nxt, i + 2
        elif w in _PORT_WORDS and nxt:
            ports.append(("!" if negated else "") + _PORT_WORDS[w] + nxt)
            i += 3 if negated else 2
        elif w == "-m" and nxt == "multiport":
            i += 2
        else:
            rest.append(w)
            i += 1
    return " ".join(x for x in [*target, *args, proto, *ports, *rest] if x)


def join(*parts: tuple[object, str] | str) -> Text:
    """Text.assemble of (value, style) pairs, each value literal."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for part in parts:
        if isinstance(part, tuple):
            out.append(str(part[0]).translate(CONTROL), style=part[1])
        else:
            out.append(part.translate(CONTROL))
    return out


# Colours are roles, written as the theme's variables ("$success"), never as colour names: a
# widget resolves them with `palette(widget)` when it draws, so a new theme recolours everything.
VERDICT_STYLE = {
    "delivered": "bold $success",
    "refused": "bold $warning",
    "dropped": "bold $error",
    "rejected": "bold $error",
    "uncertain": "bold $secondary",
}

PORT_KIND_STYLE = {
    "published": "$success",
    "loopback": "$warning",
    "ephemeral": "$primary",
    "expose-only": "dim",
    "routed": "$accent",  # -p on a routed network: open at the container's address, no host port
}

UNCERTAIN = "$secondary"
NOTE = "$accent"  # owners, hop kinds: a second colour beside the text
MARK = "bold $success"  # hop numbers on the rules that matched


class Palette:
    """Theme variables for Rich styles: "bold $error" becomes "bold #b93c5b" under the current theme."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self._variables = variables

    def __call__(self, style: str) -> str:
        words = []
        for word in style.split():
            if word.startswith("$"):
                word = self._variables.get(word[1:], "")
                if not _rich_colour(word):
                    continue  # a theme value Rich cannot draw (an ANSI theme's name): no colour
            words.append(word)
        return " ".join(words)


@functools.lru_cache(maxsize=256)
def _rich_colour(value: str) -> bool:
    try:
        Style.parse(value)
    except StyleSyntaxError:
        return False
    return bool(value)


def palette(widget: DOMNode) -> Palette:
    """The palette of the theme `widget`'s app runs now."""
    app = widget.app
    cached = _PALETTES.get(app.theme)
    if cached is None:
        cached = _PALETTES[app.theme] = Palette(dict(app.theme_variables))
    return cached


_PALETTES: dict[str, Palette] = {}  # by theme name: a theme's variables do not change
