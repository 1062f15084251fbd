"""`verify`: one real connection, traced by the kernel, beside the engine's prediction.

It changes the host only for the time it runs, and undoes it on every way out (return, error,
Ctrl-C, SIGTERM): an outside client's network namespace with a veth to the host (for `external`),
trace rules that match only the probe's own source address and port (and docker-proxy's second
connection to the container), and the monitor processes that read the kernel's trace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.collect.run import ends_with_its_thread
from tui.i18n import _, word
from tui.model import HostState
from tui.paths.engine import Query, QueryError, trace
from tui.paths.packet import HostView
from tui.paths.types import Path as TracedPath
from tui.verify import kernel
from tui.verify.kernel import KernelHop

PREFIX = "dockport-verify"
NAME = f"{PREFIX}-{os.getpid()}"  # every namespace, rule comment and table it adds carries it
OWN_TABLE = NAME
# Documentation ranges for the outside client: the first /30 that no route or address of the host uses.
CLIENT_NETS = ("198.51.100.248/30", "203.0.113.248/30", "192.0.2.248/30")
CONNECT_TIMEOUT = 3.0


class VerifyError(Exception):
    """verify cannot run here; the message says why (exit status 2)."""


@dataclass
class Verification:
    query: Query
    predicted: TracedPath
    kernel: list[KernelHop]
    outcome: str  # connected / refused / unreachable / timeout / closed / failed
    first_difference: int | None  # index into the compared hop lists; None when they agree
    compared: tuple[list[str], list[str]] = field(default_factory=lambda: ([], []))
    notes: list[str] = field(default_factory=list)
    legs: tuple[list[KernelHop], list[KernelHop]] = field(default_factory=lambda: ([], []))

    @property
    def headline(self) -> str:
        if not self.legs[0]:
            return _("the kernel traced no packet of this connection: nothing is confirmed")
        if self.agree:
            return _("confirmed by the kernel")
        if self.first_difference is not None:
            return _("the kernel differs from step {step}").format(step=self.first_difference + 1)
        return _("the kernel's outcome differs ({outcome})").format(outcome=self.outcome)

    def marks(self, path: TracedPath) -> dict[int, str]:
        """Hop index in `path` -> ✓ where the kernel showed the same rule at that place, ≠ where not."""
        out: dict[int, str] = {}
        for leg, kernel_hops in ((1, self.legs[0]), (2, self.legs[1])):
            theirs = [f"{h.table}/{h.chain}: {h.rule}" for h in kernel_hops if h.kind == "rule"]
            ours = [(i, f"{h.table}/{h.chain}: {h.rule}") for i, h in enumerate(path.hops)
                    if h.kind == "rule" and h.leg == leg and not h.facts.get("maybe")]
            for n, (i, text) in enumerate(ours):
                out[i] = "✓" if n < len(theirs) and theirs[n] == text else "≠"
        return out

    @property
    def agree(self) -> bool:
        # Nothing traced confirms nothing: a trace that saw no packet must not read as agreement.
        return bool(self.legs[0]) and self.first_difference is None and self.outcome_agrees

    @property
    def outcome_agrees(self) -> bool:
        if self.predicted.verdict == "uncertain":
            return True
        return (self.predicted.verdict == "delivered") == (self.outcome == "connected")

    def as_json(self) -> dict[str, Any]:
        return {"query": self.predicted.as_json()["query"], "predicted": self.predicted.as_json(),
                "kernel": {"delivered": self.outcome == "connected", "outcome": self.outcome,
                           "hops": [h.as_json() for h in self.kernel]},
                "agree": self.agree, "first_difference": self.first_difference}


# -- the run -------------------------------------------------------------------------------------------

def verify(port: int, proto: str, origin: str, to: str | None,
           collect: Callable[[], HostState] | None = None, family: int = 4) -> Verification:
    if os.geteuid() != 0:
        raise VerifyError(_("verify needs root: it adds trace rules and a client namespace for one connection"))
    if origin.startswith("external:"):
        raise VerifyError(_("verify makes its own outside client: use --from external (it picks the address)"))
    if to is not None and ":" in to:
        family = 6
    if collect is None:
        from tui.collect.live import collect_live

        collect = collect_live
    healed = heal()
    with _interruptible(), contextlib.ExitStack() as undo:
        client = None
        if origin == "external":
            client = _ClientNamespace.make(undo, family)
            origin = f"external:{client.client_ip}"
        state = collect()  # after the client exists: its veth is part of the host the engine sees
        if family == 6 and state.facts.firewall_backend == "legacy":
            raise VerifyError("verify -6 reads the kernel's trace with nft monitor: not on an iptables-legacy host")
        query = Query(port, proto, origin, to, family=family)
        try:
            predicted = trace(state, query)
        except QueryError as exc:
            raise VerifyError(str(exc)) from None
        sport = random.randint(42000, 60999)
        proxy = _proxy_of(state, predicted)
        tracer = _Tracer.start(undo, state, proto, query.src, sport, proxy)
        outcome = _connect(state, query, client, sport)
        hops, leg2 = tracer.read(query, proxy, state, outcome)
    result = _compare(query, predicted, hops, leg2, outcome)
    result.notes[:0] = healed
    return result


def heal() -> list[str]:
    """Remove what an earlier run that died (SIGKILL, a crash) left: namespaces, veths, trace
    rules and nft tables named after a verify process that no longer exists. Says what it removed."""
    removed: list[str] = []

    def gone(name: str) -> bool:
        pid = name.rsplit("-", 1)[-1]
        return pid.isdigit() and int(pid) != os.getpid() and not os.path.exists(f"/proc/{pid}")

    for ns in _run("ip", "netns", "list", check=False).stdout.split():
        if ns.startswith(f"{PREFIX}-") and gone(ns):
            pid = ns.rsplit("-", 1)[-1]
            _run("ip", "link", "del", f"dpv{pid}h"[:15], check=False)
            _run("ip", "netns", "del", ns, check=False)
            removed.append(f"namespace {ns}")
    for tool, save in (("iptables", "iptables-save"), ("iptables-legacy", "iptables-legacy-save")):
        if not shutil.which(save):
            continue
        table = ""
        for line in _run(save, check=False).stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
            m = line.split("--comment ", 1)
            if line.startswith("-A ") and len(m) == 2 and m[1].split()[0].strip('"').startswith(f"{PREFIX}-") \
                    and gone(m[1].split()[0].strip('"')):
                _run(tool, "-t", table, "-D", *_shell_words(line[3:]), check=False)
                removed.append(f"{tool} rule {line}")
    if shutil.which("nft"):
        for line in _run("nft", "list", "tables", check=False).stdout.splitlines():
            words = line.split()
            if len(words) == 3 and words[2].startswith(f"{PREFIX}-") and gone(words[2]):
                _run("nft", "delete", "table", words[1], words[2], check=False)
                removed.append(f"nft table {words[1]} {words[2]}")
    # A monitor's trace file (`_monitor`): "dockport-verify-<pid>-<monitor>-<random>".
    for leftover in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*-*-*"):
        pid = leftover.name[len(PREFIX) + 1:].split("-", 1)[0]
        if leftover.is_file() and (gone(f"{PREFIX}-{pid}") or _started_after(pid, leftover.stat().st_mtime)):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed.append(f"trace file {leftover}")
    return [_("removed what an interrupted verify left: {what}").format(what=r) for r in removed]


def _started_after(pid: str, when: float) -> bool:
    """Whether process `pid` started after `when` (epoch seconds): then a file written at `when` by
    a verify of that pid belongs to an earlier process, and the pid was reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") > when + 1
    except (OSError, ValueError, IndexError, StopIteration):
        return False


