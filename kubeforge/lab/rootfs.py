"""The shared Debian root filesystem: built once with debootstrap, then the read-only lower layer
of every machine's overlay."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.lab.model import lab_root
from kubeforge.lab.system import missing_tool

SUITE = "bookworm"

#: What a small server image has plus what kubeadm nodes need (iptables, conntrack, socat,
#: ethtool, kmod). python3-apt lets Ansible's apt module work without fetching it first;
#: openssh-sftp-server is Ansible's default file transfer.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "openssh-server",
    "openssh-sftp-server",
    "python3",
    "python3-apt",
    "iptables",
    "kmod",
    "procps",
    "ca-certificates",
    "curl",
    "iputils-ping",
    "less",
    "sudo",
    "ethtool",
    "socat",
    "conntrack",
    "netbase",
)

#: Bump when the post-debootstrap edits below change, so an old cache is reported.
RECIPE = "2"

#: Timers that make no sense without internet or real block devices.
_DISABLED_UNITS = (
    "timers.target.wants/apt-daily.timer",
    "timers.target.wants/apt-daily-upgrade.timer",
    "timers.target.wants/e2scrub_all.timer",
    "timers.target.wants/fstrim.timer",
    "multi-user.target.wants/e2scrub_reap.service",
)

_SSHD_CONFIG = """\
# kubeforge lab: one per-machine host key, key-only root login (as Ansible uses it).
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
"""

MARKER = "etc/kubeforge-rootfs"


def rootfs_dir() -> Path:
    return lab_root() / f"rootfs-{SUITE}"


def recipe_id() -> str:
    return hashlib.sha256(f"{SUITE} {RECIPE} {' '.join(PACKAGES)}".encode()).hexdigest()[:12]


def debian_mirror() -> str:
    """The Debian mirror apt on this host uses (KUBEFORGE_LAB_DEBIAN_MIRROR overrides it)."""
    env = os.environ.get("KUBEFORGE_LAB_DEBIAN_MIRROR")
    if env:
        return env
    for src in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", src.read_text(), re.MULTILINE)
        if m:
            return m.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        m = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", legacy.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def is_ready(path: Path | None = None) -> bool:
    return ((path or rootfs_dir()) / MARKER).is_file()


def cached_recipe(path: Path | None = None) -> str | None:
    marker = (path or rootfs_dir()) / MARKER
    return marker.read_text().strip() if marker.is_file() else None


def ensure_rootfs() -> tuple[Path, bool]:
    """The base rootfs, building it if missing. Returns (path, built_now).

    Builds into a temporary folder renamed into place at the end, so an interrupted build never
    leaves a half rootfs behind; downloaded .debs are kept and reused by the next attempt.
    """
    final = rootfs_dir()
    if is_ready(final):
        return final, False
    if shutil.which("debootstrap") is None:
        raise missing_tool("debootstrap")
    root = lab_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / "rootfs.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(final):  # another `up` built it while we waited
            return final, False
        tmp = final.with_name(final.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        debootstrap(tmp, PACKAGES, root / "rootfs-build.log")
        finalize(tmp)
        if final.exists():  # a stale, unmarked leftover
            shutil.rmtree(final)
        tmp.rename(final)
        return final, True


def debootstrap(tree: Path, packages: tuple[str, ...], log: Path) -> None:
    """A minimal Debian tree with `packages` at `tree`; downloaded .debs are kept under the lab
    folder and reused by the next build."""
    debs = lab_root() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    argv = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}",
            f"--include={','.join(packages)}", SUITE, str(tree), debian_mirror()]
    with log.open("w") as out:
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
        except subprocess.TimeoutExpired as e:
            raise KubeforgeError(f"debootstrap did not finish in 30 min; see {log}") from e
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise KubeforgeError(f"debootstrap failed ({proc.returncode}); last lines of {log}:\n"
                             f"{tail}")


def finalize(root: Path) -> None:
    """Turn a fresh debootstrap tree into a machine template: strip per-machine identity (host
    keys, machine-id) so each machine gets its own, and drop what fails in a container."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Empty machine-id: every machine writes its own into its overlay.
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() and not dbus_id.is_symlink():
        dbus_id.unlink()
    (root / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
    (root / "etc/ssh/sshd_config.d/kubeforge.conf").write_text(_SSHD_CONFIG)
    for unit in _DISABLED_UNITS:
        link = root / "etc/systemd/system" / unit
        if link.is_symlink():
            link.unlink()
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    (root / "etc/hostname").write_text("localhost\n")
    (root / MARKER).write_text(recipe_id() + "\n")
