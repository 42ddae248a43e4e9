"""The preflight role's uniqueness check (plugins/filter/identity.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any


def _ident(hostname: str, mac: str, machine_id: str) -> dict[str, Any]:
    return {"preflight_identity": {"hostname": hostname, "mac": mac, "machine_id": machine_id}}


def test_each_host_that_shares_a_value_is_told_with_whom(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    clashes = filter_plugin("identity").identity_clashes
    hostvars = {"a": _ident("a", "m1", "id1"), "b": _ident("b", "m2", "id1"),
                "c": _ident("c", "m3", "id1"), "d": _ident("d", "m4", "id4")}
    out = clashes(["a", "b", "c", "d"], hostvars)
    assert out["a"] == ["machine_id id1 is also used by b, c: every node needs its own"]
    assert out["b"] == ["machine_id id1 is also used by a, c: every node needs its own"]
    assert "d" not in out


def test_hosts_without_identity_or_with_empty_values_are_not_compared(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    clashes = filter_plugin("identity").identity_clashes
    # a member read from the cluster's Node list has no MAC address
    hostvars = {"w1": _ident("w1", "", "id1"), "w2": _ident("w2", "", "id2"), "w3": {}}
    assert clashes(["w1", "w2", "w3", "absent"], hostvars) == {}
    hostvars["w3"] = _ident("w1", "m3", "id3")
    assert clashes(["w1", "w2", "w3"], hostvars) == {
        "w1": ["hostname w1 is also used by w3: every node needs its own"],
        "w3": ["hostname w1 is also used by w1: every node needs its own"]}
