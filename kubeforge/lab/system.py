"""Small wrappers over the host: running tools, checking prerequisites, reading mounts and pids."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kubeforge.errors import KubeforgeError

#: Tool -> the Debian package that ships it, for actionable "missing tool" errors.
TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "ip": "iproute2",
    "mount": "mount",
    "umount": "mount",
    "nsenter": "util-linux",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing output; a failure becomes a KubeforgeError that shows stderr."""
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
            input=input,
            check=False,
        )
    except FileNotFoundError as e:
        raise missing_tool(argv[0]) from e
    except subprocess.TimeoutExpired as e:
        raise KubeforgeError(f"`{' '.join(argv)}` did not finish within {timeout:.0f}s") from e
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise KubeforgeError(f"`{' '.join(argv)}` failed ({proc.returncode}): {detail}")
    return proc


def missing_tool(tool: str) -> KubeforgeError:
    pkg = TOOLS.get(tool)
    hint = f" — install it with `apt-get install {pkg}`" if pkg else ""
    return KubeforgeError(f"`{tool}` is not installed{hint}")


#: Needed by every lab command; debootstrap only when the rootfs is built.
RUNTIME_TOOLS = tuple(t for t in TOOLS if t != "debootstrap")


def require_host(tools: Sequence[str] = RUNTIME_TOOLS) -> None:
    """The lab creates namespaces, mounts and cgroups: it needs root and a few tools."""
    if os.geteuid() != 0:
        raise KubeforgeError("`kubeforge lab` needs root (namespaces, mounts, cgroups): use sudo")
    for tool in tools:
        if shutil.which(tool) is None:
            raise missing_tool(tool)


def mountpoints() -> list[Path]:
    """Mount points of this mount namespace, in mount order."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        field = line.split()[4]
        # mountinfo escapes space, tab, newline and backslash as octal.
        out.append(Path(field.encode().decode("unicode_escape")))
    return out


def mounts_under(root: Path) -> list[Path]:
    """Mounts at or below `root`, deepest first (the order to unmount them)."""
    root = root.resolve() if root.exists() else root
    found = [m for m in mountpoints() if m == root or root in m.parents]
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount_all(root: Path) -> None:
    for m in mounts_under(root):
        if run(["umount", str(m)], check=False).returncode != 0:
            # Busy (a straggler holds it): detach now, the kernel frees it when released.
            run(["umount", "-l", str(m)])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (nobody may reap it if PID 1 does not).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def pid_from_file(pidfile: Path, owner: Path, is_program: Callable[[list[str]], bool]
                  ) -> int | None:
    """The live pid written in `pidfile` if its command line passes `is_program` and names
    `owner` (a folder): a reused pid is never mistaken for the process."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    argv = cmdline(pid)
    if pid_alive(pid) and is_program(argv) and str(owner) in " ".join(argv):
        return pid
    return None


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `pred()` until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Progress:
    """One line per step with its duration, so a slow `up` shows where the time went."""

    def __init__(self, out: Callable[[str], object] = print) -> None:
        self._out = out
        self._start = time.monotonic()

    def note(self, text: str) -> None:
        self._out(f"[{time.monotonic() - self._start:6.1f}s] {text}")

    @contextmanager
    def step(self, text: str) -> Iterator[list[str]]:
        """Yields a list; anything appended to it is printed after the step's name."""
        t0 = time.monotonic()
        extra: list[str] = []
        yield extra
        detail = f" ({', '.join(extra)})" if extra else ""
        self.note(f"{text}{detail} — {time.monotonic() - t0:.1f}s")
