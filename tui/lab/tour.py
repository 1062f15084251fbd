"""The talk's tour: its five experiments, then its four open questions, then what it got wrong for
today's Docker. One stop each: the question, the answer (measured by the lab on this host after
`lab up`, else predicted by the path engine from the state), and the path that explains it.

On a host without the lab (a bundle, the demo) each experiment is asked of a container of the host
started the same way, where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.i18n import _, on_off, word
from tui.lab.experiments import EXPERIMENTS, SERVICE_PORT, Experiment
from tui.model import Container, HostState, PortBinding
from tui.paths.engine import trace
from tui.paths.packet import HostView
from tui.paths.types import Path, Query, QueryError


@dataclass
class TourStop:
    title: str
    question: str
    answer: str
    source: str  # "measured on this host by the lab" / "predicted by the path engine"
    path: Path | None  # the path that explains it (opened in the journey view)


def tour(state: HostState, measured: dict[tuple[int, str], bool | None] | None = None) -> list[TourStop]:
    """`measured`: the lab's connections, (experiment number, client) -> connected, when it is up."""
    shown: set[str] = set()
    stops = [_experiment_stop(state, exp, measured, shown) for exp in EXPERIMENTS]
    stops += _open_questions(state)
    stops.append(_what_the_talk_got_wrong(state))
    return stops


# -- the five experiments ---------------------------------------------------------------------------

def _experiment_stop(state: HostState, exp: Experiment, measured: dict[tuple[int, str], bool | None] | None,
                     shown: set[str]) -> TourStop:
    title = _("Experiment {number}: {title}").format(number=exp.number, title=_(exp.title))
    question = _("A container started with {title}: who reaches its service, from outside, from "
                 "another container on its network, and from the host's 127.0.0.1?").format(title=_(exp.title))
    c, binding = _container_like(state, exp, shown)
    if c is not None:
        shown.add(c.id)
    if c is None:
        return TourStop(title, question, _("No container on this host is started that way: run "
                                           "`sudo dockport-tui lab up` on a Docker host to measure it."), "", None)
    port = binding.host_port if binding is not None and binding.published else None
    inside = binding.container_port if binding is not None else _service_port(c)
    proto = binding.proto if binding is not None else "tcp"
    ip = next((e.ip for e in c.endpoints if e.ip), "")
    peer = next((o for o in state.containers if o.state == "running" and o.id != c.id
                 and o.network_mode != "host" and _shares_network(o, c)), None)
    # (the lab's client that measures it, who asks as the sentence says it, the answer, its path)
    answers: list[tuple[str, str, str, Path | None]] = []
    outside = _ask(state, Query(port, proto, "external") if port else Query(inside, proto, "external", to=ip))
    answers.append(("outside", _("outside"), _verdict(outside), outside))
    if peer is not None:
        other = _ask(state, Query(inside, proto, f"container:{peer.name}", to=ip))
        answers.append(("unlinked", _("another container ({name})").format(name=peer.name), _verdict(other), other))
    local = _ask(state, Query(port, proto, "localhost")) if port else None
    answers.append(("host-localhost", _("host 127.0.0.1"),
                    _verdict(local) if port else _("nothing to connect to (no host port)"), local))
    source = _("predicted by the path engine")
    if measured is not None and c.name == exp.name:
        answers = [(client, who, _("{measured} (predicted: {predicted})").format(
                       measured=_measured_word(measured.get((exp.number, client))), predicted=said), p)
                   for client, who, said, p in answers]
        source = _("measured on this host by the lab (and predicted beside it)")
    text = f"{c.name}" + (f" ({binding.key})" if binding is not None else _(" (no port published or exposed)")) + \
        ": " + "; ".join(f"{who}: {said}" for _client, who, said, _p in answers)
    return TourStop(title, question, text, source, outside)


