"""The images the conformance suite runs, built from what they are instead of pulled.

The suite names its images itself (`e2e.test --list-images`); each one it uses in a
[Conformance] spec has a recipe here, keyed by the image's last path element:

- agnhost (the suite's Swiss army knife) is a Go program of the k8s.io/kubernetes module, on a
  Debian base with the tools its specs exec (dig, curl, nc, ip, iperf, socat);
- busybox is upstream's busybox (its source, built static with defconfig as Docker's image is)
  with a link per applet; nonewprivs' nnp sits on it, setuid;
- nginx is Debian's nginx; glibc-dns-testing is Debian's dig with CoreDNS;
- sample-apiserver is the k8s.io/sample-apiserver program; etcd and pause are the mirror's own.

Upstream's tags are kept so that the suite finds every image where it looks, but the content is
built from this release's sources (agnhost's two tags carry the same program, nginx's two tags the
same Debian nginx): every image says what it holds in its `org.kubeforge.source` label, and
`kubeforge conformance --list-images` prints it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import gotool, oci, rootfs
from kubeforge.mirror.components import BUSYBOX_UPSTREAM, version_of
from kubeforge.mirror.fsutil import human_duration
from kubeforge.mirror.images import Layers, static_base_entries
from kubeforge.mirror.layout import MirrorLayout

#: The Debian base of agnhost and the Debian-made images: what their specs exec (agnhost's
#: upstream Dockerfile installs the Alpine equivalents), and nginx.
E2E_PACKAGES: tuple[str, ...] = (
    "bind9-dnsutils", "curl", "netcat-openbsd", "iproute2", "iperf", "socat", "nginx",
    "ca-certificates",
)
SOURCE_LABEL = "org.kubeforge.source"
REF_LABEL = "org.kubeforge.ref"
RECIPE_LABEL = "org.kubeforge.recipe"
#: Bump when a recipe changes: images made by an older one are rebuilt.
RECIPE_VERSION = "3"
# agnhost's SupplementalGroups spec expects this user and group in the image (its Dockerfile).
AGNHOST_USERS = b"user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n"
AGNHOST_GROUPS = (b"user-defined-in-image:x:1000:\n"
                  b"group-defined-in-image:x:50000:user-defined-in-image\n")


@dataclass(frozen=True)
class Inputs:
    """Where an image's files come from."""

    conformance: Path  # the conformance build (agnhost, nnp, sample-apiserver, e2e.test)
    kubernetes_module: Path  # the k8s.io/kubernetes module tree (test/images/...)
    builds: Callable[[str], Path]  # another component's build dir, by component name
    debian: Path  # the E2E_PACKAGES tree


@dataclass(frozen=True)
class Recipe:
    base: str  # "debian" (E2E_PACKAGES), "busybox", "static" (passwd and /tmp only) or "none"
    files: Callable[[Inputs], dict[str, Path | bytes]]
    config: oci.ImageConfig
    source: str
    links: dict[str, str] | None = None  # path -> symlink target
    dirs: tuple[str, ...] = ()
    setuid: tuple[str, ...] = ()


def _agnhost_files(i: Inputs) -> dict[str, Path | bytes]:
    porter = i.kubernetes_module / "test/images/agnhost/porter"
    return {
        "agnhost": i.conformance / "agnhost",
        "coredns": i.builds("coredns") / "coredns",
        "localhost.crt": porter / "localhost.crt",
        "localhost.key": porter / "localhost.key",
        "etc/passwd": (i.debian / "etc/passwd").read_bytes() + AGNHOST_USERS,
        "etc/group": (i.debian / "etc/group").read_bytes() + AGNHOST_GROUPS,
    }


def _web(name: str) -> Callable[[Inputs], dict[str, Path | bytes]]:
    """kitten and nautilus: agnhost serving two files (its test-webserver)."""
    def files(i: Inputs) -> dict[str, Path | bytes]:
        html = i.kubernetes_module / f"test/images/{name}/html"
        return {**_agnhost_files(i), f"{name}.jpg": html / f"{name}.jpg",
                "data.json": html / "data.json"}
    return files


_AGNHOST = oci.ImageConfig(entrypoint=("/agnhost",), cmd=("pause",))
_AGNHOST_LINKS = {"agnhost-2": "agnhost"}

