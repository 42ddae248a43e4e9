"""One change to an environment at a time, from this machine.

`deploy`, `upgrade`, `scale`, `remove-node` and every other playbook run take an exclusive lock
per environment (a file under the shared cache, so that every checkout on this machine sees it).
The kernel releases it when the process ends, however it ends: a killed run leaves no stale lock
to clear by hand. The file names the holder for whoever finds it taken.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubeforge import paths
from kubeforge.errors import KubeforgeError


def lock_path(env_name: str) -> Path:
    return paths.cache_dir() / "locks" / f"{env_name}.lock"


@contextmanager
def env_lock(env_name: str, what: str) -> Iterator[None]:
    """Hold the environment's lock while the block runs; refuse at once if another run has it."""
    path = lock_path(env_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1024, 0).decode(errors="replace").strip()
            raise KubeforgeError(
                f"environment {env_name} is busy: {holder or 'another kubeforge run'} — wait "
                f"for it to end (its lock, {path}, goes with its process)") from None
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`{what}` (pid {os.getpid()}, {getpass.getuser()}, since {stamp})\n"
                  .encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
