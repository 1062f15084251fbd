"""Variants of the demo host for the recorded answers (tests/golden_answers): each changes one
thing a real host can have (forwarding off, rules the engine cannot evaluate, parts not captured,
an internal network), so the before/after proof covers doubts and the rarer hops too.

python -m tests.make_variants  rewrites tests/fixtures/hosts/variant-*/ from the demo bundle.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tui.cli import demo_bundle_path

HOSTS = Path(__file__).resolve().parent / "fixtures" / "hosts"

ODD_RULES = [  # each on one container port (FORWARD sees the port after DNAT), at the top of DOCKER-USER
    "-A DOCKER-USER -p tcp -m tcp --dport 80 -m owner --uid-owner 0 -j DROP",
    "-A DOCKER-USER -p tcp -m tcp --dport 443 -m set --match-set not-captured src -j DROP",
    "-A DOCKER-USER -p tcp -m tcp --dport 22 -j NOSUCHTARGET",
    "-A DOCKER-USER -p udp -m udp --dport 53 -j DROP",
    "-A DOCKER-USER -p tcp -m tcp --dport 9501 -m frobnicate --wibble 3 -j ACCEPT",
    "-A DOCKER-USER -p tcp -m tcp --dport 3306 -m set --match-set pairs src,dst -j DROP",
    "-A DOCKER-USER -p tcp -m tcp --dport 6379 stray-word -j DROP",
]
IPSETS = "create pairs hash:ip,port family inet hashsize 1024 maxelem 65536\nadd pairs 203.0.113.10,tcp:3306\n"


def _copy(name: str) -> Path:
    target = HOSTS / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(demo_bundle_path(), target)
    return target


def forwarding_off() -> None:
    root = _copy("variant-forwarding-off")
    text = (root / "sysctl.txt").read_text().replace("net.ipv4.ip_forward = 1", "net.ipv4.ip_forward = 0")
    (root / "sysctl.txt").write_text(text)


def odd_rules() -> None:
    root = _copy("variant-odd-rules")
    lines = (root / "iptables-save.txt").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("-A DOCKER-USER -j RETURN"))
    lines[at:at] = ODD_RULES
    nat = next(i for i, line in enumerate(lines) if line.startswith("*nat"))
    chain = next(i for i in range(nat, len(lines)) if " -A DOCKER " in f" {lines[i]}")
    lines.insert(chain, "-A DOCKER -p tcp -m tcp --dport 32772 -j DNAT")  # without --to-destination
    (root / "iptables-save.txt").write_text("\n".join(lines) + "\n")
    (root / "ipset-save.txt").write_text(IPSETS)


def not_captured() -> None:
    root = _copy("variant-not-captured")
    (root / "ps.txt").unlink()
    shutil.rmtree(root / "netns")
    (root / "iptables-save.txt").unlink()
    (root / "iptables-legacy-save.txt").unlink()


def internal_network() -> None:
    root = _copy("variant-internal")
    networks = json.loads((root / "docker-network-inspect.json").read_text())
    for n in networks:
        if n.get("Name") == "demo-backend":
            n["Internal"] = True
    (root / "docker-network-inspect.json").write_text(json.dumps(networks, indent=1))


if __name__ == "__main__":
    for make in (forwarding_off, odd_rules, not_captured, internal_network):
        make()
