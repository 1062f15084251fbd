"""Rule text (as iptables-save prints it) -> criteria and a target the engine can evaluate."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import lru_cache

# Base options of iptables itself (not of a match module).
_BASE = {
    "-s": "src", "--source": "src", "--src": "src",
    "-d": "dst", "--destination": "dst", "--dst": "dst",
    "-i": "iif", "--in-interface": "iif",
    "-o": "oif", "--out-interface": "oif",
    "-p": "proto", "--protocol": "proto",
}


@dataclass(frozen=True)
class Option:
    name: str  # without the leading dashes
    negated: bool
    values: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    module: str  # "base" for -s/-d/-i/-o/-p/-f
    options: tuple[Option, ...]


@dataclass(frozen=True)
class ParsedRule:
    chain: str
    matches: tuple[Match, ...]
    target: str  # "" when the rule has no target (counts packets only)
    goto: bool
    target_options: tuple[Option, ...] = field(default=())
    error: str = ""

    def target_opt(self, name: str) -> str:
        for o in self.target_options:
            if o.name == name:
                return " ".join(o.values)
        return ""

    def has_target_opt(self, name: str) -> bool:
        return any(o.name == name for o in self.target_options)


@lru_cache(maxsize=65536)
def parse_rule(text: str) -> ParsedRule:
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        return ParsedRule("", (), "", False, (), f"cannot split rule: {exc}")
    if len(tokens) < 2 or tokens[0] not in ("-A", "--append"):
        return ParsedRule("", (), "", False, (), "not an -A rule")
    chain = tokens[1]
    base: list[Option] = []
    matches: list[Match] = []
    module: str | None = None
    module_opts: list[Option] = []
    target = ""
    goto = False
    target_opts: list[Option] = []
    in_target = False
    negate = False
    i = 2

    def close_module() -> None:
        nonlocal module, module_opts
        if module is not None:
            matches.append(Match(module, tuple(module_opts)))
        module, module_opts = None, []

    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            negate = True
            i += 1
            continue
        if tok in ("-m", "--match") and not in_target:
            close_module()
            module = tokens[i + 1] if i + 1 < len(tokens) else ""
            i += 2
            continue
        if tok in ("-j", "--jump", "-g", "--goto"):
            close_module()
            target = tokens[i + 1] if i + 1 < len(tokens) else ""
            goto = tok in ("-g", "--goto")
            in_target = True
            i += 2
            continue
        if tok in _BASE and not in_target:
            close_module()
            value = tokens[i + 1] if i + 1 < len(tokens) else ""
            base.append(Option(_BASE[tok], negate, (value,)))
            negate = False
            i += 2
            continue
        if tok in ("-f", "--fragment") and not in_target:
            close_module()
            base.append(Option("fragment", negate, ()))
            negate = False
            i += 1
            continue
        if tok.startswith("--"):
            name = tok[2:]
            values = []
            i += 1
            while i < len(tokens) and not tokens[i].startswith("--") and tokens[i] not in (
                    "!", "-m", "-j", "-g") and tokens[i] not in _BASE:
                values.append(tokens[i])
                i += 1
            opt = Option(name, negate, tuple(values))
            negate = False
            if in_target:
                target_opts.append(opt)
            elif module is not None:
                module_opts.append(opt)
            else:
                # e.g. --dport straight after -p tcp without -m tcp (iptables adds the module)
                module = "_implicit"
                module_opts.append(opt)
            continue
        return ParsedRule(chain, (), "", False, (), f"unexpected token {tok!r}")
    close_module()
    all_matches = ([Match("base", tuple(base))] if base else []) + matches
    return ParsedRule(chain, tuple(all_matches), target, goto, tuple(target_opts))
