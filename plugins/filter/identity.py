"""Which nodes share an identity: the preflight role's uniqueness check, once for the whole play.

    preflight_unique_hosts | identity_clashes(hostvars)

takes the hosts and every host's `preflight_identity` ({hostname, mac, machine_id}; a host
without one, or an empty value, is not compared) and returns, per host that shares a value, the
messages its preflight report lists. One pass over the hosts: comparing each host with every
other in Jinja cost the control host seconds at 40 nodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

KEYS = ("hostname", "mac", "machine_id")


def identity_clashes(hosts: Iterable[str], hostvars: Mapping[str, Any]) -> dict[str, list[str]]:
    hosts = list(hosts)
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    identities: dict[str, Mapping[str, Any]] = {}
    for host in hosts:
        identity = (hostvars.get(host) or {}).get("preflight_identity")
        if not isinstance(identity, Mapping):
            continue
        identities[host] = identity
        for key in KEYS:
            value = str(identity.get(key) or "")
            if value:
                users[(key, value)].append(host)
    out: dict[str, list[str]] = {}
    for host, identity in identities.items():
        for key in KEYS:
            value = str(identity.get(key) or "")
            others = [h for h in users.get((key, value), []) if h != host] if value else []
            if others:
                out.setdefault(host, []).append(
                    f"{key} {value} is also used by {', '.join(others)}: every node needs its own")
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"identity_clashes": identity_clashes}
