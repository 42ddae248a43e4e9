"""A filter that tells whether tasks with some tags run under this run's --tags/--skip-tags.

A role that writes the files of two steps in one module run (one Python start less on a fresh
node) may do so only when both steps run:

    ansible_run_tags | tags_selected(ansible_skip_tags, 'containerd', 'containerd_configure')

is true when --tags selects a task tagged with any of those tags (`all`, the default, and
`tagged` select every tagged task) and --skip-tags names none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def tags_selected(run_tags: Iterable[str], skip_tags: Iterable[str], *tags: str) -> bool:
    """Whether a task tagged `tags` runs under --tags `run_tags` and --skip-tags `skip_tags`."""
    run, skip, own = set(run_tags), set(skip_tags), set(tags)
    return bool(run & ({"all", "tagged"} | own)) and not skip & own


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"tags_selected": tags_selected}
