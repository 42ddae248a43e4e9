"""What remove-node decides from etcd's own answers, on the control host.

`members | etcd_quorum(health, node)` takes the JSON of `etcdctl member list -w json` and of
`etcdctl endpoint health --cluster -w json` (both as text or parsed) and says whether the
cluster keeps a majority of healthy voting members without `node`:

    {members, healthy, down: [voting member names], node_member, node_healthy,
     member_id: the node's member ID in hex ('' when it is no member),
     needed_now, members_after, healthy_after, needed_after, holds: bool}

Learners do not vote, so they count neither as members nor as healthy ones.
"""

from __future__ import annotations

import json
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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"etcd_quorum": etcd_quorum}
