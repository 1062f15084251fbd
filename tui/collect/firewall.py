"""Read the firewall rules Docker wrote, the way the host's backend needs.

- iptables-nft hosts: python-iptables (libiptc) sees only legacy tables, so parse `iptables-save -c`.
- iptables-legacy hosts: python-iptables, rendered back into iptables-save's rule syntax.
  If libiptc cannot be loaded, fall back to `iptables-legacy-save -c` and say so.
- When legacy tables hold rules beside nft ones, both are read and a warning says so: the kernel
  runs both, and the rules a user sees with `iptables` are only half of the story.

Never opens a legacy table that does not exist yet: libiptc would create it (a change to the host).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field

from tui.collect.iptables_save import backend_of, beside_warning, parse_iptables_save
from tui.collect.run import CommandFailed, run
from tui.i18n import _
from tui.model import Chain, Rule, RuleSet, Warning_

_SAVE = {4: "iptables", 6: "ip6tables"}
LIST_NATIVE_ONLY_FROM = 2000  # iptables-nft rules; below that `nft -j list ruleset` takes ~20 ms
_LEGACY_NAMES = {4: "/proc/net/ip_tables_names", 6: "/proc/net/ip6_tables_names"}


@dataclass
class FirewallResult:
    backend: str = "unknown"
    rulesets: dict[int, RuleSet] = field(default_factory=dict)
    other_rulesets: dict[int, RuleSet] = field(default_factory=dict)
    raw_text: dict[str, str] = field(default_factory=dict)  # file name in a bundle -> text
    nft_json: str | None = None  # `nft -j list ruleset`, None when not read
    nft_unread: str = ""  # why not
    warnings: list[Warning_] = field(default_factory=list)


def detect_backend() -> tuple[str, list[Warning_]]:
    """The backend of the `iptables` command Docker runs: 'nft' or 'legacy'."""
    try:
        out = run(["iptables", "-V"]).stdout
    except CommandFailed as exc:
        return "unknown", [Warning_("firewall", _("cannot tell the iptables backend: {error}").format(error=exc),
                                    _("install iptables, or capture the rules on the host"))]
    if "nf_tables" in out:
        return "nft", []
    if "legacy" in out:
        return "legacy", []
    return "legacy", []  # iptables < 1.8 printed no backend: always legacy


def legacy_tables(family: int) -> list[str]:
    try:
        with open(_LEGACY_NAMES[family]) as fh:
            return [t.strip() for t in fh if t.strip()]
    except OSError:
        return []


def collect_firewall(read_nft: bool = True, backend: str | None = None,
                     rules_before: int | None = None) -> FirewallResult:
    """Every rule of both families. `backend`: the one a collection a moment ago found (a rule change
    re-reads the rules only; the full collection that follows detects it again). `rules_before`: how
    many rules that collection found; below LIST_NATIVE_ONLY_FROM the whole nft listing is read
    beside iptables-save instead of after it (only the speed depends on it, not what is read)."""
    from concurrent.futures import ThreadPoolExecutor

    result = FirewallResult()
    if backend is None:
        backend, warnings = detect_backend()
        result.warnings += warnings
    result.backend = backend
    # The reads are child processes: run together, they cost the slowest one, not their sum (a rule
    # change is shown after them). Results and warnings are merged in a fixed order.
    with ThreadPoolExecutor(max_workers=5, thread_name_prefix="dockport-rules") as pool:
        beside = read_nft and rules_before is not None and rules_before < LIST_NATIVE_ONLY_FROM
        nft_listing = pool.submit(read_nft_ruleset) if beside else None
        if backend == "legacy":
            _read_legacy_backend(result)
        else:
            _read_nft_backend(result, backend, pool)
        if nft_listing is not None:
            result.nft_json, result.nft_unread = nft_listing.result()
    if nft_listing is None and read_nft:
        nft_side = [(fam, rs) for fam, number in (("ip", 4), ("ip6", 6)) if (rs := result.rulesets.get(number))
                    and "legacy" not in rs.source]
        # Listing them again costs about 0.1 ms a rule: worth avoiding on a large host, while on a
        # small one the whole listing is cheaper than importing pyroute2 to list the tables.
        many = sum(1 for _fam, rs in nft_side for _rule in rs.all_rules()) >= LIST_NATIVE_ONLY_FROM
        shown = {(fam, table) for fam, rs in nft_side for table in rs.tables} if many else set()
        result.nft_json, result.nft_unread = read_nft_ruleset(shown)
    elif not read_nft:
        result.nft_json, result.nft_unread = None, "not asked for"
    return result


def family_written_by(program: str) -> int | None:
    """The one address family whose iptables-nft tables a commit by `program` (the kernel's name of
    the committing process, as xtables-monitor prints it: at most 15 characters) can have changed.
    iptables and its -nft/-restore variants write IPv4 tables only, ip6tables IPv6 only. None: any
    table, native ones included (nft, a daemon writing over netlink, arptables, a name not known)."""
    if program.startswith("ip6tables"):
        return 6
    if program.startswith("iptables"):
        return 4
    return None


def read_iptables_family(family: int) -> FirewallResult:
    """Only one family's `iptables-save` (iptables-nft): what a commit by iptables can have changed."""
    result = FirewallResult(backend="nft")
    rs = _read_save(family, f"{_SAVE[family]}-save", result)
    if rs is not None:
        result.rulesets[family] = rs
    result.nft_unread = "not asked for"
    return result


