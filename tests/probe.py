"""Connect once, bounded: exit 0 when the service answered. Used by the rig from any namespace."""

import socket
import sys

proto, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in ip else socket.AF_INET
try:
    if proto == "tcp":
        with socket.create_connection((ip, port), timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = s.recv(4096)
            sys.exit(0 if data else 1)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        if proto == "udp-connected":  # as dig and most resolvers: only answers from (ip, port) arrive
            s.connect((ip, port))
            s.send(b"ping")
            data = s.recv(4096)
        else:
            s.sendto(b"ping", (ip, port))
            data, _ = s.recvfrom(4096)
        sys.exit(0 if data else 1)
except OSError:
    sys.exit(1)
