"""The test rig: a real Docker engine, a real outside client, and the kernel's own trace as oracle.

Everything created here carries the prefix `dpt-` plus a per-run suffix, and is removed again.
Network traffic goes only to containers and namespaces made here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PREFIX = "dpt-"
RUN_ID = uuid.uuid4().hex[:6]
IMAGE = "dockport-test:busybox"
CLIENT_NS = f"{PREFIX}client"
CLIENT_IP, HOST_SIDE_IP = "198.51.100.2", "198.51.100.1"
CLIENT_IP6, HOST_SIDE_IP6 = "2001:db8:1::2", "2001:db8:1::1"  # the outside client's IPv6 (documentation range)
DOCKERD_LOG = Path(tempfile.gettempdir()) / "dockport-test-dockerd.log"
PIDFILE = Path("/var/run/docker.pid")


def sh(*argv: str, check: bool = True, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=check, input=input)


def with_default_sigint() -> None:
    """preexec_fn for a child that a test interrupts: a test run started in the background by a
    non-interactive shell ignores SIGINT, the child would inherit that, and Python then installs no
    KeyboardInterrupt handler: the test must not depend on how it was launched."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def name(kind: str) -> str:
    return f"{PREFIX}{kind}-{RUN_ID}"


# -- the daemon -----------------------------------------------------------------------------------

def daemon_running() -> bool:
    return sh("docker", "version", "--format", "{{.Server.Version}}", check=False, timeout=10).returncode == 0


def _dockerd_pids() -> list[int]:
    out = sh("pgrep", "-x", "dockerd", check=False).stdout.split()
    return [int(p) for p in out]


def stop_daemon(timeout: float = 30) -> None:
    for pid in _dockerd_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _dockerd_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _dockerd_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while _dockerd_pids() and time.monotonic() < deadline + 10:
        time.sleep(0.2)
    # A killed daemon leaves its pid file behind and a new one then refuses to start.
    with contextlib.suppress(FileNotFoundError):
        PIDFILE.unlink()


def start_daemon(*flags: str, timeout: float = 60) -> None:
    if _dockerd_pids():
        stop_daemon()
    with contextlib.suppress(FileNotFoundError):
        PIDFILE.unlink()
    log = open(DOCKERD_LOG, "a")
    subprocess.Popen(["dockerd", *flags], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                     start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon_running():
            return
        time.sleep(0.3)
    raise RuntimeError(f"dockerd {' '.join(flags)} did not start; see {DOCKERD_LOG}")


def ensure_image() -> None:
    if sh("docker", "image", "inspect", IMAGE, check=False).returncode == 0:
        return
    busybox = shutil.which("busybox") or "/bin/busybox"
    with tempfile.TemporaryDirectory() as root:
        r = Path(root)
        for d in ("bin", "www", "tmp"):
            (r / d).mkdir()
        shutil.copy(busybox, r / "bin" / "busybox")
        for applet in ("sh", "httpd", "nc", "sleep", "cat", "echo", "ls"):
            (r / "bin" / applet).symlink_to("busybox")
        (r / "www" / "index.html").write_text("hi\n")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-c", "EXPOSE 80",
                        "-c", 'CMD ["/bin/busybox","httpd","-f","-p","80","-h","/www"]', "-", IMAGE],
                       stdin=tar.stdout, check=True, capture_output=True, timeout=120)
        tar.wait()


def cleanup_docker() -> None:
    ids = sh("docker", "ps", "-aq", "--filter", f"name={PREFIX}", check=False).stdout.split()
    if ids:
        sh("docker", "rm", "-f", *ids, check=False)
    nets = sh("docker", "network", "ls", "-q", "--filter", f"name={PREFIX}", check=False).stdout.split()
    if nets:
        sh("docker", "network", "rm", *nets, check=False)


def run_container(cname: str, *args: str, cmd: tuple[str, ...] = ()) -> str:
    sh("docker", "run", "-d", "--name", cname, *args, IMAGE, *cmd)
    return cname


