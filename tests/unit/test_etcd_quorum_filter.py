"""remove-node's quorum guard (plugins/filter/etcd.py) on etcdctl's JSON, as etcd prints it."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest


def _members(*names: str, learner: str = "") -> str:
    out: list[dict[str, Any]] = []
    for i, n in enumerate(names, 1):
        m: dict[str, Any] = {"ID": 0x8e9e05c52164694d + i, "name": n,
                             "clientURLs": [f"https://10.0.0.{i}:2379"]}
        if n == learner:
            m["isLearner"] = True
        out.append(m)
    return json.dumps({"header": {"cluster_id": 1}, "members": out})


def _health(up: dict[int, bool]) -> str:
    return json.dumps([{"endpoint": f"https://10.0.0.{i}:2379", "health": h}
                       for i, h in up.items()])


@pytest.fixture
def quorum(filter_plugin: Callable[[str], ModuleType]) -> Callable[..., dict[str, Any]]:
    return filter_plugin("etcd").etcd_quorum  # type: ignore[no-any-return]


def test_three_healthy_members_can_lose_one(quorum: Callable[..., dict[str, Any]]) -> None:
    q = quorum(_members("cp1", "cp2", "cp3"), _health({1: True, 2: True, 3: True}), "cp2")
    assert q["holds"] and q["node_member"] and q["node_healthy"]
    counts = (q["needed_now"], q["members_after"], q["healthy_after"], q["needed_after"])
    assert counts == (2, 2, 2, 2)
    assert q["member_id"] == f"{0x8e9e05c52164694d + 2:x}"


def test_a_down_member_and_removing_a_healthy_one_loses_the_majority(
        quorum: Callable[..., dict[str, Any]]) -> None:
    q = quorum(_members("cp1", "cp2", "cp3"), _health({1: True, 2: True, 3: False}), "cp2")
    assert not q["holds"]
    assert q["down"] == ["cp3"] and q["healthy_after"] == 1 and q["needed_after"] == 2


def test_removing_the_member_that_is_down_keeps_the_majority(
        quorum: Callable[..., dict[str, Any]]) -> None:
    q = quorum(_members("cp1", "cp2", "cp3"), _health({1: True, 2: True, 3: False}), "cp3")
    assert q["holds"] and not q["node_healthy"] and q["node_member"]


def test_two_members_down_of_three_hold_no_majority_now(
        quorum: Callable[..., dict[str, Any]]) -> None:
    q = quorum(_members("cp1", "cp2", "cp3"), _health({1: True, 2: False, 3: False}), "cp3")
    assert not q["holds"] and q["needed_now"] == 2


def test_a_learner_neither_votes_nor_counts(quorum: Callable[..., dict[str, Any]]) -> None:
    q = quorum(_members("cp1", "cp2", "cp3", "cp4", learner="cp4"),
               _health({1: True, 2: True, 3: True, 4: True}), "cp4")
    assert q["members"] == ["cp1", "cp2", "cp3"] and q["holds"]
    # still a member to remove, but removing it changes no count
    assert q["node_member"] and q["members_after"] == 3 and q["healthy_after"] == 3


def test_a_node_without_a_member_has_nothing_to_remove(
        quorum: Callable[..., dict[str, Any]]) -> None:
    q = quorum(_members("cp1", "cp2", "cp3"), _health({1: True, 2: True, 3: True}), "w1")
    assert q["holds"] and not q["node_member"] and q["member_id"] == ""


def test_parsed_documents_are_accepted(quorum: Callable[..., dict[str, Any]]) -> None:
    q = quorum(json.loads(_members("cp1")), json.loads(_health({1: True})), "cp1")
    # the last member: no majority after (kubeforge refuses earlier, as the last control plane)
    assert not q["holds"] and q["members_after"] == 0


# -- etcd_confirmed: which control-plane nodes run a member of the majority's cluster ----------

def _view(cluster: int = 0xEC, leader: int = 0x1, learner: bool = False) -> str:
    status: dict[str, Any] = {"header": {"cluster_id": cluster, "member_id": 7}, "leader": leader}
    if learner:
        status["isLearner"] = True
    return json.dumps([{"Endpoint": "https://127.0.0.1:2379", "Status": status}])


@pytest.fixture
def confirmed(filter_plugin: Callable[[str], ModuleType]) -> Callable[..., dict[str, Any]]:
    return filter_plugin("etcd").etcd_confirmed  # type: ignore[no-any-return]


def test_members_that_agree_are_confirmed(confirmed: Callable[..., dict[str, Any]]) -> None:
    out = confirmed({"cp1": _view(), "cp2": _view(), "cp3": _view()})
    assert out["confirmed"] == ["cp1", "cp2", "cp3"] and out["lost"] == []
    assert out["reference"] == {"cluster_id": "ec", "leader": "1"}


def test_a_wiped_member_that_started_alone_is_lost(confirmed: Callable[..., dict[str, Any]]
                                                   ) -> None:
    # same cluster ID (kubeadm's first member), but it leads a cluster of its own
    out = confirmed({"cp1": _view(leader=0x9), "cp2": _view(), "cp3": _view()})
    assert out["confirmed"] == ["cp2", "cp3"] and out["lost"] == ["cp1"]
    assert "leader 9" in out["why"]["cp1"]


def test_a_member_that_does_not_run_or_still_learns_is_not_confirmed(
        confirmed: Callable[..., dict[str, Any]]) -> None:
    out = confirmed({"cp1": _view(), "cp2": "not running", "cp3": _view(learner=True),
                     "cp4": _view(), "cp5": _view()})
    assert out["lost"] == ["cp2", "cp3"]
    assert "does not answer: not running" in out["why"]["cp2"]
    assert "learner" in out["why"]["cp3"]


def test_without_a_majority_nobody_is_confirmed(confirmed: Callable[..., dict[str, Any]]) -> None:
    out = confirmed({"cp1": _view(), "cp2": "Error: context deadline exceeded", "cp3": "{"})
    assert out["reference"] is None and out["confirmed"] == []
    assert "no majority" in out["why"]["cp1"]
