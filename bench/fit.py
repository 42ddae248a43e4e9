"""Which bench lab sizes this machine holds: disk and memory per lab machine, measured.

Measured on 2026-12-07 (commit dd515c3, Kubernetes 1.37.2, the bench lab with 3 control-plane
nodes and 5 workers, deployed, add-ons off), per machine from its memory cgroup and its folders:
a worker keeps 88 MiB resident plus 224 MiB of mapped files (its binaries: each machine has its
own copies, so nothing is shared between machines) and writes 785 MB (overlay upper 490 MB,
containerd's images 295 MB); a control-plane node 463 + 520 MiB and 1.56 GB. The page cache
beyond the mapped files is reclaimable and not counted. CPU is the other limit and is not checked
here: it makes every phase slower, it does not stop one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
WORKER_MEMORY = 312 * MIB
WORKER_DISK = 785 * 1000 * 1000
CONTROL_PLANE_MEMORY = 983 * MIB
CONTROL_PLANE_DISK = 1560 * 1000 * 1000
CONTROL_PLANES = 3
# kept free for the control host: ansible-playbook and its forks, the mirror, the session
MEMORY_RESERVE = 3 * 1024 * MIB
DISK_RESERVE = 5 * 1000 * 1000 * 1000


@dataclass(frozen=True)
class Room:
    memory: int  # bytes available now (MemAvailable), the bench lab down
    disk: int  # bytes free where the lab machines live

    def need(self, workers: int) -> tuple[int, int]:
        """Memory and disk of 3 control-plane nodes + `workers` (+1: the add-one run)."""
        n = workers + 1
        return (CONTROL_PLANES * CONTROL_PLANE_MEMORY + n * WORKER_MEMORY + MEMORY_RESERVE,
                CONTROL_PLANES * CONTROL_PLANE_DISK + n * WORKER_DISK + DISK_RESERVE)

    def refuse(self, workers: int) -> str | None:
        """Why `workers` does not fit, or None."""
        memory, disk = self.need(workers)
        short = [f"{what} {need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB available"
                 for what, need, have in (("memory", memory, self.memory),
                                          ("disk", disk, self.disk)) if need > have]
        return f"{workers} workers need " + "; ".join(short) if short else None

    def largest(self) -> int:
        n = 0
        while self.refuse(n + 1) is None:
            n += 1
        return n


def room(lab_dir: Path) -> Room:
    available = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            available = int(line.split()[1]) * 1024
    lab_dir.mkdir(parents=True, exist_ok=True)
    return Room(available, shutil.disk_usage(lab_dir).free)
