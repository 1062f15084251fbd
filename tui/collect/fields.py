"""JSON from Docker and `ip -j`, read field by field without trusting its shape.

Any field may be missing, null, empty, of another type or cut short (a capture taken by hand, a
Docker version we never saw). `Doc` reads a value by its path; a value of the wrong type is written
down as a problem that names the field, and the reader gets the default instead of an exception.
The collector turns the problems into warnings, and the answers they touch become uncertain.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any

_TYPES = {dict: "an object", list: "a list", str: "a string", int: "a number", bool: "true or false"}


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@functools.lru_cache(maxsize=65536)
def canonical_ip(text: str) -> str:
    """The address as Python writes it ("::" for "0:0::0"); ValueError when it is none. A dotted
    quad already in that form is returned as it is: a large host has thousands, each read twice."""
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    return str(ipaddress.ip_address(text))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return _TYPES.get(type(value), type(value).__name__)


class Doc:
    def __init__(self, value: Any, where: str, problems: list[str], path: tuple[str, ...] = ()) -> None:
        self.value = value
        self.where = where  # "container web": what names this document to a person
        self.problems = problems
        self.path = path  # where this value sits in the document: ("NetworkSettings", "Networks", "x")

    def _at(self, value: Any, keys: tuple[str, ...]) -> Doc:
        return Doc(value, self.where, self.problems, self.path + keys)

    def _get(self, keys: tuple[str, ...]) -> Any:
        value = self.value
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def _wrong(self, keys: tuple[str, ...], wanted: str, value: object) -> None:
        self.problems.append(f"{self.where}: {'.'.join(self.path + keys)}: expected {wanted}, got {_kind(value)}")

    def _typed(self, keys: tuple[str, ...], kind: type, wanted: str) -> Any:
        value = self._get(keys)
        if value is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
        self._wrong(keys, wanted, value)
        return None

    def obj(self, *keys: str) -> Doc:
        """The object at `keys` ({} when missing or not an object)."""
        value = self._typed(keys, dict, "an object")
        return self._at(value or {}, keys)

    def text(self, *keys: str, default: str = "") -> str:
        value = self._typed(keys, str, "a string")
        return value if value is not None else default

    def integer(self, *keys: str, default: int = 0) -> int:
        value = self._get(keys)
        if value is None or value == "":
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        self._wrong(keys, "a number", value)
        return default

    def flag(self, *keys: str) -> bool:
        value = self._get(keys)
        if value is None or isinstance(value, bool):
            return bool(value)
        self._wrong(keys, "true or false", value)
        return False

    def entries(self, *keys: str) -> list[tuple[str, Doc]]:
        """(key, object) of an object of objects; a null member is an empty object."""
        out = []
        for key, value in self.obj(*keys).value.items():
            member = self._at(value if isinstance(value, dict) else {}, (*keys, str(key)))
            if value is not None and not isinstance(value, dict):
                member._wrong((*keys, str(key)), "an object", value)
            out.append((str(key), member))
        return out

    def raw_entries(self, *keys: str) -> list[tuple[str, Doc]]:
        """(key, value) of an object whatever the values are (each wrapped, not checked)."""
        return [(str(k), self._at(v, (*keys, str(k)))) for k, v in self.obj(*keys).value.items()]

    def keys(self, *keys: str) -> list[str]:
        return [str(k) for k in self.obj(*keys).value]

    def items(self, *keys: str) -> list[Any]:
        """The list at `keys` ([] when missing or not a list)."""
        value = self._typed(keys, list, "a list")
        return list(value or [])

    def objects(self, *keys: str) -> list[Doc]:
        """The objects of the list at `keys`; members that are not objects are skipped and noted."""
        out = []
        for i, value in enumerate(self.items(*keys)):
            if isinstance(value, dict):
                out.append(self._at(value, (*keys, str(i))))
            elif value is not None:
                self._wrong((*keys, str(i)), "an object", value)
        return out

    def strings(self, *keys: str) -> list[str]:
        out = []
        for i, value in enumerate(self.items(*keys)):
            if isinstance(value, str):
                out.append(value)
            elif value is not None:
                self._wrong((*keys, str(i)), "a string", value)
        return out

    def address(self, *keys: str) -> str:
        """An IP address, or "" (noted when something else was there)."""
        value = self.text(*keys)
        if not value:
            return ""
        try:
            return canonical_ip(value)
        except ValueError:
            self.problems.append(f"{self.where}: {'.'.join(self.path + keys)}: {value!r} is not an IP address")
            return ""

    def network(self, *keys: str) -> str:
        """A CIDR network as written (host bits allowed), or "" (noted when something else was there)."""
        value = self.text(*keys)
        if not value:
            return ""
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            self.problems.append(f"{self.where}: {'.'.join(self.path + keys)}: {value!r} is not a network")
            return ""
        return value
