"""What a node runs, for the upgrade role and the deploy's guard (plugins/filter/upgrade.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

CP_LINES = ["joined", "Kubernetes v1.37.2",
            "image registry.k8s.io/kube-apiserver:v1.37.2"]


def _node(version: str, ready: str = "True", **metadata: Any) -> dict[str, Any]:
    return {"rc": 0, "stdout": json.dumps({
        "metadata": metadata, "spec": {"unschedulable": True},
        "status": {"nodeInfo": {"kubeletVersion": f"v{version}"},
                   "conditions": [{"type": "Ready", "status": ready}]}})}


def test_installed_versions_judged_without_the_api(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    state = filter_plugin("upgrade").upgrade_node_state
    out = state(CP_LINES, {"skipped": True}, "1.37.2", True, "cp1")
    assert out["at_target"] and out["joined"]
    assert (out["kubelet"], out["control_plane"]) == ("1.37.2", "1.37.2")
    assert out["summary"] == "cp1 runs kubelet 1.37.2, control plane 1.37.2"
    assert not state(CP_LINES, {"skipped": True}, "1.38.0", True, "cp1")["at_target"]
    # a worker has no kube-apiserver image to compare
    worker = state(["joined", "Kubernetes v1.37.2"], {"skipped": True}, "1.37.2", False, "w1")
    assert worker["at_target"] and worker["control_plane"] == ""
    assert state([], {"skipped": True}, "1.37.2", False, "w2")["summary"] == "w2 has not joined"


def test_what_runs_counts_when_the_node_was_read(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    state = filter_plugin("upgrade").upgrade_node_state
    marked = _node("1.36.3", annotations={"kubeforge.io/upgrade-cordoned": "yes"})
    out = state(CP_LINES, marked, "1.37.2", True, "cp1")
    assert not out["at_target"] and out["running_kubelet"] == "1.36.3"
    assert out["ready"] and out["unschedulable"] and out["cordoned_by_upgrade"]
    assert out["summary"] == "cp1 runs kubelet 1.37.2 (running 1.36.3), control plane 1.37.2"
    assert state(CP_LINES, _node("1.37.2"), "1.37.2", True, "cp1")["at_target"]
    # a read that failed is not a node at its target
    failed = state(CP_LINES, {"rc": 1, "stdout": ""}, "1.37.2", True, "cp1")
    assert not failed["at_target"] and not failed["ready"]
