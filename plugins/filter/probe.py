"""Filters that index the output of the roles' one-round-trip probes.

A probe is a shell task whose lines the tasks after it compare with the declared state, so that
a re-run with nothing to do costs one module call per role instead of one per file or setting:

    sha256sum lines   "<sha256>  <path>"           -> probe_sums:   {path: sha256}
    tagged lines      "<tag> <key> <rest of line>" -> probe_fields: {key: rest} for one tag

and `expected | probe_differs(found)` lists the keys whose found value is another (or missing);
`files | probe_stale(sums, stats)` lists the paths of rendered files ({path, content, mode}) whose
digest, mode or owner on the node is another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

_SUM = re.compile(r"^([0-9a-f]{64})  (.+)$")


def probe_sums(lines: Iterable[str]) -> dict[str, str]:
    """{path: sha256} from the sha256sum lines of a probe."""
    return {m.group(2): m.group(1) for m in map(_SUM.match, lines) if m}


def probe_fields(lines: Iterable[str], tag: str) -> dict[str, str]:
    """{key: rest} from the lines "TAG KEY REST" of a probe (REST may be empty)."""
    out: dict[str, str] = {}
    prefix = f"{tag} "
    for line in lines:
        if line.startswith(prefix):
            key, _, rest = line[len(prefix):].partition(" ")
            out[key] = rest
    return out


def probe_differs(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """The keys of `expected` whose value in `found` is missing or another, in order."""
    return [key for key, value in expected.items() if found.get(key) != value]


def probe_stale(files: Iterable[dict[str, Any]], sums: dict[str, str], stats: dict[str, str],
                suffix: str = " regular file") -> list[str]:
    """Paths of files whose sha256 or `stat %a %U:%G` (+ suffix) on the node is another."""
    stale = []
    for item in files:
        digest = hashlib.sha256(str(item["content"]).encode()).hexdigest()
        state = f"{int(str(item.get('mode', '0644')), 8):o} root:root{suffix}"
        if sums.get(item["path"]) != digest or stats.get(item["path"]) != state:
            stale.append(item["path"])
    return stale


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_sums": probe_sums, "probe_fields": probe_fields,
                "probe_differs": probe_differs, "probe_stale": probe_stale}
