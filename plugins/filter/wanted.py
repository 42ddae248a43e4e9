"""Filters that build the items of a role's wanted state for kubeforge.cluster.probe.

Each returns a list of probe items (dicts with a `step`), so that a role's vars declare what it
wants in a few lines instead of zipping lists in Jinja:

    paths | wanted_items('install', mode='0755')      -> [{path, step, mode}, ...]
    artifacts | wanted_items('install', 'dest')       -> each with path = its dest
    artifacts | wanted_downloads(cache_dir, 'install') -> [{path: cache_dir/<url's file>, sha256}]
    names | wanted_links(link_dir, target_dir, 'install') -> [{path, target, step}]
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any


def wanted_items(items: Iterable[Any], step: str, path_key: str = "path",
                 **fields: Any) -> list[dict[str, Any]]:
    """Paths (strings) or items (dicts, their path under `path_key`) under `step`, with `fields`
    where an item has none."""
    out = []
    for item in items:
        entry = {"path": item} if isinstance(item, str) else dict(item)
        if path_key != "path":
            entry["path"] = entry[path_key]
        out.append({**fields, **entry, "step": step})
    return out


def wanted_downloads(artifacts: Iterable[dict[str, Any]], directory: str,
                     step: str) -> list[dict[str, Any]]:
    """Where kubeforge.cluster.artifacts keeps each downloaded {url, sha256}, with its digest."""
    return [{"path": posixpath.join(directory, str(a["url"]).rsplit("/", 1)[-1]),
             "sha256": a["sha256"], "step": step} for a in artifacts]


def wanted_links(names: Iterable[str], link_dir: str, target_dir: str,
                 step: str) -> list[dict[str, Any]]:
    return [{"path": posixpath.join(link_dir, n), "target": posixpath.join(target_dir, n),
             "step": step} for n in names]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"wanted_items": wanted_items, "wanted_downloads": wanted_downloads,
                "wanted_links": wanted_links}
