"""Security hygiene mapped to the CIS Kubernetes Benchmark as kube-bench encodes it (`cis-1.12`:
cfg/cis-1.12/{master,etcd,node}.yaml). One test per control ID, run on every node the control
applies to; each one reads the real state (the running process's flags, files on disk, what the
API and etcd actually hold) and would fail if the setting were wrong.

Controls that are not checked are listed in EXCEPTIONS with the reason; a test asserts that
every control of the sections covered here is either checked or listed there."""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import testinfra
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import KUBECTL, Kubectl

# control ID -> why it is not checked (not applicable here, or deliberately not met)
EXCEPTIONS: dict[str, str] = {
    "1.1.12": "etcd runs as root in kubeadm's static pod; there is no etcd user to own the data "
              "directory (1.1.11 checks it is 0700)",
    "1.2.1": "kube-apiserver keeps anonymous auth: haproxy's health check and the kubelet probes "
             "read /readyz and /livez anonymously. RBAC grants anonymous users only the "
             "health and version paths (test_anonymous_api_is_health_only checks that)",
    "1.2.9": "EventRateLimit needs an admission configuration sized per cluster (Manual control); "
             "not set by default",
    "1.2.11": "AlwaysPullImages would make every pod start depend on the registry mirror being "
              "up (air-gapped sites); images are pinned by tag and pulled from the spec's mirror",
    "1.2.20": "--request-timeout keeps the 60 s default (Manual control: 'as appropriate')",
    "4.1.3": "kube-proxy runs as a DaemonSet with its kubeconfig in a ConfigMap: no proxy "
             "kubeconfig file on the hosts",
    "4.1.4": "as 4.1.3: no proxy kubeconfig file on the hosts",
    "4.2.13": "podPidsLimit depends on the workloads (Manual control); left unset",
    "4.2.14": "seccompDefault changes every workload's syscall surface; left to the operator "
              "(Manual control)",
}

# kube-bench cis-1.12's control IDs in the sections covered here (1, 2, 4); section 3 and 5 are
# policy and workload controls kube-bench reports as manual.
CIS_CONTROLS = (
    [f"1.1.{i}" for i in range(1, 22)] + [f"1.2.{i}" for i in range(1, 31)]
    + [f"1.3.{i}" for i in range(1, 8)] + ["1.4.1", "1.4.2"] + [f"2.{i}" for i in range(1, 8)]
    + [f"4.1.{i}" for i in range(1, 11)] + [f"4.2.{i}" for i in range(1, 15)] + ["4.3.1"])

STRONG_APISERVER_CIPHERS = {
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"}
STRONG_KUBELET_CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}

MANIFESTS = "/etc/kubernetes/manifests"


# -- reading the nodes ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def hosts(pytestconfig: pytest.Config,
          inventory_hosts: dict[str, list[str]]) -> dict[str, list[Any]]:
    inv = pytestconfig.getoption("ansible_inventory")
    made = {name: testinfra.get_host(f"ansible://{name}?ansible_inventory={inv}")
            for name in inventory_hosts["cluster"]}
    return {group: [made[n] for n in inventory_hosts[group]]
            for group in ("cluster", "control_plane")}


COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet")
# stat'ed in one round trip per node (with everything under /etc/kubernetes/pki)
PATHS = (
    *(f"{MANIFESTS}/{c}.yaml" for c in COMPONENTS[:4]),
    *(f"/etc/kubernetes/{f}" for f in ("admin.conf", "super-admin.conf", "scheduler.conf",
                                       "controller-manager.conf", "kubelet.conf")),
    "/var/lib/kubelet/config.yaml", "/var/lib/etcd", "/etc/systemd/system/kubelet.service",
    "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf")


@cache
def _all_flags(host: Any) -> dict[str, dict[str, str]]:
    """Every component's running command-line flags (what kube-bench reads with ps), read in
    one round trip."""
    script = "; ".join(
        f"echo '== {c}'; p=$(pgrep -o -f '^([^ ]*/)?{c}( |$)') && tr '\\0' '\\n' < /proc/$p/cmdline"
        for c in COMPONENTS)
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in host.run(script).stdout.splitlines():
        if line.startswith("== "):
            current = out.setdefault(line[3:], {})
        elif line.startswith("--"):
            key, _, value = line[2:].partition("=")
            current[key] = value
    return out