def wait_ipv6_addresses_settled(*sandboxes: str, host: bool = True) -> None:
    """Until no IPv6 address of the host (unless `host` is False) and of these network namespaces
    (by path) is tentative.
    Duplicate address detection takes a second or two after an address is added, and a tentative
    address is no source: docker-proxy's connection to a container on a network made just before
    left from another address of the host than the bridge's, and the engine's leg 2 was not the
    kernel's. A trace that starts at once (no more fixed waits) met it."""
    for within in [*([[]] if host else []), *(["nsenter", f"--net={sandbox}"] for sandbox in sandboxes)]:
        for _ in range(50):
            if not sh(*within, "ip", "-6", "addr", "show", "tentative", check=False).stdout.strip():
                break
            time.sleep(0.1)


def container_ip(cname: str, network: str | None = None) -> str:
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}" if network is None else \
        f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"
    return sh("docker", "inspect", "-f", fmt, cname).stdout.split()[0]


def host_port(cname: str, spec: str) -> int:
    out = sh("docker", "port", cname, spec).stdout.split()
    return int(out[0].rsplit(":", 1)[1])


# -- the outside client ---------------------------------------------------------------------------

def make_client_ns() -> None:
    remove_client_ns()
    sh("ip", "netns", "add", CLIENT_NS)
    sh("ip", "link", "add", f"{PREFIX}h0", "type", "veth", "peer", "name", f"{PREFIX}c0")
    sh("ip", "link", "set", f"{PREFIX}c0", "netns", CLIENT_NS)
    sh("ip", "addr", "add", f"{HOST_SIDE_IP}/24", "dev", f"{PREFIX}h0")
    sh("ip", "link", "set", f"{PREFIX}h0", "up")
    sh("ip", "-n", CLIENT_NS, "addr", "add", f"{CLIENT_IP}/24", "dev", f"{PREFIX}c0")
    sh("ip", "-n", CLIENT_NS, "link", "set", f"{PREFIX}c0", "up")
    sh("ip", "-n", CLIENT_NS, "link", "set", "lo", "up")
    sh("ip", "-n", CLIENT_NS, "route", "add", "default", "via", HOST_SIDE_IP)
    # IPv6 too; nodad: a tentative address (duplicate detection pending) could not be used yet.
    sh("ip", "addr", "add", f"{HOST_SIDE_IP6}/64", "dev", f"{PREFIX}h0", "nodad")
    sh("ip", "-n", CLIENT_NS, "addr", "add", f"{CLIENT_IP6}/64", "dev", f"{PREFIX}c0", "nodad")
    sh("ip", "-n", CLIENT_NS, "-6", "route", "add", "default", "via", HOST_SIDE_IP6)


def remove_client_ns() -> None:
    sh("ip", "link", "del", f"{PREFIX}h0", check=False)
    sh("ip", "netns", "del", CLIENT_NS, check=False)


# -- connecting for real --------------------------------------------------------------------------

PROBE = Path(__file__).with_name("probe.py")


class Reach(str):
    """How a real client's connection went: "connected", "refused", "unreachable", "timeout",
    "closed" or "failed". True only when it connected and got an answer."""

    def __bool__(self) -> bool:
        return self == "connected"


_PROBE_EXIT = {0: "connected", 2: "refused", 3: "unreachable", 4: "timeout", 5: "closed"}


def _reach(code: int) -> Reach:
    return Reach(_PROBE_EXIT.get(code, "failed"))


# This interpreter, isolated and without site-packages: the probe needs only the standard library.
# `python3` on PATH was pyenv's shim, ~75 ms of each of the ~800 connections the tests make.
_PROBE_PYTHON = (sys.executable, "-I", "-S")


