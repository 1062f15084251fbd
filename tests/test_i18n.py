"""Every sentence in Chinese: the catalog is complete, the language is chosen as a user expects, and
only sentences change (rule text, JSON keys and enum values never do)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tui import i18n
from tui.cli import main

REPO = Path(__file__).resolve().parent.parent
PO = REPO / "tui" / "locale" / "zh" / "LC_MESSAGES" / "dockport.po"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def english_after():
    yield
    i18n.set_language("en")


def _code_messages() -> set[str]:
    """Every message id the code marks (_() and N_()), as Babel extracts it."""
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(REPO / "tui"), method_map=[("**.py", "python")], keywords={"_": None, "N_": None}):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def _catalog():
    with PO.open("rb") as fp:
        return read_po(fp)


def test_every_sentence_of_the_code_has_a_chinese_translation():
    catalog = _catalog()
    code = _code_messages()
    assert len(code) > 300  # the engine, the panes, the journey, the tour, the lab, the CLI
    translated = {m.id: m.string for m in catalog if m.id and not m.fuzzy}
    missing = sorted(code - {k for k, v in translated.items() if v and v.strip()})
    assert not missing, f"{len(missing)} sentences without a Chinese translation (scripts/update-catalogs): " \
                        f"{missing[:5]}"


def test_translations_keep_every_placeholder_and_are_chinese():
    for m in _catalog():
        if not m.id:
            continue
        assert set(re.findall(r"\{\w+\}", m.id)) == set(re.findall(r"\{\w+\}", m.string)), m.id
        # Words such as "SVG" or "veth" stay as they are; every sentence is Chinese.
        if len(re.sub(r"\{\w+\}", "", m.id).split()) > 2:
            assert HAN.search(m.string), m.id


@pytest.mark.parametrize("environ, expected", [
    ({"LANG": "C.UTF-8"}, "en"),
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL overrides LANG
    ({"LANG": "C", "LC_ALL": "zh_CN.UTF-8"}, "zh"),
    ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh"),
])
def test_the_language_comes_from_the_environment_as_gettext_reads_it(environ, expected):
    assert i18n.language_from_environment(environ) == expected


def test_trace_in_chinese_changes_sentences_not_rules(capsys, english_after):
    assert main(["trace", "80", "--demo"]) == 0
    english = capsys.readouterr().out
    assert main(["trace", "80", "--demo", "--lang", "zh"]) == 0
    chinese = capsys.readouterr().out
    assert "目的地址转换" in chinese and "送达" in chinese
    assert "delivered" not in chinese and "rewrites the destination" not in chinese
    rules = [line.split("] ", 1)[1] for line in english.splitlines() if "[rule] " in line]
    assert len(rules) >= 8
    for rule in rules:  # each rule as the firewall wrote it, unchanged, in the same order
        assert f"] {rule}\n" in chinese
    assert chinese.index(rules[0]) < chinese.index(rules[-1])
    # --lang before the subcommand works too
    assert main(["--lang", "zh", "trace", "80", "--demo"]) == 0
    assert capsys.readouterr().out == chinese


def test_json_keys_and_values_do_not_change_with_the_language(capsys, english_after):
    assert main(["trace", "80", "--demo", "--json"]) == 0
    english = json.loads(capsys.readouterr().out)
    assert main(["trace", "80", "--demo", "--json", "--lang", "zh"]) == 0
    chinese = json.loads(capsys.readouterr().out)

    def shape(value, key=""):
        """Keys, enum-like values and rule text; sentences (explanations, summaries, reasons) left out."""
        if isinstance(value, dict):
            return {k: shape(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v, key) for v in value]
        if key in ("explanation", "summary", "reason", "uncertain", "doubts", "evidence"):
            return "<sentence>"
        return value

    assert shape(chinese) == shape(english)
    assert chinese["verdict"] == "delivered" and chinese["hops"][0]["kind"] == "interface"
    assert chinese["summary"] != english["summary"] and HAN.search(chinese["summary"])


def test_reach_in_chinese_keeps_its_columns_aligned_by_cell_width(capsys, english_after):
    from rich.cells import cell_len

    assert main(["reach", "80", "--demo", "--lang", "zh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[2]
    assert "来源" in header and "结论" in header
    # Each column starts at the same terminal cell on every row, the header's included: the
    # verdicts and the via words are Chinese (two cells a character), the origins are not.
    for column in (1, 2, 3):
        starts = set()
        for line in lines[2:]:
            values = re.split(r" {2,}", line)
            at = 0
            for i, value in enumerate(values[:column + 1]):
                at = line.index(value, at) + (len(value) if i < column else 0)
            starts.add(cell_len(line[:at]))
        assert len(starts) == 1, (column, starts)


def test_no_module_that_translates_uses_underscore_as_a_throwaway_name():
    """`port, _, proto = ...` in a function that also says `_("...")` makes `_` a string there:
    the sentence fails only on the path that says it (an interrupted verify did)."""
    import ast

    offenders = []
    for path in sorted((REPO / "tui").rglob("*.py")):
        tree = ast.parse(path.read_text())
        translates = any(isinstance(n, ast.ImportFrom) and n.module == "tui.i18n"
                         and any(a.name == "_" for a in n.names) for n in tree.body)
        if not translates:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
            if isinstance(node, ast.arg) and node.arg == "_":
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders
