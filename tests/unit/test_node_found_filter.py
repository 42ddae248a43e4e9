"""Where a node to remove is and what it runs (plugins/filter/node.py), on kubectl's JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

GROUPS = {"cluster": ["cp2", "cp3", "cp4", "w1"], "control_plane": ["cp2", "cp3", "cp4"],
          "workers": ["w1"]}


def _node(name: str, *, control_plane: bool, addresses: list[tuple[str, str]]) -> str:
    labels = {"kubernetes.io/hostname": name}
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return json.dumps({"kind": "Node", "metadata": {"name": name, "labels": labels},
                       "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]}})


@pytest.fixture
def found(filter_plugin: Callable[[str], ModuleType]) -> Callable[..., dict[str, Any]]:
    return filter_plugin("node").node_found  # type: ignore[no-any-return]


def test_a_host_of_the_spec_keeps_its_role_and_address(
        found: Callable[..., dict[str, Any]]) -> None:
    node = _node("w1", control_plane=True, addresses=[("InternalIP", "10.9.9.9")])
    f = found(node, "w1", GROUPS, "10.240.0.21")
    assert f == {"known": True, "in_spec": True, "node_object": True, "control_plane": False,
                 "address": "10.240.0.21"}
    assert found("", "cp4", GROUPS, "10.240.0.14")["node_object"] is False


def test_a_member_the_spec_no_longer_lists_is_read_from_its_node_object(
        found: Callable[..., dict[str, Any]]) -> None:
    node = _node("cp1", control_plane=True,
                 addresses=[("Hostname", "cp1"), ("ExternalIP", "192.0.2.1"),
                            ("InternalIP", "10.240.0.11")])
    assert found(node, "cp1", GROUPS) == {"known": True, "in_spec": False, "node_object": True,
                                          "control_plane": True, "address": "10.240.0.11"}
    worker = _node("w9", control_plane=False, addresses=[("ExternalIP", "192.0.2.9")])
    f = found(worker, "w9", GROUPS)
    assert (f["control_plane"], f["address"]) == (False, "192.0.2.9")


def test_a_name_neither_knows(found: Callable[..., dict[str, Any]]) -> None:
    assert found("", "cp9", GROUPS) == {"known": False, "in_spec": False, "node_object": False,
                                        "control_plane": False, "address": ""}


@pytest.fixture
def membership(filter_plugin: Callable[[str], ModuleType]) -> Callable[..., list[dict[str, Any]]]:
    return filter_plugin("node").scale_membership  # type: ignore[no-any-return]


def test_scale_visits_the_joining_hosts_and_the_control_plane_only(
        membership: Callable[..., list[dict[str, Any]]]) -> None:
    lines = ["cp2 aaa cp2", "cp3 bbb cp3.lab", "cp4 ccc cp4", "w1 ddd w1", ""]
    out = {e["name"]: e for e in membership(["cp2", "cp3", "cp4", "w1", "w2"], lines,
                                            ["cp2", "cp3", "cp4"])}
    assert out["w1"]["groups"] == ["kubeforge_members"]
    assert out["cp3"]["groups"] == ["kubeforge_members", "kubeforge_visited"]
    assert out["w2"] == {"name": "w2", "joined": False,
                         "groups": ["kubeforge_joining", "kubeforge_visited"]}
    assert out["cp3"]["identity"] == {"hostname": "cp3.lab", "mac": "", "machine_id": "bbb"}
    assert [e["name"] for e in membership(["w2", "cp2"], lines, ["cp2"])] == ["w2", "cp2"]


def test_a_node_line_without_identity_keeps_the_name(
        membership: Callable[..., list[dict[str, Any]]]) -> None:
    (entry,) = membership(["w1"], ["w1"], [])
    assert entry["identity"] == {"hostname": "w1", "mac": "", "machine_id": ""}


def test_scale_visits_no_host_when_nothing_joins(
        membership: Callable[..., list[dict[str, Any]]]) -> None:
    lines = ["cp2 aaa cp2", "w1 ddd w1"]
    out = membership(["cp2", "w1"], lines, ["cp2"])
    assert [e["groups"] for e in out] == [["kubeforge_members"], ["kubeforge_members"]]
