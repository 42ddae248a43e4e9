"""What each mirror component is built from, and how (research §2-§6).

Every component except `kubernetes` is keyed by its own version, so releases that share a
containerd or helm build it once. Builds are skipped when their output directory exists: the
directory appears (atomically) only after a successful build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from kubeforge import versions
from kubeforge.cni import PLUGINS
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import gotool, progress, rootfs
from kubeforge.mirror.fsutil import atomic_path, human_duration, sha256_file
from kubeforge.mirror.gotool import Binary, GoBuild
from kubeforge.mirror.layout import KUBE_BINARIES, MirrorLayout
from kubeforge.mirror.recipes import Context, Recipe, simple

# The OCI registry is mirror tooling, not part of a cluster release.
REGISTRY_VERSION = "3.0.0"

CNI_PLUGINS: tuple[str, ...] = (
    "main/bridge", "main/dummy", "main/host-device", "main/ipvlan", "main/loopback",
    "main/macvlan", "main/ptp", "main/tap", "main/vlan",
    "ipam/dhcp", "ipam/host-local", "ipam/static",
    "meta/bandwidth", "meta/firewall", "meta/portmap", "meta/sbr", "meta/tuning", "meta/vrf",
)

BUILDINFO = "BUILDINFO.json"

# what each pod network's folder asks the mirror to build (kubeforge/cni/NAME/mirror.py)
CNI_BUNDLES = tuple(p.mirror() for p in PLUGINS.values())



def _kubernetes(ctx: Context) -> GoBuild:
    kv = f"v{ctx.version}"
    _, minor, _ = ctx.version.split(".")
    log = ctx.work / "build.log"
    built = gotool.release_time("k8s.io/kubernetes", kv, gotool.go_env(), log)
    ldflags = ["-s", "-w"]
    # Mandatory: kubeadm derives its default version, image tags and skew checks from these.
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += [f"-X {pkg}.{k}={v}" for k, v in (
            ("gitVersion", kv), ("gitMajor", "1"), ("gitMinor", minor),
            ("gitTreeState", "clean"), ("buildDate", built))]
    return GoBuild(
        requires=(("k8s.io/kubernetes", kv),),
        primary="k8s.io/kubernetes",
        binaries=tuple(Binary(f"k8s.io/kubernetes/cmd/{b}", b) for b in KUBE_BINARIES),
        ldflags=tuple(ldflags),
        pin_local=("./staging/", f"v0.{ctx.version.split('.', 1)[1]}"),
    )


def _conformance(ctx: Context) -> GoBuild:
    """The conformance suite of the release: e2e.test (a test binary of k8s.io/kubernetes, stamped
    like the release's binaries), the ginkgo CLI that runs it in parallel, and the programs of the
    suite's own images (images.py: agnhost, sample-apiserver, nonewprivs' nnp)."""
    return replace(_kubernetes(ctx), binaries=tuple(
        Binary(p, n) for p, n in CONFORMANCE_PROGRAMS.items()),
        tests=(Binary("k8s.io/kubernetes/test/e2e", "e2e.test"),))


CONFORMANCE_PROGRAMS: dict[str, str] = {
    "github.com/onsi/ginkgo/v2/ginkgo": "ginkgo",
    "k8s.io/kubernetes/test/images/agnhost": "agnhost",
    "k8s.io/kubernetes/test/images/nonewprivs": "nnp",
    "k8s.io/sample-apiserver": "sample-apiserver",
}


def _etcd(ctx: Context) -> GoBuild:
    v = f"v{ctx.version}"
    mods = ("go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3", "go.etcd.io/etcd/etcdutl/v3")
    return GoBuild(
        requires=tuple((m, v) for m in mods),
        primary=mods[0],
        binaries=(Binary(mods[0], "etcd"), Binary(mods[1], "etcdctl"), Binary(mods[2], "etcdutl")),
        ldflags=("-s", "-w"),
    )


CD = "github.com/containerd/containerd/v2"
CM = "github.com/cert-manager/cert-manager"
CM_BINARIES = ("controller", "webhook", "cainjector", "acmesolver")
PEBBLE = "github.com/letsencrypt/pebble/v2"
# Files of pebble's module (under test/) that its image carries next to the binary.
PEBBLE_FILES = ("certs/localhost/cert.pem", "certs/localhost/key.pem", "certs/pebble.minica.pem",
                "config/pebble-config.json")
CNI = "github.com/containernetworking/plugins"
PULUMI = "github.com/pulumi/pulumi"
PK = "github.com/pulumi/pulumi-kubernetes/provider/v4"
PK_CMD = "cmd/pulumi-resource-kubernetes"


def _pulumi_kubernetes(ctx: Context) -> GoBuild:
    """The provider plugin, from the untagged provider/v4 module (versions.py says why)."""
    return GoBuild(
        requires=((PK, versions.PULUMI_KUBERNETES_MODULE),), primary=PK,
        binaries=(Binary(f"{PK}/{PK_CMD}", "pulumi-resource-kubernetes"),),
        ldflags=("-s", "-w", f"-X {PK}/pkg/version.Version={ctx.version}"),
        # upstream replaces sdk/v4 with ../sdk, which is not in the module zip
        drop_replaces=("github.com/pulumi/pulumi-kubernetes/sdk/v4",),
        # main.go embeds schema-embed.json, which generate.go writes from schema.json + $VERSION
        generate=(PK_CMD,), env={"VERSION": ctx.version},
    )


GO_RECIPES: dict[str, Recipe] = {
    "kubernetes": _kubernetes,
    "conformance": _conformance,
    "etcd": _etcd,
    "coredns": simple("github.com/coredns/coredns", {"github.com/coredns/coredns": "coredns"},
                       ("-X github.com/coredns/coredns/coremain.GitCommit={v}",)),
    "containerd": simple(
        CD, {f"{CD}/cmd/containerd": "containerd",
             f"{CD}/cmd/containerd-shim-runc-v2": "containerd-shim-runc-v2",
             f"{CD}/cmd/ctr": "ctr"},
        (f"-X {CD}/version.Version={{v}}", f"-X {CD}/version.Package={CD.removesuffix('/v2')}"),
        tags=("urfave_cli_no_docs", "no_btrfs")),
    # nsenter is C: cgo, and static like upstream's runc.amd64 so nodes need no libseccomp.
    "runc": simple(
        "github.com/opencontainers/runc", {"github.com/opencontainers/runc": "runc"},
        ("-X main.version={bare}", "-linkmode external", "-extldflags -static"),
        tags=("seccomp", "urfave_cli_no_docs", "netgo", "osusergo"), cgo=True),
    "crictl": simple(
        "sigs.k8s.io/cri-tools", {"sigs.k8s.io/cri-tools/cmd/crictl": "crictl"},
        ("-X sigs.k8s.io/cri-tools/pkg/version.Version={v}",),
        # v1.34.0 is the only tag this proxy serves and sum.golang.org has no entry for it;
        # it requires k8s.io/* v0.34.0-rc.2, which have none either: use their v0.34.0.
        nosumdb=("sigs.k8s.io/cri-tools",), finalize_prereleases=True),
    "cni_plugins": simple(
        CNI, {f"{CNI}/plugins/{p}": p.split("/")[1] for p in CNI_PLUGINS},
        (f"-X {CNI}/pkg/utils/buildversion.BuildVersion={{v}}",)),
    # each pod network's own builds (kubeforge/cni/NAME/mirror.py)
    **{k: r for b in CNI_BUNDLES for k, r in b.go.items()},
    "helm": simple(
        "helm.sh/helm/v3", {"helm.sh/helm/v3/cmd/helm": "helm"},
        ("-X helm.sh/helm/v3/internal/version.version={v}",
         "-X helm.sh/helm/v3/internal/version.gitTreeState=clean")),
    # Upstream's replace (containous forks) and exclude lines are copied by the wrapper.
    "traefik": simple(
        "github.com/traefik/traefik/v3", {"github.com/traefik/traefik/v3/cmd/traefik": "traefik"},
        ("-X github.com/traefik/traefik/v3/pkg/version.Version={v}",)),
    # Up to v1.11 the binaries' main packages are in the main module (versions.CERT_MANAGER_MIRROR).
    "cert_manager": simple(
        CM, {f"{CM}/cmd/{b}": f"cert-manager-{b}" for b in CM_BINARIES},
        (f"-X {CM}/pkg/util.AppVersion={{v}}",)),
    "pebble": simple(PEBBLE, {f"{PEBBLE}/cmd/pebble": "pebble"}),
    "registry": simple(
        "github.com/distribution/distribution/v3",
        {"github.com/distribution/distribution/v3/cmd/registry": "registry"},
        ("-X github.com/distribution/distribution/v3/version.version={v}",)),
    # pkg/v3 replaces sdk/v3 with ../sdk: require the same release of sdk/v3 instead.
    "pulumi": simple(
        f"{PULUMI}/pkg/v3", {f"{PULUMI}/pkg/v3/cmd/pulumi": "pulumi"},
        (f"-X {PULUMI}/sdk/v3/go/common/version.Version={{v}}",),
        also_require=(f"{PULUMI}/sdk/v3",)),
    "pulumi_kubernetes": _pulumi_kubernetes,
}

# The conformance suite's busybox image is upstream's busybox (Docker's official image, defconfig):
# its shell passes variables whose names hold a `-` on to the commands it runs, which the env specs
# check. Debian's busybox patches that out (for its installer), so the suite's image is built
# from the upstream source that Debian's source package carries unchanged.
BUSYBOX_UPSTREAM = "1.37.0"
BUSYBOX_SOURCE = "pool/main/b/busybox/busybox_1.37.0.orig.tar.bz2"
BUSYBOX_SOURCE_SHA256 = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"
# defconfig, static; `tc` off: it needs kernel headers (CBQ) that newer kernels dropped
BUSYBOX_CONFIG = {"CONFIG_STATIC": "y", "CONFIG_TC": None}


# Build order: the order `kubeforge mirror build` walks and `--only` accepts.
COMPONENTS: tuple[str, ...] = (
    "kubernetes", "pause", "etcd", "coredns", "containerd", "runc", "crictl", "cni_plugins",
    *(k for b in CNI_BUNDLES for k in b.go), "helm", "registry", "busybox", "traefik",
    "cert_manager", "pebble", "pulumi", "pulumi_kubernetes", "conformance", "busybox_upstream",
)

# Versions of the components that are not part of a Kubernetes release.
ADDON_VERSIONS: dict[str, str] = {
    "registry": REGISTRY_VERSION,
    "traefik": versions.TRAEFIK,
    "cert_manager": versions.CERT_MANAGER_MIRROR,
    "pebble": versions.PEBBLE,
    # control-host tools (like registry): never published under files/ for the nodes
    "pulumi": versions.PULUMI,
    "pulumi_kubernetes": versions.PULUMI_KUBERNETES,
    "busybox_upstream": BUSYBOX_UPSTREAM,
}

BINARIES: dict[str, tuple[str, ...]] = {
    "kubernetes": KUBE_BINARIES,
    "pause": ("pause",),
    "etcd": ("etcd", "etcdctl", "etcdutl"),
    "coredns": ("coredns",),
    "containerd": ("containerd", "containerd-shim-runc-v2", "ctr"),
    "runc": ("runc",),
    "crictl": ("crictl",),
    "cni_plugins": tuple(p.split("/")[1] for p in CNI_PLUGINS),
    **{k: b for bundle in CNI_BUNDLES for k, b in bundle.binaries.items()},
    "helm": ("helm",),
    "registry": ("registry",),
    "busybox": ("busybox",),
    "traefik": ("traefik",),
    "cert_manager": tuple(f"cert-manager-{b}" for b in CM_BINARIES),
    "pebble": ("pebble",),
    "pulumi": ("pulumi",),
    "pulumi_kubernetes": ("pulumi-resource-kubernetes",),
    "conformance": ("e2e.test", *CONFORMANCE_PROGRAMS.values()),
    "busybox_upstream": ("busybox",),
}


def version_of(component: str, release: versions.Release) -> str:
    if component in ADDON_VERSIONS:
        return ADDON_VERSIONS[component]
    if component == "conformance":
        return release.kubernetes
    return versions.component_version(release, component)


def source_of(component: str, version: str) -> str:
    """What the binaries are built from, for BUILDINFO and `status`."""
    if component == "pause":
        return "k8s.io/kubernetes build/pause/linux/pause.c (gcc -static)"
    if component == "busybox":
        return "Debian package busybox-static (static binary)"
    if component == "busybox_upstream":
        return (f"busybox {version} source from Debian's source package "
                f"({BUSYBOX_SOURCE.rsplit('/', 1)[-1]}, without Debian's patches), "
                "defconfig, static")
    for bundle in CNI_BUNDLES:
        if component in bundle.sources:
            return bundle.sources[component]
    if component == "pulumi_kubernetes":
        _, stamp, commit = versions.PULUMI_KUBERNETES_MODULE.rsplit("-", 2)
        return (f"{PK}@{versions.PULUMI_KUBERNETES_MODULE} (untagged commit {commit} of "
                f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}; the proxy has no v{version} tag), "
                f"stamped {version}; sdk/v4 at the version it requires")
    if component in ("kubernetes", "conformance"):
        return f"k8s.io/kubernetes@v{version} (+ staging modules v0.{version.split('.', 1)[1]})"
    return ", ".join(f"{m}@{v}" for m, v in GO_RECIPES[component](
        Context(MirrorLayout(Path("/nonexistent")), versions.RELEASES[versions.DEFAULT_KUBERNETES],
                version, Path("/nonexistent"))).requires)


def pulumi_toolchain(layout: MirrorLayout) -> dict[str, Path]:
    """{binary name: path} of the mirror's pulumi CLI and Kubernetes provider plugin."""
    found = {b: layout.build_dir(c, ADDON_VERSIONS[c]) / b
             for c in ("pulumi", "pulumi_kubernetes") for b in BINARIES[c]}
    missing = [str(p) for p in found.values() if not p.is_file()]
    if missing:
        raise KubeforgeError(f"pulumi is not built ({', '.join(missing)} missing): run "
                             "`kubeforge mirror build --only pulumi --only pulumi_kubernetes`")
    return found


