"""kubeforge.cluster.run_lock: one change to a node at a time, whichever machine drives it.

A playbook runs it three times: `state: free` on every node first (a node whose lock names
another live run fails it, so that a refused run takes no lock anywhere), `state: held` (creates
/run/kubeforge/run.lock, atomically through the shell's noclobber, holding a line that names this
run: control host, ansible-playbook's pid, user, command and start) and at the end `state:
released` (removes the lock if it is this run's). A lock left by a run of this control host that
has ended (killed, failed) is taken over, with a warning; `released` with `ended: true` removes
such a lock (the CLI gives back the locks of a run that failed). /run is a tmpfs, so a reboot
clears a lock too. In check mode `held` only reads, as `free` does."""

from __future__ import annotations

import getpass
import json
import os
import shlex
import socket
import time
from typing import Any

from ansible.errors import AnsibleActionFail  # type: ignore[import-untyped]
from ansible.plugins.action import ActionBase  # type: ignore[import-untyped]

LOCK = "/run/kubeforge/run.lock"
STATES = ("free", "held", "released")


def holder(command: str, pid: int | None = None) -> dict[str, Any]:
    """This run: the ansible-playbook process (the parent of the worker running the action)."""
    pid = pid or os.getppid()
    return {"host": socket.gethostname(), "pid": pid, "user": getpass.getuser(),
            "command": command, "since": _since(pid), "started": _started(pid)}


def _started(pid: int) -> str:
    """The process's start (clock ticks after boot, /proc/PID/stat field 22): it tells this run
    from a later process that reuses its pid. A zombie has ended ("" like a gone one): a run
    killed a moment ago stays one until something reaps it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else ""


def _since(pid: int) -> str:
    """When the process started, from its start ticks and the boot time (/proc/stat btime)."""
    ticks = _started(pid)
    try:
        with open("/proc/stat") as stat:
            btime = next(int(line.split()[1]) for line in stat if line.startswith("btime "))
        at = btime + int(ticks) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def acquire_cmd(line: str, path: str = LOCK) -> str:
    q, d = shlex.quote(path), shlex.quote(os.path.dirname(path))
    return (f"mkdir -p {d} && if ( set -C; printf '%s\\n' {shlex.quote(line)} > {q} ) 2>/dev/null;"
            f" then echo acquired; else printf 'held %s\\n' \"$(cat {q})\"; fi")


def take_cmd(line: str, path: str = LOCK) -> str:
    return f"printf '%s\\n' {shlex.quote(line)} > {shlex.quote(path)} && echo acquired"


def release_cmd(line: str, path: str = LOCK) -> str:
    q = shlex.quote(path)
    return f"if [ \"$(cat {q} 2>/dev/null)\" = {shlex.quote(line)} ]; then rm -f {q}; fi; true"


def alive_here(other: dict[str, Any]) -> bool:
    """Whether the run `other` names still runs, as far as this control host can tell."""
    if other.get("host") != socket.gethostname():
        return True  # another machine's run: this one cannot see it
    pid = other.get("pid")
    # gone, or its pid now taken by a later process: the start differs
    return isinstance(pid, int) and pid > 0 and _started(pid) == other.get("started") != ""


def ended_here(other: dict[str, Any]) -> bool:
    """Whether `other` is a run of this control host that has ended (its lock is safe to remove);
    an unreadable lock names no host and is left alone."""
    return other.get("host") == socket.gethostname() and not alive_here(other)


def describe(other: dict[str, Any]) -> str:
    return (f"`{other.get('command', '?')}` from {other.get('host', '?')} "
            f"(pid {other.get('pid', '?')}, {other.get('user', '?')})")


def busy(node: str, other: dict[str, Any]) -> str:
    return (f"{node} is busy: {describe(other)} holds {LOCK} (since {other.get('since', '?')}). "
            "Nothing was changed. Wait for that run to end. If it ended without releasing the lock "
            f"(its control host crashed or lost the connection), remove the file on {node} "
            f"(`rm {LOCK}`; a reboot clears it too)")


def parse_held(stdout: str) -> dict[str, Any] | None:
    """The holder a node reported (None: the node gave this run the lock)."""
    text = stdout.strip()
    if text.endswith("acquired"):
        return None
    _, _, line = text.partition("held ")
    try:
        other = json.loads(line)
    except ValueError:
        return {"command": line or "an unreadable lock"}
    return other if isinstance(other, dict) else {"command": line}


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = self._task.args
        state = args.get("state", "held")
        if state not in STATES:
            raise AnsibleActionFail(
                f"kubeforge.cluster.run_lock: state {state!r}: one of {', '.join(STATES)}")
        me = holder(str(args.get("command") or os.environ.get("KUBEFORGE_COMMAND")
                        or "ansible-playbook"))
        line = json.dumps(me, sort_keys=True)
        node = str((task_vars or {}).get("inventory_hostname", "this node"))
        result.update(changed=False, holder=me)
        if state == "released":
            if self._play_context.check_mode:
                return result
            if not args.get("ended"):
                self._run(release_cmd(line))
                return result
            other = self._holder()
            if other is not None and ended_here(other):
                # the exact line that run wrote (json.dumps with sorted keys, as held writes it)
                self._run(release_cmd(json.dumps(other, sort_keys=True)))
                result.update(changed=True, released=describe(other))
            return result
        if state == "free" or self._play_context.check_mode:
            other = self._holder()
            if other is not None and other != me and alive_here(other):
                raise AnsibleActionFail(busy(node, other))
            return result
        other = parse_held(self._run(acquire_cmd(line)))
        if other is not None and other != me:
            if alive_here(other):
                raise AnsibleActionFail(busy(node, other))
            self._run(take_cmd(line))
            result["warnings"] = [f"{node}: took over the run lock of an ended run, "
                                  f"{describe(other)}"]
        return result

    def _holder(self) -> dict[str, Any] | None:
        out = self._run(f"cat {shlex.quote(LOCK)} 2>/dev/null; true")
        return parse_held("held " + out) if out.strip() else None

    def _run(self, cmd: str) -> str:
        out = self._low_level_execute_command(cmd, sudoable=True)
        if out.get("rc") != 0:
            said = (out.get("stderr") or out.get("stdout") or "").strip()[:300]
            raise AnsibleActionFail(f"kubeforge.cluster.run_lock: rc {out.get('rc')}: {said}")
        return str(out.get("stdout") or "")
