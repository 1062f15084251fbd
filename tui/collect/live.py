"""Collect a HostState from the host this runs on.

Every source is read on its own; one that fails adds a warning (with the reason and how to get
the data) and leaves its part "not captured". Nothing here changes the host.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tui.collect.assemble import Pieces, assemble
from tui.collect.firewall import collect_firewall, load_python_iptables
from tui.i18n import _
from tui.model import HostState, Warning_


def docker_client(timeout: int = 10):
    import docker  # deferred: the SDK pulls in requests and friends

    # Up to 8 inspects, 4 held ones and the event stream at once (events.py): no connection is
    # opened only to be thrown away by a full pool.
    client = docker.from_env(timeout=timeout, max_pool_size=16)
    if client.api.base_url.startswith("http+docker://"):  # the daemon's unix socket
        # requests looks at the proxy variables and ~/.netrc on every request: half the CPU time of
        # an inspect (measured: 100 inspects 1.2-1.5 ms each, 0.7-0.9 ms without), and neither
        # means anything for a unix socket. A tcp:// or ssh:// daemon keeps them.
        client.api.trust_env = False
        _one_pool(client.api)
    return client


def _one_pool(api: Any) -> None:
    """docker-py's unix-socket adapter keeps a connection pool per request URL (every container's
    inspect URL its own), up to 25 pools of idle connections, and closes the least recently used
    pool when another URL comes, under a request that may still be using it (measured: the live app
    held 28 connections to dockerd). Every request goes to the same socket: one pool serves them all."""
    adapter = api.get_adapter(api.base_url)
    by_url = getattr(adapter, "get_connection", None)
    if by_url is not None:
        base = api.base_url
        adapter.get_connection = lambda _url, proxies=None: by_url(base, proxies)
        if hasattr(adapter, "pools"):
            adapter.pools.clear()  # the pool of the version request made while the client was built


class InspectCache:
    """Inspect answers of unchanged containers, reused: the container list says when one changed
    (state, networks, ports), and everything read from an inspect changes with those. Everything is
    inspected afresh at least every `ttl` seconds all the same."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._answers: dict[tuple, dict] = {}
        self._since = 0.0

    def lookup(self, summaries: list[dict]) -> dict[str, dict | None]:
        if time.monotonic() - self._since > self.ttl:
            self._answers.clear()
            self._since = time.monotonic()
        return {s["Id"]: self._answers.get(_summary_key(s)) for s in summaries}

    def remember(self, summaries: list[dict], fresh: dict[str, dict]) -> None:
        """Keep the answers of the containers listed now (and only those)."""
        keys = {s["Id"]: _summary_key(s) for s in summaries}
        wanted = set(keys.values())
        for key in [k for k in self._answers if k not in wanted]:
            del self._answers[key]
        for cid, answer in fresh.items():
            if cid in keys:
                self._answers[keys[cid]] = answer


def _summary_key(summary: dict) -> tuple:
    import json

    # Not "Status" ("Up 5 seconds"): it changes every second. A restart between two collections
    # changes only the pid, and the namespace is reached through the SandboxKey first anyway.
    return (summary.get("Id"), summary.get("State"),
            json.dumps(summary.get("NetworkSettings"), sort_keys=True),
            json.dumps(summary.get("Ports"), sort_keys=True))


