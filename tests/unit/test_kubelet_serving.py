"""The kubelet serving-certificate approver (roles/kubeadm_control_plane/files/
kubelet_serving_approver.py, installed as kubeforge-kubelet-serving): its DER reading and rules
against requests made here with `cryptography` as a kubelet makes them, its approval loop against
a stand-in cluster, and its TLS check against a real TLS server whose certificate a test CA
signed."""

from __future__ import annotations

import base64
import datetime
import importlib.util
import ipaddress
import socket
import ssl
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeforge import paths

SCRIPT = paths.ROOT / "roles/kubeadm_control_plane/files/kubelet_serving_approver.py"
USAGES = ["digital signature", "server auth"]


@pytest.fixture(scope="module")
def approver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kubelet_serving_approver", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _pem(cn: str = "system:node:w1", org: str = "system:nodes",
         san: list[x509.GeneralName] | None = None) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if san is None:
        san = [x509.DNSName("w1"), x509.IPAddress(ipaddress.ip_address("10.240.0.21"))]
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _csr(name: str = "csr-1", user: str = "system:node:w1", usages: list[str] | None = None,
         pem: str | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": "2026-12-07T00:00:00Z"},
            "spec": {"signerName": "kubernetes.io/kubelet-serving", "username": user,
                     "groups": ["system:nodes", "system:authenticated"],
                     "usages": USAGES if usages is None else usages,
                     "request": base64.b64encode((pem or _pem()).encode()).decode()},
            "status": status}


@pytest.fixture(scope="module")
def nodes(approver: ModuleType) -> Mapping[str, Any]:
    return dict(approver.load_nodes('{"w1": ["10.240.0.21"], "w2": ["10.240.0.22"]}'))


def test_reads_subject_and_names_as_a_kubelet_writes_them(approver: ModuleType) -> None:
    req = approver.parse_request(_pem(san=[
        x509.DNSName("w1"), x509.IPAddress(ipaddress.ip_address("10.240.0.21")),
        x509.IPAddress(ipaddress.ip_address("fd00::21")),
        x509.UniformResourceIdentifier("spiffe://x")]))
    assert req.common_names == ("system:node:w1",)
    assert req.organizations == ("system:nodes",)
    assert req.dns_names == ("w1",)
    assert req.ip_addresses == ("10.240.0.21", "fd00::21")
    assert req.other_names == 1


@pytest.mark.parametrize("pem", ["", "-----BEGIN X-----\n@@@\n-----END X-----",
                                 base64.b64encode(b"\x30\x85\x00").decode(),
                                 base64.b64encode(b"\x30\x03\x02\x01").decode()])
def test_garbage_is_a_bad_request_not_a_crash(approver: ModuleType, pem: str) -> None:
    with pytest.raises(approver.BadRequest):
        approver.parse_request(pem)


def test_the_nodes_own_request_is_approved(approver: ModuleType,
                                           nodes: Mapping[str, Any]) -> None:
    assert approver.refusal(_csr(), nodes) is None
    assert approver.refusal(_csr(usages=[*USAGES, "key encipherment"]), nodes) is None


@pytest.mark.parametrize(("csr", "why"), [
    (dict(user="kubernetes-admin"), "not by a node"),
    (dict(user="system:node:w2"), "subject CN=system:node:w1"),  # w2 asks for w1's name
    (dict(user="system:node:evil", pem=_pem(cn="system:node:evil")), "not in the spec"),
    (dict(usages=["server auth", "client auth"]), "usages"),
    (dict(usages=["digital signature"]), "usages"),
    (dict(pem=_pem(org="system:masters")), "O=system:masters"),
    (dict(pem=_pem(san=[x509.DNSName("w1"),
                        x509.IPAddress(ipaddress.ip_address("10.240.0.22"))])),
     "addresses 10.240.0.22 are not w1's"),
    (dict(pem=_pem(san=[x509.DNSName("kubernetes.default")])), "DNS names kubernetes.default"),
    (dict(pem=_pem(san=[x509.DNSName("w1"), x509.RFC822Name("a@b")])), "other than DNS"),
    (dict(pem=_pem(san=[])), "no address"),
    (dict(pem="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"),
     "does not parse"),
], ids=["admin", "other-node", "unknown-node", "client-auth", "no-server-auth", "org",
        "other-ip", "other-dns", "email", "no-san", "garbage"])
def test_anything_else_stays_pending_with_the_reason(
        approver: ModuleType, nodes: Mapping[str, Any], csr: dict[str, Any], why: str) -> None:
    reason = approver.refusal(_csr(**csr), nodes)
    assert reason is not None and why in reason, reason


def test_only_unanswered_kubelet_serving_requests_are_pending(approver: ModuleType) -> None:
    client = _csr("client")
    client["spec"]["signerName"] = "kubernetes.io/kube-apiserver-client-kubelet"
    done = _csr("done", conditions=[{"type": "Approved"}])
    assert [c["metadata"]["name"] for c in approver.pending([client, done, _csr("new")])] == ["new"]


