"""What remove-node decides from etcd's own answers, on the control host.

`members | etcd_quorum(health, node)` takes the JSON of `etcdctl member list -w json` and of
`etcdctl endpoint health --cluster -w json` (both as text or parsed) and says whether the
cluster keeps a majority of healthy voting members without `node`:

    {members, healthy, down: [voting member names], node_member, node_healthy,
     member_id: the node's member ID in hex ('' when it is no member),
     needed_now, members_after, healthy_after, needed_after, holds: bool}

Learners do not vote, so they count neither as members nor as healthy ones.

`views | etcd_confirmed` takes, per control-plane node, what `etcdctl endpoint status -w json`
printed against that node's own etcd (or anything else when it does not run) and says which
nodes run a member of the cluster the majority sees:

    {reference: {cluster_id, leader} or None, confirmed: [names], lost: [names],
     why: {name: reason}}

A majority of the nodes must agree on the cluster ID and on the leader; a node that lost its data
and started a cluster of its own (same ID: kubeadm derives it from the same first member) has
itself as leader, so it is not confirmed. Learners are not confirmed yet.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any


def _parsed(doc: Any) -> Any:
    return json.loads(doc) if isinstance(doc, str) else doc


def etcd_quorum(members_doc: Any, health_doc: Any, node: str) -> dict[str, Any]:
    members = (_parsed(members_doc) or {}).get("members") or []
    # etcd leaves isLearner out of the JSON when it is false
    voters = [m for m in members if not m.get("isLearner")]
    healthy_urls = {e.get("endpoint") for e in _parsed(health_doc) or [] if e.get("health")}
    names = [str(m.get("name", "")) for m in voters]
    healthy = [str(m.get("name", "")) for m in voters
               if (m.get("clientURLs") or [None])[0] in healthy_urls]
    own = [m for m in members if m.get("name") == node]
    node_member = node in names
    node_healthy = node in healthy
    needed_now = len(names) // 2 + 1
    members_after = len(names) - (1 if node_member else 0)
    healthy_after = len(healthy) - (1 if node_healthy else 0)
    needed_after = members_after // 2 + 1
    return {
        "members": names, "healthy": healthy, "down": [n for n in names if n not in healthy],
        "node_member": bool(own), "node_healthy": node_healthy,
        "member_id": f"{int(own[0]['ID']):x}" if own else "",
        "needed_now": needed_now, "members_after": members_after,
        "healthy_after": healthy_after, "needed_after": needed_after,
        "holds": len(healthy) >= needed_now and healthy_after >= needed_after,
    }


def _status(view: Any) -> dict[str, Any] | None:
    try:
        doc = _parsed(view)
    except ValueError:
        return None
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict):
        return None
    status = doc[0].get("Status")
    return status if isinstance(status, dict) else None


def etcd_confirmed(views: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, tuple[int, int]] = {}
    why: dict[str, str] = {}
    for name, view in views.items():
        status = _status(view)
        if status is None:
            why[name] = "its etcd does not answer: " + " ".join(str(view).split())[:200]
            continue
        seen[name] = (int(status.get("header", {}).get("cluster_id", 0)),
                      int(status.get("leader", 0)))
        if status.get("isLearner"):
            why[name] = "its etcd is still a learner"
    counts = Counter(v for v in seen.values() if v[1])
    top = counts.most_common(1)
    reference = top[0][0] if top and top[0][1] > len(views) // 2 else None
    confirmed = []
    for name in views:
        if name in why:
            continue
        if reference is None:
            why[name] = "no majority of the members agrees on the cluster and its leader"
        elif seen[name] != reference:
            why[name] = (f"its etcd sees cluster {seen[name][0]:x} with leader {seen[name][1]:x}, "
                         f"the others cluster {reference[0]:x} with leader {reference[1]:x}")
        else:
            confirmed.append(name)
    return {"reference": {"cluster_id": f"{reference[0]:x}", "leader": f"{reference[1]:x}"}
            if reference else None,
            "confirmed": confirmed, "lost": [n for n in views if n not in confirmed], "why": why}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"etcd_quorum": etcd_quorum, "etcd_confirmed": etcd_confirmed}
