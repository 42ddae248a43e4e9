"""The shared VM image of `lab.kind: vm`: a Debian tree with Debian's kernel, built once with
debootstrap like the container rootfs, then turned into an ext4 disk image (qcow2) that every VM
uses as the read-only backing file of its own copy-on-write disk.

The kernel and initrd are copied out of the tree: QEMU boots them directly, so the image needs no
bootloader. What differs per machine (hostname, machine-id, host key, address) comes from a small
seed disk each VM gets (see vm.py), read by a oneshot unit baked into the image.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.lab import rootfs
from kubeforge.lab.model import IDENTITY_MARKER, lab_root
from kubeforge.lab.system import missing_tool, run

#: A real host's extras over the container rootfs: a kernel with its initramfs, udev to name
#: devices, e2fsprogs for the root fsck.
PACKAGES = (*rootfs.PACKAGES, "linux-image-amd64", "initramfs-tools", "udev", "e2fsprogs")

#: Bump when the edits below change.
RECIPE = "2"

#: Virtual size of the root disk; the qcow2 files grow only with what is written.
DISK_SIZE = "12G"

#: A real host usually has swap: preflight must turn it off and keep it off.
SWAP_MIB = 256

SEED_DEVICE = "/dev/vdb"
SEED_SCRIPT = "usr/local/lib/kubeforge/seed"

_SEED = f"""\
#!/bin/sh
# kubeforge lab: copy this machine's files from its seed disk ({SEED_DEVICE}, made by
# `kubeforge lab up`). identity/ only on the first boot (later changes inside the machine are
# kept, as on a real host); runtime/ on every boot.
set -eu
dir=/run/kubeforge-seed
mkdir -p "$dir"
i=0
until [ -b {SEED_DEVICE} ]; do
    i=$((i + 1)); [ "$i" -le 60 ] || {{ echo "kubeforge-seed: no {SEED_DEVICE}" >&2; exit 1; }}
    sleep 0.5
done
mount -o ro {SEED_DEVICE} "$dir"
if [ ! -e /{IDENTITY_MARKER} ]; then cp -a "$dir/identity/." /; fi
cp -a "$dir/runtime/." /
umount "$dir"
hostname "$(cat /etc/hostname)"
# a swap file as a real host may have one (fstab names it): made here because swapon refuses a
# sparse file, and the image's tree copies files sparse
if [ ! -e /swapfile ]; then
    fallocate -l {SWAP_MIB}M /swapfile
    chmod 600 /swapfile
    mkswap -q /swapfile
fi
"""

_SEED_UNIT = f"""\
[Unit]
Description=kubeforge lab: this machine's identity and address from its seed disk
DefaultDependencies=no
After=systemd-remount-fs.service
Before=sysinit.target swap.target swapfile.swap systemd-networkd.service ssh.service
ConditionPathExists=/{SEED_SCRIPT}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/{SEED_SCRIPT}

[Install]
WantedBy=sysinit.target
"""

_FSTAB = """\
# kubeforge lab VM: the root disk is the first virtio disk
/dev/vda / ext4 rw,errors=remount-ro 0 1
/swapfile none swap sw 0 0
"""


@dataclass(frozen=True)
class VMImage:
    dir: Path

    @property
    def disk(self) -> Path:
        return self.dir / "disk.qcow2"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    @property
    def marker(self) -> Path:
        return self.dir / "recipe"


def recipe_id() -> str:
    text = f"{rootfs.SUITE} {rootfs.RECIPE} {RECIPE} {' '.join(PACKAGES)} {DISK_SIZE} {SWAP_MIB}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image() -> VMImage:
    return VMImage(lab_root() / f"vm-image-{rootfs.SUITE}-{recipe_id()}")


def is_ready(img: VMImage | None = None) -> bool:
    img = img or image()
    return img.marker.is_file() and img.marker.read_text().strip() == recipe_id()


def ensure_image() -> tuple[VMImage, bool]:
    """The shared VM image, building it if missing. Returns (image, built_now).

    Keyed by its recipe, so a changed recipe builds a new image next to the old one (VMs of a
    running lab keep their backing file). Built in a temporary folder renamed into place."""
    img = image()
    if is_ready(img):
        return img, False
    for tool in ("debootstrap", "mkfs.ext4", "qemu-img"):
        if shutil.which(tool) is None:
            raise missing_tool(tool)
    root = lab_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / "vm-image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(img):
            return img, False
        tmp = img.dir.with_name(img.dir.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tree = tmp / "tree"
        tmp.mkdir(parents=True)
        rootfs.debootstrap(tree, PACKAGES, root / "vm-image-build.log")
        rootfs.finalize(tree)
        _make_vm(tree)
        built = VMImage(tmp)
        _copy_boot_files(tree, built)
        raw = tmp / "disk.raw"
        run(["mkfs.ext4", "-q", "-F", "-L", "kfroot", "-d", str(tree), str(raw), DISK_SIZE],
            timeout=1800)
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(built.disk)],
            timeout=1800)
        raw.unlink()
        shutil.rmtree(tree)
        built.marker.write_text(recipe_id() + "\n")
        if img.dir.exists():
            shutil.rmtree(img.dir)
        tmp.rename(img.dir)
        return img, True


def _make_vm(tree: Path) -> None:
    """What a VM has that a container does not: fstab (with a swap file the seed script makes),
    the seed unit, networkd."""
    (tree / "etc/fstab").write_text(_FSTAB)
    script = tree / SEED_SCRIPT
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(_SEED)
    script.chmod(0o755)
    unit = tree / "etc/systemd/system/kubeforge-seed.service"
    unit.write_text(_SEED_UNIT)
    for target, name in (("sysinit.target.wants", "kubeforge-seed.service"),
                         ("multi-user.target.wants", "systemd-networkd.service"),
                         ("sockets.target.wants", "systemd-networkd.socket")):
        link = tree / "etc/systemd/system" / target / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            source = unit if name == "kubeforge-seed.service" else \
                tree / "lib/systemd/system" / name
            link.symlink_to("/" + str(source.relative_to(tree)))


def _copy_boot_files(tree: Path, img: VMImage) -> None:
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    initrds = sorted((tree / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise KubeforgeError(f"the VM image tree has no kernel or initrd in {tree / 'boot'} — "
                             "see the debootstrap log under the lab folder")
    shutil.copyfile(kernels[-1], img.kernel)
    shutil.copyfile(initrds[-1], img.initrd)