def connect_from_sandbox(sandbox_key: str, ip: str, port: int, proto: str = "tcp") -> Reach:
    """Connect from inside a container's network namespace with the host's python (no exec, no tools
    in the image): proto "tcp", "udp", or "udp-connected" (a connected UDP socket)."""
    argv = ["nsenter", f"--net={sandbox_key}", *_PROBE_PYTHON, str(PROBE), proto, ip, str(port)]
    return _reach(sh(*argv, check=False, timeout=20).returncode)


def connect_from_ns(ns: str | None, ip: str, port: int, proto: str = "tcp") -> Reach:
    argv = [*_PROBE_PYTHON, str(PROBE), proto, ip, str(port)]
    if ns:
        argv = ["ip", "netns", "exec", ns, *argv]
    return _reach(sh(*argv, check=False, timeout=20).returncode)


def connect_from_container(cname: str, ip: str, port: int, proto: str = "tcp") -> Reach:
    """From inside the container's network namespace: the probe, as for every other origin (`docker
    exec nc` took ~0.4 s a connection and waited 3 s on a drop, and said only yes or no)."""
    sandbox = sh("docker", "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", cname).stdout.strip()
    return connect_from_sandbox(sandbox, ip, port, proto)


# -- the kernel as oracle -------------------------------------------------------------------------

_PACKET = re.compile(r"^PACKET: \d+ ([0-9a-f]+) (.*)$")
_TRACE = re.compile(r"^\s*TRACE: \d+ ([0-9a-f]+) (\w+):([^:]+):(rule|policy|return):(.*)$")


@dataclass
class KernelEvent:
    table: str
    chain: str
    kind: str  # rule / policy / return
    rule: str  # iptables-save text, for rule events
    verdict: str


def parse_trace(text: str, proto: str, dport: int, src: str | None) -> list[KernelEvent]:
    """Events of the first packet of the flow: found by its IP ID and source port, not trace id."""
    first_key = None
    current: dict[str, tuple[str, str]] = {}
    events: list[KernelEvent] = []
    for line in text.splitlines():
        m = _PACKET.match(line)
        if m:
            tid, fields = m.group(1), m.group(2)
            f = dict(kv.split("=", 1) for kv in fields.split() if "=" in kv)
            key = (f.get("ID", ""), f.get("SPORT", ""))
            current[tid] = key
            if first_key is None and f.get("DPORT") == str(dport) and (src is None or f.get("SRC") == src):
                is_first = (" SYN" in fields and " ACK" not in fields) if proto == "tcp" else True
                if is_first:
                    first_key = key
            continue
        m = _TRACE.match(line)
        if not m or first_key is None or current.get(m.group(1)) != first_key:
            continue
        _tid, table, chain, kind, rest = m.groups()
        rest = rest.strip()
        rule = ""
        verdict = rest
        if kind == "rule":
            verdict, _, ruletext = rest.partition("  ")
            ruletext = ruletext.strip()
            rule = re.sub(r"^-[46] -t \S+ ", "", ruletext)
        if "-j TRACE" in rule:
            continue  # our own tracing rule
        events.append(KernelEvent(table, chain, kind, rule, verdict))
    return events


def settled_text(path: str) -> str:
    """A monitor's output once it stops growing (monitors lag behind the packet)."""
    last, stable = -1, 0
    for _ in range(50):
        size = os.path.getsize(path)
        stable = stable + 1 if size == last else 0
        if stable >= 3:
            break
        last = size
        time.sleep(0.1)
    return Path(path).read_text(errors="replace")


# A datagram to one of these ports on the loopback of the traced namespace is traced like the flow
# under test, and each trace below watches for it: the monitor has subscribed once a "ready" mark
# shows in its output, and has written all the flow's events once a "done" mark sent after the
# flow shows (the kernel reports a namespace's trace events in order). This replaced a fixed 0.3 s
# wait and "no growth for 0.3 s": ~0.6 s of each of the ~700 kernel-judged cases.
MARK_PORTS = "7:9"
_READY_PORT, _DONE_PORT = 9, 7