def _flags(host: Any, binary: str) -> dict[str, str]:
    flags = _all_flags(host).get(binary)
    assert flags is not None, f"{binary} does not run on {host.backend.get_hostname()}"
    return flags


@cache
def _stats(host: Any) -> dict[str, tuple[int, str, str]]:
    """path -> (mode, user, group) of PATHS and the PKI, in one round trip."""
    res = host.run(f"stat -c '%a %U %G %n' {' '.join(PATHS)} 2>/dev/null; "
                   "find /etc/kubernetes/pki -exec stat -c '%a %U %G %n' {} + 2>/dev/null; true")
    out = {}
    for line in res.stdout.splitlines():
        mode, user, group, path = line.split(" ", 3)
        out[path] = (int(mode, 8), user, group)
    return out


def _stat(host: Any, path: str) -> tuple[int, str, str] | None:
    if path not in _stats(host):
        res = host.run(f"stat -c '%a %U %G' {path}")
        if res.rc != 0:
            return None
        mode, user, group = res.stdout.split()
        _stats(host)[path] = (int(mode, 8), user, group)
    return _stats(host)[path]


def _pki(host: Any, suffix: str) -> list[str]:
    return [p for p in _stats(host) if p.startswith("/etc/kubernetes/pki/") and p.endswith(suffix)]


@cache
def _kubelet_config(host: Any) -> dict[str, Any]:
    path = _flags(host, "kubelet").get("config", "/var/lib/kubelet/config.yaml")
    data: dict[str, Any] = yaml.safe_load(host.check_output(f"cat {path}"))
    return data


def _client_ca(host: Any) -> str:
    ca: str = _kubelet_config(host)["authentication"]["x509"]["clientCAFile"]
    return ca


def _mode_at_most(host: Any, path: str, mode: int) -> str | None:
    st = _stat(host, path)
    if st is None:
        return f"{path} is missing"
    return None if st[0] & ~mode == 0 else f"{path} is {st[0]:o}, more than {mode:o}"


# the CNI's files: its configuration and the IPAM plugin's address records
CNI_FILES = ("/etc/cni/net.d", "/var/lib/cni/networks")
# host-local (the CNI IPAM plugin) creates its lock file 0750; it is empty
CNI_LOCK_MODE = 0o750


def _cni_files(host: Any) -> list[str]:
    """Every CNI file, with its mode, owner and group ('MODE USER GROUP PATH')."""
    out: str = host.run(f"find {' '.join(CNI_FILES)} -type f -exec stat -c '%a %U %G %n' {{}} + "
                        "2>/dev/null; true").stdout
    return out.splitlines()


def _cni_modes(host: Any) -> list[str]:
    lines = _cni_files(host)
    if not any(" /etc/cni/net.d/" in line for line in lines):
        return ["no CNI configuration in /etc/cni/net.d"]
    problems = []
    for line in lines:
        mode, _, _, path = line.split(" ", 3)
        most = CNI_LOCK_MODE if path.endswith("/lock") and "/networks/" in path else 0o600
        if int(mode, 8) & ~most:
            problems.append(f"{path} is {mode}, more than {most:o}")
    return problems


def _cni_owners(host: Any) -> list[str]:
    return [f"{line.split(' ', 3)[3]} is {line.split()[1]}:{line.split()[2]}"
            for line in _cni_files(host) if line.split()[1:3] != ["root", "root"]]


def _owned_by_root(host: Any, path: str) -> str | None:
    st = _stat(host, path)
    if st is None:
        return f"{path} is missing"
    return None if st[1:] == ("root", "root") else f"{path} is {st[1]}:{st[2]}"


def _on_each(nodes: list[Any], check: Callable[[Any], str | list[str] | None]) -> None:
    """Run `check` on every node; fail with every node's problem at once."""
    problems = []
    for host in nodes:
        found = check(host)
        for p in [found] if isinstance(found, str) else (found or []):
            problems.append(f"{host.backend.get_hostname()}: {p}")
    assert not problems, "\n".join(problems)


def _flag_is(component: str, flag: str, want: Callable[[str | None], bool], why: str,
             ) -> Callable[[Any], str | None]:
    def check(host: Any) -> str | None:
        value = _flags(host, component).get(flag)
        return None if want(value) else f"{component} --{flag}={value} ({why})"
    return check


def _listed(value: str | None) -> set[str]:
    return set((value or "").split(",")) - {""}