RECIPES: dict[str, Recipe] = {
    "agnhost": Recipe("debian", _agnhost_files, _AGNHOST,
                      "agnhost of k8s.io/kubernetes@{k} on Debian {suite}",
                      links=_AGNHOST_LINKS, dirs=("uploads",)),
    "kitten": Recipe("debian", _web("kitten"), oci.ImageConfig(
        entrypoint=("/agnhost",), cmd=("test-webserver",)),
        "agnhost of k8s.io/kubernetes@{k} + test/images/kitten/html", links=_AGNHOST_LINKS),
    "nautilus": Recipe("debian", _web("nautilus"), oci.ImageConfig(
        entrypoint=("/agnhost",), cmd=("test-webserver",)),
        "agnhost of k8s.io/kubernetes@{k} + test/images/nautilus/html", links=_AGNHOST_LINKS),
    "busybox": Recipe("busybox", lambda i: {}, oci.ImageConfig(cmd=("sh",)),
                      "busybox {b} (upstream source, defconfig, static)"),
    "nonewprivs": Recipe("busybox", lambda i: {"usr/local/bin/nnp": i.conformance / "nnp"},
                         oci.ImageConfig(cmd=("nnp",)),
                         "nnp of k8s.io/kubernetes@{k} (setuid) on busybox {b}",
                         setuid=("usr/local/bin/nnp",)),
    "nonroot": Recipe("debian", lambda i: {}, oci.ImageConfig(user="1234"),
                      "Debian {suite} base, user 1234"),
    "nginx": Recipe("debian", lambda i: {}, oci.ImageConfig(cmd=("nginx", "-g", "daemon off;")),
                    "Debian {suite} nginx", dirs=("var/log/nginx",)),
    "glibc-dns-testing": Recipe("debian", lambda i: {"coredns": i.builds("coredns") / "coredns"},
                                oci.ImageConfig(), "Debian {suite} dig + the mirror's CoreDNS"),
    "sample-apiserver": Recipe(
        "static", lambda i: {"sample-apiserver": i.conformance / "sample-apiserver"},
        oci.ImageConfig(entrypoint=("/sample-apiserver",)),
        "k8s.io/sample-apiserver of k8s.io/kubernetes@{k}"),
    "etcd": Recipe("static", lambda i: {f"usr/local/bin/{b}": i.builds("etcd") / b
                                        for b in ("etcd", "etcdctl", "etcdutl")},
                   oci.ImageConfig(entrypoint=("/usr/local/bin/etcd",)),
                   "etcd {etcd} (the release's)"),
    "pause": Recipe("none", lambda i: {"pause": i.builds("pause") / "pause"},
                    oci.ImageConfig(entrypoint=("/pause",), user="65535:65535"),
                    "pause of k8s.io/kubernetes@{k}"),
}


#: The registry of the suite's public images (the private and the invalid one stay upstream's).
SUITE_REGISTRY = "registry.k8s.io"


def recipe_name(ref: str) -> str | None:
    """The recipe an image reference needs (its repository's last element), if it is one of
    the suite's public images."""
    host, repo, _ = oci.split_ref(ref)
    return repo.rsplit("/", 1)[-1] if host == SUITE_REGISTRY else None


def recipe_of(ref: str) -> Recipe | None:
    name = recipe_name(ref)
    return RECIPES.get(name) if name else None


def source_of(ref: str, release: versions.Release) -> str | None:
    recipe = recipe_of(ref)
    if recipe is None:
        return None
    return recipe.source.format(k=f"v{release.kubernetes}", suite=rootfs.SUITE,
                                etcd=release.etcd, b=BUSYBOX_UPSTREAM)


def busybox_applets(busybox: Path) -> list[str]:
    """Every applet path (`bin/sh`, `usr/bin/wget`, ...) the static busybox provides."""
    proc = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise KubeforgeError(f"{busybox} --list-full failed: {proc.stderr.strip()}")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def _base(kind: str, layers: Layers, inputs: Inputs) -> list[oci.Layer]:
    """A recipe's base layers: images.py's "static" and "none", or the test images' own two."""
    if kind == "busybox":
        return [layers.get("busybox", lambda: _busybox_layer(layers.images, inputs))]
    if kind == "debian":
        return [layers.get("e2e-debian", lambda: rootfs.base_layer(
            layers.layout, layers.images, E2E_PACKAGES))]
    return layers.base(kind)