def _send_mark(netns: str | None, port: int) -> None:
    from tui.collect.netns import call_in_netns

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"dpt-mark", ("127.0.0.1", port))

    if netns:
        call_in_netns(f"/run/netns/{netns}", send)
    else:
        send()


def _mark_shows(read: Callable[[], str], netns: str | None, port: int, needle: str, tries: int,
                wait: float) -> bool:
    """Send a mark until `needle` (how the monitor writes its port) is in `read()`: at most
    `tries` marks, each waited for `wait` seconds."""
    for _ in range(tries):
        _send_mark(netns, port)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if needle in read():
                return True
            time.sleep(0.005)
    return False


@contextlib.contextmanager
def kernel_trace(proto: str, ports: list[int], netns: str | None = None):
    """TRACE rules in raw PREROUTING/OUTPUT plus xtables-monitor; yields a callable returning the text.

    With `netns`, both run inside that namespace (nft trace events stay in their namespace).
    """
    rules = [(chain, port) for port in ports for chain in ("PREROUTING", "OUTPUT")]
    within = ["ip", "netns", "exec", netns] if netns else []
    out = tempfile.NamedTemporaryFile("w+", delete=False, suffix=".trace")
    mon = subprocess.Popen([*within, "xtables-monitor", "--trace", "-4"], stdout=out, stderr=subprocess.STDOUT)
    mark = ["-t", "raw", "OUTPUT", "-p", "udp", "--dport", MARK_PORTS, "-j", "TRACE"]
    try:
        sh(*within, "iptables", *mark[:2], "-A", *mark[2:])
        for chain, port in rules:
            sh(*within, "iptables", "-t", "raw", "-I", chain, "-p", proto, "--dport", str(port), "-j", "TRACE")
        text = lambda: Path(out.name).read_text(errors="replace")  # noqa: E731
        _mark_shows(text, netns, _READY_PORT, f"DPORT={_READY_PORT} ", tries=40, wait=0.1)

        def read() -> str:
            if _mark_shows(text, netns, _DONE_PORT, f"DPORT={_DONE_PORT} ", tries=3, wait=1.0):
                return text()
            return settled_text(out.name)

        yield read
    finally:
        for chain, port in rules:
            sh(*within, "iptables", "-t", "raw", "-D", chain, "-p", proto, "--dport", str(port), "-j", "TRACE",
               check=False)
        sh(*within, "iptables", *mark[:2], "-D", *mark[2:], check=False)
        mon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            mon.wait(5)
        if mon.poll() is None:
            mon.kill()
        out.close()
        os.unlink(out.name)


# -- the kernel as oracle, iptables-legacy ---------------------------------------------------------

_LOG_LINE = re.compile(r"TRACE: (\w+):([^:]+):(rule|policy|return):(\d+) (.*)$")


@dataclass
class LogEvent:
    table: str
    chain: str
    kind: str  # rule / policy / return
    number: int  # the rule's position in its chain (at the time of the trace)


def parse_trace_log(text: str, proto: str, dport: int, src: str | None) -> list[LogEvent]:
    """The TRACE target's kernel log lines of the flow's first packet (by IP ID and source port),
    in the order the kernel wrote them."""
    first = None
    events: list[LogEvent] = []
    for line in text.splitlines():
        m = _LOG_LINE.search(line)
        if not m:
            continue
        table, chain, kind, number, rest = m.groups()
        f = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
        key = (f.get("ID", ""), f.get("SPT", ""))
        if first is None and f.get("DPT") == str(dport) and f.get("PROTO", "").lower() == proto and \
                (src is None or f.get("SRC") == src) and (proto != "tcp" or (" SYN " in f" {rest} " and
                                                                             " ACK " not in f" {rest} ")):
            first = key
        if key == first:
            events.append(LogEvent(table, chain, kind, int(number)))
    return events


