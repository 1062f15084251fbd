"""The Docker SDK client the collectors use: a local socket skips requests' environment lookups."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests import rig
from tui.collect.live import docker_client


class _VersionOnly(BaseHTTPRequestHandler):
    """A daemon that answers only `GET /version`, as the SDK asks when it starts."""

    def do_GET(self) -> None:
        body = json.dumps({"ApiVersion": "1.41", "Version": "20.10.24"}).encode()
        self.send_response(200 if self.path.endswith("/version") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_tcp_daemon_keeps_the_proxy_settings(monkeypatch):
    """Only the unix socket drops them: a daemon over tcp:// may need the proxy the user set."""
    server = HTTPServer(("127.0.0.1", 0), _VersionOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.server_port}")
        client = docker_client()
        assert client.api.base_url.startswith("http://127.0.0.1")
        assert client.api.trust_env is True
        client.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.engine
def test_the_local_socket_client_inspects_without_the_environment(engine, monkeypatch):
    """A proxy variable that points nowhere is not consulted for the daemon's own socket, and the
    inspect gives what `docker inspect` prints."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    import requests.sessions

    looked_up: list[str] = []
    for lookup in ("get_netrc_auth", "get_environ_proxies"):
        real = getattr(requests.sessions, lookup)
        monkeypatch.setattr(requests.sessions, lookup,
                            lambda *a, _real=real, _name=lookup, **k: looked_up.append(_name) or _real(*a, **k))
    name = rig.run_container(rig.name("client"))
    try:
        client = docker_client()
        assert client.api.trust_env is False
        looked_up.clear()  # the SDK asked for the API version before the client was ours to set
        ours = client.api.inspect_container(name)
        assert looked_up == []  # requests read neither ~/.netrc nor the proxy variables for it
        assert ours == json.loads(rig.sh("docker", "inspect", name).stdout)[0]
        client.close()
    finally:
        rig.sh("docker", "rm", "-f", name, check=False)


@pytest.mark.engine
def test_requests_to_the_socket_share_one_pool_and_the_collector_keeps_its_client(engine):
    """docker-py's socket adapter keeps a pool of idle connections per request URL (each container's
    inspect its own, up to 25 pools) and closes a pool under a request still using it when a 26th
    URL comes. Ours keeps one pool for the socket, so 30 inspects of 30 containers from 8 threads
    leave at most the pool's connections open. A collection keeps the client for the next one."""
    from concurrent.futures import ThreadPoolExecutor

    from tui.collect.live import LiveCollector

    names = [rig.name(f"pool{i}") for i in range(30)]
    for name in names:
        rig.sh("docker", "create", "--name", name, rig.IMAGE)
    try:
        client = docker_client()
        sockets_before = _docker_sockets()
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(client.api.inspect_container, names))
        assert [a["Name"] for a in answers] == [f"/{n}" for n in names]
        adapter = client.api.get_adapter(client.api.base_url)
        assert list(adapter.pools.keys()) == [client.api.base_url]
        assert _docker_sockets() - sockets_before <= 8, (sockets_before, _docker_sockets())
        client.close()
        collector = LiveCollector()
        collector.collect()
        kept = collector.client
        assert kept is not None
        collector.collect()
        assert collector.client is kept
    finally:
        rig.sh("docker", "rm", "-f", *names, check=False)


def _docker_sockets() -> int:
    """This process's open unix sockets (the client side of a connection to dockerd has no path)."""
    import os

    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return count
