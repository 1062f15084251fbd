"""The language every sentence is written in: gettext catalogs, English by default.

Sentences are marked with `_()` where they are made (`N_()` where a constant is defined before the
language is known, translated with `_()` where it is shown). The catalogs live in
`tui/locale/<lang>/LC_MESSAGES/dockport.po`; the wheel carries them compiled (`.mo`, hatch_build.py).
A source checkout has only the `.po`: it is compiled in memory with Babel when first needed.

Only sentences change with the language: JSON keys, enum values, rule text, chain and tool names
never do.
"""

from __future__ import annotations

import gettext
import io
import os
from pathlib import Path

DOMAIN = "dockport"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "zh")

_current: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def _(message: str) -> str:
    """The message in the current language (the English text itself when there is no translation)."""
    return _current.gettext(message)


def N_(message: str) -> str:
    """Marks a constant for extraction; `_()` translates it where it is shown."""
    return message


def language() -> str:
    return _language


def language_from_environment(environ: dict[str, str] | None = None) -> str:
    """gettext's order (LANGUAGE, LC_ALL, LC_MESSAGES, LANG): the first one set decides."""
    env = os.environ if environ is None else environ
    for key in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key, "")
        if value:
            first = value.split(":")[0].lower()
            return "zh" if first.startswith("zh") else "en"
    return "en"


def set_language(lang: str | None = None) -> str:
    """Switch every later `_()` to `lang` ("en", "zh"; None: from the environment). Returns it."""
    global _current, _language
    chosen = (lang or language_from_environment()).lower().replace("-", "_").split("_")[0]
    if chosen not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: one of {', '.join(LANGUAGES)}")
    _current = gettext.NullTranslations() if chosen == "en" else _catalog(chosen)
    _language = chosen
    return chosen


def _catalog(lang: str) -> gettext.NullTranslations:
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    mo = folder / f"{DOMAIN}.mo"
    if mo.is_file():
        with mo.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    return gettext.GNUTranslations(io.BytesIO(compile_po(folder / f"{DOMAIN}.po")))


def compile_po(po: Path) -> bytes:
    """The `.mo` bytes of a `.po` catalog (Babel; fuzzy entries left out, as msgfmt does)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fp:
        catalog = read_po(fp)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


# Values of the model and the engine (port kinds, hop kinds, verdicts, ways in) as the panes name
# them. The values themselves never change (JSON, tests); only how they read on screen.
WORDS = {
    "published": N_("published"), "loopback": N_("loopback"), "ephemeral": N_("ephemeral"),
    "expose-only": N_("expose-only"), "routed": N_("routed"),
    "interface": N_("interface"), "rule": N_("rule"), "policy": N_("policy"), "route": N_("route"),
    "bridge": N_("bridge"), "veth": N_("veth"), "socket": N_("socket"), "proxy": N_("proxy"),
    "container": N_("container"), "local": N_("local"), "conntrack": N_("conntrack"), "client": N_("client"),
    "routing": N_("routing"),
    "info": N_("info"), "warn": N_("warn"), "problem": N_("problem"),
    "delivered": N_("delivered"), "refused": N_("refused"), "dropped": N_("dropped"), "rejected": N_("rejected"),
    "uncertain": N_("uncertain"),
    "nat": N_("nat"), "direct": N_("direct"),
}


def on_off(value: bool | None) -> str:
    """A setting that is on, off, or not known, as a sentence says it."""
    return {True: _("on"), False: _("off"), None: _("unknown")}[value]


def word(value: object) -> str:
    """A model value as shown in the current language (unknown values as they are)."""
    text = str(value)
    return _(WORDS[text]) if text in WORDS else text