@contextlib.contextmanager
def legacy_trace_log(proto: str, ports: list[int]):
    """TRACE rules (iptables-legacy, raw PREROUTING/OUTPUT, at the top) and the kernel log they
    write to (nf_log_ipv4); yields a callable returning the log lines written since. The TRACE
    rules are removed on exit. Their positions shift raw's own rules: `offset` says by how much."""
    rules = [(chain, port) for port in ports for chain in ("PREROUTING", "OUTPUT")]
    # A mark in the kernel log where our part starts (counting lines fails once the ring is full).
    mark = f"dpt-trace-{RUN_ID}-{time.monotonic_ns()}"
    Path("/dev/kmsg").write_text(mark + "\n")
    for chain, port in rules:
        sh("iptables-legacy", "-t", "raw", "-I", chain, "-p", proto, "--dport", str(port), "-j", "TRACE")
    # The done mark's TRACE rule goes last: raw's own rules keep the positions `offset` counts on.
    done = ["-t", "raw", "OUTPUT", "-p", "udp", "--dport", MARK_PORTS, "-j", "TRACE"]
    sh("iptables-legacy", *done[:2], "-A", *done[2:])
    try:
        def since_mark() -> str:
            text = sh("dmesg").stdout
            return text[text.find(mark):] if mark in text else ""

        def read() -> str:
            if not _mark_shows(since_mark, None, _DONE_PORT, f"DPT={_DONE_PORT} ", tries=3, wait=1.0):
                time.sleep(0.3)
            return since_mark()

        yield read
    finally:
        for chain, port in rules:
            sh("iptables-legacy", "-t", "raw", "-D", chain, "-p", proto, "--dport", str(port), "-j", "TRACE",
               check=False)
        sh("iptables-legacy", *done[:2], "-D", *done[2:], check=False)


# -- the kernel as oracle, nftables ----------------------------------------------------------------

TRACE_TABLE = "dpt-trace"
_NFT_LINE = re.compile(r"^trace id ([0-9a-f]+) (\w+) (\S+) (\S+) (packet: |rule |policy |verdict |unknown rule )(.*)$")


@dataclass
class NftEvent:
    family: str
    table: str
    chain: str
    kind: str  # rule / policy
    rule: str  # as `nft list ruleset` prints it, counter values left out
    verdict: str
    handle: int | None = None  # the rule's handle (the monitor runs with -a)


def parse_nft_trace(text: str, proto: str, dport: int, src: str | None) -> list[NftEvent]:
    """Events of the flow's first packet in `nft monitor trace` output (our own table left out).
    The first packet is found by its IP ID and source port (IPv6 has no ID: its flow label, length
    and TCP flags); the kernel gives a packet a new trace id when it loops back through lo or goes
    up from a bridge. `src` may be a source address of either family."""
    first_key = None
    keys: dict[str, tuple[str, str]] = {}
    events: list[NftEvent] = []
    for line in text.splitlines():
        m = _NFT_LINE.match(line.strip())
        if not m:
            continue
        tid, family, table, chain, kind, rest = m.groups()
        kind = kind.rstrip(": ").split()[-1]
        if kind == "packet":
            fields = rest.split()
            f = {f"{a} {b}": c for a, b, c in zip(fields, fields[1:], fields[2:], strict=False)}
            if "ip6 saddr" in f:
                flags = rest.split("tcp flags ", 1)[-1].split(" tcp window")[0] if proto == "tcp" else ""
                key = (f"{f.get('ip6 flowlabel', '')}/{f.get('ip6 length', '')}/{flags}", f.get(f"{proto} sport", ""))
            else:
                key = (f.get("ip id", ""), f.get(f"{proto} sport", ""))
            keys[tid] = key
            saddr = f.get("ip saddr") or f.get("ip6 saddr")
            ours = f.get(f"{proto} dport") == str(dport) and (src is None or saddr == src)
            if first_key is None and ours:
                syn = "syn" in rest and "ack" not in rest.split("tcp flags", 1)[-1].split("tcp window")[0]
                if proto != "tcp" or syn:
                    first_key = key
            continue
        if first_key is None or keys.get(tid) != first_key or table == TRACE_TABLE or kind == "verdict":
            continue
        verdict = ""
        vm = re.search(r" \(verdict ([^)]*)\)$", rest)
        if vm:
            verdict, rest = vm.group(1), rest[:vm.start()]
        handle = None
        hm = re.search(r" # handle (\d+)$", rest)
        if hm:
            handle, rest = int(hm.group(1)), rest[:hm.start()]
        if kind == "policy":
            verdict, rest = rest.strip(), ""
        events.append(NftEvent(family, table, chain, kind, re.sub(r"counter packets \d+ bytes \d+", "counter",
                                                                    rest.strip()), verdict, handle))
    return events


