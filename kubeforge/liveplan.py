"""`kubeforge plan`'s reading of a live environment: what a deploy would change, host by host.

The deploy playbook runs in check mode with `--diff`; the callback kubeforge_plan
(plugins/callback) records every task that would change something, with the diff Ansible
computed, and every task check mode skipped (it would run). This module turns those records into
changes grouped by host and by step, renders them for a person (`render`) or a program
(`as_json`), and says what the exit code is: 0 nothing to do, 2 changes pending, 1 the plan is
incomplete (a host did not answer, a task failed).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import yaml

from kubeforge.addons import PlannedRelease
from kubeforge.spec.models import ClusterSpec
from kubeforge.status import Report

# the modules that write files, install packages and binaries, and run services
FILE_ACTIONS = {"ansible.builtin.template", "ansible.builtin.copy", "ansible.builtin.file",
                "ansible.builtin.lineinfile", "ansible.builtin.blockinfile",
                "kubeforge.cluster.files"}
PACKAGE_ACTIONS = {"ansible.builtin.apt", "ansible.builtin.package",
                   "ansible.builtin.dpkg_selections"}
BINARY_ACTIONS = {"kubeforge.cluster.artifacts"}
SERVICE_ACTIONS = {"ansible.builtin.systemd_service", "ansible.builtin.systemd",
                   "ansible.builtin.service"}
ADDON_ROLES = {"addons"}
KUBEADM_WORDS = ("kubeadm", "join", "init", "upgrade")

# what a person reads first: the order of the sections of a host
KINDS = ("node", "kubeadm", "package", "binary", "file", "service", "release", "command")
TITLES = {"node": "node", "kubeadm": "kubeadm", "package": "packages", "binary": "binaries",
          "file": "files", "service": "services", "release": "Helm releases",
          "command": "commands"}
# how the summary line counts each kind of change found on the hosts, in its order
SUMMARY = (("file", "file", "to change"), ("package", "package", "to install"),
           ("binary", "binary", "to install"), ("service", "service", "to change"),
           ("kubeadm", "kubeadm action", "to run"), ("command", "command", "to run"))

# lines of a diff whose key names a secret: their values never reach the output
_SECRET_LINE = re.compile(
    r"^(?P<head>[+\- ]?\s*[\"']?[\w.-]*(password|passwd|secret|token|private[_-]?key|"
    r"certificate[_-]?key|encryption|apikey|api[_-]key)[\w.-]*[\"']?\s*[:=]\s*).+$",
    re.IGNORECASE)
_TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")
_SECRETBOX = re.compile(r"(secret:\s*)\S+")


def mask(text: str) -> str:
    """A diff with the values of secret-named keys and bootstrap tokens replaced by ***."""
    out = []
    for line in text.splitlines():
        m = _SECRET_LINE.match(line)
        line = m.group("head") + "***" if m else line
        out.append(_SECRETBOX.sub(r"\1***", _TOKEN.sub("***", line)))
    return "\n".join(out)


@dataclass(frozen=True)
class Change:
    host: str
    step: str  # the role, else the play
    kind: str  # one of KINDS
    what: str  # the file, the release, the task
    diff: str = ""
    hidden: bool = False  # a secret's task: shown without any content


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    # what the cluster has and the spec does not (a deploy leaves it alone), one line each
    outside: list[str] = field(default_factory=list)
    # what could not be read and does not make the plan wrong (a cluster not built yet)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.unreachable or self.failed:
            return 1
        return 2 if self.changes or self.outside else 0

    def summary(self) -> str:
        changes = self.changes
        if self.exit_code == 0:
            return "Plan: nothing to do."
        by_kind: Counter[str] = Counter(c.kind for c in changes)
        hosts = {k: len({c.host for c in changes if c.kind == k}) for k in by_kind}
        parts = []
        if by_kind["node"]:
            parts.append(f"{_n(by_kind['node'], 'node')} to join")
        for kind, noun, verb in SUMMARY:
            if by_kind[kind]:
                parts.append(f"{_n(by_kind[kind], noun)} {verb} on {_n(hosts[kind], 'host')}")
        if by_kind["release"]:
            parts.append(f"{_n(by_kind['release'], 'release')} to install or upgrade")
        if self.outside:
            parts.append(f"{_n(len(self.outside), 'member')} of the cluster outside the spec")
        line = "Plan: " + (", ".join(parts) if parts else "no change found") + "."
        if self.unreachable or self.failed:
            line += (f" Incomplete: {_n(len(self.unreachable), 'host')} did not answer, "
                     f"{_n(len(self.failed), 'task')} failed.")
        return line


def _n(count: int, noun: str) -> str:
    plural = {"binary": "binaries"}.get(noun, noun + "s")
    return f"{count} {noun if count == 1 else plural}"


def _diff_text(diffs: list[dict[str, str]]) -> str:
    parts = []
    for d in diffs:
        if "prepared" in d:
            parts.append(d["prepared"])
        elif "before" in d or "after" in d:
            parts.append(_unified(d.get("before", ""), d.get("after", ""),
                                  d.get("before_header", "before"),
                                  d.get("after_header", "after")))
    return mask("\n".join(p for p in parts if p).rstrip("\n"))


def _unified(before: str, after: str, a: str, b: str) -> str:
    return "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                          fromfile=a, tofile=b, lineterm=""))


def _header_path(diff: dict[str, str]) -> str:
    """The file a diff is about: its header, without a note such as " (mode 0644)"."""
    header = diff.get("after_header") or diff.get("before_header") or ""
    return header.split(" (", 1)[0]


def _files(entry: dict[str, Any], host: str, step: str, hidden: bool) -> list[Change]:
    """One change per file a task writes, each with its own part of the diff."""
    diffs: list[dict[str, str]] = entry.get("diff", [])
    paths = list(entry.get("paths") or [])
    for d in diffs:  # a diff names its file even when the result does not
        header = _header_path(d)
        if header.startswith("/") and header not in paths:
            paths.append(header)
    if not paths:
        return [Change(host, step, "file", entry.get("task", ""),
                       "" if hidden else _diff_text(diffs), hidden)]
    out = []
    # Ansible's own scratch files on the control host are not a change to anything
    for path in (p for p in paths if "/.ansible/tmp/" not in p):
        mine = [d for d in diffs if _header_path(d) == path]
        if not mine and len(paths) == 1:
            mine = diffs
        out.append(Change(host, step, "file", path, "" if hidden else _diff_text(mine), hidden))
    return out


def classify(entry: dict[str, Any]) -> list[Change]:
    """One callback record as changes: their kind and what each names."""
    action, role, task = entry.get("action", ""), entry.get("role", ""), entry.get("task", "")
    host, step = entry["host"], role or entry.get("play", "")
    hidden = bool(entry.get("hidden"))
    diff = "" if hidden else _diff_text(entry.get("diff", []))
    if action in FILE_ACTIONS:
        return _files(entry, host, step, hidden)
    if role in ADDON_ROLES:
        return [Change(host, step, "release", task, diff, hidden)]
    kind = "command"
    what = task
    if action in PACKAGE_ACTIONS:
        kind, what = "package", ", ".join(entry.get("items") or []) or task
    elif action in BINARY_ACTIONS:
        kind = "binary"
    elif action in SERVICE_ACTIONS:
        kind = "service"
    elif "join" in task.lower() and role in ("kubeadm_worker", "kubeadm_join",
                                             "kubeadm_control_plane"):
        kind = "node"
    elif role.startswith("kubeadm") or any(w in task.lower() for w in KUBEADM_WORDS):
        kind = "kubeadm"
    return [Change(host, step, kind, what, diff, hidden)]


_RELEASE_TASK = re.compile(r"^Helm release \| (?P<ns>[^/\s]+)/(?P<name>\S+)")


def release_key(change: Change) -> tuple[str, str] | None:
    """(namespace, name) of a release change, from the addons role's task name."""
    m = _RELEASE_TASK.match(change.what) if change.kind == "release" else None
    return (m["ns"], m["name"]) if m else None