def _kubelet_serving_cert(host: Any) -> list[str]:
    """The kubelet serves a certificate the cluster CA issued for its node address, which it
    asked for and renews itself (serverTLSBootstrap): kube-bench's 4.2.9 wants a serving
    certificate that is not the kubelet's self-signed one."""
    if not _kubelet_config(host).get("serverTLSBootstrap"):
        return ["kubelet serverTLSBootstrap is not true"]
    cert = "/var/lib/kubelet/pki/kubelet-server-current.pem"
    verified = host.run(f"openssl verify -CAfile /etc/kubernetes/pki/ca.crt {cert}")
    if verified.rc != 0:
        return [f"{cert} does not verify against the cluster CA: "
                f"{verified.stdout}{verified.stderr}"]
    names = host.check_output(f"openssl x509 -in {cert} -noout -ext subjectAltName")
    address = _flags(host, "kubelet").get("node-ip")
    return [] if f"IP Address:{address}" in names else [f"{cert} is not for {address}: {names}"]


# -- the controls --------------------------------------------------------------------------

CP: dict[str, Callable[[Any], str | list[str] | None]] = {
    "1.1.1": lambda h: _mode_at_most(h, f"{MANIFESTS}/kube-apiserver.yaml", 0o600),
    "1.1.2": lambda h: _owned_by_root(h, f"{MANIFESTS}/kube-apiserver.yaml"),
    "1.1.3": lambda h: _mode_at_most(h, f"{MANIFESTS}/kube-controller-manager.yaml", 0o600),
    "1.1.4": lambda h: _owned_by_root(h, f"{MANIFESTS}/kube-controller-manager.yaml"),
    "1.1.5": lambda h: _mode_at_most(h, f"{MANIFESTS}/kube-scheduler.yaml", 0o600),
    "1.1.6": lambda h: _owned_by_root(h, f"{MANIFESTS}/kube-scheduler.yaml"),
    "1.1.7": lambda h: _mode_at_most(h, f"{MANIFESTS}/etcd.yaml", 0o600),
    "1.1.8": lambda h: _owned_by_root(h, f"{MANIFESTS}/etcd.yaml"),
    "1.1.9": _cni_modes,
    "1.1.10": _cni_owners,
    "1.1.11": lambda h: _mode_at_most(h, _flags(h, "etcd").get("data-dir", "/var/lib/etcd"), 0o700),
    "1.1.13": lambda h: [p for f in ("admin.conf", "super-admin.conf")
                         if _stat(h, f"/etc/kubernetes/{f}") or f == "admin.conf"
                         if (p := _mode_at_most(h, f"/etc/kubernetes/{f}", 0o600))],
    "1.1.14": lambda h: [p for f in ("admin.conf", "super-admin.conf")
                         if _stat(h, f"/etc/kubernetes/{f}") or f == "admin.conf"
                         if (p := _owned_by_root(h, f"/etc/kubernetes/{f}"))],
    "1.1.15": lambda h: _mode_at_most(h, "/etc/kubernetes/scheduler.conf", 0o600),
    "1.1.16": lambda h: _owned_by_root(h, "/etc/kubernetes/scheduler.conf"),
    "1.1.17": lambda h: _mode_at_most(h, "/etc/kubernetes/controller-manager.conf", 0o600),
    "1.1.18": lambda h: _owned_by_root(h, "/etc/kubernetes/controller-manager.conf"),
    "1.1.19": lambda h: [p for f in _pki(h, "") if (p := _owned_by_root(h, f))]
    or ([] if _pki(h, ".key") else ["no /etc/kubernetes/pki"]),
    "1.1.20": lambda h: [p for f in _pki(h, ".crt") if (p := _mode_at_most(h, f, 0o644))],
    "1.1.21": lambda h: [p for f in _pki(h, ".key") if (p := _mode_at_most(h, f, 0o600))],
    "1.2.2": _flag_is("kube-apiserver", "token-auth-file", lambda v: v is None, "must be unset"),
    "1.2.3": _flag_is("kube-apiserver", "enable-admission-plugins",
                      lambda v: "DenyServiceExternalIPs" in _listed(v),
                      "needs DenyServiceExternalIPs"),
    "1.2.4": lambda h: [f"--{f} unset" for f in ("kubelet-client-certificate", "kubelet-client-key")
                        if not _flags(h, "kube-apiserver").get(f)],
    "1.2.5": _flag_is("kube-apiserver", "kubelet-certificate-authority",
                      lambda v: v == "/etc/kubernetes/pki/ca.crt",
                      "must be the cluster CA, which issues the kubelets' serving certificates"),
    "1.2.6": _flag_is("kube-apiserver", "authorization-mode",
                      lambda v: "AlwaysAllow" not in _listed(v), "must not allow all"),
    "1.2.7": _flag_is("kube-apiserver", "authorization-mode",
                      lambda v: "Node" in _listed(v), "needs Node"),
    "1.2.8": _flag_is("kube-apiserver", "authorization-mode",
                      lambda v: "RBAC" in _listed(v), "needs RBAC"),
    "1.2.10": _flag_is("kube-apiserver", "enable-admission-plugins",
                       lambda v: "AlwaysAdmit" not in _listed(v), "must not include AlwaysAdmit"),
    "1.2.12": _flag_is("kube-apiserver", "disable-admission-plugins",
                       lambda v: "ServiceAccount" not in _listed(v), "ServiceAccount disabled"),
    "1.2.13": _flag_is("kube-apiserver", "disable-admission-plugins",
                       lambda v: "NamespaceLifecycle" not in _listed(v), "NamespaceLifecycle off"),
    "1.2.14": _flag_is("kube-apiserver", "enable-admission-plugins",
                       lambda v: "NodeRestriction" in _listed(v), "needs NodeRestriction"),
    "1.2.15": _flag_is("kube-apiserver", "profiling", lambda v: v == "false", "must be false"),
    "1.2.16": lambda h: _audit_log_written(h),
    "1.2.17": _flag_is("kube-apiserver", "audit-log-maxage",
                       lambda v: v is not None and int(v) >= 30, "at least 30 days"),
    "1.2.18": _flag_is("kube-apiserver", "audit-log-maxbackup",
                       lambda v: v is not None and int(v) >= 10, "at least 10 files"),
    "1.2.19": _flag_is("kube-apiserver", "audit-log-maxsize",
                       lambda v: v is not None and int(v) >= 100, "at least 100 MB"),
    "1.2.21": _flag_is("kube-apiserver", "service-account-lookup",
                       lambda v: v in (None, "true"), "must stay true"),
    "1.2.22": _flag_is("kube-apiserver", "service-account-key-file", bool, "must be set"),
    "1.2.23": lambda h: [f"--{f} unset" for f in ("etcd-certfile", "etcd-keyfile")
                         if not _flags(h, "kube-apiserver").get(f)],
    "1.2.24": lambda h: [f"--{f} unset" for f in ("tls-cert-file", "tls-private-key-file")
                         if not _flags(h, "kube-apiserver").get(f)],
    "1.2.25": _flag_is("kube-apiserver", "client-ca-file", bool, "must be set"),
    "1.2.26": _flag_is("kube-apiserver", "etcd-cafile", bool, "must be set"),
    "1.2.27": lambda h: _encryption_config(h)[0],
    "1.2.28": lambda h: _encryption_config(h)[1],
    "1.2.29": _flag_is("kube-apiserver", "tls-cipher-suites",
                       lambda v: bool(_listed(v)) and _listed(v) <= STRONG_APISERVER_CIPHERS,
                       "only strong suites"),
    "1.2.30": _flag_is("kube-apiserver", "service-account-extend-token-expiration",
                       lambda v: v == "false", "must be false"),
    "1.3.1": _flag_is("kube-controller-manager", "terminated-pod-gc-threshold", bool,
                      "must be set"),
    "1.3.2": _flag_is("kube-controller-manager", "profiling", lambda v: v == "false",
                      "must be false"),
    "1.3.3": _flag_is("kube-controller-manager", "use-service-account-credentials",
                      lambda v: v == "true", "must be true"),
    "1.3.4": _flag_is("kube-controller-manager", "service-account-private-key-file", bool,
                      "must be set"),
    "1.3.5": _flag_is("kube-controller-manager", "root-ca-file", bool, "must be set"),
    "1.3.6": _flag_is("kube-controller-manager", "feature-gates",
                      lambda v: "RotateKubeletServerCertificate=false" not in _listed(v),
                      "must not turn RotateKubeletServerCertificate off"),
    "1.3.7": _flag_is("kube-controller-manager", "bind-address",
                      lambda v: v in (None, "127.0.0.1"), "must be 127.0.0.1"),
    "1.4.1": _flag_is("kube-scheduler", "profiling", lambda v: v == "false", "must be false"),
    "1.4.2": _flag_is("kube-scheduler", "bind-address",
                      lambda v: v in (None, "127.0.0.1"), "must be 127.0.0.1"),
    "2.1": lambda h: [f"--{f} unset" for f in ("cert-file", "key-file")
                      if not _flags(h, "etcd").get(f)],
    "2.2": _flag_is("etcd", "client-cert-auth", lambda v: v == "true", "must be true"),
    "2.3": _flag_is("etcd", "auto-tls", lambda v: v in (None, "false"), "must not be true"),
    "2.4": lambda h: [f"--{f} unset" for f in ("peer-cert-file", "peer-key-file")
                      if not _flags(h, "etcd").get(f)],
    "2.5": _flag_is("etcd", "peer-client-cert-auth", lambda v: v == "true", "must be true"),
    "2.6": _flag_is("etcd", "peer-auto-tls", lambda v: v in (None, "false"), "must not be true"),
    "2.7": lambda h: _etcd_has_its_own_ca(h),
}


