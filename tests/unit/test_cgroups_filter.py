"""The preflight role's cgroup check (plugins/filter/cgroups.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

REQUIRED = ["cpu", "cpuset", "memory", "pids"]


def test_cgroup_v1_is_refused_unless_the_spec_declares_it(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    problems = filter_plugin("cgroups").cgroup_problems
    v1 = {"fs": "tmpfs", "controllers": ""}
    (msg,) = problems(v1, False, REQUIRED)
    assert "cgroup v1" in msg and "tmpfs" in msg
    assert "kubernetes.cgroup_v1: true" in msg and "removing cgroup v1 support" in msg
    assert problems(v1, True, REQUIRED) == []
    # an unreadable mount is not taken for cgroup v2
    assert problems({}, False, REQUIRED)


def test_cgroup_v2_needs_the_kubelets_controllers(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    problems = filter_plugin("cgroups").cgroup_problems
    full = {"fs": "cgroup2fs", "controllers": "cpuset cpu io memory hugetlb pids rdma misc"}
    assert problems(full, False, REQUIRED) == []
    assert problems(full, True, REQUIRED) == []
    (msg,) = problems({"fs": "cgroup2fs", "controllers": "cpu io memory"}, False, REQUIRED)
    assert "cpuset, pids missing" in msg
    assert set(filter_plugin("cgroups").FilterModule().filters()) == {"cgroup_problems"}
