"""What a node's cgroup setup means for the kubelet: the preflight role's one cgroup check.

    preflight_cgroup | cgroup_problems(preflight_cgroup_v1, preflight_cgroup_v2_controllers)

`preflight_cgroup` is what the node's probe read: `fs`, the filesystem type of /sys/fs/cgroup
(`cgroup2fs` on a cgroup v2 host; `tmpfs` holding v1 hierarchies otherwise), and `controllers`,
the words of /sys/fs/cgroup/cgroup.controllers (v2 only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CGROUP_V2_FS = "cgroup2fs"
SETTING = "kubernetes.cgroup_v1"


def cgroup_problems(cgroup: Mapping[str, Any], allow_v1: bool,
                    required: Iterable[str]) -> list[str]:
    """Why this node's cgroups cannot run the kubelet as configured; empty when they can."""
    fs = str(cgroup.get("fs") or "unknown")
    if fs != CGROUP_V2_FS:
        if allow_v1:
            return []
        return [f"the node runs cgroup v1 (/sys/fs/cgroup is {fs}, not cgroup2fs): kubelet 1.35 "
                f"and newer refuse it by default and upstream is removing cgroup v1 support. "
                f"Boot the node with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or set "
                f"{SETTING}: true in the spec to run on cgroup v1 while it lasts"]
    present = set(str(cgroup.get("controllers") or "").split())
    missing = [c for c in required if c not in present]
    if missing:
        return [f"cgroup v2 controller(s) {', '.join(missing)} missing from "
                f"/sys/fs/cgroup/cgroup.controllers: enable them in the kernel (the kubelet "
                f"needs {', '.join(required)})"]
    return []


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cgroup_problems": cgroup_problems}