def _audit_log_written(host: Any) -> str | None:
    path = _flags(host, "kube-apiserver").get("audit-log-path")
    if not path or path == "-":
        return f"--audit-log-path={path} (must name a file)"
    policy = _flags(host, "kube-apiserver").get("audit-policy-file")
    if not policy or not host.file(policy).exists:
        return f"--audit-policy-file={policy} does not exist (no events would be logged)"
    log = host.file(path)
    if not log.exists or log.size == 0:
        return f"the audit log {path} is missing or empty"
    last = json.loads(host.check_output(f"tail -n 1 {path}"))
    return None if last.get("kind") == "Event" else f"{path} does not hold audit events"


def _encryption_config(host: Any) -> tuple[str | None, str | None]:
    """(1.2.27: the flag names a root-only file, 1.2.28: its first provider for secrets is
    aescbc, kms or secretbox)."""
    path = _flags(host, "kube-apiserver").get("encryption-provider-config")
    if not path:
        return "--encryption-provider-config unset", "no encryption configuration"
    if (p := _mode_at_most(host, path, 0o600)):
        return p, None
    conf = yaml.safe_load(host.check_output(f"cat {path}"))
    for res in conf.get("resources", []):
        if "secrets" in res.get("resources", []):
            first = next(iter(res["providers"][0]))
            return None, None if first in ("aescbc", "kms", "secretbox") else (
                f"secrets are stored with {first} first (want aescbc, kms or secretbox)")
    return None, "secrets are not listed in the encryption configuration"


