"""The bill of materials: which component versions go with each supported Kubernetes release,
and where each artifact lives under a mirror base URL.

One table serves three readers: spec validation (is this version supported?), the Ansible roles
(download URLs + checksums, through `kubeforge render`) and `kubeforge mirror build` (what to build
and where to put it). The upstream layouts are kept, so a mirror is a drop-in for dl.k8s.io,
github.com release downloads and get.helm.sh.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from kubeforge.cni import PLUGINS


@dataclass(frozen=True)
class Release:
    """Everything that ships with one Kubernetes patch release (linux/amd64)."""

    kubernetes: str
    etcd: str
    coredns: str
    pause: str
    containerd: str
    runc: str
    crictl: str
    cni_plugins: str
    helm: str
    # busybox-static from Debian, for the network checks' test image
    busybox: str = "1.35.0"
    # Why this release is or is not the default; shown by `kubeforge plan`.
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def minor(self) -> tuple[int, int]:
        major, minor, _ = self.kubernetes.split(".")
        return int(major), int(minor)


# Newest first: the three minors upstream supports. etcd, CoreDNS and pause are the versions
# kubeadm of each minor pins (cmd/kubeadm/app/constants; tests/unit/test_kubeadm_constants.py
# compares them). crictl 1.35/1.36 are not on the module proxy; crictl is a CRI v1 client, so
# 1.37.0 serves all three. containerd 2.1, runc 1.3 and CNI plugins 1.8 are shared builds.
# kubelet >= 1.35 refuses cgroup v1 hosts unless the spec sets `kubernetes.cgroup_v1: true`.
_SHARED = Release(
    kubernetes="", etcd="", coredns="", pause="", containerd="2.1.5", runc="1.3.5",
    crictl="1.37.0", cni_plugins="1.8.0", helm="3.19.0",
)
RELEASES: dict[str, Release] = {
    r.kubernetes: r
    for r in (
        replace(_SHARED, kubernetes="1.37.2", etcd="3.7.0", coredns="1.14.6", pause="3.10.2",
                note="default: newest patch of the newest minor"),
        replace(_SHARED, kubernetes="1.36.3", etcd="3.6.8", coredns="1.14.2", pause="3.10.2",
                note="previous minor, the source of the upgrade drill"),
        replace(_SHARED, kubernetes="1.35.4", etcd="3.6.6", coredns="1.13.1", pause="3.10.1",
                note="oldest supported minor"),
    )
}

DEFAULT_KUBERNETES = "1.37.2"

# Add-ons: versioned apart from Kubernetes releases; one tested combination per kubeforge release.
# Traefik v3.7+ needs a nested module (traefik/dynamic/ext) the module proxy cannot serve, so the
# mirror builds v3.6. kubeforge installs it with its own chart (data/charts/kubeforge-traefik).
TRAEFIK = "3.6.12"
GATEWAY_API = "1.4.1"
CERT_MANAGER = "1.21.2"
# cert-manager's binaries moved to untagged nested modules in v1.12; the proxy refuses every
# pseudo-version of them (403). v1.11.5 is the newest release an offline mirror can build.
CERT_MANAGER_MIRROR = "1.11.5"
PEBBLE = "2.10.1"
# Control-host tools (the Pulumi CLI and its Kubernetes provider plugin), built by the mirror.
PULUMI = "3.274.1"
PULUMI_KUBERNETES = "4.25.0"
# provider/v4 has no tags on the proxy; this pseudo-version (commit f47bc2d6f199 of 2026-01-15,
# the day before v4.25.0 was released) is the only version it serves; built stamped 4.25.0.
PULUMI_KUBERNETES_MODULE = "v4.0.0-20260115033456-f47bc2d6f199"

# Chart repositories the add-on sections use by default (a spec's mirrors.charts replaces them).
UPSTREAM_CHART_REPOS: dict[str, str] = {
    "cert-manager": "https://charts.jetstack.io",
}

# Upstream base URLs; a spec's `mirrors` section replaces them one by one.
UPSTREAM_BINARIES = "https://dl.k8s.io"
UPSTREAM_GITHUB = "https://github.com"
UPSTREAM_HELM = "https://get.helm.sh"

# Path of each artifact below its base URL (upstream layout). Keys are the artifact names used
# in checksum tables; `{v}` is the component version from the Release.
ARTIFACT_PATHS: dict[str, tuple[str, str]] = {
    # name: (base, path template)
    "kubeadm": ("binaries", "release/v{v}/bin/linux/amd64/kubeadm"),
    "kubelet": ("binaries", "release/v{v}/bin/linux/amd64/kubelet"),
    "kubectl": ("binaries", "release/v{v}/bin/linux/amd64/kubectl"),
    "containerd": (
        "github",
        "containerd/containerd/releases/download/v{v}/containerd-{v}-linux-amd64.tar.gz",
    ),
    "runc": ("github", "opencontainers/runc/releases/download/v{v}/runc.amd64"),
    "crictl": (
        "github",
        "kubernetes-sigs/cri-tools/releases/download/v{v}/crictl-v{v}-linux-amd64.tar.gz",
    ),
    "cni_plugins": (
        "github",
        "containernetworking/plugins/releases/download/v{v}/cni-plugins-linux-amd64-v{v}.tgz",
    ),
    "etcd": ("github", "etcd-io/etcd/releases/download/v{v}/etcd-v{v}-linux-amd64.tar.gz"),
    "helm": ("helm", "helm-v{v}-linux-amd64.tar.gz"),
    # CRDs of the Gateway API standard channel (Traefik's Gateway provider)
    "gateway_api": (
        "github", "kubernetes-sigs/gateway-api/releases/download/v{v}/standard-install.yaml",
    ),
    # Traefik's own CRDs (IngressRoute, Middleware, ...), the file its documentation applies
    "traefik_crds": (
        "github",
        "traefik/traefik/raw/v{v}/docs/content/reference/dynamic-configuration/"
        "kubernetes-crd-definition-v1.yml",
    ),
}

# Images kubeadm and the default add-ons pull, as upstream names them ({v} per Release field).
IMAGES: dict[str, str] = {
    "kube-apiserver": "registry.k8s.io/kube-apiserver:v{kubernetes}",
    "kube-controller-manager": "registry.k8s.io/kube-controller-manager:v{kubernetes}",
    "kube-scheduler": "registry.k8s.io/kube-scheduler:v{kubernetes}",
    "kube-proxy": "registry.k8s.io/kube-proxy:v{kubernetes}",
    "etcd": "registry.k8s.io/etcd:{etcd}-0",
    "coredns": "registry.k8s.io/coredns/coredns:v{coredns}",
    "pause": "registry.k8s.io/pause:{pause}",
    # the small web server and client pods of `kubeforge verify` run (busybox httpd/wget/nslookup)
    "netcheck": "docker.io/kubeforge/netcheck:{busybox}",
}

# Each pod network's own components, artifacts and images, as its folder declares them
# (kubeforge/cni/NAME): shared by every release, like the add-ons.
CNI_VERSIONS: dict[str, str] = {k: v for p in PLUGINS.values() for k, v in p.components.items()}
ARTIFACT_PATHS.update({k: v for p in PLUGINS.values() for k, v in p.artifacts.items()})
IMAGES.update({k: v for p in PLUGINS.values() for k, v in p.images.items()})


def component_version(release: Release, artifact: str) -> str:
    """The version of `artifact` (a key of ARTIFACT_PATHS) in `release`."""
    if artifact in ("kubeadm", "kubelet", "kubectl"):
        return release.kubernetes
    if artifact == "gateway_api":
        return GATEWAY_API
    if artifact == "traefik_crds":
        return TRAEFIK
    if artifact in CNI_VERSIONS:
        return CNI_VERSIONS[artifact]
    return str(getattr(release, artifact))


def artifact_path(release: Release, artifact: str) -> str:
    _, template = ARTIFACT_PATHS[artifact]
    return template.format(v=component_version(release, artifact))


def image_ref(release: Release, image: str) -> str:
    return IMAGES[image].format(**CNI_VERSIONS, **{k: getattr(release, k) for k in (
        "kubernetes", "etcd", "coredns", "pause", "busybox")})
