"""The images kubeadm and the default add-ons pull, assembled from the mirror's own binaries.

Static Go binaries need no distribution: they get a tiny "static base" (passwd, group,
nsswitch, /tmp) like distroless. kube-proxy and the pod network agents exec iptables and
conntrack, so they sit on the Debian base layer (rootfs.py), shared by digest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import oci, rootfs
from kubeforge.mirror.components import CM_BINARIES, CNI_BUNDLES, PEBBLE_FILES, version_of
from kubeforge.mirror.fsutil import human_duration
from kubeforge.mirror.layout import MirrorLayout
from kubeforge.mirror.recipes import ImageRecipe

# Add-on images, versioned apart from the Kubernetes release (versions.TRAEFIK, ...).
ADDON_IMAGES: dict[str, str] = {
    # docker.io short names live under library/ (what containerd asks the mirror for)
    "traefik": f"docker.io/library/traefik:v{versions.TRAEFIK}",
    **{f"cert-manager-{b}": f"quay.io/jetstack/cert-manager-{b}:v{versions.CERT_MANAGER_MIRROR}"
       for b in CM_BINARIES},
    "pebble": f"ghcr.io/letsencrypt/pebble:v{versions.PEBBLE}",
}

STATIC_BASE: dict[str, Path | bytes] = {
    "etc/passwd": b"root:x:0:0:root:/root:/sbin/nologin\n"
                  b"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
                  b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    "etc/group": b"root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
    "etc/nsswitch.conf": b"hosts: files dns\n",
}


def _bin(name: str) -> oci.ImageConfig:
    return oci.ImageConfig(entrypoint=(f"/usr/local/bin/{name}",))


RECIPES: dict[str, ImageRecipe] = {
    # kubeadm's static pod manifests say `command: [kube-apiserver, ...]`: binary on PATH.
    **{name: ImageRecipe("kubernetes", {f"usr/local/bin/{name}": name}, _bin(name), "static")
       for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")},
    "kube-proxy": ImageRecipe("kubernetes", {"usr/local/bin/kube-proxy": "kube-proxy"},
                              _bin("kube-proxy"), "debian"),
    "etcd": ImageRecipe("etcd", {f"usr/local/bin/{b}": b for b in ("etcd", "etcdctl", "etcdutl")},
                        _bin("etcd"), "static"),
    "coredns": ImageRecipe("coredns", {"coredns": "coredns"},
                           oci.ImageConfig(entrypoint=("/coredns",)), "static"),
    "pause": ImageRecipe("pause", {"pause": "pause"},
                         oci.ImageConfig(entrypoint=("/pause",), user="65535:65535"), "none"),
    "netcheck": ImageRecipe("busybox", {"bin/busybox": "busybox"},
                            oci.ImageConfig(cmd=("/bin/sh",)), "debian"),
    # each pod network's own images (kubeforge/cni/NAME/mirror.py)
    **{k: r for b in CNI_BUNDLES for k, r in b.images.items()},
    "traefik": ImageRecipe(
        "traefik", {"usr/local/bin/traefik": "traefik"},
        oci.ImageConfig(entrypoint=("/usr/local/bin/traefik",), user="65532:65532"), "static"),
    # the charts run these as non-root and check it: the image says so (like upstream's)
    **{f"cert-manager-{b}": ImageRecipe(
        "cert_manager", {f"app/cmd/{b}/{b}": f"cert-manager-{b}"},
        oci.ImageConfig(entrypoint=(f"/app/cmd/{b}/{b}",), user="1000:1000"), "static")
       for b in CM_BINARIES},
    # pebble's own test certificate (SANs pebble, localhost) and config, where upstream's image
    # keeps them: a client reaching the service as `pebble` trusts test/certs/pebble.minica.pem
    "pebble": ImageRecipe(
        "pebble", {"app/pebble": "pebble", **{f"test/{f}": f for f in PEBBLE_FILES}},
        oci.ImageConfig(entrypoint=("/app/pebble",), workdir="/",
                        cmd=("-config", "/test/config/pebble-config.json")),
        "static"),
}


def image_refs(release: versions.Release) -> dict[str, str]:
    """Image name -> full upstream reference, for versions.IMAGES plus the add-ons'."""
    refs = {name: versions.image_ref(release, name) for name in versions.IMAGES}
    refs.update(ADDON_IMAGES)
    return refs


def static_base_entries() -> list[oci.Entry]:
    """The "static" base of Go binaries: passwd, group, nsswitch and a sticky /tmp."""
    return [*oci.file_entries(STATIC_BASE, mode=0o644), oci.Entry("tmp", "dir", mode=0o1777)]


class Layers:
    """Shared layers, computed at most once per run."""

    def __init__(self, layout: MirrorLayout, images: oci.ImageLayout) -> None:
        self.layout, self.images = layout, images
        self._cache: dict[str, oci.Layer] = {}

    def get(self, key: str, make: Callable[[], oci.Layer]) -> oci.Layer:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def base(self, kind: str) -> list[oci.Layer]:
        if kind == "none":
            return []
        if kind == "static":
            return [self.get("static", lambda: self.images.put_layer(static_base_entries(),
                                                                     "static base"))]
        return [self.get("debian", lambda: rootfs.base_layer(self.layout, self.images))]


def build_images(layout: MirrorLayout, release: versions.Release,
                 only: set[str] | None = None) -> dict[str, str]:
    """Write every image of `release` into the mirror's OCI layout; return ref -> digest."""
    images = oci.ImageLayout(layout.images)
    layers = Layers(layout, images)
    out: dict[str, str] = {}
    for name, ref in image_refs(release).items():
        recipe = RECIPES[name]
        if only is not None and name not in only and recipe.component not in only:
            continue
        label = f"[mirror] image {ref}"
        if images.has_image(ref):
            out[ref] = images.index()[ref].digest
            print(f"{label}: cached", flush=True)
            continue
        bindir = layout.build_dir(recipe.component, version_of(recipe.component, release))
        if not bindir.is_dir():
            raise KubeforgeError(f"{label} needs {recipe.component} built first: "
                                 f"kubeforge mirror build --only {recipe.component}")
        start = time.monotonic()
        files: dict[str, Path | bytes] = {dst: bindir / src for dst, src in recipe.files.items()}
        top = images.put_layer(oci.file_entries(files), f"{recipe.component} binaries")
        desc = images.put_image(ref, [*layers.base(recipe.base), top], recipe.config)
        out[ref] = desc.digest
        print(f"{label}: {desc.digest} (took {human_duration(time.monotonic() - start)})",
              flush=True)
    return out
