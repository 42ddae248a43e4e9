"""The mirror's file tree: upstream layout, tarball contents, sidecars, checksums.yml, verify."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
import yaml

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import checksums, components, files
from kubeforge.mirror.layout import KUBE_BINARIES, MirrorLayout, sidecar, spec_mirrors

RELEASE = versions.RELEASES[versions.DEFAULT_KUBERNETES]


@pytest.fixture
def layout(tmp_path: Path) -> MirrorLayout:
    """A mirror whose builds are small fake binaries (no Go needed)."""
    lay = MirrorLayout(tmp_path / "mirror")
    for comp in components.COMPONENTS:
        d = lay.build_dir(comp, components.version_of(comp, RELEASE))
        d.mkdir(parents=True)
        for b in components.BINARIES[comp]:
            (d / b).write_bytes(f"{comp}/{b}\n".encode())
    return lay


def test_paths_follow_upstream(tmp_path: Path) -> None:
    lay = MirrorLayout(tmp_path)
    assert lay.artifact_file(RELEASE, "kubeadm") == (
        tmp_path / "files/release/v1.37.2/bin/linux/amd64/kubeadm")
    assert lay.artifact_file(RELEASE, "containerd") == tmp_path / (
        f"files/github/containerd/containerd/releases/download/v{RELEASE.containerd}/"
        f"containerd-{RELEASE.containerd}-linux-amd64.tar.gz")
    assert lay.artifact_file(RELEASE, "helm") == (
        tmp_path / f"files/helm/helm-v{RELEASE.helm}-linux-amd64.tar.gz")
    assert sidecar(Path("/x/kubeadm")) == Path("/x/kubeadm.sha256")


def test_unknown_release_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubeforgeError, match=r"1\.99\.0 is not in the bill of materials"):
        MirrorLayout(tmp_path).release("1.99.0")


def test_spec_mirrors_points_everything_at_one_address(tmp_path: Path) -> None:
    m = spec_mirrors("10.240.0.1", MirrorLayout(tmp_path))
    assert m["binaries"] == "http://10.240.0.1:8080"
    assert m["github"] == "http://10.240.0.1:8080/github"
    assert m["apt"] == "http://10.240.0.1:8080/debian"
    assert m["images"] == {h: ["http://10.240.0.1:5000"]
                           for h in ("registry.k8s.io", "ghcr.io", "docker.io", "quay.io")}
    assert m["charts"] == "http://10.240.0.1:8080/charts"


def _names(path: Path) -> list[str]:
    with tarfile.open(path, "r:gz") as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def test_pack_release_lays_out_tarballs_like_upstream(layout: MirrorLayout) -> None:
    written = files.pack_release(layout, RELEASE)
    for b in KUBE_BINARIES:
        assert layout.release_bin(RELEASE.kubernetes, b) in written
    assert _names(layout.artifact_file(RELEASE, "containerd")) == [
        "bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"]
    assert _names(layout.artifact_file(RELEASE, "crictl")) == ["crictl"]
    assert "bridge" in _names(layout.artifact_file(RELEASE, "cni_plugins"))
    assert "host-local" in _names(layout.artifact_file(RELEASE, "cni_plugins"))
    top = f"etcd-v{RELEASE.etcd}-linux-amd64"
    assert _names(layout.artifact_file(RELEASE, "etcd")) == [
        f"{top}/etcd", f"{top}/etcdctl", f"{top}/etcdutl"]
    assert _names(layout.artifact_file(RELEASE, "helm")) == ["linux-amd64/helm"]
    runc = layout.artifact_file(RELEASE, "runc")
    assert runc.name == "runc.amd64" and runc.read_bytes() == b"runc/runc\n"
    for path in written:
        assert sidecar(path).read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_repacking_is_reproducible(layout: MirrorLayout) -> None:
    files.pack_release(layout, RELEASE)
    tgz = layout.artifact_file(RELEASE, "containerd")
    first = tgz.read_bytes()
    tgz.unlink()
    files.pack_release(layout, RELEASE)
    assert tgz.read_bytes() == first


def test_checksums_yml_covers_every_artifact(layout: MirrorLayout) -> None:
    files.pack_release(layout, RELEASE)
    checksums.write_table(layout)
    table = yaml.safe_load(layout.checksums_file.read_text())
    # the charts step publishes the CRD manifests (from Go modules, so not in a unit test)
    packed = set(versions.ARTIFACT_PATHS) - {"gateway_api", "traefik_crds"}
    assert set(table) == packed
    for artifact in packed:
        version = versions.component_version(RELEASE, artifact)
        path = layout.artifact_file(RELEASE, artifact)
        assert table[artifact] == {version: hashlib.sha256(path.read_bytes()).hexdigest()}
    assert checksums.verify(layout) == []


def test_verify_detects_a_corrupt_file(layout: MirrorLayout) -> None:
    files.pack_release(layout, RELEASE)
    checksums.write_table(layout)
    kubeadm = layout.artifact_file(RELEASE, "kubeadm")
    kubeadm.write_bytes(b"tampered")
    problems = checksums.verify(layout)
    assert len(problems) == 1
    assert str(kubeadm) in problems[0] and "corrupt" in problems[0]
    with pytest.raises(KubeforgeError, match="1 problem") as err:
        checksums.verify_or_raise(layout)
    assert "kubeforge mirror build" in str(err.value)


def test_verify_detects_missing_files_and_sidecars(layout: MirrorLayout) -> None:
    files.pack_release(layout, RELEASE)
    checksums.write_table(layout)
    helm = layout.artifact_file(RELEASE, "helm")
    helm.unlink()
    kubectl_sha = sidecar(layout.release_bin(RELEASE.kubernetes, "kube-proxy"))
    kubectl_sha.unlink()
    problems = "\n".join(checksums.verify(layout))
    assert f"{helm}: missing" in problems
    assert "kube-proxy: its .sha256 file is missing" in problems
    with pytest.raises(KubeforgeError, match=f"helm {RELEASE.helm}: .*missing"):
        checksums.require_artifact(layout, RELEASE, "helm")


def test_require_artifact_returns_a_good_file(layout: MirrorLayout) -> None:
    files.pack_release(layout, RELEASE)
    checksums.write_table(layout)
    assert checksums.require_artifact(layout, RELEASE, "crictl").is_file()
