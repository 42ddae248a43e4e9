"""Add-ons: every declared release deployed and ready, CRDs served, issuers ready, and the test
application answering through the ingress on every node, over HTTPS with a certificate that
chains to the issuing CA."""

from __future__ import annotations

import base64
import json
import shlex
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import testinfra
import testinfra.utils.ansible_runner

from kubeforge.addons import newest_release

from .conftest import Kubectl, condition

testinfra_hosts: list[str] = []

KUBECTL_APPLY = "kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f -"
NS = "kubeforge-verify"

CRDS: dict[str, tuple[str, ...]] = {
    "cert-manager": ("certificates.cert-manager.io", "certificaterequests.cert-manager.io",
                     "issuers.cert-manager.io", "clusterissuers.cert-manager.io",
                     "orders.acme.cert-manager.io", "challenges.acme.cert-manager.io"),
    "traefik": ("ingressroutes.traefik.io", "middlewares.traefik.io", "tlsoptions.traefik.io"),
    "gateway_api": ("gatewayclasses.gateway.networking.k8s.io",
                    "gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io"),
}


def _releases(group_vars: dict[str, Any]) -> list[dict[str, Any]]:
    return list(group_vars.get("kubeforge_releases") or [])


def _release(group_vars: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((r for r in _releases(group_vars) if r["name"] == name), None)


def _ids(group_vars: dict[str, Any]) -> list[str]:
    return [f"{r['namespace']}/{r['name']}" for r in _releases(group_vars)]


def _wait(what: str, probe: Callable[[], str | None], timeout: float = 180) -> None:
    """Poll `probe` (None = done, else why not yet) until done or fail with the last reason."""
    deadline = time.monotonic() + timeout
    while (why := probe()) is not None:
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s: {why}")
        time.sleep(2)


def _ready_probe(kubectl: Kubectl, what: str) -> Callable[[], str | None]:
    """A `_wait` probe: None once `kubectl get WHAT` is Ready, else its condition messages."""
    def probe() -> str | None:
        res = kubectl.run(f"get {what} -o json", check=False)
        if res.rc != 0:
            return res.stderr.strip() or f"kubectl get {what}: rc {res.rc}"
        obj = json.loads(res.stdout)
        if condition(obj):
            return None
        return str([c.get("message") for c in obj.get("status", {}).get("conditions", [])])
    return probe


@pytest.fixture(scope="module")
def node_addresses(pytestconfig: pytest.Config,
                   inventory_hosts: dict[str, list[str]]) -> dict[str, str]:
    inventory = pytestconfig.getoption("ansible_inventory")
    runner = testinfra.utils.ansible_runner.AnsibleRunner(inventory)
    return {h: str(runner.get_variables(h)["ansible_host"]) for h in inventory_hosts["cluster"]}


def test_every_release_is_deployed_at_its_version(group_vars: dict[str, Any],
                                                  kubectl: Kubectl) -> None:
    """Read from Helm's storage Secrets through the API: the same check whether the Ansible role
    or a Pulumi stack installed the release."""
    releases = _releases(group_vars)
    if not releases:
        pytest.skip("no add-ons declared")
    problems = []
    for r in releases:
        ident = f"{r['namespace']}/{r['name']}"
        rel = newest_release(kubectl.json(
            f"-n {r['namespace']} get secrets -l owner=helm,name={r['name']}")["items"])
        if rel is None:
            problems.append(f"{ident}: not installed")
            continue
        if rel["info"]["status"] != "deployed":
            problems.append(f"{ident}: status {rel['info']['status']}")
        chart = rel["chart"]["metadata"]
        if r["version"] and chart["version"] != r["version"]:
            problems.append(f"{ident}: chart {chart['name']}-{chart['version']}, declared "
                            f"{r['chart']}-{r['version']}")
    assert not problems, "\n".join(problems)


def test_no_undeclared_release_is_recorded(group_vars: dict[str, Any], kubectl: Kubectl) -> None:
    """The record a later run uses to uninstall removed releases matches the declared list."""
    if not _releases(group_vars):
        pytest.skip("no add-ons declared")
    cm = kubectl.json("-n kube-system get configmap kubeforge-releases")
    assert json.loads(cm["data"]["releases"]) == _ids(group_vars)


def test_every_release_workload_is_ready(group_vars: dict[str, Any], kubectl: Kubectl) -> None:
    problems = []
    for r in _releases(group_vars):
        kinds = "deployments,daemonsets,statefulsets"
        items = kubectl.json(f"-n {r['namespace']} get {kinds}")["items"]
        mine = [i for i in items if i["metadata"].get("annotations", {})
                .get("meta.helm.sh/release-name") == r["name"]]
        for w in mine:
            st, kind = w.get("status", {}), w["kind"]
            want = st.get("desiredNumberScheduled") if kind == "DaemonSet" else \
                w["spec"].get("replicas", 1)
            ready = st.get("numberReady" if kind == "DaemonSet" else "readyReplicas", 0)
            if not want or ready != want:
                problems.append(f"{kind} {r['namespace']}/{w['metadata']['name']}: "
                                f"{ready}/{want} ready")
    assert not problems, "\n".join(problems)


def test_ingress_runs_on_every_node(group_vars: dict[str, Any], kubectl: Kubectl,
                                    inventory_hosts: dict[str, list[str]]) -> None:
    if _release(group_vars, "traefik") is None:
        pytest.skip("no Traefik release declared")
    pods = kubectl.json("-n traefik get pods -l app.kubernetes.io/name=traefik")["items"]
    nodes = {p["spec"].get("nodeName") for p in pods if condition(p)}
    assert nodes == set(inventory_hosts["cluster"])


@pytest.mark.parametrize("addon", sorted(CRDS))
def test_crds_are_established(addon: str, group_vars: dict[str, Any], kubectl: Kubectl) -> None:
    declared = {r["name"] for r in _releases(group_vars)} | \
        {m["name"] for m in group_vars.get("kubeforge_addon_manifests") or []}
    if addon not in declared:
        pytest.skip(f"{addon} is not declared")
    for crd in CRDS[addon]:
        assert condition(kubectl.json(f"get crd {crd}"), "Established"), crd


def _issuers(group_vars: dict[str, Any]) -> list[dict[str, Any]]:
    rel = _release(group_vars, "kubeforge-issuers")
    return list(rel["values"]["issuers"]) if rel else []


def test_cluster_issuers_are_ready(group_vars: dict[str, Any], kubectl: Kubectl) -> None:
    issuers = _issuers(group_vars)
    if not issuers:
        pytest.skip("cert-manager is not declared")

    probes = {iss["name"]: _ready_probe(kubectl, f"clusterissuer {iss['name']}")
              for iss in issuers}

    def probe() -> str | None:
        waiting = [f"{name}: {why}" for name, p in probes.items() if (why := p()) is not None]
        return "; ".join(waiting) or None
    _wait("ClusterIssuers Ready", probe)


def _openssl(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, f"openssl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def test_ca_issuer_signs_a_certificate(group_vars: dict[str, Any], kubectl: Kubectl,
                                      tmp_path: Path) -> None:
    ca = next((i for i in _issuers(group_vars) if i["type"] == "selfsigned_ca"), None)
    if ca is None:
        pytest.skip("no self-signed CA issuer declared")
    kubectl.run(f"create namespace {NS} --dry-run=client -o yaml | {KUBECTL_APPLY}")
    cert = f"""
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {{name: ca-check, namespace: {NS}}}
spec:
  secretName: ca-check
  dnsNames: [ca-check.{NS}.svc]
  issuerRef: {{kind: ClusterIssuer, name: {ca['name']}}}
"""
    kubectl.host.run(f"echo '{cert}' | {KUBECTL_APPLY}")

    _wait("Certificate from the CA issuer", _ready_probe(kubectl, f"-n {NS} certificate ca-check"),
          90)
    data = kubectl.json(f"-n {NS} get secret ca-check")["data"]
    root = kubectl.json(f"-n cert-manager get secret {ca['name']}-root")["data"]["tls.crt"]
    (tmp_path / "ca.pem").write_bytes(base64.b64decode(root))
    (tmp_path / "leaf.pem").write_bytes(base64.b64decode(data["tls.crt"]))
    out = _openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem"))
    assert out.strip().endswith("OK")


def _echo(group_vars: dict[str, Any]) -> dict[str, Any]:
    rel = _release(group_vars, "echo")
    if rel is None:
        pytest.skip("the echo test application is not declared (the lab declares it)")
    return rel


def _get(url: str, host: str, timeout: float = 5) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except OSError as exc:
        return 0, str(exc)


def test_app_answers_through_the_ingress_on_every_node(group_vars: dict[str, Any],
                                                       node_addresses: dict[str, str]) -> None:
    host = _echo(group_vars)["values"]["ingress"]["host"]
    for node, addr in node_addresses.items():
        status, body = _get(f"http://{addr}/", host)
        assert status == 200 and body.startswith("echo from"), f"{node} ({addr}): {status} {body}"


def test_app_answers_through_the_gateway_api_route(group_vars: dict[str, Any],
                                                   node_addresses: dict[str, str]) -> None:
    if not group_vars.get("kubeforge_addon_manifests"):
        pytest.skip("the Gateway API is not declared")
    host = _echo(group_vars)["values"]["gateway"]["host"]
    addr = next(iter(node_addresses.values()))

    def probe() -> str | None:
        status, body = _get(f"http://{addr}/", host)
        return None if status == 200 else f"{status} {body}"
    _wait("HTTPRoute answering", probe, 60)


# Asks one DNS server for one A record from a node and prints the raw reply (hex).
_DNS_QUERY = """
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
q = struct.pack('!HHHHHH', 7, 0x100, 1, 0, 0, 0)
q += b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\\0'
q += struct.pack('!HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(q, (server, 53)); print(s.recv(1024).hex())
"""


def test_cluster_dns_resolves_the_test_host_to_ingress_nodes(
        group_vars: dict[str, Any], first_cp: Any, node_addresses: dict[str, str]) -> None:
    """Pods (Pebble, cert-manager's self-check) look the test host up through the cluster DNS,
    which forwards to the environment's DNS (in the lab: `kubeforge lab up`'s server)."""
    host = _echo(group_vars)["values"]["ingress"]["host"]
    server = group_vars["kubeforge_network"]["cluster_dns"]
    res = first_cp.run(f"python3 -c {shlex.quote(_DNS_QUERY)} {host} {server}")
    assert res.rc == 0, res.stderr
    reply = bytes.fromhex(res.stdout.strip())
    assert reply[3] & 0xF == 0, f"rcode {reply[3] & 0xF} for {host} from {server}"
    found = [n for n, a in node_addresses.items() if IPv4Address(a).packed in reply[12:]]
    assert found, f"{host} does not resolve to any node through {server}"


def _pebble_root(kubectl: Kubectl) -> str:
    """Pebble makes a new root at every start; its management API hands it out."""
    return str(kubectl.run("get --raw /api/v1/namespaces/cert-manager/services/"
                           "https:pebble:management/proxy/roots/0").stdout)


def _issued_by(kubectl: Kubectl, ns: str, root: str) -> bool:
    """Whether the chain in Secret echo-tls (leaf first) verifies against `root`."""
    chain = base64.b64decode(kubectl.json(f"-n {ns} get secret echo-tls")["data"]["tls.crt"])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "root.pem").write_text(root)
        (Path(tmp) / "chain.pem").write_bytes(chain)
        proc = subprocess.run(["openssl", "verify", "-CAfile", "root.pem", "-untrusted",
                               "chain.pem", "chain.pem"], cwd=tmp, capture_output=True,
                              check=False)
    return proc.returncode == 0


