"""A bounded UDP echo server ("pong"), started inside a container's netns by the rig."""

import socket
import sys
import time

port, lifetime = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 600
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", port))
s.settimeout(1)
deadline = time.monotonic() + lifetime
while time.monotonic() < deadline:
    try:
        _data, peer = s.recvfrom(2048)
    except TimeoutError:
        continue
    s.sendto(b"pong", peer)
