"""The lab DNS server's answers, byte for byte where it matters."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

from kubeforge.lab import dns

ZONE = "lab.kubeforge.test"
ADDRS = [IPv4Address("10.240.0.21"), IPv4Address("10.240.0.22")]


def _query(name: str, qtype: int = 1, ident: int = 0x1234) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


def _header(reply: bytes) -> tuple[int, int, int, int]:
    ident, flags, _qd, an = struct.unpack("!HHHH", reply[:8])
    return ident, flags & 0xF, an, flags


def test_a_record_inside_the_zone_gets_every_ingress_address() -> None:
    q = _query("echo.lab.kubeforge.test")
    reply = dns.answer(q, ZONE, ADDRS)
    assert reply is not None
    ident, rcode, an, flags = _header(reply)
    assert (ident, rcode, an) == (0x1234, 0, 2)
    assert flags & 0x8000 and flags & 0x0400  # a response, authoritative
    assert reply[-4:] == ADDRS[1].packed and reply[-20:-16] == ADDRS[0].packed


def test_names_are_case_insensitive_and_the_apex_answers() -> None:
    for name in ("ECHO.Lab.KubeForge.test", "lab.kubeforge.test"):
        reply = dns.answer(_query(name), ZONE, ADDRS)
        assert reply is not None and _header(reply)[2] == 2


def test_other_types_inside_the_zone_get_no_data() -> None:
    reply = dns.answer(_query("echo.lab.kubeforge.test", qtype=28), ZONE, ADDRS)  # AAAA
    assert reply is not None and _header(reply)[1:3] == (0, 0)


def test_names_outside_the_zone_are_refused() -> None:
    for name in ("example.org", "notlab.kubeforge.test"):
        reply = dns.answer(_query(name), ZONE, ADDRS)
        assert reply is not None and _header(reply)[1:3] == (dns.RCODE_REFUSED, 0)


def test_garbage_gets_formerr_or_nothing() -> None:
    assert dns.answer(b"\x00\x01", ZONE, ADDRS) is None
    truncated = _query("echo.lab.kubeforge.test")[:20]
    reply = dns.answer(truncated, ZONE, ADDRS)
    assert reply is not None and _header(reply)[1] == dns.RCODE_FORMERR
