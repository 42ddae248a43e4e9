"""`kubeforge status ENV`: one screen of cluster health. Nodes come from the API (the admin
kubeconfig that `kubeforge deploy` fetched); etcd and the certificate expiry come from the
control-plane nodes over SSH, like Ansible reaches them. Exit 0 healthy, 1 something wrong.

The parsing and the verdict are pure functions (unit-tested); only `collect` talks to hosts."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeforge import paths
from kubeforge.errors import KubeforgeError
from kubeforge.mirror.layout import MirrorLayout
from kubeforge.spec.models import ClusterSpec, Host

SECONDS_PER_DAY = 86_400
ROLE_LABEL = "node-role.kubernetes.io/"
# etcdctl inside the etcd container, with the health-check client certificate kubeadm made
ETCDCTL = ("crictl exec $(crictl ps --name '^etcd$' --state running -q | head -n1) etcdctl "
           "--endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
           "--key /etc/kubernetes/pki/etcd/healthcheck-client.key")


@dataclass(frozen=True)
class Node:
    name: str
    ready: bool
    version: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Member:
    name: str
    endpoint: str
    learner: bool
    healthy: bool | None  # None: the health check did not cover it


@dataclass(frozen=True)
class Cert:
    node: str
    name: str
    expires: str
    days: int
    authority: bool


@dataclass
class Report:
    nodes: list[Node] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    certs: list[Cert] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_nodes(data: dict[str, Any]) -> list[Node]:
    """`kubectl get nodes -o json` -> one row per node."""
    out = []
    for item in data.get("items", []):
        labels = item.get("metadata", {}).get("labels", {})
        roles = tuple(sorted(k[len(ROLE_LABEL):] for k in labels if k.startswith(ROLE_LABEL)))
        conds = item.get("status", {}).get("conditions", [])
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
        version = item.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?")
        out.append(Node(item["metadata"]["name"], ready, version, roles or ("<none>",)))
    return out


def parse_members(members: dict[str, Any], health: list[dict[str, Any]]) -> list[Member]:
    """`etcdctl member list -w json` and `etcdctl endpoint health --cluster -w json`."""
    by_endpoint = {h.get("endpoint", ""): bool(h.get("health")) for h in health}
    out = []
    for m in members.get("members", []):
        urls = m.get("clientURLs") or []
        healthy = next((by_endpoint[u] for u in urls if u in by_endpoint), None)
        # a member that has not started has no name and no client URL yet: its peer URL is
        # what `member add` was given, so that is what a person recognises it by
        endpoint = next(iter(urls or m.get("peerURLs") or [""]))
        out.append(Member(m.get("name") or f"(unstarted {m.get('ID', '?')})", endpoint,
                          bool(m.get("isLearner")), healthy))
    return out


def parse_cert_expiry(node: str, data: dict[str, Any]) -> list[Cert]:
    """`kubeadm certs check-expiration -o json` (output.kubeadm.k8s.io/v1alpha3: residualTime
    in seconds)."""
    out = []
    for key, authority in (("certificates", False), ("certificateAuthorities", True)):
        for c in data.get(key) or []:
            if c.get("missing"):
                continue
            out.append(Cert(node, c["name"], c.get("expirationDate", "?"),
                            int(c.get("residualTime", 0)) // SECONDS_PER_DAY, authority))
    return out


def expiring(certs: Sequence[Cert], warn_days: int) -> list[Cert]:
    return [c for c in certs if c.days < warn_days]


def problems(report: Report, spec: ClusterSpec, warn_days: int) -> list[str]:
    """Everything that makes the cluster unhealthy, one line each (empty: healthy)."""
    out = list(report.errors)
    seen = {n.name for n in report.nodes}
    for h in spec.hosts:
        if h.name not in seen:
            out.append(f"node {h.name} is in the spec but not in the cluster")
    out += [f"node {n.name} is not Ready" for n in report.nodes if not n.ready]
    cps = len(spec.control_plane)
    if report.members or not report.errors:
        voters = [m for m in report.members if not m.learner]
        if len(voters) != cps:
            out.append(f"etcd has {len(voters)} voting members, the spec {cps} control-plane nodes")
        out += [f"etcd member {m.name} ({m.endpoint}) is unhealthy"
                for m in report.members if m.healthy is False]
        out += [f"etcd member {m.name} is still a learner" for m in report.members if m.learner]
    out += [f"certificate {c.name} on {c.node} expires in {c.days} days ({c.expires})"
            for c in expiring(report.certs, warn_days)]
    return out


def even_members(report: Report, spec: ClusterSpec) -> list[str]:
    """A warning while etcd has an even number of voting members, as for the time of a
    replacement (a healthy member's successor joins before it leaves): one more member, and not
    one more failure tolerated."""
    voters = [m.name for m in report.members if not m.learner]
    if not voters or len(voters) % 2:
        return []
    return [f"WARNING: etcd has {len(voters)} voting members ({', '.join(voters)}): an even "
            f"count tolerates no more failures than {len(voters) - 1}; finish the replacement "
            f"(`kubeforge replace-node {spec.name} OLD NEW`) or remove one "
            f"(`kubeforge remove-node {spec.name} NODE`)"]


def render(report: Report, spec: ClusterSpec, warn_days: int) -> str:
    lines = [f"cluster {spec.name}", "", f"{'NODE':<12} {'READY':<6} {'VERSION':<10} ROLES"]
    lines += [f"{n.name:<12} {'yes' if n.ready else 'NO':<6} {n.version:<10} {','.join(n.roles)}"
              for n in report.nodes]
    lines += ["", f"{'ETCD MEMBER':<12} {'HEALTH':<8} {'LEARNER':<8} ENDPOINT"]
    lines += [f"{m.name:<12} {_health(m.healthy):<8} {'yes' if m.learner else 'no':<8} "
              f"{m.endpoint}" for m in report.members]
    # one row per certificate: the soonest expiry among the nodes that hold it
    lines += ["", f"{'CERTIFICATE':<28} {'SOONEST EXPIRY':<22} {'DAYS LEFT':>9}  NODES"]
    soonest: dict[tuple[str, bool], list[Cert]] = {}
    for c in report.certs:
        soonest.setdefault((c.name, c.authority), []).append(c)
    for (name, authority), certs in sorted(soonest.items(),
                                           key=lambda kv: (kv[0][1], min(c.days for c in kv[1]),
                                                           kv[0][0])):
        first = min(certs, key=lambda c: c.expires)
        label = f"{name} (CA)" if authority else name
        lines.append(f"{label:<28} {first.expires:<22} {first.days:>9}  "
                     f"{','.join(sorted(c.node for c in certs))}")
    lines.append("")
    lines += [f"WARNING: {c.name} on {c.node} expires in {c.days} days (threshold {warn_days}): "
              + ("rotate the CA (kubeadm does not renew it)" if c.authority else
                 f"run `kubeforge certs {spec.name} --renew`")
              for c in expiring(report.certs, warn_days)]
    lines += even_members(report, spec)
    found = problems(report, spec, warn_days)
    lines.append("status: healthy" if not found else
                 "status: UNHEALTHY\n" + "\n".join(f"  - {p}" for p in found))
    return "\n".join(lines)


def _health(h: bool | None) -> str:
    return "?" if h is None else ("ok" if h else "FAILED")


# -- talking to the cluster ----------------------------------------------------------------

def ssh(spec: ClusterSpec, host: Host, command: str, timeout: float = 30) -> str:
    """COMMAND's output on HOST (the spec's SSH settings); RuntimeError if it fails."""
    key = host.ssh.key or spec.ssh.key
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
            "-p", str(host.ssh.port or spec.ssh.port)]
    if key:
        argv += ["-i", str(key)]
    if spec.ssh.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={spec.ssh.known_hosts}",
                 "-o", "StrictHostKeyChecking=yes"]
    argv += [f"{host.ssh.user or spec.ssh.user}@{host.address}", command]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{host.name}: `{command.split()[0]} ...` failed (rc {res.returncode}): "
                           f"{res.stderr.strip()[-300:]}")
    return res.stdout


def kubectl_argv(spec: ClusterSpec) -> list[str]:
    """kubectl (the mirror's of the spec's release, else PATH's) with the cluster's admin
    kubeconfig; a clear error when that kubeconfig is missing."""
    kubeconfig = paths.admin_kubeconfig(spec.name)
    if not kubeconfig.is_file():
        raise KubeforgeError(f"{kubeconfig} is missing: deploy first (`kubeforge deploy "
                             f"{spec.name}`) or refresh it (`kubeforge certs {spec.name} --renew` "
                             "fetches it too)")
    mirror = MirrorLayout.default().release_bin(spec.kubernetes.version, "kubectl")
    binary = str(mirror) if mirror.is_file() else shutil.which("kubectl")
    if not binary:
        raise KubeforgeError("kubectl is not installed (and the mirror has none): install it")
    return [binary, "--kubeconfig", str(kubeconfig), "--request-timeout=10s"]


def collect(spec: ClusterSpec) -> Report:
    report = membership(spec)
    for host in spec.control_plane:
        try:
            data = json.loads(ssh(spec, host, "kubeadm certs check-expiration -o json"))
            report.certs += parse_cert_expiry(host.name, data)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
            report.errors.append(f"certificates of {host.name}: {e}")
    return report


def membership(spec: ClusterSpec) -> Report:
    """The cluster's nodes (through the endpoint) and etcd members (from the first
    control-plane node that answers)."""
    report = Report()
    try:
        res = subprocess.run([*kubectl_argv(spec), "get", "nodes", "-o", "json"],
                             capture_output=True, text=True, timeout=30, check=False)
        if res.returncode != 0:
            report.errors.append(f"the API does not answer through the endpoint: "
                                 f"{res.stderr.strip()[-300:]}")
        else:
            report.nodes = parse_nodes(json.loads(res.stdout))
    except subprocess.TimeoutExpired:
        report.errors.append("the API did not answer within 30 s")

    for host in spec.control_plane:
        try:
            members = json.loads(ssh(spec, host, f"{ETCDCTL} member list -w json"))
            # --cluster asks every member; a dead one makes etcdctl exit 1 but still print
            health = json.loads(ssh(spec, host, f"{ETCDCTL} endpoint health --cluster "
                                                 "-w json 2>/dev/null || true") or "[]")
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
            report.errors.append(f"etcd via {host.name}: {e}")
            continue
        report.members = parse_members(members, health)
        # an earlier node that failed is reported once by the member list instead
        report.errors = [e for e in report.errors if not e.startswith("etcd via ")]
        break
    return report


def _cmd_status(args: argparse.Namespace) -> int:
    from kubeforge.spec import load_spec

    spec = load_spec(args.env)
    warn_days = args.warn_days or spec.certificates.warn_days
    report = collect(spec)
    print(render(report, spec, warn_days))
    return 1 if problems(report, spec, warn_days) else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="nodes, etcd members and certificate expiry at a glance "
                       "(exit 1 when something is wrong)")
    p.add_argument("env", nargs="?", default="lab",
                   help="environment name (inventories/ENV/cluster.yml) or a spec path")
    p.add_argument("--warn-days", type=int, default=None,
                   help="warn about certificates expiring within N days "
                   "(default: the spec's certificates.warn_days, 30)")
    p.set_defaults(func=_cmd_status)
