"""The preflight role's reading and verdict (plugins/filter/preflight.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

LINES = [
    "before 1000", "machine_id abc123", "clock 1001", "cpus 2", "MemTotal: 2048",
    "SwapTotal: 0", "proc /proc/sys/net/ipv4/ip_forward", "loadable br_netfilter",
    "loadable overlay", "fs sysfs", "fs ext4", "cgroup_fs cgroup2fs",
    "cgroup_controllers cpuset cpu io memory pids",
    "listen LISTEN 0 4096 0.0.0.0:22 0.0.0.0:*",
    "listen LISTEN 0 4096 10.0.0.9:10250 0.0.0.0:*",
    "listen LISTEN 0 4096 10.0.0.7:6443 0.0.0.0:*",
]
SETTINGS: dict[str, Any] = {
    "roles": ["control_plane"], "os_family": "Debian", "os_families": ["Debian"],
    "allow_swap": False, "min_cpus": {"control_plane": 2, "worker": 1},
    "min_memory_mb": {"control_plane": 1700, "worker": 900},
    "ports": {"control_plane": [6443, 2379, 10250], "worker": [10250]},
    "address": "10.0.0.5", "required_filesystems": ["overlay"],
    "required_proc_paths": ["/proc/sys/net/ipv4/ip_forward",
                            "/proc/sys/net/bridge/bridge-nf-call-iptables"],
    "provided_by_module": {"overlay": "overlay",
                           "/proc/sys/net/bridge/bridge-nf-call-iptables": "br_netfilter"},
    "max_clock_skew_seconds": 30,
}


def test_the_read_is_a_record(filter_plugin: Callable[[str], ModuleType]) -> None:
    found = filter_plugin("preflight").preflight_read([*LINES, "joined", "etcd_member"], 1002)
    assert found["machine_id"] == "abc123"
    assert (found["clock_before"], found["clock"], found["clock_after"]) == (1000, 1001, 1002)
    assert (found["cpus"], found["memory_mb"], found["swap_mb"]) == (2, 2048, 0)
    assert found["cgroup"] == {"fs": "cgroup2fs", "controllers": "cpuset cpu io memory pids"}
    assert found["listening"] == ["0.0.0.0:22", "10.0.0.9:10250", "10.0.0.7:6443"]
    assert found["joined"] and found["etcd_member"]
    assert not found["kubelet_state"] and not found["etcd_confirmed"]


def test_a_node_that_meets_everything_has_no_problem(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    f = filter_plugin("preflight")
    # a loadable module counts for what it provides; 10250 and 6443 are held on other addresses only
    assert f.preflight_problems(f.preflight_read(LINES, 1002), SETTINGS) == []


def test_every_problem_is_listed_with_what_to_do(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    f = filter_plugin("preflight")
    kept = [line for line in LINES
            if not line.startswith(("loadable", "before", "clock", "SwapTotal", "cpus"))]
    lines = [*kept, "SwapTotal: 512", "cpus 1", "clock 2000", "before 1000",
             "listen LISTEN 0 4096 *:2379 *:*"]
    problems = f.preflight_problems(f.preflight_read(lines, 1002),
                                    {**SETTINGS, "os_family": "RedHat"})
    assert problems == [
        "OS family RedHat is not supported (supported: Debian)",
        "512 MiB of swap is on: run swapoff -a and remove it from /etc/fstab",
        "only 1 CPU(s), a control_plane node needs 2",
        "TCP port 2379 is in use: stop what listens there (ss -tlnp)",
        "the kernel has no overlay filesystem: enable it",
        "/proc/sys/net/bridge/bridge-nf-call-iptables is missing: load br_netfilter or enable "
        "the kernel feature",
        "clock is 998 s off the control host: enable time sync (chrony, systemd-timesyncd)",
    ]


def test_a_member_holds_its_own_ports(filter_plugin: Callable[[str], ModuleType]) -> None:
    f = filter_plugin("preflight")
    found = f.preflight_read([*LINES, "joined", "listen LISTEN 0 4096 *:2379 *:*"], 1002)
    assert f.preflight_problems(found, SETTINGS) == []