@contextlib.contextmanager
def nft_trace(proto: str, ports: list[int], netns: str | None = None):
    """`meta nftrace set 1` for the ports, in a table of our own at priority -500 (before raw, and before
    defrag, so that a table of the host at -400 is traced too) at prerouting and output,
    and `nft monitor trace`; yields a callable returning the monitor's text. Removed on exit."""
    within = ["ip", "netns", "exec", netns] if netns else []
    plist = ", ".join(str(p) for p in ports)
    rules = (f"table inet {TRACE_TABLE} {{\n"
             f" chain pre {{ type filter hook prerouting priority -500; "
             f"meta l4proto {proto} th dport {{ {plist} }} meta nftrace set 1; }}\n"
             f" chain out {{ type filter hook output priority -500; "
             f"meta l4proto {proto} th dport {{ {plist} }} meta nftrace set 1; "
             f"udp dport {MARK_PORTS.replace(':', '-')} meta nftrace set 1; }}\n}}\n")
    out = tempfile.NamedTemporaryFile("w+", delete=False, suffix=".nfttrace")
    mon = subprocess.Popen([*within, "nft", "-a", "monitor", "trace"], stdout=out, stderr=subprocess.STDOUT)
    try:
        sh(*within, "nft", "-f", "-", input=rules)
        text = lambda: Path(out.name).read_text(errors="replace")  # noqa: E731
        _mark_shows(text, netns, _READY_PORT, f"udp dport {_READY_PORT} ", tries=40, wait=0.1)

        def read() -> str:
            if _mark_shows(text, netns, _DONE_PORT, f"udp dport {_DONE_PORT} ", tries=3, wait=1.0):
                return text()
            return settled_text(out.name)

        yield read
    finally:
        sh(*within, "nft", "delete", "table", "inet", TRACE_TABLE, check=False)
        mon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            mon.wait(5)
        if mon.poll() is None:
            mon.kill()
        out.close()
        os.unlink(out.name)


def rule_positions(netns: str | None = None) -> dict[tuple[str, str, str, int], int]:
    """(family, table, chain, handle) -> the rule's 1-based position in its chain: how a rule that
    `nft monitor trace` names by handle is found in `iptables-save`'s listing."""
    within = ["ip", "netns", "exec", netns] if netns else []
    ruleset = json.loads(sh(*within, "nft", "-j", "-a", "list", "ruleset").stdout)
    out: dict[tuple[str, str, str, int], int] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for item in ruleset.get("nftables", []):
        rule = item.get("rule")
        if rule:
            chain = (rule["family"], rule["table"], rule["chain"])
            counts[chain] = counts.get(chain, 0) + 1
            out[(*chain, rule["handle"])] = counts[chain]
    return out


# -- iptables backends ----------------------------------------------------------------------------

def current_backend() -> str:
    return "nft" if "nf_tables" in sh("iptables", "-V").stdout else "legacy"


def set_backend(backend: str) -> None:
    for tool in ("iptables", "ip6tables"):
        sh("update-alternatives", "--set", tool, f"/usr/sbin/{tool}-{backend}")


