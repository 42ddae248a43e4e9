"""`kubeforge plan`: a readable summary of what a spec builds."""

from __future__ import annotations

from kubeforge import addons, artifacts
from kubeforge.cni import PLUGINS
from kubeforge.spec.models import ClusterSpec

ENDPOINT_MODES = {
    "vip": "keepalived VIP on {interface} + haproxy on every control-plane node",
    "kube-vip": "kube-vip static pod announcing the VIP on {interface}",
    "external": "external load balancer",
}


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows]


def summary(spec: ClusterSpec) -> str:
    k8s = spec.kubernetes
    ep = spec.control_plane_endpoint
    net = spec.network
    cps = spec.control_plane
    lines = [
        f"Cluster {spec.name}: Kubernetes {k8s.version} ({k8s.release.note})",
        f"Control-plane endpoint: {ep.target} — {ENDPOINT_MODES[ep.mode].format(**ep.__dict__)}",
        f"etcd: stacked, {len(cps)} member(s), tolerates {(len(cps) - 1) // 2} failure(s)",
        f"Nodes ({len(spec.hosts)}):",
    ]
    rows = [["NAME", "ADDRESS", "ROLES", "KUBELET"]]
    for h in spec.hosts:
        rows.append([h.name, str(h.address), ",".join(h.roles),
                     h.kubelet_version or k8s.version])
    lines += _table(rows)
    cni = spec.cni
    cni_mode = PLUGINS[cni.plugin].mode(cni.chosen())
    lines += [
        f"Network: nodes {net.node_cidr}, pods {net.pod_cidr}, services {net.service_cidr}, "
        f"DNS domain {net.dns_domain}",
        f"CNI: {cni.plugin} ({cni_mode})",
        f"Ingress: {spec.ingress.controller}"
        + (" with Gateway API" if spec.ingress.gateway_api and spec.ingress.controller != "none"
           else ""),
    ]
    cm = spec.cert_manager
    issuers = ", ".join(f"{i.name} ({i.type})" for i in cm.issuers) or "none"
    lines.append(f"cert-manager: {'on, issuers: ' + issuers if cm.enabled else 'off'}")
    arts = artifacts.resolve(spec)  # raises (exit 2) when a checksum is not pinned
    planned = addons.expand(spec)
    lines.append(f"Add-ons, in install order ({len(planned)} Helm releases"
                 + "".join(f" after the {m} CRDs" for m in addons.manifests(spec)) + "):")
    lines += _table([["RELEASE", "CHART", "VERSION", "SOURCE"]] + [
        [f"{r.namespace}/{r.name}", r.chart, r.version or "-", r.repo or r.oci or r.path or ""]
        for r in planned])
    lines.append("Artifacts (sha256 pinned):")
    lines += _table([[a.name, a.version, a.url] for a in arts.values()])
    if spec.mirrors.images:
        lines.append("Image mirrors: " + "; ".join(
            f"{k} -> {', '.join(v)}" for k, v in sorted(spec.mirrors.images.items())))
    return "\n".join(lines)
