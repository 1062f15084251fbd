"""Compile the gettext catalogs (tui/locale/*/LC_MESSAGES/*.po) into the wheel as .mo files."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CatalogsHook(BuildHookInterface):
    PLUGIN_NAME = "catalogs"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install reads the .po files of the checkout (tui/i18n.py)
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        out = Path(tempfile.mkdtemp(prefix="dockport-mo-"))
        for po in Path(self.root, "tui", "locale").glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as fp:
                catalog = read_po(fp)
            mo = out / po.relative_to(self.root).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with mo.open("wb") as fp:
                write_mo(fp, catalog)
            build_data["force_include"][str(mo)] = str(po.relative_to(self.root).with_suffix(".mo"))
