"""Words of the widgets that Textual keeps for us: key bindings, shown in the footer and the help."""

from __future__ import annotations

import dataclasses

from textual.dom import DOMNode

from tui.i18n import _


def translate_bindings(node: DOMNode) -> None:
    """The node's binding descriptions in the current language. BINDINGS are class constants, made
    before the language is chosen; Textual copies them into each node (textual 8.2.8, pinned)."""
    bindings = node._bindings.key_to_bindings
    for key, group in bindings.items():
        bindings[key] = [dataclasses.replace(b, description=_(b.description)) if b.description else b for b in group]

