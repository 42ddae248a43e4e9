"""`kubeforge lab`: the spec's hosts as real machines on this host.

Each machine is a systemd-nspawn container booting full systemd from a shared, cached Debian
rootfs (overlayfs per machine), with its own network namespace on a host bridge, sshd with a
pinned host key, and its own writable cgroup subtree so containerd, runc and kubelet run inside.

Python API (used by the CLI, and by the Pulumi provider and Molecule driver); `spec` is a
`kubeforge.spec.ClusterSpec` (or a `LabPlan`):

    up(spec)                      create/boot all machines; running ones are left alone
    down(spec) -> list[str]       remove everything but the cached rootfs; problems left
    status(spec) -> list[MachineStatus]
    stop_machine(spec, host)      clean poweroff, disk kept, address goes silent
    start_machine(spec, host)     boot it again
    remove_machine(spec, host)    delete one machine, the others keep running
"""

from kubeforge.lab.model import LabPlan, MachinePlan, load_plan
from kubeforge.lab.ops import (
    MachineStatus,
    down,
    format_status,
    remove_machine,
    start_machine,
    status,
    stop_machine,
    up,
)

__all__ = [
    "LabPlan",
    "MachinePlan",
    "MachineStatus",
    "down",
    "format_status",
    "load_plan",
    "remove_machine",
    "start_machine",
    "status",
    "stop_machine",
    "up",
]
