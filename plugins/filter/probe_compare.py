"""Filters for what a role compares with what kubeforge.cluster.probe read:

`expected | probe_differs(found)` lists the keys whose found value is another (or missing), and
`lines | probe_with_block(block)` is a file the probe read with a marked block put in (what
blockinfile writes, rendered on the control host).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def probe_differs(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """The keys of `expected` whose value in `found` is missing or another, in order."""
    return [key for key, value in expected.items() if found.get(key) != value]


def probe_with_block(lines: Iterable[str], block: list[str]) -> str:
    """The file `lines` with `block` (its first and last lines are its markers) in place of the
    lines between those markers, or appended when the file has no such block; as file content."""
    out = list(lines)
    begin, end = block[0], block[-1]
    if begin in out and end in out[out.index(begin):]:
        first = out.index(begin)
        last = out.index(end, first)
        out[first:last + 1] = block
    else:
        out += block
    return "".join(f"{line}\n" for line in out)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_differs": probe_differs, "probe_with_block": probe_with_block}
