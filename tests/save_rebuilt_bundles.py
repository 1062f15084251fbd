"""Rebuild every fixture host (Docker 28 and 29, iptables and nftables, the dual-stack ones, and the
hosts with a table beside Docker's) under tests/fixtures/hosts, and record their golden answers:
`python -m tests.save_rebuilt_bundles [NAME-PREFIX]` (root; network namespaces only, no Docker).
With a prefix (e.g. `dual-`) only the hosts whose name starts with it."""

import shutil
import sys
from pathlib import Path

from tests import golden, nsrig
from tests.test_nft_beside import HOSTS as BESIDE

out = Path("tests/fixtures/hosts")
todo = [(f"v29.7.2-nft-{p.stem}", p, "", True) for p in nsrig.scenarios("nft")]
todo += [(f"{p.parent.name}-{p.stem}", p, "", True) for p in nsrig.scenarios() if not p.stem.startswith("swarm")]
todo += [(f"beside-{name}", path, extra, fwd) for name, (path, extra, fwd) in BESIDE.items()]
todo += [(f"dual-{p.parent.name}-{p.name}", p, "", True) for p in nsrig.dual_stack_scenarios()]
todo = [t for t in todo if t[0].startswith(sys.argv[1] if len(sys.argv) > 1 else "")]
for name, path, extra, fwd in todo:
    host = nsrig.build(path, beside=extra, forwarding=fwd)
    try:
        target = out / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(host.bundle, target)
    finally:
        host.close()
    print(golden.record(str(target), name))
