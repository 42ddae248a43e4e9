#!/usr/bin/python3
"""Approve the kubelets' serving certificate requests, checked against the declared nodes.

With `serverTLSBootstrap: true` every kubelet asks the cluster CA for its serving certificate
(signer kubernetes.io/kubelet-serving) and asks again before it expires; kube-controller-manager
signs a request only once it is approved, and approves none of them itself. A request is approved
here only when all of these hold:
  - it was sent by the node it names: requester system:node:NAME in group system:nodes, subject
    CN=system:node:NAME, O=system:nodes;
  - NAME is a node of the spec (the nodes file, written from the inventory);
  - every address it asks for belongs to that node: DNS names are NAME, IP addresses are the
    node's declared addresses (a kubelet reports its own addresses, so the Node object cannot be
    the reference); no other kind of name;
  - its usages are server auth, digital signature and at most key encipherment.
Anything else stays pending, with the reason printed (kube-controller-manager removes it after a
day). Uses only the Python standard library and kubectl: it runs on the control-plane nodes,
from a systemd timer and from `kubeforge deploy`, which also waits (--wait) until every node's
kubelet serves a certificate the cluster CA verifies for its address.

Exit status: 0 done, 1 a node has no verified serving certificate when --wait ends, 2 bad input.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

SIGNER = "kubernetes.io/kubelet-serving"
ALLOWED_USAGES = frozenset({"server auth", "digital signature", "key encipherment"})
KUBELET_PORT = 10250
# OIDs, DER-encoded (the bytes after the tag and length)
OID_CN = bytes([0x55, 0x04, 0x03])  # 2.5.4.3
OID_O = bytes([0x55, 0x04, 0x0A])  # 2.5.4.10
OID_EXTENSION_REQUEST = bytes.fromhex("2a864886f70d01090e")  # 1.2.840.113549.1.9.14
OID_SAN = bytes([0x55, 0x1D, 0x11])  # 2.5.29.17
TAG_SEQUENCE, TAG_SET, TAG_OID, TAG_OCTETS = 0x30, 0x31, 0x06, 0x04
TAG_DNS_NAME, TAG_IP_ADDRESS = 0x82, 0x87  # GeneralName [2] and [7], implicit
STRING_TAGS = frozenset({0x0C, 0x13, 0x14, 0x16, 0x1E})  # UTF8, Printable, T61, IA5, BMP


class BadRequest(ValueError):
    """The request's DER does not parse as a certification request."""


# -- the request: just enough DER to read its subject and subject alternative names ------------

def _items(der: bytes) -> Iterator[tuple[int, bytes]]:
    """The (tag, content) of each DER element in `der`, in order."""
    at = 0
    while at < len(der):
        if at + 2 > len(der):
            raise BadRequest("truncated element")
        tag, size = der[at], der[at + 1]
        at += 2
        if size & 0x80:
            count = size & 0x7F
            if count == 0 or count > 4 or at + count > len(der):
                raise BadRequest("bad length")
            size = int.from_bytes(der[at:at + count], "big")
            at += count
        if at + size > len(der):
            raise BadRequest("element longer than its container")
        yield tag, der[at:at + size]
        at += size


def _one(der: bytes, tag: int) -> bytes:
    items = list(_items(der))
    if len(items) != 1 or items[0][0] != tag:
        raise BadRequest(f"expected one element with tag {tag:#x}")
    return items[0][1]


@dataclass(frozen=True)
class Request:
    """What a certification request asks for."""
    common_names: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    other_names: int = 0  # subject alternative names of any other kind (URI, e-mail, ...)


