"""A flat Debian repository of the OS packages nodes need and a minimal Debian lacks.

The closure of dependencies comes from this host's apt (same suite as the nodes: bookworm), so
a node can install them offline with `deb [trusted=yes] http://ADDR:8080/debian ./`.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.mirror.fsutil import atomic_path, atomic_write, human_duration
from kubeforge.mirror.layout import MirrorLayout

PACKAGES: tuple[str, ...] = (
    "haproxy", "keepalived", "conntrack", "socat", "ethtool", "ebtables", "iptables", "ipset",
    "curl", "ca-certificates",
    # kubernetes.core.helm imports yaml on the node that runs helm (control-plane nodes)
    "python3-yaml",
)
STAMP = ".packages"


def _run(cmd: Sequence[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise KubeforgeError(f"`{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip()[-1500:]}\nIs this a Debian host with "
                             "`apt-get update` done and dpkg-dev/apt-utils installed?")
    return proc.stdout


def closure(packages: Sequence[str]) -> list[str]:
    """Every real package `packages` depend on, recursively (no recommends/suggests)."""
    out = _run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages])
    return parse_depends(out)


def parse_depends(out: str) -> list[str]:
    """Package names from `apt-cache depends --recurse` output.

    Unindented lines are the packages visited; virtual ones are printed as <name> and have
    their providers listed (and visited) separately.
    """
    names = {line.strip() for line in out.splitlines()
             if line and not line[0].isspace() and not line.startswith("<")}
    return sorted({n.split(":", 1)[0] for n in names})


def _stamp_text(packages: Sequence[str]) -> str:
    return "\n".join(sorted(packages)) + "\n"


def build_repo(layout: MirrorLayout, packages: Sequence[str] = PACKAGES) -> Path:
    """Download the closure of `packages` and index it; skip if built for the same list."""
    repo = layout.debian
    label = f"[mirror] debian packages ({', '.join(packages)})"
    if (repo / STAMP).is_file() and (repo / STAMP).read_text() == _stamp_text(packages) \
            and (repo / "Packages").is_file():
        print(f"{label}: cached", flush=True)
        return repo
    for tool in ("apt-get", "apt-cache", "apt-ftparchive"):
        if shutil.which(tool) is None:
            raise KubeforgeError(f"{tool} is missing: apt-get install apt-utils dpkg-dev")
    print(f"{label}: downloading with dependencies ...", flush=True)
    start = time.monotonic()
    names = closure(packages)
    with atomic_path(repo) as tmp:
        tmp.mkdir()
        # _apt cannot write into root's cache dir; downloading as root is fine for a mirror.
        _run(["apt-get", "download", "-o", "APT::Sandbox::User=root", *names], cwd=tmp)
        for deb in tmp.glob("*%3a*.deb"):
            # apt-get names files name_EPOCH%3aVERSION; '%' in a URL path is asking for
            # trouble, and the Debian archive leaves the epoch out of pool file names too.
            deb.rename(deb.with_name(re.sub(r"_[0-9]+%3a", "_", deb.name)))
        index = _run(["apt-ftparchive", "packages", "."], cwd=tmp)
        atomic_write(tmp / "Packages", index.encode())
        with gzip.GzipFile(tmp / "Packages.gz", "wb", mtime=0) as gz:
            gz.write(index.encode())
        release = _run(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=kubeforge",
                        "-o", "APT::FTPArchive::Release::Label=kubeforge mirror",
                        "release", "."], cwd=tmp)
        atomic_write(tmp / "Release", release.encode())
        (tmp / STAMP).write_text(_stamp_text(packages))
    debs = sorted(repo.glob("*.deb"))
    took = human_duration(time.monotonic() - start)
    print(f"{label}: {len(debs)} .deb files indexed (took {took})", flush=True)
    return repo
