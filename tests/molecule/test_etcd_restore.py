"""etcd_restore: the ConfigMap deleted after the snapshot is back, every member's data folder
names the snapshot it was restored from, and every node is Ready."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.verify.conftest import Kubectl, condition

testinfra_hosts = ["ansible://control_plane"]


def _snapshot() -> str:
    return (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "snapshot").read_text().strip()


def test_the_deleted_configmap_is_back(kubectl: Kubectl) -> None:
    cm = kubectl.json("-n default get configmap molecule-restore")
    assert cm["data"] == {"written": "before-the-snapshot"}


def test_every_member_runs_on_the_snapshot(host: Any) -> None:
    assert host.file("/var/lib/etcd/kubeforge-restored-from").content_string.strip() == _snapshot()
    assert host.file("/var/lib/etcd/kubeforge-member").exists


def test_every_node_ready(kubectl: Kubectl, inventory_hosts: dict[str, list[str]]) -> None:
    nodes = {n["metadata"]["name"]: n for n in kubectl.json("get nodes")["items"]}
    assert sorted(nodes) == inventory_hosts["cluster"]
    assert all(condition(n) for n in nodes.values())
