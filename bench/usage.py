"""What a timed command costs the control host: CPU seconds and peak memory of its processes.

CPU time is that of every child the bench process waited for (and theirs), taken from getrusage
before and after: kubeforge, ansible-playbook and its forks, or the raw bound's ssh clients (the
bench's own Python, this sampler included, is left out). Peak memory is sampled: twice a second
the proportional set size (PSS: shared pages split between the processes that map them, so forks
sharing their parent's pages are not counted twice) of every process under the bench process is
summed. ssh's ControlPersist masters leave the tree once they detach and are not counted (they
only move bytes).
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path
from types import TracebackType


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:  # the process ended while it was read
        pass
    return found


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (not `pid` itself), read from /proc/PID/task/*/children."""
    out: list[int] = []
    todo = _children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


class Usage:
    """`with Usage() as u: ...` then u.cpu_seconds and u.peak_mib (processes under this one)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.cpu_seconds = 0.0
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            total = sum(pss_kib(p) for p in descendants(me)) / 1024
            self.peak_mib = max(self.peak_mib, total)

    def __enter__(self) -> Usage:
        self._cpu0 = _cpu_seconds()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = round(_cpu_seconds() - self._cpu0, 1)
        self.peak_mib = round(self.peak_mib)