def _etcd_has_its_own_ca(host: Any) -> str | None:
    etcd_ca = _flags(host, "etcd").get("trusted-ca-file")
    api_ca = _flags(host, "kube-apiserver").get("client-ca-file")
    if not etcd_ca or not api_ca:
        return f"etcd --trusted-ca-file={etcd_ca}, kube-apiserver --client-ca-file={api_ca}"
    same = host.file(etcd_ca).sha256sum == host.file(api_ca).sha256sum
    return "etcd trusts the cluster CA: a client certificate of the cluster CA reaches etcd" \
        if same else None


KUBELET_SVC = ("/etc/systemd/system/kubelet.service",
               "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf")

NODE: dict[str, Callable[[Any], str | list[str] | None]] = {
    "4.1.1": lambda h: [p for f in KUBELET_SVC if (p := _mode_at_most(h, f, 0o600))],
    "4.1.2": lambda h: [p for f in KUBELET_SVC if (p := _owned_by_root(h, f))],
    "4.1.5": lambda h: _mode_at_most(h, "/etc/kubernetes/kubelet.conf", 0o600),
    "4.1.6": lambda h: _owned_by_root(h, "/etc/kubernetes/kubelet.conf"),
    "4.1.7": lambda h: _mode_at_most(h, _client_ca(h), 0o644),
    "4.1.8": lambda h: _owned_by_root(h, _client_ca(h)),
    "4.1.9": lambda h: _mode_at_most(h, "/var/lib/kubelet/config.yaml", 0o600),
    "4.1.10": lambda h: _owned_by_root(h, "/var/lib/kubelet/config.yaml"),
    "4.2.1": lambda h: _kubelet_anonymous(h),
    "4.2.2": lambda h: None if _kubelet_config(h).get("authorization", {}).get("mode") == "Webhook"
    else f"kubelet authorization.mode={_kubelet_config(h).get('authorization')} (want Webhook)",
    "4.2.3": lambda h: None if _kubelet_config(h).get("authentication", {}).get("x509", {})
    .get("clientCAFile") else "kubelet authentication.x509.clientCAFile unset",
    "4.2.4": lambda h: None if _kubelet_config(h).get("readOnlyPort", 0) == 0
    else f"kubelet readOnlyPort={_kubelet_config(h)['readOnlyPort']}",
    "4.2.5": lambda h: None if _kubelet_config(h).get("streamingConnectionIdleTimeout") not in (
        "0", "0s") else "kubelet streamingConnectionIdleTimeout=0",
    "4.2.6": lambda h: None if _kubelet_config(h).get("makeIPTablesUtilChains", True)
    else "kubelet makeIPTablesUtilChains=false",
    "4.2.7": lambda h: "kubelet --hostname-override is set"
    if "hostname-override" in _flags(h, "kubelet") else None,
    "4.2.8": lambda h: None if _kubelet_config(h).get("eventRecordQPS", 0) >= 0
    else "kubelet eventRecordQPS < 0",
    "4.2.9": lambda h: _kubelet_serving_cert(h),
    "4.2.10": lambda h: None if _kubelet_config(h).get("rotateCertificates", True)
    else "kubelet rotateCertificates=false",
    "4.2.11": lambda h: None if (_kubelet_config(h).get("featureGates") or {}).get(
        "RotateKubeletServerCertificate", True) else "RotateKubeletServerCertificate=false",
    "4.2.12": lambda h: None if set(_kubelet_config(h).get("tlsCipherSuites") or ["(Go default)"])
    <= STRONG_KUBELET_CIPHERS else f"tlsCipherSuites={_kubelet_config(h).get('tlsCipherSuites')}",
    "4.3.1": lambda h: [f"kube-proxy metrics listen on {a}" for a in h.check_output(
        "ss -ltnH 'sport = :10249' | awk '{print $4}'").split() if not a.startswith("127.0.0.1:")],
}