def _read_legacy_backend(result: FirewallResult) -> None:
    for family in (4, 6):
        rs = _read_legacy(family, result, prefer_iptc=True)
        if rs is not None:
            result.rulesets[family] = rs
        nft = _read_nft_beside_legacy(family, result)
        if nft is not None and not nft.passes_everything:
            result.other_rulesets[family] = nft
            result.warnings.append(beside_warning(family, "nft", "legacy", nft, f"{_SAVE[family]}-nft-save"))


def _read_nft_backend(result: FirewallResult, backend: str, pool: Executor) -> None:
    """iptables-save of both families, and iptables-legacy-save where legacy tables exist beside them."""

    def save(family: int, command: str) -> tuple[RuleSet | None, FirewallResult]:
        part = FirewallResult()
        return _read_save(family, command, part), part

    def legacy(family: int) -> tuple[RuleSet | None, FirewallResult]:
        part = FirewallResult()
        return _read_legacy(family, part, prefer_iptc=False), part

    saves = {family: pool.submit(save, family, f"{_SAVE[family]}-save") for family in (4, 6)}
    legacies = {family: pool.submit(legacy, family) for family in (4, 6)
                if backend == "nft" and legacy_tables(family)}
    for family in (4, 6):
        rs, part = saves[family].result()
        _merge(result, part)
        if rs is not None:
            result.rulesets[family] = rs
        if family not in legacies:
            continue
        rs, part = legacies[family].result()
        _merge(result, part)
        if rs is not None and not rs.passes_everything:
            result.other_rulesets[family] = rs
            result.warnings.append(beside_warning(family, "legacy", "nft", rs, f"{_SAVE[family]}-legacy-save"))


def _merge(result: FirewallResult, part: FirewallResult) -> None:
    result.raw_text.update(part.raw_text)
    result.warnings += part.warnings


def read_nft_ruleset(shown_by_iptables: set[tuple[str, str]] | frozenset = frozenset()) -> tuple[str | None, str]:
    """Every native nftables table of this network namespace, as `nft -j list ruleset` prints them.
    (None, why) when they cannot be read. The tables iptables-nft keeps are read by iptables-save
    already: on a host with 20,000 iptables rules, `nft -j list ruleset` takes 2 s and prints 10 MB
    of them, so where those tables are known the native ones are listed and read one by one."""
    if not shutil.which("nft"):
        return None, "no nft command"
    if shown_by_iptables:
        native = _native_tables_only(shown_by_iptables)
        if native is not None:
            return native, ""
    try:
        return run(["nft", "-j", "list", "ruleset"]).stdout, ""
    except CommandFailed as exc:
        return None, str(exc)


# nfgen_family of a table (NFPROTO_*) -> the family word nft prints
_NFPROTO = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}


def _native_tables_only(shown_by_iptables: set[tuple[str, str]] | frozenset) -> str | None:
    """The native tables, one `nft -j list table` each, joined into one ruleset document. The table
    list comes over netlink (`nft list tables` fetches every rule first: 1 s at 20,000). None when
    any step fails: the caller then reads the whole ruleset."""
    import json

    try:
        from pyroute2.nftables.main import NFTables

        with NFTables(nfgen_family=0) as nft:
            names = [(_NFPROTO.get(t["nfgen_family"], ""), t.get_attr("NFTA_TABLE_NAME")) for t in nft.get_tables()]
        items: list = []
        meta: list = []
        for family, name in names:
            if (family, name) in shown_by_iptables:
                continue
            if not family or not isinstance(name, str):
                return None
            doc = json.loads(run(["nft", "-j", "list", "table", family, name]).stdout)
            listed = doc["nftables"]
            meta = meta or [i for i in listed if "metainfo" in i]
            items += [i for i in listed if "metainfo" not in i]
    except Exception:  # netlink, a table gone between the list and its read, odd JSON: read it all
        return None
    return json.dumps({"nftables": meta + items})