def parse_request(pem: str) -> Request:
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    try:
        der = base64.b64decode(body, validate=True)
    except ValueError as err:
        raise BadRequest(f"not base64: {err}") from None
    info = list(_items(_one(der, TAG_SEQUENCE)))
    if not info or info[0][0] != TAG_SEQUENCE:
        raise BadRequest("no CertificationRequestInfo")
    parts = list(_items(info[0][1]))  # version, subject, subjectPKInfo, [0] attributes
    if len(parts) < 3 or parts[1][0] != TAG_SEQUENCE:
        raise BadRequest("no subject")
    subject: dict[bytes, list[str]] = {}
    for tag, rdn in _items(parts[1][1]):
        if tag != TAG_SET:
            raise BadRequest("bad subject")
        for _, pair in _items(rdn):
            (oid_tag, oid), (value_tag, value) = list(_items(pair))[:2]
            if oid_tag == TAG_OID and value_tag in STRING_TAGS:
                text = value.decode("utf-16-be" if value_tag == 0x1E else "utf-8", "replace")
                subject.setdefault(oid, []).append(text)
    dns: list[str] = []
    ips: list[str] = []
    other = 0
    for tag, attributes in parts[3:]:
        if tag != 0xA0:
            continue
        for _, attribute in _items(attributes):
            (_, oid), (_, values) = list(_items(attribute))[:2]
            if oid != OID_EXTENSION_REQUEST:
                continue
            for _, extension in _items(_one(values, TAG_SEQUENCE)):
                fields = list(_items(extension))  # extnID, critical (optional), extnValue
                if len(fields) < 2 or fields[0][1] != OID_SAN or fields[-1][0] != TAG_OCTETS:
                    continue
                for name_tag, name in _items(_one(fields[-1][1], TAG_SEQUENCE)):
                    if name_tag == TAG_DNS_NAME:
                        dns.append(name.decode("ascii", "replace"))
                    elif name_tag == TAG_IP_ADDRESS and len(name) in (4, 16):
                        ips.append(str(ipaddress.ip_address(name)))
                    else:
                        other += 1
    return Request(tuple(subject.get(OID_CN, [])), tuple(subject.get(OID_O, [])),
                   tuple(dns), tuple(ips), other)


# -- the rules -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    name: str
    addresses: frozenset[str]


def refusal(csr: Mapping[str, object], nodes: Mapping[str, Node]) -> str | None:
    """Why this kubelet-serving request must not be approved, or None to approve it."""
    spec = csr.get("spec")
    if not isinstance(spec, dict):
        return "no spec"
    user = str(spec.get("username", ""))
    if not user.startswith("system:node:") or "system:nodes" not in (spec.get("groups") or []):
        return f"sent by {user or 'nobody'}, not by a node (system:node:NAME in system:nodes)"
    name = user.removeprefix("system:node:")
    node = nodes.get(name)
    if node is None:
        return f"node {name} is not in the spec"
    usages = set(spec.get("usages") or [])
    if "server auth" not in usages or not usages <= ALLOWED_USAGES:
        return f"usages {sorted(usages)}: server auth, digital signature, key encipherment only"
    try:
        pem = base64.b64decode(str(spec.get("request", ""))).decode("ascii")
        req = parse_request(pem)
    except (BadRequest, ValueError, UnicodeDecodeError) as err:
        return f"the request does not parse: {err}"
    if req.common_names != (user,) or req.organizations != ("system:nodes",):
        return (f"subject CN={','.join(req.common_names)} O={','.join(req.organizations)}, "
                f"wanted CN={user} O=system:nodes")
    if req.other_names:
        return "asks for names other than DNS names and IP addresses"
    if not req.dns_names and not req.ip_addresses:
        return "asks for no address"
    wrong_dns = [d for d in req.dns_names if d != name]
    if wrong_dns:
        return f"DNS names {', '.join(wrong_dns)} are not the node's name {name}"
    wrong_ips = [ip for ip in req.ip_addresses if ip not in node.addresses]
    if wrong_ips:
        return (f"addresses {', '.join(wrong_ips)} are not {name}'s "
                f"({', '.join(sorted(node.addresses))})")
    return None


def pending(csrs: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    """The kubelet-serving requests nobody approved or denied yet, oldest first."""
    out = []
    for csr in csrs:
        spec, status = csr.get("spec"), csr.get("status")
        if not isinstance(spec, dict) or spec.get("signerName") != SIGNER:
            continue
        conditions = status.get("conditions") if isinstance(status, dict) else None
        if not conditions:
            out.append(csr)
    return sorted(out, key=lambda c: str(_meta(c).get("creationTimestamp", "")))


def _meta(csr: Mapping[str, object]) -> Mapping[str, object]:
    meta = csr.get("metadata")
    return meta if isinstance(meta, dict) else {}


def load_nodes(text: str) -> dict[str, Node]:
    """{name: address or [address, ...]} as JSON -> nodes; raises ValueError on anything else."""
    data = json.loads(text)
    if not isinstance(data, dict) or not data:
        raise ValueError("expected a non-empty JSON object {node name: [address, ...]}")
    nodes = {}
    for name, addresses in data.items():
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list) or not addresses:
            raise ValueError(f"{name}: expected a non-empty list of addresses")
        nodes[name] = Node(name, frozenset(str(ipaddress.ip_address(a)) for a in addresses))
    return nodes


# -- talking to the cluster and the kubelets --------------------------------------------------

