"""The lab's DNS: a tiny authoritative server on the bridge gateway, where every lab machine's
resolv.conf already points (and so CoreDNS, which forwards there).

It answers one zone, `<lab>.kubeforge.test`: every name in it resolves to the lab's ingress nodes
(the workers), like a wildcard record in real infrastructure DNS. That is what test hosts such as
`echo.lab.kubeforge.test` need for the ACME HTTP-01 flow: Pebble and cert-manager's self-check
look the name up like any client would. Names outside the zone are refused (the lab is offline).

    python -m kubeforge.lab.dns --listen 10.240.0.1 --zone lab.kubeforge.test --a 10.240.0.21
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
from collections.abc import Sequence
from ipaddress import IPv4Address
from pathlib import Path

from kubeforge import daemon
from kubeforge.errors import KubeforgeError

TTL = 30
TYPE_A, CLASS_IN = 1, 1
RCODE_OK, RCODE_FORMERR, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 1, 3, 5


def _question(msg: bytes) -> tuple[str, int, int, int]:
    """(name, qtype, qclass, offset after the question) of a query's first question."""
    labels, pos = [], 12
    while True:
        if pos >= len(msg):
            raise ValueError("truncated name")
        size = msg[pos]
        pos += 1
        if size == 0:
            break
        if size & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(msg[pos:pos + size].decode("ascii", "replace").lower())
        pos += size
    if pos + 4 > len(msg):
        raise ValueError("truncated question")
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return ".".join(labels), qtype, qclass, pos + 4


def answer(query: bytes, zone: str, addresses: Sequence[IPv4Address]) -> bytes | None:
    """The response to one query, or None for something that is not a query at all."""
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000:  # a response, not a query
        return None
    rd = flags & 0x0100
    try:
        if qdcount != 1:
            raise ValueError("one question per query")
        name, qtype, qclass, end = _question(query)
    except ValueError:
        return struct.pack("!HHHHHH", ident, 0x8000 | rd | RCODE_FORMERR, 0, 0, 0, 0)
    zone = zone.lower().rstrip(".")
    inside = name == zone or name.endswith("." + zone)
    rcode = RCODE_OK if inside else RCODE_REFUSED
    records = list(addresses) if inside and qtype == TYPE_A and qclass == CLASS_IN else []
    flags_out = 0x8000 | (0x0400 if inside else 0) | rd | rcode  # QR, AA inside the zone
    out = struct.pack("!HHHHHH", ident, flags_out, 1, len(records), 0, 0) + query[12:end]
    for addr in records:
        # the name is a pointer to the question (offset 12)
        out += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + addr.packed
    return out


def serve(listen: str, zone: str, addresses: Sequence[IPv4Address]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((listen, 53))
    while True:
        query, peer = sock.recvfrom(512)
        reply = answer(query, zone, addresses)
        if reply is not None:
            sock.sendto(reply, peer)


# --- process management, used by `kubeforge lab up/down` -----------------------------------


MARKER = "kubeforge.lab.dns"


def _pidfile(state_dir: Path) -> Path:
    return state_dir / "dns.pid"


def running_pid(state_dir: Path) -> int | None:
    return daemon.running(_pidfile(state_dir), MARKER)


def start(state_dir: Path, listen: IPv4Address, zone: str,
          addresses: Sequence[IPv4Address]) -> bool:
    """Start the lab's DNS server unless it runs; True if started."""
    if running_pid(state_dir) is not None:
        return False
    cmd = [sys.executable, "-m", MARKER, "--listen", str(listen), "--zone", zone,
           *(x for a in addresses for x in ("--a", str(a)))]
    proc = daemon.spawn(cmd, _pidfile(state_dir), state_dir / "dns.log")
    time.sleep(0.3)
    if proc.poll() is not None:
        raise KubeforgeError(f"the lab DNS server on {listen}:53 exited at once; see "
                             f"{state_dir / 'dns.log'} (is something else on port 53?)")
    return True


def stop(state_dir: Path) -> bool:
    return daemon.stop(_pidfile(state_dir), MARKER)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m kubeforge.lab.dns")
    p.add_argument("--listen", required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--a", action="append", default=[], type=IPv4Address, dest="addresses")
    args = p.parse_args(argv)
    serve(args.listen, args.zone, args.addresses)


if __name__ == "__main__":
    main()