def _read_nft_beside_legacy(family: int, result: FirewallResult) -> RuleSet | None:
    """On a legacy host, the nft half that `iptables` no longer shows (left over from a switch)."""
    command = f"{_SAVE[family]}-nft-save"
    if not shutil.which(command):
        return None
    return _read_save(family, command, result, quiet=True)


def _read_save(family: int, command: str, result: FirewallResult, quiet: bool = False) -> RuleSet | None:
    try:
        proc = run([command, "-c"])
    except CommandFailed as exc:
        if not quiet:
            result.warnings.append(Warning_("firewall", _("IPv{family} rules not read: {error}").format(
                family=family, error=exc), _hint_for(exc), unread=True))
        return None
    name = f"{command}.txt" if command != f"{_SAVE[family]}-save" else f"{_SAVE[family]}-save.txt"
    result.raw_text[name] = proc.stdout
    if proc.stderr.strip() and not quiet:
        # e.g. "# Warning: iptables-legacy tables present": a finding, not noise.
        result.warnings.append(Warning_("firewall", f"{command}: {proc.stderr.strip().splitlines()[0]}"))
    rs, warnings = parse_iptables_save(proc.stdout.splitlines(), family,
                                       f"{command} ({'nf_tables' if backend_of(proc.stdout) == 'nft' else 'legacy'})")
    result.warnings += warnings
    return rs


def _hint_for(exc: CommandFailed) -> str:
    if exc.missing:
        return _("install the iptables package, or capture a bundle on a host that has it")
    if exc.permission:
        return _("run as root (sudo dockport-tui), or load a capture bundle made as root")
    return ""


def _read_legacy(family: int, result: FirewallResult, prefer_iptc: bool) -> RuleSet | None:
    names = legacy_tables(family)
    if not names:
        # No legacy table exists (or /proc is unreadable): nothing to read, and opening one would create it.
        return RuleSet(family, "python-iptables (legacy)", {}) if prefer_iptc else None
    if prefer_iptc:
        try:
            return read_with_iptc(family, names)
        except Exception as exc:  # libiptc missing, wrong ABI, no permission
            result.warnings.append(Warning_(
                "firewall", _("python-iptables could not read IPv{family} legacy rules ({error}); "
                              "falling back to {command}").format(family=family, error=exc,
                                                                  command=f"{_SAVE[family]}-legacy-save"),
                _("run as root; install libip4tc2/libip6tc2 for python-iptables"), unread=True))
    return _read_save(family, f"{_SAVE[family]}-legacy-save", result)


# -- python-iptables -> iptables-save syntax ---------------------------------------------------