def with_values(change: Change, release: PlannedRelease,
                deployed: dict[str, Any] | None) -> Change:
    """A release change that says install or upgrade, the chart, and the values diff (masked):
    the role's own task shows nothing, its values may hold secrets."""
    verb = "install" if deployed is None else "upgrade"
    chart = " ".join(x for x in (release.chart, release.version) if x)
    before = "" if deployed is None else yaml.safe_dump(deployed, sort_keys=True)
    after = yaml.safe_dump(release.values, sort_keys=True) if release.values else ""
    diff = mask(_unified(before, after, "deployed values", "declared values"))
    return replace(change, what=f"{release.namespace}/{release.name}: {verb} {chart}",
                   diff=diff, hidden=False)


def after_init(plan: Plan, spec: ClusterSpec, releases: list[PlannedRelease]) -> bool:
    """On machines without a cluster, check mode stops where a task needs one (the playbooks'
    "Stop here in check mode" tasks): what follows kubeadm init is added from the spec. Returns
    whether the plan builds the cluster."""
    first = spec.control_plane[0].name
    if not any(c.host == first and c.kind == "kubeadm" and "kubeadm init" in c.what
               for c in plan.changes):
        return False
    joining = {c.host for c in plan.changes if c.kind == "node"}
    plan.changes += [Change(h.name, "join", "node", "join the cluster after kubeadm init")
                     for h in spec.hosts if h.name != first and h.name not in joining]
    plan.changes.append(Change(first, "cni", "command",
                               f"apply the pod network ({spec.cni.plugin}) after kubeadm init"))
    plan.changes += [with_values(Change(first, "addons", "release", ""), r, None)
                     for r in releases]
    return True