def _kubelet_anonymous(host: Any) -> str | None:
    if _kubelet_config(host).get("authentication", {}).get("anonymous", {}).get("enabled", True):
        return "kubelet authentication.anonymous.enabled is not false"
    # and the running kubelet refuses an anonymous request for its pods
    addr = host.ansible.get_variables()["ansible_host"]
    code = host.check_output(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 "
                             f"https://{addr}:10250/pods")
    return None if code == "401" else f"anonymous GET https://{addr}:10250/pods answered {code}"


# -- tests ---------------------------------------------------------------------------------

def _order(control: str) -> list[int]:
    return [int(p) for p in control.split(".")]


CP_IDS: list[str] = sorted(CP, key=_order)
NODE_IDS: list[str] = sorted(NODE, key=_order)


@pytest.mark.parametrize("control", CP_IDS)
def test_control_plane(control: str, hosts: dict[str, list[Any]]) -> None:
    _on_each(hosts["control_plane"], CP[control])


@pytest.mark.parametrize("control", NODE_IDS)
def test_node(control: str, hosts: dict[str, list[Any]]) -> None:
    _on_each(hosts["cluster"], NODE[control])


def test_every_control_is_checked_or_excepted() -> None:
    covered = set(CP) | set(NODE) | set(EXCEPTIONS)
    assert sorted(set(CIS_CONTROLS) - covered) == []
    assert not set(EXCEPTIONS) & (set(CP) | set(NODE)), "a control is both checked and excepted"


def test_anonymous_api_is_health_only(hosts: dict[str, list[Any]]) -> None:
    """1.2.1's compensating control: anonymous requests reach the health paths and nothing else."""
    def check(host: Any) -> list[str]:
        addr = host.ansible.get_variables()["ansible_host"]
        out = []
        for path, want in (("/readyz", "200"), ("/api/v1/namespaces/kube-system/secrets", "403"),
                           ("/api/v1/nodes", "403")):
            code = host.check_output(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 "
                                     f"https://{addr}:6443{path}")
            if code != want:
                out.append(f"anonymous GET {path} answered {code}, want {want}")
        return out
    _on_each(hosts["control_plane"], check)


