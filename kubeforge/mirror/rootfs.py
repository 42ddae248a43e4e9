"""The Debian base layer for images that exec iptables/conntrack (kube-proxy, flannel).

Built once with debootstrap (minbase + the userland those programs call), trimmed of docs and
apt state, and cached under <mirror>/rootfs. The layer made from it is cached too, so every
image that uses it shares one blob, and its digest stays stable across runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.mirror import oci
from kubeforge.mirror.fsutil import atomic_path, human_duration, remove
from kubeforge.mirror.layout import MirrorLayout

SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# iptables/ip6tables/iptables-restore (nft backend, Debian's default) and conntrack for kube-proxy;
# ipset/iproute2 for flannel; ca-certificates for anything that talks TLS outwards.
PACKAGES: tuple[str, ...] = ("iptables", "conntrack", "ipset", "iproute2", "ca-certificates")
# Trimmed after debootstrap: nothing here is needed at run time, and apt state changes daily.
TRIM: tuple[str, ...] = (
    "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
    "var/cache/apt", "var/lib/apt/lists", "var/cache/debconf/templates.dat-old",
    "var/log", "debootstrap",
)
SKIP_CONTENTS = ("dev", "proc", "sys", "run", "tmp")


def _key(packages: tuple[str, ...]) -> str:
    return hashlib.sha256(f"{SUITE} {' '.join(packages)}".encode()).hexdigest()[:10]


def base_dir(layout: MirrorLayout, packages: tuple[str, ...] = PACKAGES) -> Path:
    return layout.rootfs / f"{SUITE}-{_key(packages)}"


def ensure_rootfs(layout: MirrorLayout, packages: tuple[str, ...] = PACKAGES) -> Path:
    """The Debian tree with `packages`, keyed by them (another set is another tree)."""
    root = base_dir(layout, packages)
    label = f"[mirror] debian {SUITE} base ({', '.join(packages)})"
    if root.is_dir():
        print(f"{label}: cached", flush=True)
        return root
    if shutil.which("debootstrap") is None:
        raise KubeforgeError("debootstrap is needed for the kube-proxy/flannel base layer: "
                             "apt-get install debootstrap")
    print(f"{label}: debootstrap ...", flush=True)
    start = time.monotonic()
    with atomic_path(root) as tmp:
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
               SUITE, str(tmp), DEBIAN_MIRROR]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-15:])
            raise KubeforgeError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        for rel in TRIM:
            p = tmp / rel
            if p.is_dir():
                for child in p.iterdir():
                    remove(child)
        (tmp / "etc" / "machine-id").write_text("")
        for rel in ("etc/hostname", "etc/resolv.conf"):
            (tmp / rel).unlink(missing_ok=True)
    print(f"{label}: done (took {human_duration(time.monotonic() - start)})", flush=True)
    return root


def base_layer(layout: MirrorLayout, images: oci.ImageLayout,
               packages: tuple[str, ...] = PACKAGES) -> oci.Layer:
    """The layer of a Debian base, written to `images` once and then reused by digest."""
    root = ensure_rootfs(layout, packages)
    cache = root.with_name(root.name + ".layer.json")
    if cache.exists():
        layer = oci.Layer.from_json(json.loads(cache.read_text()))
        if images.blob_path(layer.blob.digest).exists():
            return layer
    layer = images.put_layer(oci.tree_entries(root, SKIP_CONTENTS), f"debian {SUITE} base")
    cache.write_text(json.dumps(layer.as_json(), sort_keys=True) + "\n")
    return layer
