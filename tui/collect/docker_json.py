"""Turn Docker's inspect JSON (from the SDK's low-level API or `docker inspect`) into the model.

The live collector and the bundle loader both pass through here, so both give the same model.
"""

from __future__ import annotations

from typing import Any

from tui.model import Container, Endpoint, HostFacts, Network, PortBinding, Warning_

Json = dict[str, Any]


def _split_port(spec: str) -> tuple[int, str]:
    port, _, proto = spec.partition("/")
    return int(port), (proto or "tcp")


def port_bindings(inspect: Json) -> tuple[PortBinding, ...]:
    """EXPOSEd and published ports of one container.

    `-P` ports appear only in NetworkSettings.Ports (not HostConfig.PortBindings) and
    EXPOSE-only ports appear there as null; a stopped container has no NetworkSettings.Ports,
    so fall back to the config for what it would publish.
    """
    host_config = inspect.get("HostConfig") or {}
    requested: dict[str, list[Json]] = host_config.get("PortBindings") or {}
    publish_all = bool(host_config.get("PublishAllPorts"))
    exposed = set((inspect.get("Config") or {}).get("ExposedPorts") or {})
    actual: dict[str, list[Json] | None] = (inspect.get("NetworkSettings") or {}).get("Ports") or {}

    out: list[PortBinding] = []
    specs = sorted(set(actual) | exposed | set(requested), key=lambda s: _split_port(s))
    for spec in specs:
        try:
            cport, proto = _split_port(spec)
        except ValueError:
            continue
        bound = actual.get(spec)
        if not bound:
            if spec in requested and not actual:
                # Not running: show what it asked for.
                for b in requested[spec] or []:
                    hp = b.get("HostPort") or ""
                    out.append(PortBinding(cport, proto, b.get("HostIp") or "0.0.0.0",
                                           int(hp) if hp.isdigit() else None, ephemeral=not hp))
                continue
            out.append(PortBinding(cport, proto))
            continue
        asked = {(b.get("HostIp") or "", b.get("HostPort") or "") for b in requested.get(spec) or []}
        if not any(str(b.get("HostPort") or "").isdigit() for b in bound):
            # No host port at all (a network in gateway mode "routed" says ""): nothing is published.
            out.append(PortBinding(cport, proto))
            continue
        for b in bound:
            host_ip = b.get("HostIp") or "0.0.0.0"
            port_text = str(b.get("HostPort") or "")
            if not port_text.isdigit():
                continue
            host_port = int(port_text)
            explicit_port = any(hp and hp == str(host_port) for _ip, hp in asked)
            out.append(PortBinding(
                cport, proto, host_ip, host_port,
                ephemeral=not explicit_port,
                publish_all=publish_all and spec not in requested,
            ))
    return tuple(out)


def container_from_inspect(inspect: Json) -> Container:
    settings = inspect.get("NetworkSettings") or {}
    endpoints = []
    for net_name, ep in sorted((settings.get("Networks") or {}).items()):
        ep = ep or {}
        endpoints.append(Endpoint(
            network=net_name,
            network_id=ep.get("NetworkID") or "",
            ip=ep.get("IPAddress") or "",
            prefix=int(ep.get("IPPrefixLen") or 0),
            gateway=ep.get("Gateway") or "",
            mac=ep.get("MacAddress") or "",
            ipv6=ep.get("GlobalIPv6Address") or "",
        ))
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    host_config = inspect.get("HostConfig") or {}
    return Container(
        id=inspect.get("Id", ""),
        name=(inspect.get("Name") or "").lstrip("/"),
        state=state.get("Status") or ("running" if state.get("Running") else "unknown"),
        image=config.get("Image") or inspect.get("Image") or "",
        pid=int(state.get("Pid") or 0),
        sandbox_key=settings.get("SandboxKey") or "",
        network_mode=host_config.get("NetworkMode") or "",
        ports=port_bindings(inspect),
        endpoints=tuple(endpoints),
        labels=tuple(sorted((str(k), str(v)) for k, v in (config.get("Labels") or {}).items())),
        links=tuple(host_config.get("Links") or ()),
    )


def _bool_opt(options: dict[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    return str(value).lower() in ("1", "true", "yes")


def network_from_inspect(inspect: Json, daemon_icc: bool | None = None) -> Network:
    options: dict[str, str] = inspect.get("Options") or {}
    ipam = (inspect.get("IPAM") or {}).get("Config") or []
    v4: dict[str, Any] = next((c for c in ipam if ":" not in (c.get("Subnet") or "")), {}) if ipam else {}
    driver = inspect.get("Driver") or ""
    bridge = ""
    if driver == "bridge":
        bridge = options.get("com.docker.network.bridge.name") or f"br-{inspect.get('Id', '')[:12]}"
    # The default bridge's ICC follows the daemon's --icc; user networks have their own option.
    default_icc = daemon_icc if (daemon_icc is not None and
                                 options.get("com.docker.network.bridge.default_bridge") == "true") else True
    return Network(
        id=inspect.get("Id", ""),
        name=inspect.get("Name", ""),
        driver=driver,
        bridge=bridge,
        subnet=v4.get("Subnet") or "",
        gateway=v4.get("Gateway") or "",
        internal=bool(inspect.get("Internal")),
        icc=_bool_opt(options, "com.docker.network.bridge.enable_icc", default_icc),
        gateway_mode_ipv4=options.get("com.docker.network.bridge.gateway_mode_ipv4") or "nat",
        enable_ipv6=bool(inspect.get("EnableIPv6")),
        options=tuple(sorted((str(k), str(v)) for k, v in options.items())),
        containers=tuple(sorted((inspect.get("Containers") or {}).keys())),
    )


def facts_from_docker(version: Json | None, info: Json | None) -> tuple[HostFacts, list[Warning_]]:
    warnings: list[Warning_] = []
    version = version or {}
    info = info or {}
    server = version.get("Server") if "Server" in version else version
    server = server or {}
    security = info.get("SecurityOptions") or []
    rootless = any("name=rootless" in str(s) for s in security)
    backend = ""
    firewall = info.get("FirewallBackend") or {}
    if isinstance(firewall, dict):
        backend = {"iptables": "", "nftables": "nftables"}.get(firewall.get("Driver") or "", "")
    if backend == "nftables":
        warnings.append(Warning_("docker", "Docker uses its native nftables backend; "
                                 "its rules are read from `nft list ruleset` only in part",
                                 "trace results on this host are uncertain"))
    facts = HostFacts(
        hostname=info.get("Name") or "",
        docker_version=server.get("Version") or info.get("ServerVersion") or "",
        api_version=server.get("ApiVersion") or "",
        rootless=rootless,
    )
    return facts, warnings


def daemon_icc_from_rules(rules_text_lines: list[str], bridge: str = "docker0") -> bool | None:
    """The default bridge's ICC is not in the API; Docker writes `-i br -o br -j DROP` when off."""
    for t in rules_text_lines:
        if f"-i {bridge} -o {bridge} -j DROP" in t:
            return False
        if f"-i {bridge} -o {bridge} -j ACCEPT" in t:
            return True
    return None
