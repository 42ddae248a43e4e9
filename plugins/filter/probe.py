"""Filters that index the output of the roles' one-round-trip probes.

A probe is a shell task whose lines the tasks after it compare with the declared state, so that
a re-run with nothing to do costs one module call per role instead of one per file or setting:

    sha256sum lines   "<sha256>  <path>"           -> probe_sums:   {path: sha256}
    tagged lines      "<tag> <key> <rest of line>" -> probe_fields: {key: rest} for one tag

and `expected | probe_differs(found)` lists the keys whose found value is another (or missing);
`files | probe_stale(sums, stats)` lists the paths of rendered files ({path, content, mode}) whose
digest, mode or owner on the node is another, and `lines | probe_with_block(block)` is a file the
probe printed with a marked block put in (what blockinfile writes, rendered on the control host).
"""

from __future__ import annotations

import hashlib
import re
import shlex
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


# "path sha256 size ctime inode" lines written by kubeforge.cluster.artifacts (module_utils/fs.py)
SUMS_DB = "/var/lib/kubeforge/sums"
_CACHED = (
    'BEGIN { while ((getline l < db) > 0) { if (split(l, f, " ") == 5) '
    '{ s[f[1]] = f[2]; k[f[1]] = f[3] " " f[4] " " f[5] } } } '
    '{ if (($1 in k) && k[$1] == $2 " " $3 " " $4) print "hit " s[$1] " " $1; '
    'else print "miss " $1 }'
)


def probe_sha256_cmd(paths: Iterable[str], db: str = SUMS_DB) -> str:
    """Shell that prints sha256sum lines for the existing files among paths (no spaces in them).

    A file whose size, ctime (to the nanosecond) and inode match its line in db (the digest
    kubeforge recorded when it installed it) is not read again: a re-run would otherwise hash
    every binary on every node.
    """
    return (f"stat -c '%n %s %.9Z %i' -- {' '.join(shlex.quote(p) for p in paths)} 2>/dev/null"
            f" | awk -v db={shlex.quote(db)} {shlex.quote(_CACHED)}"
            " | while read -r t a b; do if [ \"$t\" = hit ]; then printf '%s  %s\\n' \"$a\" \"$b\";"
            " else sha256sum -- \"$a\"; fi; done")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"probe_sums": probe_sums, "probe_fields": probe_fields,
                "probe_differs": probe_differs, "probe_stale": probe_stale,
                "probe_sha256_cmd": probe_sha256_cmd, "probe_with_block": probe_with_block}
