"""What a node runs, for the kubeadm_upgrade role's decisions (and cluster.yml's version guard):

    lines | upgrade_node_state(node_object, version, is_control_plane, host)

takes the lines of the role's node read (`__kubeadm_upgrade_probe`, tasks/read_node.yml:
"joined", the kubelet's `--version` line, "image REF" of the kube-apiserver manifest on a
control-plane node) and the registered result of `kubectl get node -o json` (skipped: what runs
is not judged), and says

    {joined, kubelet, control_plane, running_kubelet, ready, unschedulable, cordoned_by_upgrade,
     at_target, summary}

at_target: what is installed and, when the Node was read, what runs are both at `version`.
In Python rather than Jinja: on a re-run the guard evaluates it on every node.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

CORDON_ANNOTATION = "kubeforge.io/upgrade-cordoned"
_VERSION = re.compile(r"v(\d+\.\d+\.\d+)")


def _node(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Node object; empty when the read failed or printed nothing."""
    if not result or result.get("skipped") or result.get("rc", 1) != 0:
        return {}
    try:
        node = json.loads(result.get("stdout") or "{}")
    except ValueError:
        return {}
    return node if isinstance(node, dict) else {}


def upgrade_node_state(lines: Iterable[str], node_object: Mapping[str, Any] | None,
                       version: str, is_control_plane: bool, host: str) -> dict[str, Any]:
    lines = list(lines)
    joined = "joined" in lines
    kubelet = next((m.group(1) for line in lines if line.startswith("Kubernetes v")
                    for m in [_VERSION.search(line)] if m), "")
    image = next((line for line in lines if line.startswith("image ")), ":")
    control_plane = image.split(":")[-1].removeprefix("v") if is_control_plane else ""
    node = _node(node_object)
    # a read that failed counts (nothing runs as far as it knows); one not run does not
    read = not (node_object or {}).get("skipped", False)
    running = str(node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""))
    running = running.removeprefix("v")
    ready = [c.get("status") for c in node.get("status", {}).get("conditions", [])
             if c.get("type") == "Ready"] == ["True"]
    at_target = (joined and kubelet == version
                 and (not is_control_plane or control_plane == version)
                 and (not read or running == version))
    if not joined:
        summary = f"{host} has not joined"
    else:
        summary = f"{host} runs kubelet {kubelet or 'unknown'}"
        if read and running != kubelet:
            summary += f" (running {running or 'unknown'})"
        if is_control_plane:
            summary += f", control plane {control_plane or 'unknown'}"
    return {
        "joined": joined, "kubelet": kubelet, "control_plane": control_plane,
        "running_kubelet": running, "ready": ready,
        "unschedulable": bool(node.get("spec", {}).get("unschedulable", False)),
        "cordoned_by_upgrade": CORDON_ANNOTATION in (node.get("metadata", {})
                                                     .get("annotations") or {}),
        "at_target": at_target, "summary": summary,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"upgrade_node_state": upgrade_node_state}
