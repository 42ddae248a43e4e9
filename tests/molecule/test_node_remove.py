"""node_remove: the removed worker is gone from the cluster and reset; the control plane stays
Ready."""

from __future__ import annotations

from typing import Any

from tests.verify.conftest import Kubectl, condition

testinfra_hosts = ["ansible://workers"]


def test_node_object_deleted_and_control_plane_ready(
        host: Any, kubectl: Kubectl, inventory_hosts: dict[str, list[str]]) -> None:
    nodes = {n["metadata"]["name"]: n for n in kubectl.json("get nodes")["items"]}
    assert host.backend.get_hostname() not in nodes
    assert sorted(nodes) == inventory_hosts["control_plane"]
    assert all(condition(n) for n in nodes.values())


def test_removed_node_is_reset(host: Any) -> None:
    assert not host.file("/etc/kubernetes/kubelet.conf").exists
    assert not host.service("kubelet").is_running
    assert host.check_output("crictl ps -q") == ""
