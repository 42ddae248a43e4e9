"""One lab machine: its overlay root, its identity files, and the systemd-nspawn process that
boots it (kept by a detached supervisor, see supervisor.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from kubeforge import paths
from kubeforge.errors import KubeforgeError
from kubeforge.lab import cgroups, network, ssh
from kubeforge.lab.model import IDENTITY_MARKER, LabPlan, MachinePlan
from kubeforge.lab.system import (
    mounts_under,
    pid_alive,
    pid_from_file,
    run,
    unmount_all,
    wait_until,
)

#: Where the machine sees its own cgroup subtrees before they are mounted over /sys/fs/cgroup/*.
CGROUP_BIND_DIR = "/run/kubeforge/cgroup"
INIT = "/usr/local/lib/kubeforge/init"

# PID 1 of the machine. It mounts the machine's writable cgroup subtrees over the read-only
# views nspawn provides *before* systemd starts, so systemd, containerd/runc and kubelet all see
# one consistent, writable cgroup tree; then it becomes systemd.
_INIT_SCRIPT = f"""\
#!/bin/sh
# kubeforge lab init: written by `kubeforge lab`, replaced on every start.
# nspawn's /sys is the host's sysfs, which lists the host's network interfaces (and their MAC
# addresses) instead of this machine's: mount a sysfs of this network namespace in its place,
# keeping nspawn's cgroup tree.
mount --make-rprivate /
mkdir -p /run/kubeforge/cgroupfs
if mount --move /sys/fs/cgroup /run/kubeforge/cgroupfs; then
    mount -t sysfs -o rw,nosuid,nodev,noexec sysfs /sys
    mount --move /run/kubeforge/cgroupfs /sys/fs/cgroup
else
    echo "kubeforge: cannot remount /sys for this machine's network namespace" >&2
fi
for src in {CGROUP_BIND_DIR}/*; do
    [ -d "$src" ] || continue
    mount --bind "$src" "/sys/fs/cgroup/${{src##*/}}" || echo "kubeforge: cannot mount $src" >&2
done
exec /lib/systemd/systemd "$@"
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def is_mounted(m: MachinePlan) -> bool:
    return m.merged in mounts_under(m.merged)


def _root_for_writes(m: MachinePlan) -> Path:
    # Editing an overlay's upper layer while it is mounted is undefined: go through the mount.
    return m.merged if is_mounted(m) else m.upper


