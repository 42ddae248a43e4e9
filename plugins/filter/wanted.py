"""Filters that build the items of a role's wanted state for kubeforge.cluster.probe.

Each returns a list of probe items (dicts with a `step`), so that a role's vars declare what it
wants in a few lines instead of zipping lists in Jinja:

    paths | wanted_items('install', mode='0755')      -> [{path, step, mode}, ...]
    artifacts | wanted_items('install', path_key='dest') -> each with path = its dest
    names | wanted_items('packages', 'name')          -> [{name, step}, ...]
    artifacts | wanted_downloads(cache_dir, 'install') -> [{path: cache_dir/<url's file>, sha256}]
    names | wanted_links(link_dir, target_dir, 'install') -> [{path, target, step}]
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any


def wanted_items(items: Iterable[Any], step: str, key: str = "path",
                 path_key: str | None = None, **fields: Any) -> list[dict[str, Any]]:
    """Items under `step`: a string becomes {key: it}, a dict is kept (with `path` copied from
    `path_key` when given); `fields` fill in what an item does not set."""
    out = []
    for item in items:
        entry = {key: item} if isinstance(item, str) else dict(item)
        if path_key is not None:
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
