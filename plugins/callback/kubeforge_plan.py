"""Ansible callback: what a check-mode run would change, written to a JSON file for
`kubeforge plan`.

Enabled in ansible.cfg; idle unless KUBEFORGE_PLAN names the output file. For every task result
it keeps what a plan shows: the host, the play, the role, the task's name and action, whether it
would change something, the files it names and the diff Ansible computed (`--diff`); a task
that check mode skipped (a command: kubeadm, helm) counts as one that would run. A no_log
task's result keeps no content at all, only that it would change. Unreachable hosts and failures
are recorded too: a plan reports them rather than guessing.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]

DOCUMENTATION = """
    name: kubeforge_plan
    type: aggregate
    short_description: record what a check-mode run would change, for kubeforge plan
    description:
      - Records each task result that would change something (with its diff), each task that
        check mode skipped (it would run), each unreachable host and each failure.
      - Writes them to the file named by the KUBEFORGE_PLAN environment variable when the
        playbook ends; without that variable the callback stays idle.
    requirements:
      - enabled in callbacks_enabled
"""

# result keys that name the file a task writes
PATH_KEYS = ("dest", "path")
# a service task in check mode on a fresh node: the run writes (or installs) the unit first
UNIT_NOT_YET = "Could not find the requested service"


def _diffs(result: dict[str, Any]) -> list[dict[str, str]]:
    raw = result.get("diff")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    out = []
    for d in items:
        if not isinstance(d, dict):
            continue
        entry = {k: str(d[k]) for k in ("before_header", "after_header", "before", "after",
                                         "prepared") if d.get(k) not in (None, "")}
        if entry:
            out.append(entry)
    return out


def record(host: str, play: str, role: str, task: str, action: str, result: dict[str, Any],
           no_log: bool) -> dict[str, Any] | None:
    """One task result as the plan keeps it (None: nothing to show)."""
    if UNIT_NOT_YET in str(result.get("msg", "")):
        result = {"changed": True}  # it would run
    if not result.get("changed"):
        return None
    entry: dict[str, Any] = {"host": host, "play": play, "role": role, "task": task,
                             "action": action, "changed": True}
    if no_log or result.get("_ansible_no_log"):
        entry["hidden"] = True  # a secret's task: not even its diff leaves the run
        return entry
    for key in PATH_KEYS:
        if isinstance(result.get(key), str):
            entry["paths"] = [result[key]]
            break
    if isinstance(result.get("changes"), list):  # kubeforge.cluster.files: the paths that change
        entry["paths"] = [str(p) for p in result["changes"]]
    diffs = _diffs(result)
    if diffs:
        entry["diff"] = diffs
    if isinstance(result.get("results"), list):  # a loop: the items that would change
        entry["items"] = [str(r.get("item", "")) for r in result["results"]
                          if isinstance(r, dict) and r.get("changed")]
    return entry


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kubeforge_plan"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._out = os.environ.get("KUBEFORGE_PLAN", "")
        self.disabled = not self._out
        self._play = ""
        self._changes: list[dict[str, Any]] = []
        self._unreachable: dict[str, str] = {}
        self._failed: list[dict[str, str]] = []

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._play = play.get_name()

    def _where(self, result: Any) -> tuple[str, str, str, str]:
        task = result._task
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        # the role is shown as the step: the name without Ansible's "role : " prefix
        name = str(task.get_name()).removeprefix(f"{role} : ")
        return result._host.get_name(), role, name, task.action

    def v2_runner_on_ok(self, result: Any) -> None:
        host, role, name, action = self._where(result)
        entry = record(host, self._play, role, name, action, result._result,
                       bool(result._task.no_log))
        if entry is not None:
            self._changes.append(entry)

    def v2_runner_on_skipped(self, result: Any) -> None:
        # a task that check mode skipped (a command, kubeadm) would run; one whose condition was
        # false would not
        res = result._result
        if "check mode" not in str(res.get("msg", "")) or ("skip_reason" in res and \
                str(res["skip_reason"]).startswith("Conditional")):
            return
        host, role, name, action = self._where(result)
        entry = record(host, self._play, role, name, action, {"changed": True},
                       bool(result._task.no_log))
        if entry is not None:
            entry["would_run"] = True
            self._changes.append(entry)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if ignore_errors:
            return
        host, role, name, _ = self._where(result)
        msg = "" if result._task.no_log else str(result._result.get("msg", ""))[:500]
        self._failed.append({"host": host, "role": role, "task": name, "msg": msg})

    def v2_runner_on_unreachable(self, result: Any) -> None:
        host = result._host.get_name()
        self._unreachable[host] = str(result._result.get("msg", ""))[:300]

    def v2_playbook_on_stats(self, stats: Any) -> None:
        with open(self._out, "w", encoding="utf-8") as out:
            json.dump({"changes": self._changes, "unreachable": self._unreachable,
                       "failed": self._failed}, out, indent=1)