def test_secret_is_encrypted_in_etcd(kubectl: Kubectl, first_cp: Any) -> None:
    """1.2.28 at the storage level: a Secret written now is stored with the `k8s:enc:` prefix of
    the configured provider in etcd, and still reads back in clear through the API."""
    name = "kubeforge-verify-encryption"
    kubectl.run(f"-n default delete secret {name} --ignore-not-found")
    kubectl.run(f"-n default create secret generic {name} --from-literal=probe=plaintext-marker")
    # the stored value goes to a file first: a read that failed must not look like plain text
    # (crictl's own 10 s timeout is too short for a loaded emulated VM)
    dump = "/run/kubeforge-verify-encryption.bin"
    try:
        etcdctl = ("crictl --timeout=60s exec $(crictl ps --name '^etcd$' --state running -q "
                   "| head -n1) etcdctl --endpoints https://127.0.0.1:2379 "
                   "--cacert /etc/kubernetes/pki/etcd/ca.crt "
                   "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
                   "--key /etc/kubernetes/pki/etcd/healthcheck-client.key")
        read = first_cp.run(f"{etcdctl} get --print-value-only "
                            f"/registry/secrets/default/{name} > {dump}")
        assert read.rc == 0, f"etcdctl get failed (rc {read.rc}): {read.stderr}"
        head = first_cp.check_output(f"head -c 40 {dump} | od -An -c | tr -d ' \\n'")
        assert head.startswith("k8s:enc:"), f"stored unencrypted: {head[:40]}"
        stored = first_cp.run(f"grep -c plaintext-marker {dump}")
        assert stored.stdout.strip() == "0", "the secret's value is readable in etcd"
        data = kubectl.json(f"-n default get secret {name}")["data"]["probe"]
        assert data == "cGxhaW50ZXh0LW1hcmtlcg=="  # base64 of the value written
    finally:
        first_cp.run(f"rm -f {dump}")
        kubectl.run(f"-n default delete secret {name} --ignore-not-found", check=False)


def test_every_secret_is_readable(kubectl: Kubectl, first_cp: Any) -> None:
    """All Secrets decrypt with the key the control-plane nodes share. One is written first: a
    cluster without add-ons may hold none once its bootstrap tokens have expired."""
    name = "kubeforge-verify-readable"
    kubectl.run(f"-n default delete secret {name} --ignore-not-found")
    kubectl.run(f"-n default create secret generic {name} --from-literal=probe=readable")
    try:
        res = first_cp.run(f"{KUBECTL} get secrets -A -o json")
        assert res.rc == 0, res.stderr
        names = [s["metadata"]["name"] for s in json.loads(res.stdout)["items"]]
        assert name in names, "the Secret written for this check is not listed"
    finally:
        kubectl.run(f"-n default delete secret {name} --ignore-not-found", check=False)


def test_a_forged_kubelet_serving_request_stays_pending(kubectl: Kubectl, first_cp: Any,
                                                       inventory_hosts: dict[str, list[str]]
                                                       ) -> None:
    """The approver checks who asks and for what: a serving request for a worker's name sent by
    the admin (not by that node), for an address that is not the node's, is left pending with the
    reason, where kube-controller-manager would sign it once approved."""
    node = inventory_hosts["cluster"][-1]
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}")])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(node),
                                     x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]),
        critical=False).sign(key, hashes.SHA256())
    name = "kubeforge-verify-forged-serving"
    request = base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()
    manifest = json.dumps({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {"signerName": "kubernetes.io/kubelet-serving", "request": request,
                 "usages": ["digital signature", "server auth"]}})
    kubectl.run(f"delete csr {name} --ignore-not-found")
    kubectl.run(f"create -f - <<'EOF'\n{manifest}\nEOF")
    try:
        since = first_cp.check_output("date +'%Y-%m-%d %H:%M:%S'")
        ran = first_cp.run("systemctl start kubeforge-kubelet-serving.service")
        assert ran.rc == 0, f"the approver failed: {ran.stderr}"
        status = kubectl.json(f"get csr {name}").get("status", {})
        assert not status.get("conditions"), f"the forged request was answered: {status}"
        log = first_cp.check_output(
            f"journalctl -u kubeforge-kubelet-serving.service --since '{since}' --no-pager")
        assert f"left pending: {name}: sent by kubernetes-admin" in log, log[-2000:]
    finally:
        kubectl.run(f"delete csr {name} --ignore-not-found", check=False)
