"""Detached background servers with a pidfile: the mirror's servers and the lab's DNS.

They outlive the `kubeforge` command that started them (own session), so the pidfile is the only
handle; a pid counts as ours only while its command line still carries our markers, because pids
are reused.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from kubeforge import paths

STOP_TIMEOUT = 10.0


def _state(pid: int) -> str:
    """The process state letter from /proc (Z for a zombie); raises OSError if it is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def running(pidfile: Path, *markers: str) -> int | None:
    """The pid in `pidfile` if that process lives and its command line holds every marker."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = _state(pid)
    except (OSError, ValueError):
        return None
    if state == "Z" or not all(m in cmdline for m in markers):
        return None
    return pid


def spawn(cmd: Sequence[str], pidfile: Path, logfile: Path, *,
          env: Mapping[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `cmd` detached, output appended to `logfile`, pid written to `pidfile`."""
    full = dict(os.environ, **(env or {}))
    # servers written in Python run as `python -m kubeforge...`: importable from anywhere
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(paths.ROOT), full.get("PYTHONPATH"))
                                         if p)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with logfile.open("ab") as log:
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env=full, cwd=cwd)
    tmp = pidfile.with_name(pidfile.name + ".tmp")
    tmp.write_text(f"{proc.pid}\n")
    tmp.replace(pidfile)
    return proc


def terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, wait until it is gone (reaping it if it is our child), then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            if _state(pid) == "Z":
                return
        except OSError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop(pidfile: Path, *markers: str) -> bool:
    """Terminate the server behind `pidfile` (if it is ours) and drop the pidfile."""
    pid = running(pidfile, *markers)
    pidfile.unlink(missing_ok=True)
    if pid is None:
        return False
    terminate(pid)
    return True