def write_identity(plan: LabPlan, m: MachinePlan, root: Path) -> bool:
    """First-boot files (hostname, machine-id, host key, authorized key) under `root`. Written
    once, so changes made inside the machine later are kept. True if written now."""
    if (root / IDENTITY_MARKER).exists():
        return False
    _write(root / "etc/hostname", f"{m.name}\n")
    _write(root / "etc/hosts", plan.hosts_file())
    _write(root / "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    # No DNS server exists in the lab; the gateway is the only resolver allowed. Machines find
    # each other through /etc/hosts.
    _write(root / "etc/resolv.conf", f"nameserver {m.gateway}\n")
    ssh.make_host_key(root, m)
    _write(root / "root/.ssh/authorized_keys", ssh.public_key(plan.ssh_key) + "\n", 0o600)
    (root / "root/.ssh").chmod(0o700)
    (root / "root").chmod(0o700)
    _write(root / IDENTITY_MARKER, f"{plan.name}/{m.name}\n")
    return True


def write_runtime_files(m: MachinePlan) -> None:
    """Files kubeforge owns inside the machine, refreshed on every start."""
    _write(_root_for_writes(m) / INIT.lstrip("/"), _INIT_SCRIPT, 0o755)


def mount_overlay(m: MachinePlan, lower: Path) -> None:
    if is_mounted(m):
        return
    for d in (m.upper, m.work, m.merged, m.containerd_dir):
        d.mkdir(parents=True, exist_ok=True)
    opts = f"lowerdir={lower},upperdir={m.upper},workdir={m.work}"
    run(["mount", "-t", "overlay", "overlay", "-o", opts, str(m.merged)])


def nspawn_argv(m: MachinePlan, controllers: list[cgroups.Hierarchy]) -> list[str]:
    argv = [
        "systemd-nspawn",
        "--quiet",
        f"--directory={m.merged}",
        f"--machine={m.name}",
        f"--hostname={m.name}",
        # No host systemd to register with; nspawn stays in the cgroup the supervisor made.
        "--register=no",
        "--keep-unit",
        "--capability=all",
        # Our own init (see _INIT_SCRIPT) instead of --boot; SIGRTMIN+3 is what --boot would use
        # to ask systemd for a clean shutdown when nspawn gets SIGTERM.
        "--kill-signal=SIGRTMIN+3",
        f"--network-namespace-path={network.NETNS_DIR / m.netns}",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
        # Outside the overlay: containerd's overlayfs snapshotter cannot stack on an overlay.
        f"--bind={m.containerd_dir}:/var/lib/containerd",
    ]
    argv += [f"--bind={h.mountpoint / m.cgroup_name}:{CGROUP_BIND_DIR}/{h.name}"
             for h in controllers]  # fmt: skip
    if Path("/dev/kmsg").exists():
        # kubelet refuses to start without /dev/kmsg (its OOM watcher). Read-only: the kernel
        # is shared, so the machine sees the real kernel log but cannot write into it. (A
        # symlink to /dev/console, as kind does, makes journald hang at every shutdown.)
        argv.append("--bind-ro=/dev/kmsg")
    modules = Path("/lib/modules") / os.uname().release
    if modules.is_dir():
        argv.append(f"--bind-ro={modules}")
    argv.append(INIT)
    return argv


NSPAWN_ENV = {
    # Writable /proc/sys and /sys: kubelet and CNI plugins set sysctls (net.* stay per netns).
    "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1",
    # nspawn's seccomp filter blocks syscalls runc needs (e.g. keyctl, mount-related ones).
    "SYSTEMD_SECCOMP": "0",
}


def supervisor_pid(m: MachinePlan) -> int | None:
    """The running supervisor of the machine, or None."""
    return pid_from_file(m.pidfile, m.dir, lambda argv: "kubeforge.lab.supervisor" in argv)


def is_running(m: MachinePlan) -> bool:
    return supervisor_pid(m) is not None


def spawn(m: MachinePlan) -> int:
    """Start the detached supervisor (own session: it outlives this command and its terminal)."""
    hier = cgroups.hierarchies()
    config = {
        "argv": nspawn_argv(m, [h for h in hier if h.controller]),
        "env": NSPAWN_ENV,
        "cgroup_procs": [str(h.mountpoint / m.cgroup_name / "cgroup.procs") for h in hier],
    }
    cfg = m.dir / "supervisor.json"
    cfg.write_text(json.dumps(config, indent=2))
    pythonpath = os.pathsep.join(filter(None, [str(paths.ROOT), os.environ.get("PYTHONPATH")]))
    with m.console_log.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubeforge.lab.supervisor", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            env={**os.environ, "PYTHONPATH": pythonpath},
        )
    m.pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def start(plan: LabPlan, m: MachinePlan, lower: Path) -> bool:
    """Boot the machine if it is not running; False if it already was."""
    if is_running(m):
        return False
    if shutil.which("systemd-nspawn") is None:
        raise KubeforgeError("systemd-nspawn is missing: `apt-get install systemd-container`")
    m.dir.mkdir(parents=True, exist_ok=True)
    network.ensure_machine_net(plan, m)
    cgroups.ensure(m)
    # A machine that powered itself off may have left processes behind in its cgroups.
    cgroups.kill_all(m)
    m.upper.mkdir(parents=True, exist_ok=True)
    write_identity(plan, m, _root_for_writes(m))
    write_runtime_files(m)
    mount_overlay(m, lower)
    spawn(m)
    return True


def stop(m: MachinePlan, timeout: float = 60) -> str:
    """Clean poweroff (SIGTERM -> nspawn -> SIGRTMIN+3 to the machine's systemd), SIGKILL after
    `timeout`. Then unmount the root and remove the network namespace, so the machine's address
    goes silent like a powered-off host. The disk (upper layer) is kept."""
    how = "not running"
    pid = supervisor_pid(m)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        how = "powered off"
        if not wait_until(lambda: not pid_alive(pid), timeout, 0.3):
            how = f"killed after {timeout:.0f}s"
    if not cgroups.kill_all(m):
        raise KubeforgeError(f"{m.name}: processes survive SIGKILL: {sorted(cgroups.pids(m))}")
    m.pidfile.unlink(missing_ok=True)
    unmount_all(m.dir)
    network.remove_machine_net(m)
    return how


def destroy(m: MachinePlan) -> list[str]:
    """Stop and delete everything of the machine; returns what could not be removed."""
    problems = []
    stop(m, timeout=30)
    left = cgroups.remove(m)
    problems += [f"cgroup {p} still exists" for p in left]
    if mounts_under(m.dir):
        problems.append(f"mounts remain under {m.dir}")
    elif m.dir.exists():
        shutil.rmtree(m.dir)
    return problems
