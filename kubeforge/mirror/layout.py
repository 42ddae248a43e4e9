"""Where everything lives inside a mirror, and how the mirror maps onto upstream URLs.

<mirror>/
  files/                     served on :8080, laid out like the upstream download sites
    release/vX/bin/linux/amd64/kubeadm(.sha256)   dl.k8s.io
    github/<owner>/<repo>/releases/download/...   github.com release assets
    helm/helm-vX-linux-amd64.tar.gz               get.helm.sh
    debian/                                       flat apt repository (Packages, Release, *.deb)
  build/<component>/<version>/   binaries straight from `go build`, one directory per version
  work/<component>-<version>/    the throwaway Go wrapper modules (kept: go.sum, build.log)
  images/                        one OCI image layout holding every image (blobs shared)
  rootfs/                        the Debian base used by images that need iptables userland
  registry/                      storage of the OCI registry
  run/                           pidfiles, logs and config of `kubeforge mirror serve`
  checksums.yml                  {artifact: {version: sha256}} for the spec's checksums_file
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubeforge import paths, versions
from kubeforge.errors import KubeforgeError

REGISTRY_PORT = 5000
FILES_PORT = 8080

# Prefix under files/ for each base of versions.ARTIFACT_PATHS.
BASE_PREFIX: dict[str, str] = {"binaries": "", "github": "github", "helm": "helm"}

# Binaries of a Kubernetes release published under release/vX/bin/linux/amd64/ (like dl.k8s.io).
KUBE_BINARIES: tuple[str, ...] = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)


def _release(version: str) -> versions.Release:
    try:
        return versions.RELEASES[version.removeprefix("v")]
    except KeyError:
        known = ", ".join(versions.RELEASES)
        raise KubeforgeError(f"Kubernetes {version} is not in the bill of materials "
                             f"(kubeforge/versions.py); choose one of: {known}") from None


@dataclass(frozen=True)
class MirrorLayout:
    root: Path

    @classmethod
    def default(cls) -> MirrorLayout:
        return cls(paths.cache_dir() / "mirror")

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def builds(self) -> Path:
        return self.root / "build"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def debian(self) -> Path:
        return self.files / "debian"

    @property
    def checksums_file(self) -> Path:
        return self.root / "checksums.yml"

    def build_dir(self, component: str, version: str) -> Path:
        return self.builds / component / version

    def work_dir(self, component: str, version: str) -> Path:
        return self.work / f"{component}-{version}"

    def release_bin(self, kubernetes: str, binary: str) -> Path:
        return self.files / "release" / f"v{kubernetes}" / "bin" / "linux" / "amd64" / binary

    def artifact_file(self, release: versions.Release, artifact: str) -> Path:
        """The file under files/ that stands in for `artifact` of `release` upstream."""
        base, _ = versions.ARTIFACT_PATHS[artifact]
        prefix = BASE_PREFIX[base]
        rel = versions.artifact_path(release, artifact)
        return self.files / prefix / rel if prefix else self.files / rel

    def release(self, version: str) -> versions.Release:
        return _release(version)


def sidecar(path: Path) -> Path:
    """The `.sha256` file next to an artifact (hex digest only, like dl.k8s.io)."""
    return path.with_name(path.name + ".sha256")


def spec_mirrors(addr: str, layout: MirrorLayout | None = None) -> dict[str, object]:
    """The cluster spec's `mirrors:` section that points every source at a mirror served on addr.

    Registry paths stay the upstream ones minus the host, so one endpoint serves every registry.
    """
    layout = layout or MirrorLayout.default()
    files = f"http://{addr}:{FILES_PORT}"
    registry = f"http://{addr}:{REGISTRY_PORT}"
    return {
        "binaries": files,
        "github": f"{files}/{BASE_PREFIX['github']}",
        "helm": f"{files}/{BASE_PREFIX['helm']}",
        "images": {host: [registry] for host in ("registry.k8s.io", "ghcr.io", "docker.io",
                                                 "quay.io")},
        "charts": f"{files}/charts",
        "apt": f"{files}/debian",
        "checksums_file": str(layout.checksums_file),
    }