@dataclass
class Cluster:
    kubeconfig: str
    ca: str
    timeout: float = 5.0
    port: int = KUBELET_PORT
    refused: dict[str, str] = field(default_factory=dict)  # request name -> reason, printed once

    def kubectl(self, *args: str) -> str:
        cmd = ["kubectl", f"--kubeconfig={self.kubeconfig}", "--request-timeout=20s", *args]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {res.stderr.strip()[-500:]}")
        return res.stdout

    def requests(self) -> list[Mapping[str, object]]:
        items = json.loads(self.kubectl("get", "csr", "-o", "json")).get("items", [])
        return [i for i in items if isinstance(i, dict)]

    def kubelets_ask(self) -> bool:
        """Whether the cluster's kubelet configuration has them ask for serving certificates (a
        cluster built without it keeps the kubelets' self-signed ones: nothing to wait for)."""
        config = self.kubectl("-n", "kube-system", "get", "configmap", "kubelet-config",
                              "-o", "jsonpath={.data.kubelet}")
        return re.search(r"^serverTLSBootstrap:\s*true\s*$", config, re.MULTILINE) is not None

    def approve(self, name: str) -> None:
        self.kubectl("certificate", "approve", name)

    def serves_verified(self, node: Node) -> str | None:
        """None when the node's kubelet presents a certificate the cluster CA verifies for its
        address; otherwise why not."""
        problem = "no address"
        for address in sorted(node.addresses):
            context = ssl.create_default_context(cafile=self.ca)
            try:
                with socket.create_connection((address, self.port), self.timeout) as sock, \
                        context.wrap_socket(sock, server_hostname=address):
                    return None
            except ssl.SSLCertVerificationError as err:
                problem = f"its certificate does not verify: {err.verify_message}"
            except (OSError, ssl.SSLError) as err:
                problem = f"no TLS handshake on {address}:{self.port}: {err}"
        return problem


def approve_pending(cluster: Cluster, nodes: Mapping[str, Node], dry_run: bool) -> list[str]:
    """Approves what the rules allow; returns the names of the nodes approved."""
    approved = []
    for csr in pending(cluster.requests()):
        name = str(_meta(csr).get("name", ""))
        why = refusal(csr, nodes)
        if why is None:
            if not dry_run:
                cluster.approve(name)
            approved.append(str(csr["spec"]["username"]).removeprefix(  # type: ignore[index]
                "system:node:"))
        elif cluster.refused.get(name) != why:
            cluster.refused[name] = why
            print(f"left pending: {name}: {why}", flush=True)
    return approved


def _kubelets_ask(cluster: Cluster) -> bool | None:
    try:
        return cluster.kubelets_ask()
    except RuntimeError as err:
        print(f"retrying: {err}", file=sys.stderr, flush=True)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--nodes", default="/etc/kubernetes/kubeadm/kubelet-serving-nodes.json",
                      help="JSON {node name: address or [address, ...]} of the spec's nodes")
    args.add_argument("--kubeconfig", default="/etc/kubernetes/admin.conf")
    args.add_argument("--ca", default="/etc/kubernetes/pki/ca.crt")
    args.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                      help="keep approving until every node serves a verified certificate")
    args.add_argument("--dry-run", action="store_true", help="say what would be approved")
    opts = args.parse_args(argv)
    try:
        with open(opts.nodes, encoding="utf-8") as f:
            nodes = load_nodes(f.read())
    except (OSError, ValueError) as err:
        print(f"error: {opts.nodes}: {err}", file=sys.stderr)
        return 2
    cluster = Cluster(opts.kubeconfig, opts.ca)
    deadline = time.monotonic() + opts.wait
    approved: list[str] = []
    asked: bool | None = None
    while True:
        try:
            approved += approve_pending(cluster, nodes, opts.dry_run)
        except (RuntimeError, ValueError) as err:
            print(f"retrying: {err}", file=sys.stderr, flush=True)
        if opts.wait <= 0 or opts.dry_run:
            break
        if asked is None:
            asked = _kubelets_ask(cluster)
        if asked is False:
            print("the kubelets serve their own certificates (serverTLSBootstrap is off in "
                  "kube-system/kubelet-config): nothing to wait for", flush=True)
            break
        missing = {n.name: why for n in nodes.values() if (why := cluster.serves_verified(n))}
        if not missing:
            break
        if time.monotonic() > deadline:
            for name, why in sorted(missing.items()):
                print(f"error: {name}: the kubelet has no serving certificate from the cluster "
                      f"CA after {opts.wait:.0f} s ({why})", file=sys.stderr)
            print("  see `kubectl get csr` (a request left pending says why above) and the "
                  "kubelet's log on the node", file=sys.stderr)
            return 1
        time.sleep(2)
    verb = "would approve" if opts.dry_run else "approved"
    print(f"{verb}: {', '.join(sorted(set(approved)))}" if approved
          else "nothing to approve", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