@pytest.mark.parametrize("text", ["[]", "{}", '{"w1": []}', '{"w1": ["not-an-ip"]}', "{"])
def test_a_bad_nodes_file_is_refused(approver: ModuleType, text: str) -> None:
    with pytest.raises(ValueError):
        approver.load_nodes(text)


class FakeCluster:
    def __init__(self, approver: ModuleType, csrs: list[dict[str, Any]]) -> None:
        self.csrs, self.approved = csrs, list[str]()
        self.refused: dict[str, str] = {}

    def requests(self) -> list[dict[str, Any]]:
        return self.csrs

    def approve(self, name: str) -> None:
        self.approved.append(name)


def test_approves_good_requests_and_says_once_why_others_wait(
        approver: ModuleType, nodes: Mapping[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster(approver, [_csr("good"), _csr("bad", user="kubernetes-admin")])
    assert approver.approve_pending(cluster, nodes, False) == ["w1"]
    assert cluster.approved == ["good"]
    approver.approve_pending(cluster, nodes, False)
    assert capsys.readouterr().out.count("left pending: bad: sent by kubernetes-admin") == 1
    dry = FakeCluster(approver, [_csr("good")])
    assert approver.approve_pending(dry, nodes, True) == ["w1"] and dry.approved == []


class StubCluster:
    """Cluster for main(): no requests; kubelets that ask or not; nodes that serve or not."""
    ask = True
    serving: str | None = None

    def __init__(self, kubeconfig: str, ca: str) -> None:
        self.refused: dict[str, str] = {}

    def requests(self) -> list[dict[str, Any]]:
        return []

    def kubelets_ask(self) -> bool:
        return self.ask

    def serves_verified(self, node: Any) -> str | None:
        return self.serving


@pytest.mark.parametrize(("ask", "serving", "rc", "says"), [
    (True, None, 0, "nothing to approve"),
    (False, "self-signed", 0, "serverTLSBootstrap is off"),
    (True, "its certificate does not verify", 1, "w2: the kubelet has no serving certificate"),
])
def test_wait_ends_when_every_kubelet_serves_or_says_which_does_not(
        approver: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], ask: bool, serving: str | None, rc: int,
        says: str) -> None:
    stub = type("Stub", (StubCluster,), {"ask": ask, "serving": serving})
    monkeypatch.setattr(approver, "Cluster", stub)
    monkeypatch.setattr(approver.time, "sleep", lambda _: None)
    (tmp_path / "nodes.json").write_text('{"w1": "10.0.0.1", "w2": ["10.0.0.2"]}')
    assert approver.main(["--nodes", str(tmp_path / "nodes.json"), "--wait", "0.01"]) == rc
    out = capsys.readouterr()
    assert says in out.out + out.err


def test_a_missing_nodes_file_is_a_clean_error(
        approver: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert approver.main(["--nodes", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err


def test_reads_whether_the_kubelets_ask_from_their_configuration(approver: ModuleType) -> None:
    class Config(approver.Cluster):  # type: ignore[name-defined,misc]
        def kubectl(self, *args: str) -> str:
            return self.text  # type: ignore[no-any-return]

    on, off = Config("k", "ca"), Config("k", "ca")
    on.text = "kind: KubeletConfiguration\nserverTLSBootstrap: true\n"
    off.text = "kind: KubeletConfiguration\nrotateCertificates: true\n"
    assert on.kubelets_ask() and not off.kubelets_ask()


# -- the TLS check, against a real server ---------------------------------------------------

def _cert(subject: str, issuer_key: Any, issuer: x509.Name | None, key: Any,
          ips: list[str], ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ips:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def kubelet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, int]]:
    """A TLS server on 127.0.0.1 with a certificate for ADDRESS (the test's param) from a test
    CA; yields the CA file and the port."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, None, ca_key, [], True)
    leaf = _cert("system:node:w1", ca_key, ca.subject, key, [request.param], False)
    (tmp_path / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.pem")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = server.accept()
            with context.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield tmp_path / "ca.crt", server.getsockname()[1]
    server.close()
    thread.join(5)


@pytest.mark.parametrize("kubelet", ["127.0.0.1"], indirect=True)
def test_a_certificate_the_ca_verifies_for_the_address_passes(
        approver: ModuleType, kubelet: tuple[Path, int]) -> None:
    ca, port = kubelet
    cluster = approver.Cluster("unused", str(ca), port=port)
    assert cluster.serves_verified(approver.Node("w1", frozenset({"127.0.0.1"}))) is None


@pytest.mark.parametrize("kubelet", ["10.9.9.9"], indirect=True)
def test_a_certificate_for_another_address_fails(
        approver: ModuleType, kubelet: tuple[Path, int]) -> None:
    ca, port = kubelet
    cluster = approver.Cluster("unused", str(ca), port=port)
    why = cluster.serves_verified(approver.Node("w1", frozenset({"127.0.0.1"})))
    assert why is not None and "does not verify" in why, why
