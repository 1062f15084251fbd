"""The large capture of `gen_bundle`, on Docker 29's nftables backend: its `table ip docker-bridges`
(verdict maps by bridge, one DNAT, one direct-access drop and one accept per published port) beside
an `inet` table of a kube-proxy-like service firewall with sets and a long chain a packet walks past
at prerouting, about 20,000 native rules in all.

    sudo python -m benchmarks.gen_nft DIR [--containers 1000] [--networks 50] [--rules 20000]

The nft text is loaded into a throwaway network namespace (`unshare -n`) and `nft -j list ruleset`
of it is the bundle's `nft-ruleset.json`: the shape nft itself writes, not one we imitate.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import tempfile
from pathlib import Path

from benchmarks.gen_bundle import generate, size_args


def nft_text(inspect: list[dict], nets: list[dict], rules: int) -> tuple[str, int]:
    bridges = {n["Id"]: (n["Options"]["com.docker.network.bridge.name"], n["IPAM"]["Config"][0]["Subnet"])
               for n in nets}
    dnat, raw, accept_by_bridge = [], [], {b: [] for b, _s in bridges.values()}
    for c in inspect:
        (net,) = c["NetworkSettings"]["Networks"].values()
        br, _subnet = bridges[net["NetworkID"]]
        ip = net["IPAddress"]
        ((key, binds),) = c["NetworkSettings"]["Ports"].items()
        cport, hport = key.split("/")[0], binds[0]["HostPort"]
        dnat.append(f'iifname != "{br}" tcp dport {hport} counter dnat to {ip}:{cport} comment "DNAT"')
        raw.append(f'ip daddr {ip} iifname != "{br}" counter drop comment "DROP DIRECT ACCESS"')
        accept_by_bridge[br].append(f"ip daddr {ip} tcp dport {cport} counter accept")

    def vmap(name: str, prefix: str) -> str:
        elements = ", ".join(f'"{b}" : jump {prefix}__{b}' for b, _s in bridges.values())
        return f"map {name} {{ type ifname : verdict; elements = {{ {elements} }} }}"

    out = ["table ip docker-bridges {",
           vmap("filter-forward-in-jumps", "filter-forward-in"), vmap("filter-forward-out-jumps", "filter-forward-out"),
           vmap("nat-postrouting-in-jumps", "nat-postrouting-in"),
           vmap("nat-postrouting-out-jumps", "nat-postrouting-out"),
           "chain filter-FORWARD { type filter hook forward priority filter; policy accept;",
           "oifname vmap @filter-forward-in-jumps", "iifname vmap @filter-forward-out-jumps", "}",
           "chain nat-OUTPUT { type nat hook output priority -100; policy accept;",
           "ip daddr != 127.0.0.0/8 fib daddr type local counter jump nat-prerouting-and-output", "}",
           "chain nat-POSTROUTING { type nat hook postrouting priority srcnat; policy accept;",
           "iifname vmap @nat-postrouting-out-jumps", "oifname vmap @nat-postrouting-in-jumps", "}",
           "chain nat-PREROUTING { type nat hook prerouting priority dstnat; policy accept;",
           "fib daddr type local counter jump nat-prerouting-and-output", "}",
           "chain nat-prerouting-and-output {", *dnat, "}",
           "chain raw-PREROUTING { type filter hook prerouting priority raw; policy accept;", *raw, "}"]
    count = 8 + len(dnat) + len(raw)
    for br, subnet in bridges.values():
        accepts = accept_by_bridge[br]
        out += [f"chain filter-forward-in__{br} {{", "ct state established,related counter accept",
                f'iifname "{br}" counter accept comment "ICC"', *accepts,
                'counter drop comment "UNPUBLISHED PORT DROP"', "}",
                f"chain filter-forward-out__{br} {{", "ct state established,related counter accept",
                'counter accept comment "OUTGOING"', "}", f"chain nat-postrouting-in__{br} {{", "}",
                f"chain nat-postrouting-out__{br} {{",
                f'oifname != "{br}" ip saddr {subnet} counter masquerade comment "MASQUERADE"', "}"]
        count += 6 + len(accepts)
    out.append("}")
    filler = max(0, rules - count - 2)
    services = [ipaddress.ip_address("10.96.0.0") + k + 1 for k in range(filler)]
    blocked = ", ".join(f"198.18.{k // 250}.{k % 250 + 1}" for k in range(500))
    out += ["table inet kube-filter {", f"set blocked {{ type ipv4_addr; elements = {{ {blocked} }} }}",
            "chain prerouting { type filter hook prerouting priority -150; policy accept;",
            "ip saddr @blocked counter drop",
            *(f'ip daddr {svc} tcp dport 443 counter accept comment "ns{k % 97}/svc{k}"'
              for k, svc in enumerate(services)),
            "meta l4proto { tcp, udp } th dport 30000-32767 counter", "}", "}"]
    return "\n".join(out) + "\n", count + filler + 2


def generate_nft(root: Path, containers: int = 1000, networks: int = 50, rules: int = 20000) -> dict:
    generate(root, containers, networks, rules=0)
    inspect = json.loads((root / "docker-inspect.json").read_text())
    nets = json.loads((root / "docker-network-inspect.json").read_text())
    text, count = nft_text(inspect, nets, rules)
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
        f.write(text)
        f.flush()
        listing = subprocess.run(["unshare", "-n", "sh", "-c", f"nft -f {f.name} && nft -j list ruleset"],
                                 capture_output=True, text=True, check=True).stdout
    (root / "nft-ruleset.json").write_text(listing)
    # Docker's own nftables backend leaves iptables empty.
    (root / "iptables-save.txt").write_text("")
    info = {"Name": "bench-node", "FirewallBackend": {"Driver": "nftables"}}
    (root / "docker-info.json").write_text(json.dumps(info))
    (root / "docker-version.json").write_text(json.dumps({"Server": {"Version": "29.7.2", "ApiVersion": "1.52"}}))
    return {"containers": containers, "networks": networks, "native rules": count}


def main() -> None:
    a = size_args()
    print(generate_nft(Path(a.dir), a.containers, a.networks, a.rules))


if __name__ == "__main__":
    main()