def _busybox_layer(images: oci.ImageLayout, inputs: Inputs) -> oci.Layer:
    busybox = inputs.builds("busybox_upstream") / "busybox"
    # every applet in /bin, as in the busybox image upstream's is built from: specs exec
    # /bin/sysctl, which busybox's own install layout puts under /sbin
    names = sorted({p.rsplit("/", 1)[-1] for p in busybox_applets(busybox)} - {"busybox"})
    links = [oci.Entry(f"bin/{n}", "symlink", target="busybox", mode=0o777) for n in names]
    return images.put_layer(oci.with_parents(
        [*static_base_entries(), *oci.file_entries({"bin/busybox": busybox}), *links]),
        "busybox-static")


def _labels(images: oci.ImageLayout, ref: str) -> dict[str, str]:
    manifest = images.read_json(images.index()[ref].digest)
    labels: dict[str, str] = images.read_json(manifest["config"]["digest"])["config"].get(
        "Labels") or {}
    return labels


def _mode(e: oci.Entry, recipe: Recipe) -> int:
    if e.path in recipe.setuid:
        return 0o4755
    if e.kind == "file" and (e.path.startswith("etc/") or "." in e.path.rsplit("/", 1)[-1]):
        return 0o644  # data: passwd, certificates, html (programs have no dot in their name)
    return e.mode


def build_e2e_images(layout: MirrorLayout, release: versions.Release,
                     refs: Iterable[str]) -> dict[str, str]:
    """Write the images among `refs` that have a recipe; return ref -> what it holds.

    Refs without a recipe are left out (the caller reports them)."""
    images = oci.ImageLayout(layout.images)
    log = layout.work_dir("conformance", release.kubernetes) / "images.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    module = Path(gotool.module_info("k8s.io/kubernetes", f"v{release.kubernetes}",
                                     gotool.go_env(), log)["Dir"])
    inputs = Inputs(
        conformance=layout.build_dir("conformance", release.kubernetes),
        kubernetes_module=module,
        builds=lambda c: layout.build_dir(c, version_of(c, release)),
        debian=rootfs.base_dir(layout, E2E_PACKAGES),
    )
    layers = Layers(layout, images)
    out: dict[str, str] = {}
    for ref in refs:
        recipe, source = recipe_of(ref), source_of(ref, release)
        if recipe is None or source is None:
            continue
        out[ref] = source
        label = f"[mirror] test image {ref}"
        # kept: one of this recipe version, or one of the mirror's own (etcd and pause are the
        # release's images, made by images.py without a source label, and stay exactly those)
        if images.has_image(ref) and (
                SOURCE_LABEL not in (labels := _labels(images, ref))
                or labels.get(RECIPE_LABEL) == RECIPE_VERSION):
            print(f"{label}: cached", flush=True)
            continue
        start = time.monotonic()
        base = _base(recipe.base, layers, inputs)  # first: the Debian tree _agnhost_files reads
        files = recipe.files(inputs)
        entries = [oci.Entry(e.path, e.kind, e.source, e.data, _mode(e, recipe), e.target)
                   for e in oci.file_entries(files)]
        entries += [oci.Entry(p, "symlink", target=t, mode=0o777)
                    for p, t in (recipe.links or {}).items()]
        entries += [oci.Entry(d, "dir", mode=0o755) for d in recipe.dirs]
        # the reference in a label: two tags of one recipe (agnhost 2.55 and 2.66.1) get two
        # image IDs, as upstream's do; with one ID, the runtime may report a pod's image under
        # the other tag, and the specs that compare a pod's image with its spec would fail
        config = oci.ImageConfig(entrypoint=recipe.config.entrypoint, cmd=recipe.config.cmd,
                                 user=recipe.config.user,
                                 labels={SOURCE_LABEL: source, REF_LABEL: ref,
                                         RECIPE_LABEL: RECIPE_VERSION})
        top = [images.put_layer(oci.with_parents(entries), f"{recipe_name(ref)} files")] \
            if entries else []
        desc = images.put_image(ref, [*base, *top], config)
        print(f"{label}: {desc.digest} (took {human_duration(time.monotonic() - start)})",
              flush=True)
    return out
