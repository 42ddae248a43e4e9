"""Ansible callback: per-task and per-play wall times written to a JSON file.

Enabled in ansible.cfg; it does nothing unless KUBEFORGE_TIMINGS names the output file
(bench/run.py sets it). With the linear strategy a task's wall time runs from its start to the
next task's start (that is what the run waited for); the per-host times come from the runner
events and show which host held the others back.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]

DOCUMENTATION = """
    name: kubeforge_timings
    type: aggregate
    short_description: write per-task and per-play durations to a JSON file
    description:
      - Records every task (role, play, wall time, per-host time and status) and every play.
      - Writes them to the file named by the KUBEFORGE_TIMINGS environment variable when the
        playbook ends; without that variable the callback stays idle.
    requirements:
      - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kubeforge_timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._out = os.environ.get("KUBEFORGE_TIMINGS", "")
        self.disabled = not self._out
        self._started = time.monotonic()
        self._plays: list[dict[str, Any]] = []
        self._tasks: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._play: dict[str, Any] | None = None
        self._host_start: dict[tuple[str, str], float] = {}
        # loop items that ran (each one is a module run of its own)
        self._items: dict[tuple[str, str], int] = {}

    # -- bookkeeping -------------------------------------------------------------------------
    def _close_task(self, now: float) -> None:
        if self._current is not None:
            self._current["seconds"] = round(now - self._current.pop("_t0"), 3)
            self._current = None

    def _close_play(self, now: float) -> None:
        self._close_task(now)
        if self._play is not None:
            self._play["seconds"] = round(now - self._play.pop("_t0"), 3)
            self._play = None

    def _start_task(self, task: Any, handler: bool) -> None:
        now = time.monotonic()
        self._close_task(now)
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        self._current = {
            "name": task.get_name(),
            "role": role,
            "play": self._play["name"] if self._play else "",
            "action": task.action,
            "handler": handler,
            "start": round(now - self._started, 3),
            "hosts": {},
            "_t0": now,
        }
        self._tasks.append(self._current)

    def _host_done(self, result: Any, status: str) -> None:
        host = result._host.get_name()
        t0 = self._host_start.pop((result._task._uuid, host), None)
        entry = self._find(result._task)
        if entry is None:
            return
        seconds = round(time.monotonic() - t0, 3) if t0 is not None else None
        changed = bool(result._result.get("changed", False)) if status == "ok" else False
        items = self._items.pop((result._task._uuid, host), 0)
        entry["hosts"][host] = {"seconds": seconds, "status": "changed" if changed else status,
                                "items": items}

    def _find(self, task: Any) -> dict[str, Any] | None:
        # the newest entry of that task (free strategy: tasks interleave)
        name = task.get_name()
        for entry in reversed(self._tasks):
            if entry["name"] == name:
                found: dict[str, Any] = entry
                return found
        return None

    # -- events ------------------------------------------------------------------------------
    def v2_playbook_on_play_start(self, play: Any) -> None:
        now = time.monotonic()
        self._close_play(now)
        self._play = {"name": play.get_name(), "start": round(now - self._started, 3), "_t0": now}
        self._plays.append(self._play)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._start_task(task, handler=False)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._start_task(task, handler=True)

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._host_start[(task._uuid, host.get_name())] = time.monotonic()

    def v2_runner_on_ok(self, result: Any) -> None:
        self._host_done(result, "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._host_done(result, "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._host_done(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._host_done(result, "unreachable")

    def _item(self, result: Any) -> None:
        key = (result._task._uuid, result._host.get_name())
        self._items[key] = self._items.get(key, 0) + 1

    def v2_runner_item_on_ok(self, result: Any) -> None:
        self._item(result)

    def v2_runner_item_on_failed(self, result: Any) -> None:
        self._item(result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        now = time.monotonic()
        self._close_play(now)
        hosts = sorted(stats.processed.keys())
        summary = {h: stats.summarize(h) for h in hosts}
        doc = {
            "seconds": round(now - self._started, 3),
            "changed": sum(s["changed"] for s in summary.values()),
            "hosts": summary,
            "plays": self._plays,
            "tasks": self._tasks,
        }
        tmp = f"{self._out}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, self._out)
