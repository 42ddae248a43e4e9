"""Node state that only a host with its own kernel has (real hosts, the VM lab): cgroup v2 with
the controllers the kubelet needs, the cgroup driver the spec chose in use, the kernel modules
loaded and listed for the next boot, swap off and kept off. Skipped on the container lab, whose
machines share this host's kernel (cgroup v1, modules loaded by the host, no swap of their own)."""

from __future__ import annotations

from typing import Any

import pytest

testinfra_hosts = ["ansible://cluster"]

KUBELET_CONTROLLERS = {"cpu", "cpuset", "memory", "pids"}
MODULES = ("overlay", "br_netfilter")


@pytest.fixture(autouse=True)
def _own_kernel(group_vars: dict[str, Any]) -> None:
    if group_vars["kubeforge_in_container"] or group_vars["kubeforge_cgroup_v1"]:
        pytest.skip("the hosts are containers sharing a kernel (kubernetes.in_container)")


def _words(host: Any, path: str) -> set[str]:
    f = host.file(path)
    assert f.exists, f"{path} is missing"
    return set(f.content_string.split())


def test_cgroup_v2_with_the_kubelet_controllers(host: Any, group_vars: dict[str, Any]) -> None:
    assert host.check_output("stat -fc %T /sys/fs/cgroup") == "cgroup2fs"
    assert _words(host, "/sys/fs/cgroup/cgroup.controllers") >= KUBELET_CONTROLLERS
    # the pods' parent cgroup got them delegated: the kubelet enforces limits through them
    parent = "/sys/fs/cgroup/kubepods.slice" if group_vars["kubeforge_cgroup_driver"] == "systemd" \
        else "/sys/fs/cgroup/kubepods"
    assert {"cpu", "memory", "pids"} <= _words(host, f"{parent}/cgroup.controllers")


def test_the_cgroup_driver_in_use(host: Any, group_vars: dict[str, Any]) -> None:
    systemd = group_vars["kubeforge_cgroup_driver"] == "systemd"
    kubelet = host.file("/var/lib/kubelet/config.yaml").content_string
    assert f"cgroupDriver: {'systemd' if systemd else 'cgroupfs'}" in kubelet
    containerd = host.file("/etc/containerd/config.toml").content_string
    assert f"SystemdCgroup = {'true' if systemd else 'false'}" in containerd
    # a running container's cgroup: a systemd scope under kubepods.slice, or a plain folder
    path = host.check_output("cat /proc/$(pgrep -o kube-proxy)/cgroup")
    assert (".slice/" in path and path.endswith(".scope")) == systemd, path


@pytest.mark.parametrize("module", MODULES)
def test_module_loaded_and_loaded_at_boot(host: Any, module: str) -> None:
    assert host.file(f"/sys/module/{module}").exists, f"{module} is not loaded"
    listed = host.file("/etc/modules-load.d/kubeforge.conf").content_string.split()
    builtin = host.run(f"grep -q '/{module}.ko' /lib/modules/$(uname -r)/modules.builtin").rc == 0
    assert module in listed or builtin, f"{module} would not be loaded after a reboot"


def test_swap_off_and_kept_off(host: Any) -> None:
    assert host.file("/proc/swaps").content_string.strip().count("\n") == 0, "swap is on"
    fstab = host.check_output("awk '!/^[[:space:]]*#/ && $3 == \"swap\"' /etc/fstab")
    assert fstab == "", f"/etc/fstab turns swap on at the next boot: {fstab}"
    units = host.check_output("systemctl list-units --type=swap --state=active --plain "
                              "--no-legend")
    assert units == "", f"active swap units: {units}"