_QUOTED_PARAMS = {"comment", "log-prefix", "nflog-prefix", "helper"}
_NO_QUOTE = set("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _save_string(value: str) -> str:
    """iptables' save_string(): quote unless the value is only [A-Za-z0-9_-]."""
    if value and all(ch in _NO_QUOTE for ch in value):
        return value
    escaped = "".join("\\" + ch if ch in "\"\\'" else ch for ch in value)
    return f'"{escaped}"'


def _addr(value: str, family: int) -> tuple[bool, str] | None:
    negated = value.startswith("!")
    value = value.lstrip("!")
    net = ipaddress.ip_network(value, strict=False)
    if net.prefixlen == 0:
        return None
    return negated, f"{net.network_address}/{net.prefixlen}"


def _flag(parts: list[str], flag: str, value: str | None) -> None:
    if not value:
        return
    if value.startswith("!"):
        parts += ["!", flag, value[1:]]
    else:
        parts += [flag, value]


def render_iptc_rule(chain: str, rule, family: int) -> str:
    parts = ["-A", chain]
    for flag, value in (("-s", rule.src), ("-d", rule.dst)):
        a = _addr(value, family) if value else None
        if a:
            parts += (["!"] if a[0] else []) + [flag, a[1]]
    _flag(parts, "-i", rule.in_interface)
    _flag(parts, "-o", rule.out_interface)
    proto = rule.protocol
    if proto and proto.lstrip("!") not in ("ip", "ipv6", "all", "0"):
        _flag(parts, "-p", proto)
    for match in rule.matches:
        parts += ["-m", match.name]
        parts += _params(match.get_all_parameters())
    target = rule.target
    if target is not None and target.name:
        parts += ["-g" if getattr(target, "goto", False) else "-j", target.name]
        parts += _params(target.get_all_parameters())
    return " ".join(parts)


def _params(params: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for key, values in params.items():
        values = list(values)
        if values and values[0] == "!":
            out.append("!")
            values = values[1:]
        out.append(f"--{key}")
        if key in _QUOTED_PARAMS:
            out += [_save_string(v) for v in values]
        else:
            out += values
    return out


# libiptc (python-iptables) is not thread-safe: its table objects are shared per table and a
# refresh frees what another thread still walks (measured: a segfault that ended the app when the
# per-second counter read met a full collection). One reader at a time, in this process.
_IPTC_LOCK = threading.Lock()


def read_with_iptc(family: int, table_names: list[str]) -> RuleSet:
    with _IPTC_LOCK:
        return _read_with_iptc(family, table_names)


_iptc_import_error: Exception | None = None


def load_python_iptables() -> None:
    """Import python-iptables now, when this is the main thread of a legacy host with a legacy table.

    Its first import of `distutils` goes through setuptools' import hook, which (Python 3.11 and
    older) imports setuptools while it holds the interpreter's global import lock: a thread that
    imports anything at that moment can deadlock the process. Measured: `trace` on a legacy host
    hung for good in about one run of ten, the Docker SDK being imported in the collection's
    other thread. So the import happens here, before any collection thread starts, and a
    collection thread never imports it (see `_iptc_module`). On other hosts it costs two small
    /proc reads; the import itself takes ~0.3 s.

    An iptables-nft host never reads with python-iptables: the legacy tables beside its nft ones are
    read with iptables-legacy-save. Such empty legacy tables are common (anything that once ran
    iptables-legacy leaves them), and the import was most of a first collection there."""
    global _iptc_import_error
    if "iptc" in sys.modules or threading.current_thread() is not threading.main_thread():
        return
    if not (legacy_tables(4) or legacy_tables(6)):
        return
    if detect_backend()[0] == "nft":
        return
    try:
        import iptc  # noqa: F401
    except Exception as exc:  # libiptc missing or of the wrong ABI: the read says so and falls back
        _iptc_import_error = exc


def _iptc_module():
    module = sys.modules.get("iptc")
    if module is not None:
        return module
    if threading.current_thread() is threading.main_thread():
        import iptc  # deferred: loading libiptc is slow and fails on hosts without it

        return iptc
    if _iptc_import_error is not None:
        # A new exception each time: raising the stored one again would grow its traceback on every
        # read (the counters are read every second).
        raise RuntimeError(str(_iptc_import_error))
    raise RuntimeError(_("python-iptables was not loaded at start (the host was not on the legacy backend "
                         "or had no legacy table then), "
                         "and loading it beside other threads can hang the process"))


def _read_with_iptc(family: int, table_names: list[str]) -> RuleSet:
    iptc = _iptc_module()

    table_cls = iptc.Table if family == 4 else iptc.Table6
    tables: dict[str, dict[str, Chain]] = {}
    for name in table_names:
        table = table_cls(name)
        table.refresh()
        chains: dict[str, Chain] = {}
        for chain in table.chains:
            rules = []
            for i, rule in enumerate(chain.rules, 1):
                packets, nbytes = rule.get_counters()
                rules.append(Rule(name, chain.name, i, render_iptc_rule(chain.name, rule, family),
                                  packets, nbytes))
            policy = None
            p_packets = p_bytes = None
            if chain.is_builtin():
                pol, counters = chain.get_policy(), None
                policy = pol.name if pol is not None else None
                try:
                    counters = chain.get_counters()
                except Exception:
                    counters = None
                if counters:
                    p_packets, p_bytes = counters
            chains[chain.name] = Chain(chain.name, policy, tuple(rules), p_packets, p_bytes)
        tables[name] = chains
    return RuleSet(family, "python-iptables (legacy)", tables)


def legacy_present() -> bool:
    return any(os.path.exists(p) and legacy_tables(f) for f, p in _LEGACY_NAMES.items())