def ensure_pulumi_toolchain(layout: MirrorLayout) -> dict[str, Path]:
    """`pulumi_toolchain`, built first when missing: a lab needs no Pulumi until a stack runs."""
    release = versions.RELEASES[versions.DEFAULT_KUBERNETES]
    for component in ("pulumi", "pulumi_kubernetes"):
        if not layout.build_dir(component, ADDON_VERSIONS[component]).is_dir():
            print(f"[mirror] {component.replace('_', '-')}: not built yet, building it on first "
                  "use (several minutes, once per version)", flush=True)
            build_component(layout, component, release)
    return pulumi_toolchain(layout)


def _build_pause(ctx: Context, out: Path) -> None:
    """pause.c ships in the k8s.io/kubernetes module zip; link it statically like upstream."""
    log = ctx.work / "build.log"
    ctx.work.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    info = gotool.module_info("k8s.io/kubernetes", f"v{ctx.release.kubernetes}",
                              gotool.go_env(), log)
    source = Path(info["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise KubeforgeError(f"{source} is missing from the k8s.io/kubernetes module")
    with atomic_path(out) as tmp:
        tmp.mkdir()
        cmd = ["gcc", "-Os", "-Wall", "-Werror", "-static", "-s",
               f"-DVERSION=v{ctx.version}", "-o", str(tmp / "pause"), str(source)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise KubeforgeError(f"building pause failed (is gcc installed? apt-get install gcc "
                                 f"libc6-dev):\n{proc.stderr.strip()}")


def _build_busybox(ctx: Context, out: Path) -> None:
    """A static busybox from Debian's package: httpd, wget and nslookup for the network checks."""
    ctx.work.mkdir(parents=True, exist_ok=True)
    cmd = ["apt-get", "download", "busybox-static"]
    proc = subprocess.run(cmd, cwd=ctx.work, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KubeforgeError(f"`{' '.join(cmd)}` failed (run apt-get update?):\n"
                             f"{proc.stderr.strip()}")
    deb = sorted(ctx.work.glob("busybox-static_*.deb"))[-1]
    unpacked = ctx.work / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "busybox").write_bytes((unpacked / "bin" / "busybox").read_bytes())
        (tmp / "busybox").chmod(0o755)


def _download(url: str, dest: Path, sha256: str) -> None:
    if dest.is_file() and sha256_file(dest) == sha256:
        return
    try:
        with (urllib.request.urlopen(url, timeout=300) as resp, atomic_path(dest) as tmp,
              tmp.open("wb") as out):
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        raise KubeforgeError(f"downloading {url} failed: {exc}") from None
    if (got := sha256_file(dest)) != sha256:
        dest.unlink()
        raise KubeforgeError(f"{url}: sha256 {got}, expected {sha256} (pinned in "
                             "kubeforge/mirror/components.py)")


def _set_config(config: Path, wanted: dict[str, str | None]) -> None:
    lines = []
    for line in config.read_text().splitlines():
        name = line.split("=", 1)[0] if not line.startswith("# ") else line[2:].split(" ", 1)[0]
        if name in wanted:
            value = wanted[name]
            line = f"{name}={value}" if value is not None else f"# {name} is not set"
        lines.append(line)
    config.write_text("\n".join(lines) + "\n")


def _build_busybox_upstream(ctx: Context, out: Path) -> None:
    """busybox from its upstream source (defconfig, static), as the conformance images need."""
    ctx.work.mkdir(parents=True, exist_ok=True)
    tarball = ctx.work / BUSYBOX_SOURCE.rsplit("/", 1)[-1]
    _download(f"{rootfs.DEBIAN_MIRROR}/{BUSYBOX_SOURCE}", tarball, BUSYBOX_SOURCE_SHA256)
    src = ctx.work / f"busybox-{ctx.version}"
    if src.exists():
        shutil.rmtree(src)
    log = ctx.work / "build.log"
    with log.open("w", encoding="utf-8") as f:
        def run(cmd: list[str], cwd: Path) -> None:
            proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, check=False)
            if proc.returncode != 0:
                raise KubeforgeError(f"building busybox: `{' '.join(cmd)}` failed (exit "
                                     f"{proc.returncode}); see {log} (needs gcc, make, bzip2)")

        run(["tar", "xjf", str(tarball)], ctx.work)
        run(["make", "defconfig"], src)
        _set_config(src / ".config", BUSYBOX_CONFIG)
        run(["make", f"-j{os.cpu_count() or 1}", "busybox"], src)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        shutil.copy2(src / "busybox", tmp / "busybox")


def _copy_module_files(ctx: Context, module: str, subdir: str, names: tuple[str, ...],
                       out: Path) -> None:
    info = gotool.module_info(module, f"v{ctx.version}", gotool.go_env(), ctx.work / "build.log")
    for name in names:
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((Path(info["Dir"]) / subdir / name).read_bytes())
        dest.chmod(0o644)


def _build(ctx: Context, component: str, out: Path, info: dict[str, object]) -> None:
    if component == "pause":
        _build_pause(ctx, out)
    elif component == "busybox":
        _build_busybox(ctx, out)
    elif component == "busybox_upstream":
        _build_busybox_upstream(ctx, out)
    else:
        (ctx.work / "build.log").write_text("")
        spec = GO_RECIPES[component](ctx)
        gotool.build(spec, ctx.work, out)
        if component == "pebble":
            _copy_module_files(ctx, PEBBLE, "test", PEBBLE_FILES, out)
        if spec.nosumdb:
            # Say so where it is recorded: these modules were not checked against sum.golang.org.
            info["not_in_checksum_db"] = list(spec.nosumdb)


def build_component(layout: MirrorLayout, component: str, release: versions.Release) -> Path:
    """Build one component of `release` unless its versioned output exists; return that dir."""
    version = version_of(component, release)
    out = layout.build_dir(component, version)
    label = f"[mirror] {component.replace('_', '-')} {version}"
    if out.is_dir():
        print(f"{label}: cached", flush=True)
        return out
    ctx = Context(layout, release, version, layout.work_dir(component, version))
    ctx.work.mkdir(parents=True, exist_ok=True)
    previous = progress.last_build_seconds(out.parent, BUILDINFO)
    print(f"{label}: building {' '.join(BINARIES[component])}{progress.last_took(previous)} ...",
          flush=True)
    start = time.monotonic()
    info: dict[str, object] = {"component": component, "version": version,
                               "source": source_of(component, version)}
    with progress.heartbeat(label, previous):
        _build(ctx, component, out, info)
    took = time.monotonic() - start
    info["build_seconds"] = round(took, 1)
    (out / BUILDINFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(f"{label}: done (took {human_duration(took)})", flush=True)
    return out
