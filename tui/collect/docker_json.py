"""Turn Docker's inspect JSON (from the SDK's low-level API or `docker inspect`) into the model.

The live collector and the bundle loader both pass through here, so both give the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tui.collect.fields import Doc
from tui.model import Container, Endpoint, HostFacts, Listener, Network, PortBinding, Warning_

Json = dict[str, Any]


def _split_port(spec: str) -> tuple[int, str]:
    port, _, proto = spec.partition("/")
    number = int(port)
    if not 0 < number < 65536 or (proto or "tcp") not in ("tcp", "udp", "sctp"):
        raise ValueError(spec)
    return number, (proto or "tcp")


def _host_port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def port_bindings(doc: Doc) -> tuple[PortBinding, ...]:
    """EXPOSEd and published ports of one container.

    `-P` ports appear only in NetworkSettings.Ports (not HostConfig.PortBindings) and
    EXPOSE-only ports appear there as null; a stopped container has no NetworkSettings.Ports,
    so fall back to the config for what it would publish.
    """
    requested = {spec: bindings.value for spec, bindings in doc.raw_entries("HostConfig", "PortBindings")}
    publish_all = doc.flag("HostConfig", "PublishAllPorts")
    exposed = set(doc.keys("Config", "ExposedPorts"))
    actual = {spec: bindings.value for spec, bindings in doc.raw_entries("NetworkSettings", "Ports")}

    out: list[PortBinding] = []
    specs: list[tuple[tuple[int, str], str]] = []
    for spec in set(actual) | exposed | set(requested):
        try:
            specs.append((_split_port(spec), spec))
        except ValueError:
            doc.problems.append(f"{doc.where}: ports: {spec!r} is not PORT/PROTO")
    for (cport, proto), spec in sorted(specs):
        bound = _binding_list(doc, "NetworkSettings.Ports", spec, actual.get(spec))
        if not bound:
            if spec in requested and not actual:
                # Not running: show what it asked for.
                for b in _binding_list(doc, "HostConfig.PortBindings", spec, requested[spec]):
                    hp = b.text("HostPort")
                    out.append(PortBinding(cport, proto, b.text("HostIp") or "0.0.0.0", _host_port(hp),
                                           ephemeral=not hp))
                continue
            out.append(PortBinding(cport, proto))
            continue
        asked = {(b.text("HostIp"), b.text("HostPort"))
                 for b in _binding_list(doc, "HostConfig.PortBindings", spec, requested.get(spec))}
        ports = [(b, _host_port(b.text("HostPort"))) for b in bound]
        if not any(port for _b, port in ports):
            # No host port at all (a network in gateway mode "routed" says ""): nothing is mapped on
            # the host's addresses, but the port was asked for (-p): it is open at the container's.
            out.append(PortBinding(cport, proto, unmapped=True))
            continue
        for b, host_port in ports:
            if host_port is None:
                continue
            explicit_port = any(hp and hp == str(host_port) for _ip, hp in asked)
            out.append(PortBinding(
                cport, proto, b.text("HostIp") or "0.0.0.0", host_port,
                ephemeral=not explicit_port,
                publish_all=publish_all and spec not in requested,
            ))
    return tuple(out)


def _binding_list(doc: Doc, where: str, spec: str, value: object) -> list[Doc]:
    if value is None:
        return []
    if not isinstance(value, list):
        doc.problems.append(f"{doc.where}: {where}.{spec}: expected a list, got {type(value).__name__}")
        return []
    out = []
    for b in value:
        if isinstance(b, dict):
            out.append(Doc(b, f"{doc.where}: {where}.{spec}", doc.problems))
        else:
            doc.problems.append(f"{doc.where}: {where}.{spec}: a binding that is not an object")
    return out


def container_from_inspect(inspect: Json, problems: list[str] | None = None,
                           interfaces: Mapping[str, tuple[tuple[str, int, int], ...]] | None = None,
                           listeners: Mapping[str, tuple[Listener, ...]] | None = None) -> Container:
    """One container from its inspect; what could not be read is noted in its `problems`. Its
    namespace's interfaces and sockets, when read, come keyed by container id (a copy of 1,000
    frozen containers made to add them afterwards cost more than reading them)."""
    mine: list[str] = []
    name = inspect.get("Name") if isinstance(inspect, dict) else None
    doc = Doc(inspect if isinstance(inspect, dict) else {},
              f"container {name.lstrip('/') if isinstance(name, str) else '?'}", mine)
    if not isinstance(inspect, dict):
        mine.append(f"{doc.where}: expected an object, got {type(inspect).__name__}")
    settings = doc.obj("NetworkSettings")
    endpoints = []
    for net_name, ep in sorted(settings.entries("Networks"), key=lambda e: e[0]):
        endpoints.append(Endpoint(
            network=net_name,
            network_id=ep.text("NetworkID"),
            ip=ep.address("IPAddress"),
            prefix=ep.integer("IPPrefixLen"),
            gateway=ep.address("Gateway"),
            mac=ep.text("MacAddress"),
            ipv6=ep.address("GlobalIPv6Address"),
            prefix6=ep.integer("GlobalIPv6PrefixLen"),
            gateway6=ep.address("IPv6Gateway"),
        ))
    state = doc.obj("State")
    config = doc.obj("Config")
    host_config = doc.obj("HostConfig")
    labels = tuple(sorted((k, str(v.value)) for k, v in config.raw_entries("Labels")))
    cid = doc.text("Id")
    container = Container(
        id=cid,
        name=doc.text("Name").lstrip("/"),
        state=state.text("Status") or ("running" if state.flag("Running") else "unknown"),
        image=config.text("Image") or doc.text("Image"),
        pid=state.integer("Pid"),
        sandbox_key=settings.text("SandboxKey"),
        network_mode=host_config.text("NetworkMode"),
        ports=port_bindings(doc),
        endpoints=tuple(endpoints),
        labels=labels,
        links=tuple(host_config.strings("Links")),
        problems=tuple(mine),
        interfaces=interfaces.get(cid, ()) if interfaces else (),
        listeners=listeners.get(cid) if listeners else None,
    )
    if problems is not None:
        problems.extend(mine)
    return container


def _bool_opt(options: dict[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    return str(value).lower() in ("1", "true", "yes")


def network_from_inspect(inspect: Json, daemon_icc: bool | None = None,
                         problems: list[str] | None = None) -> Network:
    found: list[str] = []
    doc = Doc(inspect if isinstance(inspect, dict) else {}, "network", found)
    doc.where = f"network {doc.text('Name') or '?'}"
    options = {k: (v.value if isinstance(v.value, str) else str(v.value)) for k, v in doc.raw_entries("Options")}
    ipam = doc.obj("IPAM").objects("Config")
    v4 = next((c for c in ipam if ":" not in c.text("Subnet")), None)
    driver = doc.text("Driver")
    bridge = ""
    if driver == "bridge":
        bridge = options.get("com.docker.network.bridge.name") or f"br-{doc.text('Id')[:12]}"
    # The default bridge's ICC follows the daemon's --icc; user networks have their own option.
    default_icc = daemon_icc if (daemon_icc is not None and
                                 options.get("com.docker.network.bridge.default_bridge") == "true") else True
    network = Network(
        id=doc.text("Id"),
        name=doc.text("Name"),
        driver=driver,
        bridge=bridge,
        subnet=v4.network("Subnet") if v4 else "",
        gateway=v4.address("Gateway") if v4 else "",
        internal=doc.flag("Internal"),
        icc=_bool_opt(options, "com.docker.network.bridge.enable_icc", default_icc),
        gateway_mode_ipv4=options.get("com.docker.network.bridge.gateway_mode_ipv4") or "nat",
        enable_ipv6=doc.flag("EnableIPv6"),
        options=tuple(sorted(options.items())),
        containers=tuple(sorted(doc.keys("Containers"))),
    )
    if problems is not None:
        problems.extend(found)
    return network


def facts_from_docker(version: Json | None, info: Json | None,
                      problems: list[str] | None = None) -> tuple[HostFacts, list[Warning_]]:
    warnings: list[Warning_] = []
    found: list[str] = []
    v = Doc(version if isinstance(version, dict) else {}, "docker version", found)
    i = Doc(info if isinstance(info, dict) else {}, "docker info", found)
    server = v.obj("Server") if isinstance(v.value.get("Server"), dict) else v
    rootless = any("name=rootless" in str(s) for s in i.items("SecurityOptions"))
    driver = i.obj("FirewallBackend").text("Driver")  # Docker 28.2+: "iptables" or "nftables"
    facts = HostFacts(
        docker_firewall=driver if driver in ("iptables", "nftables") else "",
        hostname=i.text("Name"),
        docker_version=server.text("Version") or i.text("ServerVersion"),
        api_version=server.text("ApiVersion"),
        rootless=rootless,
    )
    if problems is not None:
        problems.extend(found)
    return facts, warnings


def daemon_icc_from_rules(rules_text_lines: list[str], bridge: str = "docker0") -> bool | None:
    """The default bridge's ICC is not in the API; Docker writes `-i br -o br -j DROP` when off."""
    drop, accept = f"-i {bridge} -o {bridge} -j DROP", f"-i {bridge} -o {bridge} -j ACCEPT"
    for t in rules_text_lines:
        if drop in t:
            return False
        if accept in t:
            return True
    return None
