"""Capture bundles (format 1): load one into a HostState, or write one from the live host.

A bundle is a directory of plain command outputs (DESIGN §2). Every file is optional; a missing
file leaves its part "not captured", a broken one gives a warning naming the file and line.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from tui.collect.assemble import Pieces, assemble
from tui.collect.iptables_save import backend_of, beside_warning, parse_iptables_save
from tui.collect.linux_text import (
    container_ifaces_from_ip_json,
    ipsets_from_save,
    links_from_ip_json,
    listeners_from_ss,
    proxies_from_ps,
    routes_from_ip_json,
    sysctls_from_text,
)
from tui.collect.procfs import SYSCTL_PATTERN
from tui.i18n import _
from tui.model import HostState, Warning_

FORMAT = "dockport-bundle/1"
MAX_FILE_BYTES = 256 * 1024 * 1024


class BundleError(Exception):
    """The bundle as a whole cannot be used (not a directory, wrong format)."""


def _read_text(path: Path | str, warnings: list[Warning_]) -> str | None:
    try:
        # Bytes, decoded here: a bundle of 1,000 containers has 2,000 small files, and this is
        # twice as fast as Path.read_text. Line ends are left as they are (readers split lines).
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_FILE_BYTES:
                warnings.append(Warning_("bundle", _("{file}: {size} bytes is too large, skipped").format(
                    file=os.path.basename(path), size=size), unread=True))
                return None
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.append(Warning_("bundle", _("{file}: cannot read ({error})").format(
            file=os.path.basename(path), error=exc.strerror), unread=True))
        return None


def _read_rules(path: Path, family: int, warnings: list[Warning_]):
    """A rules file, parsed line by line as it is read (a 50 MB file never sits in memory whole).
    Returns (RuleSet, the file's first lines) or None when the file is absent or unreadable."""
    try:
        with open(path, errors="replace") as fh:
            head = fh.read(4096)
            fh.seek(0)
            rs, rw = parse_iptables_save(fh, family, path.name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.append(Warning_("bundle", _("{file}: cannot read ({error})").format(
            file=path.name, error=exc.strerror), unread=True))
        return None
    warnings += rw
    return rs, head


def _read_json(path: Path | str, warnings: list[Warning_], kind: type) -> Any:
    text = _read_text(path, warnings)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.append(Warning_("bundle", _("{file}: line {lineno}: not valid JSON ({error})").format(
            file=os.path.basename(path), lineno=exc.lineno, error=exc.msg), unread=True))
        return None
    if not isinstance(value, kind):
        warnings.append(Warning_("bundle", _("{file}: expected a JSON {kind}").format(file=os.path.basename(path),
                                                                                     kind=kind.__name__), unread=True))
        return None
    if isinstance(value, list) and not all(isinstance(v, dict) for v in value):
        warnings.append(Warning_("bundle", _("{file}: expected a list of objects").format(file=os.path.basename(path)),
                                 unread=True))
        return None
    return value


def load_bundle(directory: str | os.PathLike[str], source: str = "") -> HostState:
    root = Path(directory)
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory")
    w: list[Warning_] = []
    meta = _read_json(root / "meta.json", w, dict) or {}
    fmt = meta.get("format")
    if fmt and fmt != FORMAT:
        raise BundleError(f"{root / 'meta.json'}: format {fmt!r} is not {FORMAT!r}")
    p = Pieces(source=source or f"bundle {root}", hostname=str(meta.get("hostname") or ""),
               captured_at=str(meta.get("captured_at") or ""), warnings=w)
    p.docker_version = _read_json(root / "docker-version.json", w, dict)
    p.docker_info = _read_json(root / "docker-info.json", w, dict)
    p.containers_json = _read_json(root / "docker-inspect.json", w, list)
    p.networks_json = _read_json(root / "docker-network-inspect.json", w, list)
    links = _read_json(root / "ip-link.json", w, list)
    addrs = _read_json(root / "ip-addr.json", w, list)
    routes = _read_json(root / "ip-route.json", w, list)
    routes6 = _read_json(root / "ip-6-route.json", w, list)
    if links is not None:
        p.links = links_from_ip_json(links, addrs, p.problems)
    if routes is not None:
        p.routes = routes_from_ip_json(routes, p.problems)
    if routes6 is not None:
        p.routes6 = routes_from_ip_json(routes6, p.problems, family=6)

    netns = os.path.join(root, "netns", "")  # a string: Path's operators cost more than reading a small file
    for c in p.containers_json or []:
        cid = c.get("Id") if isinstance(c, dict) else None
        if not isinstance(cid, str) or not cid or "/" in cid:
            continue
        ns_links = _read_json(f"{netns}{cid}.ip-link.json", w, list)
        if ns_links is not None:
            p.container_ifaces[cid] = container_ifaces_from_ip_json(ns_links, p.problems,
                                                                    f"netns/{cid[:12]}.ip-link.json")
        ss = _read_text(f"{netns}{cid}.ss.txt", w)
        if ss is not None:
            p.container_listeners[cid] = listeners_from_ss(ss)

    for family, name in ((4, "iptables-save.txt"), (6, "ip6tables-save.txt")):
        parsed = _read_rules(root / name, family, w)
        if parsed is None:
            continue
        rs, head = parsed
        if family == 4:
            p.backend = backend_of(head)
        p.rulesets[family] = rs
    # The half of the firewall the main backend's `iptables` does not show; the kernel runs it too.
    other, other_name, main_kind = (("legacy", "iptables-legacy-save.txt", "nft") if p.backend != "legacy"
                                    else ("nft", "iptables-nft-save.txt", "legacy"))
    parsed = _read_rules(root / other_name, 4, w)
    if parsed is not None:
        rs = parsed[0]
        if not rs.passes_everything:
            p.other_rulesets[4] = rs
            w.append(beside_warning(4, other, main_kind, rs, other_name))
    p.nft_json = _read_text(root / "nft-ruleset.json", w)
    if p.nft_json is None:
        p.nft_unread = "nft-ruleset.json not captured"
    ipsets = _read_text(root / "ipset-save.txt", w)
    if ipsets is not None:
        p.ipsets = ipsets_from_save(ipsets)
    ps = _read_text(root / "ps.txt", w)
    if ps is not None:
        p.proxies = proxies_from_ps(ps)
    sysctl = _read_text(root / "sysctl.txt", w)
    if sysctl is not None:
        p.sysctls = sysctls_from_text(sysctl.splitlines())
    return _with_missing_notes(assemble(p))


def _with_missing_notes(state: HostState) -> HostState:
    notes = [Warning_("bundle", _("{part}: not captured in this bundle").format(part=part), unread=True)
             for part in sorted(state.missing)]
    return state.with_warnings(*notes)


# -- writing a bundle from the live host --------------------------------------------------------


def _shell_equivalents() -> list[tuple[str, list[str]]]:
    return [
        ("iptables-save.txt", ["iptables-save", "-c"]),
        ("ip6tables-save.txt", ["ip6tables-save", "-c"]),
        ("nft-ruleset.json", ["nft", "-j", "list", "ruleset"]),
        ("ip-link.json", ["ip", "-j", "-d", "link", "show"]),
        ("ip-addr.json", ["ip", "-j", "addr", "show"]),
        ("ip-route.json", ["ip", "-j", "route", "show"]),
        ("ip-6-route.json", ["ip", "-j", "-6", "route", "show"]),
        ("ps.txt", ["ps", "-ww", "-eo", "pid,args"]),
        ("sysctl.txt", ["sysctl", "-a", "--pattern", SYSCTL_PATTERN]),
    ]


def capture(directory: str | os.PathLike[str]) -> list[str]:
    """Write a bundle of this host. Returns the problems met (each file that could not be made)."""
    import datetime as _dt  # only a capture needs these: loading a bundle does not import them
    import socket

    from tui.collect.firewall import detect_backend, legacy_tables
    from tui.collect.live import docker_client
    from tui.collect.run import CommandFailed, run  # subprocess: 10 ms that loading a bundle does not need

    root = Path(directory)
    (root / "netns").mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def write(name: str, text: str) -> None:
        (root / name).write_text(text)

    write("meta.json", json.dumps({
        "format": FORMAT, "hostname": socket.gethostname(),
        "captured_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }, indent=2) + "\n")
    try:
        api = docker_client().api
        write("docker-version.json", json.dumps({"Server": api.version()}, indent=2))
        write("docker-info.json", json.dumps(api.info(), indent=2))
        inspected = []
        for s in api.containers(all=True):
            try:
                inspected.append(api.inspect_container(s["Id"]))
            except Exception:
                continue
        write("docker-inspect.json", json.dumps(inspected, indent=2))
        nets = []
        for s in api.networks():
            try:
                nets.append(api.inspect_network(s["Id"]))
            except Exception:
                continue
        write("docker-network-inspect.json", json.dumps(nets, indent=2))
    except Exception as exc:
        problems.append(f"docker: {str(exc).splitlines()[0] if str(exc) else exc!r}")
        inspected = []
    commands = _shell_equivalents()
    backend, _warnings = detect_backend()
    if backend == "nft" and legacy_tables(4):
        commands.append(("iptables-legacy-save.txt", ["iptables-legacy-save", "-c"]))
    if shutil.which("ipset"):
        commands.append(("ipset-save.txt", ["ipset", "save"]))
    if backend == "legacy" and shutil.which("iptables-nft-save"):
        commands.append(("iptables-nft-save.txt", ["iptables-nft-save", "-c"]))
    for name, argv in commands:
        try:
            write(name, run(argv).stdout)
        except CommandFailed as exc:
            problems.append(str(exc))
    for c in inspected:
        if not (c.get("State") or {}).get("Running"):
            continue
        key = (c.get("NetworkSettings") or {}).get("SandboxKey") or ""
        if not key:
            continue
        for suffix, argv in (("ip-link.json", ["ip", "-j", "-d", "link", "show"]),
                             ("ss.txt", ["ss", "-Hltun"])):
            try:
                write(f"netns/{c['Id']}.{suffix}", run(["nsenter", f"--net={key}", *argv]).stdout)
            except CommandFailed as exc:
                problems.append(str(exc))
    return problems