def flush_legacy() -> None:
    """Remove every legacy rule and user chain (the tables themselves can't be unloaded)."""
    for _save, tool, names in (("iptables-legacy-save", "iptables-legacy", "/proc/net/ip_tables_names"),
                              ("ip6tables-legacy-save", "ip6tables-legacy", "/proc/net/ip6_tables_names")):
        try:
            tables = Path(names).read_text().split()
        except OSError:
            continue
        for table in tables:
            sh(tool, "-t", table, "-F", check=False)
            sh(tool, "-t", table, "-X", check=False)
            for chain in ("INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"):
                sh(tool, "-t", table, "-P", chain, "ACCEPT", check=False)


def default_host() -> list[str]:
    """Put the host in the state every engine test assumes, and say what had to change.

    A fresh Docker host: iptables-nft, no legacy rules, the default daemon, and the FORWARD policy
    DROP that Docker sets when it has to turn IPv4 forwarding on itself (a daemon started while
    forwarding is already on leaves the policy as it finds it, and outside clients then reach
    unpublished containers). IPv6 forwarding off and no fe80::1 on docker0, as before any IPv6 daemon.
    A run that died half-way (a crash skips every finally), or a hand-made repair, leaves otherwise."""
    changed: list[str] = []
    if current_backend() != "nft":
        cleanup_docker()
        stop_daemon()
        set_backend("nft")
        changed.append("iptables backend back to nft")
    if Path("/proc/net/ip_tables_names").exists() and "-A " in sh("iptables-legacy-save", check=False).stdout:
        flush_legacy()
        changed.append("legacy rules flushed")
    policy = sh("iptables-nft", "-S", "FORWARD", check=False).stdout.splitlines()[:1]
    if not daemon_running() or policy != ["-P FORWARD DROP"]:
        stop_daemon()
        sh("sysctl", "-w", "net.ipv4.ip_forward=0", check=False)
        start_daemon()
        changed.append("default daemon started with IPv4 forwarding off (FORWARD policy DROP)")
    for key in ("net.ipv6.conf.all.forwarding", "net.ipv6.conf.default.forwarding"):
        if sh("sysctl", "-n", key, check=False).stdout.strip() == "1":
            sh("sysctl", "-w", f"{key}=0", check=False)
            changed.append(f"{key}=0")
    if "fe80::1/64" in sh("ip", "-6", "addr", "show", "dev", "docker0", check=False).stdout:
        sh("ip", "-6", "addr", "del", "fe80::1/64", "dev", "docker0", check=False)
        changed.append("fe80::1 removed from docker0")
    return changed + _sweep_interrupted_runs()


def _sweep_interrupted_runs() -> list[str]:
    """What a run stopped half-way leaves (its finally blocks never ran): the fixture hosts'
    namespaces and the programs in them, docker-proxies of a dockerd that was killed, and an IPv6
    daemon's ip6tables rules. A later run trips over each: an orphaned docker-proxy is a finding,
    and test_findings' "no orphan on the host" case fails."""
    changed: list[str] = []
    for ns in sh("ip", "netns", "list", check=False).stdout.split():
        if ns.startswith(f"{PREFIX}fx-"):
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                _kill(int(pid))
            sh("ip", "netns", "del", ns, check=False)
            changed.append(f"namespace {ns} of an interrupted run removed")
    for pid, ppid, args in _processes():
        proxy = args.startswith(("docker-proxy ", "/usr/sbin/docker-proxy "))
        stray = proxy or (" httpd " in args and "busybox" in args)
        if stray and ppid == 1:  # its dockerd or its test is gone
            _kill(pid)
            changed.append(f"orphaned process {pid} ({args[:60]}) stopped")
    if "DOCKER" in sh("ip6tables-nft-save", check=False).stdout:  # the default daemon makes no ip6 rules
        _remove_ipv6_daemon_rules()
        changed.append("an IPv6 daemon's ip6tables rules removed")
    return changed


