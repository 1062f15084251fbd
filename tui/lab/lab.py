"""`dockport-tui lab up|status|down`: the talk's experiments on the live engine, measured and predicted.

`up` creates the five experiment containers on the default bridge (where --link works), three
client containers, an outside client in its own network namespace, and (when no image is given)
a tiny image from busybox. It never restarts or reconfigures the daemon. Everything it makes is
labelled or prefixed `dockport-lab-`, and `down` removes all of it; `up` undoes its own work when it
fails or is interrupted.

`status` connects for real from every client to every experiment (bounded, one attempt each) and
puts the path engine's prediction for the same pair beside it.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tarfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from tui.collect.run import CommandFailed, run
from tui.i18n import _, on_off, word
from tui.lab.experiments import (
    CLIENT_NS,
    CLIENT_SIDE,
    CLIENTS,
    CONTAINER_CLIENTS,
    EXPERIMENTS,
    HOST_SIDE,
    IMAGE,
    LABEL,
    OTHER_NETWORK,
    PREFIX,
    SERVICE_PORT,
    VETH_CLIENT,
    VETH_HOST,
    Experiment,
    fixed_host_port,
    probe_for,
)

HOST_PORT_BASE = 28070  # experiments with -p get 28071, 28073, 28075


class LabError(Exception):
    pass


@dataclass
class Cell:
    measured: bool | None  # None: nothing to connect to
    predicted: bool | None
    verdict: str = ""
    reason: str = ""
    target: str = ""

    @property
    def agrees(self) -> bool:
        return self.measured == self.predicted

    @property
    def text(self) -> str:
        """"yes (no) !": measured, (predicted), and a mark when they differ."""
        return f"{yes_no(self.measured)} ({yes_no(self.predicted)})" + ("" if self.agrees else " !")


@dataclass
class Matrix:
    icc: bool | None
    userland_proxy: bool | None
    cells: dict[tuple[int, str], Cell] = field(default_factory=dict)

    def disagreements(self) -> list[tuple[int, str]]:
        return [k for k, c in self.cells.items() if not c.agrees]


def _client():
    from tui.collect.live import docker_client

    try:
        client = docker_client()
        client.ping()
        return client
    except Exception as exc:
        raise LabError(_("the Docker daemon is not reachable: {error}").format(
            error=str(exc).splitlines()[0] if str(exc) else exc)) from None


def daemon_settings() -> tuple[bool | None, bool | None]:
    """(ICC on the default bridge, userland proxy) as the daemon runs now."""
    from tui.collect.live import collect_live

    state = collect_live()
    bridge = next((n for n in state.networks if n.bridge == "docker0"), None)
    return (bridge.icc if bridge else None), state.facts.userland_proxy


# -- up ---------------------------------------------------------------------------------------------

def up(image: str | None = None, say=print) -> None:
    client = _client()
    try:
        _up(client, image, say)
    except BaseException:
        say(_("lab: setting up failed or was interrupted; removing what was made"))
        down(say=lambda *_args: None)
        raise


def _up(client, image: str | None, say) -> None:
    api = client.api
    if api.containers(all=True, filters={"label": LABEL}):
        raise LabError(_("a lab is already up: `dockport-tui lab down` first"))
    image = image or _build_image(api)
    exposed = (api.inspect_image(image).get("Config") or {}).get("ExposedPorts") or {}
    if exposed:
        say(_("lab: note: {image} itself EXPOSEs {ports}, so experiment 1 is not "
              "'no EXPOSE' (build one without EXPOSE, or let the lab build its own)").format(
            image=image, ports=", ".join(sorted(exposed))))
    labels = {LABEL: "1"}
    api.create_network(OTHER_NETWORK, driver="bridge", labels=labels)
    for exp in EXPERIMENTS:
        _start(api, image, exp.name, labels, **_experiment_config(api, exp))
    links = {exp.name: f"e{exp.number}" for exp in EXPERIMENTS}
    _start(api, image, CONTAINER_CLIENTS["linked"], labels, host_config=api.create_host_config(links=links))
    _start(api, image, CONTAINER_CLIENTS["unlinked"], labels, host_config=api.create_host_config())
    _start(api, image, CONTAINER_CLIENTS["other-network"], labels,
           host_config=api.create_host_config(network_mode=OTHER_NETWORK))
    _make_outside_client()
    icc, proxy = daemon_settings()
    say(_("lab: up: 5 experiments, 3 client containers, an outside client ({namespace}, {address}); "
          "the daemon runs with ICC {icc} and the userland proxy {proxy}").format(
        namespace=CLIENT_NS, address=CLIENT_SIDE, icc=on_off(icc), proxy=on_off(proxy)))


def yes_no(value: bool | None) -> str:
    return {True: _("yes"), False: _("no"), None: "-"}[value]


def _experiment_config(api, exp: Experiment) -> dict:
    ports = [SERVICE_PORT] if (exp.expose or exp.publish) else None  # -p implies EXPOSE, as in the CLI
    bindings = {SERVICE_PORT: fixed_host_port(exp, HOST_PORT_BASE)} if exp.publish == "-p" else None
    return {"ports": ports, "host_config": api.create_host_config(port_bindings=bindings,
                                                                  publish_all_ports=exp.publish == "-P")}


def _start(api, image: str, name: str, labels: dict, ports=None, host_config=None) -> None:
    created = api.create_container(image, name=name, labels=labels, ports=ports, host_config=host_config)
    api.start(created["Id"])


def _build_image(api) -> str:
    """busybox + httpd on :80, no EXPOSE: `docker import` of a rootfs, so no registry is needed."""
    try:
        api.inspect_image(IMAGE)
        return IMAGE
    except Exception:
        pass
    busybox = shutil.which("busybox")
    if not busybox:
        raise LabError(_("no image given and busybox is not installed: use --image IMAGE (serving HTTP on :80)"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "www", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, "bin/busybox")
        for applet in ("sh", "httpd", "nc", "sleep"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        page = b"dockport lab\n"
        info = tarfile.TarInfo("www/index.html")
        info.size = len(page)
        tar.addfile(info, io.BytesIO(page))
    repo, tag = IMAGE.split(":")
    api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag,
                               changes=['CMD ["/bin/busybox","httpd","-f","-p","80","-h","/www"]',
                                        f'LABEL {LABEL}="1"'])
    return IMAGE


def _make_outside_client() -> None:
    _remove_outside_client()
    for argv in (["ip", "netns", "add", CLIENT_NS],
                 ["ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_CLIENT],
                 ["ip", "link", "set", VETH_CLIENT, "netns", CLIENT_NS],
                 ["ip", "addr", "add", f"{HOST_SIDE}/24", "dev", VETH_HOST],
                 ["ip", "link", "set", VETH_HOST, "up"],
                 ["ip", "-n", CLIENT_NS, "addr", "add", f"{CLIENT_SIDE}/24", "dev", VETH_CLIENT],
                 ["ip", "-n", CLIENT_NS, "link", "set", VETH_CLIENT, "up"],
                 ["ip", "-n", CLIENT_NS, "link", "set", "lo", "up"],
                 ["ip", "-n", CLIENT_NS, "route", "add", "default", "via", HOST_SIDE]):
        run(argv)


def _remove_outside_client() -> None:
    for argv in (["ip", "link", "del", VETH_HOST], ["ip", "netns", "del", CLIENT_NS]):
        try:
            run(argv)
        except CommandFailed:
            pass  # not there


# -- down -------------------------------------------------------------------------------------------

def down(say=print) -> None:
    """Remove everything the lab made; safe to run twice, and after a half-finished `up`."""
    removed = []
    try:
        client = _client()
    except LabError:
        client = None
    if client is not None:
        api = client.api
        found = {c["Id"]: c for c in api.containers(all=True, filters={"label": LABEL})}
        found.update({c["Id"]: c for c in api.containers(all=True, filters={"name": PREFIX})})
        for cid, c in found.items():
            name = (c.get("Names") or [cid])[0].lstrip("/")
            if not name.startswith(PREFIX) and (c.get("Labels") or {}).get(LABEL) != "1":
                continue
            try:
                api.remove_container(cid, force=True)
                removed.append(name)
            except Exception:
                pass
        for net in api.networks(filters={"label": LABEL}) + api.networks(names=[OTHER_NETWORK]):
            try:
                api.remove_network(net["Id"])
                removed.append(net["Name"])
            except Exception:
                pass
        for img in api.images(filters={"label": f"{LABEL}=1"}):
            try:
                api.remove_image(img["Id"], force=True)
                removed.append(IMAGE)
            except Exception:
                pass
    _remove_outside_client()
    say(_("lab: down ({count} removed)").format(count=len(removed)))


# -- status -----------------------------------------------------------------------------------------

def _reach(ip: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return bool(s.recv(64))
    except OSError:
        return False


def _measure(client: str, sandbox: dict[str, str], target: tuple[str, int]) -> bool:
    from tui.collect.netns import call_in_netns

    if client.startswith("host-"):
        return _reach(*target)
    path = f"/run/netns/{CLIENT_NS}" if client == "outside" else sandbox[CONTAINER_CLIENTS[client]]
    return call_in_netns(path, lambda: _reach(*target))


def status() -> Matrix:
    from tui.collect.live import collect_live
    from tui.paths.packet import HostView
    from tui.paths.types import Query
    from tui.session import Session

    state = collect_live()
    session = Session(state, "live", retrace=False)
    names = {c.name for c in state.containers}
    if not all(e.name in names for e in EXPERIMENTS):
        raise LabError(_("the lab is not up: `dockport-tui lab up`"))
    bridge = next((n for n in state.networks if n.bridge == "docker0"), None)
    matrix = Matrix(bridge.icc if bridge else None, state.facts.userland_proxy)
    view = HostView.of(state)
    host_ip = view.primary_address(view.default_interface())
    sandbox = {c.name: c.sandbox_key for c in state.containers}
    # Every connection at once, each started as soon as its cell is predicted: a cell that does not
    # connect waits out its timeout, and 20-30 of them one after another were most of `lab status`.
    measuring: dict[tuple[int, str], Future[bool]] = {}
    with ThreadPoolExecutor(max_workers=len(EXPERIMENTS) * len(CLIENTS)) as pool:
        for exp in EXPERIMENTS:
            c = state.container(exp.name)
            if c is None:
                raise LabError(_("{container} went away while the lab was measured: run `dockport-tui lab status` "
                                 "again").format(container=exp.name))
            ip = next((e.ip for e in c.endpoints if e.ip), "")
            port = next((b.host_port for b in c.ports if b.published and b.container_port == SERVICE_PORT
                         and b.host_ip in ("0.0.0.0", "")), None)
            for client in CLIENTS:
                probe = probe_for(exp, client, ip, port, host_ip)
                if probe.target is None:
                    matrix.cells[(exp.number, client)] = Cell(None, None, "", _("not published: nothing to connect to"))
                    continue
                measuring[(exp.number, client)] = pool.submit(_measure, client, sandbox, probe.target)
                path, _findings = session.ask(Query(probe.target[1], "tcp", probe.origin, probe.to))
                # The rule that decided, or else the last thing that did (a socket, routing, a proxy).
                deciding = path.deciding_hop() or next((h for h in reversed(path.hops) if h.kind in (
                    "container", "local", "route")), None)
                reason = (deciding.rule or deciding.explanation) if deciding else path.summary
                matrix.cells[(exp.number, client)] = Cell(None, path.verdict == "delivered", path.verdict, reason,
                                                          f"{probe.target[0]}:{probe.target[1]}")
        for key, reached in measuring.items():
            matrix.cells[key].measured = reached.result()
    return matrix


def format_matrix(m: Matrix) -> str:
    from tui.cells import cell_len, ljust, rjust
    from tui.lab.experiments import CLIENT_TITLES

    head = (_("ICC {icc}, userland proxy {proxy}; each cell: measured (predicted).").format(
                icc=on_off(m.icc), proxy=on_off(m.userland_proxy)) + "\n"
            + _("outside/host: the published port when there is one, else the container's address; "
                "containers: the container's address"))
    cols = [_(CLIENT_TITLES[c]) for c in CLIENTS]
    width = max(cell_len(c) for c in cols)
    lines = [head, ""]
    lines.append(ljust(_("experiment"), 24) + "".join(rjust(c, width + 2) for c in cols))
    for exp in EXPERIMENTS:
        row = ljust(f"{exp.number} {_(exp.title)}", 24)
        for client in CLIENTS:
            row += rjust(m.cells[(exp.number, client)].text, width + 2)
        lines.append(row)
    bad = m.disagreements()
    lines.append("")
    lines.append(_("prediction and measurement agree in every cell") if not bad else
                 _("{count} cells disagree (marked !):").format(count=len(bad)))
    for number, client in bad:
        cell = m.cells[(number, client)]
        lines.append("  " + _("{number} / {client}: measured {measured}, engine says {verdict}: {reason}").format(
            number=number, client=client, measured=yes_no(cell.measured), verdict=word(cell.verdict),
            reason=cell.reason))
    return "\n".join(lines)


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(_("the lab creates containers, a network namespace and a veth pair: run it as root"))
