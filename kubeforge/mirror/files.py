"""The file tree under <mirror>/files/, packed the way upstream publishes each artifact.

Tarballs are deterministic (sorted entries, fixed mtimes and owners, gzip without name/time), so
repacking after a cache wipe reproduces the same sha256. Every file gets a `.sha256` sidecar
holding the hex digest, like dl.k8s.io.
"""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import oci
from kubeforge.mirror.components import BINARIES, CNI_BUNDLES, version_of
from kubeforge.mirror.fsutil import atomic_path, atomic_write, sha256_file
from kubeforge.mirror.layout import KUBE_BINARIES, MirrorLayout, sidecar

# Artifact -> (component build it comes from, {path inside the tarball: binary}); None = the
# artifact is the bare binary itself.
TARBALLS: dict[str, tuple[str, dict[str, str] | None]] = {
    "containerd": ("containerd", {f"bin/{b}": b for b in
                                  ("containerd", "containerd-shim-runc-v2", "ctr")}),
    "runc": ("runc", None),
    "crictl": ("crictl", {"crictl": "crictl"}),
    "cni_plugins": ("cni_plugins", None),  # every plugin at the top level, filled in below
    "etcd": ("etcd", None),  # etcd-vX-linux-amd64/..., filled in below
    "helm": ("helm", {"linux-amd64/helm": "helm"}),
    # each pod network's own node downloads (kubeforge/cni/NAME/mirror.py)
    **{k: t for b in CNI_BUNDLES for k, t in b.tarballs.items()},
}


def write_sidecar(path: Path) -> str:
    digest = sha256_file(path)
    atomic_write(sidecar(path), (digest + "\n").encode())
    return digest


def write_tgz(dest: Path, members: dict[str, Path]) -> None:
    """A deterministic .tar.gz of `{member name: source file}` (directories implied)."""
    entries = oci.file_entries(dict(members.items()))
    with atomic_path(dest) as tmp, tmp.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            ti = tarfile.TarInfo(e.path)
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = oci.EPOCH, 0, 0, "", ""
            if e.kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
                continue
            assert e.source is not None
            ti.mode, ti.size = 0o755, e.source.stat().st_size
            with e.source.open("rb") as f:
                tar.addfile(ti, f)


def _members(artifact: str, release: versions.Release, bindir: Path) -> dict[str, Path] | None:
    _, names = TARBALLS[artifact]
    if artifact == "cni_plugins":
        return {b: bindir / b for b in BINARIES["cni_plugins"]}
    if artifact == "etcd":
        top = f"etcd-v{release.etcd}-linux-amd64"
        return {f"{top}/{b}": bindir / b for b in ("etcd", "etcdctl", "etcdutl")}
    return None if names is None else {m: bindir / b for m, b in names.items()}


def _needs(dest: Path) -> bool:
    """True if dest has to be (re)made: it or its sidecar is missing."""
    return not (dest.is_file() and sidecar(dest).is_file())


def pack_release(layout: MirrorLayout, release: versions.Release,
                 components: set[str] | None = None) -> list[Path]:
    """Publish every built artifact of `release` under files/; return the files written."""
    written: list[Path] = []

    def built(component: str) -> Path | None:
        d = layout.build_dir(component, version_of(component, release))
        if components is not None and component not in components:
            return None
        return d if d.is_dir() else None

    if (kdir := built("kubernetes")) is not None:
        for b in KUBE_BINARIES:
            dest = layout.release_bin(release.kubernetes, b)
            if _needs(dest):
                with atomic_path(dest) as tmp:
                    tmp.write_bytes((kdir / b).read_bytes())
                    tmp.chmod(0o755)
                write_sidecar(dest)
                written.append(dest)
    for artifact, (component, _) in TARBALLS.items():
        bindir = built(component)
        if bindir is None:
            continue
        dest = layout.artifact_file(release, artifact)
        if not _needs(dest):
            continue
        members = _members(artifact, release, bindir)
        if members is None:  # a bare binary (runc.amd64)
            with atomic_path(dest) as tmp:
                tmp.write_bytes((bindir / component).read_bytes())
                tmp.chmod(0o755)
        else:
            missing = [str(p) for p in members.values() if not p.is_file()]
            if missing:
                raise KubeforgeError(f"{artifact}: built files are missing: {missing}; delete "
                                     f"{bindir} and rebuild")
            write_tgz(dest, members)
        write_sidecar(dest)
        written.append(dest)
    return written
