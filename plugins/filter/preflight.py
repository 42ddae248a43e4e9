"""The preflight role's reading of a node and its verdict, in Python rather than Jinja:

    __preflight_probe.stdout_lines | preflight_read(now().timestamp() | int)

turns the tagged lines of the role's one raw read (tasks/facts.yml) into a record, and

    __preflight_found | preflight_problems(settings)

lists what keeps the node from running Kubernetes (settings: the role's inputs, named below).
Evaluated per node: as Jinja over the lines, the two cost the control host about a fifth of a
second of CPU per node on every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# the lines that only say something is there
FLAGS = ("joined", "kubelet_state", "etcd_member", "etcd_confirmed")
# every address a listener blocks a port on, besides the node's own
ANY_ADDRESS = ("0.0.0.0", "*", "[::]", "127.0.0.1")


def _int(value: str | None) -> int:
    try:
        return int(str(value).split()[-1])
    except (ValueError, IndexError):
        return 0


def preflight_read(lines: Iterable[str], after: int) -> dict[str, Any]:
    """The record of one read; `after` is the control host's clock once the read came back."""
    tagged: dict[str, list[str]] = {}
    flags: set[str] = set()
    for line in lines:
        tag, _, rest = line.partition(" ")
        if not rest and tag in FLAGS:
            flags.add(tag)
        else:
            tagged.setdefault(tag, []).append(rest)

    def first(tag: str) -> str:
        return (tagged.get(tag) or [""])[0]

    return {
        "machine_id": first("machine_id"),
        "clock": _int(first("clock")),
        "clock_before": _int(first("before")),
        "clock_after": after,
        "cpus": _int(first("cpus")),
        "memory_mb": _int(first("MemTotal:")),
        "swap_mb": _int(first("SwapTotal:")),
        "proc": tagged.get("proc", []),
        "loadable": tagged.get("loadable", []),
        "filesystems": tagged.get("fs", []),
        "cgroup": {"fs": first("cgroup_fs"), "controllers": first("cgroup_controllers")},
        # the local address:port column of `ss -Htln`
        "listening": [f[3] for f in (line.split() for line in tagged.get("listen", []))
                      if len(f) > 3],
        **{flag: flag in flags for flag in FLAGS},
    }


def _listening_ports(listening: Iterable[str], address: str) -> set[int]:
    """The ports a listener holds on every address or on the node's own one (haproxy on the VIP
    shares port 6443 with a kube-apiserver bound to the node address)."""
    blocking = {*ANY_ADDRESS, address}
    ports = set()
    for local in listening:
        host, _, port = local.rpartition(":")
        if host in blocking and port.isdigit():
            ports.add(int(port))
    return ports


def preflight_problems(found: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """What keeps the node from running Kubernetes, each with what to do; empty when nothing."""
    s = settings
    roles = list(s["roles"])
    role_key = "control_plane" if "control_plane" in roles else "worker"
    problems: list[str] = []
    if s["os_family"] not in s["os_families"]:
        problems.append(f"OS family {s['os_family']} is not supported "
                        f"(supported: {', '.join(s['os_families'])})")
    if found["swap_mb"] > 0 and not s["allow_swap"]:
        problems.append(f"{found['swap_mb']} MiB of swap is on: run swapoff -a and remove it "
                        "from /etc/fstab")
    if found["cpus"] < int(s["min_cpus"][role_key]):
        problems.append(f"only {found['cpus']} CPU(s), a {role_key} node needs "
                        f"{s['min_cpus'][role_key]}")
    if found["memory_mb"] < int(s["min_memory_mb"][role_key]):
        problems.append(f"only {found['memory_mb']} MiB of memory, a {role_key} node needs "
                        f"{s['min_memory_mb'][role_key]}")
    if not found["joined"]:
        # once a node runs Kubernetes its own components hold these ports
        wanted = sorted({int(p) for role in roles for p in s["ports"].get(role, [])})
        held = _listening_ports(found["listening"], str(s["address"]))
        problems += [f"TCP port {p} is in use: stop what listens there (ss -tlnp)"
                     for p in wanted if p in held]
    # what a loadable module provides counts as present (node_prep loads it)
    by_module = {what for what, module in s["provided_by_module"].items()
                 if module in found["loadable"]}
    problems += [f"the kernel has no {fs} filesystem: enable it"
                 for fs in s["required_filesystems"]
                 if fs not in found["filesystems"] and fs not in by_module]
    problems += [f"{path} is missing: load br_netfilter or enable the kernel feature"
                 for path in s["required_proc_paths"]
                 if path not in found["proc"] and path not in by_module]
    skew = max(0, found["clock_before"] - found["clock"], found["clock"] - found["clock_after"])
    if skew > int(s["max_clock_skew_seconds"]):
        problems.append(f"clock is {skew} s off the control host: enable time sync "
                        "(chrony, systemd-timesyncd)")
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"preflight_read": preflight_read, "preflight_problems": preflight_problems}