def _shell_words(text: str) -> list[str]:
    import shlex

    return shlex.split(text)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM undoes like Ctrl-C: both unwind through the `finally`s that remove what we added."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # in the app's worker: the app owns the signals, and a later run heals what is left
        return

    def stop(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGHUP: the terminal went away (an SSH session dropped).
    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=check, input=input)


# -- the outside client -------------------------------------------------------------------------------

@dataclass
class _ClientNamespace:
    ns: str
    host_ip: str
    client_ip: str

    @classmethod
    def make(cls, undo: contextlib.ExitStack, family: int = 4) -> _ClientNamespace:
        net = _free_network(4)
        host_ip, client_ip = (str(a) for a in list(ipaddress.ip_network(net).hosts())[:2])
        ns, host_end, client_end = NAME, f"dpv{os.getpid()}h"[:15], f"dpv{os.getpid()}c"[:15]
        undo.callback(_run, "ip", "netns", "del", ns, check=False)
        undo.callback(_run, "ip", "link", "del", host_end, check=False)
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host_end, "type", "veth", "peer", "name", client_end)
        _run("ip", "link", "set", client_end, "netns", ns)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_end)
        _run("ip", "link", "set", host_end, "up")
        _run("ip", "-n", ns, "addr", "add", f"{client_ip}/30", "dev", client_end)
        _run("ip", "-n", ns, "link", "set", client_end, "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "route", "add", "default", "via", host_ip)
        if family == 6:
            net6 = _free_network(6)
            host_ip, client_ip = (str(a) for a in list(ipaddress.ip_network(net6).hosts())[:2])
            # nodad: a tentative address (duplicate detection pending) cannot be used at once.
            _run("ip", "addr", "add", f"{host_ip}/126", "dev", host_end, "nodad")
            _run("ip", "-n", ns, "addr", "add", f"{client_ip}/126", "dev", client_end, "nodad")
            _run("ip", "-n", ns, "-6", "route", "add", "default", "via", host_ip)
        return cls(ns, host_ip, client_ip)


CLIENT_NETS6 = ("2001:db8:d0c:f::/126", "2001:db8:d0c:e::/126", "2001:db8:d0c:d::/126")


def _free_network(family: int) -> str:
    """The first documentation range of the family that no address or route of the host uses."""
    flag = f"-{family}"
    used = _run("ip", flag, "-o", "addr", "show").stdout + _run("ip", flag, "route", "show", "table", "all").stdout
    taken = [ipaddress.ip_network(w, strict=False) for w in used.split() if "/" in w and _is_network(w)]
    for net in CLIENT_NETS if family == 4 else CLIENT_NETS6:
        candidate = ipaddress.ip_network(net)
        if not any(candidate.overlaps(t) for t in taken if t.version == family and t.prefixlen > 0):
            return net
    raise VerifyError(_("every documentation range verify could give its IPv{family} client is in use on this "
                        "host").format(family=family))


def _is_network(word: str) -> bool:
    try:
        ipaddress.ip_network(word, strict=False)
        return True
    except ValueError:
        return False


# -- tracing ------------------------------------------------------------------------------------------

def _proxy_of(state: HostState, path: TracedPath) -> Any:
    hop = next((h for h in path.hops if h.kind == "proxy"), None)
    return next((p for p in state.proxies if str(p.pid) == hop.name), None) if hop else None


@dataclass
class _Tracer:
    backend: str
    files: dict[str, Path]
    native: set[tuple[str, str]]
    legacy_mark: str = ""
    legacy_rules: dict[tuple[str, str, int], str] = field(default_factory=dict)
    legacy_shift: dict[str, int] = field(default_factory=dict)
    by_handle: bool = False  # nft's monitor traces iptables-nft's tables too (IPv6)
    marks: _Marks = field(init=False)

    @classmethod
    def start(cls, undo: contextlib.ExitStack, state: HostState, proto: str, src: str, sport: int,
              proxy: Any) -> _Tracer:
        backend = state.facts.firewall_backend
        native = {(t.family, t.name) for t in state.nft_tables}
        # Only the probe's packets, and docker-proxy's own connection to the container.
        matches = [["-s", src, "-p", proto, "--sport", str(sport)]]
        if proxy is not None:
            matches.append(["-d", proxy.container_ip, "-p", proto, "--dport", str(proxy.container_port)])
        tracer = cls(backend, {}, native)
        tracer.marks = _Marks(undo)
        matches += [tracer.marks.match(port) for port in tracer.marks.ports]
        if ":" in src:
            # IPv6: xtables-monitor 1.8.9 stops at the first ip6 rule with a port match, so nft's
            # monitor traces every table, iptables-nft's too (named by handle, put back in
            # iptables' words when read).
            if not shutil.which("nft"):
                raise VerifyError("verify -6 reads the kernel's trace with nft monitor: install nftables")
            tracer.by_handle = True
            tracer._monitor(undo, "nft", ["nft", "-a", "monitor", "trace"])
            tracer._nft_rules(undo, src, proto, sport, proxy)
            tracer._await_mark(tracer.marks.ready, tries=30, wait=0.1)
            return tracer
        if backend == "legacy":
            tracer._legacy(undo, matches)
        elif shutil.which("xtables-monitor"):
            tracer._monitor(undo, "xtables", ["xtables-monitor", "--trace", "-4"])
            tracer._trace_rules(undo, "iptables", matches)
        elif not native:
            raise VerifyError(_("no xtables-monitor (package iptables) to read the kernel's trace"))
        if native:
            if not shutil.which("nft"):
                raise VerifyError(_("native nftables tables, and no nft (package nftables) to read their trace"))
            tracer._monitor(undo, "nft", ["nft", "-a", "monitor", "trace"])
            tracer._nft_rules(undo, src, proto, sport, proxy)
        if tracer.files:  # the monitors subscribe (the kernel log needs no subscription)
            tracer._await_mark(tracer.marks.ready, tries=30, wait=0.1)
        if backend == "legacy":
            save = _run("iptables-legacy-save").stdout
            tracer.legacy_rules = kernel.save_positions(save)
        return tracer

    def _monitor(self, undo: contextlib.ExitStack, name: str, argv: list[str]) -> None:
        out = tempfile.NamedTemporaryFile("w+", delete=False, prefix=f"{NAME}-{name}-")
        # Its output goes to a file, so nothing ends it when verify is killed: tied to this thread.
        proc = subprocess.Popen(ends_with_its_thread(argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.files[name] = Path(out.name)
        undo.callback(os.unlink, out.name)
        undo.callback(out.close)
        undo.callback(_stop, proc)

    def _trace_rules(self, undo: contextlib.ExitStack, tool: str, matches: list[list[str]]) -> None:
        tag = ["-m", "comment", "--comment", NAME]  # so that a later run can find it if this one dies
        for chain in ("PREROUTING", "OUTPUT"):
            for m in (x + tag for x in matches):
                # The undo first: an interrupt that lands while the rule goes in must take it out.
                undo.callback(_run, tool, "-t", "raw", "-D", chain, *m, "-j", "TRACE", check=False)
                _run(tool, "-t", "raw", "-I", chain, *m, "-j", "TRACE")

    def _nft_rules(self, undo: contextlib.ExitStack, src: str, proto: str, sport: int, proxy: Any) -> None:
        def ip(addr: str) -> str:
            return "ip6" if ":" in addr else "ip"

        sets = [f"{ip(src)} saddr {src} meta l4proto {proto} th sport {sport} meta nftrace set 1"]
        if proxy is not None:
            sets.append(f"{ip(proxy.container_ip)} daddr {proxy.container_ip} meta l4proto {proto} "
                        f"th dport {proxy.container_port} meta nftrace set 1")
        sets += [f"ip saddr 127.0.0.1 udp sport {port} udp dport {port} meta nftrace set 1"
                 for port in self.marks.ports]
        body = "; ".join(sets)
        undo.callback(_run, "nft", "delete", "table", "inet", OWN_TABLE, check=False)
        _run("nft", "-f", "-", input=(
            f"table inet {OWN_TABLE} {{\n"
            f" chain pre {{ type filter hook prerouting priority -500; {body}; }}\n"
            f" chain out {{ type filter hook output priority -500; {body}; }}\n}}\n"))

    def _legacy(self, undo: contextlib.ExitStack, matches: list[list[str]]) -> None:
        if not shutil.which("dmesg") or not os.path.exists("/dev/kmsg"):
            raise VerifyError("iptables-legacy traces to the kernel log, and it cannot be read here")
        self.legacy_mark = f"{NAME}-{time.monotonic_ns()}"
        Path("/dev/kmsg").write_text(self.legacy_mark + "\n")
        self._trace_rules(undo, "iptables-legacy", matches)
        self.legacy_shift = {"PREROUTING": len(matches), "OUTPUT": len(matches)}

    def _await_mark(self, sock: socket.socket, tries: int, wait: float) -> bool:
        """Send the mark of `sock` until every monitor (and the kernel log, on legacy) shows it:
        at most `tries` times, each waited for `wait` seconds."""
        port = sock.getsockname()[1]
        needles = {"xtables": f"SPORT={port} DPORT={port} ", "nft": f"udp sport {port} udp dport {port} "}
        for _try in range(tries):
            self.marks.send(sock)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                shown = all(needles[name] in path.read_text(errors="replace") for name, path in self.files.items())
                if shown and self.backend == "legacy":
                    shown = f"SPT={port} DPT={port} " in self._kernel_log()
                if shown:
                    return True
                time.sleep(self._poll)
        return False

    def _await_proxy(self, proxy: Any, timeout: float = 2.0) -> None:
        """Until docker-proxy's first packet to the container shows (at most `timeout`). The proxy
        connects after it has accepted the client, and a TCP probe returns once its handshake with
        the proxy is done: a done mark sent at once could come before the proxy's connection."""
        dst, dport = proxy.container_ip, proxy.container_port
        needles = {"xtables": (f"DST={dst} ", f"DPORT={dport} "), "nft": (f"daddr {dst} ", f"dport {dport} ")}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = [(needles[name], path.read_text(errors="replace")) for name, path in self.files.items()]
            if self.backend == "legacy":
                texts.append(((f"DST={dst} ", f"DPT={dport} "), self._kernel_log()))
            if any(a in line and b in line for (a, b), text in texts for line in text.splitlines()):
                time.sleep(0.02)  # the rest of that packet's way through the host's hooks
                return
            time.sleep(self._poll)

    @property
    def _poll(self) -> float:
        """Between two looks at the trace: on legacy each look runs dmesg, a process."""
        return 0.02 if self.backend == "legacy" else 0.005

    def _kernel_log(self) -> str:
        log = _run("dmesg").stdout
        return log[log.find(self.legacy_mark):] if self.legacy_mark in log else ""

    def read(self, query: Query, proxy: Any, state: HostState,
             outcome: str = "connected") -> tuple[list[KernelHop], list[KernelHop]]:
        """The kernel's hops of the client's first packet, and of docker-proxy's (leg 2)."""
        # A TCP client that was refused or timed out never reached a proxy: nothing to wait for.
        if proxy is not None and (query.proto == "udp" or outcome in ("connected", "closed")):
            self._await_proxy(proxy)
        if self._await_mark(self.marks.done, tries=3, wait=1.0):
            texts = {name: path.read_text(errors="replace") for name, path in self.files.items()}
        else:  # no mark came back: wait until the monitors' output stops growing, as before
            texts = {name: _settled(path) for name, path in self.files.items()}
        gateway = HostView.of(state).route(proxy.container_ip)[2] if proxy is not None else ""
        iptables = None
        if self.by_handle:
            saves = {"ip": _run("iptables-save", check=False).stdout, "ip6": _run("ip6tables-save", check=False).stdout}
            iptables = kernel.iptables_rules_by_handle(_run("nft", "-j", "-a", "list", "ruleset").stdout, saves)

        def hops(dport: int, src: str | None) -> list[KernelHop]:
            out: list[KernelHop] = []
            if self.backend == "legacy":
                log = self._kernel_log()
                out += kernel.from_trace_log(log, query.proto, dport, src, self.legacy_rules, self.legacy_shift)
            if "xtables" in texts:
                out += kernel.from_xtables_monitor(texts["xtables"], query.proto, dport, src)
            if "nft" in texts:
                native = kernel.from_nft_monitor(texts["nft"], query.proto, dport, src, OWN_TABLE, self.native,
                                                 iptables)
                out = _merge(out, native, "xtables" in texts or self.backend == "legacy")
            return out

        return hops(query.port, query.src), (hops(proxy.container_port, gateway) if proxy is not None else [])


class _Marks:
    """Two UDP sockets on the host's loopback, each sending to itself (no other program receives
    a thing), traced like the probe. The monitors have subscribed once the "ready" mark shows in
    their output, and have written all of the probe's events once the "done" mark, sent after the
    probe, shows: the kernel reports one namespace's trace events in order. They replace a fixed
    0.3 s wait and "no growth for 0.3 s", 0.7 s of verify's 1.1 s."""

    def __init__(self, undo: contextlib.ExitStack) -> None:
        self.ready, self.done = self._bound(undo), self._bound(undo)
        self.ports = [self.ready.getsockname()[1], self.done.getsockname()[1]]

    @staticmethod
    def _bound(undo: contextlib.ExitStack) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        undo.callback(sock.close)
        sock.bind(("127.0.0.1", 0))
        return sock

    @staticmethod
    def match(port: int) -> list[str]:
        return ["-s", "127.0.0.1", "-d", "127.0.0.1", "-p", "udp", "--sport", str(port), "--dport", str(port)]

    @staticmethod
    def send(sock: socket.socket) -> None:
        sock.sendto(b"dockport-verify mark", sock.getsockname())


def _merge(iptables: list[KernelHop], native: list[KernelHop], both: bool) -> list[KernelHop]:
    """Two monitors each saw their own tables; their order between each other is not in their
    output, so native hops follow (the comparison takes the two kinds apart anyway)."""
    return iptables + native if both else native


def _settled(path: Path) -> str:
    """The monitor's output once it stops growing (monitors lag behind the packet)."""
    last, stable = -1, 0
    for _attempt in range(50):
        size = path.stat().st_size
        stable = stable + 1 if size == last else 0
        if stable >= 3:
            break
        last = size
        time.sleep(0.1)
    return path.read_text(errors="replace")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the connection -----------------------------------------------------------------------------------

def _connect(state: HostState, query: Query, client: _ClientNamespace | None, sport: int) -> str:
    if client is not None:
        return _in_netns(f"/run/netns/{client.ns}", lambda: _probe(query, sport))
    if query.origin.startswith("container:"):
        c = state.container(query.origin.split(":", 1)[1])
        if c is not None and c.network_mode != "host":
            if not c.sandbox_key:
                raise VerifyError(_("container {container}: its network namespace is not known").format(
                    container=c.name))
            return _in_netns(c.sandbox_key, lambda: _probe(query, sport))
    return _probe(query, sport)


def _in_netns(path: str, fn: Callable[[], str]) -> str:
    from tui.collect.netns import call_in_netns

    return call_in_netns(path, fn, timeout=CONNECT_TIMEOUT + 5)


def _probe(query: Query, sport: int) -> str:
    """One connection from (src, sport): how it looked to the client."""
    import errno

    kinds = {errno.ECONNREFUSED: "refused", errno.EHOSTUNREACH: "unreachable", errno.ENETUNREACH: "unreachable",
             errno.EACCES: "unreachable", errno.EPERM: "unreachable", errno.ECONNRESET: "closed"}
    kind = socket.SOCK_STREAM if query.proto == "tcp" else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET6 if ":" in query.src else socket.AF_INET, kind) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((query.src, sport))
            s.settimeout(CONNECT_TIMEOUT)
            s.connect((query.dst, query.port))
            if query.proto == "tcp":
                return "connected"
            s.send(b"dockport-verify\n")
            return "connected" if s.recv(4096) else "closed"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return kinds.get(exc.errno or 0, "failed")


# -- the comparison -----------------------------------------------------------------------------------

def _compare(query: Query, predicted: TracedPath, kernel_leg1: list[KernelHop], kernel_leg2: list[KernelHop],
             outcome: str) -> Verification:
    """Rule hops in order (the client's, then docker-proxy's); the kernel also shows ACCEPT policies
    of chains the engine need not name, so only a policy that stopped the packet must match."""
    def ours(leg: int) -> list[str]:
        return [f"{h.table}/{h.chain}: {h.rule}" for h in predicted.hops
                if h.kind == "rule" and h.leg == leg and not h.facts.get("maybe")] + \
               [f"{h.table}/{h.chain} policy {h.policy.upper()}" for h in predicted.hops
                if h.kind == "policy" and h.leg == leg and h.policy.upper() != "ACCEPT"]

    def theirs(hops: list[KernelHop]) -> list[str]:
        return [f"{h.table}/{h.chain}: {h.rule}" for h in hops if h.kind == "rule"] + \
               [f"{h.table}/{h.chain} policy {h.verdict.upper()}" for h in hops
                if h.kind == "policy" and h.verdict.upper() not in ("ACCEPT", "") and h.table != "raw"]

    a = ours(1) + ours(2)
    b = theirs(kernel_leg1) + theirs(kernel_leg2)
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if first is None and len(a) != len(b):
        first = min(len(a), len(b))
    notes = []
    if not kernel_leg1:
        notes.append(_("the kernel traced no packet of this connection"))
    return Verification(query, predicted, kernel_leg1 + kernel_leg2, outcome, first, (a, b), notes,
                        (kernel_leg1, kernel_leg2))


def report(v: Verification) -> str:
    """Prediction and kernel side by side, the first difference marked, then each verdict."""
    a, b = v.compared
    from tui.cells import cell_len, ljust

    predicted = _("predicted")
    width = max([cell_len(x) for x in a] + [cell_len(predicted)])
    lines = [v.predicted.summary, "", f"    {ljust(predicted, width)}  " + _("kernel")]
    for i in range(max(len(a), len(b))):
        left = a[i] if i < len(a) else "—"
        right = b[i] if i < len(b) else "—"
        mark = "≠" if v.first_difference == i else " "
        lines.append(f"{mark} {i + 1:>2} {ljust(left, width)}  {right}")
    lines.append("")
    lines.append(_("predicted: {verdict}").format(verdict=word(v.predicted.verdict))
                 + (_(" (via {via})").format(via=word(v.predicted.via)) if v.predicted.via else ""))
    lines.append(_("kernel:    the connection succeeded") if v.outcome == "connected" else
                 _("kernel:    the connection failed: {outcome}").format(outcome=v.outcome))
    lines += [_("note: {note}").format(note=n) for n in v.notes]
    if v.agree:
        lines.append(_("confirmed by the kernel: the same rules, in the same order, and the same outcome"))
    elif not v.legs[0]:
        lines.append(v.headline)
    else:
        lines.append(_("they differ from step {step} on").format(step=v.first_difference + 1)
                     if v.first_difference is not None else _("the rules agree, the outcome does not"))
        lines.append(_("the engine was wrong here: `dockport-tui capture DIR` writes this host's state, so that "
                       "the case can be reported and rebuilt"))
    return "\n".join(lines)
