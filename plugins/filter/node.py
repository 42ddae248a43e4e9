"""Where a node to remove is and what it runs, and which hosts a scale-out visits, on the control
host.

`node_json | node_found(name, groups, spec_address)` takes what `kubectl get node NAME -o json
--ignore-not-found` printed (empty when there is no such Node) and the inventory's groups, and
says:

    {known: bool, in_spec: bool, node_object: bool, control_plane: bool, address: str}

A host of the spec keeps its role and address from the spec; a node the spec no longer lists
(taken out of it, or replaced by another host) takes them from its Node object: the
control-plane role label, and the first InternalIP (else ExternalIP) address.

`hosts | scale_membership(node_lines, control_plane)` takes the spec's hosts and the lines
"NAME MACHINE-ID HOSTNAME" that `kubectl get nodes` printed (jsonpath) and says, per host in the
spec's order, {name, joined, groups, identity}: a host without a Node joins (groups
kubeforge_joining and kubeforge_visited); a member is in kubeforge_members, and also visited when
it is a control-plane node and some host joins (with nothing to join, no host is visited). A
member's identity (hostname, machine-id; a Node has no MAC address) is what preflight's
uniqueness check compares the joining hosts with.
"""

from __future__ import annotations

import json
from typing import Any

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def _address(node: dict[str, Any]) -> str:
    addresses = node.get("status", {}).get("addresses") or []
    for kind in ("InternalIP", "ExternalIP"):
        for a in addresses:
            if a.get("type") == kind and a.get("address"):
                return str(a["address"])
    return ""


def node_found(node_json: str, name: str, groups: dict[str, list[str]],
               spec_address: str = "") -> dict[str, Any]:
    node: dict[str, Any] = json.loads(node_json) if node_json.strip() else {}
    in_spec = name in groups.get("cluster", [])
    labels = node.get("metadata", {}).get("labels") or {}
    return {
        "known": in_spec or bool(node),
        "in_spec": in_spec,
        "node_object": bool(node),
        "control_plane": (name in groups.get("control_plane", [])) if in_spec
        else CONTROL_PLANE_LABEL in labels,
        "address": spec_address if in_spec else _address(node),
    }


def scale_membership(hosts: list[str], node_lines: list[str],
                     control_plane: list[str]) -> list[dict[str, Any]]:
    nodes: dict[str, list[str]] = {}
    for line in node_lines:
        name, *rest = line.split() or [""]
        if name:
            nodes[name] = rest
    joining = any(host not in nodes for host in hosts)
    out: list[dict[str, Any]] = []
    for host in hosts:
        joined = host in nodes
        groups = ["kubeforge_members" if joined else "kubeforge_joining"]
        if not joined or (joining and host in control_plane):
            groups.append("kubeforge_visited")
        entry: dict[str, Any] = {"name": host, "joined": joined, "groups": groups}
        if joined:
            machine_id, hostname = (nodes[host] + ["", ""])[:2]
            entry["identity"] = {"hostname": hostname or host, "mac": "",
                                 "machine_id": machine_id}
        out.append(entry)
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"node_found": node_found, "scale_membership": scale_membership}
