"""Node state on every host of the cluster."""

from __future__ import annotations

from typing import Any

import pytest

testinfra_hosts = ["ansible://cluster"]


@pytest.mark.parametrize("service", ["containerd", "kubelet"])
def test_service_running_and_enabled(host: Any, service: str) -> None:
    svc = host.service(service)
    assert svc.is_running, host.run(f"journalctl -u {service} -n 30 --no-pager").stdout
    assert svc.is_enabled


def test_swap_is_off(host: Any) -> None:
    swaps = host.file("/proc/swaps").content_string.strip().splitlines()
    assert len(swaps) == 1, f"active swap: {swaps[1:]}"


@pytest.mark.parametrize(("key", "value"), [
    ("net.ipv4.ip_forward", 1),
    ("net.bridge.bridge-nf-call-iptables", 1),
])
def test_sysctl(host: Any, key: str, value: int) -> None:
    assert host.sysctl(key) == value


@pytest.mark.parametrize("binary", ["kubelet", "kubeadm", "kubectl"])
def test_binary_version(host: Any, binary: str, group_vars: dict[str, Any]) -> None:
    flag = "version -o short" if binary == "kubeadm" else (
        "version --client" if binary == "kubectl" else "--version")
    out = host.check_output(f"{binary} {flag}")
    assert f"v{group_vars['kubeforge_kubernetes_version']}" in out


def test_kubelet_config_is_root_only(host: Any) -> None:
    conf = host.file("/etc/kubernetes/kubelet.conf")
    assert conf.exists
    assert conf.user == "root"
    assert conf.mode == 0o600


def test_no_join_configuration_left(host: Any) -> None:
    # join configurations hold a bootstrap token and are removed right after the join
    assert not host.file("/etc/kubernetes/kubeadm/kubeadm-join.yaml").exists


def test_kubelet_accepts_cgroup_v1_only_when_declared(host: Any,
                                                      group_vars: dict[str, Any]) -> None:
    config = host.file("/var/lib/kubelet/config.yaml").content_string
    declared = bool(group_vars["kubeforge_cgroup_v1"])
    assert ("failCgroupV1: false" in config) == declared
    cgroup_fs = host.check_output("stat -fc %T /sys/fs/cgroup")
    # a cgroup v1 host cannot run the kubelet without the setting
    assert cgroup_fs == "cgroup2fs" or declared, f"/sys/fs/cgroup is {cgroup_fs}"
