"""A reproducible large capture bundle: N containers on M networks and about R firewall rules.

    python -m benchmarks.gen_bundle DIR [--containers 1000] [--networks 50] [--rules 20000]

The host looks like a busy Kubernetes node or CI runner: Docker's own rules for every container
(DNAT, filter ACCEPT, hairpin MASQUERADE) plus a long KUBE-SERVICES chain of service rules that a
packet has to walk past, on every path, before it reaches Docker's chains.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

SEED = 20261129


def generate(root: Path, containers: int = 1000, networks: int = 50, rules: int = 20000) -> dict:
    rnd = random.Random(SEED)
    root.mkdir(parents=True, exist_ok=True)
    (root / "netns").mkdir(exist_ok=True)
    nets = []
    for n in range(networks):
        subnet = ipaddress.ip_network(f"10.{100 + n // 200}.{n % 200}.0/24") if n else \
            ipaddress.ip_network("172.17.0.0/16")
        nid = f"{n:04x}" + "ab" * 30
        bridge = "docker0" if n == 0 else f"br-{nid[:12]}"
        nets.append({"Id": nid, "Name": "bridge" if n == 0 else f"net{n}", "Driver": "bridge",
                     "Internal": False, "EnableIPv6": False,
                     "IPAM": {"Config": [{"Subnet": str(subnet), "Gateway": str(subnet[1])}]},
                     "Options": {"com.docker.network.bridge.name": bridge} | (
                         {"com.docker.network.bridge.default_bridge": "true"} if n == 0 else {}),
                     "Containers": {}, "_bridge": bridge, "_subnet": subnet, "_next": 2})
    links = [{"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"], "link_type": "loopback"},
             {"ifindex": 2, "ifname": "eth0", "flags": ["UP"], "link_type": "ether"}]
    addrs = [{"ifindex": 1, "ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
             {"ifindex": 2, "ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}]}]
    routes = [{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
              {"dst": "192.0.2.0/24", "dev": "eth0", "prefsrc": "192.0.2.2"}]
    index = 10
    for net in nets:
        index += 1
        net["_ifindex"] = index
        links.append({"ifindex": index, "ifname": net["_bridge"], "flags": ["UP"], "link_type": "ether",
                      "linkinfo": {"info_kind": "bridge"}})
        gw = str(net["_subnet"][1])
        addrs.append({"ifindex": index, "ifname": net["_bridge"],
                      "addr_info": [{"family": "inet", "local": gw, "prefixlen": net["_subnet"].prefixlen}]})
        routes.append({"dst": str(net["_subnet"]), "dev": net["_bridge"], "prefsrc": gw})

    nat_docker, filter_docker, post = [], [], []
    inspect, ps = [], ["    PID COMMAND"]
    for i in range(containers):
        net = nets[i % networks]
        ip = str(net["_subnet"][net["_next"]])
        net["_next"] += 1
        cid = f"{i:06x}" + "cd" * 29
        host_port, cport = 20000 + i, rnd.choice([80, 443, 8080, 6379, 5432])
        name = f"svc-{i:04d}"
        index += 2
        veth, peer = index - 1, index
        links.append({"ifindex": veth, "link_index": peer, "ifname": f"veth{i:07x}", "flags": ["UP"],
                      "master": net["_bridge"], "link_type": "ether", "link_netnsid": i,
                      "linkinfo": {"info_kind": "veth"}})
        (root / "netns" / f"{cid}.ip-link.json").write_text(json.dumps([
            {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP"]},
            {"ifindex": peer, "link_index": veth, "ifname": "eth0", "flags": ["UP"], "link_netnsid": 0,
             "linkinfo": {"info_kind": "veth"}}]))
        (root / "netns" / f"{cid}.ss.txt").write_text(f"tcp LISTEN 0 128 0.0.0.0:{cport} 0.0.0.0:*\n")
        net["Containers"][cid] = {"Name": name, "IPv4Address": f"{ip}/{net['_subnet'].prefixlen}"}
        key = f"{cport}/tcp"
        inspect.append({
            "Id": cid, "Name": f"/{name}", "State": {"Status": "running", "Running": True, "Pid": 100000 + i},
            "Config": {"Image": "busybox", "ExposedPorts": {key: {}}, "Labels": {"bench": "yes"}},
            "HostConfig": {"NetworkMode": net["Name"],
                           "PortBindings": {key: [{"HostIp": "", "HostPort": str(host_port)}]}},
            "NetworkSettings": {"SandboxKey": f"/var/run/docker/netns/{cid[:12]}",
                                "Ports": {key: [{"HostIp": "0.0.0.0", "HostPort": str(host_port)},
                                                {"HostIp": "::", "HostPort": str(host_port)}]},
                                "Networks": {net["Name"]: {"NetworkID": net["Id"], "IPAddress": ip,
                                                           "IPPrefixLen": net["_subnet"].prefixlen,
                                                           "Gateway": str(net["_subnet"][1])}}},
        })
        br = net["_bridge"]
        nat_docker.append(f"-A DOCKER ! -i {br} -p tcp -m tcp --dport {host_port} "
                          f"-j DNAT --to-destination {ip}:{cport}")
        filter_docker.append(f"-A DOCKER -d {ip}/32 ! -i {br} -o {br} -p tcp -m tcp --dport {cport} -j ACCEPT")
        post.append(f"-A POSTROUTING -s {ip}/32 -d {ip}/32 -p tcp -m tcp --dport {cport} -j MASQUERADE")
        # With the userland proxy on, Docker starts two per binding: 0.0.0.0 and [::] (both to IPv4).
        for k, host_ip in enumerate(("0.0.0.0", "::")):
            ps.append(f"{200000 + 2 * i + k:7d} /usr/bin/docker-proxy -proto tcp -host-ip {host_ip} "
                      f"-host-port {host_port} -container-ip {ip} -container-port {cport}")

    bridges = [n["_bridge"] for n in nets]
    per_net_filter = []
    for n in nets:
        br = n["_bridge"]
        per_net_filter += [f"-A FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                           f"-A FORWARD -o {br} -j DOCKER", f"-A FORWARD -i {br} ! -o {br} -j ACCEPT",
                           f"-A FORWARD -i {br} -o {br} -j ACCEPT"]
    iso1 = [f"-A DOCKER-ISOLATION-STAGE-1 -i {b} ! -o {b} -j DOCKER-ISOLATION-STAGE-2" for b in bridges]
    iso2 = [f"-A DOCKER-ISOLATION-STAGE-2 -o {b} -j DROP" for b in bridges]
    nat_post = [f"-A POSTROUTING -s {n['_subnet']} ! -o {n['_bridge']} -j MASQUERADE" for n in nets]
    nat_ret = [f"-A DOCKER -i {b} -j RETURN" for b in bridges]
    docker_rules = (len(nat_docker) + len(filter_docker) + len(post) + len(per_net_filter) + len(iso1) + len(iso2)
                    + len(nat_post) + len(nat_ret) + 6)
    kube = []
    for k in range(max(0, rules - docker_rules)):
        svc = ipaddress.ip_address("10.96.0.0") + k + 1
        kube.append(f"-A KUBE-SERVICES -d {svc}/32 -p tcp -m comment --comment \"ns{k % 97}/svc{k}:https cluster IP\" "
                    f"-m tcp --dport 443 -j RETURN")
    text = ["# Generated by iptables-save v1.8.9 (nf_tables) on Sun Nov 29 00:00:00 2026",
            "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
            ":POSTROUTING ACCEPT [0:0]", ":DOCKER - [0:0]", ":KUBE-SERVICES - [0:0]",
            "-A PREROUTING -j KUBE-SERVICES",
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            "-A OUTPUT -j KUBE-SERVICES",
            "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
            *nat_post, *post, *nat_ret, *nat_docker, *kube, "COMMIT",
            "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]", ":DOCKER - [0:0]",
            ":DOCKER-ISOLATION-STAGE-1 - [0:0]", ":DOCKER-ISOLATION-STAGE-2 - [0:0]", ":DOCKER-USER - [0:0]",
            "-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1", *per_net_filter,
            *filter_docker, *iso1, "-A DOCKER-ISOLATION-STAGE-1 -j RETURN", *iso2,
            "-A DOCKER-ISOLATION-STAGE-2 -j RETURN", "-A DOCKER-USER -j RETURN", "COMMIT"]
    # With counters, as `iptables-save -c` (what a capture runs) prints every rule.
    (root / "iptables-save.txt").write_text("\n".join(f"[0:0] {line}" if line.startswith("-A ") else line
                                                      for line in text) + "\n")
    for n in nets:
        for k in [k for k in n if k.startswith("_")]:
            del n[k]
    (root / "docker-inspect.json").write_text(json.dumps(inspect))
    (root / "docker-network-inspect.json").write_text(json.dumps(nets))
    (root / "ip-link.json").write_text(json.dumps(links))
    (root / "ip-addr.json").write_text(json.dumps(addrs))
    (root / "ip-route.json").write_text(json.dumps(routes))
    (root / "ps.txt").write_text("\n".join(ps) + "\n")
    (root / "sysctl.txt").write_text("net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n")
    (root / "meta.json").write_text(json.dumps({"format": "dockport-bundle/1", "hostname": "bench-node",
                                                "captured_at": "2026-11-29T00:00:00+00:00"}))
    (root / "docker-version.json").write_text(json.dumps({"Server": {"Version": "20.10.24", "ApiVersion": "1.41"}}))
    (root / "docker-info.json").write_text(json.dumps({"Name": "bench-node"}))
    total = sum(1 for line in text if line.startswith("-A"))
    return {"containers": containers, "networks": networks, "rules": total}


def add_nft_listing(root: Path) -> bool:
    """What a real capture of this host holds beside iptables-save: `nft -j list ruleset`, which on
    an iptables-nft host lists every iptables rule again (about 10 MB at 20,000 rules). Made by
    loading the rules into a throwaway network namespace with iptables-nft-restore. Needs root and
    the tools; False (and no file) without them."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "iptables-nft-restore", "nft")):
        return False
    save = root / "iptables-save.txt"
    proc = subprocess.run(["unshare", "-n", "sh", "-c", f"iptables-nft-restore < '{save}' && nft -j list ruleset"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return False
    (root / "nft-ruleset.json").write_text(proc.stdout)
    return True


def size_args() -> argparse.Namespace:
    """DIR and the size of the host: the arguments of every generator here."""
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--containers", type=int, default=1000)
    ap.add_argument("--networks", type=int, default=50)
    ap.add_argument("--rules", type=int, default=20000)
    ap.add_argument("--nft-listing", action="store_true", help="add nft -j list ruleset, as a capture has it")
    return ap.parse_args()


def main() -> None:
    a = size_args()
    print(generate(Path(a.dir), a.containers, a.networks, a.rules))
    if a.nft_listing and not add_nft_listing(Path(a.dir)):
        print("nft listing not made (needs root, unshare, iptables-nft-restore and nft)")


if __name__ == "__main__":
    main()