class FactsCache:
    """`docker version` and `docker info`: slow to ask (info counts images), slow to change."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._hit: tuple[float, Any, Any] | None = None

    def get(self, api: Any) -> tuple[Any, Any]:
        if self._hit is not None and time.monotonic() - self._hit[0] < self.ttl:
            return self._hit[1], self._hit[2]
        version, info = api.version(), api.info()
        self._hit = (time.monotonic(), version, info)
        return version, info


class NamespaceCache:
    """A container's veth ends, read once per network namespace. Its links change only with a
    Docker event that also changes its inspect (connect, disconnect, restart), so the key is the
    container, its namespace's inode and its endpoints; namespace inodes are reused after a
    namespace is freed, hence the container id too."""

    def __init__(self) -> None:
        self._ends: dict[tuple, tuple[tuple[str, int, int], ...]] = {}
        self._used: set[tuple] = set()

    def ends(self, key: tuple | None, read: Any) -> tuple[tuple[str, int, int], ...]:
        if key is None:
            return read()
        self._used.add(key)
        if key not in self._ends:
            self._ends[key] = read()
        return self._ends[key]

    def forget_unused(self) -> None:
        """After a collection: drop what it did not ask for (containers gone)."""
        for key in [k for k in self._ends if k not in self._used]:
            del self._ends[key]
        self._used = set()


def namespace_key(inspect: dict) -> tuple | None:
    state = inspect.get("State") or {}
    settings = inspect.get("NetworkSettings") or {}
    path = settings.get("SandboxKey") or (f"/proc/{state.get('Pid')}/ns/net" if state.get("Pid") else "")
    try:
        inode = os.stat(path).st_ino if path else None
    except OSError:
        return None
    if inode is None:
        return None
    endpoints = tuple(sorted((n.get("EndpointID") or "") for n in (settings.get("Networks") or {}).values()))
    return inspect.get("Id"), inode, endpoints


class LiveCollector:
    """Collects this host again and again. It owns what is worth keeping between collections
    (inspect answers, daemon facts, namespace reads), so a running app pays for what changed."""

    def __init__(self, client: Any = None) -> None:
        self.client = client
        self.inspects = InspectCache()
        self.facts = FactsCache()
        self.namespaces = NamespaceCache()

    def collect(self) -> HostState:
        state = collect_live(self.client, self)
        return state


def read_docker(pieces: Pieces, client: Any = None, caches: LiveCollector | None = None) -> Any:
    """Fill the docker parts of `pieces`; returns the client (or None when unreachable)."""
    caches = caches or LiveCollector()
    try:
        client = client or docker_client()
        api = client.api
        pieces.docker_version, pieces.docker_info = caches.facts.get(api)
    except Exception as exc:  # socket missing, permission denied, daemon down
        text = str(exc)
        hint = _("start dockerd, or load a capture bundle")
        if "ermission denied" in text:
            hint = _("add yourself to the docker group or run with sudo")
        pieces.warnings.append(Warning_("docker", _("Docker daemon not reachable: {error}").format(error=_short(text)),
                                        hint, unread=True))
        return None
    from docker.errors import NotFound

    def inspect(kind: str, ident: str) -> dict | None:
        try:
            return api.inspect_container(ident) if kind == "c" else api.inspect_network(ident)
        except NotFound:
            return None  # removed while we were collecting: it is simply gone

    summaries = api.containers(all=True)
    cached = caches.inspects.lookup(summaries)
    jobs = [("c", s["Id"]) for s in summaries if cached[s["Id"]] is None]
    jobs += [("n", s["Id"]) for s in api.networks()]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda job: (job[0], inspect(*job)), jobs))
    fresh = {a["Id"]: a for kind, a in answers if kind == "c" and a is not None}
    caches.inspects.remember(summaries, fresh)
    answers = [("c", cached[s["Id"]] or fresh.get(s["Id"])) for s in summaries] + \
              [(kind, a) for kind, a in answers if kind == "n"]
    pieces.containers_json = [a for kind, a in answers if kind == "c" and a is not None]
    pieces.networks_json = [a for kind, a in answers if kind == "n" and a is not None]
    return client


def _short(text: str) -> str:
    return text.splitlines()[0][:200] if text else "unknown error"


def read_container_details(pieces: Pieces, namespaces: NamespaceCache | None = None) -> None:
    """Each running container's veth ends and listening sockets (the fast ways first)."""
    namespaces = namespaces or NamespaceCache()
    denied = []
    for c in pieces.containers_json or []:
        state = c.get("State") or {}
        if not state.get("Running"):
            continue
        cid = c.get("Id", "")
        pid = int(state.get("Pid") or 0)
        key = (c.get("NetworkSettings") or {}).get("SandboxKey") or ""
        try:
            pieces.container_ifaces[cid] = namespaces.ends(
                namespace_key(c), lambda pid=pid, key=key: _container_ends(pid, key))
        except FileNotFoundError:
            pass  # the container stopped or its netns vanished meanwhile
        except PermissionError:
            denied.append(c.get("Name", cid))
        except Exception as exc:
            pieces.warnings.append(Warning_("links", _("netns of {container} not read: {error}").format(
                container=c.get("Name", cid), error=_short(str(exc))), unread=True))
        try:
            pieces.container_listeners[cid] = _container_listeners(pid, key)
        except (FileNotFoundError, ProcessLookupError):
            pass
        except PermissionError:
            denied.append(c.get("Name", cid))
    if denied:
        pieces.warnings.append(Warning_(
            "links", _("container namespaces not readable ({count} containers): "
                       "veth owners and listening sockets unknown").format(count=len(set(denied))),
            _("run as root (sudo dockport-tui)"), unread=True))
    namespaces.forget_unused()