def from_records(data: dict[str, Any]) -> Plan:
    return Plan([c for e in data.get("changes", []) for c in classify(e)],
                dict(data.get("unreachable", {})), list(data.get("failed", [])))


def render(plan: Plan, diffs: bool = True) -> str:
    """The plan for a person: by host, then by step, then by kind; the summary line last."""
    lines: list[str] = []
    shown = plan.changes
    for host in sorted({c.host for c in shown}):
        lines.append(f"{host}:")
        mine = [c for c in shown if c.host == host]
        for step in dict.fromkeys(c.step for c in mine):
            lines.append(f"  {step}:")
            for kind in KINDS:
                for c in (c for c in mine if c.step == step and c.kind == kind):
                    note = " (content hidden: it holds a secret)" if c.hidden else ""
                    lines.append(f"    {TITLES[kind]}: {c.what}{note}")
                    if diffs and c.diff:
                        lines += ["      " + d for d in c.diff.splitlines()]
    if plan.outside:
        lines.append("outside the spec (a deploy leaves these alone):")
        lines += [f"  {line}" for line in plan.outside]
    lines += [f"note: {n}" for n in plan.notes]
    for host, msg in sorted(plan.unreachable.items()):
        lines.append(f"{host}: did not answer ({msg}); nothing is known about it")
    for f in plan.failed:
        lines.append(f"{f['host']}: the plan could not read {f.get('role') or ''} "
                     f"({f['task']}): {f.get('msg', '')}")
    lines.append(plan.summary())
    return "\n".join(lines)


def as_json(plan: Plan) -> dict[str, Any]:
    """The plan for a program: its exit code, summary, changes, unreachable hosts, failures."""
    return {"exit_code": plan.exit_code, "summary": plan.summary(),
            "changes": [asdict(c) for c in plan.changes],
            "unreachable": plan.unreachable, "failed": plan.failed, "outside": plan.outside,
            "notes": plan.notes}


def outside_spec(spec: ClusterSpec, report: Report) -> list[str]:
    """Nodes and etcd members the cluster has and the spec does not name: joined by hand, or
    left behind by a removal that did not finish."""
    hosts = {h.name for h in spec.hosts}
    cps = {h.name for h in spec.control_plane}
    out = [f"node {n.name}: in the cluster, not in the spec (joined by hand?): declare it under "
           f"hosts, or `kubeforge remove-node {spec.name} {n.name}`"
           for n in report.nodes if n.name not in hosts]
    out += [f"etcd member {m.name} ({m.endpoint}): not a control-plane host of the spec: declare "
            f"it, or remove it (`kubeforge remove-node {spec.name} {m.name}`, or `etcdctl member "
            "remove` for a member without a node)"
            for m in report.members if m.name not in cps]
    return out