def test_ingress_serves_the_acme_certificate_on_every_node(
        group_vars: dict[str, Any], kubectl: Kubectl, node_addresses: dict[str, str]) -> None:
    echo = _echo(group_vars)
    issuer = echo["values"]["ingress"].get("clusterIssuer")
    if not issuer:
        pytest.skip("the test application's Ingress asks for no certificate")
    host = echo["values"]["ingress"]["host"]
    ns = echo["namespace"]

    probe = _ready_probe(kubectl, f"-n {ns} certificate echo-tls")

    def settled() -> str | None:
        """None once issued, or once issuance fails on an account Pebble no longer knows."""
        why = probe()
        return None if why is None or "accountDoesNotExist" in why else why
    _wait("ACME certificate echo-tls issued", settled)
    root = _pebble_root(kubectl)
    if probe() is not None or not _issued_by(kubectl, ns, root):
        # Pebble keeps its CA and accounts in memory: after a Pebble restart the issuer's account
        # is gone and what the old Pebble issued no longer chains to the new root. Register
        # again and issue again (the Ingress recreates its Certificate at once, without backoff).
        _wait("a first issuance attempt", lambda: None if "echo-tls" in kubectl.run(
            f"-n {ns} get certificate", check=False).stdout else "no Certificate yet", 60)
        # cert-manager keeps the account in memory too: a new key and a restart register anew
        kubectl.run(f"-n cert-manager delete secret {issuer}-account --ignore-not-found")
        kubectl.run("-n cert-manager rollout restart deployment/cert-manager")
        kubectl.run("-n cert-manager rollout status deployment/cert-manager --timeout=120s")
        _wait(f"ClusterIssuer {issuer} registered again",
              _ready_probe(kubectl, f"clusterissuer {issuer}"), 60)
        kubectl.run(f"-n {ns} delete certificate echo-tls --ignore-not-found")
        kubectl.run(f"-n {ns} delete secret echo-tls --ignore-not-found")
        _wait("ACME certificate echo-tls issued", probe)
        assert _issued_by(kubectl, ns, root), "the certificate does not chain to Pebble's root"
    ctx = ssl.create_default_context(cadata=root)

    def served(addr: str) -> tuple[str, str]:
        """(issuer CN, first reply line) of HTTPS on one node: Traefik's own self-signed
        certificate until its secret watch has loaded the issued one."""
        try:
            with socket.create_connection((addr, 443), timeout=5) as raw, \
                    ctx.wrap_socket(raw, server_hostname=host) as tls:
                cert = tls.getpeercert() or {}
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                            .encode())
                reply = tls.recv(4096).decode(errors="replace")
        except ssl.SSLCertVerificationError as e:
            return f"not verified ({e.verify_message})", ""
        names: Any = cert.get("issuer", ())
        return " ".join(str(v) for rdn in names for k, v in rdn if k == "commonName"), reply

    def settled_on(addr: str, timeout: float = 60) -> tuple[str, str]:
        """What the node serves once it is the ACME certificate (a certificate issued a moment
        ago reaches every Traefik within seconds), or after `timeout`."""
        deadline = time.monotonic() + timeout
        while "Pebble" not in (seen := served(addr))[0] and time.monotonic() < deadline:
            time.sleep(2)
        return seen

    for node, addr in node_addresses.items():
        issuer_cn, reply = settled_on(addr)
        assert "Pebble" in issuer_cn, f"{node}: certificate issued by {issuer_cn}"
        assert reply.startswith("HTTP/1.1 200"), f"{node}: {reply[:200]}"