def _container_ends(pid: int, sandbox_key: str):
    from tui.collect.procfs import container_interfaces_from_sysfs

    try:
        return container_interfaces_from_sysfs(pid)
    except PermissionError:
        raise
    except OSError:
        from tui.collect.netlink import container_interfaces

        return container_interfaces(sandbox_key)


def _container_listeners(pid: int, sandbox_key: str):
    from tui.collect.procfs import read_container_listeners
    from tui.collect.sockdiag import listeners_in_netns

    if sandbox_key:
        try:
            return listeners_in_netns(sandbox_key)
        except PermissionError:
            raise
        except OSError:
            pass  # no sock_diag for this family in the kernel: /proc still has it
    return read_container_listeners(pid)


def read_ipsets(rulesets, warnings: list) -> dict:
    """`ipset save`, only when a rule uses `-m set` (Docker 28.0.0 does): else there is nothing to know."""
    if not any("-m set" in r.text for rs in rulesets.values() for r in rs.all_rules()):
        return {}
    from tui.collect.linux_text import ipsets_from_save
    from tui.collect.run import CommandFailed, run

    try:
        return ipsets_from_save(run(["ipset", "save"]).stdout)
    except CommandFailed as exc:
        warnings.append(Warning_("firewall", _("rules use ipsets, but their members were not read: {error}").format(
            error=exc), _("install ipset and run as root; paths through those rules stay uncertain"), unread=True))
        return {}


def collect_live(client: Any = None, caches: LiveCollector | None = None) -> HostState:
    """One collection (`caches`: what an earlier collection of this host may lend). The sources
    are independent and mostly wait (on the daemon, on iptables-save,
    on the kernel), so they are read side by side; each writes only its own part of `pieces`."""
    load_python_iptables()  # before the threads: see its docstring
    pieces = Pieces(source="live", hostname=socket.gethostname(),
                    captured_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    with ThreadPoolExecutor(max_workers=2) as pool:  # more threads only fight over the GIL
        parts: list[Future[Any]] = [pool.submit(_docker_part, pieces, client, caches or LiveCollector()),
                                    pool.submit(_links_part), pool.submit(_firewall_part), pool.submit(_proc_part)]
        results: list[Any] = [f.result() for f in parts]
        (docker_warnings, ), (links, routes, link_warnings), fw_part, proc_part = results
    pieces.links, pieces.routes = links, routes
    pieces.routes6 = () if routes is not None else None  # netlink reads both families into `routes`
    pieces.backend, pieces.rulesets, pieces.other_rulesets, pieces.ipsets, fw_warnings, nft = fw_part
    pieces.nft_json, pieces.nft_unread = nft
    pieces.proxies, pieces.sysctls, proc_warnings = proc_part
    pieces.warnings += docker_warnings + link_warnings + fw_warnings + proc_warnings
    return assemble(pieces)


def _docker_part(pieces: Pieces, client: Any, caches: LiveCollector) -> tuple[list[Warning_]]:
    before = len(pieces.warnings)
    client = read_docker(pieces, client, caches)
    if caches.client is None:
        # Kept for the next collection: a new client asks the daemon its API version first and
        # opens new connections (8 ms a collection, and descriptors that linger until collected).
        caches.client = client
    read_container_details(pieces, caches.namespaces)
    added = pieces.warnings[before:]
    del pieces.warnings[before:]
    return (added,)


def _links_part() -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None, list[Warning_]]:
    read = read_links_by_ip()
    if read is not None:
        return *read, []
    try:
        from tui.collect.netlink import read_links

        links, routes = read_links()
        return links, routes, []
    except Exception as exc:
        from tui.collect.netlink import netlink_warning

        return None, None, [netlink_warning(exc)]


