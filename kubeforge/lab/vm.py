"""One lab machine as a QEMU virtual machine (`lab.kind: vm`): its own Debian kernel, a
copy-on-write disk over the shared image, a tap on the lab bridge, and a seed disk with its
identity. The same operations as machine.py (the container kind): start, stop, destroy.

Without KVM (this host type has no hardware virtualisation) QEMU emulates the CPU (TCG), which
is slow but runs the real kernel: cgroup v2, modules, swap, a real /proc and /sys.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.lab import network, vmimage
from kubeforge.lab.machine import write_identity
from kubeforge.lab.model import LabPlan, MachinePlan
from kubeforge.lab.system import missing_tool, pid_alive, pid_from_file, run, wait_until

QEMU = "qemu-system-x86_64"


def _networkd(m: MachinePlan) -> str:
    return (f"[Match]\nName=eth0\n\n[Network]\nAddress={m.interface}\nGateway={m.gateway}\n"
            "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")


def _seed_runtime(m: MachinePlan) -> Path:
    return m.dir / "seed" / "runtime"


def _seed_image(m: MachinePlan) -> Path:
    return m.dir / "seed.img"


def _disk(m: MachinePlan) -> Path:
    return m.dir / "disk.qcow2"


def machine_id(m: MachinePlan) -> str:
    """The machine-id its seed disk gives a VM (written once, with its identity)."""
    path = m.identity_root / "etc/machine-id"
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise KubeforgeError(f"{m.name}: no machine-id in {path}; `kubeforge lab up` writes "
                             "it with the seed disk") from exc


def write_seed(plan: LabPlan, m: MachinePlan) -> None:
    """The seed disk: first-boot identity (kept once written) and the runtime files (refreshed
    on every start), as an ext4 image made from a folder (no mount needed)."""
    write_identity(plan, m, m.identity_root)
    runtime = _seed_runtime(m)
    if runtime.exists():
        shutil.rmtree(runtime)
    networkd = runtime / "etc/systemd/network/10-eth0.network"
    networkd.parent.mkdir(parents=True)
    networkd.write_text(_networkd(m))
    run(["mkfs.ext4", "-q", "-F", "-L", "kfseed", "-d", str(m.dir / "seed"),
         str(_seed_image(m)), "8M"])


def _accel() -> list[str]:
    """KVM when this host offers it, else TCG with one host thread per virtual CPU."""
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and _has_vmx():
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi,tb-size=512", "-cpu", "max"]


def _has_vmx() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " vmx" in flags or " svm" in flags


def qemu_argv(m: MachinePlan, img: vmimage.VMImage) -> list[str]:
    # net.ifnames=0: the NIC is eth0, as in the container kind (the spec's VIP interface).
    # systemd.machine_id: the image's machine-id is empty, so without it systemd makes up one
    # at boot, journald files its journal under that one, and once the seed unit has written
    # the machine's own, journalctl finds no journal for it.
    # cache=unsafe on the throwaway disk: the guest's flushes (etcd fsyncs on every write)
    # become no-ops here, which TCG's slow emulated I/O path needs; a killed QEMU loses
    # nothing (its writes are in the host's page cache), only a host crash would.
    kernel_args = (f"root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname={m.name} "
                   f"systemd.machine_id={machine_id(m)}")
    return [
        QEMU, "-name", f"kubeforge-{m.lab}-{m.name}",
        *_accel(),
        "-smp", str(m.cpus), "-m", str(m.memory_mib),
        "-nodefaults", "-no-user-config", "-display", "none",
        "-chardev", f"file,id=console,path={m.console_log},append=on",
        "-serial", "chardev:console",
        "-kernel", str(img.kernel), "-initrd", str(img.initrd), "-append", kernel_args,
        "-drive", f"file={_disk(m)},if=virtio,format=qcow2,discard=unmap,cache=unsafe",
        "-drive", f"file={_seed_image(m)},if=virtio,format=raw,readonly=on",
        "-netdev", f"tap,id=net0,ifname={m.veth},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=net0,mac={m.mac}",
        "-device", "virtio-rng-pci",
        "-daemonize", "-pidfile", str(m.pidfile),
    ]  # fmt: skip


def require_tools() -> None:
    for tool in (QEMU, "qemu-img", "mkfs.ext4"):
        if shutil.which(tool) is None:
            raise missing_tool(tool)
    if not Path("/dev/net/tun").exists():
        raise KubeforgeError("/dev/net/tun is missing: the VMs' network needs the tun driver "
                             "(`modprobe tun`)")


def qemu_pid(m: MachinePlan) -> int | None:
    """The running QEMU of the machine, or None."""
    return pid_from_file(m.pidfile, m.dir, lambda argv: argv[:1] == [QEMU])


def is_running(m: MachinePlan) -> bool:
    return qemu_pid(m) is not None


def start(plan: LabPlan, m: MachinePlan, base: Path) -> bool:
    """Boot the VM if it is not running; False if it already was. `base` is the image folder."""
    if is_running(m):
        return False
    require_tools()
    img = vmimage.VMImage(base)
    m.dir.mkdir(parents=True, exist_ok=True)
    if not _disk(m).exists():
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(img.disk),
             str(_disk(m))])
    write_seed(plan, m)
    network.ensure_tap(plan, m)
    m.pidfile.unlink(missing_ok=True)
    run([*qemu_argv(m, img)], timeout=60)
    return True


def stop(m: MachinePlan, timeout: float = 10) -> str:
    """Hard power-off (SIGKILL to QEMU, like pulling the plug): what a drill that kills a
    machine needs. The disk is kept; the tap stays on the bridge, silent."""
    pid = qemu_pid(m)
    if pid is None:
        return "not running"
    os.kill(pid, signal.SIGKILL)
    if not wait_until(lambda: not pid_alive(pid), timeout, 0.2):
        raise KubeforgeError(f"{m.name}: QEMU (pid {pid}) survives SIGKILL")
    m.pidfile.unlink(missing_ok=True)
    return "powered off"


def destroy(m: MachinePlan) -> list[str]:
    """Stop the VM and delete its disk, seed and tap; returns what could not be removed."""
    stop(m)
    network.remove_link(m.veth)
    if m.dir.exists():
        shutil.rmtree(m.dir)
    return []
