"""Action kubeforge.cluster.probe: what differs on a node from the state a role wants, in one read.

A role declares the state it wants (files with a digest or a content, folders, links, services,
kernel settings, packages), each item under the name of the step that makes it so. The action
reads all of it from the node with one shell command over the connection (no Python on the node:
a module run would cost a Python start per node and role, which on a re-run with nothing to do was
most of the time), compares on the control host and returns, per step, whether it has anything to
do and why:

    - name: Read the installed state
      kubeforge.cluster.probe:
        files:
          - {path: /etc/containerd/config.toml, step: restart,
             content: "{{ lookup('template', 'config.toml.j2') }}"}
          - {path: /usr/local/sbin/runc, sha256: "{{ runc.sha256 }}", mode: "0755", step: install}
        dirs: [{path: /etc/containerd, step: install}]
        links: [{path: /usr/local/bin/ctr, target: /opt/kubeforge/bin/ctr, step: install}]
        services: [{name: containerd, active: true, enabled: true, step: start}]
      register: __containerd_state
    # __containerd_state.pending.restart is true when config.toml differs, with the reasons in
    # __containerd_state.differs.restart

Something the probe cannot read counts as different. Files are compared by sha256; a file whose
size, ctime and inode match the line kubeforge recorded when it installed it (SUMS_DB, written by
kubeforge.cluster.artifacts) is not read again, so a re-run does not hash every binary on every
node. `reads` returns files' lines and `commands` named commands' output lines, for what a role
compares itself (a block in /etc/hosts, the swap in use); their values are given back as found,
and so are the digests of files marked `digest: true` (whose wanted content depends on them).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable
from typing import Any

from ansible.errors import AnsibleActionFail  # type: ignore[import-untyped]
from ansible.plugins.action import ActionBase  # type: ignore[import-untyped]

# "path sha256 size ctime inode" lines, written by kubeforge.cluster.artifacts
from ansible_collections.kubeforge.cluster.plugins.module_utils.fs import SUMS_DB

_CACHED = (
    'BEGIN { while ((getline l < db) > 0) { if (split(l, f, " ") == 5) '
    '{ s[f[1]] = f[2]; k[f[1]] = f[3] " " f[4] " " f[5] } } } '
    '{ if (($1 in k) && k[$1] == $2 " " $3 " " $4) print "hit " s[$1] " " $1; '
    'else print "miss " $1 }'
)
KINDS = ("files", "dirs", "links", "services", "sysctls", "packages")
_SAFE = re.compile(r"^[A-Za-z0-9_./@:+=,-]+$")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _safe(value: str, what: str) -> str:
    if not _SAFE.fullmatch(value):
        raise ValueError(f"{what} {value!r}: only letters, digits and _./@:+=,- are allowed")
    return value


def _mode(value: Any, default: int) -> int:
    """A mode as a role writes it: "0644" (octal text) or 420 (YAML's unquoted 0644)."""
    if value is None or value == "":
        return default
    return value if isinstance(value, int) else int(str(value), 8)


def _quoted(values: Iterable[str]) -> str:
    return " ".join(shlex.quote(v) for v in values)


def sha256_cmd(paths: list[str], db: str = SUMS_DB) -> str:
    """Shell printing `sum SHA256 PATH` for the existing files among paths; a file whose size,
    ctime (to the nanosecond) and inode match its line in db is not read again."""
    return (f"stat -c '%n %s %.9Z %i' -- {_quoted(paths)} 2>/dev/null"
            f" | awk -v db={shlex.quote(db)} {shlex.quote(_CACHED)}"
            " | while read -r t a b; do if [ \"$t\" = hit ];"
            " then printf 'sum %s %s\\n' \"$a\" \"$b\";"
            " else printf 'sum %s\\n' \"$(sha256sum -- \"$a\" | sed 's/  / /')\"; fi; done")


def normalize(wanted: dict[str, Any]) -> dict[str, Any]:
    """The arguments checked and completed with their defaults; ValueError says what is wrong."""
    out: dict[str, Any] = {k: [] for k in KINDS}
    for kind in KINDS:
        for item in wanted.get(kind) or []:
            if not isinstance(item, dict) or not item.get("step"):
                raise ValueError(f"{kind}: every item needs a step, got {item!r}")
            item = dict(item)
            _safe(str(item["step"]), "step")
            key = "name" if kind in ("services", "packages") else "key" if kind == "sysctls" \
                else "path"
            if not item.get(key):
                raise ValueError(f"{kind}: every item needs a {key}, got {item!r}")
            _safe(str(item[key]), key)
            if kind in ("files", "dirs"):
                item["mode"] = f"{_mode(item.get('mode'), 0o644 if kind == 'files' else 0o755):o}"
                item["owner"] = str(item.get("owner") or "root:root")
                if "content" in item and item["content"] is not None:
                    item["sha256"] = hashlib.sha256(str(item.pop("content")).encode()).hexdigest()
            if kind == "links":
                _safe(str(item.get("target") or ""), "link target")
            out[kind].append(item)
    out["reads"] = [_safe(str(p), "path") for p in wanted.get("reads") or []]
    commands = wanted.get("commands") or {}
    for name in commands:
        if not _NAME.fullmatch(str(name)):
            raise ValueError(f"commands: name {name!r}: letters, digits and _ only")
    out["commands"] = {str(k): str(v) for k, v in commands.items()}
    return out


def script(w: dict[str, Any]) -> str:
    """One shell command that prints tagged lines for everything `w` (normalized) names."""
    parts: list[str] = []
    digests = [f["path"] for f in w["files"] if f.get("sha256") or f.get("digest")]
    if digests:
        parts.append(sha256_cmd(digests))
    stats = [i["path"] for i in w["files"] + w["dirs"]]
    if stats:
        parts.append(f"stat -c 'stat %n %a %U:%G %F' -- {_quoted(stats)} 2>/dev/null")
    if w["links"]:
        parts.append(f"for l in {_quoted(i['path'] for i in w['links'])}; do "
                     "printf 'link %s %s\\n' \"$l\" \"$(readlink -- \"$l\")\"; done")
    if w["services"]:
        parts.append(f"for s in {_quoted(i['name'] for i in w['services'])}; do "
                     "printf 'service %s %s %s\\n' \"$s\" "
                     "\"$(systemctl is-active \"$s\" 2>/dev/null)\" "
                     "\"$(systemctl is-enabled \"$s\" 2>/dev/null)\"; done")
    if w["sysctls"]:
        parts.append(f"for k in {_quoted(i['key'] for i in w['sysctls'])}; do "
                     "printf 'sysctl %s %s\\n' \"$k\" \"$(sysctl -n \"$k\" 2>/dev/null)\"; done")
    if w["packages"]:
        parts.append("dpkg-query -W -f='pkg ${Package} ${db:Status-Status}\\n' "
                     f"{_quoted(i['name'] for i in w['packages'])} 2>/dev/null")
    for path in w["reads"]:
        parts.append(f"sed 's|^|read {path} |' {shlex.quote(path)} 2>/dev/null")
    for name, cmd in w["commands"].items():
        parts.append(f"{{ {cmd.strip().rstrip(';')}\n}} 2>/dev/null | sed 's/^/out {name} /'")
    parts.append("true")
    return ";\n".join(parts)


def parse(stdout: str) -> dict[str, Any]:
    """The tagged lines, indexed: {tag: {key: rest}}, and reads/outputs as lists of lines."""
    found: dict[str, Any] = {"sum": {}, "stat": {}, "link": {}, "service": {}, "sysctl": {},
                             "pkg": {}, "read": {}, "out": {}}
    for line in stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag not in found:
            continue
        if tag == "sum":
            digest, _, path = rest.partition(" ")
            found["sum"][path] = digest
        elif tag in ("read", "out"):
            key, _, text = rest.partition(" ")
            found[tag].setdefault(key, []).append(text)
        else:
            key, _, value = rest.partition(" ")
            found[tag][key] = value
    return found


def _file_state(stat: str | None) -> str | None:
    # stat's %F says "regular empty file" for an empty one
    return stat.replace("regular empty file", "regular file") if stat else stat


def compare(w: dict[str, Any], found: dict[str, Any]) -> dict[str, list[str]]:
    """{step: [what differs]} for every step `w` names (an empty list: nothing to do)."""
    differs: dict[str, list[str]] = {i["step"]: [] for kind in KINDS for i in w[kind]}
    for f in w["files"] + w["dirs"]:
        kind = "regular file" if f in w["files"] else "directory"
        state = _file_state(found["stat"].get(f["path"]))
        want = f"{f['mode']} {f['owner']} {kind}"
        if state is None:
            differs[f["step"]].append(f"{f['path']}: missing")
            continue
        if state != want:
            differs[f["step"]].append(f"{f['path']}: {state} (want {want})")
        if f.get("sha256") and found["sum"].get(f["path"]) != f["sha256"]:
            differs[f["step"]].append(f"{f['path']}: content differs")
    for link in w["links"]:
        target = found["link"].get(link["path"]) or ""
        if target != link["target"]:
            differs[link["step"]].append(
                f"{link['path']}: links to {target or 'nothing'} (want {link['target']})")
    for s in w["services"]:
        active, _, enabled = (found["service"].get(s["name"]) or "").partition(" ")
        for field, value, word in (("active", active, "active"),
                                   ("enabled", enabled, "enabled")):
            want = s.get(field)
            if want is not None and (value == word) != bool(want):
                differs[s["step"]].append(f"{s['name']}: {field} is {value or 'unknown'} "
                                          f"(want {'' if want else 'not '}{word})")
    for k in w["sysctls"]:
        value = " ".join((found["sysctl"].get(k["key"]) or "").split())
        want = " ".join(str(k["value"]).split())
        if value != want:
            differs[k["step"]].append(f"{k['key']} = {value or 'unset'} (want {want})")
    for p in w["packages"]:
        status = found["pkg"].get(p["name"])
        if status != "installed":
            differs[p["step"]].append(f"package {p['name']}: {status or 'not installed'}")
    return differs


def result(w: dict[str, Any], stdout: str) -> dict[str, Any]:
    found = parse(stdout)
    differs = compare(w, found)
    services = {name: dict(zip(("active", "enabled"), state.split(" ", 1), strict=False))
                for name, state in found["service"].items()}
    return {"changed": False, "pending": {step: bool(why) for step, why in differs.items()},
            "differs": differs, "services": services,
            "sha256": {f["path"]: found["sum"].get(f["path"]) for f in w["files"]
                       if f.get("digest")},
            "contents": {p: found["read"].get(p, []) for p in w["reads"]},
            "outputs": {n: found["out"].get(n, []) for n in w["commands"]}}


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = super().run(tmp, task_vars)
        try:
            wanted = normalize(self._task.args)
        except (ValueError, TypeError) as exc:
            raise AnsibleActionFail(f"kubeforge.cluster.probe: {exc}") from None
        read = self._low_level_execute_command(script(wanted), sudoable=True)
        if read.get("rc") != 0:
            raise AnsibleActionFail(f"reading the node's state failed (rc {read.get('rc')}): "
                                    f"{read.get('stderr', '').strip()[-1000:]}")
        out.update(result(wanted, read.get("stdout", "")))
        return out