def _container_like(state: HostState, exp: Experiment,
                    shown: set[str]) -> tuple[Container | None, PortBinding | None]:
    """The lab's own container when the lab is up; else a running container of the host started the
    same way (EXPOSE leaves no trace of its own on a published port: -p with or without it look alike)."""
    running = [c for c in state.containers if c.state == "running" and c.network_mode != "host"
               and any(e.ip for e in c.endpoints)]
    lab = next((c for c in running if c.name == exp.name), None)
    if lab is not None:
        b = next((b for b in lab.ports if b.container_port == SERVICE_PORT
                  and b.host_ip in (None, "0.0.0.0", "")), None)
        return lab, b
    found: list[tuple[bool, Container, PortBinding | None]] = []  # (something listens behind it, ...)
    for c in running:
        published = [b for b in c.ports if b.published and b.host_ip in ("0.0.0.0", "")]
        exposed = [b for b in c.ports if not b.published]
        if exp.publish == "-P":
            candidates: list[PortBinding | None] = [b for b in published if b.publish_all]
        elif exp.publish == "-p":
            candidates = [b for b in published if not b.publish_all]
        elif exp.expose:
            candidates = list(exposed) if not published else []
        else:
            candidates = [None] if not c.ports else []
        for b in candidates:
            port, proto = (b.container_port, b.proto) if b is not None else (_service_port(c), "tcp")
            found.append((_listens(c, port, proto), c, b))
    # A service that answers makes the better example, and one not shown for another experiment.
    found.sort(key=lambda f: (f[1].id in shown, not f[0]))
    return (found[0][1], found[0][2]) if found else (None, None)


def _listens(c: Container, port: int, proto: str) -> bool:
    return any(lsn.port == port and lsn.proto == proto and lsn.ip in ("0.0.0.0", "::") for lsn in c.listeners or ())


def _service_port(c: Container) -> int:
    listening = [lsn.port for lsn in c.listeners or () if lsn.proto == "tcp" and lsn.ip in ("0.0.0.0", "::")]
    return listening[0] if listening else SERVICE_PORT


def _shares_network(a: Container, b: Container) -> bool:
    return bool({e.network for e in a.endpoints} & {e.network for e in b.endpoints})


# -- the open questions ------------------------------------------------------------------------------

def _open_questions(state: HostState) -> list[TourStop]:
    published = [(c, b) for c in state.containers if c.state == "running" for b in c.ports
                 if b.published and b.host_ip in ("0.0.0.0", "") and b.proto == "tcp"
                 and any(e.ip for e in c.endpoints)]
    published.sort(key=lambda cb: not _listens(cb[0], cb[1].container_port, "tcp"))
    stops = []
    c, b = published[0] if published else (None, None)
    others = [o for o in state.containers if c is not None and o.state == "running" and o.id != c.id
              and o.network_mode != "host" and any(e.ip for e in o.endpoints)]
    # Container to container is asked on one network when there is such a pair (the talk's case).
    peer = next((o for o in others if c is not None and _shares_network(o, c)), others[0] if others else None)
    host_ip = _host_address(state)
    proxy = state.facts.userland_proxy

    def stop(title: str, question: str, query: Query | None, say) -> TourStop:
        path = _ask(state, query) if query is not None else None
        if path is None:
            return TourStop(title, question, _("This host has no container to ask it of."), "", None)
        return TourStop(title, question, say(path), _("predicted by the path engine"), path)

    port = b.host_port if b is not None else None
    stops.append(stop(
        _("Open question 1: --userland-proxy=false"),
        _("What happens to 127.0.0.1:PORT when the userland proxy is off?"),
        Query(port, "tcp", "localhost") if port else None,
        lambda p: (_("This daemon runs with the proxy {proxy}: 127.0.0.1:{port} is {verdict}. ").format(
                       proxy=on_off(proxy), port=port, verdict=_verdict_via(p))
                   + (_("With the proxy on, docker-proxy accepts and opens its own connection (the container sees "
                        "the gateway's address). With it off, nat OUTPUT DNATs 127.0.0.1 straight to the container, "
                        "which needs route_localnet=1 on the bridge (Docker sets it) and a MASQUERADE.")
                      if proxy is not False else
                      _("nat OUTPUT DNATs 127.0.0.1 straight to the container (route_localnet=1 on the bridge, "
                        "then MASQUERADE); with the proxy on, docker-proxy would accept it instead.")))))
    target_ip = next((e.ip for e in c.endpoints if e.ip), "") if c is not None else ""
    stops.append(stop(
        _("Open question 2: container ↔ container"),
        _("Does a container reach another one's port directly, and which rules see it?"),
        Query(b.container_port, "tcp", f"container:{peer.name}", to=target_ip) if peer and b and target_ip else None,
        lambda p: f"{p.query.origin} → {target_ip}:{p.query.port}: {word(p.verdict)}. {_bridged_words(p)}"))
    stops.append(stop(
        _("Open question 3: host → container"),
        _("The host connects to its own address and the published port: proxy or DNAT?"),
        Query(port, "tcp", "host", to=host_ip or None) if port else None,
        lambda p: f"{p.query.src} → {p.query.dst}:{port}: {_verdict_via(p)}: {p.summary}"))
    stops.append(stop(
        _("Open question 4: container → host"),
        _("A container connects to the host's address and a published port: where does it go?"),
        Query(port, "tcp", f"container:{peer.name}") if port and peer else None,
        lambda p: f"{p.query.src} → {p.query.dst}:{port}: {_verdict_via(p)}: {p.summary}"))
    return stops