def read_links_by_ip() -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """Links, addresses and main-table routes as `ip -j` prints them (what a capture bundle holds,
    read by the same parsers). At 60 containers this is 4–6 ms of this process's time where
    pyroute2 decodes the same netlink answers in Python for 35–60 ms, and it holds the
    interpreter that the screen needs; pyroute2's import (0.2 s) is not paid either. None when
    `ip` is missing, fails or prints what the parsers cannot read whole: then pyroute2 reads them."""
    import json

    from tui.collect.linux_text import links_from_ip_json, routes_from_ip_json
    from tui.collect.run import CommandFailed, run

    try:
        raw = [json.loads(run(argv).stdout or "[]") for argv in (["ip", "-j", "-d", "link", "show"],
                                                               ["ip", "-j", "addr", "show"],
                                                               ["ip", "-j", "route", "show"],
                                                               ["ip", "-j", "-6", "route", "show"])]
    except (CommandFailed, ValueError):
        return None
    problems: list[str] = []
    links = links_from_ip_json(raw[0], raw[1], problems)
    routes = routes_from_ip_json(raw[2], problems) + routes_from_ip_json(raw[3], problems, family=6)
    return (links, routes) if not problems else None


def _firewall_part(backend: str | None = None, rules_before: int | None = None):
    fw = collect_firewall(backend=backend, rules_before=rules_before)
    warnings = list(fw.warnings)
    ipsets = read_ipsets(fw.rulesets, warnings)
    return fw.backend, fw.rulesets, fw.other_rulesets, ipsets, warnings, (fw.nft_json, fw.nft_unread)


def read_firewall(backend: str | None = None, rules_before: int | None = None,
                  family: int | None = None) -> tuple[str, dict, dict, dict, str | None, str]:
    """Only the rules (a rule-change notification): the arguments of `assemble.with_firewall`.
    `backend` and `rules_before`: as the last collection found them (see `collect_firewall`).
    `family`: only that family's iptables-nft rules changed (`firewall.family_written_by`), and
    only they are read; `with_firewall(..., family=family)` keeps the rest."""
    if family is not None and backend == "nft":
        from tui.collect.firewall import read_iptables_family

        fw = read_iptables_family(family)
        return fw.backend, fw.rulesets, {}, read_ipsets(fw.rulesets, []), None, fw.nft_unread
    backend, rulesets, other, ipsets, _warnings, (nft_json, nft_unread) = _firewall_part(backend, rules_before)
    return backend, rulesets, other, ipsets, nft_json, nft_unread


def _proc_part():
    try:
        from tui.collect.procfs import read_proxies, read_sysctls

        return read_proxies(), read_sysctls(), []
    except OSError as exc:
        return None, None, [Warning_("proc", _("/proc not readable: {error}").format(error=exc), unread=True)]
