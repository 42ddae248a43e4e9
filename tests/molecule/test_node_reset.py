"""node_reset: nothing of Kubernetes is left on a reset node, and containerd still runs (the
machine can join a cluster again)."""

from __future__ import annotations

from typing import Any

import pytest

testinfra_hosts = ["ansible://cluster"]


@pytest.mark.parametrize("path", ["/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd",
                                  "/root/.kube"])
def test_state_removed(host: Any, path: str) -> None:
    assert not host.file(path).exists


def test_kubelet_stopped_and_disabled(host: Any) -> None:
    kubelet = host.service("kubelet")
    assert not kubelet.is_running
    assert not kubelet.is_enabled


def test_no_container_left(host: Any) -> None:
    assert host.service("containerd").is_running
    assert host.check_output("crictl ps -a -q") == ""
    assert host.check_output("crictl pods -q") == ""


@pytest.mark.parametrize("port", [6443, 2379, 2380, 10250, 10257, 10259])
def test_nothing_listens_on_kubernetes_ports(host: Any, port: int) -> None:
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.run(f"ss -Htln 'sport = :{port}'").stdout.strip()


@pytest.mark.parametrize("link", ["cni0", "flannel.1"])
def test_pod_network_links_removed(host: Any, link: str) -> None:
    assert host.run(f"ip link show {link}").rc != 0


def test_pod_network_configuration_removed(host: Any) -> None:
    assert host.check_output("find /etc/cni/net.d -mindepth 1 -print -quit") == ""