def _bridged_words(p: Path) -> str:
    bridged = next((h for h in p.hops if h.kind == "bridge"), None)
    if bridged is not None and bridged.facts.get("nf_bridge") is not None:
        return (_("On one bridge the frame is switched at layer 2; br_netfilter still runs it through iptables "
                  "(FORWARD), where ICC decides.") if bridged.facts["nf_bridge"] else
                _("On one bridge, and bridge-nf-call-iptables=0: no iptables rule sees it at all."))
    return _("The containers are on different networks: the packet is routed through the host (FORWARD).")


def _what_the_talk_got_wrong(state: HostState) -> TourStop:
    title = _("What the talk got wrong for today's Docker")
    question = _("Does EXPOSE restrict which ports other containers reach?")
    lab = next((c for c in state.containers if c.name == EXPERIMENTS[0].name and c.state == "running"), None)
    c = lab or next((c for c in state.containers if c.state == "running" and c.network_mode != "host"
                     and any(lsn.proto == "tcp" and lsn.ip in ("0.0.0.0", "::")
                             and not any(b.container_port == lsn.port for b in c.ports) for lsn in c.listeners or ())
                     and any(e.ip for e in c.endpoints)), None)
    peer = next((o for o in state.containers if c is not None and o.state == "running" and o.id != c.id
                 and o.network_mode != "host" and _shares_network(o, c)), None)
    if c is None or peer is None:
        return TourStop(title, question, _("No container on this host listens on a port it does not EXPOSE, beside "
                                           "another container: `sudo dockport-tui lab up` sets that up (experiment "
                                           "1)."), "", None)
    unexposed = next((lsn.port for lsn in c.listeners or () if lsn.proto == "tcp" and lsn.ip in ("0.0.0.0", "::")
                      and not any(b.container_port == lsn.port for b in c.ports)), SERVICE_PORT)
    ip = next(e.ip for e in c.endpoints if e.ip)
    path = _ask(state, Query(unexposed, "tcp", f"container:{peer.name}", to=ip))
    icc = any(n.icc for n in state.networks if n.name in {e.network for e in c.endpoints})
    answer = (_("No. {peer} → {container}:{port} (not EXPOSEd): {verdict}. ").format(
                  peer=peer.name, container=c.name, port=unexposed, verdict=_verdict(path))
              + (_("While ICC is on, every container on the network reaches every listening port, EXPOSEd or not: "
                   "EXPOSE is documentation (and what -P publishes).") if icc else
                 _("ICC is off on this network: Docker's own rules decide, and EXPOSE still restricts nothing "
                   "by itself.")))
    return TourStop(title, question, answer, _("predicted by the path engine"), path)


# -- helpers ------------------------------------------------------------------------------------------

def _ask(state: HostState, query: Query) -> Path | None:
    try:
        return trace(state, query)
    except QueryError:
        return None


def _verdict(path: Path | None) -> str:
    if path is None:
        return _("cannot be asked here")
    return word(path.verdict) + (_(" (via {via})").format(via=path.via) if path.via else "")


def _verdict_via(path: Path) -> str:
    return _("{verdict} via {via}").format(verdict=word(path.verdict), via=path.via or _("nothing"))


def _measured_word(connected: bool | None) -> str:
    return {True: _("connects"), False: _("does not connect"), None: _("nothing to connect to")}[connected]


def _host_address(state: HostState) -> str:
    view = HostView.of(state)
    iface = view.default_interface()
    return view.primary_address(iface) if iface else ""