def _processes() -> list[tuple[int, int, str]]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        out.append((int(entry), ppid, command_line(int(entry))))
    return out


def command_line(pid: int) -> str:
    """The process's argv joined by spaces; "" once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children(pid: int) -> set[int]:
    out = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.update(int(p) for p in fh.read().split())
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    """Running: not gone, and not a zombie (this machine's init does not always reap them)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pids: set[int] | list[int], seconds: float) -> bool:
    """True once none of `pids` runs; False if one still does after `seconds`."""
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _remove_ipv6_daemon_rules() -> None:
    """The ip6tables rules and chains an IPv6 daemon made (FORWARD policy DROP among them)."""
    for table in ("filter", "nat"):
        sh("ip6tables-nft", "-t", table, "-F", check=False)
        sh("ip6tables-nft", "-t", table, "-X", check=False)
    sh("ip6tables-nft", "-P", "FORWARD", "ACCEPT", check=False)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


IPV6_SUBNET = "fd01:d0c::/64"  # the default bridge's IPv6 subnet under ipv6_daemon (a ULA)
_IPV6_SYSCTLS = ("net.ipv6.conf.all.forwarding", "net.ipv6.conf.default.forwarding",
                 "net.bridge.bridge-nf-call-ip6tables")


@contextlib.contextmanager
def ipv6_daemon(*flags: str):
    """dockerd with IPv6 and ip6tables on (Debian's 20.10 needs --experimental for --ip6tables).
    What it leaves behind is undone afterwards, also when the body fails: IPv6 forwarding, the
    addresses it gave docker0 (fe80::1 and the subnet's gateway) and its ip6tables rules and chains
    (FORWARD policy DROP); then the default daemon runs again."""
    cleanup_docker()
    saved = {key: sh("sysctl", "-n", key, check=False).stdout.strip() for key in _IPV6_SYSCTLS}
    saved_ip6 = sh("ip6tables-nft-save").stdout
    try:
        start_daemon("--experimental", "--ip6tables", "--ipv6", "--fixed-cidr-v6", IPV6_SUBNET, *flags)
        yield
    finally:
        cleanup_docker()
        stop_daemon()
        _remove_ipv6_daemon_rules()
        sh("ip6tables-nft-restore", input=saved_ip6, check=False)
        start_daemon()
        # The default daemon, started after an IPv6 one, puts fe80::1 back on docker0 and IPv6
        # forwarding back on: undone once it runs.
        for addr in ("fe80::1/64", IPV6_SUBNET.replace("::/", "::1/")):
            sh("ip", "-6", "addr", "del", addr, "dev", "docker0", check=False)
        for key, value in saved.items():
            if value:
                sh("sysctl", "-w", f"{key}={value}", check=False)


@contextlib.contextmanager
def legacy_daemon(*flags: str):
    """The host switched to iptables-legacy with dockerd restarted (with `flags`); iptables-nft, its
    rules and the default daemon come back afterwards, also when the body fails."""
    cleanup_docker()
    saved_nft = sh("iptables-nft-save").stdout
    try:
        stop_daemon()
        # dockerd leaves its rules behind when it stops; a legacy host has no nft Docker rules, and
        # the kernel would run both sets (the stale nft FORWARD policy DROP included).
        for table in ("filter", "nat", "raw"):
            sh("iptables-nft", "-t", table, "-F", check=False)
            sh("iptables-nft", "-t", table, "-X", check=False)
        sh("iptables-nft", "-P", "FORWARD", "ACCEPT", check=False)
        set_backend("legacy")
        start_daemon(*flags)
        yield
    finally:
        cleanup_docker()
        stop_daemon()
        flush_legacy()
        set_backend("nft")
        sh("iptables-nft-restore", input=saved_nft, check=False)
        start_daemon()
