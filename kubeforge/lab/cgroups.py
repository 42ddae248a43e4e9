"""Per-machine cgroup subtrees on a cgroup v1 (hybrid) host.

Every machine runs inside `<hierarchy>/kubeforge-<lab>/<host>` in *every* hierarchy: the v1
controllers, the named systemd hierarchy and the unified one. Without that, the systemd of each
machine would manage the same host-wide cgroups as its neighbours (stopping a unit in one machine
could kill processes of another). The v1 controller subtrees are also bound into the machine and
mounted writable over its /sys/fs/cgroup/<ctrl>, so containerd/runc and kubelet can create cgroups.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from kubeforge.lab.model import MachinePlan

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Hierarchy:
    name: str  # the folder under /sys/fs/cgroup: cpu, memory, systemd, unified...
    mountpoint: Path
    controller: bool  # a v1 resource controller (not the named systemd or the unified one)


def hierarchies(mountinfo: str | None = None) -> list[Hierarchy]:
    """cgroup hierarchies mounted directly under /sys/fs/cgroup (or the v2 root itself)."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    found: dict[Path, Hierarchy] = {}
    for line in text.splitlines():
        pre, _, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mnt, fstype, options = Path(fields[4]), tail[0], tail[2].split(",")
        if fstype not in ("cgroup", "cgroup2"):
            continue
        if mnt.parent != CGROUP_ROOT and mnt != CGROUP_ROOT:
            continue
        named = any(o.startswith("name=") for o in options)
        found[mnt] = Hierarchy(mnt.name, mnt, fstype == "cgroup" and not named)
    return sorted(found.values(), key=lambda h: h.name)


def controllers() -> list[Hierarchy]:
    return [h for h in hierarchies() if h.controller]


def is_v1_host() -> bool:
    return any(h.controller for h in hierarchies())


def machine_dirs(m: MachinePlan) -> list[Path]:
    return [h.mountpoint / m.cgroup_name for h in hierarchies()]


def lab_dirs(lab: str) -> list[Path]:
    return [h.mountpoint / f"kubeforge-{lab}" for h in hierarchies()]


def _copy_cpuset(path: Path) -> None:
    # A new cpuset is empty and refuses tasks until it has cpus and mems.
    for name in ("cpuset.cpus", "cpuset.mems"):
        f = path / name
        if f.exists() and not f.read_text().strip():
            f.write_text((path.parent / name).read_text())


def ensure(m: MachinePlan, memory_limit: int | None = None) -> list[Path]:
    dirs = []
    for d in machine_dirs(m):
        for level in (d.parent, d):
            level.mkdir(exist_ok=True)
            if d.parent.parent.name == "cpuset":
                _copy_cpuset(level)
        dirs.append(d)
    if memory_limit:
        limit = CGROUP_ROOT / "memory" / m.cgroup_name / "memory.limit_in_bytes"
        if limit.exists():
            limit.write_text(str(memory_limit))
    return dirs


def _walk_bottom_up(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    out = [Path(d) for d, _, _ in os.walk(root)]
    return sorted(out, key=lambda p: len(p.parts), reverse=True)


def pids(m: MachinePlan) -> set[int]:
    """Every process of the machine, in any of its cgroups."""
    found: set[int] = set()
    for d in machine_dirs(m):
        for cg in _walk_bottom_up(d):
            try:
                found |= {int(p) for p in (cg / "cgroup.procs").read_text().split()}
            except OSError:
                continue
    return found


def kill_all(m: MachinePlan, timeout: float = 10) -> bool:
    """SIGKILL everything left in the machine's cgroups; True once none is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = pids(m)
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def remove(m: MachinePlan) -> list[Path]:
    """rmdir the machine's cgroups (and the lab's parent once empty); returns what is left."""
    left = []
    for d in machine_dirs(m):
        for cg in _walk_bottom_up(d):
            try:
                cg.rmdir()
            except OSError:
                left.append(cg)
        with contextlib.suppress(OSError):  # other machines of the lab may still use it
            d.parent.rmdir()
    return left
