"""Collect a HostState from the host this runs on.

Every source is read on its own; one that fails adds a warning (with the reason and how to get
the data) and leaves its part "not captured". Nothing here changes the host.
"""

from __future__ import annotations

import datetime as _dt
import socket
from typing import Any

from tui.collect.assemble import Pieces, assemble
from tui.collect.firewall import collect_firewall
from tui.model import HostState, Warning_


def docker_client(timeout: int = 10):  # noqa: ANN201 - docker.DockerClient
    import docker  # deferred: the SDK pulls in requests and friends

    return docker.from_env(timeout=timeout)


def read_docker(pieces: Pieces, client: Any = None) -> Any:
    """Fill the docker parts of `pieces`; returns the client (or None when unreachable)."""
    try:
        client = client or docker_client()
        api = client.api
        pieces.docker_version = api.version()
        pieces.docker_info = api.info()
    except Exception as exc:  # socket missing, permission denied, daemon down
        text = str(exc)
        hint = "start dockerd, or load a capture bundle"
        if "ermission denied" in text:
            hint = "add yourself to the docker group or run with sudo"
        pieces.warnings.append(Warning_("docker", f"Docker daemon not reachable: {_short(text)}", hint))
        return None
    from docker.errors import NotFound

    containers = []
    for summary in api.containers(all=True):
        try:
            containers.append(api.inspect_container(summary["Id"]))
        except NotFound:
            continue  # removed while we were collecting: it is simply gone
    networks = []
    for summary in api.networks():
        try:
            networks.append(api.inspect_network(summary["Id"]))
        except NotFound:
            continue
    pieces.containers_json = containers
    pieces.networks_json = networks
    return client


def _short(text: str) -> str:
    return text.splitlines()[0][:200] if text else "unknown error"


def read_container_details(pieces: Pieces) -> None:
    """Each running container's veth ends and listening sockets (the fast ways first)."""
    denied = []
    for c in pieces.containers_json or []:
        state = c.get("State") or {}
        if not state.get("Running"):
            continue
        cid = c.get("Id", "")
        pid = int(state.get("Pid") or 0)
        key = (c.get("NetworkSettings") or {}).get("SandboxKey") or ""
        try:
            pieces.container_ifaces[cid] = _container_ends(pid, key)
        except FileNotFoundError:
            pass  # the container stopped or its netns vanished meanwhile
        except PermissionError:
            denied.append(c.get("Name", cid))
        except Exception as exc:
            pieces.warnings.append(Warning_("links", f"netns of {c.get('Name', cid)} not read: {_short(str(exc))}"))
        try:
            pieces.container_listeners[cid] = _container_listeners(pid, key)
        except (FileNotFoundError, ProcessLookupError):
            pass
        except PermissionError:
            denied.append(c.get("Name", cid))
    if denied:
        pieces.warnings.append(Warning_(
            "links", f"container namespaces not readable ({len(set(denied))} containers): "
            "veth owners and listening sockets unknown", "run as root (sudo dockport-tui)"))


def _container_ends(pid: int, sandbox_key: str):  # noqa: ANN202
    from tui.collect.procfs import container_interfaces_from_sysfs

    try:
        return container_interfaces_from_sysfs(pid)
    except PermissionError:
        raise
    except OSError:
        from tui.collect.netlink import container_interfaces

        return container_interfaces(sandbox_key)[0]


def _container_listeners(pid: int, sandbox_key: str):  # noqa: ANN202
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
        warnings.append(Warning_("firewall", f"rules use ipsets, but their members were not read: {exc}",
                                 "install ipset and run as root; paths through those rules stay uncertain"))
        return {}


def collect_live(client: Any = None) -> HostState:
    pieces = Pieces(source="live", hostname=socket.gethostname(),
                    captured_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    read_docker(pieces, client)
    try:
        from tui.collect.netlink import read_links

        pieces.links, pieces.routes = read_links()
    except Exception as exc:
        from tui.collect.netlink import netlink_warning

        pieces.warnings.append(netlink_warning(exc))
    read_container_details(pieces)
    fw = collect_firewall()
    pieces.backend = fw.backend
    pieces.rulesets = fw.rulesets
    pieces.other_rulesets = fw.other_rulesets
    pieces.warnings += fw.warnings
    pieces.ipsets = read_ipsets(pieces.rulesets, pieces.warnings)
    try:
        from tui.collect.procfs import read_proxies, read_sysctls

        pieces.proxies = read_proxies()
        pieces.sysctls = read_sysctls()
    except OSError as exc:
        pieces.warnings.append(Warning_("proc", f"/proc not readable: {exc}"))
    return assemble(pieces)
